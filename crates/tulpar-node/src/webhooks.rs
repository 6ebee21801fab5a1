//! Webhooks: every event a subscription may see, POSTed to its URL as JSON, signed per Standard
//! Webhooks, in ledger order, until the receiver accepts it.
//!
//! A subscription's queue is the ledger itself from its cursor on ([`cursor`]), so a restart or a
//! crash loses nothing: the worker reads entries from the cursor, keeps those that make an event for
//! the subscription's units and kinds (the same [`EventFilter`] as `WatchAlerts`), and sends each,
//! retrying with capped exponential backoff and jitter, before it looks at the next. Delivery is at
//! least once: an event accepted just before a crash may come again, always with the same
//! `webhook-id` (`evt_<country>_<ledger index>`), which receivers use to drop duplicates.
//!
//! Each subscription costs one task, one connection to its receiver and at most
//! [`READ_BUDGET_BYTES`] of entries read ahead; the number of subscriptions is bounded by the
//! configuration ([`MAX_WEBHOOK_SUBSCRIPTIONS`](crate::config::MAX_WEBHOOK_SUBSCRIPTIONS)).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use hyper::body::Bytes;
use tulpar_core::proto;
use tulpar_core::time::{to_timestamp, unix_seconds};
use tulpar_core::webhook::{TEST_EVENT_TYPE, WebhookSecret, event_type};
use tulpar_trust::tls::Role;

use crate::auth::Principal;
use crate::backoff::Backoff;
use crate::config::{WebhookSubscription, WebhooksConfig};
use crate::context::Context;
use crate::error::ApiError;
use crate::watch::EventFilter;

mod cursor;
mod sender;

use cursor::Cursor;
use sender::{Answer, Message};
pub(crate) use sender::{Sender, tls_config};

/// How often a subscription's cursor is saved while events flow (and always when its worker stops).
pub(crate) const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes of ledger entries a subscription reads ahead at a time.
const READ_BUDGET_BYTES: usize = 1024 * 1024;

/// The node's webhook subscriptions.
pub(crate) struct Webhooks {
    context: Arc<Context>,
    backoff: (Duration, Duration),
    subscriptions: Vec<Arc<Subscription>>,
}

/// One subscription: what it gets, where it goes, and how far it got.
struct Subscription {
    config: WebhookSubscription,
    filter: EventFilter,
    secret: WebhookSecret,
    cursor_path: PathBuf,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
    status: Mutex<Status>,
}

/// A subscription's state, for `tulpar webhooks`.
#[derive(Debug, Default, Clone)]
struct Status {
    cursor: Cursor,
    last_error: Option<(String, SystemTime)>,
    failed_attempts: u32,
    next_attempt_at: Option<SystemTime>,
    pending_event_id: Option<String>,
}

/// Why a worker stopped delivering.
struct Stopping;

impl Webhooks {
    /// Reads each subscription's secret and cursor under `data_dir`, refusing with the field or file
    /// at fault.
    pub(crate) fn open(
        context: Arc<Context>,
        config: &WebhooksConfig,
        data_dir: &Path,
    ) -> Result<Self> {
        let needs_tls = config
            .subscriptions
            .iter()
            .any(|s| s.url.scheme_str() == Some("https"));
        let tls = if needs_tls {
            Some(sender::tls_config(
                &config.ca_certificates,
                "webhooks.ca_certificates",
            )?)
        } else {
            None
        };
        let size = context.ledger_size();
        let mut subscriptions = Vec::new();
        for (i, subscription) in config.subscriptions.iter().enumerate() {
            let field = format!("webhooks.subscriptions[{i}].secret_file");
            let path = &subscription.secret_file;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{field}: cannot read {}", path.display()))?;
            tulpar_trust::keyfile::check_private_permissions(path)
                .with_context(|| field.clone())?;
            let secret = WebhookSecret::parse(&text)
                .map_err(|e| anyhow::anyhow!("{field}: {}: {e}", path.display()))?;
            let cursor_path = cursor::path(data_dir, &subscription.name);
            let cursor = cursor::load(&cursor_path, size)
                .with_context(|| format!("webhooks.subscriptions[{i}] ({})", subscription.name))?;
            let principal = Principal {
                role: Role::Integrator,
                country: context.country,
                units: subscription.units.clone(),
                name: format!("webhook:{}", subscription.name),
            };
            subscriptions.push(Arc::new(Subscription {
                config: subscription.clone(),
                filter: EventFilter {
                    principal,
                    kinds: subscription.events.clone(),
                },
                secret,
                cursor_path,
                tls: tls.clone(),
                timeout: config.timeout,
                status: Mutex::new(Status {
                    cursor,
                    ..Status::default()
                }),
            }));
        }
        Ok(Self {
            context,
            backoff: (config.initial_backoff, config.max_backoff),
            subscriptions,
        })
    }

