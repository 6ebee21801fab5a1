//! The verifier core without sockets: certificates from the key ceremony (and a few made by hand with
//! rcgen) judged against directories held in memory.

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
};
use tulpar_core::codes::UnitId;
use tulpar_core::keys::SigningKey;

use super::*;
use crate::ceremony::{CountryPlan, NewCountry, create_country};
use crate::directory::verify_directory;
use crate::draft::{DEFAULT_VALIDITY, DirectoryDraft};
use crate::tls::{NODE_VALIDITY, peer_country, provider};

const MINUTE: Duration = Duration::from_secs(60);

/// Partners held in memory: exactly the directories given.
#[derive(Debug, Default)]
struct Held(BTreeMap<CountryCode, Arc<VerifiedDirectory>>);

impl Held {
    fn with(mut self, directory: VerifiedDirectory) -> Self {
        self.0.insert(directory.country(), Arc::new(directory));
        self
    }
}

impl Partners for Held {
    fn partner_directory(&self, country: CountryCode) -> Result<Arc<VerifiedDirectory>, PeerError> {
        self.0
            .get(&country)
            .cloned()
            .ok_or(PeerError::UnknownCountry(country))
    }
}

fn code(text: &str) -> CountryCode {
    CountryCode::parse(text).expect("a country code")
}

/// A country from the key ceremony, its node reachable as 127.0.0.1 and localhost.
fn country(text: &str) -> NewCountry {
    create_country(&CountryPlan {
        country: code(text),
        units: vec![UnitId::parse(&format!("{text}-PORT-PCU")).expect("a unit id")],
        endpoint: "127.0.0.1:7443".into(),
        extra_hosts: vec!["localhost".into()],
        now: SystemTime::now(),
    })
    .expect("a ceremony")
}

fn directory_of(made: &NewCountry) -> VerifiedDirectory {
    let country = made.tls_ca.country();
    verify_directory(&made.directory, &made.root.public_key(), country).expect("its directory")
}

fn core(partners: Held) -> PeerVerifier {
    PeerVerifier::new(Arc::new(partners), provider())
}

fn now() -> UnixTime {
    unix_time(SystemTime::now())
}

fn as_server(
    core: &PeerVerifier,
    cert: &CertificateDer<'_>,
    host: &str,
    dialled: CountryCode,
) -> Result<CountryCode, PeerError> {
    let name = ServerName::try_from(host.to_owned()).expect("a server name");
    let usage = Usage::Server {
        name: &name,
        ocsp: &[],
    };
    core.verify(cert, &[], usage, Some(dialled), now())
}

fn as_client(core: &PeerVerifier, cert: &CertificateDer<'_>) -> Result<CountryCode, PeerError> {
    core.verify(cert, &[], Usage::Client, None, now())
}

/// The certificate error rustls reported for a chain, as text.
fn chain_error(result: Result<CountryCode, PeerError>) -> String {
    match result {
        Err(PeerError::Chain { source, .. }) => format!("{source:?}"),
        other => panic!("expected a chain error, got {other:?}"),
    }
}

#[test]
fn a_node_certificate_of_a_pinned_ca_is_accepted_on_both_sides() {
    let kz = country("KZ");
    let core = core(Held::default().with(directory_of(&kz)));
    let cert = &kz.node_cert.der;
    assert_eq!(as_client(&core, cert).expect("accepted"), code("KZ"));
    for host in ["127.0.0.1", "localhost"] {
        assert_eq!(
            as_server(&core, cert, host, code("KZ")).expect("accepted"),
            code("KZ")
        );
    }
}

#[test]
fn a_certificate_of_an_unknown_ca_is_refused() {
    let kz = country("KZ");
    // Another CA naming itself KZ: the certificate names KZ but KZ's directory does not hold its CA.
    let impostor = country("KZ");
    let core = core(Held::default().with(directory_of(&kz)));
    let cert = &impostor.node_cert.der;
    // Its CA has the real one's name, so the signature is what fails.
    let error = chain_error(as_client(&core, cert));
    assert!(error.contains("BadSignature"), "{error}");
    let error = chain_error(as_server(&core, cert, "localhost", code("KZ")));
    assert!(error.contains("BadSignature"), "{error}");
    // A country that is not a partner at all.
    let uz = country("UZ");
    assert!(matches!(
        as_client(&core, &uz.node_cert.der),
        Err(PeerError::UnknownCountry(c)) if c == code("UZ")
    ));
}

