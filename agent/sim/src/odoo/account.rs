//! Accounting as Odoo 17/18/19 behaves where PayFlow depends on it: journal entries (balanced to
//! the cent, numbered, posted, locked periods), accounts and journals (unique codes), lock dates,
//! and the payflow_silae addon's unique key and atomic `payflow_import`.

use serde_json::{json, Map, Value};

use super::error::{Kind, OdooError, OdooResult};
use super::fmt::{and_list, cents, euros, py_repr, shorten, Date};
use super::orm::{as_id, as_ids, fk_error, truthy, Db, Env, Record};
use super::schema::{lock_fields, lock_label};

/// `_get_move_display_name`: `Draft Entry SAL/2026/10/0001 (ref)`, `SAL/2026/10/0001 (ref)`.
pub fn move_display_name(m: &Record, show_ref: bool) -> String {
    let text = |f: &str| m.get(f).and_then(Value::as_str).unwrap_or("");
    let mut name = String::new();
    if text("state") == "draft" {
        name.push_str(match text("move_type") {
            "out_invoice" => "Draft Invoice",
            "out_refund" => "Draft Credit Note",
            "in_invoice" => "Draft Bill",
            "in_refund" => "Draft Vendor Credit Note",
            "out_receipt" => "Draft Sales Receipt",
            "in_receipt" => "Draft Purchase Receipt",
            _ => "Draft Entry",
        });
        name.push(' ');
    }
    if !text("name").is_empty() && text("name") != "/" {
        name.push_str(text("name"));
    }
    if show_ref && !text("ref").is_empty() {
        name.push_str(&format!(" ({})", shorten(text("ref"), 50)));
    }
    name
}

// ----------------------------------------------------------------------
// Dispatch of the generic methods to the models that behave specially
// ----------------------------------------------------------------------

pub fn create(db: &mut Db, env: &Env, model: &str, vals: &Value) -> OdooResult<i64> {
    match model {
        "account.move" => create_move(db, env, vals, true),
        "account.account" => create_account(db, env, vals),
        "account.journal" => create_journal(db, env, vals),
        "res.company" | "res.users" | "ir.module.module" | "res.currency" | "res.country" => Err(OdooError::new(
            Kind::AccessError,
            format!("You are not allowed to create '{}' ({model}) records.", db.model(model)?.description),
        )),
        _ => {
            let m = db.model(model)?;
            db.create_plain(env, &m, vals)
        }
    }
}

pub fn write(db: &mut Db, env: &Env, model: &str, ids: &[i64], vals: &Value) -> OdooResult<()> {
    match model {
        "account.move" => write_moves(db, env, ids, vals),
        "res.company" => write_companies(db, env, ids, vals),
        "account.account" | "account.journal" => {
            let m = db.model(model)?;
            db.write_plain(env, &m, ids, vals)?;
            check_unique_codes(db, model, ids)
        }
        _ => {
            let m = db.model(model)?;
            db.write_plain(env, &m, ids, vals)
        }
    }
}

pub fn unlink(db: &mut Db, env: &Env, model: &str, ids: &[i64]) -> OdooResult<()> {
    match model {
        "account.move" => unlink_moves(db, env, ids),
        _ => {
            let m = db.model(model)?;
            db.unlink_plain(env, &m, ids)
        }
    }
}

// ----------------------------------------------------------------------
// Accounts and journals
// ----------------------------------------------------------------------

fn create_account(db: &mut Db, env: &Env, vals: &Value) -> OdooResult<i64> {
    let model = db.model("account.account")?;
    let mut rec = db.convert_vals(&model, vals, None)?;
    if db.version >= 18 {
        if as_ids(rec.get("company_ids").unwrap_or(&json!([]))).is_empty() {
            rec.insert("company_ids".into(), json!([env.company()]));
        }
    } else {
        rec.entry("company_id").or_insert(json!(env.company()));
        if rec["company_id"] == json!(false) {
            rec.insert("company_id".into(), json!(env.company()));
        }
    }
    if db.version <= 18 {
        rec.entry("deprecated").or_insert(json!(false));
    } else {
        rec.entry("active").or_insert(json!(true));
    }
    rec.entry("reconcile").or_insert(json!(false));
    if rec.get("account_type").is_none_or(|t| t == &json!(false)) {
        if let Some(code) = rec.get("code").and_then(Value::as_str).map(str::to_owned) {
            let companies = account_companies(&rec);
            rec.insert("account_type".into(), json!(guess_account_type(db, &code, &companies)));
        }
    }
    db.check_required(&model, &rec)?;
    db.check_foreign_keys(&model, &rec)?;
    let id = db.insert("account.account", rec);
    check_unique_codes(db, "account.account", &[id])?;
    Ok(id)
}

fn account_companies(rec: &Record) -> Vec<i64> {
    match rec.get("company_ids") {
        Some(v) => as_ids(v),
        None => rec.get("company_id").and_then(as_id).into_iter().collect(),
    }
}

/// Odoo 18 gives a new account without a type the type of the account just before it in the
/// chart (by code), else `asset_current`.
fn guess_account_type(db: &Db, code: &str, companies: &[i64]) -> String {
    db.all("account.account")
        .filter(|a| account_companies(a).iter().any(|c| companies.contains(c)))
        .filter_map(|a| Some((a.get("code")?.as_str()?, a.get("account_type")?.as_str()?)))
        .filter(|(c, _)| *c < code)
        .max_by(|a, b| a.0.cmp(b.0))
        .map_or_else(|| "asset_current".to_owned(), |(_, t)| t.to_owned())
}

fn create_journal(db: &mut Db, env: &Env, vals: &Value) -> OdooResult<i64> {
    let model = db.model("account.journal")?;
    let mut vals = vals.clone();
    // `code` is a Char(size=5): the database keeps five characters.
    if let Some(code) = vals.get("code").and_then(Value::as_str) {
        vals["code"] = json!(code.chars().take(5).collect::<String>());
    }
    let id = db.create_plain(env, &model, &vals)?;
    check_unique_codes(db, "account.journal", &[id])?;
    Ok(id)
}

/// Account codes and journal codes are unique per company.
fn check_unique_codes(db: &Db, model: &str, ids: &[i64]) -> OdooResult<()> {
    for id in ids {
        let Some(rec) = db.get(model, *id) else { continue };
        let code = rec.get("code").and_then(Value::as_str).unwrap_or("");
        let companies = account_companies(rec);
        let clash = db.all(model).any(|other| {
            other["id"].as_i64() != Some(*id)
                && other.get("code").and_then(Value::as_str) == Some(code)
                && account_companies(other).iter().any(|c| companies.contains(c))
        });
        if !clash {
            continue;
        }
        return Err(OdooError::validation(match (model, db.version) {
            ("account.journal", _) => {
                "The operation cannot be completed: Journal codes must be unique per company.".to_owned()
            }
            (_, v) if v >= 18 => {
                format!("Account codes must be unique. You can't create accounts with these duplicate codes: {code}")
            }
            _ => "The operation cannot be completed: The code of the account must be unique per company !".to_owned(),
        }));
    }
    Ok(())
}

// ----------------------------------------------------------------------
// Companies and lock dates
// ----------------------------------------------------------------------

