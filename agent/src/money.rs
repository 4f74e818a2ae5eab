//! Money and other exact decimals. Amounts are integer cents from the moment they are read;
//! no float ever takes part in a sum.

use std::fmt;

/// An amount in euro cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Cents(pub i64);

/// The largest amount accepted from Silae: ten thousand billion euros, far beyond any payroll,
/// and far below where a sum of 5,000 of them could overflow an `i64`.
pub const MAX_CENTS: i64 = 1_000_000_000_000_000;

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// The amount as a JSON number with two decimals, for display only (never summed).
    pub fn to_json_number(self) -> serde_json::Value {
        serde_json::Number::from_f64(self.0 as f64 / 100.0)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let text = format!("{sign}{}.{:02}", abs / 100, abs % 100);
        f.pad(&text)
    }
}

impl std::ops::Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl std::iter::Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::ZERO, |a, b| a + b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("`{0}` is not a decimal number")]
    NotANumber(String),
    #[error("`{text}` has more than {scale} decimals")]
    TooPrecise { text: String, scale: u32 },
    #[error("`{0}` is out of range")]
    OutOfRange(String),
}

/// Parses the text of a JSON number (`52885.91`, `85.0`, `-3`, `1.5E+2`) into an integer
/// scaled by `10^scale`, exactly. Digits beyond `scale` decimals must be zeros, or the value
/// is refused (`TooPrecise`): nothing is rounded silently.
pub fn parse_scaled(text: &str, scale: u32) -> Result<i64, DecimalError> {
    let bad = || DecimalError::NotANumber(text.to_owned());
    let s = text.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = s[i + 1..].parse().map_err(|_| bad())?;
            (&s[..i], exp)
        }
        None => (s, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // All digits, and the power of ten of the last one.
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let mut last_exp = exponent - frac_part.len() as i32;
    let mut digits = digits.to_owned();
    // Drop trailing zeros: they carry no precision.
    while digits.ends_with('0') {
        digits.pop();
        last_exp += 1;
    }
    if digits.is_empty() {
        return Ok(0);
    }
    let shift = last_exp + scale as i32;
    if shift < 0 {
        return Err(DecimalError::TooPrecise { text: text.to_owned(), scale });
    }
    if digits.len() + shift as usize > 18 {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }
    let mut value: i64 = digits.parse().map_err(|_| DecimalError::OutOfRange(text.to_owned()))?;
    for _ in 0..shift {
        value = value.checked_mul(10).ok_or_else(|| DecimalError::OutOfRange(text.to_owned()))?;
    }
    Ok(if negative { -value } else { value })
}

/// Parses an amount in euros into cents, exactly (at most two decimals).
pub fn parse_cents(text: &str) -> Result<Cents, DecimalError> {
    let v = parse_scaled(text, 2)?;
    if v.abs() > MAX_CENTS {
        return Err(DecimalError::OutOfRange(text.to_owned()));
    }
    Ok(Cents(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_cents() {
        assert_eq!(parse_cents("52885.91"), Ok(Cents(5_288_591)));
        assert_eq!(parse_cents("85.0"), Ok(Cents(8_500)));
        assert_eq!(parse_cents("85"), Ok(Cents(8_500)));
        assert_eq!(parse_cents("0.1"), Ok(Cents(10)));
        assert_eq!(parse_cents("-12.5"), Ok(Cents(-1_250)));
        assert_eq!(parse_cents("1.5E+2"), Ok(Cents(15_000)));
        assert_eq!(parse_cents("1E-02"), Ok(Cents(1)));
        assert_eq!(parse_cents("0"), Ok(Cents(0)));
        assert_eq!(parse_cents("0.000"), Ok(Cents(0)));
        assert_eq!(parse_cents("12.3400"), Ok(Cents(1_234)));
    }

    #[test]
    fn refuses_what_is_not_exact() {
        assert!(matches!(parse_cents("12.345"), Err(DecimalError::TooPrecise { .. })));
        assert!(matches!(parse_cents("1E-03"), Err(DecimalError::TooPrecise { .. })));
        assert!(matches!(parse_cents("abc"), Err(DecimalError::NotANumber(_))));
        assert!(matches!(parse_cents(""), Err(DecimalError::NotANumber(_))));
        assert!(matches!(parse_cents("1e30"), Err(DecimalError::OutOfRange(_))));
        assert!(matches!(parse_cents("\"12\""), Err(DecimalError::NotANumber(_))));
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Cents(5_288_591).to_string(), "52885.91");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(format!("{:>8}", Cents(100)), "    1.00");
    }
}
