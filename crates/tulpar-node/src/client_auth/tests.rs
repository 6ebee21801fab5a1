use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use prost::Message;
use tulpar_core::codes::UnitId;
use tulpar_core::limits::{AUTH_FAILURE_WINDOW, AUTH_FAILURES_ALLOWED};
use tulpar_core::time::ManualClock;
use tulpar_trust::draft::{DEFAULT_VALIDITY, DirectoryDraft};
use tulpar_trust::tls::Role;

use super::*;
use crate::state::StateError;

#[derive(Default, Clone)]
struct Revoked(Arc<Mutex<HashMap<[u8; 32], TokenRevocation>>>);

impl TokenRevocations for Revoked {
    fn token_revocation(&self, sha256: &[u8; 32]) -> Result<Option<TokenRevocation>, StateError> {
        Ok(self.0.lock().unwrap().get(sha256).cloned())
    }
}

/// A node's authentication over a real own directory in a scratch folder.
struct Setup {
    auth: ClientAuth,
    revoked: Revoked,
    clock: Arc<ManualClock>,
    directory: std::path::PathBuf,
    made: tulpar_trust::ceremony::NewCountry,
    _dir: tempfile::TempDir,
}

fn sha256(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
    out
}

fn setup() -> Setup {
    let now = SystemTime::now();
    let country = CountryCode::parse("KZ").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (made, directory) = crate::revocations::tests::own_directory_in(dir.path(), now);
    let clock = Arc::new(ManualClock::new(now));
    let revoked = Revoked::default();
    let auth = ClientAuth::new(
        country,
        vec![TokenConfig {
            name: "asycuda".into(),
            sha256: sha256("s3cret"),
            role: Role::Integrator,
            units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
        }],
        Box::new(revoked.clone()),
        OwnRevocations::load(&directory, country).unwrap(),
        clock.clone(),
    );
    Setup {
        auth,
        revoked,
        clock,
        directory,
        made,
        _dir: dir,
    }
}

fn request(authorization: Option<&str>, from: &str, certificate: ClientIdentity) -> Request<()> {
    let mut request = Request::new(());
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    let addr: SocketAddr = from.parse().unwrap();
    request
        .extensions_mut()
        .insert(Peer::new(addr, certificate));
    request
}

fn officer_certificate() -> ClientCertificate {
    ClientCertificate {
        principal: Principal {
            role: Role::Officer,
            country: CountryCode::parse("KZ").unwrap(),
            units: vec![UnitId::parse("KZ-AKTAU-PCU").unwrap()],
            name: "cert:officer/KZ-AKTAU-PCU".into(),
        },
        key_ids: [KeyId::from_digest([1; 32]), KeyId::from_digest([2; 32])],
    }
}

#[test]
fn a_configured_token_maps_to_its_role_and_units() {
    let s = setup();
    let principal = s
        .auth
        .authenticate(&request(Some("Bearer s3cret"), "192.0.2.1:1", None))
        .unwrap();
    assert_eq!(principal.role, Role::Integrator);
    assert_eq!(principal.name, "token:asycuda");
    assert_eq!(principal.units.len(), 1);
}

#[test]
fn unknown_malformed_or_missing_credentials_are_refused() {
    let s = setup();
    for header in [Some("Bearer wrong"), Some("Basic czNjcmV0"), None] {
        let error = s
            .auth
            .authenticate(&request(header, "192.0.2.1:1", None))
            .unwrap_err();
        assert!(
            matches!(error, ApiError::Unauthenticated(_)),
            "{header:?}: {error}"
        );
    }
}

#[test]
fn a_revoked_token_is_refused_at_once_and_a_caller_holding_it_fails_its_check() {
    let s = setup();
    let caller = s
        .auth
        .authenticate_caller(&request(Some("Bearer s3cret"), "192.0.2.1:1", None))
        .unwrap();
    let changes = s.auth.subscribe();
    s.revoked.0.lock().unwrap().insert(
        sha256("s3cret"),
        TokenRevocation {
            reason: "system decommissioned".into(),
            revoked_by: "cert:admin/KZ".into(),
            revoked_at: s.clock.now(),
            ledger_index: 42,
        },
    );
    s.auth.notify_changed();
    assert!(changes.has_changed().unwrap());
    let error = s.auth.check(&caller).unwrap_err().to_string();
    assert!(
        error.contains("token \"asycuda\" was revoked at")
            && error.contains("by cert:admin/KZ: system decommissioned (ledger entry 42)"),
        "{error}"
    );
    let error = s
        .auth
        .authenticate(&request(Some("Bearer s3cret"), "192.0.2.1:1", None))
        .unwrap_err();
    assert!(matches!(error, ApiError::Unauthenticated(_)), "{error}");
}

#[test]
fn a_certificate_revoked_in_the_own_directory_is_refused_on_a_connection_opened_before() {
    let s = setup();
    let certificate = officer_certificate();
    let on_connection = || request(None, "192.0.2.1:1", Some(certificate.clone()));
    let caller = s.auth.authenticate_caller(&on_connection()).unwrap();
    assert_eq!(caller.principal.name, "cert:officer/KZ-AKTAU-PCU");

    // `tulpar directory revoke-key --tls-cert` and the new directory copied to the node.
    let held = tulpar_audit::own_directory(&s.made.directory, s.auth.country).unwrap();
    let mut draft = DirectoryDraft::from_verified(&held);
    draft
        .revoke(certificate.key_ids[0], s.clock.now(), "laptop stolen")
        .unwrap();
    let next = draft
        .sign(&s.made.root, s.clock.now(), DEFAULT_VALIDITY)
        .unwrap();
    std::fs::write(&s.directory, next.encode_to_vec()).unwrap();
    // Until the next refresh the node still knows the directory it read.
    assert!(s.auth.authenticate(&on_connection()).is_ok());
    s.auth.refresh_certificate_revocations().unwrap();

    let error = s
        .auth
        .authenticate(&on_connection())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("client certificate of cert:officer/KZ-AKTAU-PCU (officer) was revoked")
            && error.contains("(version 2, key ")
            && error.ends_with("laptop stolen"),
        "{error}"
    );
    assert!(s.auth.check(&caller).is_err());
}

#[test]
fn an_address_that_fails_too_often_is_refused_without_a_look_at_its_credentials() {
    let s = setup();
    for _ in 0..AUTH_FAILURES_ALLOWED {
        let error = s
            .auth
            .authenticate(&request(Some("Bearer guess"), "192.0.2.1:1", None))
            .unwrap_err();
        assert!(matches!(error, ApiError::Unauthenticated(_)), "{error}");
    }
    // Even the right token is refused from that address now...
    let error = s
        .auth
        .authenticate(&request(Some("Bearer s3cret"), "192.0.2.1:2", None))
        .unwrap_err();
    assert!(matches!(error, ApiError::ResourceExhausted(_)), "{error}");
    // ...but not from another, and not from this one once the window is over.
    s.auth
        .authenticate(&request(Some("Bearer s3cret"), "192.0.2.2:1", None))
        .unwrap();
    s.clock
        .advance(AUTH_FAILURE_WINDOW + Duration::from_secs(1));
    s.auth
        .authenticate(&request(Some("Bearer s3cret"), "192.0.2.1:3", None))
        .unwrap();
}
