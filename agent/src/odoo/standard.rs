//! `write_mode = "standard"`: writing without the payflow_silae addon, with Odoo's stock models
//! and methods only (what Odoo Online allows). The import key and the payload's fingerprint
//! travel in the move's `narration` (its internal note, a stock Html field Odoo keeps, copies
//! with the move and can search with `ilike`); Silae's answer is attached in the same `create`
//! (`attachment_ids` with `Command.create`), the attachment's `description` naming the key
//! again. Before writing, the period's keys are searched (under the dossier's lock); a key found
//! twice, or edited away from its move, is refused with nothing written. docs/odoo-protocol.md
//! says why `narration`; docs/reliability.md what this mode guarantees and what it cannot.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::{
    params, Existing, MoveState, OdooClient, OdooError, ResolveError, Resolved, Target, WriteError, WriteOutcome,
    WriteResult,
};
use crate::config::WriteMode;
use crate::journal::ImportPlan;
use crate::payments::{InOdoo, OpenLine};

/// What precedes the key, and the fingerprint, in the move's note (accountants read it).
const KEY_MARK: &str = "Clé d'import PayFlow : ";
const HASH_MARK: &str = "Empreinte PayFlow : ";

/// The move's note: the key and the fingerprint, each on its own line, then PayFlow's message.
pub fn narration(key: &str, hash: &str, message: &str) -> String {
    format!(
        "<p>{KEY_MARK}{key}</p><p>{HASH_MARK}{hash}</p><p>Ne pas modifier ces deux lignes : PayFlow s'en sert pour ne jamais importer cette paie deux fois.</p>{message}"
    )
}

/// The key and the fingerprint a note carries (`None` when its key line is gone).
pub fn parse_narration(text: &str) -> Option<(String, Option<String>)> {
    // Found by the marks' tails: an editor may give the apostrophe back as an entity.
    let value_after = |tail: &str| {
        let i = text.find(tail)?;
        let value = &text[i + tail.len()..];
        let end = value.find(|c: char| c.is_whitespace() || "<&\"'".contains(c)).unwrap_or(value.len());
        Some(value[..end].to_owned())
    };
    let key = value_after("import PayFlow : ").filter(|k| k.starts_with("silae:"))?;
    let hash = value_after(HASH_MARK).filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()));
    Some((key, hash))
}

/// A move of the period that carries a PayFlow key in its note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: i64,
    pub name: Option<String>,
    pub state: MoveState,
    pub key: String,
    pub hash: Option<String>,
    pub date: String,
    pub journal_id: i64,
    pub reference: String,
}

/// An attachment that says it is the Silae answer of a key's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub move_id: i64,
    pub key: String,
}

/// What Odoo holds for a period, as standard mode sees it.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub moves: Vec<Held>,
    pub marks: Vec<Mark>,
    /// Moves an attachment points to that are not among `moves`: (id, name), their key gone.
    pub unkeyed: Vec<(i64, Option<String>)>,
}

fn move_name(v: &Value) -> Option<String> {
    v["name"].as_str().filter(|n| !n.is_empty() && *n != "/").map(str::to_owned)
}

