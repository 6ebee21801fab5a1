//! What the focal point's `AuditService` reads: proofs, verification, reconciliation and reports.
//!
//! Everything it returns can be checked without trusting the node: entries come with their stored
//! bytes (the Merkle leaf input), checkpoints are signed notes, proofs are RFC 9162 proofs.

mod reconcile;
pub mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use prost::Message;
use tokio::sync::mpsc;
use tonic::Status;
use tulpar_core::codes::CountryCode;
use tulpar_core::ids::AlertId;
use tulpar_core::limits::PAGE_BYTES;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::from_timestamp;
use tulpar_core::validation::Violations;
use tulpar_ledger::note::{CheckpointBody, Note, VerifierKey, VerifierKind};
use tulpar_proto::pbjson_types::Timestamp;

use crate::context::Context;
use crate::error::ApiError;
use crate::state::StoredAlert;
use crate::witness::Witness;
use reconcile::Reconciliation;
use report::{Period, exchange_figures};
use tulpar_audit::EntryChecker;

/// Most entries one `GetEntries` call returns.
const MAX_ENTRIES_PER_CALL: u64 = 1000;
/// Entries `GetEntries` reads from the ledger at a time while filling a page.
const ENTRIES_READ_AT_ONCE: u64 = 16;
/// Default threshold past which a delivery is reported as late.
const DEFAULT_LATE_AFTER: Duration = Duration::from_secs(3600);
/// How often a running verification reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// One cosigner of this node's checkpoints as the audit shows it: a partner (its country) or an external
/// witness, its name and keys, and the latest checkpoint it cosigned.
struct CosignerView {
    country: Option<CountryCode>,
    name: String,
    keys: Vec<VerifierKey>,
    cosigned: Option<String>,
}

/// What the audit API reads: the ledger with its proofs, reconciliation with a partner, reports.
pub(crate) struct Auditor {
    pub(crate) context: Arc<Context>,
    /// `data_dir`: where the ledger's segments are, for a full verification.
    data_dir: PathBuf,
    /// `trust.own_directory`: this country's keys, for checking entry signatures.
    own_directory: PathBuf,
    /// Who cosigns this node's checkpoints, and the policy.
    witness: Arc<Witness>,
}

impl Auditor {
    /// Auditing `context`'s ledger in `data_dir`, with this country's directory in `own_directory`.
    pub(crate) fn new(
        context: Arc<Context>,
        data_dir: PathBuf,
        own_directory: PathBuf,
        witness: Arc<Witness>,
    ) -> Self {
        Self {
            context,
            data_dir,
            own_directory,
            witness,
        }
    }

    /// A checker of entry signatures with this country's directory and the partners trusted now.
    pub(crate) fn entry_checker(&self) -> Result<EntryChecker, ApiError> {
        let path = &self.own_directory;
        let own = tulpar_audit::read_own_directory(path, self.context.country).map_err(|e| {
            ApiError::Unavailable(format!("trust.own_directory: {}: {e}", path.display()))
        })?;
        Ok(EntryChecker::new(
            self.context.country,
            &self.context.federation,
            own,
            &self.context.trust,
        ))
    }

