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

/// With the addon's one call (`payflow_import_plan`) and with the agent's own reads (an addon
/// without it): the same result.
#[tokio::test]
async fn lines_of_another_silae_journal_code_go_to_the_mapped_odoo_journal() {
    for one_call in [true, false] {
        lines_of_another_silae_journal_code_go_to_the_mapped_odoo_journal_with(one_call).await;
    }
}

async fn lines_of_another_silae_journal_code_go_to_the_mapped_odoo_journal_with(one_call: bool) {
    let w = World::start().await;
    w.odoo().set_addon_plan(one_call);
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
    let wrote_with = |f: &str| w.odoo().calls().iter().any(|(_, m)| m == f);
    // Without the one-call method, the call to it is refused, then the reads and payflow_import.
    assert_eq!((wrote_with("payflow_import_plan"), wrote_with("payflow_import")), (true, !one_call));
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

/// The two-establishment sample with its ruptures labelled `labels`.
fn sample_100300(labels: [&str; 2]) -> Vec<u8> {
    let bytes = std::fs::read(samples_dir().join("dossier-100300-2026-10-two-establishments.json")).unwrap();
    let mut p: Value = serde_json::from_slice(&bytes).unwrap();
    for (i, l) in labels.iter().enumerate() {
        p["ruptures"][i]["libelle"] = json!(l);
    }
    p.to_string().into_bytes()
}

fn establishments(names: [&str; 2]) -> Vec<u8> {
    json!({"informationsEtablissements": [
        {"nomInterne": names[0], "siret": "123 456 789 00011", "etablissementPrincipal": true},
        {"nomInterne": names[1], "siret": "12345678900029", "etablissementPrincipal": false},
    ]})
    .to_string()
    .into_bytes()
}

fn odoo_keys(w: &World) -> Vec<String> {
    let mut keys: Vec<String> =
        w.odoo().moves().iter().map(|m| m["payflow_import_key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

/// With the addon's one call (`payflow_import_plan`) and with the agent's own reads (an addon
/// without it): the same result.
#[tokio::test]
async fn an_establishment_matched_by_siret_keeps_its_key_across_a_rename() {
    for one_call in [true, false] {
        an_establishment_matched_by_siret_keeps_its_key_across_a_rename_with(one_call).await;
    }
}

async fn an_establishment_matched_by_siret_keeps_its_key_across_a_rename_with(one_call: bool) {
    let w = World::start().await;
    w.odoo().set_addon_plan(one_call);
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    w.silae.set_etablissements("100300", establishments(["établissement paris", "Établissement Lyon"]));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let keys = ["silae:100300:2026-10:siret-12345678900011", "silae:100300:2026-10:siret-12345678900029"];
    assert_eq!(odoo_keys(&w), keys);

    // Paris renamed in Silae: its rupture and its establishment, same SIRET.
    let renamed = ["Établissement Paris Opéra", "Établissement Lyon"];
    w.silae.set_payload("100300", "2026-10", sample_100300(renamed));
    w.silae.set_etablissements("100300", establishments(renamed));
    let again = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(odoo_keys(&w), keys, "no second move for the renamed establishment");
    assert!(w.silae.requests().iter().any(|r| r.path.ends_with("/FicheSociete/ListeEtablissementsDossierPaie")));
}

/// With the addon's one call (`payflow_import_plan`) and with the agent's own reads (an addon
/// without it): the same result.
#[tokio::test]
async fn a_renamed_rupture_keyed_on_its_label_is_refused_with_nothing_written() {
    for one_call in [true, false] {
        a_renamed_rupture_keyed_on_its_label_is_refused_with_nothing_written_with(one_call).await;
    }
}

async fn a_renamed_rupture_keyed_on_its_label_is_refused_with_nothing_written_with(one_call: bool) {
    let w = World::start().await;
    w.odoo().set_addon_plan(one_call);
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let before = w.odoo().moves();

    w.silae.set_payload("100300", "2026-10", sample_100300(["Établissement Paris", "Établissement Lyon Part-Dieu"]));
    for dry_run in [true, false] {
        let r = import(&agent, "100300", "2026-10", dry_run).await;
        assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::SilaeBadResponse)));
        assert!(r.message.contains("rupture 2 (\"Établissement Lyon Part-Dieu\""), "{}", r.message);
        assert!(r.message.contains("looks renamed; nothing written"), "{}", r.message);
        assert!(r.message.contains("silae:100300:2026-10:etablissement-lyon"), "{}", r.message);
    }
    assert_eq!(w.odoo().moves(), before, "nothing written, nothing changed");
}

/// With the addon's one call (`payflow_import_plan`) and with the agent's own reads (an addon
/// without it): the same result.
#[tokio::test]
async fn a_period_imported_under_the_label_key_is_still_found_once_establishments_are_read() {
    for one_call in [true, false] {
        a_period_imported_under_the_label_key_is_still_found_once_establishments_are_read_with(one_call).await;
    }
}

async fn a_period_imported_under_the_label_key_is_still_found_once_establishments_are_read_with(one_call: bool) {
    let w = World::start().await;
    w.odoo().set_addon_plan(one_call);
    let agent = w.agent();
    add_dossier(&agent, &dossier("100300", 5));
    let r = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    let keys = ["silae:100300:2026-10:etablissement-lyon", "silae:100300:2026-10:etablissement-paris"];
    assert_eq!(odoo_keys(&w), keys);

    w.silae.set_etablissements("100300", establishments(["Établissement Paris", "Établissement Lyon"]));
    let again = import(&agent, "100300", "2026-10", false).await;
    assert_eq!(again.status, Status::AlreadyImported, "{}", again.message);
    assert_eq!(again.plans[0]["import_key"], "silae:100300:2026-10:etablissement-paris");
    assert_eq!(odoo_keys(&w), keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_client_secret_is_shown_by_check() {
    let w = World::start().await;
    let out = w.cli(&["check"], None);
    assert!(!text(&out).contains("silae secret"), "{}", text(&out));
    w.silae.set_key_expiration_warnings(Some("2026-12-24T00:00:00Z"), None);
    let out = w.cli(&["check"], None);
    let shown = text(&out);
    assert!(out.status.success(), "an expiring secret still works: {shown}");
    assert!(shown.contains("WARN  silae secret: the primary client secret expires on 2026-12-24: renew it"), "{shown}");
    assert_no_secret(&shown);
}

/// The world's config with Silae's call timeout at 1 s and quick polls of asynchronous tasks.
fn quick_async(w: &World) {
    let text = std::fs::read_to_string(&w.config_path).unwrap();
    let text = text.replace("timeout_secs = 5\n", "timeout_secs = 1\nasync_poll_ms = 10\n");
    std::fs::write(&w.config_path, text).unwrap();
}

fn async_paths(w: &World) -> Vec<String> {
    w.silae
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("Asynchrone"))
        .map(|r| format!("{} {}", r.path.rsplit('/').next().unwrap(), r.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_too_slow_for_one_request_is_imported_asynchronously_over_three_polls() {
    let w = World::start().await;
    quick_async(&w);
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.set_journal_delay("100200", std::time::Duration::from_secs(3));
    w.silae.set_async_task("100200", 2, None);
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
    assert_eq!(r.plans[0]["total_debit_cents"], 7_729_840);
    assert_eq!(w.silae.tasks(), [("100200".to_owned(), 3)], "one generation, three polls");
    assert_eq!(
        async_paths(&w),
        [
            "EcrituresComptables4Asynchrone 202",
            "StatutEcrituresComptables4Asynchrone 202",
            "StatutEcrituresComptables4Asynchrone 202",
            "StatutEcrituresComptables4Asynchrone 200"
        ]
    );
    let asked = w.silae.requests().into_iter().find(|r| r.path.ends_with("4Asynchrone")).unwrap();
    assert_eq!(asked.body["avecToutesLesRepartitionsAnalytiques"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_asynchronous_task_fails_the_run_clearly_with_nothing_written() {
    let w = World::start().await;
    quick_async(&w);
    let agent = w.agent();
    add_dossier(&agent, &dossier("100200", 5));
    w.silae.set_journal_delay("100200", std::time::Duration::from_secs(3));
    w.silae.set_async_task("100200", 1, Some("Le calcul des écritures comptables a échoué."));
    let r = import(&agent, "100200", "2026-10", false).await;
    assert_eq!((r.status, r.error_kind), (Status::Failed, Some(ErrorKind::SilaeBadResponse)), "{}", r.message);
    assert!(
        r.message.contains("asynchronous generation of the journal failed")
            && r.message.contains("Le calcul des écritures comptables a échoué.")
            && r.message.contains("nothing was written"),
        "{}",
        r.message
    );
    assert!(w.odoo().moves().is_empty(), "nothing written");
    assert_eq!(w.silae.tasks(), [("100200".to_owned(), 2)], "the task is not restarted");
}

/// `EcrituresComptables4` of dossier 100300 (two establishments, Paris split 60/40 over two
/// analytic repartitions) asked with `avecToutesLesRepartitionsAnalytiques` as given.
async fn journal_asked_with(w: &World, analytic: bool) -> payflow_agent::silae::wire::EcrituresComptablesAvecRuptures {
    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", SILAE_CLIENT_ID),
        ("client_secret", SILAE_CLIENT_SECRET),
        ("scope", "api://silae/.default"),
    ];
    let token: Value = http.post(w.silae.token_url()).form(&form).send().await.unwrap().json().await.unwrap();
    let answer = http
        .post(format!("{}/v1/EcrituresComptables/EcrituresComptables4", w.silae.api_url()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("Ocp-Apim-Subscription-Key", SILAE_SUBSCRIPTION_KEY)
        .json(&json!({"numeroDossier": "100300", "periodeDebut": "2026-10-01T00:00:00",
                      "periodeFin": "2026-10-31T00:00:00", "avecToutesLesRepartitionsAnalytiques": analytic}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn both_analytic_shapes_give_silae_s_totals_per_rupture() {
    let w = World::start().await;
    let period: payflow_agent::period::Period = "2026-10".parse().unwrap();
    let mut splits = Vec::new();
    for analytic in [true, false] {
        let payload = journal_asked_with(&w, analytic).await;
        let plan = payflow_agent::journal::plan("100300", period, &payload, &Default::default())
            .unwrap_or_else(|p| panic!("analytic {analytic}: {p:?}"));
        let ruptures = payload.ruptures.as_ref().unwrap();
        assert_eq!(plan.moves.len(), 2);
        for (m, r) in plan.moves.iter().zip(ruptures) {
            let silae = |d: &Option<payflow_agent::silae::wire::Decimal>| {
                payflow_agent::money::parse_scaled(&d.as_ref().unwrap().0, 2).unwrap()
            };
            assert_eq!(m.total_debit.0, silae(&r.total_debit), "analytic {analytic}, {}", m.rupture_label);
            assert_eq!(m.total_credit.0, silae(&r.total_credit), "analytic {analytic}, {}", m.rupture_label);
        }
        splits.push(
            plan.moves.iter().map(|m| m.analytic_split().keys().copied().collect::<Vec<_>>()).collect::<Vec<_>>(),
        );
        let totals: Vec<(i64, i64)> = plan.moves.iter().map(|m| (m.total_debit.0, m.total_credit.0)).collect();
        assert_eq!(totals, [(16_400_394, 16_400_394), (4_268_207, 4_268_207)], "analytic {analytic}");
    }
    // With every repartition, Paris's salaries are split over repartitions 1 and 2; without,
    // each account comes once, unsplit.
    assert_eq!(splits[0], [vec![0, 1, 2], vec![0]]);
    assert_eq!(splits[1], [vec![0], vec![0]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_marked_large_asks_for_its_journal_asynchronously_only() {
    let w = World::start().await;
    quick_async(&w);
    w.cli_add_sample_dossier("100200", &["--large"]);
    let listed = w.cli(&["dossier", "list", "--json"], None);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["large"], true, "{listed}");
    w.silae.set_async_task("100200", 2, None);
    let r = import(&w.agent(), "100200", "2026-10", false).await;
    assert_eq!(r.status, Status::Imported, "{}", r.message);
    assert_eq!(w.odoo().moves().len(), 1);
    assert_eq!(w.silae.tasks(), [("100200".to_owned(), 3)]);
    let synchronous = w.silae.requests().into_iter().filter(|r| r.path.ends_with("/EcrituresComptables4")).count();
    assert_eq!(synchronous, 0, "no synchronous call for a large dossier");
}
