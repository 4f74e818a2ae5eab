//! The in-memory database and the generic ORM methods (search with domains, read, create,
//! write, unlink), with Odoo's answers to bad input. Model-specific behaviour is in account.rs.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::error::{Kind, OdooError, OdooResult};
use super::fmt::{py_leaf, py_repr, py_str, Date};
use super::schema::{self, CompanyRule, Field, Model, Ty};

pub type Record = Map<String, Value>;

/// The whole database. A call works on a copy and replaces the original only when it
/// succeeds: every RPC call is one transaction, as in Odoo.
#[derive(Debug, Clone)]
pub struct Db {
    pub version: u32,
    pub addon: bool,
    /// Whether the installed addon has `payflow_import_plan` (an older one has only
    /// `payflow_import`).
    pub addon_plan: bool,
    pub tables: BTreeMap<String, BTreeMap<i64, Record>>,
    next_id: BTreeMap<String, i64>,
    /// How many transactions changed the database: a call that ran on a copy finds out whether
    /// another one committed meanwhile.
    pub generation: u64,
}

/// Who calls and in which context.
#[derive(Debug, Clone)]
pub struct Env {
    pub uid: i64,
    pub context: Map<String, Value>,
    /// The allowed companies (`env.companies`); the first is `env.company`.
    pub companies: Vec<i64>,
}

impl Env {
    pub fn company(&self) -> i64 {
        self.companies.first().copied().unwrap_or(1)
    }

    fn active_test(&self) -> bool {
        self.context.get("active_test").and_then(Value::as_bool).unwrap_or(true)
    }
}

/// The value of an integer id in a JSON value (Odoo also takes `[id, name]` pairs).
pub fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::Array(a) if a.len() == 2 => a[0].as_i64(),
        _ => None,
    }
}

/// Ids given as `5` or `[5, 6]`.
pub fn as_ids(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(a) => a.iter().filter_map(as_id).collect(),
        other => as_id(other).into_iter().collect(),
    }
}

/// Python's truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Bool(true) => true,
    }
}

impl Db {
    pub fn empty(version: u32, addon: bool) -> Db {
        Db { version, addon, addon_plan: true, tables: BTreeMap::new(), next_id: BTreeMap::new(), generation: 0 }
    }

    pub fn model(&self, name: &str) -> OdooResult<Model> {
        schema::model(name, self.version, self.addon)
            .ok_or_else(|| OdooError::user(format!("Object {name} doesn't exist")))
    }

    /// The user's companies (`res.users.company_ids`).
    pub fn user_companies(&self, uid: i64) -> Vec<i64> {
        self.get("res.users", uid).map(|u| as_ids(&u["company_ids"])).unwrap_or_default()
    }

    /// The environment of a call: the context's `allowed_company_ids` must be the user's.
    pub fn env(&self, uid: i64, context: Map<String, Value>) -> OdooResult<Env> {
        let mine = self.user_companies(uid);
        let companies = match context.get("allowed_company_ids") {
            Some(v) if truthy(v) => {
                let asked = as_ids(v);
                if asked.is_empty() || asked.iter().any(|c| !mine.contains(c)) {
                    return Err(OdooError::new(Kind::AccessError, "Access to unauthorized or invalid companies."));
                }
                asked
            }
            _ => {
                // The user's main company first, then the others.
                let main = self.get("res.users", uid).and_then(|u| as_id(&u["company_id"])).unwrap_or(1);
                let mut all = vec![main];
                all.extend(mine.into_iter().filter(|c| *c != main));
                all
            }
        };
        Ok(Env { uid, context, companies })
    }

    pub fn get(&self, model: &str, id: i64) -> Option<&Record> {
        self.tables.get(model).and_then(|t| t.get(&id))
    }

    pub fn get_mut(&mut self, model: &str, id: i64) -> Option<&mut Record> {
        self.tables.get_mut(model).and_then(|t| t.get_mut(&id))
    }

    pub fn all(&self, model: &str) -> impl Iterator<Item = &Record> {
        self.tables.get(model).into_iter().flat_map(|t| t.values())
    }

