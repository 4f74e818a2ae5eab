//! XML-RPC on the server side: reading a `methodCall` (through the `xmlrpc` crate's value
//! parser) and writing a `methodResponse` or a fault.

use std::io::Cursor;

use serde_json::{json, Value};

struct Bytes(Vec<u8>);

impl xmlrpc::Transport for Bytes {
    type Stream = Cursor<Vec<u8>>;
    fn transmit(self, _: &xmlrpc::Request<'_>) -> Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Cursor::new(self.0))
    }
}

/// The method name and parameters of a `methodCall`.
pub fn parse_call(body: &str) -> Result<(String, Vec<Value>), String> {
    let name = between(body, "<methodName>", "</methodName>").ok_or("no methodName")?.trim().to_owned();
    let params = between(body, "<params>", "</params>").unwrap_or("");
    // The parameters, re-wrapped as the one array value of a methodResponse, which the crate
    // knows how to read. Strings are escaped in XML, so the tags found are real tags.
    let inner = params.replace("<param>", "").replace("</param>", "");
    let response = format!(
        "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>{inner}</data></array></value></param></params></methodResponse>"
    );
    let value = xmlrpc::Request::new("parse").call(Bytes(response.into_bytes())).map_err(|e| e.to_string())?;
    match from_xmlrpc(value) {
        Value::Array(a) => Ok((name, a)),
        _ => Err("params are not a list".into()),
    }
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let i = s.find(open)? + open.len();
    let j = s[i..].rfind(close)? + i;
    Some(&s[i..j])
}

fn from_xmlrpc(v: xmlrpc::Value) -> Value {
    match v {
        xmlrpc::Value::Int(i) => json!(i),
        xmlrpc::Value::Int64(i) => json!(i),
        xmlrpc::Value::Bool(b) => json!(b),
        xmlrpc::Value::String(s) => json!(s),
        xmlrpc::Value::Double(d) => json!(d),
        xmlrpc::Value::DateTime(d) => json!(d.to_string()),
        xmlrpc::Value::Base64(b) => json!(b),
        xmlrpc::Value::Struct(s) => Value::Object(s.into_iter().map(|(k, v)| (k, from_xmlrpc(v))).collect()),
        xmlrpc::Value::Array(a) => Value::Array(a.into_iter().map(from_xmlrpc).collect()),
        xmlrpc::Value::Nil => Value::Null,
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn write_value(v: &Value, out: &mut String) {
    out.push_str("<value>");
    match v {
        // Odoo answers None as False (allow_none is off).
        Value::Null => out.push_str("<boolean>0</boolean>"),
        Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&format!("<int>{i}</int>")),
            None => out.push_str(&format!("<double>{}</double>", n.as_f64().unwrap_or_default())),
        },
        Value::String(s) => out.push_str(&format!("<string>{}</string>", escape(s))),
        Value::Array(a) => {
            out.push_str("<array><data>");
            for x in a {
                write_value(x, out);
            }
            out.push_str("</data></array>");
        }
        Value::Object(o) => {
            out.push_str("<struct>");
            for (k, x) in o {
                out.push_str(&format!("<member><name>{}</name>", escape(k)));
                write_value(x, out);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

pub fn response(v: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    write_value(v, &mut out);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    out
}

pub fn fault(code: i64, text: &str) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    write_value(&json!({"faultCode": code, "faultString": text}), &mut out);
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_crate_writes() {
        let req = xmlrpc::Request::new("execute_kw")
            .arg("db")
            .arg(2)
            .arg(xmlrpc::Value::Array(vec![xmlrpc::Value::String("a<b".into()), xmlrpc::Value::Double(12.5)]));
        let mut body = Vec::new();
        req.write_as_xml(&mut body).unwrap();
        let (name, params) = parse_call(std::str::from_utf8(&body).unwrap()).unwrap();
        assert_eq!(name, "execute_kw");
        assert_eq!(params, vec![json!("db"), json!(2), json!(["a<b", 12.5])]);
    }
}