impl OdooClient {
    /// Whether this client writes without the addon: `write_mode = "standard"`, or `auto` once
    /// the database was found without it.
    pub fn writes_standard(&self) -> bool {
        match self.config.write_mode {
            WriteMode::Standard => true,
            WriteMode::Addon => false,
            WriteMode::Auto => self.standard_found.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The agent's own reads for the write mode in force: with the addon's key field
    /// ([`OdooClient::resolve`]), or in standard mode without it, the period's notes and
    /// attachments read and checked ([`check`]). `auto` turns to standard mode where the key
    /// field is missing (the addon is not installed).
    pub async fn resolve_for_mode(&self, target: &Target<'_>, plan: &ImportPlan) -> Result<Resolved, ResolveError> {
        let prefix = plan.key_prefix();
        let (mut resolved, held) = if self.writes_standard() {
            let (r, h) = tokio::join!(
                self.resolve_with(target, plan, false),
                self.standard_holdings(target.company_id, &prefix)
            );
            (r?, h?)
        } else {
            let r = self.resolve(target, plan).await?;
            if r.addon_missing.is_none() || self.config.write_mode != WriteMode::Auto {
                return Ok(r);
            }
            self.standard_found.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                database = self.config.database,
                "no payflow_silae addon: writing with Odoo's standard methods (odoo.write_mode = \"auto\")"
            );
            let h = self.standard_holdings(target.company_id, &prefix).await?;
            (r, h)
        };
        check(plan, &mut resolved, &held).map_err(ResolveError::Refused)?;
        Ok(resolved)
    }

    /// After a failed or cut standard write: the period's moves as Odoo holds them now (`None`
    /// when they cannot be read or what is there is refused by [`check`]).
    pub async fn standard_existing_now(
        &self,
        company_id: i64,
        plan: &ImportPlan,
        resolved: &Resolved,
    ) -> Option<HashMap<String, Existing>> {
        let held = self.standard_holdings(company_id, &plan.key_prefix()).await.ok()?;
        let mut now = resolved.clone();
        check(plan, &mut now, &held).ok()?;
        Some(now.existing)
    }

    /// The period's keyed moves and the attachments naming a key of it (2 concurrent reads, a
    /// third only when an attachment points to a move that lost its key).
    pub async fn standard_holdings(&self, company_id: i64, prefix: &str) -> Result<Holdings, OdooError> {
        let (moves, marks) = tokio::try_join!(
            self.search_read(
                "account.move",
                json!([["narration", "ilike", prefix], ["company_id", "=", company_id]]),
                &["id", "name", "state", "narration", "date", "journal_id", "ref"],
                json!({}),
            ),
            self.search_read(
                "ir.attachment",
                json!([["res_model", "=", "account.move"], ["description", "=like", format!("{prefix}%")]]),
                &["id", "res_id", "description"],
                json!({}),
            ),
        )?;
        let moves: Vec<Held> = moves
            .iter()
            .filter_map(|m| {
                let (key, hash) = parse_narration(m["narration"].as_str()?)?;
                Some(Held {
                    id: m["id"].as_i64()?,
                    name: move_name(m),
                    state: MoveState::from_odoo(m["state"].as_str().unwrap_or_default()),
                    key,
                    hash,
                    date: m["date"].as_str().unwrap_or_default().to_owned(),
                    journal_id: m["journal_id"].get(0).and_then(Value::as_i64).unwrap_or_default(),
                    reference: m["ref"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect();
        let marks: Vec<Mark> = marks
            .iter()
            .filter_map(|a| Some(Mark { move_id: a["res_id"].as_i64()?, key: a["description"].as_str()?.to_owned() }))
            .collect();
        let known: HashSet<i64> = moves.iter().map(|m| m.id).collect();
        let others: Vec<i64> = marks.iter().map(|m| m.move_id).filter(|id| !known.contains(id)).collect();
        let unkeyed = if others.is_empty() {
            Vec::new()
        } else {
            // The moves still there (Odoo deletes a move's attachments with it).
            self.search_read("account.move", json!([["id", "in", others]]), &["id", "name"], json!({}))
                .await?
                .iter()
                .filter_map(|m| Some((m["id"].as_i64()?, move_name(m))))
                .collect()
        };
        Ok(Holdings { moves, marks, unkeyed })
    }

    /// Writes the moves with stock methods: the drafts to replace unlinked (one `unlink`), then
    /// every new move in **one** `account.move` `create` (one transaction: all or none), each
    /// with its note and its attachment; then their names read. Not atomic across the two
    /// calls: a run cut between them leaves the drafts deleted and nothing created, which the
    /// next run creates (nothing twice). A failed or cut call is never retried here.
    pub async fn standard_write(
        &self,
        company_id: i64,
        replace: &[i64],
        entries: &[Value],
    ) -> Result<Vec<WriteResult>, WriteError> {
        if !replace.is_empty() {
            self.call("account.move", "unlink", Some(replace.to_vec()), params(json!({})), false).await?;
        }
        let vals: Vec<Value> = entries.iter().map(stock_vals).collect();
        let kwargs = params(json!({"vals_list": vals, "context": {"allowed_company_ids": [company_id]}}));
        let answer = self.call("account.move", "create", None, kwargs, false).await?;
        let ids: Vec<i64> = match &answer {
            Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
            Value::Number(n) => n.as_i64().into_iter().collect(),
            _ => Vec::new(),
        };
        if ids.len() != entries.len() || ids.iter().any(|id| *id <= 0) {
            return Err(WriteError::Malformed(format!(
                "account.move.create answered {answer} for {} moves; whether they were written is unknown: the next run searches Odoo again",
                entries.len()
            )));
        }
        // Their names (SAL/2026/10/0001): a read, retried; without it the moves keep their ids.
        let rows = self
            .search_read("account.move", json!([["id", "in", ids]]), &["id", "name", "state"], json!({}))
            .await
            .unwrap_or_default();
        Ok(entries
            .iter()
            .zip(&ids)
            .map(|(e, id)| {
                let row = rows.iter().find(|r| r["id"].as_i64() == Some(*id));
                WriteResult {
                    import_key: e["import_key"].as_str().unwrap_or_default().to_owned(),
                    id: *id,
                    name: row.and_then(move_name),
                    result: if e["replaces"].as_bool() == Some(true) {
                        WriteOutcome::Replaced
                    } else {
                        WriteOutcome::Created
                    },
                    state: row
                        .map_or(MoveState::Draft, |r| MoveState::from_odoo(r["state"].as_str().unwrap_or_default())),
                }
            })
            .collect())
    }
}

impl OdooClient {
    /// Standard mode's reconciliation of a period's net pay (docs/payments.md), the addon's
    /// posting hook done by the next run instead: when every move of the period (keyed
    /// `prefix` in its note) is posted, its open lines on 421 accounts are reconciled with
    /// Odoo's own `account.move.line.reconcile` if they balance to the cent
    /// ([`crate::payments::to_reconcile`]); else left open. Never posts, never writes a line.
    /// Two reads, then one `reconcile` per 421 account (one in a French chart), whatever the
    /// number of lines.
    pub async fn standard_reconcile(&self, company_id: i64, prefix: &str) -> Result<InOdoo, OdooError> {
        let moves = self
            .search_read(
                "account.move",
                json!([["narration", "ilike", prefix], ["company_id", "=", company_id]]),
                &["id", "state", "narration"],
                json!({}),
            )
            .await?;
        let keyed: Vec<(i64, MoveState)> = moves
            .iter()
            .filter(|m| m["narration"].as_str().and_then(parse_narration).is_some_and(|(k, _)| k.starts_with(prefix)))
            .filter_map(|m| Some((m["id"].as_i64()?, MoveState::from_odoo(m["state"].as_str().unwrap_or_default()))))
            .collect();
        let drafts = keyed.iter().filter(|(_, s)| *s != MoveState::Posted).count() as i64;
        if keyed.is_empty() || drafts > 0 {
            return Ok(InOdoo::NotPosted { drafts });
        }
        let ids: Vec<i64> = keyed.iter().map(|(id, _)| *id).collect();
        let rows = self
            .search_read(
                "account.move.line",
                json!([["move_id", "in", ids], ["account_id.code", "=like", "421%"], ["reconciled", "=", false]]),
                &["id", "account_id", "balance"],
                json!({}),
            )
            .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for r in &rows {
            // Each amount to exact cents from its text; no float is summed.
            let balance = crate::money::parse_cents(&r["balance"].to_string());
            let (Some(id), Some(account_id), Ok(balance)) =
                (r["id"].as_i64(), r["account_id"].get(0).and_then(Value::as_i64), balance)
            else {
                let detail = format!("Odoo answered a 421 line PayFlow cannot read: {r}");
                return Ok(InOdoo::Failed { detail });
            };
            lines.push(OpenLine { id, account_id, balance });
        }
        let groups = match crate::payments::to_reconcile(&lines) {
            Ok(groups) => groups,
            Err(open) => return Ok(open),
        };
        for group in groups {
            let kwargs = params(json!({"context": {"allowed_company_ids": [company_id]}}));
            self.call("account.move.line", "reconcile", Some(group), kwargs, false).await?;
        }
        Ok(InOdoo::Reconciled { lines: lines.len() as i64 })
    }
}

/// A standard `create` whose answer is not known yet: a file per dossier and period under
/// `<data_dir>/standard-writes/`, written before the create is sent and removed once its answer
/// is known. Odoo may still be committing a create whose client died (`kill -9`) or gave up
/// (timeout): while such a file is younger than [`OdooClient::in_flight_grace`], a run searches
/// the period again (polling) before it may create, so it never doubles a create in flight.
pub struct InFlight {
    path: std::path::PathBuf,
}

impl InFlight {
    pub fn new(data_dir: &std::path::Path, plan: &ImportPlan) -> InFlight {
        let name: String =
            plan.key_prefix().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        InFlight { path: data_dir.join("standard-writes").join(format!("{name}.pending")) }
    }

    /// How long ago a create of this period was sent without its answer known.
    pub fn age(&self) -> Option<Duration> {
        let sent = std::fs::metadata(&self.path).ok()?.modified().ok()?;
        Some(std::time::SystemTime::now().duration_since(sent).unwrap_or_default())
    }

    /// Written before the create is sent (and synced: it must outlive a power cut).
    pub fn begin(&self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::File::create(&self.path)?;
        f.sync_all()
    }

    pub fn end(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), "cannot remove the in-flight mark of a standard write: {e}");
            }
        }
    }
}

impl OdooClient {
    /// How long a standard create whose answer was lost may still be committed by Odoo: twice
    /// the agent's own bound on an Odoo call (`odoo.timeout_secs`).
    pub fn in_flight_grace(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.saturating_mul(2))
    }

    /// Searches the period (every 250 ms) until each move of the plan is in Odoo, or `within`
    /// has passed: what Odoo holds then, when every move is there.
    pub async fn standard_wait_found(
        &self,
        company_id: i64,
        plan: &ImportPlan,
        resolved: &Resolved,
        within: Duration,
    ) -> Option<HashMap<String, Existing>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(now) = self.standard_existing_now(company_id, plan, resolved).await {
                if plan.moves.iter().all(|m| now.contains_key(&m.import_key)) {
                    return Some(now);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(250).min(deadline - tokio::time::Instant::now())).await;
        }
    }
}

