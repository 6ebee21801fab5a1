//! Server reflection: both versions clients speak (v1, and v1alpha for older grpcurl and Python's
//! grpcio-reflection), each listener listing only the services it serves.

use anyhow::{Context, Result, bail};
use tonic::transport::Channel;
use tulpar_tests::Federation;

/// The services a listener lists over reflection `v1` and `v1alpha`.
async fn listed(channel: Channel) -> Result<[Vec<String>; 2]> {
    use tonic_reflection::pb::{v1, v1alpha};
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let v1_names = match answers
        .message()
        .await?
        .context("a v1 answer")?
        .message_response
    {
        Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => bail!("v1 answered {other:?}"),
    };
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let v1alpha_names = match answers
        .message()
        .await?
        .context("a v1alpha answer")?
        .message_response
    {
        Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => bail!("v1alpha answered {other:?}"),
    };
    Ok([v1_names, v1alpha_names])
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listener_lists_only_its_services_in_both_reflection_versions() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);

    let [v1, v1alpha] = listed(kz.client_channel()?).await?;
    let client_api = |reflection: &str| {
        sorted(&[
            "grpc.health.v1.Health",
            reflection,
            "tulpar.v1.AdminService",
            "tulpar.v1.AlertService",
            "tulpar.v1.AuditService",
        ])
    };
    let mut v1 = v1;
    v1.sort();
    let mut v1alpha = v1alpha;
    v1alpha.sort();
    assert_eq!(v1, client_api("grpc.reflection.v1.ServerReflection"));
    assert_eq!(
        v1alpha,
        client_api("grpc.reflection.v1alpha.ServerReflection")
    );

    let [mut v1, mut v1alpha] = listed(kz.federation_channel(uz)?).await?;
    v1.sort();
    v1alpha.sort();
    let federation_api = |reflection: &str| {
        sorted(&[
            "grpc.health.v1.Health",
            reflection,
            "tulpar.v1.FederationService",
        ])
    };
    assert_eq!(v1, federation_api("grpc.reflection.v1.ServerReflection"));
    assert_eq!(
        v1alpha,
        federation_api("grpc.reflection.v1alpha.ServerReflection")
    );
    Ok(())
}
