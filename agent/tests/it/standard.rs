//! `write_mode = "standard"` on the Odoo simulator: no payflow_silae addon, stock methods only
//! (docs/odoo-protocol.md, docs/reliability.md). real_odoo.rs runs the same on the real Odoo 18.

use payflow_agent::import::{ErrorKind, Status};
use payflow_agent::odoo::standard::{narration, parse_narration};
use payflow_sim::odoo::{OdooFault, OdooSimConfig};
use serde_json::{json, Value};

use crate::util::*;

/// A simulated Odoo 18 without the addon, the config's `write_mode` as given (none: `auto`).
async fn without_addon(mode: Option<&str>) -> World {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.password = ODOO_SECRET.into();
    cfg.addon_installed = false;
    let w = World::start_with(cfg).await;
    if let Some(mode) = mode {
        w.write_config(&format!("write_mode = \"{mode}\""));
    }
    w
}

/// The key a simulated move carries in its note.
fn key_of(m: &Value) -> String {
    parse_narration(m["narration"].as_str().unwrap_or_default()).map(|(k, _)| k).unwrap_or_default()
}

fn writes(w: &World) -> Vec<(String, String)> {
    w.odoo()
        .calls()
        .into_iter()
        .filter(|(model, method)| model == "account.move" && matches!(method.as_str(), "create" | "unlink"))
        .collect()
}

#[tokio::test]
async fn auto_writes_without_the_addon_once_with_the_key_in_the_note_and_the_payload_attached() {
    let w = without_addon(None).await;
    let ids = crate::import::scenario_imports_once(&w).await;
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 2, "a second run creates nothing");
    for (m, (key, total, lines)) in moves.iter().zip([
        ("silae:100300:2026-10:etablissement-paris", 16_400_394, 15),
        ("silae:100300:2026-10:etablissement-lyon", 4_268_207, 13),
    ]) {
        assert!(ids.contains(&m["id"].as_i64().unwrap()));
        assert_eq!(key_of(m), key, "{m}");
        assert!(m.get("payflow_import_key").is_none(), "no addon field: {m}");
        assert_eq!((m["state"].as_str(), m["date"].as_str()), (Some("draft"), Some("2026-10-31")));
        let ls = m["line_ids"].as_array().unwrap();
        assert_eq!(ls.len(), lines);
        let debit: i64 = ls.iter().map(|l| cents(&l["debit"])).sum();
        let credit: i64 = ls.iter().map(|l| cents(&l["credit"])).sum();
        assert_eq!((debit, credit), (total, total));
        // Silae's answer attached to the move in the same create, naming the key.
        let files: Vec<Value> = w.odoo().attachments().into_iter().filter(|a| a["res_id"] == m["id"]).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(
            (files[0]["name"].as_str(), files[0]["description"].as_str()),
            (Some("silae-100300-2026-10.json"), Some(key))
        );
        assert_eq!(files[0]["res_model"], "account.move");
    }
    assert_eq!(moves[0]["ref"], "SALAIRES OCTOBRE 2026 - Établissement Paris");
    // One create for both moves; the second run wrote nothing.
    assert_eq!(writes(&w), [("account.move".to_owned(), "create".to_owned())]);
    // Stock methods only, once auto found no addon (its one refused payflow_import_plan asked).
    let addon_calls: Vec<String> =
        w.odoo().calls().into_iter().map(|(_, m)| m).filter(|m| m.starts_with("payflow_import")).collect();
    assert_eq!(addon_calls, ["payflow_import_plan"], "{:?}", w.odoo().calls());
}

#[tokio::test]
async fn standard_mode_uses_stock_methods_even_where_the_addon_is() {
    let mut cfg = OdooSimConfig::demo(18);
    cfg.password = ODOO_SECRET.into();
    let w = World::start_with(cfg).await;
    w.write_config("write_mode = \"standard\"");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let calls = w.odoo().calls();
    assert!(!calls.iter().any(|(_, m)| m.starts_with("payflow_import")), "{calls:?}");
    let moves = w.odoo().moves();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["payflow_import_key"], false, "the addon's field is not used");
    assert!(key_of(&moves[0]).starts_with("silae:100200:2026-10:"), "{}", moves[0]);
}

