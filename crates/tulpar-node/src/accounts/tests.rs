//! Accounts on KZ's node opened without serving: who may be added, how sign-ins go, the lock after
//! failures, TOTP used once, and that the ledger records every step without a secret.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tulpar_core::time::Clock;

use tulpar_core::proto::{self, AccountEventKind, ledger_entry::Kind};
use tulpar_trust::tls::Role;

use super::{SignInError, TotpSecret};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::node::Node;
use crate::testing::{KZ_UNIT, TestFederation};

const PASSWORD: &str = "correct horse battery";
const ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn admin() -> Principal {
    Principal {
        role: Role::Admin,
        country: tulpar_core::codes::CountryCode::parse("KZ").expect("KZ"),
        units: Vec::new(),
        name: "token:admin".into(),
    }
}

fn request(name: &str, role: &str, unit: &str) -> proto::AddUserRequest {
    proto::AddUserRequest {
        name: name.into(),
        display_name: "Айгерим Сейтова".into(),
        role: role.into(),
        unit: unit.into(),
        language: "ru".into(),
        password: PASSWORD.into(),
        require_totp: false,
    }
}

fn account_events(node: &Node) -> Vec<proto::AccountEvent> {
    let size = node.context.ledger_size();
    node.context
        .entries(0, size)
        .expect("entries")
        .into_iter()
        .filter_map(|(_, entry)| match entry.kind {
            Some(Kind::AccountEvent(event)) => Some(event),
            _ => None,
        })
        .collect()
}

fn fields(error: ApiError) -> Vec<String> {
    match error {
        ApiError::Invalid(violations) => {
            violations.into_vec().into_iter().map(|v| v.field).collect()
        }
        other => panic!("expected violations, got {other:?}"),
    }
}

#[tokio::test]
async fn an_officer_signs_in_and_acts_as_the_account_for_its_unit() {
    let fed = TestFederation::new();
    let node = fed.open(&fed.kz);
    let added = node
        .accounts
        .add(&admin(), request("a.seitova", "officer", KZ_UNIT))
        .await
        .expect("added");
    assert!(added.totp.is_none(), "officers need no code by default");
    let entry = node.context.entry(added.ledger_index).expect("the entry");
    assert!(
        matches!(&entry.kind, Some(Kind::AccountEvent(e)) if e.kind() == AccountEventKind::Added && e.by == "token:admin"),
        "{entry:?}"
    );
    let signed_in = node
        .accounts
        .sign_in("a.seitova", PASSWORD, "", ADDRESS)
        .await
        .expect("signed in");
    assert_eq!(signed_in.principal.name, "user:a.seitova");
    assert_eq!(signed_in.principal.role, Role::Officer);
    assert_eq!(signed_in.principal.units[0].to_string(), KZ_UNIT);
    assert_eq!(signed_in.language, "ru");
    let kinds: Vec<_> = account_events(&node).iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [AccountEventKind::Added, AccountEventKind::SignedIn]);
    let users = node.accounts.list().await;
    assert!(users[0].last_sign_in_at.is_some());
}

#[tokio::test]
async fn bad_accounts_are_refused_naming_every_field_and_names_are_never_reused() {
    let fed = TestFederation::new();
    let node = fed.open(&fed.kz);
    let mut bad = request("A Seitova", "integrator", "UZ-TASHKENT-PCU");
    bad.display_name = String::new();
    bad.language = "fr".into();
    bad.password = "password".into();
    let error = node.accounts.add(&admin(), bad).await.expect_err("refused");
    assert_eq!(
        fields(error),
        ["name", "display_name", "role", "language", "password"]
    );
    let mut wrong_unit = request("a.seitova", "officer", "UZ-TASHKENT-PCU");
    wrong_unit.password = "a".repeat(20);
    assert_eq!(
        fields(
            node.accounts
                .add(&admin(), wrong_unit)
                .await
                .expect_err("refused")
        ),
        ["unit", "password"]
    );
    let focal_with_unit = request("focal", "focal-point", KZ_UNIT);
    assert_eq!(
        fields(
            node.accounts
                .add(&admin(), focal_with_unit)
                .await
                .expect_err("refused")
        ),
        ["unit"]
    );
    assert!(
        account_events(&node).is_empty(),
        "a refusal changes nothing"
    );
    node.accounts
        .add(&admin(), request("a.seitova", "officer", KZ_UNIT))
        .await
        .expect("added");
    let again = node
        .accounts
        .add(&admin(), request("a.seitova", "officer", KZ_UNIT))
        .await
        .expect_err("exists");
    assert!(matches!(again, ApiError::AlreadyExists(_)), "{again:?}");
}

