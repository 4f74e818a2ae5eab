//! Odoo's RPC services on the simulated database: `common` (version, authenticate, login),
//! `object` (execute_kw, execute) and JSON-2's `/json/2/<model>/<method>`, with the argument
//! checks and errors of Odoo's dispatchers.

use serde_json::{json, Map, Value};

use super::account;
use super::error::{Kind, OdooError, OdooResult};
use super::fmt::py_str;
use super::orm::{as_id, as_ids, Db, Env};
use super::OdooSimConfig;

/// The user every call runs as (the database's admin).
pub const ADMIN_UID: i64 = 2;

/// `common.version()`.
pub fn version(cfg: &OdooSimConfig) -> Value {
    let v = cfg.version;
    json!({
        "server_version": format!("{v}.0"),
        "server_version_info": [v, 0, 0, "final", 0, ""],
        "server_serie": format!("{v}.0"),
        "protocol_version": 1,
    })
}

/// psycopg2's error when the database does not exist (Odoo connects before anything else).
fn no_database(db: &str) -> OdooError {
    OdooError::new(
        Kind::OperationalError,
        format!(
            "connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  database \"{db}\" does not exist\n"
        ),
    )
}

/// Python's TypeError for a call with too few or too many positional arguments.
fn arity_error(function: &str, names: &[&str], required: usize, given: usize) -> OdooError {
    if given > names.len() {
        let takes = if required == names.len() {
            format!("{} positional argument{}", names.len(), if names.len() == 1 { "" } else { "s" })
        } else {
            format!("from {required} to {} positional arguments", names.len())
        };
        let were = if given == 1 { "was" } else { "were" };
        return OdooError::type_error(format!("{function}() takes {takes} but {given} {were} given"));
    }
    missing_error(function, &names[given..required])
}

fn missing_error(function: &str, missing: &[&str]) -> OdooError {
    let quoted: Vec<String> = missing.iter().map(|m| format!("'{m}'")).collect();
    let list = match quoted.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
        [] => String::new(),
    };
    OdooError::type_error(format!(
        "{function}() missing {} required positional argument{}: {list}",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" }
    ))
}

/// Whether `secret` opens `uid`'s account: the password or the API key (Odoo accepts both in
/// RPC), for an active user.
fn credentials_ok(cfg: &OdooSimConfig, db: &Db, uid: i64, secret: &Value) -> OdooResult<bool> {
    let user = db.get("res.users", uid).ok_or_else(|| OdooError::missing("res.users", &[uid], uid))?;
    let active = user.get("active") != Some(&json!(false));
    let Some(secret) = secret.as_str() else { return Ok(false) };
    Ok(active && uid == ADMIN_UID && !secret.is_empty() && (secret == cfg.password || secret == cfg.api_key))
}

/// The `common` service.
pub fn common(cfg: &OdooSimConfig, db: &Db, method: &str, args: &[Value]) -> OdooResult<Value> {
    match method {
        "version" => Ok(version(cfg)),
        "authenticate" | "login" => {
            let (function, names): (&str, &[&str]) = if method == "login" {
                ("exp_login", &["db", "login", "password"])
            } else {
                ("exp_authenticate", &["db", "login", "password", "user_agent_env"])
            };
            if args.len() != names.len() {
                return Err(arity_error(function, names, names.len(), args.len()));
            }
            let database = args[0].as_str().unwrap_or_default();
            if database != cfg.database {
                return Err(no_database(database));
            }
            let login = args[1].as_str().unwrap_or_default();
            let uid = db
                .all("res.users")
                .find(|u| u.get("login").and_then(Value::as_str) == Some(login))
                .and_then(|u| u["id"].as_i64());
            match uid {
                Some(uid) if credentials_ok(cfg, db, uid, &args[2])? => Ok(json!(uid)),
                _ => Ok(json!(false)),
            }
        }
        other => Err(OdooError::new(Kind::Exception, format!("Method not found: {other}"))),
    }
}

/// A model call's target, read from an `object` service call (for the call log and faults).
pub fn object_target(method: &str, args: &[Value]) -> (String, String) {
    match (args.get(3).and_then(Value::as_str), args.get(4).and_then(Value::as_str)) {
        (Some(model), Some(m)) if method == "execute_kw" || method == "execute" => (model.to_owned(), m.to_owned()),
        _ => ("object".to_owned(), method.to_owned()),
    }
}

