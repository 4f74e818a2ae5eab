//! The demo database: two French companies, their journals, a subset of the French chart of
//! accounts (437300, 437400 and 437500 left out on purpose: tests create them), an analytic plan
//! for the establishments, the admin user and the payflow_silae module.

use serde_json::{json, Value};

use super::orm::{Db, Record};

fn rec(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => Record::new(),
    }
}

/// (code, name, account_type)
const CHART: &[(&str, &str, &str)] = &[
    ("401000", "Fournisseurs", "liability_payable"),
    ("411000", "Clients", "asset_receivable"),
    ("421000", "Personnel - Rémunérations dues", "liability_current"),
    ("431000", "Sécurité sociale", "liability_current"),
    ("437000", "Autres organismes sociaux", "liability_current"),
    ("442100", "Prélèvements à la source (Impôt sur le revenu)", "liability_current"),
    ("512001", "Banque", "asset_cash"),
    ("606100", "Fournitures non stockables (eau, énergie)", "expense"),
    ("641100", "Salaires, appointements", "expense"),
    ("641400", "Indemnités et avantages divers", "expense"),
    ("645100", "Cotisations à l'URSSAF", "expense"),
    ("645300", "Cotisations aux caisses de retraites", "expense"),
    ("645400", "Cotisations à Pôle emploi", "expense"),
    ("645800", "Cotisations aux autres organismes sociaux", "expense"),
    ("647500", "Médecine du travail, pharmacie", "expense"),
];

/// (code, name, type)
const JOURNALS: &[(&str, &str, &str, i64)] = &[
    ("VTE", "Ventes", "sale", 5),
    ("ACH", "Achats", "purchase", 6),
    ("OD", "Opérations diverses", "general", 9),
    ("SAL", "Salaires", "general", 10),
    ("BNK1", "Banque", "bank", 11),
];

/// The demo database; the admin's login is `login`.
pub fn demo(version: u32, addon: bool, login: &str) -> Db {
    let mut db = Db::empty(version, addon);
    // Ids as in a fresh Odoo database: EUR and France keep theirs.
    db.insert("res.currency", rec(json!({"id": 125, "name": "EUR", "symbol": "€", "active": true})));
    db.insert("res.country", rec(json!({"id": 75, "name": "France", "code": "FR"})));
    let mut companies = Vec::new();
    for name in ["PayFlow Démo SAS", "PayFlow Filiale Lyon"] {
        let mut c = rec(json!({"name": name, "active": true, "currency_id": 125, "country_id": 75}));
        for lock in super::schema::lock_fields(version) {
            c.insert((*lock).to_owned(), json!(false));
        }
        companies.push(db.insert("res.company", c));
    }
    db.insert(
        "res.users",
        rec(json!({"id": 1, "name": "OdooBot", "login": "__system__", "active": false, "company_id": companies[0], "company_ids": companies})),
    );
    db.insert(
        "res.users",
        rec(json!({"id": 2, "name": "Administrator", "login": login, "active": true, "company_id": companies[0], "company_ids": companies})),
    );
    for &company in &companies {
        for (code, name, kind, sequence) in JOURNALS {
            db.insert(
                "account.journal",
                rec(json!({"code": code, "name": name, "type": kind, "sequence": sequence, "active": true, "company_id": company})),
            );
        }
    }
    for &company in &companies {
        for (code, name, kind) in CHART {
            let mut a = rec(json!({"code": code, "name": name, "account_type": kind, "reconcile": false}));
            if version >= 18 {
                a.insert("company_ids".into(), json!([company]));
            } else {
                a.insert("company_id".into(), json!(company));
            }
            if version <= 18 {
                a.insert("deprecated".into(), json!(false));
            } else {
                a.insert("active".into(), json!(true));
            }
            db.insert("account.account", a);
        }
    }
    let plan = db.insert("account.analytic.plan", rec(json!({"name": "Établissements"})));
    for (code, name) in [("PARIS", "Établissement Paris"), ("LYON", "Établissement Lyon")] {
        db.insert(
            "account.analytic.account",
            rec(json!({"name": name, "code": code, "plan_id": plan, "company_id": false, "active": true})),
        );
    }
    db.insert(
        "ir.module.module",
        rec(json!({"name": "payflow_silae", "shortdesc": "PayFlow (Silae)", "state": if addon { "installed" } else { "uninstalled" }})),
    );
    db
}

/// Installs or uninstalls the addon: its fields and method come and go, the module's state
/// follows.
pub fn set_addon(db: &mut Db, installed: bool) {
    db.addon = installed;
    let ids: Vec<i64> = db
        .all("ir.module.module")
        .filter(|m| m.get("name").and_then(Value::as_str) == Some("payflow_silae"))
        .filter_map(|m| m["id"].as_i64())
        .collect();
    for id in ids {
        if let Some(m) = db.get_mut("ir.module.module", id) {
            m.insert("state".into(), json!(if installed { "installed" } else { "uninstalled" }));
        }
    }
    if installed {
        let moves: Vec<i64> = db.all("account.move").filter_map(|m| m["id"].as_i64()).collect();
        for id in moves {
            if let Some(m) = db.get_mut("account.move", id) {
                m.entry("payflow_import_key").or_insert(json!(false));
                m.entry("payflow_payload_hash").or_insert(json!(false));
            }
        }
    }
}
