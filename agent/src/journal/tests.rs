use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::silae::wire::{EcrituresComptablesAvecRuptures, Ligne, Rupture};

fn sample(name: &str) -> EcrituresComptablesAvecRuptures {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim/samples").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn check(name: &str, dossier: &str, period: &str) -> ImportPlan {
    plan(dossier, period.parse().unwrap(), &sample(name), &BTreeMap::new()).unwrap()
}

#[test]
fn one_establishment_sample() {
    let p = check("dossier-100200-2026-10.json", "100200", "2026-10");
    assert_eq!(p.moves.len(), 1);
    let m = &p.moves[0];
    assert_eq!(m.reference, "SALAIRES OCTOBRE 2026");
    assert_eq!(m.date.to_string(), "2026-10-31");
    assert_eq!(m.lines.len(), 13);
    assert_eq!(m.total_debit, Cents(7_729_840));
    assert_eq!(m.total_credit, Cents(7_729_840));
    assert_eq!(m.import_key, "silae:100200:2026-10:journal-de-paie-octobre-2026");
    let first = &m.lines[0];
    assert_eq!((first.account.as_str(), first.debit, first.credit), ("64110000", Cents(5_288_591), Cents::ZERO));
    assert_eq!(first.label, "Salaires et appointements");
    assert_eq!(first.repartition, None);
    let last = m.lines.last().unwrap();
    assert_eq!((last.account.as_str(), last.debit, last.credit), ("44210000", Cents::ZERO, Cents(211_543)));
    assert_eq!(m.payload_hash.len(), 64);
}

#[test]
fn two_establishments_sample_gives_two_moves_and_a_60_40_split() {
    let p = check("dossier-100300-2026-10-two-establishments.json", "100300", "2026-10");
    assert_eq!(p.moves.len(), 2);
    let (paris, lyon) = (&p.moves[0], &p.moves[1]);
    assert_eq!(paris.reference, "SALAIRES OCTOBRE 2026 - Établissement Paris");
    assert_eq!(lyon.reference, "SALAIRES OCTOBRE 2026 - Établissement Lyon");
    assert_eq!(paris.import_key, "silae:100300:2026-10:etablissement-paris");
    assert_eq!(lyon.import_key, "silae:100300:2026-10:etablissement-lyon");
    assert_eq!((paris.lines.len(), lyon.lines.len()), (15, 13));
    assert_eq!((paris.total_debit, paris.total_credit), (Cents(16_400_394), Cents(16_400_394)));
    assert_eq!((lyon.total_debit, lyon.total_credit), (Cents(4_268_207), Cents(4_268_207)));
    assert_eq!(p.total_debit(), Cents(16_400_394 + 4_268_207));
    assert_eq!(p.line_count(), 28);
    // Salaries and allowances are split 60/40 between repartitions 1 and 2.
    let split: Vec<_> =
        paris.lines.iter().filter_map(|l| l.repartition.map(|r| (l.account.as_str(), r.index, r.pct))).collect();
    assert_eq!(
        split,
        [
            ("64110000", 1, Hundredths(6000)),
            ("64110000", 2, Hundredths(4000)),
            ("64140000", 1, Hundredths(6000)),
            ("64140000", 2, Hundredths(4000)),
        ]
    );
    let amounts = paris.analytic_split();
    let (one, two) = (amounts[&1], amounts[&2]);
    assert_eq!((one, two), (Cents(6_779_337 + 203_379), Cents(4_519_558 + 135_587)));
    // 60 % of the split amount, within Silae's rounding of each line to the cent.
    assert!((one.0 * 100 - (one.0 + two.0) * 60).abs() <= 100, "{one} / {two}");
    assert!(lyon.lines.iter().all(|l| l.repartition.is_none()));
}

#[test]
fn empty_sample_has_no_move() {
    let p = check("dossier-100200-2026-08-empty.json", "100200", "2026-08");
    assert!(p.moves.is_empty());
    assert_eq!(p.line_count(), 0);
}