/// The `object` service: `execute_kw(db, uid, secret, model, method, args, kwargs)` and
/// `execute(db, uid, secret, model, method, *args)`.
pub fn object(cfg: &OdooSimConfig, db: &mut Db, method: &str, args: &[Value]) -> OdooResult<Value> {
    if method != "execute_kw" && method != "execute" {
        return Err(OdooError::new(Kind::Exception, format!("Method not found: {method}")));
    }
    if args.len() < 3 {
        return Err(OdooError::new(Kind::IndexError, "list index out of range"));
    }
    let database = args[0].as_str().unwrap_or_default();
    if database != cfg.database {
        return Err(no_database(database));
    }
    let uid = match &args[1] {
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| OdooError::value(format!("invalid literal for int() with base 10: {}", py_str(s))))?,
        Value::Bool(b) => i64::from(*b),
        other => as_id(other).ok_or_else(|| {
            OdooError::type_error(format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                type_name(other)
            ))
        })?,
    };
    if !credentials_ok(cfg, db, uid, &args[2])? {
        return Err(OdooError::access_denied());
    }
    let rest = &args[3..];
    let (model, name, call_args, kwargs) = if method == "execute_kw" {
        let names = ["db", "uid", "obj", "method", "args", "kw"];
        if rest.len() < 3 || rest.len() > 4 {
            return Err(arity_error("execute_kw", &names, 5, rest.len() + 2));
        }
        let kwargs = match rest.get(3) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(other) => {
                return Err(OdooError::type_error(format!(
                    "odoo.api.call_kw() argument after ** must be a mapping, not {}",
                    type_name(other)
                )))
            }
        };
        let call_args = match &rest[2] {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        (&rest[0], &rest[1], call_args, kwargs)
    } else {
        if rest.len() < 2 {
            return Err(arity_error("execute", &["db", "uid", "obj", "method"], 4, rest.len() + 2));
        }
        (&rest[0], &rest[1], rest[2..].to_vec(), Map::new())
    };
    let (Some(model), Some(name)) = (model.as_str(), name.as_str()) else {
        return Err(OdooError::type_error("model and method must be strings"));
    };
    call_kw(db, uid, model, name, call_args, kwargs, Protocol::Rpc)
}

fn type_name(v: &Value) -> &'static str {
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

/// Which dispatcher calls the method: they word binding errors differently.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JSON-RPC and XML-RPC (`odoo.api.call_kw`).
    Rpc,
    /// JSON-2 (`inspect.signature(...).bind`).
    Json2,
}

/// A method's Python signature (without `self`).
struct Sig {
    class: &'static str,
    params: &'static [&'static str],
    required: usize,
    /// `@api.model`: no ids.
    model_method: bool,
    /// Takes `**kwargs`.
    var_kw: bool,
}

fn signature(db: &Db, model: &str, method: &str) -> Option<Sig> {
    // The class of the most derived override, as Python names it in a TypeError (Odoo 18).
    let write_class = match model {
        "account.move" => "AccountMove",
        "account.move.line" => "AccountMoveLine",
        "account.journal" => "AccountJournal",
        "account.account" => "AccountAccount",
        "account.analytic.account" => "MailThread",
        "ir.attachment" => "IrAttachment",
        "mail.message" => "Message",
        "res.users" => "Users",
        "res.company" => "ResCompany",
        "ir.module.module" => "IrModule",
        _ => "BaseModel",
    };
    let unlink_class = match model {
        "account.move" => "AccountMove",
        "account.move.line" => "AccountMoveLine",
        "account.journal" => "AccountJournal",
        "account.account" | "account.analytic.account" | "res.company" => "MailThread",
        "account.analytic.plan" => "AccountAnalyticPlan",
        "ir.attachment" => "IrAttachment",
        "mail.message" => "Message",
        "res.users" => "ResUsers",
        "ir.module.module" => "Module",
        _ => "BaseModel",
    };
    // Overrides do not all name their parameter alike: `values` on res.company and res.users.
    let write_params: &'static [&'static str] =
        if matches!(model, "res.company" | "res.users") { &["values"] } else { &["vals"] };
    let create_params: &'static [&'static str] =
        if model == "mail.message" { &["values_list"] } else { &["vals_list"] };
    let sig = |class: &'static str, params: &'static [&'static str], required, model_method, var_kw| {
        Some(Sig { class, params, required, model_method, var_kw })
    };
    match method {
        "search_read" => sig("BaseModel", &["domain", "fields", "offset", "limit", "order"], 0, true, true),
        "search" => sig("BaseModel", &["domain", "offset", "limit", "order"], 1, true, false),
        "search_count" => sig("BaseModel", &["domain", "limit"], 1, true, false),
        "read" => sig("BaseModel", &["fields", "load"], 0, false, false),
        // `create` is wrapped by `api.model_create_multi`: Python names it without its class.
        "create" => sig("", create_params, 1, true, false),
        "write" => sig(write_class, write_params, 1, false, false),
        "unlink" => sig(unlink_class, &[], 0, false, false),
        "fields_get" => sig("BaseModel", &["allfields", "attributes"], 0, true, false),
        "name_search" if db.version >= 18 => sig("BaseModel", &["name", "domain", "operator", "limit"], 0, true, false),
        "name_search" => sig("BaseModel", &["name", "args", "operator", "limit"], 0, true, false),
        "action_post" | "button_draft" if model == "account.move" => sig("AccountMove", &[], 0, false, false),
        "reconcile" if model == "account.move.line" => sig("AccountMoveLine", &[], 0, false, false),
        "payflow_import" if model == "account.move" && db.addon => sig("AccountMove", &["moves"], 1, true, false),
        "payflow_import_plan" if model == "account.move" && db.addon && db.addon_plan => sig(
            "AccountMove",
            &[
                "company_id",
                "journal_code",
                "moves",
                "account_map",
                "analytic_map",
                "dry_run",
                "attachment",
                "key_prefix",
                "corrections",
                "partner_map",
            ],
            3,
            true,
            false,
        ),
        _ => None,
    }
}

