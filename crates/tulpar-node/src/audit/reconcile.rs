//! Reconciliation with a partner: every alert and response exchanged in a period is matched against the
//! delivery receipts in this node's ledger — the partner's receipts for what was sent (checked against
//! the partner's keys and against what was sent), this node's receipts for what was received.

use std::time::{Duration, SystemTime};

use tulpar_audit::EntryChecker;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{PayloadType, decode_recorded, payload_digest};
use tulpar_core::proto::{
    self, Direction, ReconcileFindingKind as FindingKind, ledger_entry::Kind,
};
use tulpar_core::time::{fmt_duration, from_timestamp};

use crate::context::Context;
use crate::error::ApiError;
use crate::state::StoredAlert;

/// Something exchanged that needs a receipt: an alert or a response, in one direction.
struct Exchanged<'a> {
    alert_id: &'a str,
    response_id: String,
    /// Index of the entry recording it.
    index: u64,
    envelope: proto::Envelope,
    created_at: SystemTime,
    direction: Direction,
}

impl Exchanged<'_> {
    fn what(&self) -> String {
        match (self.response_id.is_empty(), self.direction) {
            (true, Direction::Received) => format!("alert {} received", self.alert_id),
            (true, _) => format!("alert {} sent", self.alert_id),
            (false, Direction::Received) => format!("response {} received", self.response_id),
            (false, _) => format!("response {} sent", self.response_id),
        }
    }
}

/// A receipt found in the ledger for something exchanged.
struct FoundReceipt {
    index: u64,
    raw: Vec<u8>,
    body: proto::DeliveryReceipt,
}

/// Runs a reconciliation; reads only entries below `size`.
pub(crate) struct Reconciliation<'a> {
    pub(crate) node: &'a Context,
    pub(crate) checker: &'a EntryChecker,
    pub(crate) partner: CountryCode,
    pub(crate) size: u64,
    pub(crate) late_after: Duration,
    pub(crate) report: proto::ReconcileReport,
}

