//! Certificates and keys renewed while the node runs, and warnings before anything of the node
//! expires.
//!
//! `tulpar cert renew` replaces `tls.certificate` and `tls.private_key`; the node notices within one
//! `trust.reload_interval` (or at once on SIGHUP) and presents the new certificate from the next
//! handshake on, on both listeners and on calls to partners. A replacement that fails its checks is
//! refused with an error in the log, and the certificate in use stays. On the same ticks the node
//! takes up a ledger key staged by `tulpar directory rotate-node-key` ([`crate::ledger_key`]).
//!
//! At start and then daily, the node logs a warning for each of its node certificate, its national
//! TLS CA and its own published directory that expires within [`EXPIRY_WARNING`]; the same dates are
//! exported as metrics (`tulpar_tls_certificate_expiry_timestamp_seconds`,
//! `tulpar_own_directory_expiry_timestamp_seconds`) for alerting rules.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tulpar_trust::directory::fmt_time;

use crate::node::Node;

/// How long before an expiry the node starts warning about it.
pub(crate) const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the expiry warnings are repeated.
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Something of the node that expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiring {
    /// The node's TLS certificate (`tls.certificate`).
    NodeCertificate,
    /// The national TLS CA (`tls.ca_certificate`).
    NationalCa,
    /// The country's own directory (`trust.own_directory`).
    OwnDirectory,
}

impl Expiring {
    fn what(self) -> &'static str {
        match self {
            Self::NodeCertificate => "the node TLS certificate",
            Self::NationalCa => "the national TLS CA certificate",
            Self::OwnDirectory => "the country directory",
        }
    }

    fn remedy(self) -> &'static str {
        match self {
            Self::NodeCertificate => "renew it with `tulpar cert renew` (no restart needed)",
            Self::NationalCa => {
                "make a new national TLS CA and publish it in the directory before it expires"
            }
            Self::OwnDirectory => "publish a new version with `tulpar directory publish`",
        }
    }
}

/// When each expiring thing of `node` expires, as far as it can be read now.
pub(crate) fn expiries(node: &Node) -> Vec<(Expiring, SystemTime)> {
    let mut found = Vec::new();
    match node.identity.summary() {
        Ok(summary) => found.push((Expiring::NodeCertificate, summary.not_after)),
        Err(error) => tracing::warn!(%error, "node TLS certificate unreadable"),
    }
    let ca = std::fs::read_to_string(&node.config.tls.ca_certificate)
        .map_err(|e| e.to_string())
        .and_then(|pem| tulpar_trust::tls::cert_from_pem(&pem).map_err(|e| e.to_string()))
        .and_then(|cert| tulpar_trust::tls::not_after(&cert).map_err(|e| e.to_string()));
    match ca {
        Ok(at) => found.push((Expiring::NationalCa, at)),
        Err(error) => tracing::warn!(
            %error,
            file = %node.config.tls.ca_certificate.display(),
            "tls.ca_certificate unreadable"
        ),
    }
    match tulpar_audit::read_own_directory(&node.config.trust.own_directory, node.context.country) {
        Ok(directory) => found.push((Expiring::OwnDirectory, directory.expires_at())),
        Err(error) => tracing::warn!(
            %error,
            file = %node.config.trust.own_directory.display(),
            "trust.own_directory unreadable"
        ),
    }
    found
}

/// Those of `expiries` within [`EXPIRY_WARNING`] of `now` (or past), with the whole days left.
pub(crate) fn expiring_soon(
    expiries: &[(Expiring, SystemTime)],
    now: SystemTime,
) -> Vec<(Expiring, SystemTime, i64)> {
    expiries
        .iter()
        .filter_map(|&(what, at)| {
            let days = match at.duration_since(now) {
                Ok(left) if left > EXPIRY_WARNING => return None,
                Ok(left) => i64::try_from(left.as_secs() / 86_400).unwrap_or(i64::MAX),
                Err(past) => -i64::try_from(past.duration().as_secs() / 86_400).unwrap_or(0),
            };
            Some((what, at, days))
        })
        .collect()
}

