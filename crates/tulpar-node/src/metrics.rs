//! Counters and histograms of what the node records, for Prometheus.
//!
//! Every fact the node learns is a ledger append, so the counters are incremented in one place: after
//! [`crate::context::Context::append_all`] succeeds, from the entries it wrote ([`Metrics::events_of`]
//! reads them before they go, [`Metrics::record`] counts them once durable). Nothing else in the node
//! needs a hook, and a refused or failed append counts nothing. Gauges (outboxes, partners, ledger,
//! witnessing, certificates, the process) are read from the node's own state at each scrape instead
//! (`scrape.rs`), so they cannot drift from it.
//!
//! Labels come from bounded sets only: country codes the trust store pins (or the own country),
//! priorities, response kinds and fixed method names; never alert ids or unit ids.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::proto::{self, alert_response, ledger_entry::Kind, outcome};
use tulpar_core::time::from_timestamp;

use crate::state::State;

pub(crate) mod partner_calls;
pub(crate) mod process;

pub(crate) use partner_calls::PartnerChannel;

/// Labels of a count of alerts exchanged with one partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AlertLabels {
    /// The partner's country code.
    pub(crate) partner: String,
    /// `urgent`, `high`, `routine` or `unspecified`.
    pub(crate) priority: &'static str,
}

/// Labels of a count of responses exchanged with one partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ResponseLabels {
    /// The partner's country code.
    pub(crate) partner: String,
    /// The answered alert's priority.
    pub(crate) priority: &'static str,
    /// `acknowledged`, `declined`, or the outcome: `seizure`, `nothing_found`, `not_inspected`,
    /// `did_not_arrive`.
    pub(crate) response: &'static str,
}

/// Labels of a missed deadline.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeadlineLabels {
    /// The country whose acknowledgement is late: a partner, or this country for received alerts.
    pub(crate) recipient: String,
    /// The alert's priority.
    pub(crate) priority: &'static str,
}

/// Labels naming one partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PartnerLabels {
    /// The partner's country code.
    pub(crate) partner: String,
}

/// Labels of a call this node made to a partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    /// The partner's country code.
    pub(crate) partner: String,
    /// The federation method called, e.g. `DeliverAlerts`.
    pub(crate) method: String,
}

/// The node's counters and histograms, registered once; cloning shares them.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    submitted: Family<AlertLabels, Counter>,
    received: Family<AlertLabels, Counter>,
    delivered: Family<AlertLabels, Counter>,
    undeliverable: Family<PartnerLabels, Counter>,
    responses_sent: Family<ResponseLabels, Counter>,
    responses_received: Family<ResponseLabels, Counter>,
    deadlines_missed: Family<DeadlineLabels, Counter>,
    delivery_latency: Family<PartnerLabels, Histogram>,
    partner_calls: Family<CallLabels, Histogram>,
    watchers: Gauge,
}

/// One live watch stream, counted while it is held.
pub(crate) struct Watching(Gauge);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Upper bounds of delivery latency buckets, in seconds: a delivery takes well under a second when
/// the partner is up, and up to hours when it was down; 1800 s is the default URGENT deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Upper bounds of partner call duration buckets, in seconds: a few round trips when all is well,
/// up to `delivery.request_timeout` (15 s by default) when the partner or the path stalls.
const CALL_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
];

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Self {
            registry: Arc::default(),
            submitted: Family::default(),
            received: Family::default(),
            delivered: Family::default(),
            undeliverable: Family::default(),
            responses_sent: Family::default(),
            responses_received: Family::default(),
            deadlines_missed: Family::default(),
            delivery_latency: Family::new_with_constructor(latency_histogram),
            partner_calls: Family::new_with_constructor(call_histogram),
            watchers: Gauge::default(),
        };
        registry.register(
            "tulpar_alerts_submitted",
            "Alerts this node's units raised, per recipient partner",
            metrics.submitted.clone(),
        );
        registry.register(
            "tulpar_alerts_received",
            "Alerts partners delivered to this node (first delivery of each)",
            metrics.received.clone(),
        );
        registry.register(
            "tulpar_alerts_delivered",
            "Alerts partners gave a verified receipt for",
            metrics.delivered.clone(),
        );
        registry.register(
            "tulpar_deliveries_abandoned",
            "Alerts and responses a partner refused for good (UNDELIVERABLE)",
            metrics.undeliverable.clone(),
        );
        registry.register(
            "tulpar_responses_sent",
            "Acknowledgements, declines and outcomes this node's units gave partners' alerts",
            metrics.responses_sent.clone(),
        );
        registry.register(
            "tulpar_responses_received",
            "Acknowledgements, declines and outcomes partners gave this node's alerts",
            metrics.responses_received.clone(),
        );
        registry.register(
            "tulpar_deadlines_missed",
            "Acknowledgement deadlines recorded as missed",
            metrics.deadlines_missed.clone(),
        );
        registry.register(
            "tulpar_delivery_latency_seconds",
            "From an alert's creation to the partner's receipt being recorded, by this node's clock",
            metrics.delivery_latency.clone(),
        );
        registry.register(
            "tulpar_partner_call_duration_seconds",
            "Calls this node made to partners, by method, until answered or failed",
            metrics.partner_calls.clone(),
        );
        registry.register(
            "tulpar_watchers",
            "Live WatchAlerts streams (gRPC, HTTP and the console's)",
            metrics.watchers.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }
}

