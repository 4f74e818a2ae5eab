//! XML-RPC on the server side: reading a `methodCall` and writing a `methodResponse` or a
//! fault exactly as Python's `xmlrpc.client` marshaller (Odoo's) lays them out.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{json, Map, Value};

use super::fmt::py_float;

/// An XML element: its name, children and text.
#[derive(Debug, Default)]
struct Node {
    name: String,
    children: Vec<Node>,
    text: String,
}

/// Where expat stops reading: the end of the document (`line 1, column 52`).
fn end_position(body: &str) -> String {
    let line = body.matches('\n').count() + 1;
    let column = body.rsplit('\n').next().map_or(0, |l| l.chars().count());
    format!("line {line}, column {column}")
}

fn parse_tree(body: &str) -> Result<Node, String> {
    parse_nodes(body).map_err(|e| {
        if e.starts_with("no element found") {
            format!("no element found: {}", end_position(body))
        } else {
            e
        }
    })
}

fn parse_nodes(body: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| match e {
            quick_xml::Error::Syntax(_) | quick_xml::Error::IllFormed(_)
                if position as usize >= body.trim_end().len() =>
            {
                "no element found".to_owned()
            }
            other => format!("not well-formed (invalid token): {other}"),
        })?;
        match event {
            Event::Start(e) => {
                stack.push(Node { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), ..Node::default() })
            }
            Event::Empty(e) => {
                let node = Node { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), ..Node::default() };
                stack.last_mut().ok_or("unbalanced document")?.children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced document")?;
                stack.last_mut().ok_or("mismatched tag")?.children.push(node);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| format!("not well-formed (invalid token): {e}"))?;
                stack.last_mut().ok_or("unbalanced document")?.text.push_str(&text);
            }
            Event::CData(t) => {
                let text = String::from_utf8_lossy(&t.into_inner()).into_owned();
                stack.last_mut().ok_or("unbalanced document")?.text.push_str(&text);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().ok_or("no element found")?;
    if !stack.is_empty() {
        return Err("no element found".into());
    }
    root.children.pop().ok_or_else(|| "no element found".to_owned())
}

fn child<'a>(n: &'a Node, name: &str) -> Option<&'a Node> {
    n.children.iter().find(|c| c.name == name)
}

