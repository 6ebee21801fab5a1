//! The codec of every Tulpar service: prost's, except that a message that does not decode is the
//! caller's mistake (`INVALID_ARGUMENT`), not a fault of the node (`INTERNAL`, tonic's default).
//!
//! prost's decode errors name the field and the wire problem ("invalid string value: data is not
//! UTF-8 encoded", "buffer underflow") and never quote the bytes, so the message stays short.
//!
//! Its buffers start small: tonic allocates a call's encode buffer up front and keeps it for as long
//! as the call lasts, so with its default of 8 KiB every open `WatchAlerts` stream held 8 KiB whether
//! or not an event ever came. A buffer grows to fit each message, so large messages are unaffected.

use std::marker::PhantomData;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};

use tonic_prost::{ProstDecoder, ProstEncoder};

/// Characters of prost's decode error kept in the status message.
const MAX_REASON_CHARS: usize = 200;

/// Bytes a call's encode and decode buffers start with (tonic's default is 8 KiB).
const BUFFER_BYTES: usize = 256;
/// Encoded bytes of a response stream handed to HTTP/2 at once (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

fn buffer_settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

/// [`tonic_prost::ProstCodec`] with decode errors answered as `INVALID_ARGUMENT` and small initial
/// buffers.
#[derive(Debug, Clone)]
pub struct StrictCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for StrictCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for StrictCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder(ProstDecoder::new(buffer_settings()))
    }
}

/// [`ProstDecoder`] whose failures are `INVALID_ARGUMENT`.
#[derive(Debug, Clone, Default)]
pub struct StrictDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            let reason: String = status.message().chars().take(MAX_REASON_CHARS).collect();
            Status::invalid_argument(format!("the message does not decode: {reason}"))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
