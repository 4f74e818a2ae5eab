//! Partners on liability lines (issue 19, item 5): the dossier's `partner_map` puts a partner on
//! the lines of those Silae accounts, with the addon's one call and with the agent's own reads;
//! a partner Odoo lacks (or has twice) fails the run before anything is written; Silae accounts
//! landing on one Odoo account without partners are a warning of the preview and of `check`.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::outcome::Facts;
use serde_json::Value;

use crate::util::*;

/// The lines of every move carrying this partner.
fn lines_with_partner(w: &World, partner: i64) -> usize {
    w.odoo()
        .moves()
        .iter()
        .flat_map(|m| m["line_ids"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["partner_id"].as_i64() == Some(partner))
        .count()
}

#[tokio::test]
async fn mapped_accounts_carry_their_partner_with_or_without_the_one_call() {
    for one_call in [true, false] {
        let w = World::start().await;
        w.odoo().set_addon_plan(one_call);
        // Found by reference, by VAT number and by exact name; a decoy in another company.
        let urssaf = w.odoo().add_partner("URSSAF Île-de-France", Some("URSSAF"), None, None);
        let agirc = w.odoo().add_partner("AGIRC-ARRCO", None, Some("FR11223344556"), Some(1));
        let sie = w.odoo().add_partner("SIE Paris 8e", None, None, None);
        w.odoo().add_partner("URSSAF (autre société)", Some("URSSAF"), None, Some(2));
        let agent = w.agent();
        let mut d = dossier("100300", 5);
        d.partner_map.insert("43100000".into(), "URSSAF".into());
        d.partner_map.insert("43730000".into(), "FR11223344556".into());
        d.partner_map.insert("44210000".into(), "SIE Paris 8e".into());
        add_dossier(&agent, &d);
        let r = import(&agent, "100300", "2026-10", false).await;
        assert_eq!(r.status, Status::Imported, "one call {one_call}: {}", r.message);
        // Each of the two establishments has one line of each mapped account.
        for (partner, name) in [(urssaf, "URSSAF"), (agirc, "AGIRC"), (sie, "SIE")] {
            assert_eq!(lines_with_partner(&w, partner), 2, "one call {one_call}: {name}");
        }
        let all: usize = w.odoo().moves().iter().map(|m| m["line_ids"].as_array().map_or(0, Vec::len)).sum();
        let without: usize = w
            .odoo()
            .moves()
            .iter()
            .flat_map(|m| m["line_ids"].as_array().cloned().unwrap_or_default())
            .filter(|l| l["partner_id"] == Value::Bool(false))
            .count();
        assert_eq!((all, without), (28, 22), "one call {one_call}: the other lines have no partner");
    }
}

#[tokio::test]
async fn a_partner_odoo_lacks_or_has_twice_fails_the_run_and_writes_nothing() {
    let mut messages = Vec::new();
    for one_call in [true, false] {
        let w = World::start().await;
        w.odoo().set_addon_plan(one_call);
        w.odoo().add_partner("Malakoff Humanis", None, None, None);
        w.odoo().add_partner("Malakoff Humanis", None, None, Some(1));
        let agent = w.agent();
        let mut d = dossier("100300", 5);
        d.partner_map.insert("43100000".into(), "URSAF".into());
        d.partner_map.insert("43740000".into(), "Malakoff Humanis".into());
        add_dossier(&agent, &d);
        for dry_run in [true, false] {
            let r = import(&agent, "100300", "2026-10", dry_run).await;
            let label = format!("one call {one_call}, dry run {dry_run}");
            assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::Config)), "{label}: {}", r.message);
            for part in [
                "2 partner map problem(s)",
                "Silae account 43100000: no Odoo partner has the reference, VAT number or name \"URSAF\"",
                "--partner 43100000=PARTNER",
                "Silae account 43740000: 2 Odoo partners match \"Malakoff Humanis\"",
            ] {
                assert!(r.message.contains(part), "{label}: {part} in {}", r.message);
            }
            messages.push(r.message);
        }
        assert!(w.odoo().moves().is_empty(), "one call {one_call}: nothing written");
    }
    // Both paths, preview and import, say the same.
    assert!(messages.windows(2).all(|p| p[0] == p[1]), "{messages:#?}");
}

#[tokio::test]
async fn the_preview_warns_of_silae_accounts_sharing_an_odoo_account_without_partners() {
    let w = World::start().await;
    let agent = w.agent();
    // The test dossier maps 43730000, 43740000 and 43750000 onto 437000.
    let mut d = dossier("100300", 5);
    d.partner_map.insert("43730000".into(), "AGIRC".into());
    w.odoo().add_partner("AGIRC-ARRCO", Some("AGIRC"), None, None);
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    let Facts::Previewed { odoo: Some(check) } = &r.outcome.facts else { panic!("{:?}", r.outcome.facts) };
    assert_eq!(check.unseparated.len(), 1, "{check:?}");
    assert_eq!(check.unseparated[0].odoo_account, "437000");
    assert_eq!(check.unseparated[0].silae, ["43730000", "43740000", "43750000"]);
    assert_eq!(check.unseparated[0].without_partner, ["43740000", "43750000"]);
    assert!(
        r.message
            .contains("Warning: the Silae accounts 43730000, 43740000, 43750000 all land on the Odoo account 437000"),
        "{}",
        r.message
    );
    assert!(r.outcome.french().contains("Attention : les comptes Silae"), "{}", r.outcome.french());
    // With a partner each, nothing to say; a warning is never a failure.
    d.partner_map.insert("43740000".into(), "AGIRC".into());
    d.partner_map.insert("43750000".into(), "AGIRC".into());
    add_dossier(&agent, &d);
    let r = import(&agent, "100300", "2026-10", true).await;
    let Facts::Previewed { odoo: Some(check) } = &r.outcome.facts else { panic!("{:?}", r.outcome.facts) };
    assert!(check.unseparated.is_empty(), "{check:?}");
    assert!(!r.message.contains("Warning"), "{}", r.message);
}

#[tokio::test]
async fn check_warns_of_mapped_accounts_sharing_an_odoo_account_without_partners() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100300", &["--partner", "43730000=AGIRC"]);
    let out = w.cli(&["check", "--offline"], None);
    let shown = text(&out);
    assert!(
        shown.contains("WARN  dossier 100300 partners: the Silae accounts 43730000, 43740000, 43750000 all land on the Odoo account 437000 and 43740000, 43750000 have no partner"),
        "{shown}"
    );
    assert!(shown.contains("--partner 43740000=PARTNER --partner 43750000=PARTNER"), "{shown}");
    let listed = w.cli(&["dossier", "list", "--json"], None);
    assert!(text(&listed).contains("\"43730000\": \"AGIRC\""), "{}", text(&listed));
}
