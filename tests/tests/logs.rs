//! The node's log as operators read it: JSON lines with the fields of the event and of its span when
//! asked for, plain text without terminal colours when written to a file.

use std::time::Duration;

use anyhow::{Context, Result};
use tulpar_core::proto::{self, DeliveryState};
use tulpar_tests::{Federation, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_span_fields_and_text_logs_in_a_file_carry_no_colours() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let kz = federation.countries.get_mut("KZ").context("KZ")?;
    kz.node_env
        .push(("TULPAR__LOG__FORMAT".into(), "json".into()));
    kz.start_process().await?;
    federation
        .countries
        .get_mut("UZ")
        .context("UZ")?
        .start_process()
        .await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);

    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let alert_id = officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "logs".into(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?
        .into_inner()
        .alert_id;
    let delivered = eventually(Duration::from_secs(20), "the delivery is logged", || {
        let log = kz.log();
        let alert_id = alert_id.clone();
        async move {
            Ok(log
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|line| {
                    line["message"] == "delivered" && line["alert.id"] == alert_id.as_str()
                }))
        }
    })
    .await?;
    assert_eq!(delivered["peer.country"], "UZ", "{delivered}");
    assert!(delivered["ledger.index"].is_u64(), "{delivered}");
    assert_eq!(delivered["span"]["name"], "delivery", "{delivered}");
    assert_eq!(delivered["span"]["peer.country"], "UZ", "{delivered}");
    let log = kz.log();
    for line in log.lines().filter(|l| !l.is_empty()) {
        let object: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        assert!(
            object["timestamp"].is_string() && object["level"].is_string(),
            "{line}"
        );
    }

    let record = officer
        .get_alert(proto::GetAlertRequest { alert_id })
        .await?
        .into_inner();
    assert_eq!(record.recipients[0].state, DeliveryState::Delivered as i32);
    let text = uz.log();
    assert!(text.contains("node started"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "terminal colours in a file: {text:?}"
    );
    Ok(())
}