    /// The latest checkpoint, and the witnessed one: of the checkpoints partners and external witnesses
    /// last cosigned, the largest with as many cosignatures as the policy asks (or, when none has
    /// them yet, the largest), with every cosignature of it.
    pub(crate) fn checkpoints(&self) -> Result<proto::GetLatestCheckpointResponse, ApiError> {
        let latest = self.context.latest_checkpoint();
        let mut cosigners: Vec<CosignerView> = Vec::new();
        for partner in self.context.partners() {
            let name = self.context.witness_name_of(partner);
            let keys = self
                .witness
                .checkpoint_keys(partner)
                .into_iter()
                .map(|key| VerifierKey {
                    name: name.clone(),
                    kind: VerifierKind::Cosigner,
                    key,
                })
                .collect();
            let cosigned = self.context.state.cosigned_by(partner)?;
            cosigners.push(CosignerView {
                country: Some(partner),
                name,
                keys,
                cosigned,
            });
        }
        for witness in self.witness.external_witnesses() {
            let cosigned = self.context.state.cosigned_by_witness(&witness.key.name)?;
            cosigners.push(CosignerView {
                country: None,
                name: witness.key.name.clone(),
                keys: vec![witness.key.clone()],
                cosigned,
            });
        }
        // Checkpoints by body, each with the cosignatures it carries.
        let mut groups: Vec<(CheckpointBody, Note, Vec<proto::Cosignature>)> = Vec::new();
        for CosignerView {
            country,
            name,
            keys,
            cosigned,
        } in cosigners
        {
            let Some(text) = cosigned else { continue };
            let note = Note::parse(&text).map_err(ApiError::internal)?;
            let body = CheckpointBody::parse(&note.body).map_err(ApiError::internal)?;
            let Some((key, time)) = keys
                .iter()
                .find_map(|k| Some((k, note.verify_cosignature(&name, &k.key).ok()?)))
            else {
                continue;
            };
            let hash = key.key_hash();
            let lines: Vec<_> = note
                .signatures
                .iter()
                .filter(|s| s.name == name && s.key_hash == hash)
                .cloned()
                .collect();
            let cosignature = proto::Cosignature {
                name: name.clone(),
                key: key.to_string(),
                country: country.map(|c| c.to_string()).unwrap_or_default(),
                time: Some(Timestamp {
                    seconds: i64::try_from(time).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
                line: lines.first().map(|l| l.to_line()).unwrap_or_default(),
            };
            match groups.iter_mut().find(|(held, _, _)| *held == body) {
                Some((_, held_note, cosignatures)) => {
                    held_note.signatures.extend(lines);
                    cosignatures.push(cosignature);
                }
                None => {
                    let mut note = note;
                    note.signatures.retain(|s| s.name == body.origin);
                    note.signatures.extend(lines);
                    groups.push((body, note, vec![cosignature]));
                }
            }
        }
        let quorum = self.witness.quorum();
        let chosen = groups
            .into_iter()
            .max_by_key(|(body, _, cosignatures)| (cosignatures.len() >= quorum, body.size));
        let Some((body, note, cosignatures)) = chosen else {
            return Ok(proto::GetLatestCheckpointResponse {
                checkpoint: Some(latest),
                quorum: u32::try_from(quorum).unwrap_or(u32::MAX),
                witnessed: quorum == 0,
                ..Default::default()
            });
        };
        Ok(proto::GetLatestCheckpointResponse {
            checkpoint: Some(latest),
            cosigned_checkpoint: Some(proto::Checkpoint {
                note: note.to_text(),
                origin: body.origin,
                size: body.size,
                root_hash: body.root.to_vec(),
            }),
            witnesses: cosignatures
                .iter()
                .map(|c| {
                    if c.country.is_empty() {
                        c.name.clone()
                    } else {
                        c.country.clone()
                    }
                })
                .collect(),
            witnessed: cosignatures.len() >= quorum,
            quorum: u32::try_from(quorum).unwrap_or(u32::MAX),
            cosignatures,
        })
    }

    /// Every alert record with its id, oldest first.
    fn all_alerts(&self) -> Result<Vec<(String, StoredAlert)>, ApiError> {
        let mut alerts = self
            .context
            .state
            .alerts_newest_first(None)
            .map(|item| {
                let (id, stored) = item?;
                let id = AlertId::from_bytes(id)
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                Ok((id, stored))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        alerts.reverse();
        Ok(alerts)
    }

    /// Reconciles at `checkpoints`, which must be taken in [`crate::settle::Settle::settled`]: the
    /// receipts are judged up to its latest checkpoint, and a delivery in progress there would show
    /// as a receipt never issued.
    pub(crate) fn reconcile(
        &self,
        request: proto::ReconcileRequest,
        checkpoints: proto::GetLatestCheckpointResponse,
    ) -> Result<proto::ReconcileReport, ApiError> {
        let mut violations = Vec::new();
        let partner = parse_partner(&request.partner, true, &mut violations);
        if let Some(partner) = partner.filter(|p| !self.context.is_partner(*p)) {
            violations.push((
                "partner".into(),
                format!("{partner} is not a partner in this node's trust store"),
            ));
        }
        let period = parse_period(
            partner,
            request.from.as_ref(),
            request.to.as_ref(),
            violations,
        )?;
        let partner = period.partner.expect("a reconciliation names its partner");
        let size = checkpoints.checkpoint.as_ref().map_or(0, |c| c.size);
        let checker = self.entry_checker()?;
        let late_after = match request.late_after_seconds {
            0 => DEFAULT_LATE_AFTER,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        let mut run = Reconciliation {
            node: &self.context,
            checker: &checker,
            partner,
            size,
            late_after,
            report: proto::ReconcileReport {
                partner: partner.to_string(),
                ..Default::default()
            },
        };
        for (id, stored) in self.all_alerts()? {
            if stored.ledger_index < size && !period.exchanges(&stored).is_empty() {
                run.alert(&id, &stored)?;
            }
        }
        let mut report = run.report;
        report.checkpoints = Some(checkpoints);
        Ok(report)
    }

    pub(crate) fn exchange_report(
        &self,
        request: proto::ExchangeReportRequest,
    ) -> Result<proto::ExchangeReport, ApiError> {
        let mut violations = Vec::new();
        let partner = parse_partner(&request.partner, false, &mut violations);
        let period = parse_period(
            partner,
            request.from.as_ref(),
            request.to.as_ref(),
            violations,
        )?;
        let alerts = self.all_alerts()?;
        let rows = exchange_figures(&period, alerts.iter().map(|(_, stored)| stored));
        // Taken after the figures, so that it covers every entry they come from.
        let checkpoints = self.checkpoints()?;
        Ok(proto::ExchangeReport {
            from: request.from,
            to: request.to,
            rows,
            checkpoints: Some(checkpoints),
        })
    }

    /// The exchange report's figures per calendar month (UTC) of `from..to`, the first and last month
    /// cut to the period; at most [`MAX_MONTHS`], the latest. Each month starts at its first instant.
    pub(crate) fn monthly_figures(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<(SystemTime, Vec<proto::ExchangeFigures>)>, ApiError> {
        let alerts = self.all_alerts()?;
        let months = calendar_months(from, to);
        let skip = months.len().saturating_sub(MAX_MONTHS);
        Ok(months
            .into_iter()
            .skip(skip)
            .map(|(start, end)| {
                let period = Period {
                    partner: None,
                    from: start.max(from),
                    to: end.min(to),
                };
                let rows = exchange_figures(&period, alerts.iter().map(|(_, stored)| stored));
                (start, rows)
            })
            .collect())
    }

    /// Partners' equivocations recorded in the ledger, then the damage found in the ledger's own
    /// segments since the node started (an equivocation whose entry is damaged shows as that damage).
    pub(crate) fn alarms(&self) -> Result<proto::ListAlarmsResponse, ApiError> {
        let mut alarms = Vec::new();
        for index in self.context.state.alarms()? {
            let entry = match self.context.ledger.entry(index) {
                Ok(entry) => entry,
                Err(tulpar_ledger::LedgerError::Corrupt { .. }) => continue,
                Err(other) => return Err(other.into()),
            };
            if let Some(Kind::EquivocationDetected(evidence)) = entry.kind {
                alarms.push(proto::Alarm {
                    ledger_index: index,
                    recorded_at: entry.recorded_at,
                    equivocation: Some(evidence),
                    damage: None,
                });
            }
        }
        let integrity = self.context.ledger.integrity();
        let integrity = integrity.borrow();
        for damage in &integrity.damage {
            let damage = self.context.damage_to_proto(damage);
            alarms.push(proto::Alarm {
                ledger_index: damage.first_index,
                recorded_at: damage.found_at,
                equivocation: None,
                damage: Some(damage),
            });
        }
        Ok(proto::ListAlarmsResponse {
            alarms,
            ledger_checked: integrity.checked,
        })
    }

    pub(crate) fn audit_entries(
        &self,
        request: &proto::GetEntriesRequest,
    ) -> Result<proto::GetEntriesResponse, ApiError> {
        if request.end < request.start {
            return Err(ApiError::Invalid(Violations::single(
                "end",
                format!("must not be less than start ({})", request.start),
            )));
        }
        let tree_size = self.context.ledger_size();
        let end = request
            .end
            .min(tree_size)
            .min(request.start.saturating_add(MAX_ENTRIES_PER_CALL));
        let mut entries = Vec::new();
        let mut bytes = 0;
        // Read a few entries at a time: a page of large entries ends long before `end`.
        let mut next = request.start;
        'page: while next < end {
            let until = end.min(next + ENTRIES_READ_AT_ONCE);
            for (index, raw) in self.context.ledger.entries_bytes(next..until)? {
                let entry =
                    proto::LedgerEntry::decode(raw.as_slice()).map_err(ApiError::internal)?;
                let item = proto::AuditEntry {
                    index,
                    raw,
                    entry: Some(entry),
                };
                // The page stops before PAGE_BYTES (always holding one entry); the caller asks
                // again from the index after the last one returned.
                let size = item.encoded_len();
                if !entries.is_empty() && bytes + size > PAGE_BYTES {
                    break 'page;
                }
                bytes += size;
                entries.push(item);
            }
            next = until;
        }
        Ok(proto::GetEntriesResponse { entries, tree_size })
    }

    /// The latest checkpoint's size when `requested` is 0, else `requested` if the ledger has it.
    fn tree_size(&self, field: &str, requested: u64) -> Result<u64, ApiError> {
        let latest = self.context.ledger.latest_checkpoint().size();
        match requested {
            0 => Ok(latest),
            size if size <= latest => Ok(size),
            size => Err(ApiError::Invalid(Violations::single(
                field,
                format!("{size} is larger than the ledger's latest checkpoint ({latest})"),
            ))),
        }
    }

    pub(crate) fn audit_inclusion_proof(
        &self,
        request: &proto::GetInclusionProofRequest,
    ) -> Result<proto::InclusionProof, ApiError> {
        let size = self.tree_size("tree_size", request.tree_size)?;
        if request.leaf_index >= size {
            return Err(ApiError::Invalid(Violations::single(
                "leaf_index",
                format!("must be less than the tree size ({size})"),
            )));
        }
        self.context
            .ledger
            .inclusion_proof(request.leaf_index, size)
            .map_err(ApiError::internal)
    }

    pub(crate) fn audit_consistency_proof(
        &self,
        request: &proto::GetConsistencyProofRequest,
    ) -> Result<proto::ConsistencyProof, ApiError> {
        let new_size = self.tree_size("new_size", request.new_size)?;
        if request.old_size == 0 || request.old_size > new_size {
            return Err(ApiError::Invalid(Violations::single(
                "old_size",
                format!("must be between 1 and the new size ({new_size})"),
            )));
        }
        self.context
            .ledger
            .consistency_proof(request.old_size, new_size)
            .map_err(ApiError::internal)
    }
}

fn parse_partner(
    text: &str,
    required: bool,
    violations: &mut Vec<(String, String)>,
) -> Option<CountryCode> {
    if text.is_empty() {
        if required {
            violations.push(("partner".into(), "is required".into()));
        }
        return None;
    }
    match CountryCode::parse(text) {
        Ok(country) => Some(country),
        Err(error) => {
            violations.push(("partner".into(), error.to_string()));
            None
        }
    }
}

/// Most months [`Auditor::monthly_figures`] gives.
pub(crate) const MAX_MONTHS: usize = 36;

/// The calendar months (UTC) that `from..to` touches, each as its first instant and the next month's.
fn calendar_months(from: SystemTime, to: SystemTime) -> Vec<(SystemTime, SystemTime)> {
    let first_of = |at: SystemTime| {
        let date = time::OffsetDateTime::from(at).date();
        date.replace_day(1).unwrap_or(date)
    };
    let next = |month: time::Date| {
        let (year, month) = match month.month() {
            time::Month::December => (month.year() + 1, time::Month::January),
            other => (month.year(), other.next()),
        };
        time::Date::from_calendar_date(year, month, 1).ok()
    };
    let instant = |date: time::Date| SystemTime::from(date.midnight().assume_utc());
    let mut months = Vec::new();
    if from >= to {
        return months;
    }
    let mut month = Some(first_of(from));
    while let Some(start) = month.filter(|m| instant(*m) < to) {
        let end = next(start);
        months.push((instant(start), end.map_or(to, instant)));
        month = end;
    }
    months
}

fn parse_period(
    partner: Option<CountryCode>,
    from: Option<&Timestamp>,
    to: Option<&Timestamp>,
    mut violations: Vec<(String, String)>,
) -> Result<Period, ApiError> {
    let mut time = |field: &str, value: Option<&Timestamp>| match value {
        None => {
            violations.push((field.into(), "is required".into()));
            None
        }
        Some(ts) => {
            let time = from_timestamp(ts);
            if time.is_none() {
                violations.push((field.into(), "is not a valid timestamp".into()));
            }
            time
        }
    };
    let (from, to) = (time("from", from), time("to", to));
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            violations.push(("to".into(), "must be after from".into()));
        }
    }
    if let Some(violations) = Violations::from_pairs(violations) {
        return Err(ApiError::Invalid(violations));
    }
    Ok(Period {
        partner,
        from: from.unwrap_or(SystemTime::UNIX_EPOCH),
        to: to.unwrap_or(SystemTime::UNIX_EPOCH),
    })
}

/// Runs the full verification on a blocking thread, sending progress and then the result to `tx`.
/// Stops early when the caller goes away or the node shuts down.
pub(crate) fn verify_ledger(
    node: Arc<Auditor>,
    slot: tokio::sync::OwnedSemaphorePermit,
    checker: EntryChecker,
    tx: mpsc::Sender<Result<proto::VerifyLedgerProgress, Status>>,
) {
    let total = node.context.ledger_size();
    let gone = AtomicBool::new(false);
    let mut last_sent = Instant::now();
    let mut revoked = Vec::new();
    let result = tulpar_ledger::verify_dir_entries(
        &node.data_dir,
        Some(&node.context.ledger.checkpoint_keys()),
        |progress| {
            if last_sent.elapsed() < PROGRESS_EVERY {
                return;
            }
            last_sent = Instant::now();
            let message = proto::VerifyLedgerProgress {
                checked: progress.entries,
                total: total.max(progress.entries),
                ..Default::default()
            };
            if tx.blocking_send(Ok(message)).is_err() {
                gone.store(true, Ordering::Relaxed);
            }
        },
        |index, raw| {
            if gone.load(Ordering::Relaxed) {
                return Err("the caller went away".into());
            }
            if node.context.lifecycle.is_stopping() {
                return Err("the node is shutting down; verify again once it is back".into());
            }
            revoked.extend(checker.check(index, raw)?);
            Ok(())
        },
    );
    let last = match result {
        Ok(report) => {
            // The proofs the node serves come from the stored tree: it must agree with the signed
            // checkpoints just checked against the segments. The segments may already hold a batch
            // the ledger has not published, so the comparison is at the smaller size.
            let size = report.size.min(node.context.ledger_size());
            let agrees = size == 0
                || matches!(
                    (node.context.ledger.root_at(size), node.context.ledger.checkpoint_at(size)),
                    (Ok(stored), Ok(Some(checkpoint))) if stored == *checkpoint.root()
                );
            let mut last = proto::VerifyLedgerProgress {
                checked: report.size,
                total: report.size,
                done: true,
                ok: true,
                checkpoint: report.checkpoint.as_ref().map(|c| c.to_proto()),
                revoked_signatures: revoked.iter().map(|r| r.to_proto()).collect(),
                ..Default::default()
            };
            if !agrees {
                last.ok = false;
                last.error = format!(
                    "the stored Merkle tree of size {size} does not match the segments; rebuild \
                     the index (delete it and restart the node) before serving proofs"
                );
            }
            last
        }
        Err(error) => proto::VerifyLedgerProgress {
            checked: error.index.unwrap_or(0),
            total,
            done: true,
            ok: false,
            first_bad_index: error.index.unwrap_or(0),
            error: error.to_string(),
            revoked_signatures: revoked.iter().map(|r| r.to_proto()).collect(),
            ..Default::default()
        },
    };
    if last.ok {
        tracing::info!(entries = last.checked, "ledger verified on request");
    } else {
        tracing::error!(error = %last.error, "ledger verification failed");
    }
    // Free before the result is sent: a caller that reads it may verify again at once.
    drop(slot);
    let _ = tx.blocking_send(Ok(last));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_cut_into_the_calendar_months_it_touches() {
        let at = |text: &str| -> SystemTime {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .into()
        };
        let months = calendar_months(at("2026-11-15T00:00:00Z"), at("2027-02-02T00:00:00Z"));
        let starts: Vec<SystemTime> = months.iter().map(|(start, _)| *start).collect();
        let expected = ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]
            .map(|day| at(&format!("{day}T00:00:00Z")));
        assert_eq!(starts, expected);
        assert_eq!(
            months[1].1,
            at("2027-01-01T00:00:00Z"),
            "December ends at New Year"
        );
        let within = calendar_months(at("2026-11-02T00:00:00Z"), at("2026-11-30T00:00:00Z"));
        assert_eq!(within.len(), 1);
        assert!(calendar_months(at("2026-11-02T00:00:00Z"), at("2026-11-02T00:00:00Z")).is_empty());
    }
}