    /// Starts one worker per subscription; each runs until the node stops.
    pub(crate) fn start_workers(self: &Arc<Self>) {
        for subscription in &self.subscriptions {
            let (webhooks, subscription) = (self.clone(), subscription.clone());
            self.context
                .lifecycle
                .spawn(async move { webhooks.run(subscription).await });
        }
    }

    /// Every subscription with its state.
    pub(crate) fn list(&self) -> Vec<proto::WebhookInfo> {
        let size = self.context.ledger_size();
        self.subscriptions
            .iter()
            .map(|subscription| {
                let status = subscription.status();
                let config = &subscription.config;
                proto::WebhookInfo {
                    name: config.name.clone(),
                    url: config.url.to_string(),
                    units: config.units.iter().map(ToString::to_string).collect(),
                    events: config
                        .events
                        .iter()
                        .filter_map(|kind| event_type(*kind))
                        .map(str::to_owned)
                        .collect(),
                    next_index: status.cursor.next_index,
                    backlog_entries: size.saturating_sub(status.cursor.next_index),
                    delivered: status.cursor.delivered,
                    last_success_at: status.cursor.last_success().map(to_timestamp),
                    last_error: status
                        .last_error
                        .as_ref()
                        .map(|(error, _)| error.clone())
                        .unwrap_or_default(),
                    last_error_at: status.last_error.as_ref().map(|(_, at)| to_timestamp(*at)),
                    failed_attempts: status.failed_attempts,
                    next_attempt_at: status.next_attempt_at.map(to_timestamp),
                    pending_event_id: status.pending_event_id.unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Sends a signed `webhook.test` message to subscription `name` now, on a connection of its own.
    pub(crate) async fn test(&self, name: &str) -> Result<proto::TestWebhookResponse, ApiError> {
        let subscription = self
            .subscriptions
            .iter()
            .find(|s| s.config.name == name)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no webhook subscription is named {name:?}; `tulpar webhooks` lists them"
                ))
            })?;
        let now = self.context.clock.now();
        let id = format!("test_{}", uuid::Uuid::now_v7().simple());
        let body = payload(
            TEST_EVENT_TYPE,
            serde_json::to_value(to_timestamp(now)).unwrap_or_default(),
            serde_json::json!({
                "subscription": subscription.config.name,
                "country": self.context.country.to_string(),
            }),
        );
        let mut sender = subscription.sender();
        let started = Instant::now();
        let answer = sender.send(&subscription.sign(&id, now, body)).await;
        Ok(proto::TestWebhookResponse {
            event_id: id,
            accepted: matches!(answer, Answer::Accepted(_)),
            http_status: u32::from(answer.status()),
            error: answer.error().unwrap_or_default(),
            elapsed_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
        })
    }

    /// Delivers `subscription`'s events from its cursor on until the node stops, then saves the
    /// cursor.
    async fn run(&self, subscription: Arc<Subscription>) {
        let stopping = self.context.lifecycle.stopping();
        tokio::pin!(stopping);
        let mut cursor = subscription.status().cursor;
        let mut saved = cursor;
        let mut last_save = Instant::now();
        let mut sender = subscription.sender();
        let mut backoff = Backoff::new(self.backoff.0, self.backoff.1);
        'follow: loop {
            // Subscribe before reading the size, so nothing committed in between is missed.
            let mut committed = self.context.ledger.subscribe();
            let size = self.context.ledger_size();
            if cursor.next_index >= size {
                if cursor != saved {
                    saved = self.save(&subscription, cursor).await;
                    last_save = Instant::now();
                }
                tokio::select! {
                    received = committed.recv() => match received {
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        _ => continue,
                    },
                    () = &mut stopping => break,
                }
            }
            drop(committed);
            let read = self
                .context
                .ledger
                .entries_within(cursor.next_index..size, READ_BUDGET_BYTES);
            let entries = match read {
                Ok(entries) => entries,
                Err(error) => {
                    let error = format!("cannot read the ledger: {error}");
                    if self
                        .wait_after_failure(&subscription, &mut backoff, error, None, &mut stopping)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            };
            for (index, entry) in entries {
                let event = match subscription.filter.event(&self.context, index, &entry) {
                    Ok(event) => event,
                    Err(error) => {
                        let error = format!("cannot read entry {index}: {error}");
                        if self
                            .wait_after_failure(
                                &subscription,
                                &mut backoff,
                                error,
                                None,
                                &mut stopping,
                            )
                            .await
                            .is_err()
                        {
                            break 'follow;
                        }
                        continue 'follow;
                    }
                };
                if let Some(event) = event {
                    if self
                        .deliver(
                            &subscription,
                            &mut sender,
                            &mut backoff,
                            event,
                            &mut stopping,
                        )
                        .await
                        .is_err()
                    {
                        break 'follow;
                    }
                    cursor.accepted(self.context.clock.now());
                }
                cursor.next_index = index + 1;
                subscription.update(|status| status.cursor = cursor);
                if last_save.elapsed() >= SAVE_INTERVAL {
                    saved = self.save(&subscription, cursor).await;
                    last_save = Instant::now();
                }
            }
        }
        if cursor != saved {
            self.save(&subscription, cursor).await;
        }
    }

