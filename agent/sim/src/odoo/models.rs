//! The simulated Odoo database: the few models PayFlow uses, with Odoo's behaviour where it
//! matters (balanced moves, lock dates, the unique import key, posted moves kept, atomic calls).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// An Odoo exception, as the RPC layers render it.
#[derive(Debug, Clone, PartialEq)]
pub enum OdooErr {
    AccessDenied,
    UserError(String),
    ValidationError(String),
    MissingError(String),
    ValueError(String),
    AttributeError(String),
    KeyError(String),
    DatabaseMissing(String),
}

impl OdooErr {
    pub fn name(&self) -> &'static str {
        match self {
            OdooErr::AccessDenied => "odoo.exceptions.AccessDenied",
            OdooErr::UserError(_) => "odoo.exceptions.UserError",
            OdooErr::ValidationError(_) => "odoo.exceptions.ValidationError",
            OdooErr::MissingError(_) => "odoo.exceptions.MissingError",
            OdooErr::ValueError(_) => "builtins.ValueError",
            OdooErr::AttributeError(_) => "builtins.AttributeError",
            OdooErr::KeyError(_) => "builtins.KeyError",
            OdooErr::DatabaseMissing(_) => "psycopg2.OperationalError",
        }
    }

    pub fn message(&self) -> String {
        match self {
            OdooErr::AccessDenied => "Access Denied".into(),
            OdooErr::UserError(m)
            | OdooErr::ValidationError(m)
            | OdooErr::MissingError(m)
            | OdooErr::ValueError(m)
            | OdooErr::AttributeError(m)
            | OdooErr::KeyError(m)
            | OdooErr::DatabaseMissing(m) => m.clone(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Many2one(&'static str),
    Many2many,
    One2many,
}

fn fields(model: &str, version: u32, addon: bool) -> Option<Vec<(&'static str, Kind)>> {
    use Kind::*;
    let mut f = vec![("id", Plain), ("display_name", Plain)];
    match model {
        "res.company" => {
            f.extend([
                ("name", Plain),
                ("currency_id", Many2one("res.currency")),
                ("fiscalyear_lock_date", Plain),
                ("tax_lock_date", Plain),
            ]);
            if version >= 18 {
                f.extend([("hard_lock_date", Plain), ("sale_lock_date", Plain), ("purchase_lock_date", Plain)]);
            } else {
                f.push(("period_lock_date", Plain));
            }
        }
        "res.users" => f.extend([("name", Plain), ("login", Plain), ("company_id", Many2one("res.company"))]),
        "account.journal" => f.extend([
            ("name", Plain),
            ("code", Plain),
            ("type", Plain),
            ("active", Plain),
            ("company_id", Many2one("res.company")),
        ]),
        "account.account" => {
            f.extend([("name", Plain), ("code", Plain), ("account_type", Plain)]);
            if version >= 18 {
                f.push(("company_ids", Many2many));
            } else {
                f.push(("company_id", Many2one("res.company")));
            }
            if version <= 18 {
                f.push(("deprecated", Plain));
            } else {
                f.push(("active", Plain));
            }
        }
        "account.analytic.plan" => f.push(("name", Plain)),
        "account.analytic.account" => f.extend([
            ("name", Plain),
            ("code", Plain),
            ("plan_id", Many2one("account.analytic.plan")),
            ("company_id", Many2one("res.company")),
            ("active", Plain),
        ]),
        "account.move" => {
            f.extend([
                ("name", Plain),
                ("state", Plain),
                ("move_type", Plain),
                ("journal_id", Many2one("account.journal")),
                ("company_id", Many2one("res.company")),
                ("date", Plain),
                ("ref", Plain),
                ("line_ids", One2many),
                ("amount_total", Plain),
            ]);
            if addon {
                f.extend([("payflow_import_key", Plain), ("payflow_payload_hash", Plain)]);
            }
        }
        "account.move.line" => f.extend([
            ("move_id", Many2one("account.move")),
            ("account_id", Many2one("account.account")),
            ("name", Plain),
            ("debit", Plain),
            ("credit", Plain),
            ("analytic_distribution", Plain),
        ]),
        "ir.attachment" => {
            f.extend([("name", Plain), ("res_model", Plain), ("res_id", Plain), ("datas", Plain), ("mimetype", Plain)])
        }
        "mail.message" => f.extend([("model", Plain), ("res_id", Plain), ("body", Plain), ("message_type", Plain)]),
        "ir.module.module" => f.extend([("name", Plain), ("state", Plain)]),
        _ => return None,
    }
    Some(f)
}

#[derive(Clone)]
pub struct Db {
    pub version: u32,
    pub addon: bool,
    pub tables: BTreeMap<String, BTreeMap<i64, Map<String, Value>>>,
    next: i64,
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(0.0) * 100.0).round() as i64
}

impl Db {
    pub fn seeded(version: u32, addon: bool) -> Db {
        let mut db = Db { version, addon, tables: BTreeMap::new(), next: 1 };
        let c1 = db.insert(
            "res.company",
            json!({"name": "PayFlow Démo SAS", "currency_id": 1, "fiscalyear_lock_date": false, "tax_lock_date": false,
            "hard_lock_date": false, "sale_lock_date": false, "purchase_lock_date": false, "period_lock_date": false}),
        );
        let c2 = db.insert("res.company", json!({"name": "PayFlow Filiale Lyon", "currency_id": 1, "fiscalyear_lock_date": false, "tax_lock_date": false,
            "hard_lock_date": false, "sale_lock_date": false, "purchase_lock_date": false, "period_lock_date": false}));
        db.tables
            .entry("res.users".into())
            .or_default()
            .insert(2, obj(json!({"id": 2, "name": "Mitchell Admin", "login": "admin", "company_id": c1})));
        for c in [c1, c2] {
            for (code, name, t) in [
                ("SAL", "Salaires", "general"),
                ("OD", "Opérations diverses", "general"),
                ("VTE", "Ventes", "sale"),
                ("ACH", "Achats", "purchase"),
                ("BNK1", "Banque", "bank"),
            ] {
                db.insert(
                    "account.journal",
                    json!({"code": code, "name": name, "type": t, "active": true, "company_id": c}),
                );
            }
            for (code, name) in [
                ("401000", "Fournisseurs"),
                ("411000", "Clients"),
                ("421000", "Personnel - Rémunérations dues"),
                ("431000", "Sécurité sociale"),
                ("437000", "Autres organismes sociaux"),
                ("442100", "Prélèvements à la source (Impôt sur le revenu)"),
                ("512001", "Banque"),
                ("606100", "Fournitures non stockables"),
                ("641100", "Salaires, appointements"),
                ("641400", "Indemnités et avantages divers"),
                ("645100", "Cotisations à l'URSSAF"),
                ("645300", "Cotisations aux caisses de retraites"),
                ("645400", "Cotisations aux ASSEDIC"),
                ("645800", "Cotisations aux autres organismes sociaux"),
                ("647500", "Médecine du travail, pharmacie"),
            ] {
                let t = if code.starts_with('6') { "expense" } else { "liability_current" };
                let mut a = json!({"code": code, "name": name, "account_type": t, "deprecated": false, "active": true});
                if version >= 18 {
                    a["company_ids"] = json!([c]);
                } else {
                    a["company_id"] = json!(c);
                }
                db.insert("account.account", a);
            }
        }
        let plan = db.insert("account.analytic.plan", json!({"name": "Établissements"}));
        db.insert(
            "account.analytic.account",
            json!({"name": "Paris", "code": "PARIS", "plan_id": plan, "company_id": false, "active": true}),
        );
        db.insert(
            "account.analytic.account",
            json!({"name": "Lyon", "code": "LYON", "plan_id": plan, "company_id": false, "active": true}),
        );
        db.insert(
            "ir.module.module",
            json!({"name": "payflow_silae", "state": if addon { "installed" } else { "uninstalled" }}),
        );
        db
    }

    fn insert(&mut self, model: &str, v: Value) -> i64 {
        let id = self.next;
        self.next += 1;
        let mut o = obj(v);
        o.insert("id".into(), json!(id));
        self.tables.entry(model.into()).or_default().insert(id, o);
        id
    }

    pub fn set_addon(&mut self, yes: bool) {
        self.addon = yes;
        for m in self.tables.entry("ir.module.module".into()).or_default().values_mut() {
            if m["name"] == "payflow_silae" {
                m.insert("state".into(), json!(if yes { "installed" } else { "uninstalled" }));
            }
        }
    }

    fn spec(&self, model: &str) -> Result<Vec<(&'static str, Kind)>, OdooErr> {
        fields(model, self.version, self.addon).ok_or_else(|| OdooErr::KeyError(model.to_owned()))
    }

    fn check_field(&self, model: &str, field: &str) -> Result<Kind, OdooErr> {
        let name = field.split('.').next().unwrap_or(field);
        self.spec(model)?
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| OdooErr::ValueError(format!("Invalid field '{name}' on model '{model}'")))
    }

    /// Calls `model.method(*args, **kwargs)`; the whole call is one transaction.
    pub fn call(
        &mut self,
        model: &str,
        method: &str,
        args: &[Value],
        kwargs: &Map<String, Value>,
    ) -> Result<Value, OdooErr> {
        self.spec(model)?;
        let arg = |i: usize, name: &str| args.get(i).cloned().or_else(|| kwargs.get(name).cloned());
        let ids = |v: Option<Value>| -> Vec<i64> {
            match v {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
                Some(Value::Number(n)) => n.as_i64().into_iter().collect(),
                _ => Vec::new(),
            }
        };
        let context = kwargs.get("context").cloned().unwrap_or(json!({}));
        let mut draft = self.clone();
        let result = match method {
            "search_read" => {
                let found = draft.search(model, &arg(0, "domain").unwrap_or(json!([])), &context)?;
                let limit = kwargs.get("limit").and_then(Value::as_u64).map(|l| l as usize).unwrap_or(usize::MAX);
                let found: Vec<i64> = found.into_iter().take(limit).collect();
                draft.read(model, &found, arg(1, "fields"))
            }
            "search" => Ok(json!(draft.search(model, &arg(0, "domain").unwrap_or(json!([])), &context)?)),
            "search_count" => Ok(json!(draft.search(model, &arg(0, "domain").unwrap_or(json!([])), &context)?.len())),
            "read" => draft.read(model, &ids(arg(0, "ids")), arg(1, "fields")),
            "create" => {
                let vals = arg(0, "vals_list").or_else(|| kwargs.get("vals").cloned()).unwrap_or(json!({}));
                match vals {
                    Value::Array(list) => {
                        list.iter().map(|v| draft.create(model, v)).collect::<Result<Vec<_>, _>>().map(|v| json!(v))
                    }
                    v => draft.create(model, &v).map(|id| json!(id)),
                }
            }
            "write" => {
                draft.write(model, &ids(arg(0, "ids")), &arg(1, "vals").unwrap_or(json!({}))).map(|_| json!(true))
            }
            "unlink" => draft.unlink(model, &ids(arg(0, "ids"))).map(|_| json!(true)),
            "action_post" if model == "account.move" => {
                draft.set_state(&ids(arg(0, "ids")), "posted").map(|_| json!(false))
            }
            "button_draft" if model == "account.move" => {
                draft.set_state(&ids(arg(0, "ids")), "draft").map(|_| json!(false))
            }
            "payflow_import" if model == "account.move" && self.addon => {
                draft.payflow_import(&arg(0, "moves").unwrap_or(json!([])))
            }
            _ => Err(OdooErr::AttributeError(format!("The method '{method}' does not exist on the model '{model}'"))),
        }?;
        *self = draft;
        Ok(result)
    }

    pub fn search(&self, model: &str, domain: &Value, context: &Value) -> Result<Vec<i64>, OdooErr> {
        let terms = domain.as_array().cloned().unwrap_or_default();
        for t in &terms {
            if let Some(leaf) = t.as_array() {
                let field = leaf.first().and_then(Value::as_str).unwrap_or("");
                if self.check_field(model, field).is_err() {
                    let shown: Vec<String> = leaf.iter().map(python_repr).collect();
                    return Err(OdooErr::ValueError(format!(
                        "Invalid field {model}.{field} in leaf ({})",
                        shown.join(", ")
                    )));
                }
            }
        }
        let active_test = context.get("active_test").and_then(Value::as_bool).unwrap_or(true);
        let has_active = self.spec(model)?.iter().any(|(f, _)| *f == "active");
        let mentions_active = terms.iter().any(|t| t.get(0).and_then(Value::as_str) == Some("active"));
        Ok(self
            .tables
            .get(model)
            .map(|t| {
                t.values()
                    .filter(|r| {
                        !(active_test && has_active && !mentions_active && r.get("active") == Some(&json!(false)))
                    })
                    .filter(|r| eval(&terms, &mut 0, r))
                    .filter_map(|r| r["id"].as_i64())
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn read(&self, model: &str, ids: &[i64], fields: Option<Value>) -> Result<Value, OdooErr> {
        let spec = self.spec(model)?;
        let wanted: Vec<String> = match fields {
            Some(Value::Array(f)) if !f.is_empty() => f.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
            _ => spec.iter().map(|(f, _)| f.to_string()).collect(),
        };
        for f in &wanted {
            self.check_field(model, f)?;
        }
        let table = self.tables.get(model);
        let mut out = Vec::new();
        for id in ids {
            let Some(r) = table.and_then(|t| t.get(id)) else {
                return Err(OdooErr::MissingError(format!(
                    "Record does not exist or has been deleted.\n(Record: {model}({id},), User: 2)"
                )));
            };
            let mut row = Map::new();
            row.insert("id".into(), json!(id));
            for f in &wanted {
                let kind = spec.iter().find(|(n, _)| n == f).map(|(_, k)| *k).unwrap_or(Kind::Plain);
                let v = match kind {
                    Kind::Many2one(target) => match r.get(f.as_str()).and_then(Value::as_i64) {
                        Some(i) => json!([i, self.display_name(target, i)]),
                        None => json!(false),
                    },
                    Kind::One2many => {
                        let lines: Vec<i64> = self
                            .tables
                            .get("account.move.line")
                            .map(|t| {
                                t.values()
                                    .filter(|l| l["move_id"] == json!(id))
                                    .filter_map(|l| l["id"].as_i64())
                                    .collect()
                            })
                            .unwrap_or_default();
                        json!(lines)
                    }
                    _ if f == "display_name" => json!(self.display_name(model, *id)),
                    _ if f == "amount_total" => {
                        let total: i64 = self.lines_of(*id).iter().map(|l| cents(&l["debit"])).sum();
                        json!(total as f64 / 100.0)
                    }
                    _ => r.get(f.as_str()).cloned().unwrap_or(json!(false)),
                };
                row.insert(f.clone(), v);
            }
            out.push(Value::Object(row));
        }
        Ok(Value::Array(out))
    }

    fn display_name(&self, model: &str, id: i64) -> String {
        let r = self.tables.get(model).and_then(|t| t.get(&id));
        match (model, r) {
            ("account.account", Some(r)) => {
                format!("{} {}", r["code"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""))
            }
            (_, Some(r)) => r.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
            _ => String::new(),
        }
    }

    pub fn lines_of(&self, move_id: i64) -> Vec<Map<String, Value>> {
        self.tables
            .get("account.move.line")
            .map(|t| t.values().filter(|l| l["move_id"] == json!(move_id)).cloned().collect())
            .unwrap_or_default()
    }

    fn create(&mut self, model: &str, vals: &Value) -> Result<i64, OdooErr> {
        let Some(vals) = vals.as_object() else {
            return Err(OdooErr::ValueError("create expects a dict of values".into()));
        };
        for k in vals.keys() {
            self.check_field(model, k)?;
        }
        match model {
            "account.move" => self.create_move(vals),
            "account.account" => {
                let mut v = Value::Object(vals.clone());
                let company = v
                    .get("company_ids")
                    .and_then(|c| c.get(0))
                    .and_then(Value::as_i64)
                    .or_else(|| v["company_id"].as_i64())
                    .unwrap_or(1);
                let code = v["code"].as_str().unwrap_or_default().to_owned();
                if self
                    .search("account.account", &json!([["code", "=", code]]), &json!({}))?
                    .iter()
                    .any(|id| self.account_company(*id) == Some(company))
                {
                    return Err(OdooErr::ValidationError(format!("The account code can only contain alphanumeric characters and dots, and must be unique per company: {code}")));
                }
                if v.get("deprecated").is_none() {
                    v["deprecated"] = json!(false);
                }
                v["active"] = json!(true);
                if self.version >= 18 {
                    v["company_ids"] = json!([company]);
                } else {
                    v["company_id"] = json!(company);
                }
                Ok(self.insert(model, v))
            }
            _ => {
                let mut v = Value::Object(vals.clone());
                if model == "account.journal" || model == "account.analytic.account" {
                    v["active"] = json!(true);
                }
                Ok(self.insert(model, v))
            }
        }
    }

    fn account_company(&self, id: i64) -> Option<i64> {
        let a = self.tables.get("account.account")?.get(&id)?;
        a.get("company_ids")
            .and_then(|c| c.get(0))
            .and_then(Value::as_i64)
            .or_else(|| a.get("company_id").and_then(Value::as_i64))
    }

    fn lock_date(&self, company: i64) -> Option<String> {
        let c = self.tables.get("res.company")?.get(&company)?;
        let names: &[&str] = if self.version >= 18 {
            &["fiscalyear_lock_date", "hard_lock_date"]
        } else {
            &["fiscalyear_lock_date", "period_lock_date"]
        };
        names.iter().filter_map(|n| c.get(*n).and_then(Value::as_str).map(str::to_owned)).max()
    }

    fn create_move(&mut self, vals: &Map<String, Value>) -> Result<i64, OdooErr> {
        let journal = vals.get("journal_id").and_then(Value::as_i64).ok_or_else(|| {
            OdooErr::UserError("No journal could be found in company for any of those types: general".into())
        })?;
        let j = self.tables.get("account.journal").and_then(|t| t.get(&journal)).cloned().ok_or_else(|| {
            OdooErr::MissingError(format!(
                "Record does not exist or has been deleted.\n(Record: account.journal({journal},), User: 2)"
            ))
        })?;
        let company = vals.get("company_id").and_then(Value::as_i64).unwrap_or(j["company_id"].as_i64().unwrap_or(1));
        let lines: Vec<Map<String, Value>> = vals
            .get("line_ids")
            .and_then(Value::as_array)
            .map(|cmds| cmds.iter().filter_map(|c| c.get(2).and_then(Value::as_object).cloned()).collect())
            .unwrap_or_default();
        let debit: i64 = lines.iter().map(|l| cents(l.get("debit").unwrap_or(&json!(0)))).sum();
        let credit: i64 = lines.iter().map(|l| cents(l.get("credit").unwrap_or(&json!(0)))).sum();
        if debit != credit {
            return Err(OdooErr::UserError(format!(
                "An error has occurred.\n\nThe move (Draft Entry {}/draft) is not balanced.\nThe total of debits equals {:.2} € and the total of credits equals {:.2} €.\nYou might want to specify a default account on journal \"{}\" to automatically balance each move.",
                j["code"].as_str().unwrap_or(""),
                debit as f64 / 100.0,
                credit as f64 / 100.0,
                j["name"].as_str().unwrap_or("")
            )));
        }
        for l in &lines {
            let account = l.get("account_id").and_then(Value::as_i64).unwrap_or(0);
            if self.account_company(account).is_none() {
                return Err(OdooErr::MissingError(format!(
                    "Record does not exist or has been deleted.\n(Record: account.account({account},), User: 2)"
                )));
            }
        }
        if let Some(key) = vals.get("payflow_import_key").and_then(Value::as_str) {
            let clash = self.tables.get("account.move").is_some_and(|t| {
                t.values().any(|m| {
                    m.get("payflow_import_key").and_then(Value::as_str) == Some(key)
                        && m["company_id"].as_i64() == Some(company)
                })
            });
            if clash {
                return Err(OdooErr::ValidationError(
                    "The operation cannot be completed: A move with this PayFlow import key already exists in this company.".into(),
                ));
            }
        }
        let mut m = vals.clone();
        m.remove("line_ids");
        m.insert("company_id".into(), json!(company));
        m.insert("state".into(), json!("draft"));
        m.insert("name".into(), json!("/"));
        m.entry("move_type").or_insert(json!("entry"));
        m.entry("ref").or_insert(json!(false));
        for f in ["payflow_import_key", "payflow_payload_hash"] {
            if self.addon {
                m.entry(f).or_insert(json!(false));
            }
        }
        let id = self.insert("account.move", Value::Object(m));
        for l in lines {
            let mut line = l.clone();
            line.insert("move_id".into(), json!(id));
            line.entry("analytic_distribution").or_insert(json!(false));
            self.insert("account.move.line", Value::Object(line));
        }
        Ok(id)
    }

    fn write(&mut self, model: &str, ids: &[i64], vals: &Value) -> Result<(), OdooErr> {
        let Some(vals) = vals.as_object() else {
            return Err(OdooErr::ValueError("write expects a dict of values".into()));
        };
        for k in vals.keys() {
            self.check_field(model, k)?;
        }
        for id in ids {
            let t = self.tables.entry(model.into()).or_default();
            let r = t.get_mut(id).ok_or_else(|| {
                OdooErr::MissingError(format!(
                    "Record does not exist or has been deleted.\n(Record: {model}({id},), User: 2)"
                ))
            })?;
            for (k, v) in vals {
                r.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    fn unlink(&mut self, model: &str, ids: &[i64]) -> Result<(), OdooErr> {
        if model == "account.move" {
            for id in ids {
                if self.tables.get(model).and_then(|t| t.get(id)).is_some_and(|m| m["state"] != "draft") {
                    return Err(OdooErr::UserError("You can't delete a posted journal item. Don’t play games with your accounting records; reset the journal entry to draft before deleting it.".into()));
                }
            }
            if let Some(lines) = self.tables.get_mut("account.move.line") {
                lines.retain(|_, l| !ids.contains(&l["move_id"].as_i64().unwrap_or(0)));
            }
        }
        if let Some(t) = self.tables.get_mut(model) {
            t.retain(|id, _| !ids.contains(id));
        }
        Ok(())
    }

    fn set_state(&mut self, ids: &[i64], state: &str) -> Result<(), OdooErr> {
        for id in ids {
            let company = self
                .tables
                .get("account.move")
                .and_then(|t| t.get(id))
                .and_then(|m| m["company_id"].as_i64())
                .unwrap_or(1);
            let date = self
                .tables
                .get("account.move")
                .and_then(|t| t.get(id))
                .and_then(|m| m["date"].as_str().map(str::to_owned))
                .unwrap_or_default();
            // As Odoo 18 does: a move posted inside a locked period is dated after the lock date.
            let date = match self.lock_date(company).filter(|l| state == "posted" && date.as_str() <= l.as_str()) {
                Some(lock) => day_after(&lock),
                None => date,
            };
            let m = self.tables.get_mut("account.move").and_then(|t| t.get_mut(id)).ok_or_else(|| {
                OdooErr::MissingError(format!(
                    "Record does not exist or has been deleted.\n(Record: account.move({id},), User: 2)"
                ))
            })?;
            m.insert("state".into(), json!(state));
            m.insert("date".into(), json!(date));
            if state == "posted" && m["name"] == "/" {
                m.insert(
                    "name".into(),
                    json!(format!("MISC/{}/{:04}", &date[..7.min(date.len())].replace('-', "/"), id)),
                );
            }
        }
        Ok(())
    }

    /// The addon's atomic upsert (docs/odoo-protocol.md).
    fn payflow_import(&mut self, moves: &Value) -> Result<Value, OdooErr> {
        let mut out = Vec::new();
        for entry in moves.as_array().cloned().unwrap_or_default() {
            let key = entry["import_key"]
                .as_str()
                .ok_or_else(|| OdooErr::ValueError("import_key is required".into()))?
                .to_owned();
            let hash = entry["payload_hash"].as_str().unwrap_or_default().to_owned();
            let mut vals =
                entry["vals"].as_object().cloned().ok_or_else(|| OdooErr::ValueError("vals is required".into()))?;
            let company = vals.get("company_id").and_then(Value::as_i64).unwrap_or(1);
            let existing = self.search(
                "account.move",
                &json!([["payflow_import_key", "=", key], ["company_id", "=", company]]),
                &json!({}),
            )?;
            let found = existing.first().and_then(|id| self.tables["account.move"].get(id).cloned());
            let (result, id) = match found {
                Some(m) if m["state"] != "draft" => ("posted", m["id"].as_i64().unwrap_or(0)),
                Some(m) if m["payflow_payload_hash"] == json!(hash) => ("unchanged", m["id"].as_i64().unwrap_or(0)),
                other => {
                    if let Some(m) = &other {
                        self.unlink("account.move", &[m["id"].as_i64().unwrap_or(0)])?;
                    }
                    vals.insert("payflow_import_key".into(), json!(key));
                    vals.insert("payflow_payload_hash".into(), json!(hash));
                    let id = self.create_move(&vals)?;
                    if let Some(a) = entry.get("attachment").and_then(Value::as_object) {
                        let mut a = a.clone();
                        a.insert("res_model".into(), json!("account.move"));
                        a.insert("res_id".into(), json!(id));
                        self.insert("ir.attachment", Value::Object(a));
                    }
                    if let Some(body) = entry.get("message").and_then(Value::as_str) {
                        self.insert(
                            "mail.message",
                            json!({"model": "account.move", "res_id": id, "body": body, "message_type": "comment"}),
                        );
                    }
                    (if other.is_some() { "replaced" } else { "created" }, id)
                }
            };
            let state = self.tables["account.move"].get(&id).map(|m| m["state"].clone()).unwrap_or(json!("draft"));
            out.push(json!({"import_key": key, "id": id, "result": result, "state": state}));
        }
        Ok(Value::Array(out))
    }
}

fn day_after(iso: &str) -> String {
    let (y, m, d): (i32, u32, u32) = (
        iso.get(0..4).and_then(|x| x.parse().ok()).unwrap_or(2000),
        iso.get(5..7).and_then(|x| x.parse().ok()).unwrap_or(1),
        iso.get(8..10).and_then(|x| x.parse().ok()).unwrap_or(1),
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let last = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    match (d < last, m < 12) {
        (true, _) => format!("{y:04}-{m:02}-{:02}", d + 1),
        (false, true) => format!("{y:04}-{:02}-01", m + 1),
        (false, false) => format!("{:04}-01-01", y + 1),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Evaluates a domain in Odoo's prefix notation (implicit `&` between terms).
fn eval(terms: &[Value], pos: &mut usize, r: &Map<String, Value>) -> bool {
    let mut result = true;
    while *pos < terms.len() {
        result &= eval_one(terms, pos, r);
    }
    result
}

fn eval_one(terms: &[Value], pos: &mut usize, r: &Map<String, Value>) -> bool {
    let t = &terms[*pos];
    *pos += 1;
    match t.as_str() {
        Some("|") => {
            let a = eval_one(terms, pos, r);
            let b = eval_one(terms, pos, r);
            a || b
        }
        Some("&") => {
            let a = eval_one(terms, pos, r);
            let b = eval_one(terms, pos, r);
            a && b
        }
        Some("!") => !eval_one(terms, pos, r),
        _ => leaf(t, r),
    }
}

fn leaf(t: &Value, r: &Map<String, Value>) -> bool {
    let (Some(field), Some(op), Some(value)) =
        (t.get(0).and_then(Value::as_str), t.get(1).and_then(Value::as_str), t.get(2))
    else {
        return true;
    };
    let have = r.get(field).cloned().unwrap_or(json!(false));
    let eq = |a: &Value, b: &Value| match (a, b) {
        (Value::Array(items), b) => items.contains(b),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (a, b) => a == b,
    };
    let within = |list: &Value| list.as_array().is_some_and(|l| l.iter().any(|x| eq(&have, x)));
    match op {
        "=" => eq(&have, value),
        "!=" => !eq(&have, value),
        "in" => within(value),
        "not in" => !within(value),
        "like" | "ilike" | "=like" | "=ilike" => {
            let (h, v) = (have.as_str().unwrap_or(""), value.as_str().unwrap_or(""));
            if op.starts_with('=') {
                h.to_lowercase().starts_with(&v.trim_end_matches('%').to_lowercase())
            } else {
                h.to_lowercase().contains(&v.to_lowercase())
            }
        }
        "<=" => {
            have.as_str().zip(value.as_str()).is_some_and(|(a, b)| a <= b)
                || have.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| a <= b)
        }
        ">=" => {
            have.as_str().zip(value.as_str()).is_some_and(|(a, b)| a >= b)
                || have.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| a >= b)
        }
        "<" => {
            have.as_str().zip(value.as_str()).is_some_and(|(a, b)| a < b)
                || have.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| a < b)
        }
        ">" => {
            have.as_str().zip(value.as_str()).is_some_and(|(a, b)| a > b)
                || have.as_f64().zip(value.as_f64()).is_some_and(|(a, b)| a > b)
        }
        _ => false,
    }
}

/// Python's repr of a JSON value, as Odoo prints domain leaves in its errors.
fn python_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(python_repr).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
