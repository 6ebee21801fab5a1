use std::time::Duration;

use super::*;
use crate::files::write_atomically;
use crate::tls::{NODE_VALIDITY, TlsCa};

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Setup {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: TlsCa,
    identity: NodeIdentity,
    now: SystemTime,
}

fn kz() -> CountryCode {
    CountryCode::parse("KZ").unwrap()
}

fn setup() -> Setup {
    let now = SystemTime::now();
    let ca = TlsCa::generate(kz(), now - DAY, 10 * NODE_VALIDITY).unwrap();
    let issued = ca
        .issue_node(&["kz.example".into()], now - DAY, now + NODE_VALIDITY)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("node.crt"), dir.path().join("node.key"));
    write_atomically(&cert, issued.pem.as_bytes(), 0o644).unwrap();
    write_atomically(&key, issued.key_pem.as_bytes(), 0o600).unwrap();
    let identity = NodeIdentity::open(&cert, &key, Some(ca.certificate().clone())).unwrap();
    Setup {
        _dir: dir,
        cert,
        key,
        ca,
        identity,
        now,
    }
}

fn write(path: &Path, text: &str) {
    write_atomically(path, text.as_bytes(), 0o600).unwrap();
}

#[test]
fn a_renewed_pair_is_taken_once_and_every_clone_presents_it() {
    let s = setup();
    let before = s.identity.summary().unwrap();
    assert_eq!(before.hosts, ["kz.example"]);
    let clone = s.identity.clone();
    assert_eq!(s.identity.reload_if_changed(s.now).unwrap(), None);

    let renewed =
        s.ca.issue_node(&["kz.example".into()], s.now, s.now + 30 * DAY)
            .unwrap();
    write(&s.key, &renewed.key_pem);
    write(&s.cert, &renewed.pem);
    let taken = s.identity.reload_if_changed(s.now).unwrap().unwrap();
    assert_ne!(taken.serial, before.serial);
    assert_eq!(clone.summary().unwrap(), taken);
    assert_eq!(clone.chain()[0], renewed.der);
    assert_eq!(s.identity.reload_if_changed(s.now).unwrap(), None);
}

#[test]
fn a_bad_replacement_is_refused_once_and_the_old_certificate_stays() {
    let s = setup();
    let before = s.identity.summary().unwrap();

    // A key of another certificate.
    let other =
        s.ca.issue_node(&["kz.example".into()], s.now, s.now + DAY)
            .unwrap();
    write(&s.key, &other.key_pem);
    let error = s.identity.reload_if_changed(s.now).unwrap_err().to_string();
    assert!(error.contains("rule key-match"), "{error}");
    assert!(error.contains("node.crt"), "{error}");
    assert_eq!(s.identity.summary().unwrap(), before);
    // Not tried (nor reported) again until a file changes.
    assert_eq!(s.identity.reload_if_changed(s.now).unwrap(), None);

    // A certificate from another CA of the same country.
    let stranger = TlsCa::generate(kz(), s.now - DAY, NODE_VALIDITY).unwrap();
    let forged = stranger
        .issue_node(&["kz.example".into()], s.now, s.now + DAY)
        .unwrap();
    write(&s.key, &forged.key_pem);
    write(&s.cert, &forged.pem);
    let error = s.identity.reload_if_changed(s.now).unwrap_err().to_string();
    assert!(
        error.contains("not issued by the national TLS CA"),
        "{error}"
    );

    // Another country's certificate.
    let uz = TlsCa::generate(CountryCode::parse("UZ").unwrap(), s.now, NODE_VALIDITY).unwrap();
    let uz_cert = uz
        .issue_node(&["uz.example".into()], s.now, s.now + DAY)
        .unwrap();
    write(&s.key, &uz_cert.key_pem);
    write(&s.cert, &uz_cert.pem);
    let error = s.identity.reload(s.now).unwrap_err().to_string();
    assert!(error.contains("names UZ, but this node is KZ"), "{error}");

    // Not valid yet.
    let later =
        s.ca.issue_node(&["kz.example".into()], s.now + DAY, s.now + 2 * DAY)
            .unwrap();
    write(&s.key, &later.key_pem);
    write(&s.cert, &later.pem);
    let error = s.identity.reload(s.now).unwrap_err().to_string();
    assert!(error.contains("not valid now"), "{error}");

    // A good pair, but a key others can read.
    let open =
        s.ca.issue_node(&["kz.example".into()], s.now, s.now + DAY)
            .unwrap();
    write_atomically(&s.key, open.key_pem.as_bytes(), 0o644).unwrap();
    write(&s.cert, &open.pem);
    let error = s.identity.reload(s.now).unwrap_err().to_string();
    assert!(error.contains("node.key"), "{error}");

    // Not PEM at all.
    write(&s.cert, "garbage");
    assert!(s.identity.reload(s.now).is_err());
    assert_eq!(s.identity.summary().unwrap(), before);
}

#[test]
fn an_identity_from_pem_has_nothing_to_reload() {
    let s = setup();
    let cert = std::fs::read_to_string(&s.cert).unwrap();
    let key = std::fs::read_to_string(&s.key).unwrap();
    let fixed = NodeIdentity::from_pem(&cert, &key).unwrap();
    assert_eq!(fixed.reload(s.now).unwrap(), None);
    assert_eq!(fixed.reload_if_changed(s.now).unwrap(), None);
}

#[test]
fn a_ca_key_of_another_ca_is_refused() {
    let now = SystemTime::now();
    let ca = TlsCa::generate(kz(), now, NODE_VALIDITY).unwrap();
    let other = TlsCa::generate(kz(), now, NODE_VALIDITY).unwrap();
    let error = TlsCa::from_pem(&ca.certificate_pem(), &other.key_pem())
        .unwrap_err()
        .to_string();
    assert!(error.contains("rule key-match"), "{error}");
    assert!(TlsCa::from_pem(&ca.certificate_pem(), &ca.key_pem()).is_ok());
}
