//! Authenticating callers of the client API: a client certificate from the national TLS CA, or a bearer
//! token configured for a system integration.
//!
//! Every call is checked against the revocations as they stand: a certificate against the country's
//! own directory ([`OwnRevocations`]), a token against the `TokenRevoked` entries of the ledger (the
//! state view). So a revoked officer or system is refused at its next call, on a connection opened
//! before the revocation too, and streams it holds open are ended by [`crate::service::guard`] when
//! [`ClientAuth::subscribe`] signals a change. Failures are counted and throttled per peer address
//! ([`AuthThrottle`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ring::digest::{SHA256, digest};
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;
use tonic::Request;
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::KeyId;
use tulpar_core::time::Clock;
use tulpar_trust::directory::fmt_time;

use crate::auth::Principal;
use crate::config::TokenConfig;
use crate::error::ApiError;
use crate::revocations::{OwnRevocations, certificate_key_ids};
use crate::state::{TokenRevocation, TokenRevocations};
use crate::throttle::AuthThrottle;
use crate::transport::Peer;

/// What a client connection's certificate says about its holder (`None` when it sent no certificate).
pub(crate) type ClientIdentity = Option<ClientCertificate>;

/// A verified client certificate: who it names, and the key ids it can be revoked under.
#[derive(Debug, Clone)]
pub(crate) struct ClientCertificate {
    principal: Principal,
    key_ids: [KeyId; 2],
}

impl ClientCertificate {
    /// Who the certificate names.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The holder of `leaf`, already mapped to `principal`.
    pub(crate) fn new(
        principal: Principal,
        leaf: &CertificateDer<'_>,
    ) -> Result<Self, tulpar_trust::tls::TlsError> {
        Ok(Self {
            principal,
            key_ids: certificate_key_ids(leaf)?,
        })
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    /// A configured bearer token, by its hash.
    Token { name: String, sha256: [u8; 32] },
    /// A client certificate, by the key ids it can be revoked under.
    Certificate { key_ids: [KeyId; 2] },
}

/// An authenticated caller and the credential it used, to check again later (long-lived streams).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Who it is.
    pub(crate) principal: Principal,
    credential: Credential,
}

impl Caller {
    /// Whether the caller presented a client certificate (not a bearer token).
    pub(crate) fn is_certificate(&self) -> bool {
        matches!(self.credential, Credential::Certificate { .. })
    }
}

/// Maps requests to principals.
pub(crate) struct ClientAuth {
    country: CountryCode,
    tokens: Vec<TokenConfig>,
    revoked_tokens: Box<dyn TokenRevocations>,
    certificates: Arc<OwnRevocations>,
    throttle: AuthThrottle,
    clock: Arc<dyn Clock>,
    /// Bumped whenever a revocation may have taken effect; long-lived streams re-check their caller.
    changes: watch::Sender<u64>,
}