#[test]
fn an_empty_rupture_gives_no_move() {
    let mut payload = sample("dossier-100300-2026-10-two-establishments.json");
    payload.ruptures.as_mut().unwrap().push(Rupture {
        libelle: Some("Établissement fermé".into()),
        total_debit: Some(Decimal("0.0".into())),
        total_credit: Some(Decimal("0".into())),
        ecritures: Some(vec![]),
    });
    let p = plan("100300", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap();
    assert_eq!(p.moves.len(), 2);
    payload.ruptures.as_mut().unwrap()[2].total_debit = Some(Decimal("1.00".into()));
    let err = plan("100300", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("rupture 3"), "{err}");
}

#[test]
fn wrong_dossier_or_period_is_refused() {
    let payload = sample("dossier-100200-2026-10.json");
    let err = plan("100300", "2026-09".parse().unwrap(), &payload, &BTreeMap::new()).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(matches!(err.0[0], Problem::DossierMismatch { .. }));
    assert!(matches!(err.0[1], Problem::PeriodMismatch { .. }));
    assert!(!err.is_balance_only());
    assert!(err.to_string().contains("dossier 100300"), "{err}");
    let text = err.to_string();
    assert!(!text.contains("Some("), "Rust's Option shown to a person: {text}");
    assert!(text.contains("the period \"2026-10-01T00:00:00\" to \"2026-10-31T00:00:00\""), "{text}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut payload = sample("dossier-100300-2026-10-two-establishments.json");
    let ruptures = payload.ruptures.as_mut().unwrap();
    // Paris: one line's amount changed: unbalanced and its debit total wrong.
    ruptures[0].ecritures.as_mut().unwrap()[0].valeur = Some(Decimal("67793.38".into()));
    // Lyon: a bad sens and a missing account, plus a too-precise amount.
    let lyon = ruptures[1].ecritures.as_mut().unwrap();
    lyon[0].sens = Some("X".into());
    lyon[1].compte = None;
    lyon[2].valeur = Some(Decimal("7877.541".into()));
    let err = plan("100300", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.0.len(), 5, "{text}");
    assert!(
        text.contains(
            "rupture 1 (\"Établissement Paris\"): unbalanced: debit 164003.95 ≠ credit 164003.94 (difference 0.01)"
        ),
        "{text}"
    );
    assert!(text.contains("the lines' debit is 164003.95 but Silae's totalDebit is 164003.94"), "{text}");
    assert!(text.contains("rupture 2 (\"Établissement Lyon\"), line 1: `sens` is \"X\""), "{text}");
    assert!(text.contains("line 2: `compte` is missing"), "{text}");
    assert!(text.contains("line 3: `valeur` is not a valid amount: `7877.541` has more than 2 decimals"), "{text}");
}

#[test]
fn totals_must_match_silae() {
    let mut payload = sample("dossier-100200-2026-10.json");
    payload.ruptures.as_mut().unwrap()[0].total_credit = Some(Decimal("77298.41".into()));
    let err = plan("100200", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap_err();
    assert!(err.is_balance_only());
    assert_eq!(err.0.len(), 1);
    assert!(err.to_string().contains("credit is 77298.40 but Silae's totalCredit is 77298.41"), "{err}");
}

#[test]
fn negative_amounts_change_sides_and_map_is_recorded() {
    let payload: EcrituresComptablesAvecRuptures = serde_json::from_str(
        r#"{"numeroDossier":"7","periodeDebut":"2026-02-01T00:00:00","periodeFin":"2026-02-28T00:00:00",
            "ruptures":[{"libelle":"","totalDebit":10.0,"totalCredit":10.0,"ecritures":[
              {"compte":"64110000","libelle":"a","sens":"D","valeur":12.5},
              {"compte":"64110000","libelle":"b","sens":"D","valeur":-2.5},
              {"compte":"42100000","libelle":"c","sens":"C","valeur":10}]}]}"#,
    )
    .unwrap();
    let map = BTreeMap::from([("42100000".to_owned(), "421100".to_owned())]);
    let p = plan("7", "2026-02".parse().unwrap(), &payload, &map).unwrap();
    let m = &p.moves[0];
    assert_eq!(m.import_key, "silae:7:2026-02:r1");
    assert_eq!(m.date.to_string(), "2026-02-28");
    assert_eq!((m.lines[1].debit, m.lines[1].credit), (Cents::ZERO, Cents(250)));
    assert_eq!((m.total_debit, m.total_credit), (Cents(1_250), Cents(1_250)));
    assert_eq!(m.lines[2].mapped_account.as_deref(), Some("421100"));
    assert_eq!(m.lines[0].mapped_account, None);
}

#[test]
fn same_labels_get_distinct_keys_and_hash_tells_corrections() {
    let r = |v: &str| Rupture {
        libelle: Some("Siège".into()),
        total_debit: Some(Decimal(v.into())),
        total_credit: Some(Decimal(v.into())),
        ecritures: Some(vec![line("641", "D", v), line("421", "C", v)]),
    };
    let payload = |v: &str| EcrituresComptablesAvecRuptures {
        numero_dossier: Some("1".into()),
        periode_debut: Some("2026-10-01T00:00:00".into()),
        periode_fin: Some("2026-10-31T00:00:00".into()),
        ruptures: Some(vec![r(v), r(v)]),
    };
    let a = plan("1", "2026-10".parse().unwrap(), &payload("10"), &BTreeMap::new()).unwrap();
    assert_eq!(a.moves[0].import_key, "silae:1:2026-10:siege");
    assert_eq!(a.moves[1].import_key, "silae:1:2026-10:siege-2");
    let b = plan("1", "2026-10".parse().unwrap(), &payload("11"), &BTreeMap::new()).unwrap();
    assert_eq!(a.moves[0].import_key, b.moves[0].import_key);
    assert_ne!(a.moves[0].payload_hash, b.moves[0].payload_hash);
    assert_eq!(a.moves[0].payload_hash, a.moves[1].payload_hash);
}

#[test]
fn account_candidates_normalise_to_the_chart() {
    let none = BTreeMap::new();
    assert_eq!(account_candidates("64110000", &none), ["64110000", "6411000", "641100"]);
    assert_eq!(account_candidates("42100000", &none), ["42100000", "4210000", "421000"]);
    assert_eq!(account_candidates("4011", &none), ["4011"]);
    let map = BTreeMap::from([("64110000".to_owned(), "641000".to_owned())]);
    assert_eq!(account_candidates("64110000", &map), ["641000"]);
}

#[test]
fn slugs() {
    assert_eq!(slug("Établissement Paris").as_deref(), Some("etablissement-paris"));
    assert_eq!(slug("  Œuvres -- sociales  ").as_deref(), Some("oeuvres-sociales"));
    assert_eq!(slug("«»"), None);
}

fn line(compte: &str, sens: &str, valeur: &str) -> Ligne {
    Ligne {
        code_journal: Some("PA".into()),
        periode: Some("2026-10-31T00:00:00".into()),
        compte: Some(compte.into()),
        libelle: Some(compte.into()),
        sens: Some(sens.into()),
        index_repartition: Some(0),
        valeur: Some(Decimal(valeur.into())),
        pct_repartition: Some(Decimal("100.0".into())),
    }
}

/// Random payloads: balanced ones plan to Silae's totals to the cent; any imbalance is refused.
fn arb_payload() -> impl Strategy<Value = (Vec<Vec<(bool, i64)>>, i64)> {
    let rupture = prop::collection::vec((any::<bool>(), 1i64..10_000_000), 1..1_000);
    (prop::collection::vec(rupture, 1..5), -3i64..3)
}

fn build(ruptures: &[Vec<(bool, i64)>], skew: i64) -> (EcrituresComptablesAvecRuptures, Vec<i64>) {
    let mut totals = Vec::new();
    let rs = ruptures
        .iter()
        .enumerate()
        .map(|(i, lines)| {
            let mut ecritures: Vec<Ligne> = lines
                .iter()
                .map(|(debit, cents)| line("64110000", if *debit { "D" } else { "C" }, &Cents(*cents).to_string()))
                .collect();
            let debit: i64 = lines.iter().filter(|l| l.0).map(|l| l.1).sum();
            let credit: i64 = lines.iter().filter(|l| !l.0).map(|l| l.1).sum();
            // Balance with one closing line, then skew the first rupture if asked.
            let (sens, diff) = if debit >= credit { ("C", debit - credit) } else { ("D", credit - debit) };
            let closing = diff + if i == 0 { skew } else { 0 };
            ecritures.push(line("42100000", sens, &Cents(closing).to_string()));
            let total = debit.max(credit);
            totals.push(total);
            Rupture {
                libelle: Some(format!("Établissement {i}")),
                total_debit: Some(Decimal(Cents(total).to_string())),
                total_credit: Some(Decimal(Cents(total).to_string())),
                ecritures: Some(ecritures),
            }
        })
        .collect();
    let payload = EcrituresComptablesAvecRuptures {
        numero_dossier: Some("100200".into()),
        periode_debut: Some("2026-10-01T00:00:00".into()),
        periode_fin: Some("2026-10-31T00:00:00".into()),
        ruptures: Some(rs),
    };
    (payload, totals)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn plan_sums_equal_silae_totals((ruptures, skew) in arb_payload()) {
        let (payload, totals) = build(&ruptures, skew);
        // Through JSON text, as Silae sends it.
        let text = serde_json::to_string(&payload).unwrap();
        let payload: EcrituresComptablesAvecRuptures = serde_json::from_str(&text).unwrap();
        let result = plan("100200", "2026-10".parse().unwrap(), &payload, &BTreeMap::new());
        if skew == 0 {
            let p = result.unwrap();
            prop_assert_eq!(p.moves.len(), ruptures.len());
            for (m, total) in p.moves.iter().zip(&totals) {
                prop_assert_eq!(m.total_debit, Cents(*total));
                prop_assert_eq!(m.total_credit, Cents(*total));
                let d: i64 = m.lines.iter().map(|l| l.debit.0).sum();
                let c: i64 = m.lines.iter().map(|l| l.credit.0).sum();
                prop_assert_eq!((d, c), (*total, *total));
            }
        } else {
            let err = result.unwrap_err();
            prop_assert!(err.is_balance_only());
            let first_unbalanced = err.0.iter().any(|p| matches!(p, Problem::Unbalanced { at, .. } if at.rupture == 1));
            prop_assert!(first_unbalanced);
        }
    }
}

/// Loosely payload-shaped JSON: right and wrong types, odd numbers, missing fields.
fn arb_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    let number = prop_oneof![
        any::<i64>().prop_map(|i| json!(i)),
        (-1e16f64..1e16).prop_map(|f| json!(f)),
        Just(json!(0.001)),
        Just(json!(1e300)),
    ];
    let leaf = prop_oneof![
        number.clone(),
        "[A-Za-z0-9 éÉ-]{0,12}".prop_map(|s| json!(s)),
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
    ];
    let sens = prop_oneof![Just(json!("D")), Just(json!("C")), leaf.clone()];
    let ligne = (
        leaf.clone(),
        sens,
        number.clone(),
        prop_oneof![number.clone(), leaf.clone()],
        leaf.clone(),
        leaf.clone(),
    )
        .prop_map(|(compte, sens, valeur, pct, index, periode)| {
            json!({"compte": compte, "sens": sens, "valeur": valeur, "pctRepartition": pct, "indexRepartition": index,
                   "periode": periode, "libelle": "x"})
        });
    let rupture = (prop::collection::vec(ligne, 0..20), number.clone(), prop_oneof![number, leaf.clone()])
        .prop_map(|(e, d, c)| json!({"libelle": "R", "totalDebit": d, "totalCredit": c, "ecritures": e}));
    (prop::collection::vec(rupture, 0..4), leaf).prop_map(|(r, dossier)| {
        json!({"numeroDossier": dossier, "periodeDebut": "2026-10-01T00:00:00", "periodeFin": "2026-10-31T00:00:00", "ruptures": r})
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    /// Whatever Silae sends, parsing and planning answer (a plan or problems), never panic.
    #[test]
    fn any_payload_is_planned_or_refused_without_panic(v in arb_value()) {
        let text = v.to_string();
        if let Ok(payload) = serde_json::from_str::<EcrituresComptablesAvecRuptures>(&text) {
            match plan("100200", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()) {
                Ok(p) => {
                    for m in &p.moves {
                        prop_assert_eq!(m.total_debit, m.total_credit);
                    }
                }
                Err(problems) => prop_assert!(!problems.0.is_empty()),
            }
        }
    }
}

#[test]
fn the_answer_period_may_lie_within_the_month_or_end_on_the_next_first() {
    let p: Period = "2026-10".parse().unwrap();
    let d = |s: &str| Some(s.parse::<jiff::civil::Date>().unwrap());
    assert!(period_fits(p, d("2026-10-01"), d("2026-10-31")));
    assert!(period_fits(p, d("2026-10-01"), d("2026-11-01")));
    assert!(period_fits(p, d("2026-10-10"), d("2026-10-20")));
    assert!(!period_fits(p, d("2026-10-20"), d("2026-10-10")));
    assert!(!period_fits(p, d("2026-09-30"), d("2026-10-31")));
    assert!(!period_fits(p, d("2026-10-01"), d("2026-11-02")));
    assert!(!period_fits(p, None, d("2026-10-31")));
    let dec: Period = "2026-12".parse().unwrap();
    assert!(period_fits(dec, d("2026-12-01"), d("2027-01-01")));
}

#[test]
fn a_rupture_split_by_journal_code_balances_per_code() {
    let mut payload = sample("dossier-100200-2026-10.json");
    let lines = payload.ruptures.as_mut().unwrap()[0].ecritures.as_mut().unwrap();
    // The last line (a credit) moves to journal PB: neither group balances any more.
    lines.last_mut().unwrap().code_journal = Some(" PB ".into());
    let problems = plan("100200", "2026-10".parse().unwrap(), &payload, &BTreeMap::new()).unwrap_err();
    assert_eq!(problems.0.len(), 2, "{problems}");
    assert!(problems.is_balance_only());
    assert!(problems.to_string().contains("journal code PB"), "{problems}");
}

#[test]
fn the_period_s_payment_moves_do_not_look_like_a_renamed_rupture() {
    let p = check("dossier-100200-2026-10.json", "100200", "2026-10");
    let ours = p.moves[0].import_key.clone();
    let payments =
        vec!["silae:100200:2026-10:virement-1".to_owned(), "silae:100200:2026-10:acomptes".to_owned(), ours.clone()];
    assert_eq!(p.renamed(&payments), None);
    // The payments alone in Odoo (the payroll move deleted): the payroll is new, nothing renamed.
    assert_eq!(p.renamed(&payments[..2]), None);
    let renamed = vec!["silae:100200:2026-10:ancien-libelle".to_owned(), payments[0].clone()];
    let why = p.renamed(&renamed).unwrap();
    assert!(why.contains("ancien-libelle") && !why.contains("virement-1"), "{why}");
}
