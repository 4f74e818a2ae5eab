//! A payroll period: one calendar month.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i16,
    month: i8,
}

const MOIS: [&str; 12] = [
    "JANVIER",
    "FÉVRIER",
    "MARS",
    "AVRIL",
    "MAI",
    "JUIN",
    "JUILLET",
    "AOÛT",
    "SEPTEMBRE",
    "OCTOBRE",
    "NOVEMBRE",
    "DÉCEMBRE",
];

impl Period {
    pub fn new(year: i16, month: i8) -> Option<Period> {
        ((1..=12).contains(&month) && (1900..=9999).contains(&year)).then_some(Period { year, month })
    }

    pub fn of_date(date: Date) -> Period {
        Period { year: date.year(), month: date.month() }
    }

    pub fn year(self) -> i16 {
        self.year
    }

    pub fn month(self) -> i8 {
        self.month
    }

    pub fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).expect("a valid period has a first day")
    }

    pub fn last_day(self) -> Date {
        self.first_day().last_of_month()
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    /// The French month name in capitals, as accountants write it (`OCTOBRE`, `AOÛT`).
    pub fn french_month(self) -> &'static str {
        MOIS[(self.month - 1) as usize]
    }

    /// The move reference of the period: `SALAIRES OCTOBRE 2026`.
    pub fn salary_ref(self) -> String {
        format!("SALAIRES {} {}", self.french_month(), self.year)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a period: expected YYYY-MM, e.g. 2026-10")]
pub struct PeriodParseError(pub String);

impl FromStr for Period {
    type Err = PeriodParseError;
    fn from_str(s: &str) -> Result<Period, PeriodParseError> {
        let err = || PeriodParseError(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(err());
        }
        let year: i16 = y.parse().map_err(|_| err())?;
        let month: i8 = m.parse().map_err(|_| err())?;
        Period::new(year, month).ok_or_else(err)
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Period, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_walks_months() {
        let p: Period = "2026-10".parse().unwrap();
        assert_eq!(p.to_string(), "2026-10");
        assert_eq!(p.last_day().to_string(), "2026-10-31");
        assert_eq!("2028-02".parse::<Period>().unwrap().last_day().to_string(), "2028-02-29");
        assert_eq!("2026-12".parse::<Period>().unwrap().next().to_string(), "2027-01");
        assert_eq!("2026-01".parse::<Period>().unwrap().previous().to_string(), "2025-12");
        assert_eq!(p.salary_ref(), "SALAIRES OCTOBRE 2026");
        assert_eq!("2026-08".parse::<Period>().unwrap().salary_ref(), "SALAIRES AOÛT 2026");
    }

    #[test]
    fn refuses_bad_periods() {
        for bad in ["2026-13", "2026-1", "26-10", "2026/10", "", "2026-00", "abcd-ef"] {
            assert!(bad.parse::<Period>().is_err(), "{bad} should be refused");
        }
    }
}