impl Reconciliation<'_> {
    fn finding(&mut self, kind: FindingKind, item: &Exchanged<'_>, index: u64, detail: String) {
        self.report.findings.push(proto::ReconcileFinding {
            kind: kind as i32,
            alert_id: item.alert_id.to_owned(),
            response_id: item.response_id.clone(),
            ledger_index: index,
            detail,
        });
    }

    /// Reconciles one alert of the period, and the responses exchanged about it.
    pub(crate) fn alert(&mut self, alert_id: &str, stored: &StoredAlert) -> Result<(), ApiError> {
        let direction = if stored.direction == Direction::Sent as i32 {
            Direction::Sent
        } else {
            Direction::Received
        };
        let entries: Vec<(u64, Vec<u8>, proto::LedgerEntry)> = self
            .node
            .ledger
            .indexes_for_alert(alert_id.as_bytes())
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|i| *i < self.size)
            .map(|i| {
                let raw = self.node.ledger.entry_bytes(i)?;
                let entry = prost::Message::decode(raw.as_slice()).map_err(ApiError::internal)?;
                Ok((i, raw, entry))
            })
            .collect::<Result<_, ApiError>>()?;
        let mut items = Vec::new();
        let mut receipts = Vec::new();
        for (index, raw, entry) in entries {
            match entry.kind {
                Some(Kind::AlertSent(sent)) if direction == Direction::Sent => {
                    items.extend(self.item(alert_id, index, sent.alert, Direction::Sent));
                }
                Some(Kind::AlertReceived(received))
                    if received.from_country == self.partner.as_str() =>
                {
                    items.extend(self.item(alert_id, index, received.alert, Direction::Received));
                }
                Some(Kind::ResponseSent(sent)) if sent.to_country == self.partner.as_str() => {
                    items.extend(self.item(alert_id, index, sent.response, Direction::Sent));
                }
                Some(Kind::ResponseReceived(received))
                    if received.from_country == self.partner.as_str() =>
                {
                    items.extend(self.item(
                        alert_id,
                        index,
                        received.response,
                        Direction::Received,
                    ));
                }
                Some(Kind::ReceiptReceived(received))
                    if received.from_country == self.partner.as_str() =>
                {
                    receipts.extend(receipt(index, raw, received.receipt, Direction::Sent));
                }
                Some(Kind::ReceiptIssued(issued)) if issued.to_country == self.partner.as_str() => {
                    receipts.extend(receipt(index, raw, issued.receipt, Direction::Received));
                }
                _ => {}
            }
        }
        for item in &items {
            let is_alert = item.response_id.is_empty();
            match (is_alert, item.direction) {
                (true, Direction::Sent) => self.report.sent += 1,
                (true, _) => self.report.received += 1,
                _ => {}
            }
            let found = receipts.iter().find(|(direction, r)| {
                *direction == item.direction
                    && r.body.alert_id == item.alert_id
                    && r.body.response_id == item.response_id
            });
            match found {
                None => self.missing(item),
                Some((_, found)) => {
                    if self.check(item, found) && is_alert {
                        match item.direction {
                            Direction::Sent => self.report.sent_receipted += 1,
                            _ => self.report.received_receipted += 1,
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn item<'a>(
        &self,
        alert_id: &'a str,
        index: u64,
        envelope: Option<proto::Envelope>,
        direction: Direction,
    ) -> Option<Exchanged<'a>> {
        let envelope = envelope?;
        let (response_id, created_at) = if envelope.payload_type == PayloadType::Alert.as_str() {
            let alert: proto::Alert = decode_recorded(&envelope, PayloadType::Alert).ok()?;
            (String::new(), alert.created_at)
        } else {
            let response: proto::AlertResponse =
                decode_recorded(&envelope, PayloadType::Response).ok()?;
            (response.response_id, response.created_at)
        };
        Some(Exchanged {
            alert_id,
            response_id,
            index,
            envelope,
            created_at: created_at.as_ref().and_then(from_timestamp)?,
            direction,
        })
    }

    fn missing(&mut self, item: &Exchanged<'_>) {
        let (kind, detail) = match item.direction {
            Direction::Sent => (
                FindingKind::MissingReceipt,
                format!(
                    "{} to {}: no delivery receipt from {} in the ledger",
                    item.what(),
                    self.partner,
                    self.partner
                ),
            ),
            _ => (
                FindingKind::ReceiptNotIssued,
                format!(
                    "{} from {}: this node recorded no receipt for it",
                    item.what(),
                    self.partner
                ),
            ),
        };
        self.finding(kind, item, item.index, detail);
    }

    /// Checks a receipt against what was exchanged; true when it holds.
    fn check(&mut self, item: &Exchanged<'_>, found: &FoundReceipt) -> bool {
        let (sender, recipient, signer) = match item.direction {
            Direction::Sent => (self.node.country, self.partner, self.partner),
            _ => (self.partner, self.node.country, self.node.country),
        };
        let body = &found.body;
        let mut problems = Vec::new();
        if let Err(error) = self.checker.check(found.index, &found.raw) {
            problems.push(format!("its signature does not hold: {error}"));
        }
        if body.sender_country != sender.as_str() || body.recipient_country != recipient.as_str() {
            problems.push(format!(
                "it names {} → {}, not {sender} → {recipient}",
                body.sender_country, body.recipient_country
            ));
        }
        if body.payload_sha256 != payload_digest(&item.envelope) {
            problems.push("it is for a different payload than the one recorded".into());
        }
        let received_at = body.received_at.as_ref().and_then(from_timestamp);
        match self
            .checker
            .checkpoint_size(signer, &body.checkpoint, received_at)
        {
            Ok(size) if size > body.ledger_index => {}
            Ok(size) => problems.push(format!(
                "its checkpoint (size {size}) does not cover its ledger index {}",
                body.ledger_index
            )),
            Err(error) => problems.push(format!("its checkpoint does not verify: {error}")),
        }
        if !problems.is_empty() {
            let detail = format!("receipt for {}: {}", item.what(), problems.join("; "));
            self.finding(FindingKind::Inconsistent, item, found.index, detail);
            return false;
        }
        if let Some(delay) = received_at.and_then(|at| at.duration_since(item.created_at).ok()) {
            if delay > self.late_after {
                let detail = format!(
                    "{} was delivered {} after it was created (threshold {})",
                    item.what(),
                    fmt_duration(delay),
                    fmt_duration(self.late_after)
                );
                self.finding(FindingKind::Late, item, found.index, detail);
            }
        }
        true
    }
}

fn receipt(
    index: u64,
    raw: Vec<u8>,
    envelope: Option<proto::Envelope>,
    direction: Direction,
) -> Option<(Direction, FoundReceipt)> {
    let body = decode_recorded(&envelope?, PayloadType::Receipt).ok()?;
    Some((direction, FoundReceipt { index, raw, body }))
}

#[cfg(test)]
mod tests;