/// Logs a warning for each thing of `node` that expires within [`EXPIRY_WARNING`].
fn warn_of_expiries(node: &Node) {
    let now = node.context.clock.now();
    for (what, at, days_left) in expiring_soon(&expiries(node), now) {
        tracing::warn!(
            expires_at = %fmt_time(at),
            days_left,
            "{} expires within {} days: {}",
            what.what(),
            EXPIRY_WARNING.as_secs() / 86_400,
            what.remedy()
        );
    }
}

/// Starts the certificate reload (every `trust.reload_interval`, and on SIGHUP) and the daily expiry
/// warnings (the first at once).
pub(crate) fn start(node: &Arc<Node>) {
    let lifecycle = node.context.lifecycle.clone();
    let watched = node.clone();
    lifecycle.every(node.config.trust.reload_interval, move || {
        reload(&watched, false);
        take_up_ledger_key(&watched)
    });
    let daily = node.clone();
    lifecycle.now_and_every(EXPIRY_CHECK_INTERVAL, move || {
        warn_of_expiries(&daily);
        std::future::ready(())
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let (node, stop) = (node.clone(), lifecycle.clone());
                lifecycle.spawn(async move {
                    loop {
                        tokio::select! {
                            () = stop.stopping() => return,
                            got = hangups.recv() => if got.is_none() { return },
                        }
                        tracing::info!(
                            "SIGHUP: re-reading the node TLS certificate and ledger key"
                        );
                        reload(&node, true);
                        take_up_ledger_key(&node).await;
                    }
                });
            }
            Err(error) => tracing::warn!(%error, "SIGHUP cannot be watched"),
        }
    }
}

/// Takes up a ledger key staged for now ([`crate::ledger_key`]), on a blocking thread: the switch
/// syncs files.
fn take_up_ledger_key(node: &Arc<Node>) -> impl std::future::Future<Output = ()> + Send + use<> {
    let owned = node.clone();
    let work = node.context.lifecycle.spawn_blocking(move || {
        owned
            .ledger_key
            .apply(&owned.context.ledger, owned.context.clock.now());
    });
    async move {
        if let Err(error) = work.await {
            tracing::error!(%error, "the staged ledger key check failed");
        }
    }
}

/// Re-reads the node certificate and key (`forced`: even if unchanged) and logs what happened.
fn reload(node: &Node, forced: bool) {
    let now = node.context.clock.now();
    let result = if forced {
        node.identity.reload(now)
    } else {
        node.identity.reload_if_changed(now)
    };
    match result {
        Ok(None) => {}
        Ok(Some(summary)) => {
            tracing::info!(
                serial = %summary.serial,
                not_after = %fmt_time(summary.not_after),
                hosts = %summary.hosts.join(","),
                "node TLS certificate renewed; new handshakes present it"
            );
            warn_of_expiries(node);
        }
        Err(error) => tracing::error!(
            %error,
            "renewed node TLS certificate refused; the previous certificate stays in use"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn only_what_expires_within_thirty_days_is_reported() {
        let now = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let soon = expiring_soon(
            &[
                (Expiring::NodeCertificate, now + 10 * DAY + DAY / 2),
                (Expiring::NationalCa, now + 400 * DAY),
                (Expiring::OwnDirectory, now - 2 * DAY),
            ],
            now,
        );
        assert_eq!(
            soon,
            [
                (Expiring::NodeCertificate, now + 10 * DAY + DAY / 2, 10),
                (Expiring::OwnDirectory, now - 2 * DAY, -2),
            ]
        );
        assert!(expiring_soon(&[(Expiring::NationalCa, now + 31 * DAY)], now).is_empty());
        assert_eq!(
            expiring_soon(&[(Expiring::NationalCa, now + 30 * DAY)], now).len(),
            1
        );
    }
}