fn write_companies(db: &mut Db, env: &Env, ids: &[i64], vals: &Value) -> OdooResult<()> {
    let model = db.model("res.company")?;
    db.ensure_exist(env, &model, ids)?;
    // Checked before anything changes, as `_validate_locks` does.
    let changes = db.convert_vals(&model, vals, None)?;
    if db.version >= 18 {
        if let Some(new) = changes.get("hard_lock_date") {
            let new = new.as_str().and_then(Date::parse);
            for id in ids {
                let old = db.get("res.company", *id).and_then(|c| c.get("hard_lock_date")?.as_str()?.parse_date());
                match (old, new) {
                    (None, _) => {}
                    (Some(_), None) => return Err(OdooError::user("The Hard Lock Date cannot be removed.")),
                    (Some(o), Some(n)) if n < o => {
                        return Err(OdooError::user(
                            "A new Hard Lock Date must be posterior (or equal) to the previous one.",
                        ))
                    }
                    _ => {}
                }
            }
            if let Some(n) = new {
                let drafts = db.all("account.move").any(|m| {
                    m.get("state").and_then(Value::as_str) == Some("draft")
                        && m.get("company_id").and_then(as_id).is_some_and(|c| ids.contains(&c))
                        && m.get("date").and_then(Value::as_str).and_then(Date::parse).is_some_and(|d| d <= n)
                });
                if drafts {
                    return Err(OdooError::new(
                        Kind::RedirectWarning,
                        "There are still draft entries in the period you want to hard lock. You should either post or delete them.",
                    ));
                }
            }
        }
    }
    db.write_plain(env, &model, ids, vals)
}

trait ParseDate {
    fn parse_date(&self) -> Option<Date>;
}

impl ParseDate for str {
    fn parse_date(&self) -> Option<Date> {
        Date::parse(self)
    }
}

