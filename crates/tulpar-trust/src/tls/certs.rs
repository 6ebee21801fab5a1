//! X.509 certificates for Tulpar's TLS: a country's CA, node certificates and API client certificates,
//! all ECDSA P-256, made with rcgen.
//!
//! Identity lives in a URI subject alternative name: `tulpar://country/<CC>` for a national node,
//! `tulpar://role/<role>/<unit-or-country>` for a user of the national API. Host names and IP addresses
//! of a node go in DNS/IP names as usual, so stock TLS tools can connect too.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tulpar_core::codes::{CountryCode, UnitId};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::TlsError;

/// Prefix of the SAN URI naming a node's country.
pub const COUNTRY_URI_PREFIX: &str = "tulpar://country/";
/// Prefix of the SAN URI naming an API user's role and subject.
pub const ROLE_URI_PREFIX: &str = "tulpar://role/";

/// Default lifetime of a country TLS CA.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Default lifetime of a node certificate.
pub const NODE_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Default lifetime of an API client certificate.
pub const CLIENT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The role of a user of the national API, carried in the client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// An officer of one unit.
    Officer,
    /// The national focal point: audits the whole country.
    FocalPoint,
    /// A customs system acting for named units.
    Integrator,
    /// A node administrator.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Self::Officer,
        Self::FocalPoint,
        Self::Integrator,
        Self::Admin,
    ];

    /// The name used in certificates and on the command line, e.g. `"focal-point"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::FocalPoint => "focal-point",
            Self::Integrator => "integrator",
            Self::Admin => "admin",
        }
    }

    /// The role named `s`, if any.
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly issued certificate and its private key.
pub struct IssuedCert {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// The certificate (PEM).
    pub pem: String,
    /// The private key, PKCS#8 PEM. Secret: store it with mode 0600.
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert").finish_non_exhaustive()
    }
}

/// A country's TLS certificate authority, able to issue node and client certificates.
pub struct TlsCa {
    country: CountryCode,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TlsCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCa")
            .field("country", &self.country)
            .finish_non_exhaustive()
    }
}

impl TlsCa {
    /// A new CA for `country`, valid from `now` for `validity`.
    pub fn generate(
        country: CountryCode,
        now: SystemTime,
        validity: Duration,
    ) -> Result<Self, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = base_params(now, now + validity)?;
        params.distinguished_name = name(country, &format!("Tulpar {country} federation TLS CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            country,
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA from its certificate and private key (both PEM).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| TlsError::Pem(format!("CA certificate: {e}")))?;
        let (_, x509) = X509Certificate::from_der(&der)
            .map_err(|e| TlsError::Certificate(format!("CA certificate: {e}")))?;
        let country = x509
            .subject()
            .iter_country()
            .next()
            .and_then(|c| c.as_str().ok())
            .and_then(|c| CountryCode::parse(c).ok())
            .ok_or_else(|| TlsError::Certificate("the CA names no country (C=)".into()))?;
        let key = KeyPair::from_pem(key_pem)?;
        // A key of another CA would issue certificates that nobody can verify.
        if rcgen::PublicKeyData::subject_public_key_info(&key) != x509.public_key().raw {
            return Err(TlsError::Certificate(format!(
                "the CA private key is not the key of the {country} TLS CA certificate \
                 (rule key-match)"
            )));
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)?;
        Ok(Self {
            country,
            der,
            issuer,
        })
    }

    /// The country the CA speaks for.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The CA certificate (DER).
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// The CA certificate (PEM).
    pub fn certificate_pem(&self) -> String {
        pem_cert(&self.der)
    }