/// A `payflow_import` entry (`super::move_entry`) as stock `create` values: the note carries
/// the key and the fingerprint, `attachment_ids` the Silae answer.
fn stock_vals(entry: &Value) -> Value {
    let key = entry["import_key"].as_str().unwrap_or_default();
    let mut vals = entry["vals"].clone();
    vals["narration"] = json!(narration(
        key,
        entry["payload_hash"].as_str().unwrap_or_default(),
        entry["message"].as_str().unwrap_or_default()
    ));
    if let Some(a) = entry["attachment"].as_object() {
        vals["attachment_ids"] = json!([[0, 0, {
            "name": a.get("name").cloned().unwrap_or(json!("silae.json")),
            "datas": a.get("datas"),
            "mimetype": a.get("mimetype").cloned().unwrap_or(json!("application/json")),
            "res_model": "account.move",
            "description": key,
        }]]);
    }
    vals
}

/// Reads what Odoo holds into `resolved.existing` and `resolved.period_keys`, or refuses what
/// standard mode can tell is wrong: a key on two moves, a key's move whose date, journal or
/// reference no longer are the plan's, a move whose attachment names a key its note lost.
/// Pure.
pub fn check(plan: &ImportPlan, resolved: &mut Resolved, held: &Holdings) -> Result<(), String> {
    let shown = |id: i64, name: &Option<String>| match name {
        Some(n) => format!("{n} (id {id})"),
        None => format!("the draft id {id}"),
    };
    let mut by_key: HashMap<&str, Vec<&Held>> = HashMap::new();
    for h in &held.moves {
        by_key.entry(h.key.as_str()).or_default().push(h);
    }
    let mut problems = Vec::new();
    let mut twice: Vec<_> = by_key.iter().filter(|(_, v)| v.len() > 1).collect();
    twice.sort_by_key(|(k, _)| *k);
    for (key, moves) in twice {
        problems.push(format!(
            "the PayFlow key {key} is in the note of {} moves in Odoo ({}): one was copied or the note pasted; PayFlow cannot tell which is the payroll. Delete the copy, or remove the key's line from its note (Internal note / Terms and Conditions)",
            moves.len(),
            moves.iter().map(|h| shown(h.id, &h.name)).collect::<Vec<_>>().join(", ")
        ));
    }
    for m in &plan.moves {
        let Some(h) = [Some(&m.import_key), m.legacy_key.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|k| by_key.get(k.as_str()).filter(|v| v.len() == 1).map(|v| v[0]))
        else {
            continue;
        };
        let journal = resolved.journal_id_of(m);
        let mut changed = Vec::new();
        if h.date != m.date.to_string() {
            changed.push(format!("its date is {}, the payroll's {}", h.date, m.date));
        }
        if journal != 0 && h.journal_id != journal {
            changed.push(format!("its journal (id {}) is not the dossier's (id {journal})", h.journal_id));
        }
        if h.reference != m.reference && h.hash.as_deref() == Some(m.payload_hash.as_str()) {
            changed.push(format!("its reference is {:?}, the payroll's {:?}", h.reference, m.reference));
        }
        if !changed.is_empty() {
            problems.push(format!(
                "the move {} carries the PayFlow key {} but was changed in Odoo: {}. PayFlow cannot tell whether it is this payroll; restore it, or remove the key's line from its note if it is another entry",
                shown(h.id, &h.name),
                h.key,
                changed.join("; ")
            ));
        }
    }
    for mark in &held.marks {
        let keyed = held.moves.iter().find(|h| h.id == mark.move_id);
        let lost = match keyed {
            Some(h) if h.key == mark.key => None,
            Some(h) => Some(shown(h.id, &h.name)),
            None => held.unkeyed.iter().find(|(id, _)| *id == mark.move_id).map(|(id, name)| shown(*id, name)),
        };
        if let Some(which) = lost {
            problems.push(format!(
                "the move {which} holds the Silae answer of {} (its attachment says so) but its note no longer carries that PayFlow key: it was edited away, so PayFlow cannot tell whether this payroll is in Odoo. Put the lines \"{KEY_MARK}{}\" and its fingerprint back in the note, or delete that move if it is not the payroll",
                mark.key, mark.key
            ));
        }
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(format!(
            "standard write mode (no payflow_silae addon): nothing was written for {}:\n- {}",
            plan.key_prefix().trim_end_matches(':'),
            problems.join("\n- ")
        ));
    }
    resolved.existing = by_key
        .iter()
        .map(|(k, v)| {
            let h = v[0];
            let e = Existing { id: h.id, name: h.name.clone(), state: h.state, payload_hash: h.hash.clone() };
            ((*k).to_owned(), e)
        })
        .collect();
    resolved.period_keys = by_key.keys().map(|k| (*k).to_owned()).collect();
    resolved.period_keys.sort();
    resolved.addon_missing = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_carries_the_key_and_the_fingerprint_back() {
        let hash = "a".repeat(64);
        let note = narration("silae:100300:2026-10:etablissement-paris", &hash, "<p>Écritures…</p>");
        assert_eq!(
            parse_narration(&note),
            Some(("silae:100300:2026-10:etablissement-paris".into(), Some(hash.clone())))
        );
        // The apostrophe as an entity, as an editor may give it back.
        let retyped = note.replace('\'', "&#39;");
        assert_eq!(
            parse_narration(&retyped).map(|(k, _)| k).as_deref(),
            Some("silae:100300:2026-10:etablissement-paris")
        );
        // The key's line removed: no key.
        let edited = note.replace("silae:100300:2026-10:etablissement-paris", "");
        assert_eq!(parse_narration(&edited), None);
        assert_eq!(
            parse_narration("<p>Clé d'import : silae:1:2026-10:x</p>"),
            None,
            "the chatter's own line is not the mark"
        );
    }
}