#[tokio::test]
async fn addon_mode_without_the_addon_refuses_writing() {
    let w = without_addon(Some("addon")).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Config), "{}", r.message);
    assert!(r.message.contains("payflow_silae addon is not installed"), "{}", r.message);
    assert!(r.message.contains("write_mode = \"standard\""), "says the other way: {}", r.message);
    assert!(w.odoo().moves().is_empty());
}

#[tokio::test]
async fn a_draft_of_another_payload_is_replaced_and_a_posted_move_left_alone() {
    let w = without_addon(Some("standard")).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::Imported);
    let moves = w.odoo().moves();
    let (paris, lyon) = (moves[0]["id"].as_i64().unwrap(), moves[1]["id"].as_i64().unwrap());
    // Paris: a draft of another payroll (its fingerprint differs); Lyon: posted, the same one.
    w.odoo().edit_move(paris, "narration", json!(narration(&key_of(&moves[0]), &"b".repeat(64), "")));
    w.odoo().post_move(lyon);
    w.odoo().reset_calls();
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert!(r.message.contains("1 draft(s) replaced, 1 already there"), "{}", r.message);
    let after = w.odoo().moves();
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.iter().all(|m| m["id"] != paris), "the old draft is gone");
    assert!(after.iter().any(|m| m["id"] == lyon && m["state"] == "posted"), "the posted move is left alone");
    assert_eq!(writes(&w), [("account.move".into(), "unlink".into()), ("account.move".into(), "create".into())]);
    // The replaced draft's attachment went with it: one per move.
    assert_eq!(w.odoo().attachments().len(), 2);
    // A posted move of another payroll (Silae corrected it): never touched, the run fails
    // `posted_changed` (issue 19: standard mode cannot compute the difference; nothing written).
    w.odoo().edit_move(lyon, "narration", json!(narration(&key_of(&moves[1]), &"c".repeat(64), "")));
    w.odoo().reset_calls();
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::PostedChanged)), "{}", r.message);
    assert!(writes(&w).is_empty(), "nothing written: {:?}", writes(&w));
    assert!(w.odoo().moves().iter().any(|m| m["id"] == lyon && m["state"] == "posted"));
}

#[tokio::test]
async fn a_key_found_twice_or_edited_away_is_refused_and_nothing_written() {
    let w = without_addon(Some("standard")).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::Imported);
    let moves = w.odoo().moves();
    let (paris, lyon) = (moves[0]["id"].as_i64().unwrap(), moves[1]["id"].as_i64().unwrap());
    let (paris_note, lyon_note) = (moves[0]["narration"].clone(), moves[1]["narration"].clone());

    // (the edit, what the message names)
    type Edit<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(Edit, &str)> = vec![
        // The Paris note pasted into the Lyon move: the key on two moves.
        (Box::new(|| w.odoo().edit_move(lyon, "narration", paris_note.clone())), "is in the note of 2 moves"),
        // The Paris key line removed: its attachment still says the move is Paris's.
        (Box::new(|| w.odoo().edit_move(paris, "narration", json!("<p>note</p>"))), "edited away"),
        // The Paris move re-dated.
        (Box::new(|| w.odoo().edit_move(paris, "date", json!("2026-11-30"))), "its date is 2026-11-30"),
    ];
    for (edit, expected) in cases {
        edit();
        w.odoo().reset_calls();
        for dry_run in [false, true] {
            let r = import(&agent, "100300", "2026-10", dry_run).await;
            assert_eq!(r.error_kind, Some(ErrorKind::OdooRejected), "{expected}: {}", r.message);
            assert!(r.message.contains(expected), "{expected}: {}", r.message);
            assert!(r.message.contains("nothing was written"), "{}", r.message);
        }
        assert!(writes(&w).is_empty(), "{expected}: nothing written");
        assert_eq!(w.odoo().moves().len(), 2, "{expected}");
        // Restored: the period is found imported again.
        w.odoo().edit_move(paris, "narration", paris_note.clone());
        w.odoo().edit_move(lyon, "narration", lyon_note.clone());
        w.odoo().edit_move(paris, "date", json!("2026-10-31"));
        let r = import(&agent, "100300", "2026-10", false).await;
        assert_eq!(r.status, Status::AlreadyImported, "{expected}: {}", r.message);
    }
}