    /// The CA private key, PKCS#8 PEM. Secret: it belongs offline.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A node certificate for this country, for `hosts` (DNS names or IP addresses), usable as both
    /// TLS server and client.
    pub fn issue_node(
        &self,
        hosts: &[String],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, TlsError> {
        let mut params = base_params(not_before, not_after)?;
        params.distinguished_name = name(self.country, &format!("Tulpar {} node", self.country));
        params.subject_alt_names = vec![uri(&format!("{COUNTRY_URI_PREFIX}{}", self.country))?];
        for host in hosts {
            params.subject_alt_names.push(match host.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(
                    Ia5String::try_from(host.as_str())
                        .map_err(|e| TlsError::Certificate(format!("host {host:?}: {e}")))?,
                ),
            });
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.issue(params)
    }

    /// A client certificate for the national API: `role` acting as `subject` (a unit id for an
    /// officer, a unit id or the country for an integrator, the country for a focal point or admin).
    pub fn issue_client(
        &self,
        role: Role,
        subject: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<IssuedCert, TlsError> {
        self.check_subject(role, subject)?;
        let mut params = base_params(not_before, not_after)?;
        params.distinguished_name = name(self.country, &format!("{subject} {role}"));
        params.subject_alt_names = vec![uri(&format!("{ROLE_URI_PREFIX}{role}/{subject}"))?];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn check_subject(&self, role: Role, subject: &str) -> Result<(), TlsError> {
        let unit = UnitId::parse(subject).ok();
        let is_own_unit = unit.is_some_and(|u| u.country() == self.country);
        let is_own_country = subject == self.country.as_str();
        let ok = match role {
            Role::Officer => is_own_unit,
            Role::Integrator => is_own_unit || is_own_country,
            Role::FocalPoint | Role::Admin => is_own_country,
        };
        if ok {
            return Ok(());
        }
        let wanted = match role {
            Role::Officer => format!("a unit id of {}", self.country),
            Role::Integrator => format!("a unit id of {0} or {0}", self.country),
            Role::FocalPoint | Role::Admin => format!("the country code {}", self.country),
        };
        Err(TlsError::Certificate(format!(
            "subject {subject:?} for role {role}: must be {wanted}"
        )))
    }

    fn issue(&self, mut params: CertificateParams) -> Result<IssuedCert, TlsError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The certificate `der` as PEM.
pub fn pem_cert(der: &CertificateDer<'_>) -> String {
    tulpar_core::pem::encode("CERTIFICATE", der)
}

/// The first certificate in PEM text.
pub fn cert_from_pem(text: &str) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_slice(text.as_bytes()).map_err(|e| TlsError::Pem(e.to_string()))
}

/// The lowercase hex SHA-256 of a certificate's SubjectPublicKeyInfo: how a TLS key is named in a
/// directory's revocations.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> Result<[u8; 32], TlsError> {
    let (_, x509) = X509Certificate::from_der(cert)
        .map_err(|e| TlsError::Certificate(format!("not an X.509 certificate: {e}")))?;
    Ok(sha256(x509.public_key().raw))
}

/// When `cert` stops being valid (its notAfter).
pub fn not_after(cert: &CertificateDer<'_>) -> Result<SystemTime, TlsError> {
    let (_, x509) = X509Certificate::from_der(cert)
        .map_err(|e| TlsError::Certificate(format!("not an X.509 certificate: {e}")))?;
    let seconds = x509.validity().not_after.timestamp();
    let seconds = u64::try_from(seconds)
        .map_err(|_| TlsError::Certificate(format!("notAfter {seconds} is before 1970")))?;
    Ok(std::time::UNIX_EPOCH + Duration::from_secs(seconds))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The host names and IP addresses a certificate is valid for (its DNS and IP subject alternative
/// names), in the certificate's order.
pub fn host_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, TlsError> {
    let (_, x509) = X509Certificate::from_der(cert)
        .map_err(|e| TlsError::Certificate(format!("not an X.509 certificate: {e}")))?;
    let san = x509
        .subject_alternative_name()
        .map_err(|e| TlsError::Certificate(format!("bad subject alternative names: {e}")))?;
    let Some(san) = san else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(name) => Some((*name).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv4Addr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

/// The URI subject alternative names of `cert`.
pub(crate) fn san_uris(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, x509) =
        X509Certificate::from_der(cert).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let san = x509
        .subject_alternative_name()
        .map_err(|e| format!("bad subject alternative names: {e}"))?;
    Ok(san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some((*u).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

fn base_params(
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| TlsError::Certificate("the system random generator failed".into()))?;
    // A positive integer of at most 20 bytes, as RFC 5280 asks.
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

fn name(country: CountryCode, common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country.as_str());
    dn.push(DnType::OrganizationName, format!("Tulpar {country}"));
    dn.push(DnType::CommonName, common_name);
    dn
}

fn uri(text: &str) -> Result<SanType, TlsError> {
    Ia5String::try_from(text)
        .map(SanType::URI)
        .map_err(|e| TlsError::Certificate(format!("{text:?}: {e}")))
}
