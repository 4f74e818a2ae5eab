//! Odoo's exceptions, and how each protocol renders them: a JSON-RPC `error` object, an
//! XML-RPC fault (Odoo's integer codes) or a JSON-2 body with an HTTP status.

use serde_json::{json, Value};

/// The Python exception class an error stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccessDenied,
    AccessError,
    UserError,
    ValidationError,
    MissingError,
    RedirectWarning,
    ValueError,
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    /// `builtins.Exception` (the `common` service's "Method not found").
    Exception,
    /// psycopg2's, when the database does not exist.
    OperationalError,
    /// JSON-2's HTTP exceptions (werkzeug).
    NotFound,
    Unauthorized,
    UnprocessableEntity,
    BadRequest,
}

/// An exception raised by the simulated server, with Odoo's message.
#[derive(Debug, Clone, PartialEq)]
pub struct OdooError {
    pub kind: Kind,
    pub message: String,
}

pub type OdooResult<T> = Result<T, OdooError>;

impl OdooError {
    pub fn new(kind: Kind, message: impl Into<String>) -> OdooError {
        OdooError { kind, message: message.into() }
    }

    pub fn access_denied() -> OdooError {
        OdooError::new(Kind::AccessDenied, "Access Denied")
    }

    pub fn user(message: impl Into<String>) -> OdooError {
        OdooError::new(Kind::UserError, message)
    }

    pub fn validation(message: impl Into<String>) -> OdooError {
        OdooError::new(Kind::ValidationError, message)
    }

    pub fn value(message: impl Into<String>) -> OdooError {
        OdooError::new(Kind::ValueError, message)
    }

    pub fn type_error(message: impl Into<String>) -> OdooError {
        OdooError::new(Kind::TypeError, message)
    }

    /// `MissingError` as `BaseModel._check_exists`/`browse` raise it.
    pub fn missing(model: &str, ids: &[i64], uid: i64) -> OdooError {
        // A recordset's repr: `account.move(5,)`, `account.move(5, 6)`.
        let shown = match ids {
            [one] => format!("{one},"),
            many => many.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
        };
        OdooError::new(
            Kind::MissingError,
            format!("Record does not exist or has been deleted.\n(Record: {model}({shown}), User: {uid})"),
        )
    }

    /// `ValueError` for a field name the model does not have (read, create, write).
    pub fn invalid_field(model: &str, field: &str) -> OdooError {
        OdooError::value(format!("Invalid field {} on model {}", super::fmt::py_str(field), super::fmt::py_str(model)))
    }

    /// The fully qualified class name Odoo serializes (`data.name`).
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::AccessDenied => "odoo.exceptions.AccessDenied",
            Kind::AccessError => "odoo.exceptions.AccessError",
            Kind::UserError => "odoo.exceptions.UserError",
            Kind::ValidationError => "odoo.exceptions.ValidationError",
            Kind::MissingError => "odoo.exceptions.MissingError",
            Kind::RedirectWarning => "odoo.exceptions.RedirectWarning",
            Kind::ValueError => "builtins.ValueError",
            Kind::TypeError => "builtins.TypeError",
            Kind::AttributeError => "builtins.AttributeError",
            Kind::KeyError => "builtins.KeyError",
            Kind::IndexError => "builtins.IndexError",
            Kind::Exception => "builtins.Exception",
            Kind::OperationalError => "psycopg2.OperationalError",
            Kind::NotFound => "werkzeug.exceptions.NotFound",
            Kind::Unauthorized => "werkzeug.exceptions.Unauthorized",
            Kind::UnprocessableEntity => "werkzeug.exceptions.UnprocessableEntity",
            Kind::BadRequest => "werkzeug.exceptions.BadRequest",
        }
    }

    /// The name as Python's traceback prints it (built-ins without their module).
    fn traceback_name(&self) -> &'static str {
        let name = self.name();
        name.strip_prefix("builtins.").unwrap_or(name)
    }

    /// Whether Odoo counts it as a user-facing error (a subclass of `UserError`).
    fn is_user_error(&self) -> bool {
        matches!(
            self.kind,
            Kind::AccessDenied | Kind::AccessError | Kind::UserError | Kind::ValidationError | Kind::MissingError
        )
    }

    /// `exception.args` as serialized in `arguments`.
    fn arguments(&self, status: u16) -> Value {
        match self.kind {
            Kind::NotFound | Kind::Unauthorized | Kind::UnprocessableEntity | Kind::BadRequest => {
                json!([self.message, status])
            }
            _ => json!([self.message]),
        }
    }

    /// A traceback whose last line is `module.Exception: message`, as Python formats it.
    pub fn traceback(&self) -> String {
        format!(
            "Traceback (most recent call last):\n  File \"/opt/odoo/odoo/service/model.py\", line 137, in retrying\n    result = func()\n             ^^^^^^\n  File \"/opt/odoo/odoo/api.py\", line 533, in call_kw\n    result = getattr(recs, name)(*args, **kwargs)\n             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  File \"payflow-sim\", line 1, in <simulated Odoo>\n{}: {}\n",
            self.traceback_name(),
            // str(KeyError(x)) is repr(x).
            if self.kind == Kind::KeyError { super::fmt::py_str(&self.message) } else { self.message.clone() }
        )
    }

    /// Odoo's JSON-RPC `error` member.
    pub fn jsonrpc(&self) -> Value {
        json!({
            "code": 200,
            "message": "Odoo Server Error",
            "data": {
                "name": self.name(),
                "debug": self.traceback(),
                "message": self.message,
                "arguments": self.arguments(200),
                "context": {},
            }
        })
    }

    /// The XML-RPC fault of `/xmlrpc/2`: 3 AccessDenied, 4 AccessError, 2 the other user
    /// errors (message only), 1 the rest (the whole traceback).
    pub fn xmlrpc_fault(&self) -> (i64, String) {
        match self.kind {
            Kind::AccessDenied => (3, self.message.clone()),
            Kind::AccessError => (4, self.message.clone()),
            Kind::RedirectWarning => (2, self.message.clone()),
            _ if self.is_user_error() => (2, self.message.clone()),
            _ => (1, self.traceback()),
        }
    }

    /// JSON-2's HTTP status (`exception.http_status` for user errors, the HTTP exception's code,
    /// else 500).
    pub fn json2_status(&self) -> u16 {
        match self.kind {
            Kind::AccessDenied | Kind::AccessError => 403,
            Kind::MissingError | Kind::NotFound => 404,
            Kind::UserError | Kind::ValidationError | Kind::UnprocessableEntity => 422,
            Kind::Unauthorized => 401,
            Kind::BadRequest => 400,
            _ => 500,
        }
    }

    /// JSON-2's error body (`serialize_exception`).
    pub fn json2_body(&self) -> Value {
        json!({
            "name": self.name(),
            "message": self.message,
            "arguments": self.arguments(self.json2_status()),
            "context": {},
            "debug": self.traceback(),
        })
    }
}

impl std::fmt::Display for OdooError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name(), self.message)
    }
}

impl std::error::Error for OdooError {}