#[tokio::test]
async fn failures_in_a_row_lock_the_account_until_the_time_passes_or_a_reset() {
    let fed = TestFederation::new();
    let node = fed.open(&fed.kz);
    node.accounts
        .add(&admin(), request("a.seitova", "officer", KZ_UNIT))
        .await
        .expect("added");
    let sign_in = |password: &'static str| {
        let node = node.clone();
        async move {
            node.accounts
                .sign_in("a.seitova", password, "", ADDRESS)
                .await
        }
    };
    for _ in 0..4 {
        assert_eq!(
            sign_in("wrong password!").await.unwrap_err(),
            SignInError::Wrong
        );
    }
    let locked = sign_in("wrong password!").await.unwrap_err();
    assert!(matches!(locked, SignInError::Locked(_)), "{locked:?}");
    // The right password does not help while locked, and is not even checked.
    assert!(matches!(
        sign_in(PASSWORD).await.unwrap_err(),
        SignInError::Locked(_)
    ));
    let users = node.accounts.list().await;
    assert!(users[0].locked_until.is_some());
    // The lock passes with time...
    fed.clock.advance(Duration::from_secs(15 * 60 + 1));
    sign_in(PASSWORD).await.expect("signed in after the lock");
    // ...or with an administrator's reset.
    for _ in 0..5 {
        let _ = sign_in("wrong password!").await;
    }
    assert!(matches!(
        sign_in(PASSWORD).await.unwrap_err(),
        SignInError::Locked(_)
    ));
    node.accounts
        .reset_password(&admin(), "a.seitova", "another long password".into())
        .await
        .expect("reset");
    node.accounts
        .sign_in("a.seitova", "another long password", "", ADDRESS)
        .await
        .expect("signed in after the reset");
    let kinds: Vec<_> = account_events(&node).iter().map(|e| e.kind()).collect();
    let count = |kind| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count(AccountEventKind::SignInFailed), 10);
    assert_eq!(count(AccountEventKind::Locked), 2);
    assert_eq!(count(AccountEventKind::PasswordReset), 1);
}

#[tokio::test]
async fn a_focal_point_needs_a_totp_code_and_each_code_works_once() {
    let fed = TestFederation::new();
    let node = fed.open(&fed.kz);
    let added = node
        .accounts
        .add(&admin(), request("focal", "focal-point", ""))
        .await
        .expect("added");
    let enrolment = added.totp.expect("a secret for the authenticator");
    assert!(
        enrolment
            .uri
            .starts_with("otpauth://totp/Tulpar%20KZ:focal?secret=")
    );
    let secret = TotpSecret::from_base32(&enrolment.secret).expect("base32");
    let now = super::unix(fed.clock.now());
    let code = format!("{:06}", secret.code(now / 30));
    let sign_in = |code: String| {
        let node = node.clone();
        async move {
            node.accounts
                .sign_in("focal", PASSWORD, &code, ADDRESS)
                .await
        }
    };
    assert_eq!(
        sign_in(String::new()).await.unwrap_err(),
        SignInError::CodeNeeded
    );
    assert_eq!(
        sign_in("000000".into()).await.unwrap_err(),
        SignInError::Wrong
    );
    let signed_in = sign_in(code.clone()).await.expect("signed in");
    assert_eq!(signed_in.principal.role, Role::FocalPoint);
    assert_eq!(
        sign_in(code).await.unwrap_err(),
        SignInError::Wrong,
        "replayed"
    );
    // A new secret replaces the old one.
    let reset = node
        .accounts
        .reset_totp(&admin(), "focal")
        .await
        .expect("reset");
    assert_ne!(reset.totp.expect("new secret").secret, enrolment.secret);
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_no_secret_reaches_the_ledger() {
    let fed = TestFederation::new();
    let node = fed.open(&fed.kz);
    let added = node
        .accounts
        .add(&admin(), request("focal", "focal-point", ""))
        .await
        .expect("added");
    node.accounts
        .disable(&admin(), "focal")
        .await
        .expect("disabled");
    assert!(node.accounts.principal("focal").await.is_none());
    let refused = node
        .accounts
        .sign_in("focal", PASSWORD, "123456", ADDRESS)
        .await
        .unwrap_err();
    assert_eq!(refused, SignInError::Wrong);
    assert_eq!(
        node.accounts
            .sign_in("nobody", PASSWORD, "", ADDRESS)
            .await
            .unwrap_err(),
        SignInError::Wrong
    );
    let size = node.context.ledger_size();
    let stored =
        std::fs::read_to_string(fed.kz.config.data_dir.join("accounts.json")).expect("the store");
    let hash = stored
        .split('"')
        .find(|part| part.starts_with("$argon2id$"))
        .expect("an Argon2id hash")
        .to_owned();
    let secret = added.totp.expect("secret").secret;
    for (_, entry) in node.context.entries(0, size).expect("entries") {
        let bytes = prost::Message::encode_to_vec(&entry);
        for needle in [PASSWORD, hash.as_str(), secret.as_str()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "a secret in the ledger"
            );
        }
    }
}
