//! `AuditService`: the focal point's proofs, verification, reconciliation and reports, over
//! [`Auditor`].
//!
//! Everything it returns can be checked without trusting the node: entries come with their stored
//! bytes (the Merkle leaf input), checkpoints are signed notes, proofs are RFC 9162 proofs.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tulpar_core::proto::{self, audit_service_server::AuditService};

use crate::audit::{Auditor, verify_ledger};
use crate::auth::Principal;
use crate::client_auth::ClientAuth;
use crate::error::ApiError;

/// The audit API.
pub(crate) struct Audit {
    auditor: Arc<Auditor>,
    auth: Arc<ClientAuth>,
    /// One full verification at a time: it reads the whole ledger.
    verifying: Arc<Semaphore>,
}

impl Audit {
    /// Starts the full verification of the ledger, whose progress and result the stream gives; one
    /// at a time. Ending the stream drops its receiver, which stops the verification. The caller has
    /// checked that a focal point asks (the console checks its own sessions).
    pub(crate) fn start_verification(
        &self,
    ) -> Result<ReceiverStream<Result<proto::VerifyLedgerProgress, Status>>, ApiError> {
        let permit = self.verifying.clone().try_acquire_owned().map_err(|_| {
            ApiError::ResourceExhausted(
                "a verification of this ledger is already running; try again when it ends".into(),
            )
        })?;
        let checker = self.auditor.entry_checker()?;
        let (tx, rx) = mpsc::channel(16);
        let node = self.auditor.clone();
        self.auditor
            .context
            .lifecycle
            .spawn_blocking(move || verify_ledger(node, permit, checker, tx));
        Ok(ReceiverStream::new(rx))
    }

    /// Reconciles with a partner at the ledger's settled checkpoints, off the async threads. The
    /// caller has checked that a focal point asks.
    pub(crate) async fn reconcile_now(
        &self,
        request: proto::ReconcileRequest,
    ) -> Result<proto::ReconcileReport, ApiError> {
        let node = self.auditor.clone();
        let checkpoints = node.context.settle.settled(|| node.checkpoints()).await?;
        self.auditor
            .context
            .lifecycle
            .spawn_blocking(move || node.reconcile(request, checkpoints))
            .await
            .map_err(ApiError::internal)?
    }

    /// The service over `auditor`, for the callers `auth` admits.
    pub(crate) fn new(auditor: Arc<Auditor>, auth: Arc<ClientAuth>) -> Self {
        Self {
            auditor,
            auth,
            verifying: Arc::new(Semaphore::new(1)),
        }
    }

    fn focal_point<T>(&self, request: &Request<T>) -> Result<Principal, ApiError> {
        let principal = self.auth.authenticate(request)?;
        if !principal.is_focal_point() {
            return Err(ApiError::PermissionDenied(format!(
                "{principal} may not use the audit API; it is for focal points"
            )));
        }
        Ok(principal)
    }
}

#[tonic::async_trait]
impl AuditService for Audit {
    async fn get_latest_checkpoint(
        &self,
        request: Request<proto::GetLatestCheckpointRequest>,
    ) -> Result<Response<proto::GetLatestCheckpointResponse>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(self.auditor.checkpoints()?))
    }

    async fn get_entries(
        &self,
        request: Request<proto::GetEntriesRequest>,
    ) -> Result<Response<proto::GetEntriesResponse>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(
            self.auditor.audit_entries(request.get_ref())?,
        ))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<proto::GetInclusionProofRequest>,
    ) -> Result<Response<proto::InclusionProof>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(
            self.auditor.audit_inclusion_proof(request.get_ref())?,
        ))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<proto::GetConsistencyProofRequest>,
    ) -> Result<Response<proto::ConsistencyProof>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(
            self.auditor.audit_consistency_proof(request.get_ref())?,
        ))
    }

    type VerifyLedgerStream = crate::service::guard::Guarded<proto::VerifyLedgerProgress>;

    async fn verify_ledger(
        &self,
        request: Request<proto::VerifyLedgerRequest>,
    ) -> Result<Response<Self::VerifyLedgerStream>, Status> {
        self.focal_point(&request)?;
        let caller = self.auth.authenticate_caller(&request)?;
        let stream = self.start_verification()?;
        Ok(Response::new(crate::service::guard::while_allowed(
            self.auth.clone(),
            caller,
            stream,
        )))
    }

    async fn reconcile(
        &self,
        request: Request<proto::ReconcileRequest>,
    ) -> Result<Response<proto::ReconcileReport>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(
            self.reconcile_now(request.into_inner()).await?,
        ))
    }

    async fn get_exchange_report(
        &self,
        request: Request<proto::ExchangeReportRequest>,
    ) -> Result<Response<proto::ExchangeReport>, Status> {
        self.focal_point(&request)?;
        let node = self.auditor.clone();
        let report = self
            .auditor
            .context
            .lifecycle
            .spawn_blocking(move || node.exchange_report(request.into_inner()))
            .await
            .map_err(ApiError::internal)??;
        Ok(Response::new(report))
    }

    async fn list_alarms(
        &self,
        request: Request<proto::ListAlarmsRequest>,
    ) -> Result<Response<proto::ListAlarmsResponse>, Status> {
        self.focal_point(&request)?;
        Ok(Response::new(self.auditor.alarms()?))
    }
}