/// What one appended entry counts for, read before the append so the entry can move into the ledger.
#[derive(Debug)]
pub(crate) enum Event {
    Submitted(AlertLabels),
    Received(AlertLabels),
    Delivered(AlertLabels, Option<SystemTime>),
    Abandoned(PartnerLabels),
    ResponseSent(ResponseLabels),
    ResponseReceived(ResponseLabels),
    DeadlineMissed(DeadlineLabels),
}

impl Metrics {
    /// The registry of counters and histograms, for the scrape endpoint.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `channel` to `partner`, timing each call in `tulpar_partner_call_duration_seconds`.
    pub(crate) fn time_partner_calls(
        &self,
        partner: CountryCode,
        channel: tonic::transport::Channel,
    ) -> PartnerChannel {
        PartnerChannel::new(channel, partner.to_string(), self.partner_calls.clone())
    }

    /// Counts a watch stream until the returned guard drops, so it cannot be left counted.
    pub(crate) fn watching(&self) -> Watching {
        self.watchers.inc();
        Watching(self.watchers.clone())
    }

    /// What `entries` will count for once appended. `state` gives the priority of the alert a
    /// receipt or response is about.
    pub(crate) fn events_of(&self, entries: &[proto::LedgerEntry], state: &State) -> Vec<Event> {
        let mut events = Vec::new();
        for entry in entries {
            event_of(entry, state, &mut events);
        }
        events
    }

    /// Counts `events` of an append that is now durable, at `now` by the node's clock.
    pub(crate) fn record(&self, events: Vec<Event>, now: SystemTime) {
        for event in events {
            match event {
                Event::Submitted(labels) => self.submitted.get_or_create(&labels).inc(),
                Event::Received(labels) => self.received.get_or_create(&labels).inc(),
                Event::Delivered(labels, created_at) => {
                    if let Some(took) = created_at.and_then(|at| now.duration_since(at).ok()) {
                        self.delivery_latency
                            .get_or_create(&PartnerLabels {
                                partner: labels.partner.clone(),
                            })
                            .observe(took.as_secs_f64());
                    }
                    self.delivered.get_or_create(&labels).inc()
                }
                Event::Abandoned(labels) => self.undeliverable.get_or_create(&labels).inc(),
                Event::ResponseSent(labels) => self.responses_sent.get_or_create(&labels).inc(),
                Event::ResponseReceived(labels) => {
                    self.responses_received.get_or_create(&labels).inc()
                }
                Event::DeadlineMissed(labels) => self.deadlines_missed.get_or_create(&labels).inc(),
            };
        }
    }
}

/// The label of a priority as the proto numbers it.
pub(crate) fn priority_label(priority: i32) -> &'static str {
    match proto::Priority::try_from(priority) {
        Ok(proto::Priority::Urgent) => "urgent",
        Ok(proto::Priority::High) => "high",
        Ok(proto::Priority::Routine) => "routine",
        _ => "unspecified",
    }
}

