//! What the real Silae may answer where its spec leaves room (docs/silae.md), over real HTTP on
//! the simulators: period shapes, journal codes.

use payflow_agent::import::{ErrorKind, Status};
use serde_json::{json, Value};

use crate::util::*;

/// The sample of dossier 100200 for October 2026, as JSON to reshape.
fn sample_100200() -> Value {
    let bytes = std::fs::read(samples_dir().join("dossier-100200-2026-10.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_period_within_the_month_or_with_an_exclusive_end_is_taken_another_month_refused() {
    let w = World::start().await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let accepted = [
        ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-10-01T00:00:00", "2026-11-01T00:00:00"),
        ("2026-10-01T00:00:00+02:00", "2026-10-31T23:59:59+01:00"),
        ("2026-10-05T00:00:00", "2026-10-25T00:00:00"),
        ("2026-10-01", "2026-10-31"),
    ];
    for (debut, fin) in accepted {
        let mut p = sample_100200();
        p["periodeDebut"] = json!(debut);
        p["periodeFin"] = json!(fin);
        w.silae.set_payload("100200", "2026-10", p.to_string().into_bytes());
        let r = import(&agent, "100200", "2026-10", true).await;
        assert_eq!(r.status, Status::Previewed, "{debut} .. {fin}: {}", r.message);
        assert_eq!(r.plans[0]["total_debit_cents"], 7_729_840);
    }
    let refused = [
        ("2026-09-01T00:00:00", "2026-09-30T00:00:00"),
        ("2026-10-01T00:00:00", "2026-11-30T00:00:00"),
        ("2026-09-30T00:00:00", "2026-10-31T00:00:00"),
        ("2026-10-20T00:00:00", "2026-10-10T00:00:00"),
        ("2026-10-01T00:00:00", "2026-11-02T00:00:00"),
    ];
    for (debut, fin) in refused {
        let mut p = sample_100200();
        p["periodeDebut"] = json!(debut);
        p["periodeFin"] = json!(fin);
        w.silae.set_payload("100200", "2026-10", p.to_string().into_bytes());
        let r = import(&agent, "100200", "2026-10", false).await;
        assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::SilaeBadResponse)), "{debut} .. {fin}");
        assert!(r.message.contains("when 2026-10 (2026-10-01 to 2026-10-31) was asked"), "{}", r.message);
    }
    assert!(w.odoo().moves().is_empty(), "nothing written for another month");
}

#[tokio::test]
async fn lines_of_another_silae_journal_code_go_to_the_mapped_odoo_journal() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.journal_map.insert("PB".into(), "OD".into());
    add_dossier(&agent, &d);
    // Two balanced lines of journal code PB join the rupture's PA lines; Silae's totals with them.
    let mut p = sample_100200();
    let rupture = &mut p["ruptures"][0];
    for (compte, sens) in [("64110000", "D"), ("44210000", "C")] {
        rupture["ecritures"].as_array_mut().unwrap().push(json!({
            "codeJournal": "PB", "periode": "2026-10-31T00:00:00", "compte": compte,
            "libelle": "Régularisation", "sens": sens, "indexRepartition": 0, "valeur": 100.25,
            "pctRepartition": 100.0
        }));
    }
    rupture["totalDebit"] = json!(77398.65);
    rupture["totalCredit"] = json!(77398.65);
    w.silae.set_payload("100200", "2026-10", p.to_string().into_bytes());

    let r = import(&agent, "100200", "2026-10", true).await;
    assert_eq!(r.status, Status::Previewed, "{}", r.message);
    let shown: Vec<_> = r.plans.iter().map(|m| (m["code_journal"].clone(), m["journal"].clone())).collect();
    assert_eq!(shown, [(json!("PA"), json!("SAL")), (json!("PB"), json!("OD"))]);
    assert_eq!(r.plans[1]["lines"][0]["code_journal"], "PB");

    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    // The run keeps what the plan showed.
    let run = agent.store().run(r.run_id.unwrap()).unwrap();
    assert_eq!(run.total_debit_cents, Some(7_729_840 + 10_025));
    let keys: Vec<_> = r.plans.iter().map(|m| m["import_key"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        keys,
        ["silae:100200:2026-10:journal-de-paie-octobre-2026", "silae:100200:2026-10:journal-de-paie-octobre-2026~pb"]
    );
    let companies = agent.odoo().await.unwrap().companies().await.unwrap();
    let journal_id = |code: &str| {
        companies[0]["journals"].as_array().unwrap().iter().find(|j| j["code"] == code).unwrap()["id"].as_i64().unwrap()
    };
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 2);
    let journal_of = |key: &str| {
        let m = moves.iter().find(|m| m["payflow_import_key"] == key).unwrap();
        (m["journal_id"].as_i64().unwrap(), m["line_ids"].as_array().unwrap().len())
    };
    assert_eq!(journal_of(&keys[0]), (journal_id("SAL"), 13));
    assert_eq!(journal_of(&keys[1]), (journal_id("OD"), 2));

    // Again: both found, nothing doubled.
    let again = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(w.odoo().moves().len(), 2);
}
