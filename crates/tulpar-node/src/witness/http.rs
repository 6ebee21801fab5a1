//! The c2sp.org/tlog-witness HTTP door: `POST /witness/add-checkpoint` on the client API listener,
//! for partners and for the outside logs this node is told to witness. Requests carry no credentials;
//! the checkpoint's signature by a log this node knows is what lets one in.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{CheckpointError, Presented, Witness};

/// Where a witness's submission prefix is: `add-checkpoint` is POSTed below it.
pub(crate) const PREFIX: &str = "/witness";
/// The media type of a `409 Conflict` answer naming the size the witness holds.
pub(crate) const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// Most consistency proof lines a request may carry (the protocol's bound).
const MAX_PROOF_LINES: usize = 63;
/// Largest request body taken: the old size, 63 proof lines and a checkpoint with some signatures.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 * 1024;

impl Presented {
    /// The request body of `add-checkpoint`.
    pub(crate) fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.consistency_proof {
            body.push_str(&STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Reads an `add-checkpoint` request body.
    pub(crate) fn from_body(body: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or("no empty line between the old size and proof lines and the checkpoint")?;
        let mut lines = head.split('\n');
        let old = lines.next().unwrap_or_default();
        let size = old
            .strip_prefix("old ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .ok_or_else(|| format!("the first line {old:?} is not \"old <size>\""))?;
        let old_size = size
            .parse()
            .map_err(|_| format!("old size {size} is too large"))?;
        let consistency_proof = lines
            .enumerate()
            .map(|(i, line)| {
                STANDARD
                    .decode(line)
                    .ok()
                    .filter(|hash| hash.len() == 32)
                    .ok_or_else(|| format!("proof line {} is not a base64 SHA-256 hash", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if consistency_proof.len() > MAX_PROOF_LINES {
            return Err(format!("more than {MAX_PROOF_LINES} proof lines"));
        }
        if old_size == 0 && !consistency_proof.is_empty() {
            return Err("a proof from old size 0 must be empty".to_owned());
        }
        Ok(Self {
            old_size,
            consistency_proof,
            checkpoint: checkpoint.to_owned(),
            restore_statement: String::new(),
        })
    }
}

/// `router` with `POST /witness/add-checkpoint` answered by `witness`.
pub(crate) fn mount(witness: std::sync::Arc<Witness>, router: axum::Router) -> axum::Router {
    router.route(
        &format!("{PREFIX}/add-checkpoint"),
        axum::routing::post(move |request: axum::http::Request<Body>| {
            let witness = witness.clone();
            async move {
                match axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
                    Ok(body) => witness.add_checkpoint_http(&body).await,
                    Err(_) => plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("a request body holds at most {MAX_REQUEST_BYTES} bytes\n"),
                    ),
                }
            }
        }),
    )
}

impl Witness {
    /// Answers one `add-checkpoint` request as the protocol says: 200 with the cosignature line, 400
    /// for a malformed request or an old size above the checkpoint's, 403 when no known key signed
    /// it, 404 for an origin this node does not witness, 409 naming the size held (or for another
    /// root of that size), 422 when the proof does not verify.
    pub(crate) async fn add_checkpoint_http(&self, body: &[u8]) -> Response {
        let presented = match Presented::from_body(body) {
            Ok(presented) => presented,
            Err(why) => return plain(StatusCode::BAD_REQUEST, &format!("{why}\n")),
        };
        let origin = presented
            .checkpoint
            .split_once('\n')
            .map(|(origin, _)| origin.to_owned())
            .unwrap_or_default();
        let Some(log) = self.log_of(&origin) else {
            return plain(
                StatusCode::NOT_FOUND,
                &format!("{}\n", CheckpointError::UnknownOrigin(origin)),
            );
        };
        match self.cosign_checkpoint(&log, presented).await {
            Ok(line) => plain(StatusCode::OK, &format!("{line}\n")),
            Err(CheckpointError::Holds(size)) => {
                let mut response = plain(StatusCode::CONFLICT, &format!("{size}\n"));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(SIZE_CONTENT_TYPE),
                );
                response
            }
            Err(error) => {
                let status = match &error {
                    CheckpointError::UnknownOrigin(_) => StatusCode::NOT_FOUND,
                    CheckpointError::NoKey(_) | CheckpointError::Unverified { .. } => {
                        StatusCode::FORBIDDEN
                    }
                    CheckpointError::OldSizeTooLarge { .. } | CheckpointError::BadRestore(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    CheckpointError::BadProof { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    CheckpointError::Inconsistent { .. } => StatusCode::CONFLICT,
                    CheckpointError::Holds(_) | CheckpointError::Node(_) => {
                        tracing::error!(%error, "witness request failed");
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                };
                plain(status, &format!("{error}\n"))
            }
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_body_reads_back_as_written() {
        let presented = Presented {
            old_size: 20852014,
            consistency_proof: vec![vec![7u8; 32], vec![9u8; 32]],
            checkpoint: "o\n1\nAAAA\n\n\u{2014} o AAAA\n".to_owned(),
            restore_statement: String::new(),
        };
        let body = presented.to_body();
        assert!(body.starts_with("old 20852014\nBwcH"), "{body}");
        let again = Presented::from_body(body.as_bytes()).unwrap();
        assert_eq!(again.old_size, 20852014);
        assert_eq!(again.consistency_proof, presented.consistency_proof);
        assert_eq!(again.checkpoint, presented.checkpoint);
    }

    #[test]
    fn malformed_requests_are_refused_naming_the_rule() {
        let hash = STANDARD.encode([1u8; 32]);
        for (body, rule) in [
            ("old 1\n".to_owned(), "no empty line"),
            ("new 1\n\ncp".to_owned(), "is not \"old <size>\""),
            ("old 01\n\ncp".to_owned(), "is not \"old <size>\""),
            ("old 1\nAAAA\n\ncp".to_owned(), "proof line 1"),
            (format!("old 0\n{hash}\n\ncp"), "must be empty"),
            (
                format!("old 1\n{}\ncp", format!("{hash}\n").repeat(64)),
                "more than 63",
            ),
        ] {
            let why = Presented::from_body(body.as_bytes()).unwrap_err();
            assert!(why.contains(rule), "{body:?}: {why}");
        }
    }
}
