//! Python's and Odoo's ways of printing values, for messages that match the real server's
//! character for character: `repr()`, amounts in the en_US locale, dates, rounding.

use serde_json::Value;

/// Python's `repr()` of a string.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of a float (shortest round-trip digits, `1e+16` style exponents).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Python's `repr()` of a JSON value as Odoo received it (lists stay lists).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => py_float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => py_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter().map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A domain leaf as Odoo prints it in its errors: a tuple.
pub fn py_leaf(leaf: &[Value]) -> String {
    let parts: Vec<String> = leaf.iter().map(py_repr).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Odoo's `float_round(value, precision_rounding=0.01)` in cents (half-up, with the epsilon
/// that makes 10.005 round to 10.01).
pub fn cents(value: f64) -> i64 {
    if value == 0.0 || !value.is_finite() {
        return 0;
    }
    let mut normalized = value * 100.0;
    let epsilon = 2f64.powf(normalized.abs().log2() - 52.0);
    normalized += normalized.signum() * epsilon;
    (normalized.abs() + 0.5).floor().copysign(value) as i64
}

/// An amount in cents as a JSON float, the way Odoo reads it back (`10.0`).
pub fn amount(cents: i64) -> Value {
    serde_json::Number::from_f64(cents as f64 / 100.0).map(Value::Number).unwrap_or(Value::Null)
}

/// `formatLang(amount, currency_obj=EUR)` in en_US: `1,234,567.50\u{a0}€`.
pub fn euros(cents: i64) -> String {
    let negative = cents < 0;
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{:02}\u{a0}€", if negative { "-" } else { "" }, cents % 100)
}

/// A calendar date (proleptic Gregorian), enough arithmetic for lock dates and sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD` (Odoo also accepts a datetime and keeps its first ten characters).
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.get(..10)?;
        let b = s.as_bytes();
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let d = Date { year: s[..4].parse().ok()?, month: s[5..7].parse().ok()?, day: s[8..10].parse().ok()? };
        (d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= days_in_month(d.year, d.month)).then_some(d)
    }

    /// Today in UTC (the admin user has no time zone).
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Date::from_days((secs / 86_400) as i64)
    }

    /// The date `days` days after 1970-01-01.
    fn from_days(days: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    pub fn next_day(self) -> Date {
        if self.day < days_in_month(self.year, self.month) {
            Date { day: self.day + 1, ..self }
        } else if self.month < 12 {
            Date { month: self.month + 1, day: 1, ..self }
        } else {
            Date { year: self.year + 1, month: 1, day: 1 }
        }
    }

    pub fn end_of_month(self) -> Date {
        Date { day: days_in_month(self.year, self.month), ..self }
    }

    /// `format_date` in en_US: `12/31/2026`.
    pub fn us(self) -> String {
        format!("{:02}/{:02}/{:04}", self.month, self.day, self.year)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Python's `textwrap.shorten(text, width)`, as Odoo shortens a move's reference.
pub fn shorten(text: &str, width: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= width {
        return joined;
    }
    let placeholder = " [...]";
    let mut out = String::new();
    for w in words {
        let candidate = if out.is_empty() { w.to_owned() } else { format!("{out} {w}") };
        if candidate.chars().count() + placeholder.chars().count() > width {
            break;
        }
        out = candidate;
    }
    if out.is_empty() {
        placeholder.trim_start().to_owned()
    } else {
        format!("{out}{placeholder}")
    }
}

/// Python's `", ".join` with "and" as Babel's en_US `format_list`: `A`, `A and B`, `A, B, and C`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reprs_as_python() {
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a\nb"), "'a\\nb'");
        assert_eq!(py_leaf(&[json!("nope"), json!("in"), json!(["a", "b"])]), "('nope', 'in', ['a', 'b'])");
        assert_eq!(py_leaf(&[json!("x"), json!("="), json!(false)]), "('x', '=', False)");
        assert_eq!(py_float(10.0), "10.0");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(67793.37), "67793.37");
    }

    #[test]
    fn rounds_and_formats_as_odoo() {
        assert_eq!(cents(10.004), 1000);
        assert_eq!(cents(10.005), 1001);
        assert_eq!(cents(10.006), 1001);
        assert_eq!(cents(-2.675), -268);
        assert_eq!(euros(123_456_750), "1,234,567.50\u{a0}€");
        assert_eq!(euros(900), "9.00\u{a0}€");
    }

    #[test]
    fn dates() {
        let d = Date::parse("2026-12-31").unwrap();
        assert_eq!(d.next_day().to_string(), "2027-01-01");
        assert_eq!(d.us(), "12/31/2026");
        assert_eq!(Date::parse("2028-02-10").unwrap().end_of_month().to_string(), "2028-02-29");
        assert!(Date::parse("2026-13-01").is_none());
        assert_eq!(Date::from_days(20_000).to_string(), "2024-10-04");
        assert_eq!(and_list(&["A".into(), "B".into(), "C".into()]), "A, B, and C");
        assert_eq!(shorten("SALAIRES   OCTOBRE 2026", 50), "SALAIRES OCTOBRE 2026");
    }
}
