//! The one table of limits. Each layer's bound is derived from the layer before it, so no layer can
//! refuse what an earlier one accepted:
//!
//! | layer | bound | derived from |
//! | --- | --- | --- |
//! | attachment | [`MAX_ATTACHMENT_BYTES`] each, [`MAX_ATTACHMENTS`], [`MAX_ATTACHMENTS_TOTAL_BYTES`] in all | the contract |
//! | alert | [`MAX_ALERT_BYTES`] encoded, attachments included | the contract |
//! | envelope | [`MAX_ENVELOPE_BYTES`] | alert + [`ENVELOPE_OVERHEAD_BYTES`] (type, signatures, batch path) |
//! | ledger entry | [`MAX_ENTRY_BYTES`] | envelope + [`ENTRY_OVERHEAD_BYTES`] (ids, times, who submitted) |
//! | alert record | [`MAX_RECORD_BYTES`] (`GetAlert`, list items, watch events) | decoded alert + its envelope + timeline |
//! | gRPC message | [`MAX_MESSAGE_BYTES`] on every listener and client | largest record or entry, with room |
//! | delivery call | [`DELIVERY_BATCH_BYTES`] and [`MAX_ALERTS_PER_CALL`]; an alert larger than that travels alone | under the message limit |
//! | list and entry pages | [`PAGE_BYTES`]; an item larger than that makes a page of its own | under the message limit |
//! | watch buffer | [`WATCH_BUFFER_BYTES`] per subscriber, at least one event | bounded memory per caller |
//! | failed authentication | [`AUTH_FAILURES_ALLOWED`] per address per [`AUTH_FAILURE_WINDOW`], [`AUTH_FAILURE_ADDRESSES`] addresses remembered | bounded work and log lines per caller |
//! | calls per connection | [`MAX_CALLS_PER_CONNECTION`]; connections per listener and per address are configured | bounded memory per caller |
//! | partner directory | [`MAX_DIRECTORY_BYTES`] signed | bounded memory per partner |
//! | refusals | [`MAX_QUOTED_CHARS`] of a value quoted, [`MAX_VIOLATIONS_LISTED`] violations within [`MAX_REFUSAL_TEXT_BYTES`] | clients' metadata limits |
//! | disk | appends refused while less than [`LEDGER_DISK_RESERVE_BYTES`] would stay free | the index never meets a full disk |
//!
//! A partner running an older build may still refuse a call under these bounds; delivery then splits
//! the call, and an item refused on its own is set aside as undeliverable rather than retried forever.

/// Largest single attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 2 * MIB;
/// Most attachments in one alert.
pub const MAX_ATTACHMENTS: usize = 8;
/// Largest total of attachments in one alert.
pub const MAX_ATTACHMENTS_TOTAL_BYTES: usize = 4 * MIB;
/// Most corrections of one country's outcome to one alert: each stays on the timeline.
pub const MAX_OUTCOME_CORRECTIONS: usize = 10;
/// Largest serialized alert, attachments included.
pub const MAX_ALERT_BYTES: usize = 6 * MIB;
/// Most recipient countries in one alert.
pub const MAX_RECIPIENTS: usize = 50;
/// Most units named in one recipient entry.
pub const MAX_RECIPIENT_UNITS: usize = 64;

/// Room in an envelope beside its payload: the payload type, signatures and a batch inclusion path.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 16 * KIB;
/// Largest signed envelope of an alert or response.
pub const MAX_ENVELOPE_BYTES: usize = MAX_ALERT_BYTES + ENVELOPE_OVERHEAD_BYTES;

/// Room in a ledger entry beside the envelope it records: ids, times, who submitted it, a receipt.
pub const ENTRY_OVERHEAD_BYTES: usize = 64 * KIB;
/// Largest encoded ledger entry.
pub const MAX_ENTRY_BYTES: usize = MAX_ENVELOPE_BYTES + ENTRY_OVERHEAD_BYTES;

/// Room in an alert record beside the alert and its envelope: the per-recipient timeline.
pub const RECORD_OVERHEAD_BYTES: usize = 256 * KIB;
/// Largest alert record (`GetAlert`, an item of `ListAlerts`, a watch event): the decoded alert beside
/// its signed envelope, and the timeline.
pub const MAX_RECORD_BYTES: usize = MAX_ALERT_BYTES + MAX_ENVELOPE_BYTES + RECORD_OVERHEAD_BYTES;

