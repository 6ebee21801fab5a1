//! What the node's state view stores per key. Private to the node: the encoding may change between
//! versions, since the view can always be rebuilt from the ledger.

use tulpar_core::proto;
use tulpar_proto::pbjson_types::Timestamp;

/// An alert and its lifecycle per recipient, without the alert body (read from the ledger on demand).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StoredAlert {
    /// Index of the AlertSent or AlertReceived entry.
    #[prost(uint64, tag = "1")]
    pub(crate) ledger_index: u64,
    /// Sent or received.
    #[prost(enumeration = "proto::Direction", tag = "2")]
    pub(crate) direction: i32,
    /// The origin unit id.
    #[prost(string, tag = "3")]
    pub(crate) origin_unit: String,
    /// The threat category.
    #[prost(enumeration = "proto::ThreatCategory", tag = "4")]
    pub(crate) category: i32,
    /// The priority.
    #[prost(enumeration = "proto::Priority", tag = "5")]
    pub(crate) priority: i32,
    /// When the origin created it.
    #[prost(message, optional, tag = "6")]
    pub(crate) created_at: Option<Timestamp>,
    /// One per recipient country (on a received alert: only this country).
    #[prost(message, repeated, tag = "7")]
    pub(crate) recipients: Vec<proto::RecipientStatus>,
    /// What a search finds it by: its container, document, vessel, flight, train and plate numbers,
    /// each in [`search_key`](crate::state::search_key) form.
    #[prost(string, repeated, tag = "8")]
    pub(crate) search_terms: Vec<String>,
}

/// Something waiting in a partner's outbox.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OutboxItem {
    /// The alert, or the alert a response answers.
    #[prost(string, tag = "1")]
    pub(crate) alert_id: String,
    /// Set for a response.
    #[prost(string, tag = "2")]
    pub(crate) response_id: String,
    /// Encoded size of the envelope to deliver, so that calls can be capped by bytes before the
    /// envelopes are read (0 in items queued by an older version: a call too large is then split).
    #[prost(uint64, tag = "3")]
    pub(crate) bytes: u64,
}

/// What a partner refused for good: how many items, and the last refusal.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct UndeliverableRecord {
    /// Items set aside as undeliverable.
    #[prost(uint64, tag = "1")]
    pub(crate) count: u64,
    /// The last one, "alert <id>: CODE: message" (or "response <id>: ...").
    #[prost(string, tag = "2")]
    pub(crate) last_reason: String,
}

/// The result of a client request, kept for idempotent retries.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RequestRecord {
    /// The alert created or answered.
    #[prost(string, tag = "1")]
    pub(crate) alert_id: String,
    /// The response created, for acknowledgements and outcomes.
    #[prost(string, tag = "2")]
    pub(crate) response_id: String,
    /// Index of the entry the request created.
    #[prost(uint64, tag = "3")]
    pub(crate) ledger_index: u64,
}

/// An alert or response a partner delivered, kept to answer repeated deliveries with the same receipt.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ReceivedRecord {
    /// Index of the AlertReceived or ResponseReceived entry.
    #[prost(uint64, tag = "1")]
    pub(crate) ledger_index: u64,
    /// SHA-256 of the delivered payload: a different payload under the same id is a conflict.
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) payload_sha256: Vec<u8>,
    /// The delivering partner.
    #[prost(string, tag = "3")]
    pub(crate) from_country: String,
    /// The receipt issued, once recorded.
    #[prost(message, optional, tag = "4")]
    pub(crate) receipt: Option<proto::Envelope>,
}