    /// Stores a record as given (no check) and answers its id, the next of its table's sequence.
    pub fn insert(&mut self, model: &str, mut rec: Record) -> i64 {
        let id = match rec.get("id").and_then(Value::as_i64) {
            Some(id) => id,
            None => *self.next_id.get(model).unwrap_or(&1),
        };
        let next = self.next_id.entry(model.to_owned()).or_insert(1);
        *next = (*next).max(id + 1);
        rec.insert("id".into(), json!(id));
        self.tables.entry(model.to_owned()).or_default().insert(id, rec);
        id
    }

    pub fn remove(&mut self, model: &str, id: i64) {
        if let Some(t) = self.tables.get_mut(model) {
            t.remove(&id);
        }
    }

    // ------------------------------------------------------------------
    // Values
    // ------------------------------------------------------------------

    /// A field's value in storage form (many2one: id or false, x2many: ids), computed fields
    /// included.
    pub fn value(&self, model: &Model, rec: &Record, field: &Field) -> Value {
        let id = rec.get("id").and_then(Value::as_i64).unwrap_or(0);
        match (model.name, field.name) {
            (_, "display_name") => return json!(self.display_name(model.name, rec)),
            ("account.move", "amount_total") => {
                let total: i64 = self
                    .lines_of(id)
                    .iter()
                    .map(|l| super::fmt::cents(l.get("debit").and_then(Value::as_f64).unwrap_or(0.0)))
                    .sum();
                return super::fmt::amount(total);
            }
            ("account.move.line", "balance") => {
                let d = rec.get("debit").and_then(Value::as_f64).unwrap_or(0.0);
                let c = rec.get("credit").and_then(Value::as_f64).unwrap_or(0.0);
                return super::fmt::amount(super::fmt::cents(d) - super::fmt::cents(c));
            }
            ("account.move.line", f @ ("company_id" | "journal_id" | "date")) => {
                let m = rec.get("move_id").and_then(as_id).and_then(|m| self.get("account.move", m));
                return m.and_then(|m| m.get(f).cloned()).unwrap_or(json!(false));
            }
            ("account.move.line", "parent_state") => {
                let m = rec.get("move_id").and_then(as_id).and_then(|m| self.get("account.move", m));
                return m.and_then(|m| m.get("state").cloned()).unwrap_or(json!(false));
            }
            _ => {}
        }
        match field.ty {
            Ty::One2many(comodel, inverse) => {
                let mut ids: Vec<i64> = self
                    .all(comodel)
                    .filter(|r| r.get(inverse).and_then(as_id) == Some(id))
                    .filter_map(|r| r["id"].as_i64())
                    .collect();
                ids.sort_unstable();
                json!(ids)
            }
            Ty::Many2many(_) => rec.get(field.name).cloned().unwrap_or(json!([])),
            Ty::Integer => rec.get(field.name).filter(|v| v.is_number()).cloned().unwrap_or(json!(0)),
            Ty::Monetary => {
                let f = rec.get(field.name).and_then(Value::as_f64).unwrap_or(0.0);
                serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(json!(0.0))
            }
            Ty::Boolean => json!(rec.get(field.name).is_some_and(truthy)),
            _ => match rec.get(field.name) {
                None | Some(Value::Null) => json!(false),
                Some(v) => v.clone(),
            },
        }
    }

    pub fn display_name(&self, model: &str, rec: &Record) -> String {
        let s = |f: &str| rec.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
        match model {
            "account.account" => format!("{} {}", s("code"), s("name")),
            "account.analytic.account" if !s("code").is_empty() => format!("[{}] {}", s("code"), s("name")),
            "account.move" => super::account::move_display_name(rec, true),
            "account.move.line" => {
                // The move's number, its reference in brackets, the label.
                let m = rec.get("move_id").and_then(as_id).and_then(|m| self.get("account.move", m));
                let text = |r: Option<&Record>, f: &str| {
                    r.and_then(|r| r.get(f)).and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned)
                };
                [text(m, "name"), text(m, "ref").map(|r| format!("({r})")), text(Some(rec), "name")]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "ir.module.module" => s("shortdesc"),
            "mail.message" | "ir.attachment" | "account.full.reconcile" if s("name").is_empty() => {
                format!("{model},{}", rec.get("id").and_then(Value::as_i64).unwrap_or(0))
            }
            _ => s("name"),
        }
    }

