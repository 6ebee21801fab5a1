use tulpar_core::proto;

use super::SubmitError;
use crate::testing::{KZ_UNIT, TestFederation, officer};

fn request(request_id: &str, content: Option<proto::AlertContent>) -> proto::SubmitAlertRequest {
    proto::SubmitAlertRequest {
        request_id: request_id.into(),
        content,
    }
}

fn fields(error: SubmitError) -> Vec<String> {
    match error {
        SubmitError::Invalid(violations) => {
            violations.into_vec().into_iter().map(|v| v.field).collect()
        }
        other => panic!("expected violations, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_request_id_is_named_with_every_other_violation_and_nothing_is_recorded() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let mut content = tulpar_core::sample::alert_draft(KZ_UNIT, "UZ");
    content.priority = 0;
    let refused = kz
        .submission
        .submit_alert(
            &officer(KZ_UNIT),
            request("no spaces allowed", Some(content)),
        )
        .await
        .expect_err("refused");
    let named = fields(refused);
    assert!(named.contains(&"request_id".to_owned()), "{named:?}");
    assert!(named.contains(&"content.priority".to_owned()), "{named:?}");

    let refused = kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("no spaces allowed", None))
        .await
        .expect_err("refused");
    assert_eq!(fields(refused), ["request_id", "content"]);
    assert_eq!(kz.context.ledger_size(), 0, "nothing is recorded");
}

#[tokio::test]
async fn a_retry_replays_and_other_content_under_the_same_request_id_is_refused() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let draft = tulpar_core::sample::alert_draft(KZ_UNIT, "UZ");
    let first = kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("req-1", Some(draft.clone())))
        .await
        .expect("raised");
    let again = kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("req-1", Some(draft.clone())))
        .await
        .expect("replayed");
    assert!(again.replayed && !first.replayed);
    assert_eq!(
        (again.alert_id, again.ledger_index),
        (first.alert_id.clone(), first.ledger_index)
    );
    let mut other = draft;
    other.narrative = "another consignment".into();
    let size = kz.context.ledger_size();
    match kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("req-1", Some(other)))
        .await
    {
        Err(SubmitError::RequestIdReused(message)) => {
            assert!(message.contains(&first.alert_id), "{message}")
        }
        other => panic!("expected the request id refused, got {other:?}"),
    }
    assert_eq!(
        kz.context.ledger_size(),
        size,
        "the refusal records nothing"
    );
}

#[tokio::test]
async fn only_an_officer_of_the_origin_unit_raises_its_alert() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let draft = tulpar_core::sample::alert_draft(KZ_UNIT, "UZ");
    let result = kz
        .submission
        .submit_alert(
            &officer(crate::testing::KZ_OTHER_UNIT),
            request("", Some(draft)),
        )
        .await;
    assert!(
        matches!(&result, Err(SubmitError::NotActingFor { unit, .. }) if unit.as_str() == KZ_UNIT),
        "{result:?}"
    );
    assert_eq!(kz.context.ledger_size(), 0);
}

#[tokio::test]
async fn codes_written_as_officers_write_them_are_signed_normalised_and_a_retry_still_replays() {
    let fed = TestFederation::new();
    let kz = fed.open(&fed.kz);
    let mut draft = tulpar_core::sample::alert_draft(KZ_UNIT, "UZ");
    let consignment = draft.consignment.as_mut().expect("a consignment");
    consignment.containers = vec!["csqu 305438 3".into()];
    consignment.goods[0].hs_code = "8433.90".into();
    let first = kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("req-n", Some(draft.clone())))
        .await
        .expect("raised");
    let signed = tulpar_core::envelope::decode_recorded::<proto::Alert>(
        first.signed_alert.as_ref().expect("signed"),
        tulpar_core::envelope::PayloadType::Alert,
    )
    .expect("an alert");
    let consignment = signed
        .content
        .and_then(|c| c.consignment)
        .expect("a consignment");
    assert_eq!(consignment.containers, ["CSQU3054383"]);
    assert_eq!(consignment.goods[0].hs_code, "843390");
    let again = kz
        .submission
        .submit_alert(&officer(KZ_UNIT), request("req-n", Some(draft)))
        .await
        .expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.alert_id, first.alert_id);
}