impl ClientAuth {
    /// Authentication for a node of `country` with the configured tokens, the token revocations of
    /// the ledger and the certificate revocations of the own directory.
    pub(crate) fn new(
        country: CountryCode,
        tokens: Vec<TokenConfig>,
        revoked_tokens: Box<dyn TokenRevocations>,
        certificates: OwnRevocations,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            country,
            tokens,
            revoked_tokens,
            certificates: Arc::new(certificates),
            throttle: AuthThrottle::new(clock.clone()),
            clock,
            changes: watch::Sender::new(0),
        }
    }

    /// The caller of `request`.
    pub(crate) fn authenticate<T>(&self, request: &Request<T>) -> Result<Principal, ApiError> {
        self.authenticate_caller(request).map(|c| c.principal)
    }

    /// The caller of `request` with its credential. A bearer token wins over the connection's
    /// certificate, so a system can connect without a certificate of its own. A peer address that
    /// failed too often is refused before its credentials are looked at.
    /// Refuses `addr` while it is throttled after failed authentications (any door: also sign-ins).
    pub(crate) fn admit(&self, addr: IpAddr) -> Result<(), ApiError> {
        self.throttle.admit(addr)
    }

    /// Counts a failed authentication from `addr` (a failed sign-in counts as one).
    pub(crate) fn failed(&self, addr: IpAddr, error: &ApiError) {
        self.throttle.failed(addr, error);
    }

    pub(crate) fn authenticate_caller<T>(&self, request: &Request<T>) -> Result<Caller, ApiError> {
        let peer = request.extensions().get::<Peer<ClientIdentity>>();
        // Without a peer (only in tests) failures still count, under the unspecified address.
        let addr = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.addr.ip());
        self.throttle.admit(addr)?;
        let result = self.identify(request, peer).and_then(|caller| {
            self.check(&caller)?;
            Ok(caller)
        });
        if let Err(error @ ApiError::Unauthenticated(_)) = &result {
            self.throttle.failed(addr, error);
        }
        result
    }

    fn identify<T>(
        &self,
        request: &Request<T>,
        peer: Option<&Peer<ClientIdentity>>,
    ) -> Result<Caller, ApiError> {
        if let Some(value) = request.metadata().get("authorization") {
            let value = value
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("authorization: not valid ASCII".into()))?;
            let token = value.strip_prefix("Bearer ").ok_or_else(|| {
                ApiError::Unauthenticated("authorization: expected \"Bearer <token>\"".into())
            })?;
            return self.token(token.trim());
        }
        match peer.and_then(|p| p.identity.clone()) {
            Some(certificate) => Ok(Caller {
                principal: certificate.principal,
                credential: Credential::Certificate {
                    key_ids: certificate.key_ids,
                },
            }),
            None => Err(ApiError::Unauthenticated(
                "no credentials: present a client certificate from the national CA or an \
                 \"authorization: Bearer <token>\" header"
                    .into(),
            )),
        }
    }

    fn token(&self, token: &str) -> Result<Caller, ApiError> {
        let hash = digest(&SHA256, token.as_bytes());
        // Hashes, not tokens, are compared: the comparison time reveals nothing usable about a token.
        let found = self
            .tokens
            .iter()
            .find(|t| t.sha256.as_slice() == hash.as_ref());
        let token =
            found.ok_or_else(|| ApiError::Unauthenticated("unknown bearer token".into()))?;
        Ok(Caller {
            principal: Principal {
                role: token.role,
                country: self.country,
                units: token.units.clone(),
                name: format!("token:{}", token.name),
            },
            credential: Credential::Token {
                name: token.name.clone(),
                sha256: token.sha256,
            },
        })
    }

    /// Checks that `caller`'s credential has not been revoked since it authenticated.
    pub(crate) fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        match &caller.credential {
            Credential::Token { name, sha256 } => {
                match self.revoked_tokens.token_revocation(sha256)? {
                    None => Ok(()),
                    Some(r) => Err(ApiError::Unauthenticated(format!(
                        "token {name:?} was revoked at {} by {}: {} (ledger entry {})",
                        fmt_time(r.revoked_at),
                        r.revoked_by,
                        r.reason,
                        r.ledger_index
                    ))),
                }
            }
            Credential::Certificate { key_ids } => {
                match self.certificates.revoked(key_ids, self.clock.now()) {
                    None => Ok(()),
                    Some(r) => Err(ApiError::Unauthenticated(format!(
                        "the client certificate of {} was revoked from {} in the {} directory \
                         (version {}, key {}): {}",
                        caller.principal,
                        fmt_time(r.effective_at),
                        self.country,
                        r.version,
                        r.key_id.short(),
                        r.reason
                    ))),
                }
            }
        }
    }

    /// The own directory as last read: its revocations and units.
    pub(crate) fn own_directory(&self) -> &Arc<OwnRevocations> {
        &self.certificates
    }

    /// Re-reads the own directory if its file changed, and tells streams to re-check their callers.
    pub(crate) fn refresh_certificate_revocations(
        &self,
    ) -> Result<(), crate::revocations::OwnDirectoryFileError> {
        let result = self.certificates.refresh();
        // A revocation may also come into force now without any change of the file.
        self.notify_changed();
        result.map(|_| ())
    }

    /// Tells long-lived streams to re-check their callers now.
    pub(crate) fn notify_changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// A signal that changes whenever callers should be re-checked.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The configured tokens.
    pub(crate) fn tokens(&self) -> &[TokenConfig] {
        &self.tokens
    }

    /// The revocation of a configured token, if it was revoked.
    pub(crate) fn token_revocation(
        &self,
        token: &TokenConfig,
    ) -> Result<Option<TokenRevocation>, ApiError> {
        Ok(self.revoked_tokens.token_revocation(&token.sha256)?)
    }
}

#[cfg(test)]
mod tests;