#[test]
fn a_wrong_name_is_refused() {
    let kz = country("KZ");
    let uz = country("UZ");
    let core = core(
        Held::default()
            .with(directory_of(&kz))
            .with(directory_of(&uz)),
    );
    let cert = &kz.node_cert.der;
    // Dialled as a host the certificate is not for.
    let error = chain_error(as_server(&core, cert, "kz.elsewhere.example", code("KZ")));
    assert!(error.contains("NotValidForName"), "{error}");
    // Dialled UZ, answered by KZ: refused before any chain is looked at.
    assert!(matches!(
        as_server(&core, cert, "localhost", code("UZ")),
        Err(PeerError::WrongCountry { expected, claimed })
            if expected == code("UZ") && claimed == code("KZ")
    ));
    // A client certificate names no country.
    let officer = kz
        .tls_ca
        .issue_client(
            crate::tls::Role::Officer,
            "KZ-PORT-PCU",
            SystemTime::now(),
            SystemTime::now() + MINUTE,
        )
        .expect("an officer's certificate");
    assert!(matches!(
        as_client(&core, &officer.der),
        Err(PeerError::NoCountry)
    ));
}

#[test]
fn a_revoked_node_key_is_refused() {
    let kz = country("KZ");
    let cert = &kz.node_cert.der;
    let now = SystemTime::now();
    let mut draft = DirectoryDraft::from_verified(&directory_of(&kz));
    draft
        .revoke(
            KeyId::from_digest(spki_sha256(cert).expect("an SPKI")),
            now - MINUTE,
            "copied from a decommissioned server",
        )
        .expect("a revocation");
    let signed = draft.sign(&kz.root, now, DEFAULT_VALIDITY).expect("signed");
    let revoked = verify_directory(&signed, &kz.root.public_key(), code("KZ")).expect("verified");
    let core = core(Held::default().with(revoked));
    assert!(matches!(
        as_client(&core, cert),
        Err(PeerError::Revoked { .. })
    ));
}

fn named(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    name
}

/// A CA that may sign intermediates, an intermediate under it and a KZ node certificate under that,
/// with KZ's directory naming the CA.
fn kz_behind_an_intermediate() -> (
    VerifiedDirectory,
    CertificateDer<'static>,
    CertificateDer<'static>,
) {
    let now = SystemTime::now();
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name = named("KZ root CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("the CA");
    let ca = Issuer::new(ca, ca_key);

    let mid_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut mid = CertificateParams::new(Vec::<String>::new()).expect("params");
    mid.distinguished_name = named("KZ issuing CA");
    mid.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let mid_cert = mid.signed_by(&mid_key, &ca).expect("the intermediate");
    let mid = Issuer::new(mid, mid_key);

    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    leaf.subject_alt_names.push(SanType::URI(
        format!("{COUNTRY_URI_PREFIX}KZ").try_into().expect("a URI"),
    ));
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf.not_after = (now + NODE_VALIDITY).into();
    let leaf_cert = leaf
        .signed_by(&leaf_key, &mid)
        .expect("the node certificate");

    let root = SigningKey::generate().expect("a root key");
    let ledger = SigningKey::generate().expect("a ledger key");
    let signed = DirectoryDraft::new(
        code("KZ"),
        &root.public_key(),
        ca_cert.der(),
        &ledger.public_key(),
        vec!["localhost:7443".into()],
        now,
    )
    .sign(&root, now, DEFAULT_VALIDITY)
    .expect("signed");
    let directory = verify_directory(&signed, &root.public_key(), code("KZ")).expect("verified");
    (directory, leaf_cert.der().clone(), mid_cert.der().clone())
}

#[test]
fn intermediates_sent_with_a_certificate_are_followed() {
    let (directory, leaf, intermediate) = kz_behind_an_intermediate();
    let held = Held::default().with(directory);
    let now = SystemTime::now();
    assert_eq!(
        peer_country(&held, &[leaf.clone(), intermediate], now).expect("accepted"),
        code("KZ")
    );
    // Without its intermediate the same certificate chains to nothing held.
    let error = chain_error(peer_country(&held, &[leaf], now));
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(matches!(
        peer_country(&held, &[], now),
        Err(PeerError::Malformed(_))
    ));
}