/// The arguments bound to a signature's parameters, and the named ones left for `**kwargs`.
type Bound = (Vec<Option<Value>>, Map<String, Value>);

/// Binds positional and named arguments to the signature, or fails as Python does.
fn bind(
    sig: &Sig,
    method: &str,
    args: Vec<Value>,
    mut kwargs: Map<String, Value>,
    protocol: Protocol,
) -> OdooResult<Bound> {
    let function = if sig.class.is_empty() { method.to_owned() } else { format!("{}.{method}", sig.class) };
    let fail = |python: String, inspect: String| -> OdooError {
        match protocol {
            Protocol::Rpc => OdooError::type_error(python),
            Protocol::Json2 => OdooError::new(Kind::UnprocessableEntity, inspect),
        }
    };
    if args.len() > sig.params.len() {
        // `self` counts in Python's message.
        let names: Vec<&str> = std::iter::once("self").chain(sig.params.iter().copied()).collect();
        let e = arity_error(&function, &names, sig.required + 1, args.len() + 1);
        return Err(fail(e.message, "too many positional arguments".into()));
    }
    let mut bound: Vec<Option<Value>> = args.into_iter().map(Some).collect();
    bound.resize(sig.params.len(), None);
    for (i, p) in sig.params.iter().enumerate() {
        if let Some(v) = kwargs.remove(*p) {
            if bound[i].is_some() {
                return Err(fail(
                    format!("{function}() got multiple values for argument '{p}'"),
                    format!("multiple values for argument '{p}'"),
                ));
            }
            bound[i] = Some(v);
        }
    }
    if !sig.var_kw {
        if let Some(k) = kwargs.keys().next() {
            return Err(fail(
                format!("{function}() got an unexpected keyword argument '{k}'"),
                format!("got an unexpected keyword argument '{k}'"),
            ));
        }
    }
    let missing: Vec<&str> =
        sig.params[..sig.required].iter().enumerate().filter(|(i, _)| bound[*i].is_none()).map(|(_, p)| *p).collect();
    if !missing.is_empty() {
        let e = missing_error(&function, &missing);
        return Err(fail(e.message, format!("missing a required argument: '{}'", missing[0])));
    }
    Ok((bound, kwargs))
}

/// `odoo.api.call_kw`: the model, the method (public, existing), the arguments, then the call in
/// one transaction.
pub fn call_kw(
    db: &mut Db,
    uid: i64,
    model: &str,
    method: &str,
    mut args: Vec<Value>,
    mut kwargs: Map<String, Value>,
    protocol: Protocol,
) -> OdooResult<Value> {
    db.model(model)?;
    if method.starts_with('_') {
        return Err(OdooError::new(
            Kind::AccessError,
            format!("Private methods (such as {method}) cannot be called remotely."),
        ));
    }
    let sig = signature(db, model, method).ok_or_else(|| {
        OdooError::new(Kind::AttributeError, format!("The method '{method}' does not exist on the model '{model}'"))
    })?;
    let context = match kwargs.remove("context") {
        Some(Value::Object(c)) => c,
        _ => Map::new(),
    };
    let ids = if sig.model_method {
        Vec::new()
    } else {
        if args.is_empty() {
            return Err(OdooError::new(Kind::IndexError, "tuple index out of range"));
        }
        as_ids(&args.remove(0))
    };
    let positional = !args.is_empty();
    let (bound, extra) = bind(&sig, method, args, kwargs, protocol)?;
    if method == "create" && !positional {
        // `_call_kw_model_create` returns `result.id if isinstance(args[0], Mapping) else
        // result.ids`: values given by name fail there, and the call is rolled back.
        return Err(OdooError::new(Kind::IndexError, "tuple index out of range"));
    }
    let env = db.env(uid, context)?;
    commit(db, method, |work| run(work, &env, model, method, &ids, &bound, &extra, protocol))
}

