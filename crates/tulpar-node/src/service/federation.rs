//! `FederationService`: what partner nodes deliver to this node, and what they may fetch from it.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{self, federation_service_server::FederationService};
use tulpar_core::validation::Violations;

use crate::error::ApiError;
use crate::node::Node;
use crate::transport::Peer;

use tulpar_core::limits::MAX_ALERTS_PER_CALL;

/// The federation API.
pub(crate) struct Federation {
    node: Arc<Node>,
}

impl Federation {
    /// The service over `node`.
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

/// The partner country of a federation request, from its verified TLS certificate.
fn peer_country<T>(request: &Request<T>) -> Result<CountryCode, ApiError> {
    request
        .extensions()
        .get::<Peer<CountryCode>>()
        .map(|peer| peer.identity)
        .ok_or_else(|| ApiError::Unauthenticated("no verified partner certificate".into()))
}

fn required<T>(field: &str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::Invalid(Violations::single(field, "is required")))
}

#[tonic::async_trait]
impl FederationService for Federation {
    async fn deliver_alert(
        &self,
        request: Request<proto::DeliverAlertRequest>,
    ) -> Result<Response<proto::DeliverAlertResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        let envelope = required("alert", request.into_inner().alert)?;
        let result = self
            .node
            .inbound
            .deliver_alerts(partner, vec![envelope])
            .await
            .pop();
        match result.unwrap_or_else(|| Err(ApiError::internal("no result").into())) {
            Ok(receipt) => Ok(Response::new(proto::DeliverAlertResponse {
                receipt: Some(receipt),
            })),
            Err(error) => {
                tracing::warn!(peer.country = %partner, %error, "alert delivery refused");
                Err(error.into())
            }
        }
    }

    async fn deliver_alerts(
        &self,
        request: Request<proto::DeliverAlertsRequest>,
    ) -> Result<Response<proto::DeliverAlertsResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        let alerts = request.into_inner().alerts;
        if alerts.len() > MAX_ALERTS_PER_CALL {
            return Err(ApiError::Invalid(Violations::single(
                "alerts",
                format!(
                    "{} alerts in one call; at most {MAX_ALERTS_PER_CALL}",
                    alerts.len()
                ),
            ))
            .into());
        }
        let results = self.node.inbound.deliver_alerts(partner, alerts).await;
        let results = results
            .into_iter()
            .map(|result| proto::DeliveryResult {
                result: Some(match result {
                    Ok(receipt) => proto::delivery_result::Result::Receipt(receipt),
                    Err(error) => {
                        tracing::warn!(peer.country = %partner, %error, "alert delivery refused");
                        let status = Status::from(error);
                        proto::delivery_result::Result::Error(proto::DeliveryError {
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                        })
                    }
                }),
            })
            .collect();
        Ok(Response::new(proto::DeliverAlertsResponse { results }))
    }

    async fn deliver_response(
        &self,
        request: Request<proto::DeliverResponseRequest>,
    ) -> Result<Response<proto::DeliverResponseResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        let envelope = required("response", request.into_inner().response)?;
        match self.node.inbound.deliver_response(partner, envelope).await {
            Ok(receipt) => Ok(Response::new(proto::DeliverResponseResponse {
                receipt: Some(receipt),
            })),
            Err(error) => {
                tracing::warn!(peer.country = %partner, %error, "response delivery refused");
                Err(error.into())
            }
        }
    }

    async fn get_directory(
        &self,
        request: Request<proto::GetDirectoryRequest>,
    ) -> Result<Response<proto::GetDirectoryResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        let known = request.into_inner().known_version;
        let (version, envelope) = self
            .node
            .auth
            .own_directory()
            .signed()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let directory = (version > known).then(|| envelope.as_ref().clone());
        Ok(Response::new(proto::GetDirectoryResponse { directory }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        Ok(Response::new(proto::GetCheckpointResponse {
            checkpoint: Some(self.node.context.latest_checkpoint()),
        }))
    }

    async fn add_checkpoint(
        &self,
        request: Request<proto::AddCheckpointRequest>,
    ) -> Result<Response<proto::AddCheckpointResponse>, Status> {
        let partner = peer_country(&request)?;
        self.node
            .delivery
            .contact(partner, self.node.context.clock.now());
        let cosignature = self
            .node
            .witness
            .add_checkpoint(partner, request.into_inner())
            .await?;
        Ok(Response::new(proto::AddCheckpointResponse { cosignature }))
    }
}