/// Largest gRPC message any listener accepts or any client of the node's sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * MIB;

/// Bytes of alerts one delivery call carries at most; an alert larger than this travels alone.
pub const DELIVERY_BATCH_BYTES: usize = 4 * MIB;
/// Most alerts one `DeliverAlerts` call may carry; a node's `delivery.batch_size` stays under it.
pub const MAX_ALERTS_PER_CALL: usize = 256;
/// Bytes of items one page of `ListAlerts` or `GetEntries` carries at most; a page always holds at
/// least one item, so the largest item is still listed.
pub const PAGE_BYTES: usize = 4 * MIB;
/// Bytes of events buffered for one watcher that does not read; at least one event is always let in.
pub const WATCH_BUFFER_BYTES: usize = 2 * MIB;

/// Largest signed country directory a partner may serve.
pub const MAX_DIRECTORY_BYTES: usize = MIB;

/// Characters of an offending value quoted back in an error message.
pub const MAX_QUOTED_CHARS: usize = 60;
/// Violations listed in one refusal; the rest are counted.
pub const MAX_VIOLATIONS_LISTED: usize = 50;
/// Bytes of violations written out in one refusal, once in its message and again in its
/// `BadRequest` details (the rest are counted): gRPC sends both as HTTP/2 headers, which clients
/// accept up to 16 KiB by default; the message is percent-encoded (at worst three bytes for one)
/// and the details base64-encoded (four for three).
pub const MAX_REFUSAL_TEXT_BYTES: usize = 2 * KIB;
/// Free bytes a ledger keeps on its disk: a commit that would leave less is refused as if the disk
/// were full, so the index beside the segments never meets a full disk halfway through an update.
/// Room for the index writes of the largest commit (8 MiB of entries, each indexed and viewed).
pub const LEDGER_DISK_RESERVE_BYTES: usize = 64 * MIB;

/// Failed authentications one peer address may make within [`AUTH_FAILURE_WINDOW`]; further calls
/// from it are refused without looking at their credentials until the window ends. A system retrying
/// with a stale token stays well under it; guessing tokens does not.
pub const AUTH_FAILURES_ALLOWED: u32 = 20;
/// The window failed authentications are counted in, and how long an address is refused after it
/// passed [`AUTH_FAILURES_ALLOWED`].
pub const AUTH_FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Peer addresses whose failures are remembered (the oldest is forgotten first): about 64 bytes
/// each, so a flood from many addresses holds at most a few hundred KiB.
pub const AUTH_FAILURE_ADDRESSES: usize = 4096;
/// At most one log line per peer address per this interval about its failed authentications; the
/// lines in between are counted in the next one.
pub const AUTH_FAILURE_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Calls in flight at once on one connection (HTTP/2 streams); a client that opens more waits. Each
/// `WatchAlerts` call holds at most [`WATCH_BUFFER_BYTES`] (or one event) beside the message in
/// transit, so a connection holds at most this many times that.
pub const MAX_CALLS_PER_CONNECTION: usize = 256;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

// The derivations the table promises, checked when the crate compiles.
const _: () = {
    assert!(MAX_ATTACHMENTS_TOTAL_BYTES >= MAX_ATTACHMENT_BYTES);
    assert!(MAX_ALERT_BYTES > MAX_ATTACHMENTS_TOTAL_BYTES);
    assert!(MAX_ENTRY_BYTES > MAX_ENVELOPE_BYTES);
    // A message carries a whole record or entry with room for the call's own fields.
    assert!(MAX_MESSAGE_BYTES >= MAX_RECORD_BYTES + 64 * KIB);
    assert!(MAX_MESSAGE_BYTES >= MAX_ENTRY_BYTES + 64 * KIB);
    // A batch or page stays within its budget unless it holds a single item, which fits on its own.
    assert!(MAX_MESSAGE_BYTES >= DELIVERY_BATCH_BYTES + 64 * KIB);
    assert!(MAX_MESSAGE_BYTES >= PAGE_BYTES + 64 * KIB);
    // A refusal's message and details fit clients' default 16 KiB of headers, with room for others.
    assert!(MAX_REFUSAL_TEXT_BYTES * 3 + MAX_REFUSAL_TEXT_BYTES * 2 + 4 * KIB <= 16 * KIB);
};
