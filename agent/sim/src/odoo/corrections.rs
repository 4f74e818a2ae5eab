//! Corrected payrolls, as odoo_addon/payflow_silae's `payflow_corrections.py` does them: a draft
//! changed in Odoo since the addon wrote it (its fingerprint, or a write by another user) is a
//! `changed_in_odoo` problem; a posted move whose amounts Silae changed is a `posted_changed`
//! problem (`alert`) or gets a draft adjustment holding the difference (`adjust`). An untouched
//! draft is rewritten in place (same id).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::account::{create_move, post_message, write_moves};
use super::error::OdooResult;
use super::fmt::cents;
use super::orm::{as_id, Db, Env, Record};

/// The move as it is now: date, ref, journal, and each line's account, label, amounts in cents
/// and analytic, sorted (the addon hashes the same; the simulator keeps the text).
pub fn fingerprint(db: &Db, id: i64) -> String {
    let Some(m) = db.get("account.move", id) else { return String::new() };
    let mut lines: Vec<String> = db
        .lines_of(id)
        .iter()
        .map(|l| {
            json!([
                l.get("account_id").and_then(as_id),
                l.get("name"),
                cents(l.get("debit").and_then(Value::as_f64).unwrap_or(0.0)),
                cents(l.get("credit").and_then(Value::as_f64).unwrap_or(0.0)),
                l.get("analytic_distribution"),
            ])
            .to_string()
        })
        .collect();
    lines.sort();
    json!([[m.get("date"), m.get("ref"), m.get("journal_id").and_then(as_id)], lines]).to_string()
}

/// Remembers the move as the addon just wrote it (`payflow_lines_hash`), by the caller.
pub fn stamp(db: &mut Db, env: &Env, id: i64) {
    let print = fingerprint(db, id);
    if let Some(m) = db.get_mut("account.move", id) {
        m.insert("payflow_lines_hash".into(), json!(print));
        m.insert("write_uid".into(), json!(env.uid));
    }
}

/// Why a draft is not as the addon left it: (reasons, user name, date), or None.
pub fn changes(db: &Db, env: &Env, id: i64) -> Option<(Vec<String>, String, String)> {
    let m = db.get("account.move", id)?;
    let ours = [Some(env.uid), m.get("create_uid").and_then(as_id)];
    let mut reasons = Vec::new();
    if m.get("write_uid").and_then(as_id).is_some_and(|u| !ours.contains(&Some(u))) {
        reasons.push("move".to_owned());
    }
    let stored = m.get("payflow_lines_hash").and_then(Value::as_str).filter(|s| !s.is_empty());
    if stored.is_some_and(|s| s != fingerprint(db, id)) {
        reasons.push("lines".to_owned());
    }
    if reasons.is_empty() {
        return None;
    }
    let uid = m.get("write_uid").and_then(as_id).unwrap_or(env.uid);
    let who = db.get("res.users", uid).and_then(|u| u.get("name")?.as_str().map(str::to_owned)).unwrap_or_default();
    let when = m.get("write_date").and_then(Value::as_str).unwrap_or("2026-11-02 10:00:00").to_owned();
    Some((reasons, who, when))
}

type Sums = BTreeMap<(String, String), (i64, i64, String)>;

fn analytic_key(distribution: Option<&Value>) -> String {
    match distribution.and_then(Value::as_object) {
        Some(d) if d.len() == 1 => d.keys().next().cloned().unwrap_or_default(),
        Some(d) if !d.is_empty() => Value::Object(d.clone()).to_string(),
        _ => String::new(),
    }
}

/// Silae's latest amounts of a move of the plan, per (account id or Silae code, analytic).
fn silae_sums(
    entry: &Value,
    accounts: &std::collections::HashMap<String, (i64, String)>,
    analytic: &serde_json::Map<String, Value>,
) -> Sums {
    let mut sums = Sums::new();
    for l in entry.get("lines").and_then(Value::as_array).into_iter().flatten() {
        let code = l.get("account").and_then(Value::as_str).unwrap_or("");
        let account = accounts.get(code).map_or_else(|| code.to_owned(), |(id, _)| id.to_string());
        let index = match l.get("analytic") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let key_analytic = index.and_then(|i| analytic.get(&i)).map(|id| id.to_string()).unwrap_or_default();
        let row = sums.entry((account, key_analytic)).or_insert((0, 0, String::new()));
        row.0 += cents(l.get("debit").and_then(Value::as_f64).unwrap_or(0.0));
        row.1 += cents(l.get("credit").and_then(Value::as_f64).unwrap_or(0.0));
        if row.2.is_empty() {
            row.2 = l.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
        }
    }
    sums
}

/// What the moves hold, summed the same way.
fn odoo_sums(db: &Db, ids: &[i64]) -> Sums {
    let mut sums = Sums::new();
    for id in ids {
        for l in db.lines_of(*id) {
            let account = l.get("account_id").and_then(as_id).unwrap_or(0).to_string();
            let row =
                sums.entry((account, analytic_key(l.get("analytic_distribution")))).or_insert((0, 0, String::new()));
            row.0 += cents(l.get("debit").and_then(Value::as_f64).unwrap_or(0.0));
            row.1 += cents(l.get("credit").and_then(Value::as_f64).unwrap_or(0.0));
            if row.2.is_empty() {
                row.2 = l.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
            }
        }
    }
    sums
}