    /// Sends one event until the receiver accepts it; `Err` if the node began to stop first.
    async fn deliver(
        &self,
        subscription: &Subscription,
        sender: &mut Sender,
        backoff: &mut Backoff,
        event: proto::AlertEvent,
        stopping: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFutureOwned>,
    ) -> Result<(), Stopping> {
        let Some(kind) = proto::AlertEventKind::try_from(event.kind)
            .ok()
            .and_then(event_type)
        else {
            return Ok(());
        };
        let id = format!("evt_{}_{}", self.context.country, event.ledger_index);
        let data = serde_json::to_value(&event).unwrap_or_default();
        let timestamp = data.get("recordedAt").cloned().unwrap_or_default();
        let body = payload(kind, timestamp, data);
        subscription.update(|status| status.pending_event_id = Some(id.clone()));
        loop {
            let message = subscription.sign(&id, self.context.clock.now(), body.clone());
            // A send cut short by shutdown is repeated after the restart, under the same id.
            let answer = tokio::select! {
                answer = sender.send(&message) => answer,
                () = stopping.as_mut() => return Err(Stopping),
            };
            let Some(error) = answer.error() else {
                backoff.reset();
                subscription.update(|status| {
                    status.failed_attempts = 0;
                    status.next_attempt_at = None;
                    status.pending_event_id = None;
                });
                return Ok(());
            };
            let asked = match answer {
                Answer::Refused { retry_after, .. } => retry_after,
                _ => None,
            };
            self.wait_after_failure(subscription, backoff, error, asked, stopping)
                .await?;
        }
    }

    /// Notes a failed attempt and waits the backoff (or the receiver's `Retry-After`, up to
    /// `webhooks.max_backoff`); `Err` if the node began to stop first.
    async fn wait_after_failure(
        &self,
        subscription: &Subscription,
        backoff: &mut Backoff,
        error: String,
        retry_after: Option<Duration>,
        stopping: &mut std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFutureOwned>,
    ) -> Result<(), Stopping> {
        let mut wait = backoff.fail();
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(self.backoff.1));
        }
        let now = self.context.clock.now();
        let attempts = subscription.update(|status| {
            status.failed_attempts += 1;
            status.last_error = Some((error.clone(), now));
            status.next_attempt_at = Some(now + wait);
            status.failed_attempts
        });
        tracing::warn!(
            webhook = %subscription.config.name,
            %error,
            attempts,
            retry_in_ms = wait.as_millis() as u64,
            "webhook delivery failed"
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            () = stopping.as_mut() => Err(Stopping),
        }
    }

    /// Writes the cursor off the async threads; returns what is now saved (the old value if writing
    /// failed, so it is tried again).
    async fn save(&self, subscription: &Arc<Subscription>, cursor: Cursor) -> Cursor {
        let path = subscription.cursor_path.clone();
        let written = self
            .context
            .lifecycle
            .spawn_blocking(move || cursor::save(&path, &cursor))
            .await;
        match written {
            Ok(Ok(())) => cursor,
            Ok(Err(error)) => {
                tracing::error!(webhook = %subscription.config.name, error = format!("{error:#}"), "cannot save the webhook cursor; events since the last save may be delivered again");
                Cursor::default()
            }
            Err(error) => {
                tracing::error!(webhook = %subscription.config.name, %error, "cannot save the webhook cursor");
                Cursor::default()
            }
        }
    }
}

impl Subscription {
    fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update<T>(&self, change: impl FnOnce(&mut Status) -> T) -> T {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn sender(&self) -> Sender {
        Sender::new(self.config.url.clone(), self.tls.clone(), self.timeout)
    }

    /// The message for `body` as sent at `now`.
    fn sign<'a>(&self, id: &'a str, now: SystemTime, body: Bytes) -> Message<'a> {
        let timestamp = u64::try_from(unix_seconds(now)).unwrap_or_default();
        let signature = self.secret.sign(id, timestamp, &body);
        Message {
            id,
            timestamp,
            signature,
            body,
        }
    }
}

/// The JSON body Standard Webhooks describes: `{"type", "timestamp", "data"}`.
fn payload(kind: &str, timestamp: serde_json::Value, data: serde_json::Value) -> Bytes {
    let body = serde_json::json!({ "type": kind, "timestamp": timestamp, "data": data });
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}