#[tokio::test]
async fn a_lost_create_answer_is_searched_before_anything_else() {
    let w = without_addon(Some("standard")).await;
    w.write_config("write_mode = \"standard\"\ntimeout_secs = 1");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    // The create commits, its answer comes after the agent's timeout: the search finds both moves.
    w.odoo().push_fault_on("account.move", "create", OdooFault::Slow(std::time::Duration::from_millis(1500)));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::AlreadyImported, "{}", r.message);
    assert_eq!(r.moves.len(), 2);
    // Whether it committed or not, each key once.
    let keys: Vec<String> = w.odoo().moves().iter().map(key_of).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    // The connection cut before Odoo had it: nothing there, failed (never retried), the next run imports.
    let w = without_addon(Some("standard")).await;
    w.write_config("write_mode = \"standard\"\ntimeout_secs = 1");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    w.odoo().push_fault_on("account.move", "create", OdooFault::Drop);
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{}", r.message);
    assert_eq!(writes(&w).len(), 1, "the dropped create was not sent again");
    assert!(w.odoo().moves().is_empty());
    assert_eq!(import(&agent, "100300", "2026-10", false).await.status, Status::Imported);
    assert_eq!(w.odoo().moves().len(), 2);
}

/// Odoo Online's answers before Odoo (issue 21): a 429's `Retry-After` honoured on reads, a
/// wait past a minute given up at once, a database asleep or being upgraded (503) told clearly.
#[tokio::test]
async fn odoo_online_s_refusals_are_waited_out_or_told_clearly() {
    let refused = |status: u16, retry_after_secs: Option<u64>, body: &str| OdooFault::Refused {
        status,
        retry_after_secs,
        body: body.to_owned(),
    };
    let w = without_addon(Some("standard")).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    // A 429 asking for 1 s on a read: waited out, the read retried, imported.
    w.odoo().push_fault_on("res.company", "search_read", refused(429, Some(1), "Too Many Requests"));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let company_reads = w.odoo().calls().iter().filter(|(m, f)| m == "res.company" && f == "search_read").count();
    assert_eq!(company_reads, 2, "the refused read and its retry");

    let w = without_addon(Some("standard")).await;
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    // A wait past what PayFlow honours: given up at once, said clearly, nothing written.
    w.odoo().push_fault_on("res.company", "search_read", refused(429, Some(3600), "Too Many Requests"));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{}", r.message);
    assert!(r.message.contains("HTTP 429 (too many requests, retry after 3600 s)"), "{}", r.message);
    // The database being upgraded (503 on every attempt): the reason told, nothing written.
    for _ in 0..3 {
        w.odoo().push_fault_on(
            "res.company",
            "search_read",
            refused(503, Some(1), "<h1>This database is being upgraded. Please come back later.</h1>"),
        );
    }
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.error_kind, Some(ErrorKind::OdooUnavailable), "{}", r.message);
    assert!(r.message.contains("asleep, being upgraded, in maintenance or over its quota"), "{}", r.message);
    assert!(r.message.contains("This database is being upgraded"), "Odoo's own words: {}", r.message);
    assert!(w.odoo().moves().is_empty());
}

/// `odoo.max_calls_per_sec` (a per-target limit of the agent's own, for Odoo Online): the calls
/// of an import, concurrent reads included, are spaced at least 1/N s apart.
#[tokio::test]
async fn max_calls_per_sec_spaces_the_calls_to_one_odoo() {
    let w = without_addon(None).await;
    w.write_config("write_mode = \"standard\"\nmax_calls_per_sec = 4");
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    let t = std::time::Instant::now();
    let r = import(&agent, "100200", "2026-10", false).await;
    let elapsed = t.elapsed();
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let calls = w.odoo().calls().len() as u32;
    assert!(calls >= 8, "{:?}", w.odoo().calls());
    let floor = std::time::Duration::from_millis(250) * (calls - 1);
    assert!(elapsed >= floor, "{calls} calls in {elapsed:?}, under the floor {floor:?} of 4 a second");
}
