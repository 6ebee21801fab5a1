//! Timing every call this node makes to a partner, by partner and method.
//!
//! The channel to a partner is wrapped once, where it is made ([`crate::partners::Partners::connect_partner`]),
//! so deliveries, probes, witnessing and directory fetches are all timed without a hook at each call.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tonic::body::Body;
use tonic::transport::Channel;

use super::CallLabels;

/// A channel to one partner that records how long each call took to be answered (its response
/// headers, or its failure) in `tulpar_partner_call_duration_seconds`.
#[derive(Clone)]
pub(crate) struct PartnerChannel {
    inner: Channel,
    partner: String,
    durations: Family<CallLabels, Histogram>,
}

impl PartnerChannel {
    pub(crate) fn new(
        inner: Channel,
        partner: String,
        durations: Family<CallLabels, Histogram>,
    ) -> Self {
        Self {
            inner,
            partner,
            durations,
        }
    }
}

/// The method a gRPC path names (`/package.Service/Method`). The node's own client code chooses the
/// paths, so the set is the federation service's methods.
fn method_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

impl tower::Service<http::Request<Body>> for PartnerChannel {
    type Response = <Channel as tower::Service<http::Request<Body>>>::Response;
    type Error = <Channel as tower::Service<http::Request<Body>>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let labels = CallLabels {
            partner: self.partner.clone(),
            method: method_of(request.uri().path()),
        };
        let durations = self.durations.clone();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let answer = call.await;
            durations
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_is_the_last_segment_of_the_path() {
        assert_eq!(
            method_of("/tulpar.v1.FederationService/DeliverAlerts"),
            "DeliverAlerts"
        );
    }
}
