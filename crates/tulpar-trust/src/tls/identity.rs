//! The node's own TLS certificate and key, replaceable while the node runs.
//!
//! Every TLS configuration of a node (federation server, client API server, calls to partners) asks
//! one shared resolver for the certificate at each handshake, so a renewed certificate is used by the
//! next handshake without a restart; connections already open keep the one they began with. A
//! replacement is checked before it is taken (same country, key matching the certificate, valid now,
//! issued by the national CA when one is given): a bad file is refused and the previous certificate
//! stays in use.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tulpar_core::codes::CountryCode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::certs::{COUNTRY_URI_PREFIX, san_uris};
use super::verify::unix_time;
use super::{TlsError, provider};

/// What a node certificate says of itself, for logs, metrics and the renewal command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The serial number, lowercase hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// The DNS names and IP addresses it is valid for, in certificate order.
    pub hosts: Vec<String>,
}

impl CertificateSummary {
    /// Reads `cert`.
    pub fn of(cert: &CertificateDer<'_>) -> Result<Self, TlsError> {
        let (_, x509) = X509Certificate::from_der(cert)
            .map_err(|e| TlsError::Certificate(format!("not an X.509 certificate: {e}")))?;
        let time = |t: x509_parser::time::ASN1Time| {
            let seconds = u64::try_from(t.timestamp()).map_err(|_| {
                TlsError::Certificate(format!("validity {} is before 1970", t.timestamp()))
            })?;
            Ok::<_, TlsError>(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        };
        let hosts = x509
            .subject_alternative_name()
            .map_err(|e| TlsError::Certificate(format!("bad subject alternative names: {e}")))?
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        x509_parser::prelude::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                        x509_parser::prelude::GeneralName::IPAddress(bytes) => ip_text(bytes),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            serial: hex::encode(x509.raw_serial()),
            not_before: time(x509.validity().not_before)?,
            not_after: time(x509.validity().not_after)?,
            hosts,
        })
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// A node's TLS certificate chain and private key. Cloning shares it: every configuration made from
/// any clone presents the certificate last loaded.
#[derive(Clone)]
pub struct NodeIdentity {
    country: CountryCode,
    current: Arc<Current>,
    files: Option<Arc<Files>>,
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("country", &self.country)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// The certificate handshakes present now.
struct Current(RwLock<Arc<CertifiedKey>>);

impl Current {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current")
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

impl ResolvesClientCert for Current {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Where the certificate and key come from, and what of them was last looked at.
#[derive(Debug)]
struct Files {
    certificate: PathBuf,
    private_key: PathBuf,
    national_ca: Option<CertificateDer<'static>>,
    /// The files as last read, whether taken or refused: a refused pair is not re-read (nor
    /// logged again) until one of the files changes.
    seen: Mutex<Stamp>,
}

/// Enough of two files' metadata to notice a replacement (a rename gives a new inode) or an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp([(u64, u64, u64, i64, i64); 2]);

impl Stamp {
    fn of(certificate: &Path, private_key: &Path) -> Result<Self, TlsError> {
        let one = |path: &Path| {
            std::fs::metadata(path)
                .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
                .map_err(|source| TlsError::Io {
                    path: path.to_owned(),
                    source,
                })
        };
        Ok(Self([one(certificate)?, one(private_key)?]))
    }
}

impl NodeIdentity {
    /// The identity from PEM text: the node certificate (optionally followed by intermediates) and its
    /// PKCS#8 private key. It never changes.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let (country, key) = parse(cert_pem, key_pem)?;
        Ok(Self {
            country,
            current: Arc::new(Current(RwLock::new(Arc::new(key)))),
            files: None,
        })
    }

    /// Reads `node.crt` and `node.key` from a node folder made by `tulpar init`.
    pub fn load(node_dir: &Path) -> Result<Self, TlsError> {
        Self::open(&node_dir.join("node.crt"), &node_dir.join("node.key"), None)
    }

    /// Reads the certificate and key files, remembering them for [`Self::reload_if_changed`]. A
    /// replacement must chain to `national_ca`, when given.
    pub fn open(
        certificate: &Path,
        private_key: &Path,
        national_ca: Option<CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let stamp = Stamp::of(certificate, private_key)?;
        let (cert_pem, key_pem) = read_pair(certificate, private_key)?;
        let (country, key) =
            parse(&cert_pem, &key_pem).map_err(|e| in_file(certificate, private_key, e))?;
        Ok(Self {
            country,
            current: Arc::new(Current(RwLock::new(Arc::new(key)))),
            files: Some(Arc::new(Files {
                certificate: certificate.to_owned(),
                private_key: private_key.to_owned(),
                national_ca,
                seen: Mutex::new(stamp),
            })),
        })
    }

    /// The country the certificate names.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The certificate chain presented now, node certificate first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current.get().cert.clone()
    }