/// The methods that change nothing.
const READ_ONLY: &[&str] = &["search_read", "search", "search_count", "read", "fields_get", "name_search"];

/// Runs a method on a copy of the database and keeps the copy if it succeeds: one transaction.
fn commit(db: &mut Db, method: &str, f: impl FnOnce(&mut Db) -> OdooResult<Value>) -> OdooResult<Value> {
    if READ_ONLY.contains(&method) {
        return f(db);
    }
    let mut work = db.clone();
    let result = f(&mut work)?;
    work.generation += 1;
    *db = work;
    Ok(result)
}

/// JSON-2: `POST /json/2/<model>/<method>` with the named arguments (and `ids`, `context`).
pub fn json2(db: &mut Db, uid: i64, model: &str, method: &str, body: Value) -> OdooResult<Value> {
    let mut kwargs = match body {
        Value::Object(o) => o,
        Value::Null => Map::new(),
        other => {
            return Err(OdooError::new(
                Kind::UnprocessableEntity,
                format!("the body must be a JSON object, not {}", type_name(&other)),
            ))
        }
    };
    if db.model(model).is_err() {
        return Err(OdooError::new(Kind::NotFound, format!("the model {} does not exist", py_str(model))));
    }
    if method.starts_with('_') {
        return Err(OdooError::new(
            Kind::AccessError,
            format!("Private methods (such as {method}) cannot be called remotely."),
        ));
    }
    let Some(sig) = signature(db, model, method) else {
        return Err(OdooError::new(
            Kind::NotFound,
            format!("The method '{method}' does not exist on the model '{model}'"),
        ));
    };
    let ids = kwargs.remove("ids").map(|v| as_ids(&v)).unwrap_or_default();
    if sig.model_method && !ids.is_empty() {
        return Err(OdooError::new(Kind::UnprocessableEntity, format!("cannot call {model}.{method} with ids")));
    }
    let context = match kwargs.remove("context") {
        Some(Value::Object(c)) => c,
        _ => Map::new(),
    };
    let (bound, extra) = bind(&sig, method, Vec::new(), kwargs, Protocol::Json2)?;
    let env = db.env(uid, context)?;
    commit(db, method, |work| run(work, &env, model, method, &ids, &bound, &extra, Protocol::Json2))
}

fn arg(bound: &[Option<Value>], i: usize) -> Option<&Value> {
    bound.get(i).and_then(Option::as_ref).filter(|v| !v.is_null())
}