/// Each (account, analytic) whose amounts differ, as the addon answers it.
fn diff(db: &Db, odoo: &Sums, silae: &Sums) -> Vec<Value> {
    let mut keys: Vec<&(String, String)> = odoo.keys().chain(silae.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = (0, 0, String::new());
    let mut out = Vec::new();
    for key in keys {
        let (o, s) = (odoo.get(key).unwrap_or(&none), silae.get(key).unwrap_or(&none));
        if (o.0, o.1) == (s.0, s.1) {
            continue;
        }
        let account = key.0.parse::<i64>().ok().and_then(|id| db.get("account.account", id));
        let text = |r: Option<&Record>, f: &str| r.and_then(|a| a.get(f)?.as_str().map(str::to_owned));
        let analytic = key.1.parse::<i64>().ok().and_then(|id| db.get("account.analytic.account", id));
        let label = if s.2.is_empty() { o.2.clone() } else { s.2.clone() };
        out.push(json!({
            "account": text(account, "code").unwrap_or_else(|| key.0.clone()),
            "account_id": account.and_then(|a| a.get("id").cloned()).unwrap_or(json!(false)),
            "name": text(account, "name").unwrap_or_else(|| label.clone()),
            "label": label,
            "analytic": if key.1.is_empty() { json!(false) } else { json!(text(analytic, "name").unwrap_or_else(|| key.1.clone())) },
            "analytic_key": key.1,
            "odoo_debit": o.0, "odoo_credit": o.1, "silae_debit": s.0, "silae_credit": s.1,
        }));
    }
    out
}

fn balance(d: &Value, side: &str) -> i64 {
    d[format!("{side}_debit")].as_i64().unwrap_or(0) - d[format!("{side}_credit")].as_i64().unwrap_or(0)
}

/// An adjustment to write: its key, the original move, the plan's entry, the difference.
pub struct Adjustment {
    pub import_key: String,
    pub original: i64,
    pub entry: Value,
    pub diff: Vec<Value>,
}

/// The step of `payflow_import_plan`: problems for changed drafts and (``alert``) corrected
/// posted moves; the adjustments to write (``adjust``).
#[allow(clippy::too_many_arguments)]
pub fn step(
    db: &Db,
    env: &Env,
    company_id: i64,
    moves: &[Value],
    existing: &std::collections::HashMap<String, Record>,
    accounts: &std::collections::HashMap<String, (i64, String)>,
    analytic: &serde_json::Map<String, Value>,
    corrections: &str,
    problems: &mut Vec<Value>,
) -> Vec<Adjustment> {
    let mut out = Vec::new();
    for entry in moves {
        let key = entry["import_key"].as_str().unwrap_or("");
        let Some(m) = existing.get(key) else { continue };
        if m.get("payflow_payload_hash").unwrap_or(&json!(false)) == entry.get("payload_hash").unwrap_or(&Value::Null) {
            continue;
        }
        let id = m["id"].as_i64().unwrap_or(0);
        let silae = silae_sums(entry, accounts, analytic);
        let state = m.get("state").and_then(Value::as_str).unwrap_or("draft");
        let fact = json!({"import_key": key, "move": {"id": id, "name": m.get("name")}, "state": state});
        if state == "draft" {
            if let Some((reasons, who, when)) = changes(db, env, id) {
                let mut p = fact;
                p["kind"] = json!("changed_in_odoo");
                p["changed_by"] = json!(who);
                p["changed_at"] = json!(when);
                p["reasons"] = json!(reasons);
                p["diff"] = Value::Array(diff(db, &odoo_sums(db, &[id]), &silae));
                problems.push(p);
            }
            continue;
        }
        if state != "posted" {
            continue;
        }
        let adjustments: Vec<&Record> = db
            .all("account.move")
            .filter(|a| a.get("payflow_adjusted_move_id").and_then(as_id) == Some(id))
            .filter(|a| a.get("state").and_then(Value::as_str) != Some("cancel"))
            .collect();
        let mut booked = vec![id];
        booked.extend(adjustments.iter().filter_map(|a| a["id"].as_i64()));
        let d: Vec<Value> = diff(db, &odoo_sums(db, &booked), &silae)
            .into_iter()
            .filter(|d| balance(d, "silae") != balance(d, "odoo"))
            .collect();
        if d.is_empty() {
            continue;
        }
        if corrections != "adjust" {
            let mut p = fact;
            p["kind"] = json!("posted_changed");
            p["diff"] = Value::Array(d);
            p["adjustments"] = adjustments.iter().map(|a| json!({"id": a["id"], "name": a.get("name")})).collect();
            problems.push(p);
            continue;
        }
        let prefix = format!("{key}:regul-");
        let used = db
            .all("account.move")
            .filter(|a| a.get("company_id").and_then(as_id) == Some(company_id))
            .filter_map(|a| a.get("payflow_import_key")?.as_str()?.strip_prefix(&prefix)?.parse::<i64>().ok())
            .max()
            .unwrap_or(0);
        out.push(Adjustment {
            import_key: format!("{prefix}{}", used + 1),
            original: id,
            entry: entry.clone(),
            diff: d,
        });
    }
    out
}

/// The answer's rows of the adjustments a preview (or a refusal) would create.
pub fn rows(db: &Db, adjustments: &[Adjustment]) -> Vec<Value> {
    adjustments
        .iter()
        .map(|a| {
            let of = db.get("account.move", a.original).and_then(|m| m.get("payflow_import_key").cloned());
            json!({"import_key": a.import_key, "id": false, "name": false, "result": "created", "state": false, "adjusts": of})
        })
        .collect()
}

/// Creates each adjustment: a draft in the original's journal holding the difference, linked
/// from both chatters; its rows.
pub fn write(
    db: &mut Db,
    env: &Env,
    company_id: i64,
    adjustments: &[Adjustment],
    attachment: &Value,
) -> OdooResult<Vec<Value>> {
    let mut out = Vec::new();
    for a in adjustments {
        let original = db.get("account.move", a.original).cloned().unwrap_or_default();
        let lines: Vec<Value> = a
            .diff
            .iter()
            .filter_map(|d| {
                let b = balance(d, "silae") - balance(d, "odoo");
                let mut vals = json!({
                    "account_id": d["account_id"],
                    "name": d["label"],
                    "debit": super::fmt::amount(b.max(0)),
                    "credit": super::fmt::amount((-b).max(0)),
                });
                let key = d["analytic_key"].as_str().unwrap_or("");
                if !key.is_empty() {
                    vals["analytic_distribution"] = json!({ key: 100.0 });
                }
                (b != 0).then(|| json!([0, 0, vals]))
            })
            .collect();
        let vals = json!({
            "move_type": "entry",
            "journal_id": original.get("journal_id"),
            "company_id": company_id,
            "date": a.entry.get("date").cloned().unwrap_or_else(|| original.get("date").cloned().unwrap_or(Value::Null)),
            "ref": format!("REGULARISATION {}", a.entry.get("ref").and_then(Value::as_str).unwrap_or("")),
            "line_ids": lines,
            "payflow_import_key": a.import_key,
            "payflow_payload_hash": a.entry.get("payload_hash"),
            "payflow_adjusted_move_id": a.original,
        });
        let id = create_move(db, env, &vals, false)?;
        stamp(db, env, id);
        if let Some(att) =
            a.entry.get("attachment").filter(|v| !v.is_null()).or(Some(attachment).filter(|v| !v.is_null()))
        {
            let file = json!({
                "name": att.get("name").cloned().unwrap_or(json!("silae.json")),
                "datas": att.get("datas").cloned().unwrap_or(json!(false)),
                "mimetype": att.get("mimetype").cloned().unwrap_or(json!("application/json")),
                "res_model": "account.move",
                "res_id": id,
            });
            let model = db.model("ir.attachment")?;
            db.create_plain(env, &model, &file)?;
        }
        let name = db.get("account.move", id).and_then(|m| m.get("name").cloned()).unwrap_or(json!(false));
        let link = |mid: i64, name: &Value| {
            format!(
                "<a href=\"#\" data-oe-model=\"account.move\" data-oe-id=\"{mid}\">{}</a>",
                name.as_str().unwrap_or("")
            )
        };
        let original_name = original.get("name").cloned().unwrap_or(json!(false));
        post_message(
            db,
            "account.move",
            id,
            &format!("<p>Silae corrected this payroll after {} was posted: this draft books the difference, per account.</p>", link(a.original, &original_name)),
        );
        post_message(
            db,
            "account.move",
            a.original,
            &format!(
                "<p>Silae corrected this payroll after it was posted: adjustment {} (draft) books the difference.</p>",
                link(id, &name)
            ),
        );
        out.push(json!({
            "import_key": a.import_key, "id": id, "name": name, "result": "created", "state": "draft",
            "adjusts": original.get("payflow_import_key"),
        }));
    }
    Ok(out)
}

/// Rewrites an untouched draft in place (same id): its lines replaced, the new fingerprint.
pub fn rewrite(db: &mut Db, env: &Env, id: i64, vals: &Value) -> OdooResult<bool> {
    let Some(current) = db.get("account.move", id).cloned() else { return Ok(false) };
    if vals.get("journal_id").and_then(as_id) != current.get("journal_id").and_then(as_id) {
        return Ok(false);
    }
    let mut cmds: Vec<Value> =
        db.lines_of(id).iter().filter_map(|l| l["id"].as_i64()).map(|lid| json!([2, lid])).collect();
    cmds.extend(vals.get("line_ids").and_then(Value::as_array).cloned().unwrap_or_default());
    let mut new = json!({"line_ids": cmds});
    for f in ["date", "ref", "payflow_payload_hash"] {
        if let Some(v) = vals.get(f) {
            new[f] = v.clone();
        }
    }
    write_moves(db, env, &[id], &new)?;
    stamp(db, env, id);
    Ok(true)
}