    /// A field as `read` answers it (many2one as `[id, display_name]`).
    pub fn render(&self, model: &Model, rec: &Record, field: &Field) -> Value {
        let v = self.value(model, rec, field);
        match field.ty {
            Ty::Many2one(comodel) => match as_id(&v) {
                Some(id) => {
                    let name = self.get(comodel, id).map(|r| self.display_name(comodel, r)).unwrap_or_default();
                    json!([id, name])
                }
                None => json!(false),
            },
            _ => v,
        }
    }

    // ------------------------------------------------------------------
    // search
    // ------------------------------------------------------------------

    /// `search`: the ids matching `domain` that the record rules let the user see, in `order`
    /// (the model's default order if `None`).
    pub fn search(
        &self,
        env: &Env,
        model: &Model,
        domain: &Value,
        offset: usize,
        limit: Option<usize>,
        order: Option<&str>,
    ) -> OdooResult<Vec<i64>> {
        let terms = match domain {
            Value::Array(a) => a.clone(),
            Value::Null | Value::Bool(false) => Vec::new(),
            other => return Err(OdooError::value(format!("Invalid domain: {}", py_repr(other)))),
        };
        let expr = self.parse_domain(model, &terms)?;
        let filter_active = model.has("active")
            && env.active_test()
            && !terms.iter().any(|t| t.get(0).and_then(Value::as_str) == Some("active"));
        let order = self.parse_order(model, order.unwrap_or(model.order))?;
        let mut found: Vec<&Record> = self
            .all(model.name)
            .filter(|r| !filter_active || r.get("active").is_none_or(truthy))
            .filter(|r| self.visible(env, model, r))
            .filter(|r| self.eval(&expr, r))
            .collect();
        found.sort_by(|a, b| {
            for (field, desc) in &order {
                let (x, y) = (self.sort_key(model, a, field), self.sort_key(model, b, field));
                let o = cmp_values(&x, &y, *desc);
                if o != Ordering::Equal {
                    return o;
                }
            }
            a["id"].as_i64().cmp(&b["id"].as_i64())
        });
        Ok(found.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).filter_map(|r| r["id"].as_i64()).collect())
    }

    /// The record rules of multi-company models.
    fn visible(&self, env: &Env, model: &Model, rec: &Record) -> bool {
        let company = || rec.get("company_id").and_then(as_id);
        match model.company_rule {
            CompanyRule::None => true,
            CompanyRule::Company => match model.name {
                // Journal items follow their move.
                "account.move.line" => {
                    let m = rec.get("move_id").and_then(as_id).and_then(|m| self.get("account.move", m));
                    m.and_then(|m| m.get("company_id").and_then(as_id)).is_none_or(|c| env.companies.contains(&c))
                }
                _ => company().is_some_and(|c| env.companies.contains(&c)),
            },
            CompanyRule::CompanyOrShared => company().is_none_or(|c| env.companies.contains(&c)),
            CompanyRule::Companies => {
                rec.get("company_ids").map(as_ids).unwrap_or_default().iter().any(|c| env.companies.contains(c))
            }
        }
    }

    fn sort_key(&self, model: &Model, rec: &Record, field: &str) -> Value {
        match model.field(field) {
            Some(f) => {
                let v = self.value(model, rec, f);
                match f.ty {
                    Ty::Many2one(_) => as_id(&v).map_or(Value::Null, |id| json!(id)),
                    Ty::Boolean => v,
                    _ if v == json!(false) => Value::Null,
                    _ => v,
                }
            }
            None => Value::Null,
        }
    }

    /// `"date desc, id"` into (field, descending); fields this simulator lacks (sequence…) are
    /// skipped, unknown ones refused.
    fn parse_order(&self, model: &Model, order: &str) -> OdooResult<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for part in order.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut words = part.split_whitespace();
            let field = words.next().unwrap_or_default();
            let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(OdooError::value(format!("Invalid order: {}", py_str(order)))),
            };
            if model.has(field) {
                out.push((field.to_owned(), desc));
            } else if order != model.order {
                return Err(OdooError::value(format!(
                    "Invalid field {} on model {}",
                    py_str(field),
                    py_str(model.name)
                )));
            }
        }
        Ok(out)
    }

    fn parse_domain(&self, model: &Model, terms: &[Value]) -> OdooResult<Expr> {
        let mut pos = 0;
        let mut parts = Vec::new();
        while pos < terms.len() {
            parts.push(self.parse_term(model, terms, &mut pos)?);
        }
        Ok(parts.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b))).unwrap_or(Expr::Const(true)))
    }

    fn parse_term(&self, model: &Model, terms: &[Value], pos: &mut usize) -> OdooResult<Expr> {
        let Some(t) = terms.get(*pos) else {
            return Err(OdooError::value(format!("Domain {} is syntactically not correct.", py_repr(&json!(terms)))));
        };
        *pos += 1;
        match t {
            Value::String(op) if op == "&" || op == "|" => {
                let a = self.parse_term(model, terms, pos)?;
                let b = self.parse_term(model, terms, pos)?;
                Ok(if op == "&" { Expr::And(Box::new(a), Box::new(b)) } else { Expr::Or(Box::new(a), Box::new(b)) })
            }
            Value::String(op) if op == "!" => Ok(Expr::Not(Box::new(self.parse_term(model, terms, pos)?))),
            Value::Array(leaf) if leaf.len() == 3 => self.parse_leaf(model, leaf),
            Value::Array(leaf) => Err(OdooError::value(format!("Invalid leaf {}", py_leaf(leaf)))),
            other => Err(OdooError::value(format!("Invalid leaf {}", py_repr(other)))),
        }
    }

    fn parse_leaf(&self, model: &Model, leaf: &[Value]) -> OdooResult<Expr> {
        // TRUE_LEAF / FALSE_LEAF
        if let (Some(a), Some("="), Some(1)) = (leaf[0].as_i64(), leaf[1].as_str(), leaf[2].as_i64()) {
            return Ok(Expr::Const(a == 1));
        }
        let (Some(path), Some(op)) = (leaf[0].as_str(), leaf[1].as_str()) else {
            return Err(OdooError::value(format!("Invalid leaf {}", py_leaf(leaf))));
        };
        let op = op.to_ascii_lowercase();
        const OPERATORS: &[&str] = &[
            "=",
            "!=",
            "<>",
            "<",
            ">",
            "<=",
            ">=",
            "=?",
            "=like",
            "=ilike",
            "like",
            "not like",
            "ilike",
            "not ilike",
            "in",
            "not in",
            "child_of",
            "parent_of",
        ];
        if !OPERATORS.contains(&op.as_str()) {
            return Err(OdooError::value(format!("Invalid leaf {}", py_leaf(leaf))));
        }
        // A dotted path follows many2one fields.
        let mut chain = Vec::new();
        let mut current = model.clone();
        let parts: Vec<&str> = path.split('.').collect();
        for (i, name) in parts.iter().enumerate() {
            let Some(field) = current.field(name).copied() else {
                return Err(OdooError::value(format!(
                    "Invalid field {}.{name} in leaf {}",
                    current.name,
                    py_leaf(leaf)
                )));
            };
            chain.push((current.name, field));
            if i + 1 < parts.len() {
                match field.ty {
                    Ty::Many2one(c) | Ty::Many2many(c) | Ty::One2many(c, _) => current = self.model(c)?,
                    _ => {
                        return Err(OdooError::value(format!(
                            "Invalid field {}.{} in leaf {}",
                            field.name,
                            parts[i + 1],
                            py_leaf(leaf)
                        )))
                    }
                }
            }
        }
        let value = leaf[2].clone();
        if matches!(op.as_str(), "in" | "not in") && !value.is_array() && !value.is_boolean() && !value.is_null() {
            // Odoo turns a scalar into a one-element list.
            return Ok(Expr::Leaf { chain, op, value: json!([value]) });
        }
        Ok(Expr::Leaf { chain, op, value })
    }

    fn eval(&self, e: &Expr, rec: &Record) -> bool {
        match e {
            Expr::Const(b) => *b,
            Expr::And(a, b) => self.eval(a, rec) && self.eval(b, rec),
            Expr::Or(a, b) => self.eval(a, rec) || self.eval(b, rec),
            Expr::Not(a) => !self.eval(a, rec),
            Expr::Leaf { chain, op, value } => self.eval_leaf(rec, chain, op, value),
        }
    }

    fn eval_leaf(&self, rec: &Record, chain: &[(&'static str, Field)], op: &str, value: &Value) -> bool {
        let (model_name, field) = chain[0];
        let Ok(model) = self.model(model_name) else { return false };
        let have = self.value(&model, rec, &field);
        if chain.len() > 1 {
            // Related records: the leaf holds if it holds for one of them.
            let comodel = match field.ty {
                Ty::Many2one(c) | Ty::Many2many(c) | Ty::One2many(c, _) => c,
                _ => return false,
            };
            let ids = as_ids(&have);
            if ids.is_empty() {
                return matches!(op, "!=" | "<>" | "not in" | "not like" | "not ilike")
                    || (op == "=" && !truthy(value));
            }
            return ids
                .iter()
                .filter_map(|id| self.get(comodel, *id))
                .any(|r| self.eval_leaf(r, &chain[1..], op, value));
        }
        match_leaf(&self.related_name(&field, &have), &field, &have, op, value)
    }

    /// The display names of the records a relational value points to (for `=`/`ilike` with a
    /// name instead of an id).
    fn related_name(&self, field: &Field, have: &Value) -> Vec<String> {
        match field.ty {
            Ty::Many2one(c) | Ty::Many2many(c) | Ty::One2many(c, _) => {
                as_ids(have).iter().filter_map(|id| self.get(c, *id).map(|r| self.display_name(c, r))).collect()
            }
            _ => Vec::new(),
        }
    }

    // ------------------------------------------------------------------
    // read
    // ------------------------------------------------------------------

    /// The fields asked (all of them when none), checked.
    pub fn fields_to_read(&self, model: &Model, fields: &Value) -> OdooResult<Vec<Field>> {
        let names: Vec<String> = match fields {
            Value::Array(a) if !a.is_empty() => a.iter().map(|f| f.as_str().unwrap_or("").to_owned()).collect(),
            Value::String(s) => vec![s.clone()],
            _ => return Ok(model.fields.clone()),
        };
        let mut out = vec![*model.field("id").expect("every model has an id")];
        for n in names {
            let f = model.field(&n).ok_or_else(|| OdooError::invalid_field(model.name, &n))?;
            if f.name != "id" {
                out.push(*f);
            }
        }
        Ok(out)
    }

    /// `read`: the records that exist, in the order asked (a record that does not exist is left
    /// out, except when only `id` is asked: Odoo then echoes the ids).
    pub fn read(&self, model: &Model, ids: &[i64], fields: &Value) -> OdooResult<Vec<Value>> {
        let fields = self.fields_to_read(model, fields)?;
        let only_id = fields.len() == 1;
        let mut out = Vec::new();
        for id in ids {
            match self.get(model.name, *id) {
                Some(rec) => {
                    let mut row = Map::new();
                    for f in &fields {
                        row.insert(f.name.to_owned(), self.render(model, rec, f));
                    }
                    out.push(Value::Object(row));
                }
                None if only_id => out.push(json!({"id": id})),
                None => {}
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------------
    // create / write / unlink
    // ------------------------------------------------------------------

    /// Checks and converts the values of a create or a write (field names, selections, dates,
    /// x2many commands); `existing` is the record written to, if any.
    pub fn convert_vals(&self, model: &Model, vals: &Value, existing: Option<&Record>) -> OdooResult<Record> {
        let Value::Object(vals) = vals else {
            return Err(OdooError::type_error(format!("{} is not a dict of values", py_repr(vals))));
        };
        let mut out = Record::new();
        for (name, v) in vals {
            let field = model.field(name).ok_or_else(|| OdooError::invalid_field(model.name, name))?;
            if field.computed || name == "id" {
                continue;
            }
            let wrong = || OdooError::value(format!("Wrong value for {}.{}: {}", model.name, name, py_repr(v)));
            let stored = match field.ty {
                Ty::Selection(options) => match v {
                    Value::String(s) if options.contains(&s.as_str()) => v.clone(),
                    Value::Null | Value::Bool(false) => json!(false),
                    _ => return Err(wrong()),
                },
                Ty::Date => match v {
                    Value::String(s) => match Date::parse(s) {
                        Some(d) => json!(d.to_string()),
                        None => {
                            return Err(OdooError::value(format!(
                                "time data {} does not match format '%Y-%m-%d'",
                                py_str(s.get(..10).unwrap_or(s))
                            )))
                        }
                    },
                    Value::Null | Value::Bool(false) => json!(false),
                    _ => return Err(wrong()),
                },
                Ty::Many2one(_) => match v {
                    Value::Null | Value::Bool(false) => json!(false),
                    other => json!(as_id(other).ok_or_else(wrong)?),
                },
                Ty::Many2many(_) => {
                    let current = existing.and_then(|r| r.get(name)).map(as_ids).unwrap_or_default();
                    json!(apply_m2m_commands(current, v).ok_or_else(wrong)?)
                }
                Ty::One2many(..) => continue, // handled by the model (account.move lines)
                Ty::Integer => match v {
                    Value::Null | Value::Bool(false) => json!(0),
                    other => json!(as_id(other).ok_or_else(wrong)?),
                },
                Ty::Monetary => match v {
                    Value::Number(_) => v.clone(),
                    Value::Null | Value::Bool(false) => json!(0.0),
                    Value::String(s) => json!(s.trim().parse::<f64>().map_err(|_| wrong())?),
                    _ => return Err(wrong()),
                },
                Ty::Boolean => json!(truthy(v)),
                Ty::Char | Ty::Html | Ty::Binary => match v {
                    Value::Null | Value::Bool(false) => json!(false),
                    Value::String(_) => v.clone(),
                    Value::Number(_) => json!(py_repr(v)),
                    _ => return Err(wrong()),
                },
                Ty::Json | Ty::Datetime => match v {
                    Value::Null => json!(false),
                    other => other.clone(),
                },
            };
            out.insert(name.clone(), stored);
        }
        Ok(out)
    }

    /// NOT NULL constraints, as `_as_validation_error` words them.
    pub fn check_required(&self, model: &Model, rec: &Record) -> OdooResult<()> {
        for f in model.fields.iter().filter(|f| f.required && !f.computed) {
            let set = match rec.get(f.name) {
                None | Some(Value::Null) | Some(Value::Bool(false)) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            };
            if !set {
                return Err(OdooError::validation(format!(
                    "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nField: {} ({})\n",
                    model.description, model.name, f.string, f.name
                )));
            }
        }
        Ok(())
    }

    /// Foreign keys: every many2one must point to a record that exists.
    pub fn check_foreign_keys(&self, model: &Model, rec: &Record) -> OdooResult<()> {
        for f in &model.fields {
            if let (Ty::Many2one(comodel), Some(id)) = (f.ty, rec.get(f.name).and_then(as_id)) {
                if f.computed || self.get(comodel, id).is_some() {
                    continue;
                }
                return Err(fk_error(model, f.name));
            }
        }
        Ok(())
    }

    /// The default values Odoo gives to the fields every model has.
    fn defaults(&self, env: &Env, model: &Model, rec: &mut Record) {
        if model.has("active") {
            rec.entry("active").or_insert(json!(true));
        }
        if model.has("company_id") && model.company_rule == CompanyRule::Company {
            rec.entry("company_id").or_insert(json!(env.company()));
        }
        if model.name == "ir.attachment" {
            rec.entry("type").or_insert(json!("binary"));
            let size = rec.get("datas").and_then(Value::as_str).map(base64_len).unwrap_or(0);
            rec.insert("file_size".into(), json!(size));
        }
        if model.name == "account.journal" {
            rec.entry("sequence").or_insert(json!(10));
        }
    }

    /// A generic `create` of one record.
    pub fn create_plain(&mut self, env: &Env, model: &Model, vals: &Value) -> OdooResult<i64> {
        let mut rec = self.convert_vals(model, vals, None)?;
        self.defaults(env, model, &mut rec);
        self.check_required(model, &rec)?;
        self.check_foreign_keys(model, &rec)?;
        Ok(self.insert(model.name, rec))
    }

    /// Checks that every id exists (`MissingError` otherwise).
    pub fn ensure_exist(&self, env: &Env, model: &Model, ids: &[i64]) -> OdooResult<()> {
        let missing: Vec<i64> = ids.iter().copied().filter(|id| self.get(model.name, *id).is_none()).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(OdooError::missing(model.name, &missing, env.uid))
        }
    }

    /// A generic `write`.
    pub fn write_plain(&mut self, env: &Env, model: &Model, ids: &[i64], vals: &Value) -> OdooResult<()> {
        self.ensure_exist(env, model, ids)?;
        for id in ids {
            let current = self.get(model.name, *id).cloned().unwrap_or_default();
            let changes = self.convert_vals(model, vals, Some(&current))?;
            let mut updated = current;
            updated.extend(changes);
            self.check_required(model, &updated)?;
            self.check_foreign_keys(model, &updated)?;
            self.tables.entry(model.name.to_owned()).or_default().insert(*id, updated);
        }
        Ok(())
    }

    /// A generic `unlink`: refused while another record points to one of these (a foreign key
    /// without ON DELETE CASCADE).
    pub fn unlink_plain(&mut self, env: &Env, model: &Model, ids: &[i64]) -> OdooResult<()> {
        self.ensure_exist(env, model, ids)?;
        for other in schema::MODELS {
            let Ok(m) = self.model(other) else { continue };
            for f in m.fields.iter().filter(|f| !f.computed) {
                if f.ty != Ty::Many2one(model.name) {
                    continue;
                }
                if self.all(other).any(|r| r.get(f.name).and_then(as_id).is_some_and(|id| ids.contains(&id))) {
                    return Err(fk_error(&m, f.name));
                }
            }
        }
        for id in ids {
            self.remove(model.name, *id);
        }
        Ok(())
    }

    /// The journal items of a move, by id.
    pub fn lines_of(&self, move_id: i64) -> Vec<Record> {
        self.all("account.move.line").filter(|l| l.get("move_id").and_then(as_id) == Some(move_id)).cloned().collect()
    }
}

/// `_as_validation_error` for a foreign key violation.
pub fn fk_error(model: &Model, field: &str) -> OdooError {
    OdooError::validation(format!(
        "The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nConstraint: {}_{field}_fkey\n",
        model.description,
        model.name,
        model.name.replace('.', "_")
    ))
}

/// The decoded size of a base64 text.
fn base64_len(s: &str) -> usize {
    let s = s.trim();
    let padding = s.chars().rev().take_while(|c| *c == '=').count();
    (s.len() / 4 * 3).saturating_sub(padding)
}

/// Many2many commands: `[[6, 0, ids]]`, `[[4, id]]`, `[[3, id]]`, `[[5]]`, or a plain list of ids.
fn apply_m2m_commands(mut current: Vec<i64>, v: &Value) -> Option<Vec<i64>> {
    let list = v.as_array()?;
    if list.iter().all(|x| x.is_number()) {
        return Some(list.iter().filter_map(as_id).collect());
    }
    for cmd in list {
        let c = cmd.as_array()?;
        match c.first().and_then(Value::as_i64)? {
            6 => current = c.get(2).map(as_ids).unwrap_or_default(),
            4 => {
                let id = as_id(c.get(1)?)?;
                if !current.contains(&id) {
                    current.push(id);
                }
            }
            3 => {
                let id = as_id(c.get(1)?)?;
                current.retain(|x| *x != id);
            }
            5 => current.clear(),
            _ => return None,
        }
    }
    Some(current)
}

#[derive(Debug, Clone)]
enum Expr {
    Const(bool),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Leaf { chain: Vec<(&'static str, Field)>, op: String, value: Value },
}

/// Whether a stored value satisfies `op value` (SQL semantics: NULL never equals anything, and
/// `!=`/`not in`/`not like` include NULLs, as Odoo's generated SQL does).
fn match_leaf(names: &[String], field: &Field, have: &Value, op: &str, value: &Value) -> bool {
    let relational = matches!(field.ty, Ty::Many2one(_) | Ty::Many2many(_) | Ty::One2many(..));
    let have_list: Vec<Value> = match (field.ty, have) {
        (Ty::Many2many(_) | Ty::One2many(..), Value::Array(a)) => a.clone(),
        (Ty::Many2one(_), v) => as_id(v).map(|i| vec![json!(i)]).unwrap_or_default(),
        (Ty::Boolean, v) => vec![json!(truthy(v))],
        (_, Value::Bool(false) | Value::Null) => Vec::new(),
        (_, v) => vec![v.clone()],
    };
    let is_null = have_list.is_empty();
    let eq = |x: &Value, y: &Value| -> bool {
        match (x, y) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::Number(_), Value::String(s)) if relational => names.iter().any(|n| n == s),
            (a, b) => a == b,
        }
    };
    let any_eq = |v: &Value| have_list.iter().any(|h| eq(h, v));
    let like = |pattern: &str, insensitive: bool, anchored: bool| -> bool {
        let texts: Vec<String> = if relational {
            names.to_vec()
        } else {
            have_list.iter().map(|h| h.as_str().map_or_else(|| h.to_string(), str::to_owned)).collect()
        };
        let pattern = if anchored { pattern.to_owned() } else { format!("%{pattern}%") };
        texts.iter().any(|t| sql_like(t, &pattern, insensitive))
    };
    match op {
        "=" | "=?" => {
            if op == "=?" && !truthy(value) {
                return true;
            }
            match value {
                Value::Bool(false) | Value::Null if field.ty != Ty::Boolean => is_null,
                v => any_eq(v),
            }
        }
        "!=" | "<>" => match value {
            Value::Bool(false) | Value::Null if field.ty != Ty::Boolean => !is_null,
            v => !any_eq(v),
        },
        "in" | "child_of" | "parent_of" => {
            let list = value.as_array().cloned().unwrap_or_default();
            let wants_null = list.iter().any(|v| matches!(v, Value::Bool(false) | Value::Null));
            (wants_null && is_null && field.ty != Ty::Boolean) || list.iter().any(any_eq)
        }
        "not in" => {
            let list = value.as_array().cloned().unwrap_or_default();
            let excludes_null = list.iter().any(|v| matches!(v, Value::Bool(false) | Value::Null));
            if is_null {
                !excludes_null
            } else {
                !list.iter().any(any_eq)
            }
        }
        "like" | "ilike" | "=like" | "=ilike" => {
            let pattern = value.as_str().map_or_else(|| py_repr(value), str::to_owned);
            like(&pattern, op.ends_with("ilike"), op.starts_with('='))
        }
        "not like" | "not ilike" => {
            let pattern = value.as_str().map_or_else(|| py_repr(value), str::to_owned);
            is_null || !like(&pattern, op == "not ilike", false)
        }
        "<" | ">" | "<=" | ">=" => have_list.iter().any(|h| {
            let o = match (h, value) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
                (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
                _ => None,
            };
            matches!(
                (op, o),
                ("<", Some(Ordering::Less))
                    | (">", Some(Ordering::Greater))
                    | ("<=", Some(Ordering::Less | Ordering::Equal))
                    | (">=", Some(Ordering::Greater | Ordering::Equal))
            )
        }),
        _ => false,
    }
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes.
fn sql_like(text: &str, pattern: &str, insensitive: bool) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = if insensitive {
        (text.to_lowercase().chars().collect(), pattern.to_lowercase().chars().collect())
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    fn go(t: &[char], p: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| go(&t[i..], &p[1..])),
            Some('_') => !t.is_empty() && go(&t[1..], &p[1..]),
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && go(&t[1..], &p[2..]),
            Some(c) => t.first() == Some(c) && go(&t[1..], &p[1..]),
        }
    }
    go(&t, &p)
}

/// PostgreSQL's order: NULLs last ascending, first descending.
fn cmp_values(a: &Value, b: &Value, desc: bool) -> Ordering {
    let o = match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    };
    if desc {
        o.reverse()
    } else {
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(sql_like("Salaires", "%LAIR%", true));
        assert!(!sql_like("Salaires", "%LAIR%", false));
        assert!(sql_like("6411", "64_1", false));
        assert!(sql_like("50%", "50\\%", false));
    }

    #[test]
    fn m2m_commands() {
        assert_eq!(apply_m2m_commands(vec![1], &json!([[6, 0, [2, 3]]])), Some(vec![2, 3]));
        assert_eq!(apply_m2m_commands(vec![1], &json!([[4, 2]])), Some(vec![1, 2]));
        assert_eq!(apply_m2m_commands(vec![1], &json!([2])), Some(vec![2]));
        assert_eq!(base64_len("e30="), 2);
    }
}