fn usize_arg(bound: &[Option<Value>], i: usize, name: &str) -> OdooResult<Option<usize>> {
    match arg(bound, i) {
        None | Some(Value::Bool(false)) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| OdooError::value(format!("Invalid {name}: {}", super::fmt::py_repr(v)))),
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    db: &mut Db,
    env: &Env,
    model: &str,
    method: &str,
    ids: &[i64],
    bound: &[Option<Value>],
    extra: &Map<String, Value>,
    protocol: Protocol,
) -> OdooResult<Value> {
    let m = db.model(model)?;
    let empty = json!([]);
    match method {
        "search_read" => {
            if let Some(k) = extra.keys().find(|k| *k != "load") {
                return Err(OdooError::type_error(format!(
                    "BaseModel._read_format() got an unexpected keyword argument '{k}'"
                )));
            }
            let domain = arg(bound, 0).unwrap_or(&empty);
            let offset = usize_arg(bound, 2, "offset")?.unwrap_or(0);
            let limit = usize_arg(bound, 3, "limit")?;
            let order = arg(bound, 4).and_then(Value::as_str);
            let fields = arg(bound, 1).cloned().unwrap_or(Value::Null);
            db.fields_to_read(&m, &fields)?;
            let found = db.search(env, &m, domain, offset, limit, order)?;
            Ok(Value::Array(db.read(&m, &found, &fields)?))
        }
        "search" | "search_count" => {
            let domain = arg(bound, 0).unwrap_or(&empty);
            if method == "search_count" {
                let limit = usize_arg(bound, 1, "limit")?;
                return Ok(json!(db.search(env, &m, domain, 0, limit, None)?.len()));
            }
            let offset = usize_arg(bound, 1, "offset")?.unwrap_or(0);
            let limit = usize_arg(bound, 2, "limit")?;
            let order = arg(bound, 3).and_then(Value::as_str);
            Ok(json!(db.search(env, &m, domain, offset, limit, order)?))
        }
        "read" => Ok(Value::Array(db.read(&m, ids, arg(bound, 0).unwrap_or(&Value::Null))?)),
        "create" => {
            let vals = arg(bound, 0).cloned().unwrap_or(json!({}));
            match vals {
                Value::Array(list) => {
                    let mut out = Vec::new();
                    for v in &list {
                        out.push(account::create(db, env, model, v)?);
                    }
                    Ok(json!(out))
                }
                v => {
                    let id = account::create(db, env, model, &v)?;
                    // JSON-2 answers the recordset's ids; call_kw downgrades one record to its id.
                    Ok(if protocol == Protocol::Json2 { json!([id]) } else { json!(id) })
                }
            }
        }
        "write" => {
            account::write(db, env, model, ids, arg(bound, 0).unwrap_or(&json!({})))?;
            Ok(json!(true))
        }
        "unlink" => {
            account::unlink(db, env, model, ids)?;
            Ok(json!(true))
        }
        "fields_get" => {
            let wanted: Vec<String> = arg(bound, 0)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let attributes: Vec<String> = arg(bound, 1)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let mut out = Map::new();
            for f in m.fields.iter().filter(|f| wanted.is_empty() || wanted.iter().any(|w| w == f.name)) {
                let mut desc = Map::new();
                let mut put = |k: &str, v: Value| {
                    if attributes.is_empty() || attributes.iter().any(|a| a == k) {
                        desc.insert(k.to_owned(), v);
                    }
                };
                put("type", json!(f.ty.odoo_name()));
                put("string", json!(f.string));
                put("required", json!(f.required));
                put("readonly", json!(f.computed));
                if let super::schema::Ty::Many2one(c)
                | super::schema::Ty::Many2many(c)
                | super::schema::Ty::One2many(c, _) = f.ty
                {
                    put("relation", json!(c));
                }
                if let super::schema::Ty::Selection(options) = f.ty {
                    put("selection", json!(options.iter().map(|o| [o, o]).collect::<Vec<_>>()));
                }
                out.insert(f.name.to_owned(), Value::Object(desc));
            }
            Ok(Value::Object(out))
        }
        "name_search" => {
            let name = arg(bound, 0).and_then(Value::as_str).unwrap_or("");
            let operator = arg(bound, 2).and_then(Value::as_str).unwrap_or("ilike");
            let mut domain = arg(bound, 1).and_then(Value::as_array).cloned().unwrap_or_default();
            if !name.is_empty() {
                domain.push(json!(["display_name", operator, name]));
            }
            let limit = usize_arg(bound, 3, "limit")?.or(Some(100));
            let found = db.search(env, &m, &Value::Array(domain), 0, limit, None)?;
            let field = m.field("display_name").copied().expect("every model has a display name");
            Ok(json!(found
                .iter()
                .filter_map(|id| db.get(model, *id))
                .map(|r| json!([r["id"], db.value(&m, r, &field)]))
                .collect::<Vec<_>>()))
        }
        "action_post" => {
            account::action_post(db, env, ids)?;
            Ok(json!(false))
        }
        "button_draft" => {
            account::button_draft(db, env, ids)?;
            // Returns None: JSON-RPC answers without `result`, XML-RPC cannot marshal it.
            Ok(Value::Null)
        }
        "reconcile" => {
            account::reconcile(db, env, ids)?;
            // `_reconcile_plan` returns None: JSON-RPC answers `null`.
            Ok(Value::Null)
        }
        "payflow_import" => account::payflow_import(db, env, arg(bound, 0).unwrap_or(&Value::Null)),
        "payflow_import_plan" => {
            let args: Vec<Option<&Value>> = (0..10).map(|i| arg(bound, i)).collect();
            account::payflow_import_plan(db, env, &args)
        }
        _ => Err(OdooError::new(
            Kind::AttributeError,
            format!("The method '{method}' does not exist on the model '{model}'"),
        )),
    }
}
