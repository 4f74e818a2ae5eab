//! The samples folder: `dossier-<NUMBER>-<YYYY-MM>[-anything].json` payload files, an optional
//! `dossiers.json` (a `ListeDossiersResponse`), `paiements-<NUMBER>-<YYYY-MM>[-anything].json`
//! files (the transfer batches and advances of a period), and the payroll months they are about.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// A payroll month, as Silae's periods are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && (1..=9999).contains(&year)).then_some(Month { year, month })
    }

    /// Exactly `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let b = text.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !all_digits(&b[..4]) || !all_digits(&b[5..]) {
            return None;
        }
        Month::new(text[..4].parse().ok()?, text[5..].parse().ok()?)
    }

    /// The month of a spec `date-time` (`YYYY-MM-DD`, optionally followed by `T…`), with the day
    /// checked against the month's length.
    pub fn of_date_time(text: &str) -> Option<Month> {
        let b = text.as_bytes();
        if b.len() < 10 || b[7] != b'-' || !all_digits(&b[8..10]) || (b.len() > 10 && b[10] != b'T') {
            return None;
        }
        let month = Month::parse(&text[..7])?;
        let day: u32 = text[8..10].parse().ok()?;
        (1..=month.days()).contains(&day).then_some(month)
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    pub fn days(self) -> u32 {
        match self.month {
            2 if (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// `YYYY-MM-01T00:00:00`, as Silae writes a period's start.
    pub fn first_day(self) -> String {
        format!("{self}-01T00:00:00")
    }

    /// `YYYY-MM-<last>T00:00:00`, as Silae writes a period's end.
    pub fn last_day(self) -> String {
        format!("{self}-{:02}T00:00:00", self.days())
    }

    /// The current month in UTC, from the system clock.
    pub fn current() -> Month {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let (year, month) = civil_from_days((secs / 86_400) as i64);
        Month { year, month }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

fn all_digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// Year and month of a day counted from 1970-01-01 (the proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month)
}

/// What the folder holds: a payload file per dossier and month, and the known dossiers.
#[derive(Debug, Default)]
pub struct Samples {
    pub files: BTreeMap<(String, Month), PathBuf>,
    /// `ProprietesDossier` objects: those of `dossiers.json`, then one made up for each dossier
    /// that only a file name tells of.
    pub dossiers: Vec<Value>,
    /// The salary payments of a dossier and month (`paiements-…` files), read at start.
    pub payments: BTreeMap<(String, Month), Payments>,
}

/// A `paiements-<NUMBER>-<YYYY-MM>[-anything].json` file: our own format around the spec's
/// shapes, `{"lotsVirement": [{"numeroLotVirement": 1, "date": "<date-time>", "late": false,
/// "ecritures": <EcrituresComptablesAvecRuptures>}, …], "acomptes": <EcrituresComptablesAvecRuptures>}`.
/// A batch marked `"late": true` is listed and served only once published
/// ([`super::SilaeSim::publish_late_batches`]): a batch Silae publishes after the payroll.
#[derive(Debug, Clone, Default)]
pub struct Payments {
    pub batches: Vec<Batch>,
    pub acomptes: Option<Value>,
}

/// One transfer batch (`LotsVirement`) and its entries.
#[derive(Debug, Clone)]
pub struct Batch {
    pub numero: i64,
    pub date: String,
    pub late: bool,
    pub ecritures: Value,
}

impl Samples {
    pub fn scan(dir: &Path) -> anyhow::Result<Samples> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("reading the samples folder {}", dir.display()))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading the samples folder {}", dir.display()))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let mut files = BTreeMap::new();
        let mut payments = BTreeMap::new();
        for name in &names {
            if let Some(key) = parse_payments_name(name) {
                let path = dir.join(name);
                let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
                let parsed = parse_payments(&bytes).with_context(|| format!("{}", path.display()))?;
                if payments.insert(key.clone(), parsed).is_some() {
                    bail!("{}: two paiements files for dossier {} and {}: keep one", dir.display(), key.0, key.1);
                }
                continue;
            }
            let Some(key) = parse_file_name(name) else { continue };
            if let Some(previous) = files.insert(key.clone(), dir.join(name)) {
                bail!(
                    "{}: both {} and {name} are dossier {}'s payload for {}: keep one",
                    dir.display(),
                    previous.file_name().unwrap_or_default().to_string_lossy(),
                    key.0,
                    key.1
                );
            }
        }
        let mut dossiers = match std::fs::read(dir.join("dossiers.json")) {
            Ok(bytes) => parse_dossiers(&bytes).with_context(|| format!("{}", dir.join("dossiers.json").display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("{}", dir.join("dossiers.json").display())),
        };
        let listed: BTreeSet<String> =
            dossiers.iter().filter_map(|d| d["numero"].as_str().map(str::to_owned)).collect();
        let from_names: BTreeSet<&String> = files.keys().chain(payments.keys()).map(|(d, _)| d).collect();
        dossiers.extend(from_names.into_iter().filter(|n| !listed.contains(*n)).map(|n| synthetic_dossier(n)));
        Ok(Samples { files, dossiers, payments })
    }

    pub fn is_known(&self, numero: &str) -> bool {
        self.dossiers.iter().any(|d| d["numero"] == numero)
    }

    /// The latest month a file exists for: of one dossier, or of any.
    pub fn latest_month(&self, numero: Option<&str>) -> Option<Month> {
        self.files.keys().filter(|(d, _)| numero.is_none_or(|n| n == d)).map(|(_, m)| *m).max()
    }
}

/// `dossier-<NUMBER>-<YYYY-MM>[-anything].json` → (number, month); the number is ASCII letters
/// and digits.
pub fn parse_file_name(name: &str) -> Option<(String, Month)> {
    let rest = name.strip_prefix("dossier-")?.strip_suffix(".json")?;
    let (number, tail) = rest.split_once('-')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let month = Month::parse(tail.get(..7)?)?;
    let after = &tail[7..];
    (after.is_empty() || after.starts_with('-')).then(|| (number.to_owned(), month))
}

/// `paiements-<NUMBER>-<YYYY-MM>[-anything].json` → (number, month).
pub fn parse_payments_name(name: &str) -> Option<(String, Month)> {
    parse_file_name(&format!("dossier-{}", name.strip_prefix("paiements-")?))
}

pub fn parse_payments(bytes: &[u8]) -> anyhow::Result<Payments> {
    let value: Value = serde_json::from_slice(bytes).context("not JSON")?;
    let mut batches = Vec::new();
    let none = Vec::new();
    let listed = match value.get("lotsVirement") {
        None | Some(Value::Null) => &none,
        Some(Value::Array(a)) => a,
        Some(_) => bail!("\"lotsVirement\" must be an array"),
    };
    for (i, b) in listed.iter().enumerate() {
        let numero =
            b["numeroLotVirement"].as_i64().ok_or_else(|| anyhow!("lotsVirement[{i}] has no numeroLotVirement"))?;
        if batches.iter().any(|x: &Batch| x.numero == numero) {
            bail!("the batch {numero} is listed twice");
        }
        let date = b["date"].as_str().ok_or_else(|| anyhow!("lotsVirement[{i}] has no \"date\""))?.to_owned();
        let ecritures = b.get("ecritures").filter(|e| e.is_object()).cloned();
        let ecritures = ecritures.ok_or_else(|| anyhow!("lotsVirement[{i}] has no \"ecritures\" object"))?;
        batches.push(Batch { numero, date, late: b["late"].as_bool().unwrap_or(false), ecritures });
    }
    let acomptes = value.get("acomptes").filter(|a| !a.is_null()).cloned();
    if acomptes.as_ref().is_some_and(|a| !a.is_object()) {
        bail!("\"acomptes\" must be an EcrituresComptablesAvecRuptures object");
    }
    Ok(Payments { batches, acomptes })
}

fn parse_dossiers(bytes: &[u8]) -> anyhow::Result<Vec<Value>> {
    let value: Value = serde_json::from_slice(bytes).context("not JSON")?;
    let list = value
        .get("listeDossiers")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("expected a ListeDossiersResponse: {{\"listeDossiers\": [...]}}"))?;
    let mut seen = BTreeSet::new();
    for (i, d) in list.iter().enumerate() {
        let numero = d
            .get("numero")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| anyhow!("listeDossiers[{i}] has no \"numero\" string"))?;
        if !seen.insert(numero) {
            bail!("dossier {numero} is listed twice");
        }
    }
    Ok(list.clone())
}

/// A plausible `ProprietesDossier` for a dossier known only from a file name.
pub fn synthetic_dossier(numero: &str) -> Value {
    json!({
        "numero": numero,
        "raisonSociale": format!("Dossier {numero}"),
        "siret": siret_for(numero),
        "groupe": "",
        "jourPaiementMaxSSOC": 15,
        "etatDossier": 1,
        "numeroInterne": numero,
    })
}

/// A 14-digit SIRET that passes the Luhn check, the same for the same dossier number.
pub fn siret_for(numero: &str) -> String {
    let seed = numero.bytes().fold(0u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)) % 100_000_000;
    let body = format!("8{seed:08}0001"); // 8 + SIREN's first 8 digits + NIC's first 4
    let check = (0..10).find(|d| luhn_ok(&format!("{body}{d}"))).unwrap_or(0);
    format!("{body}{check}")
}

pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    #[test]
    fn file_names() {
        assert_eq!(parse_file_name("dossier-100200-2026-10.json"), Some(("100200".into(), m("2026-10"))));
        assert_eq!(
            parse_file_name("dossier-100300-2026-10-two-establishments.json"),
            Some(("100300".into(), m("2026-10")))
        );
        for bad in [
            "dossier--2026-10.json",
            "dossier-100200-2026-13.json",
            "dossier-100200-2026-1.json",
            "dossier-100200-2026-100.json",
            "dossier-100200-2026-10.txt",
            "dossier-100200.json",
            "dossier-10 200-2026-10.json",
            "dossier-100200-2026-1é.json",
            "dossiers.json",
            "paiements-100200-2026-10.json",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
        assert_eq!(parse_payments_name("paiements-100200-2026-10.json"), Some(("100200".into(), m("2026-10"))));
        assert_eq!(parse_payments_name("dossier-100200-2026-10.json"), None);
    }

    #[test]
    fn months() {
        assert_eq!(m("2026-12").next(), m("2027-01"));
        assert_eq!(m("2028-02").last_day(), "2028-02-29T00:00:00");
        assert_eq!(m("2100-02").days(), 28);
        assert_eq!(m("2026-09").first_day(), "2026-09-01T00:00:00");
        assert_eq!(Month::of_date_time("2026-10-01T00:00:00"), Some(m("2026-10")));
        assert_eq!(Month::of_date_time("2026-10-31"), Some(m("2026-10")));
        assert_eq!(Month::of_date_time("2026-09-31T00:00:00"), None);
        assert_eq!(Month::of_date_time("2026-10-01 00:00"), None);
        assert_eq!(Month::of_date_time("2026-10"), None);
        assert_eq!(Month::parse("26-10"), None);
        assert_eq!(civil_from_days(0), (1970, 1));
        assert_eq!(civil_from_days(20_757), (2026, 10)); // 2026-10-31
        assert_eq!(civil_from_days(20_758), (2026, 11));
        assert!(Month::current() >= m("2025-01"));
    }

    #[test]
    fn synthetic_sirets_are_plausible() {
        for n in ["100200", "100300", "A1"] {
            let s = siret_for(n);
            assert_eq!(s.len(), 14, "{s}");
            assert!(luhn_ok(&s), "{s}");
            assert_eq!(s, siret_for(n));
        }
        assert_ne!(siret_for("100200"), siret_for("100300"));
        assert!(luhn_ok("73282932000074"));
        assert!(!luhn_ok("73282932000075"));
    }
}
