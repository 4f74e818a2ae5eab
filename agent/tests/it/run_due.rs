//! The daily run over a simulated calendar, on the simulators.

use payflow_agent::import::{run_due, Status};
use payflow_agent::store::Trigger;

use crate::util::*;

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

fn statuses(reports: &[payflow_agent::import::RunReport]) -> Vec<(String, &'static str)> {
    reports.iter().map(|r| (r.period.clone(), r.status.as_str())).collect()
}

#[tokio::test]
async fn nothing_the_day_before_then_the_previous_month_then_nothing_again() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.start_period = Some("2026-10".parse().unwrap());
    add_dossier(&agent, &d);
    assert!(run_due(&agent, date("2026-11-04"), 4).await.is_empty());
    let r = run_due(&agent, date("2026-11-05"), 4).await;
    assert_eq!(statuses(&r), [("2026-10".to_owned(), "imported")]);
    assert!(run_due(&agent, date("2026-11-06"), 4).await.is_empty(), "a period done is not run again");
    assert_eq!(w.odoo().moves().len(), 1);
    // Then 40 days of downtime after 2026-12-05: November and December are caught up, in order.
    w.silae.set_periode_en_cours("100200", "2027-01");
    let r = run_due(&agent, date("2027-01-14"), 4).await;
    assert_eq!(statuses(&r), [("2026-11".to_owned(), "no_data"), ("2026-12".to_owned(), "no_data")]);
    let run = agent.store().run(r[0].run_id.unwrap()).unwrap();
    assert_eq!(run.trigger, Trigger::Timer);
    assert!(run.started_at.ends_with("+01:00"), "times carry their Paris offset: {}", run.started_at);
}

#[tokio::test]
async fn missed_days_are_caught_up_oldest_first() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.start_period = Some("2026-08".parse().unwrap());
    add_dossier(&agent, &d);
    // The server was down since early August: August (no payroll), September, October.
    let r = run_due(&agent, date("2026-11-20"), 4).await;
    assert_eq!(
        statuses(&r),
        [("2026-08".to_owned(), "no_data"), ("2026-09".to_owned(), "no_data"), ("2026-10".to_owned(), "imported")]
    );
    assert_eq!(w.odoo().moves().len(), 1);
}

#[tokio::test]
async fn a_period_silae_has_not_closed_waits_then_is_imported_the_next_day() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.start_period = Some("2026-10".parse().unwrap());
    add_dossier(&agent, &d);
    w.silae.set_periode_en_cours("100200", "2026-10");
    let r = run_due(&agent, date("2026-11-05"), 4).await;
    assert_eq!(statuses(&r), [("2026-10".to_owned(), "waiting")]);
    assert!(w.odoo().moves().is_empty());
    w.silae.set_periode_en_cours("100200", "2026-11");
    let r = run_due(&agent, date("2026-11-06"), 4).await;
    assert_eq!(statuses(&r), [("2026-10".to_owned(), "imported")]);
}

#[tokio::test]
async fn a_failure_is_tried_again_on_the_next_run() {
    let w = World::start().await;
    let agent = w.agent();
    let mut d = dossier("100200", 5);
    d.start_period = Some("2026-10".parse().unwrap());
    d.journal_code = "PAIE".into();
    add_dossier(&agent, &d);
    let r = run_due(&agent, date("2026-11-05"), 4).await;
    assert_eq!(r[0].status, Status::Failed);
    d.journal_code = "SAL".into();
    add_dossier(&agent, &d);
    let r = run_due(&agent, date("2026-11-06"), 4).await;
    assert_eq!(statuses(&r), [("2026-10".to_owned(), "imported")]);
}

#[tokio::test]
async fn two_run_due_started_together_import_each_period_once() {
    let w = World::start().await;
    let (a, b) = (w.agent(), w.agent());
    for n in ["100200", "100300"] {
        let mut d = dossier(n, 5);
        d.start_period = Some("2026-10".parse().unwrap());
        add_dossier(&a, &d);
    }
    let (ra, rb) = tokio::join!(run_due(&a, date("2026-11-05"), 2), run_due(&b, date("2026-11-05"), 2));
    let imported = ra.iter().chain(&rb).filter(|r| r.status == Status::Imported).count();
    let mut runs: Vec<_> = ra.iter().chain(&rb).map(|r| (r.dossier.clone(), r.period.clone())).collect();
    runs.sort();
    runs.dedup();
    assert_eq!(imported, 2, "{:?} / {:?}", statuses(&ra), statuses(&rb));
    assert_eq!(w.odoo().moves().len(), 3, "100200: one move, 100300: two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_due_dossiers_for_a_given_date() {
    let w = World::start().await;
    w.cli_add_sample_dossier("100200", &["--start-period", "2026-10"]);
    let out = w.cli(&["run-due", "--date", "2026-11-05", "--json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!((line["period"].as_str(), line["status"].as_str()), (Some("2026-10"), Some("imported")));
    let bad = w.cli(&["run-due", "--date", "2026-11-31"], None);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}