/// The lock dates a move dated `date` in a journal of `journal_type` violates, earliest first
/// (`_get_lock_date_violations` with tax=False: PayFlow's moves carry no tax).
fn violated_locks(db: &Db, company: i64, journal_type: &str, date: Date) -> Vec<(Date, &'static str)> {
    let Some(c) = db.get("res.company", company) else { return Vec::new() };
    let mut out: Vec<(Date, &'static str)> = lock_fields(db.version)
        .iter()
        .filter(|f| match **f {
            "fiscalyear_lock_date" | "hard_lock_date" => true,
            "sale_lock_date" => journal_type == "sale",
            "purchase_lock_date" => journal_type == "purchase",
            // The admin is an adviser: 17's period lock date does not stop them.
            _ => false,
        })
        .filter_map(|f| Some((c.get(*f)?.as_str()?.parse_date()?, *f)))
        .filter(|(lock, _)| date <= *lock)
        .collect();
    out.sort();
    out
}

/// `_check_fiscal_lock_dates` of a posted move.
fn check_lock(db: &Db, m: &Record) -> OdooResult<()> {
    let Some(date) = m.get("date").and_then(Value::as_str).and_then(Date::parse) else { return Ok(()) };
    let company = m.get("company_id").and_then(as_id).unwrap_or(1);
    let locks = violated_locks(db, company, &journal_type(db, m), date);
    if locks.is_empty() {
        return Ok(());
    }
    if db.version >= 18 {
        let items: Vec<String> = locks.iter().map(|(d, f)| format!("{} ({})", lock_label(f), d.us())).collect();
        Err(OdooError::user(format!("You cannot add/modify entries prior to and inclusive of: {}.", and_list(&items))))
    } else {
        let lock = locks.last().map(|(d, _)| d.us()).unwrap_or_default();
        Err(OdooError::user(format!("You cannot add/modify entries prior to and inclusive of the lock date {lock}.")))
    }
}

fn journal_type(db: &Db, m: &Record) -> String {
    m.get("journal_id")
        .and_then(as_id)
        .and_then(|j| db.get("account.journal", j))
        .and_then(|j| j.get("type")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

// ----------------------------------------------------------------------
// Journal entries
// ----------------------------------------------------------------------

/// How a journal numbers its entries: general and purchase journals by month
/// (`SAL/2026/10/0001`), the others by year (`INV/2026/00001`).
fn monthly(journal: &Record) -> bool {
    matches!(journal.get("type").and_then(Value::as_str), Some("general" | "purchase"))
}

fn sequence_prefix(journal: &Record, date: Date) -> String {
    let code = journal.get("code").and_then(Value::as_str).unwrap_or("MISC");
    if monthly(journal) {
        format!("{code}/{:04}/{:02}/", date.year, date.month)
    } else {
        format!("{code}/{:04}/", date.year)
    }
}

fn same_period(journal: &Record, a: Date, b: Date) -> bool {
    a.year == b.year && (!monthly(journal) || a.month == b.month)
}

fn sequence_name(journal: &Record, date: Date, number: u64) -> String {
    let width = if monthly(journal) { 4 } else { 5 };
    format!("{}{number:0width$}", sequence_prefix(journal, date))
}

/// A new draft is numbered only when it is the first named entry of its journal in its period
/// (so that the user can see and change the numbering); the others stay `/` until posted.
fn draft_name(db: &Db, journal_id: i64, journal: &Record, date: Date, exclude: Option<i64>) -> String {
    let numbered_sibling = db.all("account.move").any(|m| {
        m["id"].as_i64() != exclude
            && m.get("journal_id").and_then(as_id) == Some(journal_id)
            && m.get("name").and_then(Value::as_str).is_some_and(|n| !n.is_empty() && n != "/")
            && m.get("date")
                .and_then(Value::as_str)
                .and_then(Date::parse)
                .is_some_and(|d| same_period(journal, d, date))
    });
    if numbered_sibling {
        "/".into()
    } else {
        sequence_name(journal, date, 1)
    }
}

/// The next number of the journal's sequence for `date`.
fn next_sequence(db: &Db, journal_id: i64, journal: &Record, date: Date) -> String {
    let prefix = sequence_prefix(journal, date);
    let last = db
        .all("account.move")
        .filter(|m| m.get("journal_id").and_then(as_id) == Some(journal_id))
        .filter_map(|m| m.get("name")?.as_str()?.strip_prefix(prefix.as_str())?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    sequence_name(journal, date, last + 1)
}

/// Converts the `line_ids` commands of a create (`[0, 0, vals]`) into line records.
fn new_lines(db: &Db, cmds: Option<&Value>) -> OdooResult<Vec<Record>> {
    let model = db.model("account.move.line")?;
    let mut out = Vec::new();
    for cmd in cmds.and_then(Value::as_array).into_iter().flatten() {
        let c = cmd.as_array().ok_or_else(|| bad_command(cmd))?;
        match c.first().and_then(Value::as_i64) {
            Some(0) => {
                let mut vals = c.get(2).cloned().unwrap_or(json!({}));
                if let Some(o) = vals.as_object_mut() {
                    o.remove("move_id");
                }
                out.push(db.convert_vals(&model, &vals, None)?);
            }
            Some(5 | 6) => out.clear(),
            _ => return Err(bad_command(cmd)),
        }
    }
    Ok(out)
}

fn bad_command(cmd: &Value) -> OdooError {
    OdooError::value(format!("Wrong value for account.move.line_ids: {}", py_repr(cmd)))
}

/// A line as Odoo stores it: amounts rounded to the cent and netted (debit and credit come
/// from `balance = debit - credit`).
fn normalize_line(line: &mut Record) {
    let d = cents(line.get("debit").and_then(Value::as_f64).unwrap_or(0.0));
    let c = cents(line.get("credit").and_then(Value::as_f64).unwrap_or(0.0));
    let balance = d - c;
    line.insert("debit".into(), super::fmt::amount(balance.max(0)));
    line.insert("credit".into(), super::fmt::amount((-balance).max(0)));
    line.entry("name").or_insert(json!(false));
    line.entry("analytic_distribution").or_insert(json!(false));
    line.entry("partner_id").or_insert(json!(false));
}

/// The checks of a line's account: it exists, is not deprecated, belongs to the move's company.
fn check_line(db: &Db, m: &Record, line: &Record) -> OdooResult<()> {
    let model = db.model("account.move.line")?;
    let Some(account_id) = line.get("account_id").and_then(as_id) else {
        // The CHECK constraint `check_accountable_required_fields`.
        return Err(OdooError::validation(
            "The operation cannot be completed: Missing required account on accountable line.",
        ));
    };
    let Some(account) = db.get("account.account", account_id) else {
        return Err(fk_error(&model, "account_id"));
    };
    if let Some(partner) = line.get("partner_id").and_then(as_id) {
        if db.get("res.partner", partner).is_none() {
            return Err(fk_error(&model, "partner_id"));
        }
    }
    let text = |f: &str| account.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
    if db.version <= 18 && account.get("deprecated") == Some(&json!(true)) {
        return Err(OdooError::user(format!("The account {} ({}) is deprecated.", text("name"), text("code"))));
    }
    let company = m.get("company_id").and_then(as_id).unwrap_or(1);
    if !account_companies(account).contains(&company) {
        let mut shown = line.clone();
        shown.insert("move_id".into(), json!(m.get("id").cloned().unwrap_or(json!(0))));
        let line_name = [
            m.get("name").and_then(Value::as_str).map(str::to_owned),
            m.get("ref").and_then(Value::as_str).map(|r| format!("({r})")),
            line.get("name").and_then(Value::as_str).map(str::to_owned),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        return Err(incompatible_companies(
            db,
            &line_name,
            company,
            "Account",
            "account_id",
            &format!("{} {}", text("code"), text("name")),
        ));
    }
    Ok(())
}

fn incompatible_companies(db: &Db, record: &str, company: i64, field: &str, fname: &str, value: &str) -> OdooError {
    let company_name = db.get("res.company", company).and_then(|c| c.get("name")?.as_str().map(str::to_owned));
    OdooError::user(format!(
        "Incompatible companies on records:\n- “{record}” belongs to company “{}” and “{field}” ({fname}: {}) belongs to another company.",
        company_name.unwrap_or_default(),
        super::fmt::py_str(value)
    ))
}

/// `_check_balanced`, with Odoo's message.
fn check_balanced(db: &Db, m: &Record, lines: &[Record]) -> OdooResult<()> {
    let debit: i64 = lines.iter().map(|l| cents(l.get("debit").and_then(Value::as_f64).unwrap_or(0.0))).sum();
    let credit: i64 = lines.iter().map(|l| cents(l.get("credit").and_then(Value::as_f64).unwrap_or(0.0))).sum();
    if debit == credit {
        return Ok(());
    }
    let journal = m
        .get("journal_id")
        .and_then(as_id)
        .and_then(|j| db.get("account.journal", j))
        .and_then(|j| j.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    Err(OdooError::user(format!(
        "An error has occurred.\n\nThe move ({}) is not balanced.\nThe total of debits equals {} and the total of credits equals {}.\nYou might want to specify a default account on journal \"{journal}\" to automatically balance each move.",
        move_display_name(m, true),
        euros(debit),
        euros(credit),
    )))
}

/// UNIQUE(company_id, payflow_import_key), as Odoo reports the SQL constraint.
fn check_unique_key(db: &Db, m: &Record, exclude: Option<i64>) -> OdooResult<()> {
    let Some(key) = m.get("payflow_import_key").and_then(Value::as_str) else { return Ok(()) };
    let company = m.get("company_id").and_then(as_id);
    let clash = db.all("account.move").any(|o| {
        o["id"].as_i64() != exclude
            && o.get("payflow_import_key").and_then(Value::as_str) == Some(key)
            && o.get("company_id").and_then(as_id) == company
    });
    if clash {
        return Err(duplicate_key());
    }
    Ok(())
}

/// The unique constraint of the addon, as `_as_validation_error` words its violation.
pub fn duplicate_key() -> OdooError {
    OdooError::validation(
        "The operation cannot be completed: A move with this PayFlow import key already exists in this company.",
    )
}

/// The chatter: a message on a record.
pub fn post_message(db: &mut Db, model: &str, res_id: i64, body: &str) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let day = Date::today();
    let secs = now % 86_400;
    let date = format!("{day} {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let mut rec = Map::new();
    rec.insert("model".into(), json!(model));
    rec.insert("res_id".into(), json!(res_id));
    rec.insert("body".into(), json!(body));
    rec.insert("message_type".into(), json!("notification"));
    rec.insert("date".into(), json!(date));
    db.insert("mail.message", rec)
}

/// `created_log`: Odoo's own "Journal Entry created" note (the addon creates its moves with
/// `mail_create_nolog`: its PayFlow note says where they come from).
pub(super) fn create_move(db: &mut Db, env: &Env, vals: &Value, created_log: bool) -> OdooResult<i64> {
    let model = db.model("account.move")?;
    let mut m = db.convert_vals(&model, vals, None)?;
    let lines = new_lines(db, vals.get("line_ids"))?;
    m.entry("move_type").or_insert(json!("entry"));
    m.insert("state".into(), json!("draft"));
    m.insert("posted_before".into(), json!(false));
    // The journal: given, else the company's first general journal.
    let journal_id = match m.get("journal_id").and_then(as_id) {
        Some(j) => j,
        None => default_journal(db, env)?,
    };
    let journal = db
        .get("account.journal", journal_id)
        .cloned()
        .ok_or_else(|| OdooError::missing("account.journal", &[journal_id], env.uid))?;
    let journal_company = journal.get("company_id").and_then(as_id).unwrap_or(1);
    m.insert("journal_id".into(), json!(journal_id));
    let company = m.get("company_id").and_then(as_id).unwrap_or(journal_company);
    m.insert("company_id".into(), json!(company));
    if db.get("res.company", company).is_none() {
        return Err(fk_error(&model, "company_id"));
    }
    let date = match m.get("date").and_then(Value::as_str).and_then(Date::parse) {
        Some(d) => d,
        None => Date::today(),
    };
    m.insert("date".into(), json!(date.to_string()));
    m.entry("ref").or_insert(json!(false));
    let currency = db.get("res.company", company).and_then(|c| c.get("currency_id").cloned()).unwrap_or(json!(false));
    m.insert("currency_id".into(), currency);
    if db.addon {
        m.entry("payflow_import_key").or_insert(json!(false));
        m.entry("payflow_payload_hash").or_insert(json!(false));
    }
    m.insert("name".into(), json!(draft_name(db, journal_id, &journal, date, None)));
    if company != journal_company {
        let jname = journal.get("name").and_then(Value::as_str).unwrap_or("");
        return Err(incompatible_companies(db, &move_display_name(&m, true), company, "Journal", "journal_id", jname));
    }
    db.check_required(&model, &m)?;
    let mut lines = lines;
    for l in &mut lines {
        check_line(db, &m, l)?;
        normalize_line(l);
    }
    check_balanced(db, &m, &lines)?;
    check_unique_key(db, &m, None)?;
    let id = db.insert("account.move", m);
    for mut l in lines {
        l.insert("move_id".into(), json!(id));
        db.insert("account.move.line", l);
    }
    // `attachment_ids` (Odoo's One2many on res_id, domain res_model = account.move):
    // `Command.create` makes the attachment in the same transaction.
    if let Some(Value::Array(commands)) = vals.get("attachment_ids") {
        let attachment = db.model("ir.attachment")?;
        for c in commands {
            match c.as_array().map(Vec::as_slice) {
                Some([code, _, Value::Object(v)]) if code.as_i64() == Some(0) => {
                    let mut v = v.clone();
                    v.insert("res_model".into(), json!("account.move"));
                    v.insert("res_id".into(), json!(id));
                    db.create_plain(env, &attachment, &Value::Object(v))?;
                }
                _ => return Err(OdooError::value(format!("unsupported attachment_ids command {c}"))),
            }
        }
    }
    if created_log {
        post_message(db, "account.move", id, "<p>Journal Entry created</p>");
    }
    Ok(id)
}

fn default_journal(db: &Db, env: &Env) -> OdooResult<i64> {
    let company = env.company();
    db.all("account.journal")
        .filter(|j| j.get("company_id").and_then(as_id) == Some(company))
        .filter(|j| j.get("type").and_then(Value::as_str) == Some("general"))
        .filter(|j| j.get("active") != Some(&json!(false)))
        .min_by_key(|j| (j.get("sequence").and_then(Value::as_i64).unwrap_or(10), j["id"].as_i64().unwrap_or(0)))
        .and_then(|j| j["id"].as_i64())
        .ok_or_else(|| {
            let name = db.get("res.company", company).and_then(|c| c.get("name")?.as_str().map(str::to_owned));
            OdooError::user(format!(
                "No journal could be found in company {} for any of those types: general",
                name.unwrap_or_default()
            ))
        })
}

const POSTED_READONLY: &[&str] = &[
    "invoice_line_ids",
    "line_ids",
    "invoice_date",
    "date",
    "partner_id",
    "partner_bank_id",
    "invoice_payment_term_id",
    "currency_id",
    "fiscal_position_id",
    "invoice_cash_rounding_id",
];

pub(super) fn write_moves(db: &mut Db, env: &Env, ids: &[i64], vals: &Value) -> OdooResult<()> {
    let model = db.model("account.move")?;
    db.ensure_exist(env, &model, ids)?;
    let Value::Object(v) = vals else {
        return Err(OdooError::type_error(format!("{} is not a dict of values", py_repr(vals))));
    };
    for id in ids {
        let current = db.get("account.move", *id).cloned().unwrap_or_default();
        let posted = current.get("state").and_then(Value::as_str) == Some("posted");
        let changes = db.convert_vals(&model, vals, Some(&current))?;
        let differs = |f: &str| changes.get(f).is_some_and(|n| Some(n) != current.get(f));
        if posted && (differs("name") || differs("date")) {
            check_lock(db, &current)?;
        }
        if posted && changes.get("state").is_some_and(|s| s != "posted") {
            check_lock(db, &current)?;
        }
        let new_state = changes.get("state").or(current.get("state")).and_then(Value::as_str).unwrap_or("draft");
        let readonly: Vec<&str> = v.keys().map(String::as_str).filter(|k| POSTED_READONLY.contains(k)).collect();
        if new_state == "posted" && !readonly.is_empty() {
            return Err(OdooError::user(format!(
                "You cannot modify the following readonly fields on a posted move: {}",
                readonly.join(", ")
            )));
        }
        let mut updated = current.clone();
        updated.extend(changes);
        // Lines: [0, 0, vals] adds, [1, id, vals] changes, [2, id] / [3, id] removes, [5] clears.
        let mut lines = db.lines_of(*id);
        let mut added = Vec::new();
        if let Some(cmds) = v.get("line_ids").and_then(Value::as_array) {
            let line_model = db.model("account.move.line")?;
            for cmd in cmds {
                let c = cmd.as_array().ok_or_else(|| bad_command(cmd))?;
                let target = c.get(1).and_then(as_id);
                match c.first().and_then(Value::as_i64) {
                    Some(0) => added.push(db.convert_vals(&line_model, c.get(2).unwrap_or(&json!({})), None)?),
                    Some(1) => {
                        let line = lines.iter_mut().find(|l| l["id"].as_i64() == target).ok_or_else(|| {
                            OdooError::missing("account.move.line", &target.into_iter().collect::<Vec<_>>(), env.uid)
                        })?;
                        let changes = db.convert_vals(&line_model, c.get(2).unwrap_or(&json!({})), Some(line))?;
                        line.extend(changes);
                    }
                    Some(2 | 3) => lines.retain(|l| l["id"].as_i64() != target),
                    Some(5) => lines.clear(),
                    _ => return Err(bad_command(cmd)),
                }
            }
        }
        if let Some(j) = updated.get("journal_id").and_then(as_id) {
            if db.get("account.journal", j).is_none() {
                return Err(OdooError::missing("account.journal", &[j], env.uid));
            }
        }
        db.check_required(&model, &updated)?;
        let mut all: Vec<Record> = lines.into_iter().chain(added).collect();
        for l in &mut all {
            check_line(db, &updated, l)?;
            normalize_line(l);
        }
        check_balanced(db, &updated, &all)?;
        if updated.get("state").and_then(Value::as_str) == Some("posted")
            && (v.contains_key("date") || v.contains_key("state"))
        {
            check_lock(db, &updated)?;
        }
        check_unique_key(db, &updated, Some(*id))?;
        // Store: the move, then its lines.
        let kept: Vec<i64> = all.iter().filter_map(|l| l.get("id").and_then(Value::as_i64)).collect();
        for old in db.lines_of(*id) {
            if let Some(lid) = old["id"].as_i64().filter(|l| !kept.contains(l)) {
                db.remove("account.move.line", lid);
            }
        }
        for mut l in all {
            l.insert("move_id".into(), json!(id));
            db.insert("account.move.line", l);
        }
        db.tables.entry("account.move".into()).or_default().insert(*id, updated);
    }
    Ok(())
}

fn unlink_moves(db: &mut Db, env: &Env, ids: &[i64]) -> OdooResult<()> {
    let model = db.model("account.move")?;
    db.ensure_exist(env, &model, ids)?;
    for id in ids {
        let m = db.get("account.move", *id).cloned().unwrap_or_default();
        if m.get("state").and_then(Value::as_str) == Some("posted") {
            // The lines go first: their lock date check, then their refusal to leave a posted move.
            check_lock(db, &m)?;
            return Err(OdooError::user(
                "You can't delete a posted journal item. Don’t play games with your accounting records; reset the journal entry to draft before deleting it.",
            ));
        }
    }
    for id in ids {
        for l in db.lines_of(*id) {
            if let Some(lid) = l["id"].as_i64() {
                db.remove("account.move.line", lid);
            }
        }
        // mail.thread and ir.attachment follow their record.
        for table in ["ir.attachment", "mail.message"] {
            let key = if table == "ir.attachment" { "res_model" } else { "model" };
            let gone: Vec<i64> = db
                .all(table)
                .filter(|r| r.get(key).and_then(Value::as_str) == Some("account.move"))
                .filter(|r| r.get("res_id").and_then(Value::as_i64) == Some(*id))
                .filter_map(|r| r["id"].as_i64())
                .collect();
            for g in gone {
                db.remove(table, g);
            }
        }
        db.remove("account.move", *id);
    }
    Ok(())
}

/// `action_post` (`_post(soft=False)`): checks, dates a move of a locked period after the
/// lock (as `_get_accounting_date` does), numbers it, posts it.
pub fn action_post(db: &mut Db, env: &Env, ids: &[i64]) -> OdooResult<()> {
    let model = db.model("account.move")?;
    db.ensure_exist(env, &model, ids)?;
    let mut problems: Vec<String> = Vec::new();
    let mut add = |p: String| {
        if !problems.contains(&p) {
            problems.push(p);
        }
    };
    for id in ids {
        let m = db.get("account.move", *id).cloned().unwrap_or_default();
        let state = m.get("state").and_then(Value::as_str).unwrap_or("draft");
        if state == "posted" || state == "cancel" {
            add(format!(
                "The entry {} (id {id}) must be in draft.",
                m.get("name").and_then(Value::as_str).unwrap_or("/")
            ));
        }
        let lines = db.lines_of(*id);
        if lines.is_empty() {
            add("You need to add a line before posting.".into());
        }
        let journal = m.get("journal_id").and_then(as_id).and_then(|j| db.get("account.journal", j));
        if journal.is_some_and(|j| j.get("active") == Some(&json!(false))) {
            let name = journal.and_then(|j| j.get("name")?.as_str()).unwrap_or("");
            add(format!("You cannot post an entry in an archived journal ({name})"));
        }
        let deprecated = lines.iter().filter_map(|l| l.get("account_id").and_then(as_id)).any(|a| {
            db.version <= 18 && db.get("account.account", a).is_some_and(|a| a.get("deprecated") == Some(&json!(true)))
        });
        if deprecated {
            add("A line of this move is using a deprecated account, you cannot post it.".into());
        }
    }
    if !problems.is_empty() {
        return Err(OdooError::user(problems.join("\n")));
    }
    let today = Date::today();
    for id in ids {
        let mut m = db.get("account.move", *id).cloned().unwrap_or_default();
        let journal_id = m.get("journal_id").and_then(as_id).unwrap_or(0);
        let journal = db.get("account.journal", journal_id).cloned().unwrap_or_default();
        let mut date = m.get("date").and_then(Value::as_str).and_then(Date::parse).unwrap_or(today);
        let company = m.get("company_id").and_then(as_id).unwrap_or(1);
        if let Some((lock, _)) = violated_locks(db, company, &journal_type(db, &m), date).last() {
            let first_open = lock.next_day();
            date = if monthly(&journal) {
                if (today.year, today.month) > (first_open.year, first_open.month) {
                    first_open.end_of_month()
                } else {
                    first_open.max(today)
                }
            } else if today.year > first_open.year {
                Date { year: first_open.year, month: 12, day: 31 }
            } else {
                first_open.max(today)
            };
            m.insert("date".into(), json!(date.to_string()));
        }
        let name = m.get("name").and_then(Value::as_str).unwrap_or("/").to_owned();
        let posted_before = m.get("posted_before") == Some(&json!(true));
        if name == "/" || name.is_empty() || (!posted_before && !name.starts_with(&sequence_prefix(&journal, date))) {
            let next = next_sequence(db, journal_id, &journal, date);
            m.insert("name".into(), json!(next));
        }
        m.insert("state".into(), json!("posted"));
        m.insert("posted_before".into(), json!(true));
        db.tables.entry("account.move".into()).or_default().insert(*id, m);
    }
    Ok(())
}

/// `button_draft`.
pub fn button_draft(db: &mut Db, env: &Env, ids: &[i64]) -> OdooResult<()> {
    let model = db.model("account.move")?;
    db.ensure_exist(env, &model, ids)?;
    for id in ids {
        let m = db.get("account.move", *id).cloned().unwrap_or_default();
        if !matches!(m.get("state").and_then(Value::as_str), Some("posted" | "cancel")) {
            return Err(OdooError::user("Only posted/cancelled journal entries can be reset to draft."));
        }
    }
    for id in ids {
        let m = db.get("account.move", *id).cloned().unwrap_or_default();
        if m.get("state").and_then(Value::as_str) == Some("posted") {
            check_lock(db, &m)?;
        }
        if let Some(m) = db.get_mut("account.move", *id) {
            m.insert("state".into(), json!("draft"));
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------
// The payflow_silae addon
// ----------------------------------------------------------------------

/// `account.move.payflow_import(moves)`, as odoo_addon/payflow_silae implements it: for each
/// entry, in order, `posted`, `unchanged`, `replaced` or `created`; any error undoes the call.
pub fn payflow_import(db: &mut Db, env: &Env, moves: &Value) -> OdooResult<Value> {
    write_entries(db, env, moves, true)
}

/// The entries of `payflow_import` written in order; `check_locks` is the addon's own lock check
/// (`payflow_import_plan` has checked Odoo's rules before).
fn write_entries(db: &mut Db, env: &Env, moves: &Value, check_locks: bool) -> OdooResult<Value> {
    let Value::Array(entries) = moves else {
        return Err(not_iterable(moves));
    };
    let mut results = Vec::new();
    for entry in entries {
        if !entry.is_object() {
            return Err(OdooError::new(
                Kind::AttributeError,
                format!("'{}' object has no attribute 'get'", python_type(entry)),
            ));
        }
        let key = entry.get("import_key").filter(|k| truthy(k)).cloned();
        let vals = entry.get("vals").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())).cloned();
        let (Some(key), Some(mut vals)) = (key, vals) else {
            return Err(OdooError::user("Each PayFlow move needs an import key and values."));
        };
        let hash = entry.get("payload_hash").cloned().unwrap_or(Value::Null);
        let company = vals.get("company_id").and_then(as_id).unwrap_or(env.company());
        // The addon refuses a payroll dated inside the company's lock dates (Odoo itself would
        // take the draft and re-date it when posted).
        if let Some(date) = vals.get("date").and_then(Value::as_str).filter(|_| check_locks) {
            let record = db.get("res.company", company);
            let lock = ["fiscalyear_lock_date", "hard_lock_date", "period_lock_date"]
                .iter()
                .filter_map(|f| record.and_then(|c| c.get(*f)).and_then(Value::as_str).and_then(|d| d.parse_date()))
                .max();
            if let (Some(lock), Some(d)) = (lock, date.parse_date()) {
                if d <= lock {
                    let name = record.and_then(|c| c.get("name")).and_then(Value::as_str).unwrap_or_default();
                    return Err(OdooError::user(format!(
                        "The payroll dated {date} cannot be imported: {name} is locked until {lock}."
                    )));
                }
            }
        }
        let existing = db
            .all("account.move")
            .filter(|m| {
                m.get("payflow_import_key") == Some(&key) && m.get("company_id").and_then(as_id) == Some(company)
            })
            .min_by(|a, b| move_order(a, b))
            .cloned();
        if let Some(m) = &existing {
            let id = m["id"].as_i64().unwrap_or(0);
            let state = m.get("state").cloned().unwrap_or(json!("draft"));
            if state != "draft" {
                results.push(
                    json!({"import_key": key, "id": id, "name": m.get("name"), "result": "posted", "state": state}),
                );
                continue;
            }
            // Python compares the stored value (False when unset) with the one given (None when
            // absent): only the same text, or False with False, is the same fingerprint.
            if m.get("payflow_payload_hash").cloned().unwrap_or(json!(false)) == hash {
                results.push(
                    json!({"import_key": key, "id": id, "name": m.get("name"), "result": "unchanged", "state": state}),
                );
                continue;
            }
            // A draft someone changed is never replaced (the addon's `_payflow_refuse_changed`).
            if let Some((reasons, who, when)) = super::corrections::changes(db, env, id) {
                return Err(OdooError::user(format!(
                    "The draft {} was changed in Odoo by {who} on {when} ({}) and Silae now gives another payroll for it: it is not replaced and nothing was written. Report Silae's changes on it by hand, or delete it to import Silae's payroll again.",
                    m.get("name").and_then(Value::as_str).unwrap_or(""),
                    reasons.join(", ")
                )));
            }
        }
        vals["payflow_import_key"] = key.clone();
        vals["payflow_payload_hash"] = if hash.is_null() { json!(false) } else { hash.clone() };
        // An untouched draft keeps its id: its lines are rewritten in place.
        let old = existing.as_ref().and_then(|m| m["id"].as_i64());
        let rewritten = match old {
            Some(id) => super::corrections::rewrite(db, env, id, &vals)?,
            None => false,
        };
        if let (Some(id), false) = (old, rewritten) {
            unlink_moves(db, env, &[id])?;
        }
        let company_env = Env {
            companies: std::iter::once(company)
                .chain(env.companies.iter().copied().filter(|c| *c != company))
                .collect(),
            ..env.clone()
        };
        let id = match (old, rewritten) {
            (Some(id), true) => id,
            _ => {
                let id = create_move(db, &company_env, &vals, false)?;
                super::corrections::stamp(db, env, id);
                id
            }
        };
        if let Some(att) = entry.get("attachment").filter(|a| truthy(a)) {
            let text =
                |f: &str, default: &str| att.get(f).filter(|v| truthy(v)).cloned().unwrap_or_else(|| json!(default));
            let attachment = json!({
                "name": text("name", "silae.json"),
                "datas": att.get("datas").cloned().unwrap_or(json!(false)),
                "mimetype": text("mimetype", "application/json"),
                "res_model": "account.move",
                "res_id": id,
            });
            let model = db.model("ir.attachment")?;
            db.create_plain(env, &model, &attachment)?;
        }
        if let Some(body) = entry.get("message").filter(|m| truthy(m)) {
            let body = body.as_str().map_or_else(|| py_repr(body), str::to_owned);
            post_message(db, "account.move", id, &body);
        }
        let result = if existing.is_some() { "replaced" } else { "created" };
        let name = db.get("account.move", id).and_then(|m| m.get("name").cloned());
        results.push(json!({"import_key": key, "id": id, "name": name, "result": result, "state": "draft"}));
    }
    Ok(Value::Array(results))
}

/// The account codes to try for a Silae code, as the addon (and the agent's
/// `journal::account_candidates`) does: the map's entry alone, else the code then without its
/// trailing zeros down to six digits.
fn account_candidates(code: &str, map: &Map<String, Value>) -> Vec<String> {
    if let Some(mapped) = map.get(code).and_then(Value::as_str) {
        return vec![mapped.to_owned()];
    }
    let mut out = vec![code.to_owned()];
    let mut c = code;
    while c.len() > 6 && c.ends_with('0') {
        c = &c[..c.len() - 1];
        out.push(c.to_owned());
    }
    out
}

/// `account.move.payflow_import_plan(company_id, journal_code, moves, account_map, analytic_map,
/// dry_run, attachment, key_prefix)`, as odoo_addon/payflow_silae implements it, one step each:
/// the company, the journals (the dossier's and each move's `journal`), the accounts, the
/// analytic accounts, the lock dates, the moves already there (a move held under its
/// `legacy_key` keeps it) and the period's keys (a rupture that looks renamed is a problem);
/// every problem answered at once with nothing written, else the moves written as
/// `payflow_import` does (never with `dry_run`).
pub fn payflow_import_plan(db: &mut Db, env: &Env, args: &[Option<&Value>]) -> OdooResult<Value> {
    let company_id = args[0].and_then(as_id).unwrap_or(0);
    let journal_code = args[1].and_then(Value::as_str).unwrap_or("").to_owned();
    let Some(Value::Array(moves)) = args[2] else {
        return Err(not_iterable(args[2].unwrap_or(&Value::Null)));
    };
    let empty = Map::new();
    let account_map = args[3].and_then(Value::as_object).unwrap_or(&empty).clone();
    let analytic_map = args[4].and_then(Value::as_object).unwrap_or(&empty).clone();
    let dry_run = args[5].is_some_and(truthy);
    let attachment = args[6].cloned().unwrap_or(Value::Null);
    let key_prefix = args.get(7).copied().flatten().and_then(Value::as_str).unwrap_or("").to_owned();
    let corrections = args.get(8).copied().flatten().and_then(Value::as_str).unwrap_or("alert").to_owned();
    let partner_map = args.get(9).copied().flatten().and_then(Value::as_object).unwrap_or(&empty).clone();
    let mut problems: Vec<Value> = Vec::new();
    let mut answer = json!({
        "series": db.version, "company": false, "journal": false, "journals": {}, "accounts": {},
        "analytic": {}, "partners": {}, "problems": [], "moves": [], "period_keys": [], "written": false,
    });
    let allowed = db.user_companies(env.uid);
    let company = db.get("res.company", company_id).filter(|_| allowed.contains(&company_id)).cloned();
    let Some(company) = company else {
        let available: Vec<Value> =
            allowed.iter().filter_map(|c| db.get("res.company", *c).map(|r| json!([c, r.get("name")]))).collect();
        answer["problems"] = json!([{"kind": "company", "asked": company_id, "available": available}]);
        return Ok(answer);
    };
    answer["company"] = json!({"id": company_id, "name": company.get("name")});
    // Each move's journal: its own `journal`, else the dossier's.
    let mut moves: Vec<Value> = moves.clone();
    for m in &mut moves {
        if !m.get("journal").is_some_and(truthy) {
            m["journal"] = json!(journal_code);
        }
    }
    let mut codes = vec![journal_code.clone()];
    codes.extend(moves.iter().filter_map(|m| m["journal"].as_str().map(str::to_owned)));
    let payment_codes: Vec<String> = moves
        .iter()
        .filter(|m| m.get("payment").is_some_and(truthy))
        .filter_map(|m| m["journal"].as_str().map(str::to_owned))
        .collect();
    let journals = plan_journals(db, company_id, &codes, &payment_codes, &mut problems);
    if let Some((id, _)) = journals.get(&journal_code) {
        answer["journal"] = json!({"id": id, "code": journal_code});
    }
    answer["journals"] =
        journals.iter().map(|(code, (id, _))| (code.clone(), json!({"id": id, "code": code}))).collect();
    let account_ids = plan_accounts(db, company_id, &moves, &account_map, &mut problems);
    answer["accounts"] =
        account_ids.iter().map(|(k, (id, code))| (k.clone(), json!({"id": id, "code": code}))).collect();
    let analytic = plan_analytic(db, &moves, &analytic_map, &mut problems);
    answer["analytic"] = Value::Object(analytic.clone());
    let partners = plan_partners(db, company_id, &moves, &partner_map, &mut problems);
    answer["partners"] = partners.iter().map(|(k, (id, name))| (k.clone(), json!({"id": id, "name": name}))).collect();
    plan_locks(db, company_id, &moves, &journals, &mut problems);
    let existing = plan_existing(db, company_id, &mut moves);
    answer["moves"] = moves.iter().map(|m| planned(m, existing.get(m["import_key"].as_str().unwrap_or("")))).collect();
    let adjustments = super::corrections::step(
        db,
        env,
        company_id,
        &moves,
        &existing,
        &account_ids,
        &analytic,
        &corrections,
        &mut problems,
    );
    if let Value::Array(rows) = &mut answer["moves"] {
        rows.extend(super::corrections::rows(db, &adjustments));
    }
    answer["period_keys"] = json!(plan_period_keys(db, company_id, &key_prefix, &moves, &mut problems));
    if !problems.is_empty() || dry_run {
        answer["problems"] = Value::Array(problems);
        return Ok(answer);
    }
    let entries: Vec<Value> = moves
        .iter()
        .map(|m| {
            let lines: Vec<Value> = m
                .get("lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|l| {
                    let code = l.get("account").and_then(Value::as_str).unwrap_or("");
                    let mut vals = json!({
                        "account_id": account_ids.get(code).map(|(id, _)| *id).unwrap_or(0),
                        "name": l.get("name").cloned().unwrap_or(Value::Null),
                        "debit": l.get("debit").cloned().unwrap_or(json!(0.0)),
                        "credit": l.get("credit").cloned().unwrap_or(json!(0.0)),
                    });
                    if let Some(id) = analytic_index(l).and_then(|i| analytic.get(&i)) {
                        vals["analytic_distribution"] = json!({ id.to_string(): 100.0 });
                    }
                    if let Some((id, _)) = partners.get(code) {
                        vals["partner_id"] = json!(id);
                    }
                    json!([0, 0, vals])
                })
                .collect();
            let journal_id = m["journal"].as_str().and_then(|c| journals.get(c)).map_or(0, |(id, _)| *id);
            json!({
                "import_key": m.get("import_key"),
                "payload_hash": m.get("payload_hash"),
                "vals": {
                    "move_type": "entry", "journal_id": journal_id, "company_id": company_id,
                    "date": m.get("date"), "ref": m.get("ref"), "line_ids": lines,
                },
                "attachment": m.get("attachment").filter(|a| truthy(a)).unwrap_or(&attachment),
                "message": m.get("message"),
            })
        })
        .collect();
    answer["moves"] = write_entries(db, env, &Value::Array(entries), false)?;
    let adjusted = super::corrections::write(db, env, company_id, &adjustments, &attachment)?;
    if let Value::Array(rows) = &mut answer["moves"] {
        rows.extend(adjusted);
    }
    answer["written"] = json!(true);
    Ok(answer)
}

fn text(r: &Record, f: &str) -> String {
    r.get(f).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Each asked code's journal of the company (exact code, else ignoring case), active and
/// general (a salary payments journal, in `payment_codes`, may also be a bank or cash one):
/// code -> (id, type); a problem per code without one.
fn plan_journals(
    db: &Db,
    company_id: i64,
    codes: &[String],
    payment_codes: &[String],
    problems: &mut Vec<Value>,
) -> std::collections::BTreeMap<String, (i64, String)> {
    let journals: Vec<&Record> =
        db.all("account.journal").filter(|j| j.get("company_id").and_then(as_id) == Some(company_id)).collect();
    let listing: Vec<Value> = journals
        .iter()
        .map(|j| json!([text(j, "code"), text(j, "name"), text(j, "type"), j.get("active") != Some(&json!(false))]))
        .collect();
    let mut found = std::collections::BTreeMap::new();
    let mut seen = Vec::new();
    for code in codes {
        if seen.contains(code) {
            continue;
        }
        seen.push(code.clone());
        let hit = journals
            .iter()
            .find(|j| text(j, "code") == *code)
            .or_else(|| journals.iter().find(|j| text(j, "code").eq_ignore_ascii_case(code)));
        let reason = match hit {
            None => "missing".to_owned(),
            Some(j) if j.get("active") == Some(&json!(false)) => "archived".to_owned(),
            Some(j)
                if text(j, "type") != "general"
                    && !(payment_codes.contains(code) && matches!(text(j, "type").as_str(), "bank" | "cash")) =>
            {
                text(j, "type")
            }
            Some(j) => {
                found.insert(code.clone(), (j["id"].as_i64().unwrap_or(0), text(j, "type")));
                continue;
            }
        };
        problems.push(json!({"kind": "journal", "code": code, "reason": reason, "journals": listing}));
    }
    found
}

/// Every Silae code's account (the map's entry, else the code, then without its trailing
/// zeros down to six digits): code -> (id, Odoo code); a problem per code without one.
fn plan_accounts(
    db: &Db,
    company_id: i64,
    moves: &[Value],
    account_map: &Map<String, Value>,
    problems: &mut Vec<Value>,
) -> std::collections::HashMap<String, (i64, String)> {
    let mut silae_codes: Vec<String> = Vec::new();
    for m in moves {
        for l in m.get("lines").and_then(Value::as_array).into_iter().flatten() {
            let code = l.get("account").and_then(Value::as_str).unwrap_or("").to_owned();
            if !silae_codes.contains(&code) {
                silae_codes.push(code);
            }
        }
    }
    let mut out = std::collections::HashMap::new();
    for code in &silae_codes {
        let tried = account_candidates(code, account_map);
        let hit = tried.iter().find_map(|c| {
            db.all("account.account").find(|a| {
                text(a, "code") == *c
                    && account_companies(a).contains(&company_id)
                    && a.get("deprecated") != Some(&json!(true))
                    && a.get("active") != Some(&json!(false))
            })
        });
        match hit {
            Some(a) => {
                out.insert(code.clone(), (a["id"].as_i64().unwrap_or(0), text(a, "code")));
            }
            None => problems.push(json!({"kind": "account", "silae_code": code, "tried": tried})),
        }
    }
    out
}

fn analytic_index(line: &Value) -> Option<String> {
    match line.get("analytic") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The analytic accounts of the repartitions used (by code, else by name): index -> id.
fn plan_analytic(
    db: &Db,
    moves: &[Value],
    analytic_map: &Map<String, Value>,
    problems: &mut Vec<Value>,
) -> Map<String, Value> {
    let mut used: Vec<String> = moves
        .iter()
        .flat_map(|m| m.get("lines").and_then(Value::as_array).into_iter().flatten())
        .filter_map(analytic_index)
        .collect();
    used.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    used.dedup();
    let mut analytic: Map<String, Value> = Map::new();
    if analytic_map.is_empty() {
        return analytic;
    }
    for index in &used {
        let Some(name) = analytic_map.get(index).and_then(Value::as_str) else {
            problems.push(json!({"kind": "analytic", "index": index, "name": false}));
            continue;
        };
        let rows = || db.all("account.analytic.account");
        match rows().find(|a| text(a, "code") == name).or_else(|| rows().find(|a| text(a, "name") == name)) {
            Some(a) => {
                analytic.insert(index.clone(), a["id"].clone());
            }
            None => problems.push(json!({"kind": "analytic", "index": index, "name": name})),
        }
    }
    analytic
}

/// Each used Silae code's partner from `partner_map`: the partners (of the company or shared,
/// active) with that exact reference, else VAT number, else exact name; exactly one, else a
/// `partner` problem (`found`: the several matching). Silae code -> (id, name).
fn plan_partners(
    db: &Db,
    company_id: i64,
    moves: &[Value],
    partner_map: &Map<String, Value>,
    problems: &mut Vec<Value>,
) -> std::collections::BTreeMap<String, (i64, String)> {
    let used: std::collections::BTreeSet<&str> = moves
        .iter()
        .flat_map(|m| m.get("lines").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|l| l.get("account").and_then(Value::as_str))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    for (code, wanted) in partner_map.iter().filter(|(k, _)| used.contains(k.as_str())) {
        let Some(wanted) = wanted.as_str().filter(|w| !w.is_empty()) else { continue };
        let visible = || {
            db.all("res.partner").filter(|p| {
                let company = p.get("company_id").and_then(as_id);
                p.get("active") != Some(&json!(false))
                    && (matches!(company, None | Some(0)) || company == Some(company_id))
            })
        };
        let mut hits: Vec<&Record> = Vec::new();
        for field in ["ref", "vat", "name"] {
            hits = visible().filter(|p| p.get(field).and_then(Value::as_str) == Some(wanted)).collect();
            if !hits.is_empty() {
                break;
            }
        }
        match hits.as_slice() {
            [one] => {
                out.insert(code.clone(), (one["id"].as_i64().unwrap_or(0), text(one, "name")));
            }
            _ => {
                let found: Vec<Value> = hits.iter().map(|p| json!([p["id"], text(p, "name")])).collect();
                problems.push(json!({"kind": "partner", "silae_code": code, "partner": wanted, "found": found}));
            }
        }
    }
    out
}

/// Odoo's own lock date rules, once per date (over the journals of that date's moves).
fn plan_locks(
    db: &Db,
    company_id: i64,
    moves: &[Value],
    journals: &std::collections::BTreeMap<String, (i64, String)>,
    problems: &mut Vec<Value>,
) {
    let mut dates: Vec<String> =
        moves.iter().filter_map(|m| m.get("date").and_then(Value::as_str).map(str::to_owned)).collect();
    dates.sort();
    dates.dedup();
    for date in dates {
        let Some(d) = date.parse_date() else { continue };
        let mut violated = Vec::new();
        for m in moves.iter().filter(|m| m["date"].as_str() == Some(date.as_str())) {
            let journal_type = m["journal"].as_str().and_then(|c| journals.get(c)).map_or("", |(_, t)| t.as_str());
            violated.extend(violated_locks(db, company_id, journal_type, d));
        }
        violated.sort();
        violated.dedup();
        if let Some((last, _)) = violated.last() {
            // `_get_violated_lock_dates` names the field on 18+, and says `user` on 17.
            let name = |f: &str| if db.version >= 18 { f.to_owned() } else { "user".to_owned() };
            let locks: Vec<Value> = violated.iter().map(|(d, f)| json!([d.to_string(), name(f)])).collect();
            problems.push(json!({"kind": "locked", "date": date, "lock_date": last.to_string(), "locks": locks}));
        }
    }
}

/// The moves already carrying the keys (or the legacy keys), by key; a move held under its
/// legacy key only keeps that key (`moves` changed in place).
fn plan_existing(db: &Db, company_id: i64, moves: &mut [Value]) -> std::collections::HashMap<String, Record> {
    let mut existing: std::collections::HashMap<String, Record> = std::collections::HashMap::new();
    let keys: Vec<String> = moves
        .iter()
        .flat_map(|m| [m.get("import_key"), m.get("legacy_key")])
        .filter_map(|k| k.and_then(Value::as_str).map(str::to_owned))
        .collect();
    for key in keys {
        let hit = db
            .all("account.move")
            .filter(|m| {
                m.get("payflow_import_key").and_then(Value::as_str) == Some(key.as_str())
                    && m.get("company_id").and_then(as_id) == Some(company_id)
            })
            .min_by(|a, b| move_order(a, b))
            .cloned();
        if let Some(m) = hit {
            existing.insert(key, m);
        }
    }
    for m in moves.iter_mut() {
        let key = m["import_key"].as_str().unwrap_or("").to_owned();
        if let Some(legacy) = m.get("legacy_key").and_then(Value::as_str).map(str::to_owned) {
            if !existing.contains_key(&key) && existing.contains_key(&legacy) {
                m["import_key"] = json!(legacy);
            }
        }
    }
    existing
}

/// Every key of the dossier and period (`=like key_prefix%`), in account.move's order; a
/// `renamed` problem when a move's key is new while Odoo holds a key no move has.
fn plan_period_keys(
    db: &Db,
    company_id: i64,
    key_prefix: &str,
    moves: &[Value],
    problems: &mut Vec<Value>,
) -> Vec<String> {
    if key_prefix.is_empty() {
        return Vec::new();
    }
    let mut rows: Vec<&Record> = db
        .all("account.move")
        .filter(|m| {
            m.get("company_id").and_then(as_id) == Some(company_id)
                && m.get("payflow_import_key").and_then(Value::as_str).is_some_and(|k| k.starts_with(key_prefix))
        })
        .collect();
    rows.sort_by(|a, b| move_order(a, b));
    let period_keys: Vec<String> = rows.iter().map(|m| text(m, "payflow_import_key")).collect();
    let ours: Vec<&str> = moves
        .iter()
        .flat_map(|m| [m.get("import_key"), m.get("legacy_key")])
        .filter_map(|k| k.and_then(Value::as_str))
        .collect();
    // Salary payments (their own keys, one per batch) never look like a renamed rupture.
    let orphans: Vec<&String> =
        period_keys.iter().filter(|k| !ours.contains(&k.as_str()) && !is_payment_key(k)).collect();
    let new: Vec<&str> = moves
        .iter()
        .filter(|m| !m.get("payment").is_some_and(truthy))
        .filter_map(|m| m["import_key"].as_str())
        .filter(|k| !period_keys.iter().any(|p| p == k))
        .collect();
    if !orphans.is_empty() && !new.is_empty() {
        problems.push(json!({"kind": "renamed", "keys": new, "orphans": orphans}));
    }
    period_keys
}

/// A salary payment's key (`silae:<dossier>:<YYYY-MM>:virement-<N>` or `…:acomptes`).
fn is_payment_key(key: &str) -> bool {
    match key.splitn(4, ':').nth(3) {
        Some("acomptes") => true,
        Some(last) => {
            last.strip_prefix("virement-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

/// What writing the move would do, `existing` being the move already under its key.
fn planned(m: &Value, existing: Option<&Record>) -> Value {
    let key = m.get("import_key").cloned().unwrap_or(Value::Null);
    match existing {
        None => json!({"import_key": key, "id": false, "name": false, "result": "created", "state": false}),
        Some(x) => {
            let state = x.get("state").cloned().unwrap_or(json!("draft"));
            let hash = m.get("payload_hash").cloned().unwrap_or(Value::Null);
            let result = if state != "draft" {
                "posted"
            } else if x.get("payflow_payload_hash").cloned().unwrap_or(json!(false)) == hash {
                "unchanged"
            } else {
                "replaced"
            };
            json!({"import_key": key, "id": x["id"], "name": x.get("name"), "result": result, "state": state})
        }
    }
}

/// account.move's `_order` (`date desc, name desc, id desc`), for `search(..., limit=1)`.
fn move_order(a: &Record, b: &Record) -> std::cmp::Ordering {
    let key = |m: &Record| {
        (
            m.get("date").and_then(Value::as_str).unwrap_or("").to_owned(),
            m.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
            m.get("id").and_then(Value::as_i64).unwrap_or(0),
        )
    };
    key(b).cmp(&key(a))
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `for entry in moves` on something that is not a list.
fn not_iterable(v: &Value) -> OdooError {
    match v {
        Value::String(_) | Value::Object(_) => {
            OdooError::new(Kind::AttributeError, "'str' object has no attribute 'get'")
        }
        other => OdooError::type_error(format!("'{}' object is not iterable", python_type(other))),
    }
}

/// `account.move.line.reconcile()` (Odoo 18's `_reconcile_plan([self])`, answering None) for
/// lines that balance to the cent: one full reconciliation, each line `reconciled` with its
/// `full_reconcile_id`. Odoo's checks first, with its messages
/// (`_check_amls_exigibility_for_reconciliation`). Lines that do not balance, which Odoo would
/// reconcile partly, are not simulated: refused, saying so.
pub fn reconcile(db: &mut Db, env: &Env, ids: &[i64]) -> OdooResult<()> {
    let model = db.model("account.move.line")?;
    db.ensure_exist(env, &model, ids)?;
    if ids.is_empty() {
        return Ok(());
    }
    let lines: Vec<Record> = ids.iter().filter_map(|id| db.get("account.move.line", *id).cloned()).collect();
    if lines.iter().any(|l| l.get("reconciled").is_some_and(truthy)) {
        return Err(OdooError::user("You are trying to reconcile some entries that are already reconciled."));
    }
    let posted = |l: &Record| {
        let m = l.get("move_id").and_then(as_id).and_then(|m| db.get("account.move", m));
        m.and_then(|m| m.get("state")?.as_str()) == Some("posted")
    };
    if !lines.iter().all(posted) {
        return Err(OdooError::user("You can only reconcile posted entries."));
    }
    let mut accounts: Vec<i64> = lines.iter().filter_map(|l| l.get("account_id").and_then(as_id)).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let account_name = |id: i64| db.get("account.account", id).map(|a| db.display_name("account.account", a));
    if accounts.len() > 1 {
        let names: Vec<String> = accounts.iter().filter_map(|a| account_name(*a)).collect();
        return Err(OdooError::user(format!("Entries are not from the same account: {}", names.join(", "))));
    }
    let account = db.get("account.account", accounts[0]).cloned().unwrap_or_default();
    let kind = account.get("account_type").and_then(Value::as_str).unwrap_or("");
    if !account.get("reconcile").is_some_and(truthy) && !matches!(kind, "asset_cash" | "liability_credit_card") {
        return Err(OdooError::user(format!(
            "Account {} does not allow reconciliation. First change the configuration of this account to allow it.",
            account_name(accounts[0]).unwrap_or_default()
        )));
    }
    let amount = |l: &Record, f: &str| cents(l.get(f).and_then(Value::as_f64).unwrap_or(0.0));
    let balance: i64 = lines.iter().map(|l| amount(l, "debit") - amount(l, "credit")).sum();
    if balance != 0 {
        return Err(OdooError::new(
            Kind::Exception,
            format!("simulator: partial reconciliation is not simulated (the lines balance to {} cents)", balance),
        ));
    }
    let full = db.insert("account.full.reconcile", Map::new());
    for id in ids {
        if let Some(l) = db.get_mut("account.move.line", *id) {
            l.insert("reconciled".into(), json!(true));
            l.insert("full_reconcile_id".into(), json!(full));
        }
    }
    Ok(())
}
