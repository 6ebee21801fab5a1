//! The Prometheus scrape endpoint (`metrics.listen`): `GET /metrics` in the text exposition format
//! (version 0.0.4), plain HTTP/1.1 for the management network.
//!
//! A scrape writes the counters and histograms of [`crate::metrics::Metrics`], then the gauges of a
//! [`Snapshot`] read from the node's own state right after (the same reading `ListPeers` shows), so
//! a gauge never drifts from what the node holds.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tulpar_core::time::from_timestamp;
use tulpar_ledger::CommitTimes;

use crate::metrics::process::ProcessStats;
use crate::metrics::{PartnerLabels, unix_seconds};
use crate::node::Node;

/// What one partner looks like at a scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartnerGauges {
    pub(crate) partner: String,
    pub(crate) up: bool,
    pub(crate) last_contact: Option<SystemTime>,
    pub(crate) outbox_items: u64,
    /// Seconds since the oldest item still in the outbox was queued; 0 when it is empty.
    pub(crate) outbox_oldest_age: f64,
    pub(crate) cosigned_size: u64,
    pub(crate) cosigned_at: Option<SystemTime>,
    pub(crate) directory_expires_at: Option<SystemTime>,
}

/// The node's gauges at one scrape.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) partners: Vec<PartnerGauges>,
    /// Overdue (alert, recipient) pairs by recipient country.
    pub(crate) overdue: Vec<(String, u64)>,
    /// Per webhook subscription: ledger entries not yet passed, and failed attempts in a row.
    pub(crate) webhooks: Vec<(String, u64, u32)>,
    pub(crate) ledger_entries: u64,
    pub(crate) ledger_bytes: Option<u64>,
    pub(crate) ledger_writable: bool,
    pub(crate) commit_times: Option<CommitTimes>,
    pub(crate) equivocation_alarms: u64,
    /// `node` and `national_ca`: when each TLS certificate expires.
    pub(crate) certificates: Vec<(&'static str, SystemTime)>,
    /// When the country's own published directory (`trust.own_directory`) expires.
    pub(crate) own_directory_expires_at: Option<SystemTime>,
    /// The acknowledgement deadline of each priority (`deadlines.*`), for rules to compare ages with.
    pub(crate) deadlines: Vec<(&'static str, f64)>,
    pub(crate) process: Option<ProcessStats>,
}

impl Snapshot {
    /// Reads the gauges from `node` now; blocking (the state view and files).
    pub(crate) fn take(node: &Node) -> Self {
        let context = &node.context;
        let now = context.clock.now();
        let partners = node
            .peer_statuses()
            .into_iter()
            .map(|status| {
                let oldest = tulpar_core::codes::CountryCode::parse(&status.country)
                    .ok()
                    .and_then(|country| context.state.outbox(country, None, 1).ok())
                    .and_then(|items| items.first().map(|(index, _)| *index))
                    .and_then(|index| context.entry(index).ok())
                    .and_then(|entry| entry.recorded_at)
                    .and_then(|at| from_timestamp(&at));
                PartnerGauges {
                    partner: status.country,
                    up: status.reachable,
                    last_contact: status.last_contact.as_ref().and_then(from_timestamp),
                    outbox_items: status.outbox_depth,
                    outbox_oldest_age: oldest
                        .and_then(|at| now.duration_since(at).ok())
                        .map_or(0.0, |age| age.as_secs_f64()),
                    cosigned_size: status.cosigned_size,
                    cosigned_at: status.cosigned_at.as_ref().and_then(from_timestamp),
                    directory_expires_at: status
                        .directory_expires_at
                        .as_ref()
                        .and_then(from_timestamp),
                }
            })
            .collect();
        let mut overdue = std::collections::BTreeMap::<String, u64>::new();
        for (_, country) in context.state.overdue().unwrap_or_default() {
            *overdue.entry(country.to_string()).or_default() += 1;
        }
        let webhooks = node
            .webhooks
            .list()
            .into_iter()
            .map(|info| (info.name, info.backlog_entries, info.failed_attempts))
            .collect();
        let mut certificates = Vec::new();
        if let Some(at) = node
            .identity
            .chain()
            .first()
            .and_then(|cert| tulpar_trust::tls::not_after(cert).ok())
        {
            certificates.push(("node", at));
        }
        let ca = std::fs::read_to_string(&node.config.tls.ca_certificate)
            .ok()
            .and_then(|pem| tulpar_trust::tls::cert_from_pem(&pem).ok())
            .and_then(|cert| tulpar_trust::tls::not_after(&cert).ok());
        if let Some(at) = ca {
            certificates.push(("national_ca", at));
        }
        Self {
            partners,
            overdue: overdue.into_iter().collect(),
            webhooks,
            ledger_entries: context.ledger.size(),
            ledger_bytes: context.ledger.segment_bytes().ok(),
            ledger_writable: *context.ledger.writable().borrow(),
            commit_times: Some(context.ledger.commit_times()),
            equivocation_alarms: context.state.alarms().map_or(0, |a| a.len() as u64),
            certificates,
            own_directory_expires_at: tulpar_audit::read_own_directory(
                &node.config.trust.own_directory,
                context.country,
            )
            .ok()
            .map(|directory| directory.expires_at()),
            deadlines: [
                tulpar_core::alert::Priority::Urgent,
                tulpar_core::alert::Priority::High,
                tulpar_core::alert::Priority::Routine,
            ]
            .into_iter()
            .map(|priority| {
                (
                    crate::metrics::priority_label(proto_priority(priority)),
                    node.config.deadlines.for_priority(priority).as_secs_f64(),
                )
            })
            .collect(),
            process: ProcessStats::read(),
        }
    }
}

/// The proto's number of a priority.
fn proto_priority(priority: tulpar_core::alert::Priority) -> i32 {
    use tulpar_core::alert::Priority;
    use tulpar_core::proto::Priority as Number;
    match priority {
        Priority::Urgent => Number::Urgent,
        Priority::High => Number::High,
        Priority::Routine => Number::Routine,
    }
    .into()
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PriorityLabels {
    priority: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecipientLabels {
    recipient: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubscriptionLabels {
    subscription: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertificateLabels {
    certificate: &'static str,
}

/// One gauge family: its name, help, and a value per label set.
fn gauges<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        family.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// A gauge without labels.
fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    encoder
        .encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let by_partner = |value: fn(&PartnerGauges) -> f64| {
            self.partners.iter().map(move |p| {
                (
                    PartnerLabels {
                        partner: p.partner.clone(),
                    },
                    value(p),
                )
            })
        };
        let timestamp = |at: Option<SystemTime>| at.map_or(0.0, unix_seconds);
        gauges(
            e,
            "tulpar_partner_up",
            "1 when the last call to the partner succeeded, 0 when it failed or none was made yet",
            by_partner(|p| f64::from(u8::from(p.up))),
        )?;
        gauges(
            e,
            "tulpar_partner_last_contact_timestamp_seconds",
            "When the partner last answered or called this node (0: never since start)",
            by_partner(|p| p.last_contact.map_or(0.0, unix_seconds)),
        )?;
        gauges(
            e,
            "tulpar_outbox_items",
            "Alerts and responses waiting for delivery to the partner",
            by_partner(|p| p.outbox_items as f64),
        )?;
        gauges(
            e,
            "tulpar_outbox_oldest_age_seconds",
            "How long the oldest item waiting for the partner has waited (0: none waits)",
            by_partner(|p| p.outbox_oldest_age),
        )?;
        gauges(
            e,
            "tulpar_witness_cosigned_size",
            "Size of the largest checkpoint of this ledger the partner has cosigned",
            by_partner(|p| p.cosigned_size as f64),
        )?;
        gauges(
            e,
            "tulpar_witness_cosigned_timestamp_seconds",
            "When the partner's latest cosignature was recorded (0: never)",
            self.partners.iter().map(|p| {
                (
                    PartnerLabels {
                        partner: p.partner.clone(),
                    },
                    timestamp(p.cosigned_at),
                )
            }),
        )?;
        gauges(
            e,
            "tulpar_partner_directory_expiry_timestamp_seconds",
            "When the partner's verified directory expires",
            self.partners
                .iter()
                .filter_map(|p| Some((p.partner.clone(), p.directory_expires_at?)))
                .map(|(partner, at)| (PartnerLabels { partner }, unix_seconds(at))),
        )?;
        gauges(
            e,
            "tulpar_alerts_overdue",
            "Alerts whose acknowledgement deadline passed without one, by late recipient",
            self.overdue.iter().map(|(recipient, count)| {
                (
                    RecipientLabels {
                        recipient: recipient.clone(),
                    },
                    *count,
                )
            }),
        )?;
        gauges(
            e,
            "tulpar_webhook_backlog_entries",
            "Ledger entries the subscription's cursor has not passed yet",
            self.webhooks.iter().map(|(name, backlog, _)| {
                (
                    SubscriptionLabels {
                        subscription: name.clone(),
                    },
                    *backlog,
                )
            }),
        )?;
        gauges(
            e,
            "tulpar_webhook_failed_attempts",
            "Failed attempts in a row to deliver the subscription's pending event",
            self.webhooks.iter().map(|(name, _, failed)| {
                (
                    SubscriptionLabels {
                        subscription: name.clone(),
                    },
                    *failed,
                )
            }),
        )?;
        gauges(
            e,
            "tulpar_acknowledgement_deadline_seconds",
            "The acknowledgement deadline of each priority, as configured",
            self.deadlines
                .iter()
                .map(|&(priority, seconds)| (PriorityLabels { priority }, seconds)),
        )?;
        gauge(
            e,
            "tulpar_ledger_entries",
            "Entries in the ledger",
            self.ledger_entries,
        )?;
        if let Some(bytes) = self.ledger_bytes {
            gauge(
                e,
                "tulpar_ledger_bytes",
                "Bytes of the ledger's segment files",
                bytes,
            )?;
        }
        gauge(
            e,
            "tulpar_ledger_writable",
            "1 while the ledger's storage takes writes, 0 while it refuses them",
            u32::from(self.ledger_writable),
        )?;
        if let Some(times) = &self.commit_times {
            let mut previous = 0;
            let buckets: Vec<(f64, u64)> = times
                .buckets
                .iter()
                .map(|(bound, cumulative)| {
                    let count = cumulative - previous;
                    previous = *cumulative;
                    (*bound, count)
                })
                .collect();
            e.encode_descriptor(
                "tulpar_ledger_commit_duration_seconds",
                "Durable writes of group-committed batches (write and fdatasync)",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                times.sum.as_secs_f64(),
                times.count,
                &buckets,
                None,
            )?;
            e.encode_descriptor(
                "tulpar_ledger_written_bytes",
                "Bytes the commit loop wrote durably since start",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                &times.bytes,
                None,
            )?;
        }
        gauge(
            e,
            "tulpar_equivocation_alarms",
            "Proven forks (EquivocationDetected entries) in the ledger",
            self.equivocation_alarms,
        )?;
        gauges(
            e,
            "tulpar_tls_certificate_expiry_timestamp_seconds",
            "When this node's TLS certificate (node) and its national CA (national_ca) expire",
            self.certificates
                .iter()
                .map(|&(certificate, at)| (CertificateLabels { certificate }, unix_seconds(at))),
        )?;
        if let Some(at) = self.own_directory_expires_at.map(unix_seconds) {
            gauge(
                e,
                "tulpar_own_directory_expiry_timestamp_seconds",
                "When this country's own published directory (trust.own_directory) expires",
                at,
            )?;
        }
        if let Some(process) = &self.process {
            e.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                &process.cpu_seconds,
                None,
            )?;
            gauge(
                e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                process.resident_memory_bytes,
            )?;
            gauge(
                e,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                process.virtual_memory_bytes,
            )?;
            gauge(
                e,
                "process_open_fds",
                "Number of open file descriptors",
                process.open_fds,
            )?;
            if let Some(max) = process.max_fds {
                gauge(
                    e,
                    "process_max_fds",
                    "Maximum number of open file descriptors",
                    max,
                )?;
            }
            gauge(
                e,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                process.start_time_seconds,
            )?;
        }
        Ok(())
    }
}

/// The text a scrape returns: the counters, then the gauges read after them, so that whatever a
/// counter shows has happened in the gauges too (blocking).
pub(crate) fn render(node: &Node) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_text::encode(&mut text, node.context.metrics.registry())?;
    let mut gauges = Registry::default();
    gauges.register_collector(Box::new(Snapshot::take(node)));
    prometheus_text::encode(&mut text, &gauges)?;
    Ok(text)
}

/// Serves `GET /metrics` on `listener` until the node stops.
pub(crate) async fn serve(node: Arc<Node>, listener: TcpListener) {
    let lifecycle = node.context.lifecycle.clone();
    let mut stopping = std::pin::pin!(lifecycle.stopping());
    loop {
        let stream = tokio::select! {
            () = &mut stopping => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics listener: accept failed");
                    continue;
                }
            },
        };
        let node = node.clone();
        let stopped = lifecycle.stopping();
        lifecycle.spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(node.clone(), request));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = stopped => {}
            }
        });
    }
}

async fn answer(
    node: Arc<Node>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode,
                 content_type: &'static str,
                 body: String|
     -> Result<Response<Full<Bytes>>, Infallible> {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        Ok(response)
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "only /metrics is served\n".into(),
        );
    }
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    let lifecycle = node.context.lifecycle.clone();
    let rendered = lifecycle.spawn_blocking(move || render(&node)).await;
    match rendered {
        Ok(Ok(text)) => reply(StatusCode::OK, prometheus_text::CONTENT_TYPE, text),
        _ => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "the metrics could not be read\n".into(),
        ),
    }
}
