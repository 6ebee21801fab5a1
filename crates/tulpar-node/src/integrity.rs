//! The check of the ledger's closed segments at start, and how what it finds is reported.
//!
//! Opening the ledger checked the segment being appended to, and refuses to open when that segment is
//! damaged before its tail. The closed segments are read frame by frame here, on a blocking thread,
//! while the node serves; progress is logged every tenth of the bytes. Damage, whether this check or a
//! read found it, is logged by the ledger as an error naming the segment, byte offset and entries; it
//! is reported on gRPC health as the service [`HEALTH_SERVICE`] and listed to focal points by
//! `ListAlarms`. A damaged entry is refused with DATA_LOSS naming it; the rest of the ledger serves
//! as before, so the node keeps running and its overall health follows only whether it can write.

use std::sync::Arc;
use std::time::Instant;

use tonic_health::ServingStatus;
use tulpar_ledger::Integrity;

use crate::context::Context;

/// The gRPC health service name that reports the ledger's integrity: UNKNOWN while the closed
/// segments are being checked, SERVING once they checked with no damage found, NOT_SERVING as soon as
/// any damage is found (by the check or by a read) until the node restarts on a repaired ledger.
pub const HEALTH_SERVICE: &str = "tulpar.ledger.integrity";

/// The health status that `integrity` makes.
pub(crate) fn serving_status(integrity: &Integrity) -> ServingStatus {
    match (integrity.damage.is_empty(), integrity.checked) {
        (false, _) => ServingStatus::NotServing,
        (true, true) => ServingStatus::Serving,
        (true, false) => ServingStatus::Unknown,
    }
}

/// Starts the check of the closed segments on a blocking thread; it stops early when the node does.
pub(crate) fn start_check(context: &Arc<Context>) {
    let (ledger, lifecycle) = (context.ledger.clone(), context.lifecycle.clone());
    let stopping = lifecycle.clone();
    lifecycle.spawn_blocking(move || {
        let started = Instant::now();
        let mut logged_tenths = 0;
        let result = ledger.check_closed_segments(
            |progress| {
                let tenths = (progress.bytes_done * 10)
                    .checked_div(progress.bytes_total)
                    .unwrap_or(10);
                if tenths > logged_tenths && progress.segments_done < progress.segments_total {
                    logged_tenths = tenths;
                    tracing::info!(
                        segments = progress.segments_done,
                        of = progress.segments_total,
                        percent = tenths * 10,
                        "checking the ledger's closed segments"
                    );
                }
            },
            || stopping.is_stopping(),
        );
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(report) if !report.completed => {
                tracing::info!(segments = report.segments, "the check of the ledger's closed segments stopped with the node");
            }
            Ok(report) if report.damage.is_empty() => tracing::info!(
                segments = report.segments,
                entries = report.entries,
                bytes = report.bytes,
                seconds,
                "the ledger's closed segments checked: no damage"
            ),
            Ok(report) => tracing::error!(
                segments = report.segments,
                damaged = report.damage.len(),
                seconds,
                "the ledger's closed segments checked: damage found (each place is logged above); \
                 the damaged entries answer DATA_LOSS until restored from a backup (tulpar ledger repair)"
            ),
            Err(error) => tracing::error!(%error, "the check of the ledger's closed segments failed"),
        }
    });
}
