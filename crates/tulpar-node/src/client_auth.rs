//! Authenticating callers of the client API: a client certificate from the national TLS CA, or a bearer
//! token configured for a system integration.

use ring::digest::{SHA256, digest};
use tonic::Request;
use tulpar_core::codes::CountryCode;

use crate::auth::Principal;
use crate::config::TokenConfig;
use crate::error::ApiError;
use crate::transport::Peer;

/// What a client connection's certificate says about its holder (`None` when it sent no certificate).
pub(crate) type ClientIdentity = Option<Principal>;

/// Maps requests to principals.
pub(crate) struct ClientAuth {
    country: CountryCode,
    tokens: Vec<TokenConfig>,
}

impl ClientAuth {
    /// Authentication for a node of `country` with the configured tokens.
    pub(crate) fn new(country: CountryCode, tokens: Vec<TokenConfig>) -> Self {
        Self { country, tokens }
    }

    /// The caller of `request`: a bearer token wins over the connection's certificate, so a system can
    /// connect without a certificate of its own.
    pub(crate) fn authenticate<T>(&self, request: &Request<T>) -> Result<Principal, ApiError> {
        if let Some(value) = request.metadata().get("authorization") {
            let value = value
                .to_str()
                .map_err(|_| ApiError::Unauthenticated("authorization: not valid ASCII".into()))?;
            let token = value.strip_prefix("Bearer ").ok_or_else(|| {
                ApiError::Unauthenticated("authorization: expected \"Bearer <token>\"".into())
            })?;
            return self.token(token.trim());
        }
        let peer = request.extensions().get::<Peer<ClientIdentity>>();
        match peer.and_then(|p| p.identity.clone()) {
            Some(principal) => Ok(principal),
            None => Err(ApiError::Unauthenticated(
                "no credentials: present a client certificate from the national CA or an \
                 \"authorization: Bearer <token>\" header"
                    .into(),
            )),
        }
    }

    fn token(&self, token: &str) -> Result<Principal, ApiError> {
        let hash = digest(&SHA256, token.as_bytes());
        // Hashes, not tokens, are compared: the comparison time reveals nothing usable about a token.
        let found = self
            .tokens
            .iter()
            .find(|t| t.sha256.as_slice() == hash.as_ref());
        let token =
            found.ok_or_else(|| ApiError::Unauthenticated("unknown bearer token".into()))?;
        Ok(Principal {
            role: token.role,
            country: self.country,
            units: token.units.clone(),
            name: format!("token:{}", token.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use tulpar_core::codes::UnitId;
    use tulpar_trust::tls::Role;

    use super::*;

    fn auth() -> ClientAuth {
        let hash = digest(&SHA256, b"s3cret");
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(hash.as_ref());
        ClientAuth::new(
            CountryCode::parse("KZ").unwrap(),
            vec![TokenConfig {
                name: "asycuda".into(),
                sha256,
                role: Role::Integrator,
                units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
            }],
        )
    }

    fn request(authorization: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().unwrap());
        }
        request
    }

    #[test]
    fn a_configured_token_maps_to_its_role_and_units() {
        let principal = auth()
            .authenticate(&request(Some("Bearer s3cret")))
            .unwrap();
        assert_eq!(principal.role, Role::Integrator);
        assert_eq!(principal.name, "token:asycuda");
        assert_eq!(principal.units.len(), 1);
    }

    #[test]
    fn unknown_malformed_or_missing_credentials_are_refused() {
        for header in [Some("Bearer wrong"), Some("Basic czNjcmV0"), None] {
            let error = auth().authenticate(&request(header)).unwrap_err();
            assert!(
                matches!(error, ApiError::Unauthenticated(_)),
                "{header:?}: {error}"
            );
        }
    }
}