/// The label of a response's kind.
fn response_label(response: &proto::AlertResponse) -> &'static str {
    use proto::AcknowledgementDecision as Decision;
    match &response.kind {
        Some(alert_response::Kind::Acknowledgement(ack)) => match ack.decision() {
            Decision::Declined => "declined",
            Decision::Accepted => "acknowledged",
            Decision::Unspecified => "unspecified",
        },
        Some(alert_response::Kind::Outcome(found)) => match found.result {
            Some(outcome::Result::Seizure(_)) => "seizure",
            Some(outcome::Result::NothingFound(_)) => "nothing_found",
            Some(outcome::Result::NotInspected(_)) => "not_inspected",
            Some(outcome::Result::DidNotArrive(_)) => "did_not_arrive",
            None => "unspecified",
        },
        None => "unspecified",
    }
}

/// A partner's code as a label, if it is one: entries name countries the node checked.
fn country(text: &str) -> Option<String> {
    CountryCode::parse(text).ok().map(|c| c.to_string())
}

/// The priority and creation time of the stored alert `alert_id`.
fn stored(state: &State, alert_id: &str) -> (&'static str, Option<SystemTime>) {
    let found = crate::state::id_bytes(alert_id).and_then(|id| state.alert(&id).ok().flatten());
    match found {
        Some(alert) => (
            priority_label(alert.priority),
            alert.created_at.as_ref().and_then(from_timestamp),
        ),
        None => ("unspecified", None),
    }
}

fn event_of(entry: &proto::LedgerEntry, state: &State, events: &mut Vec<Event>) {
    let alert = |envelope: &Option<proto::Envelope>| {
        envelope
            .as_ref()
            .and_then(|e| decode_recorded::<proto::Alert>(e, PayloadType::Alert).ok())
    };
    let response = |envelope: &Option<proto::Envelope>| {
        envelope
            .as_ref()
            .and_then(|e| decode_recorded::<proto::AlertResponse>(e, PayloadType::Response).ok())
    };
    match &entry.kind {
        Some(Kind::AlertSent(sent)) => {
            let Some(content) = alert(&sent.alert).and_then(|a| a.content) else {
                return;
            };
            let priority = priority_label(content.priority);
            for recipient in &content.recipients {
                if let Some(partner) = country(&recipient.country) {
                    events.push(Event::Submitted(AlertLabels { partner, priority }));
                }
            }
        }
        Some(Kind::AlertReceived(received)) => {
            let (Some(content), Some(partner)) = (
                alert(&received.alert).and_then(|a| a.content),
                country(&received.from_country),
            ) else {
                return;
            };
            let priority = priority_label(content.priority);
            events.push(Event::Received(AlertLabels { partner, priority }));
        }
        Some(Kind::ReceiptReceived(received)) => {
            let receipt = received.receipt.as_ref().and_then(|e| {
                decode_recorded::<proto::DeliveryReceipt>(e, PayloadType::Receipt).ok()
            });
            let (Some(receipt), Some(partner)) = (receipt, country(&received.from_country)) else {
                return;
            };
            // Receipts for responses are counted with the responses.
            if receipt.response_id.is_empty() {
                let (priority, created_at) = stored(state, &receipt.alert_id);
                events.push(Event::Delivered(
                    AlertLabels { partner, priority },
                    created_at,
                ));
            }
        }
        Some(Kind::ResponseSent(sent)) => {
            let (Some(response), Some(partner)) =
                (response(&sent.response), country(&sent.to_country))
            else {
                return;
            };
            events.push(Event::ResponseSent(ResponseLabels {
                partner,
                priority: stored(state, &response.alert_id).0,
                response: response_label(&response),
            }));
        }
        Some(Kind::ResponseReceived(received)) => {
            let (Some(response), Some(partner)) = (
                response(&received.response),
                country(&received.from_country),
            ) else {
                return;
            };
            events.push(Event::ResponseReceived(ResponseLabels {
                partner,
                priority: stored(state, &response.alert_id).0,
                response: response_label(&response),
            }));
        }
        Some(Kind::DeadlineMissed(missed)) => {
            if let Some(recipient) = country(&missed.country) {
                events.push(Event::DeadlineMissed(DeadlineLabels {
                    recipient,
                    priority: stored(state, &entry.alert_id).0,
                }));
            }
        }
        Some(Kind::DeliveryAbandoned(abandoned)) => {
            if let Some(partner) = country(&abandoned.country) {
                events.push(Event::Abandoned(PartnerLabels { partner }));
            }
        }
        _ => {}
    }
}

/// Seconds since the Unix epoch, as Prometheus timestamps are given.
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}
