//! The admin API: revoking bearer tokens without a restart, listing them with their state, the
//! webhook subscriptions' state and test messages, and people's accounts.
//!
//! A revocation is a `TokenRevoked` ledger entry with who made it; the state view keeps it and
//! [`ClientAuth`](crate::client_auth::ClientAuth) refuses the token from the moment the entry is
//! applied, before the administrator is answered. Open streams of the token end at once.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tulpar_core::proto::{self, admin_service_server::AdminService, ledger_entry::Kind};
use tulpar_core::time::to_timestamp;
use tulpar_core::validation::Violations;
use tulpar_trust::tls::Role;

use crate::auth::Principal;
use crate::config::TokenConfig;
use crate::error::ApiError;
use crate::node::Node;
use crate::state::TokenRevocation;

/// Characters a revocation reason may have, as in a directory revocation.
const MAX_REASON_CHARS: usize = 500;

/// The admin API.
pub(crate) struct Admin {
    node: Arc<Node>,
}

impl Admin {
    /// The service over `node`.
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    fn admin<T>(&self, request: &Request<T>) -> Result<Principal, ApiError> {
        let principal = self.node.auth.authenticate(request)?;
        if principal.role != Role::Admin {
            return Err(ApiError::PermissionDenied(format!(
                "{principal} may not use the admin API; it is for administrators"
            )));
        }
        Ok(principal)
    }

    fn info(token: &TokenConfig, revocation: Option<TokenRevocation>) -> proto::TokenInfo {
        let mut info = proto::TokenInfo {
            name: token.name.clone(),
            role: token.role.as_str().to_owned(),
            units: token.units.iter().map(ToString::to_string).collect(),
            sha256_prefix: hex::encode(&token.sha256[..4]),
            ..Default::default()
        };
        if let Some(r) = revocation {
            info.revoked = true;
            info.revoked_at = Some(to_timestamp(r.revoked_at));
            info.revoked_by = r.revoked_by;
            info.reason = r.reason;
            info.ledger_index = r.ledger_index;
        }
        info
    }

    async fn revoke(
        &self,
        principal: &Principal,
        request: proto::RevokeTokenRequest,
    ) -> Result<proto::RevokeTokenResponse, ApiError> {
        let name = request.name.trim();
        let reason = request.reason.trim();
        let mut violations = Vec::new();
        if name.is_empty() {
            violations.push(("name".to_owned(), "is required".to_owned()));
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            violations.push((
                "reason".to_owned(),
                format!("has at most {MAX_REASON_CHARS} characters"),
            ));
        }
        if let Some(violations) = Violations::from_pairs(violations) {
            return Err(ApiError::Invalid(violations));
        }
        let auth = &self.node.auth;
        let token = auth
            .tokens()
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no token named {name:?} in client_api.tokens (see `tulpar token list`)"
                ))
            })?;
        // Two administrators revoking the same token at once append one entry.
        let _lock = self
            .node
            .context
            .locks
            .lock([b"token-revocation/".as_slice(), &token.sha256].concat())
            .await;
        if let Some(existing) = auth.token_revocation(token)? {
            return Ok(proto::RevokeTokenResponse {
                token: Some(Self::info(token, Some(existing))),
                newly_revoked: false,
            });
        }
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(self.node.context.clock.now())),
            alert_id: String::new(),
            kind: Some(Kind::TokenRevoked(proto::TokenRevoked {
                name: token.name.clone(),
                reason: reason.to_owned(),
                revoked_by: principal.name.clone(),
                sha256: token.sha256.to_vec(),
            })),
        };
        let appended = self.node.context.append(entry).await?;
        auth.notify_changed();
        tracing::warn!(
            token = %token.name,
            revoked_by = %principal.name,
            reason,
            ledger.index = appended.index,
            "bearer token revoked"
        );
        let revocation = auth.token_revocation(token)?.ok_or_else(|| {
            ApiError::internal("the token revocation was appended but is not in the state view")
        })?;
        Ok(proto::RevokeTokenResponse {
            token: Some(Self::info(token, Some(revocation))),
            newly_revoked: true,
        })
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    async fn revoke_token(
        &self,
        request: Request<proto::RevokeTokenRequest>,
    ) -> Result<Response<proto::RevokeTokenResponse>, Status> {
        let principal = self.admin(&request)?;
        Ok(Response::new(
            self.revoke(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_tokens(
        &self,
        request: Request<proto::ListTokensRequest>,
    ) -> Result<Response<proto::ListTokensResponse>, Status> {
        self.admin(&request)?;
        let auth = &self.node.auth;
        let tokens = auth
            .tokens()
            .iter()
            .map(|token| Ok(Self::info(token, auth.token_revocation(token)?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Response::new(proto::ListTokensResponse { tokens }))
    }

    async fn list_webhooks(
        &self,
        request: Request<proto::ListWebhooksRequest>,
    ) -> Result<Response<proto::ListWebhooksResponse>, Status> {
        self.admin(&request)?;
        Ok(Response::new(proto::ListWebhooksResponse {
            webhooks: self.node.webhooks.list(),
        }))
    }

    async fn test_webhook(
        &self,
        request: Request<proto::TestWebhookRequest>,
    ) -> Result<Response<proto::TestWebhookResponse>, Status> {
        let principal = self.admin(&request)?;
        let name = request.into_inner().name;
        let answer = self.node.webhooks.test(name.trim()).await?;
        tracing::info!(
            webhook = name.trim(),
            by = %principal.name,
            accepted = answer.accepted,
            http_status = answer.http_status,
            "webhook test message sent"
        );
        Ok(Response::new(answer))
    }

    async fn add_user(
        &self,
        request: Request<proto::AddUserRequest>,
    ) -> Result<Response<proto::UserResponse>, Status> {
        let principal = self.admin(&request)?;
        let accounts = &self.node.accounts;
        Ok(Response::new(
            accounts.add(&principal, request.into_inner()).await?,
        ))
    }

    async fn list_users(
        &self,
        request: Request<proto::ListUsersRequest>,
    ) -> Result<Response<proto::ListUsersResponse>, Status> {
        self.admin(&request)?;
        Ok(Response::new(proto::ListUsersResponse {
            users: self.node.accounts.list().await,
        }))
    }

    async fn disable_user(
        &self,
        request: Request<proto::DisableUserRequest>,
    ) -> Result<Response<proto::UserResponse>, Status> {
        let principal = self.admin(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(
            self.node.accounts.disable(&principal, name.trim()).await?,
        ))
    }

    async fn reset_password(
        &self,
        request: Request<proto::ResetPasswordRequest>,
    ) -> Result<Response<proto::UserResponse>, Status> {
        let principal = self.admin(&request)?;
        let request = request.into_inner();
        let accounts = &self.node.accounts;
        Ok(Response::new(
            accounts
                .reset_password(&principal, request.name.trim(), request.password)
                .await?,
        ))
    }

    async fn reset_totp(
        &self,
        request: Request<proto::ResetTotpRequest>,
    ) -> Result<Response<proto::UserResponse>, Status> {
        let principal = self.admin(&request)?;
        let name = request.into_inner().name;
        Ok(Response::new(
            self.node
                .accounts
                .reset_totp(&principal, name.trim())
                .await?,
        ))
    }
}