fn value(v: &Node) -> Result<Value, String> {
    let Some(typed) = v.children.first() else {
        // A bare <value>text</value> is a string.
        return Ok(json!(v.text));
    };
    let text = typed.text.trim();
    match typed.name.as_str() {
        "int" | "i4" | "i8" | "i1" | "i2" => text
            .parse::<i64>()
            .map(|i| json!(i))
            .map_err(|_| format!("invalid literal for int() with base 10: {text:?}")),
        "boolean" => match text {
            "1" => Ok(json!(true)),
            "0" => Ok(json!(false)),
            other => Err(format!("bad boolean value {other:?}")),
        },
        "double" | "float" | "bigdecimal" => {
            text.parse::<f64>().map(|f| json!(f)).map_err(|_| format!("could not convert string to float: {text:?}"))
        }
        "string" => Ok(json!(typed.text)),
        "nil" => Ok(Value::Null),
        "dateTime.iso8601" | "base64" | "biginteger" => Ok(json!(text)),
        "array" => {
            let data = child(typed, "data").ok_or("array without data")?;
            data.children
                .iter()
                .filter(|c| c.name == "value")
                .map(value)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        "struct" => {
            let mut out = Map::new();
            for m in typed.children.iter().filter(|c| c.name == "member") {
                let name = child(m, "name").map(|n| n.text.clone()).unwrap_or_default();
                let v = child(m, "value").ok_or("member without value")?;
                out.insert(name, value(v)?);
            }
            Ok(Value::Object(out))
        }
        other => Err(format!("unknown tag {other:?}")),
    }
}

/// The method name and parameters of a `methodCall`.
pub fn parse_call(body: &str) -> Result<(String, Vec<Value>), String> {
    let root = parse_tree(body)?;
    if root.name != "methodCall" {
        return Err(format!("unknown tag {:?}", root.name));
    }
    let name = child(&root, "methodName").map(|n| n.text.trim().to_owned()).unwrap_or_default();
    let mut params = Vec::new();
    if let Some(ps) = child(&root, "params") {
        for p in ps.children.iter().filter(|c| c.name == "param") {
            params.push(value(child(p, "value").ok_or("param without value")?)?);
        }
    }
    Ok((name, params))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Odoo's marshaller drops the control characters XML cannot carry.
fn printable(s: &str) -> String {
    s.chars().filter(|c| (*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r')).collect()
}

/// Writes a value as Python's `Marshaller` does; `None` cannot be written (Odoo does not
/// allow it), which the caller turns into Odoo's TypeError fault.
fn write_value(v: &Value, out: &mut String) -> Result<(), ()> {
    match v {
        Value::Null => return Err(()),
        Value::Bool(b) => out.push_str(&format!("<value><boolean>{}</boolean></value>\n", u8::from(*b))),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&format!("<value><int>{i}</int></value>\n")),
            None => out.push_str(&format!("<value><double>{}</double></value>\n", py_float(n.as_f64().unwrap_or(0.0)))),
        },
        Value::String(s) => out.push_str(&format!("<value><string>{}</string></value>\n", escape(&printable(s)))),
        Value::Array(a) => {
            out.push_str("<value><array><data>\n");
            for x in a {
                write_value(x, out)?;
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Object(o) => {
            out.push_str("<value><struct>\n");
            for (k, x) in o {
                out.push_str(&format!("<member>\n<name>{}</name>\n", escape(&printable(k))));
                write_value(x, out)?;
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
    }
    Ok(())
}

/// A `methodResponse` holding `v`, or `None` when `v` holds a `null` (not marshallable).
pub fn response(v: &Value) -> Option<String> {
    let mut body = String::new();
    write_value(v, &mut body).ok()?;
    Some(format!(
        "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n{body}</param>\n</params>\n\n</methodResponse>\n"
    ))
}

/// A fault `methodResponse`.
pub fn fault(code: i64, text: &str) -> String {
    let mut body = String::new();
    let _ = write_value(&json!({"faultCode": code, "faultString": text}), &mut body);
    format!("<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n{body}</fault>\n\n</methodResponse>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_agent_s_crate_writes() {
        let req = xmlrpc::Request::new("execute_kw")
            .arg("db")
            .arg(2)
            .arg(xmlrpc::Value::Array(vec![xmlrpc::Value::String("a<b & é".into()), xmlrpc::Value::Double(12.5)]))
            .arg(xmlrpc::Value::Struct(
                [("k".to_owned(), xmlrpc::Value::Bool(true)), ("n".to_owned(), xmlrpc::Value::Int64(1 << 40))]
                    .into_iter()
                    .collect(),
            ));
        let mut body = Vec::new();
        req.write_as_xml(&mut body).unwrap();
        let (name, params) = parse_call(std::str::from_utf8(&body).unwrap()).unwrap();
        assert_eq!(name, "execute_kw");
        assert_eq!(params, vec![json!("db"), json!(2), json!(["a<b & é", 12.5]), json!({"k": true, "n": 1_i64 << 40})]);
    }

    #[test]
    fn reads_python_s_layout() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>version</methodName>\n<params>\n<param>\n<value>bare text</value>\n</param>\n<param>\n<value><string> spaced </string></value>\n</param>\n<param>\n<value><nil/></value></param>\n</params>\n</methodCall>\n";
        let (name, params) = parse_call(body).unwrap();
        assert_eq!((name.as_str(), params), ("version", vec![json!("bare text"), json!(" spaced "), Value::Null]));
        assert!(parse_call("<methodCall><methodName>x</methodName><params><param><value><int>nope").is_err());
    }

    #[test]
    fn writes_as_python() {
        assert_eq!(
            response(&json!(2)).unwrap(),
            "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n<value><int>2</int></value>\n</param>\n</params>\n\n</methodResponse>\n"
        );
        let f = fault(3, "Access Denied");
        assert!(f.contains(
            "<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>3</int></value>\n</member>"
        ));
        assert!(response(&json!([1, null])).is_none());
        let back = xmlrpc::Request::new("x").call(Received(response(&json!({"a": [1.5, "x<y", false]})).unwrap()));
        assert_eq!(
            back.unwrap(),
            xmlrpc::Value::Struct(
                [(
                    "a".to_owned(),
                    xmlrpc::Value::Array(vec![
                        xmlrpc::Value::Double(1.5),
                        xmlrpc::Value::String("x<y".into()),
                        xmlrpc::Value::Bool(false)
                    ])
                )]
                .into_iter()
                .collect()
            )
        );
    }

    struct Received(String);

    impl xmlrpc::Transport for Received {
        type Stream = std::io::Cursor<Vec<u8>>;
        fn transmit(self, _: &xmlrpc::Request<'_>) -> Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
            Ok(std::io::Cursor::new(self.0.into_bytes()))
        }
    }
}
