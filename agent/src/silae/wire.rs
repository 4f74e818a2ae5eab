//! Silae's wire types, as Silae's spec (`silae-paie-rest-api.json`, "Silae Paie Rest Api" v1)
//! defines them; agent/sim/samples/README.md lists the facts the tests rely on. Lenient on
//! purpose: every field is optional here, and `journal` says precisely what is missing.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A JSON number kept as the text Silae sent, so that amounts are read exactly (never through
/// a float). `journal` turns it into cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let raw: &RawValue = <&RawValue>::deserialize(d)?;
        let text = raw.get();
        if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            Ok(Decimal(text.to_owned()))
        } else {
            Err(serde::de::Error::custom(format!("expected a number, found {text}")))
        }
    }
}

impl Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.clone()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// `EcrituresComptablesAvecRuptures`: the answer of `EcrituresComptables4`.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EcrituresComptablesAvecRuptures {
    pub numero_dossier: Option<String>,
    pub periode_debut: Option<String>,
    pub periode_fin: Option<String>,
    pub ruptures: Option<Vec<Rupture>>,
}

/// `EcrituresComptablesRupture`: one establishment (or other break) of the payroll journal.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Rupture {
    pub libelle: Option<String>,
    pub total_debit: Option<Decimal>,
    pub total_credit: Option<Decimal>,
    pub ecritures: Option<Vec<Ligne>>,
}

/// `EcrituresComptablesLigneRupture`: one accounting line.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ligne {
    pub code_journal: Option<String>,
    pub periode: Option<String>,
    pub compte: Option<String>,
    pub libelle: Option<String>,
    pub sens: Option<String>,
    pub index_repartition: Option<i32>,
    pub valeur: Option<Decimal>,
    pub pct_repartition: Option<Decimal>,
}

/// `EcrituresComptables4Request`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EcrituresComptables4Request {
    pub numero_dossier: String,
    pub periode_debut: String,
    pub periode_fin: String,
    pub avec_toutes_les_repartitions_analytiques: bool,
}

/// `TraitementAsynchroneResponse`: the task an asynchronous operation started.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraitementAsynchroneResponse {
    pub guid_tache: Option<String>,
}

/// `StatutEcrituresComptables4AsynchroneResponse`: where the task stands, and the journal once
/// it is ready (kept as its JSON text: it is parsed, recorded and hashed as the synchronous
/// answer is).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatutEcrituresComptables4AsynchroneResponse {
    pub ecritures_comptables: Option<Box<RawValue>>,
    pub statut: Option<String>,
    pub message_erreur: Option<String>,
    /// A percentage, for the logs only.
    pub progression: Option<f64>,
    pub duree_execution: Option<String>,
}

/// `DossierRequest`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DossierRequest {
    pub numero_dossier: String,
}

/// `DossierRecupererPeriodeEnCoursResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DossierRecupererPeriodeEnCoursResponse {
    pub periode_en_cours: Option<String>,
}

/// `ListeDossiersRequest`.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListeDossiersRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_dossiers: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etat_dossier: Option<i32>,
}

/// `ListeDossiersResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListeDossiersResponse {
    pub liste_dossiers: Option<Vec<ProprietesDossier>>,
}

/// `ProprietesDossier`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProprietesDossier {
    pub numero: Option<String>,
    pub raison_sociale: Option<String>,
    pub siret: Option<String>,
    pub groupe: Option<String>,
    pub etat_dossier: Option<i32>,
}

/// `ListeEtablissementsDossierPaieResponse`: the establishments of a dossier.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListeEtablissementsDossierPaieResponse {
    pub informations_etablissements: Option<Vec<InformationsEtablissement>>,
}

/// `InformationsEtablissement`: an establishment's internal name and its stable SIRET.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InformationsEtablissement {
    pub nom_interne: Option<String>,
    pub siret: Option<String>,
    pub etablissement_principal: Option<bool>,
}

/// `ApiErrors`: what Silae answers with a 4xx/5xx.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ApiErrors {
    #[serde(default)]
    pub errors: Vec<ApiError>,
    pub recoverable: Option<bool>,
    pub source: Option<String>,
}

/// `ApiError`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ApiErrors {
    /// The errors as one line: `code: message; code: message`.
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| match (&e.code, &e.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.clone(),
                (None, Some(m)) => m.clone(),
                (None, None) => "(no detail)".to_owned(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The date part of a Silae date-time (`2026-10-01T00:00:00` -> `2026-10-01`).
pub fn date_part(text: &str) -> Option<jiff::civil::Date> {
    text.get(..10)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_amounts_as_text() {
        let l: Ligne = serde_json::from_str(r#"{"valeur": 52885.91, "pctRepartition": 60.0}"#).unwrap();
        assert_eq!(l.valeur, Some(Decimal("52885.91".into())));
        assert_eq!(l.pct_repartition, Some(Decimal("60.0".into())));
        assert!(serde_json::from_str::<Ligne>(r#"{"valeur": "12"}"#).is_err());
    }

    #[test]
    fn reads_dates() {
        assert_eq!(date_part("2026-10-31T00:00:00").unwrap().to_string(), "2026-10-31");
        assert_eq!(date_part("2026-10-31T00:00:00+02:00").unwrap().to_string(), "2026-10-31");
        assert!(date_part("31/10/2026").is_none());
    }
}