    /// The certificate presented now.
    pub fn summary(&self) -> Result<CertificateSummary, TlsError> {
        let key = self.current.get();
        CertificateSummary::of(key.end_entity_cert()?)
    }

    /// Reads the files again if either changed since last read, and takes them if they pass the
    /// checks (at `now`). `Ok(None)`: nothing changed (or no files). An error names the file and the
    /// rule; the previous certificate stays in use, and the same files are not tried again.
    pub fn reload_if_changed(
        &self,
        now: SystemTime,
    ) -> Result<Option<CertificateSummary>, TlsError> {
        let Some(files) = &self.files else {
            return Ok(None);
        };
        let stamp = Stamp::of(&files.certificate, &files.private_key)?;
        {
            let mut seen = files.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == stamp {
                return Ok(None);
            }
            *seen = stamp;
        }
        self.take(files, now).map(Some)
    }

    /// Reads the files again now, changed or not (on SIGHUP), with the checks of
    /// [`Self::reload_if_changed`]. `Ok(None)` when the identity has no files.
    pub fn reload(&self, now: SystemTime) -> Result<Option<CertificateSummary>, TlsError> {
        let Some(files) = &self.files else {
            return Ok(None);
        };
        if let Ok(stamp) = Stamp::of(&files.certificate, &files.private_key) {
            *files.seen.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        }
        self.take(files, now).map(Some)
    }

    fn take(&self, files: &Files, now: SystemTime) -> Result<CertificateSummary, TlsError> {
        // The same rule as at start: a key others can read is refused.
        crate::keyfile::check_private_permissions(&files.private_key)
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        let (cert_pem, key_pem) = read_pair(&files.certificate, &files.private_key)?;
        let in_file = |e| in_file(&files.certificate, &files.private_key, e);
        let (country, key) = parse(&cert_pem, &key_pem).map_err(in_file)?;
        if country != self.country {
            return Err(in_file(TlsError::Certificate(format!(
                "names {country}, but this node is {}",
                self.country
            ))));
        }
        let leaf = key.end_entity_cert().map_err(TlsError::from)?.clone();
        let summary = CertificateSummary::of(&leaf).map_err(in_file)?;
        if summary.not_before > now || summary.not_after <= now {
            return Err(in_file(TlsError::Certificate(format!(
                "not valid now (valid from {} to {})",
                crate::directory::fmt_time(summary.not_before),
                crate::directory::fmt_time(summary.not_after)
            ))));
        }
        if let Some(ca) = &files.national_ca {
            check_issued_by(ca, &key.cert, now).map_err(in_file)?;
        }
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(summary)
    }

    pub(super) fn server_resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.current.clone()
    }

    pub(super) fn client_resolver(&self) -> Arc<dyn ResolvesClientCert> {
        self.current.clone()
    }
}

/// Whether the node certificate `chain` (leaf first) was issued by `ca` and is valid at `now` for a
/// TLS client, as partners check it.
pub fn check_issued_by(
    ca: &CertificateDer<'static>,
    chain: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<(), TlsError> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| TlsError::Pem("no certificate".into()))?;
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Certificate(format!("national CA: {e}")))?;
    verifier
        .verify_client_cert(leaf, intermediates, unix_time(now))
        .map_err(|e| TlsError::Certificate(format!("not issued by the national TLS CA: {e}")))?;
    Ok(())
}

fn read_pair(certificate: &Path, private_key: &Path) -> Result<(String, String), TlsError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })
    };
    Ok((read(certificate)?, read(private_key)?))
}

fn in_file(certificate: &Path, private_key: &Path, error: TlsError) -> TlsError {
    TlsError::Certificate(format!(
        "{} with {}: {error}",
        certificate.display(),
        private_key.display()
    ))
}

/// The country named by the certificate in `cert_pem`, and the certificate with its key, checked to
/// match.
fn parse(cert_pem: &str, key_pem: &str) -> Result<(CountryCode, CertifiedKey), TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(format!("node certificate: {e}")))?;
    let first = chain
        .first()
        .ok_or_else(|| TlsError::Pem("no certificate in the node certificate file".into()))?;
    let uris = san_uris(first).map_err(TlsError::Certificate)?;
    let countries: Vec<_> = uris
        .iter()
        .filter_map(|u| u.strip_prefix(COUNTRY_URI_PREFIX))
        .collect();
    let [country] = countries[..] else {
        return Err(TlsError::Certificate(format!(
            "a node certificate names exactly one {COUNTRY_URI_PREFIX}<CC> URI"
        )));
    };
    let country = CountryCode::parse(country).map_err(|e| TlsError::Certificate(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(format!("node key: {e}")))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Certificate(
            "the private key is not the key of the certificate (rule key-match)".into(),
        ),
        other => TlsError::Rustls(other),
    })?;
    Ok((country, certified))
}

#[cfg(test)]
mod tests;
