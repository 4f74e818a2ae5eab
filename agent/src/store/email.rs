//! A dossier's alert e-mail address, typed: a lettre [`Address`] (what the alert e-mails are
//! sent to), checked where it comes in — the CLI's `--alert-email`, the JSON-RPC's
//! `alert_emails` — with a message that names the field and what is expected. Stored and
//! carried as its text.

use std::fmt;
use std::str::FromStr;

use lettre::Address;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::limits;

/// One alert recipient: an address alone (no display name), its domain dotted (mail to a bare
/// host name never arrives), at most [`limits::EMAIL`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEmail(Address);

/// Not an alert address: says which text and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert_emails {0:?}: expected an e-mail address such as compta@example.com (at most 254 characters)")]
pub struct BadAlertEmail(String);

impl AlertEmail {
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    pub fn address(&self) -> &Address {
        &self.0
    }
}

impl FromStr for AlertEmail {
    type Err = BadAlertEmail;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadAlertEmail(limits::shown(text));
        let t = text.trim();
        if t.len() > limits::EMAIL {
            return Err(bad());
        }
        let address: Address = t.parse().map_err(|_| bad())?;
        let domain = address.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad());
        }
        Ok(AlertEmail(address))
    }
}

impl fmt::Display for AlertEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AlertEmail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AlertEmail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_checked_on_the_way_in_with_a_clear_message() {
        let a: AlertEmail = " paie@example.com ".parse().unwrap();
        assert_eq!((a.as_str(), a.to_string()), ("paie@example.com", "paie@example.com".to_owned()));
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"paie@example.com\"");
        let long = format!("{}@example.com", "a".repeat(300));
        for bad in ["nobody", "not an address", "Paie <paie@example.com>", "paie@localhost", "@example.com", &long] {
            let err = bad.parse::<AlertEmail>().unwrap_err().to_string();
            assert!(err.starts_with("alert_emails \"") && err.contains("expected an e-mail address"), "{bad}: {err}");
        }
        // Through serde (the JSON-RPC's dossiers.upsert): the same message.
        let err = serde_json::from_str::<Vec<AlertEmail>>(r#"["paie@example.com", "nope"]"#).unwrap_err();
        assert!(err.to_string().contains("alert_emails \"nope\""), "{err}");
    }
}
