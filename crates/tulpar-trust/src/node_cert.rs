//! The node's TLS certificate: which names it carries, and issuing and installing it from the
//! country's TLS CA.
//!
//! A node certificate must name every address the node is dialled at — the federation endpoints
//! partners dial, the client API officers and customs systems dial, and any other name people type —
//! or TLS clients refuse it (`certificate not valid for name ...`). `tulpar init` issues the first one;
//! `tulpar cert renew` a new one, before expiry or for new names, through [`node_hosts`] and
//! [`install_node_certificate`] too.

use std::path::Path;
use std::time::SystemTime;

use crate::ceremony::endpoint_host;
use crate::files::write_atomically;
use crate::tls::{IssuedCert, NODE_VALIDITY, TlsCa, TlsError};

/// The host names and IP addresses a node certificate must carry: the host of each `HOST:PORT`
/// address in `addresses` (federation endpoints, client API), then each of `hosts`, each once, in
/// that order.
pub fn node_hosts(addresses: &[String], hosts: &[String]) -> Result<Vec<String>, TlsError> {
    let mut names: Vec<String> = Vec::new();
    for address in addresses {
        let host = endpoint_host(address).ok_or_else(|| {
            TlsError::Certificate(format!("address {address:?} is not HOST:PORT"))
        })?;
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    for host in hosts {
        let host = host.trim();
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(TlsError::Certificate(format!(
                "host {host:?}: give a host name or an IP address, without a port"
            )));
        }
        if !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    Ok(names)
}

/// A node certificate of the CA's country for `hosts`, valid from `now` for [`NODE_VALIDITY`].
pub fn issue_node_certificate(
    ca: &TlsCa,
    hosts: &[String],
    now: SystemTime,
) -> Result<IssuedCert, TlsError> {
    if hosts.is_empty() {
        return Err(TlsError::Certificate(
            "a node certificate names at least one host name or IP address".into(),
        ));
    }
    ca.issue_node(hosts, now, now + NODE_VALIDITY)
}

/// Replaces the node's certificate and key files with `issued`: the key (mode 0600) first, then the
/// certificate, each written to a temporary file, synced and renamed over the old one, so neither
/// file is ever seen half-written. The node reads both when it starts.
pub fn install_node_certificate(
    certificate: &Path,
    private_key: &Path,
    issued: &IssuedCert,
) -> Result<(), TlsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    write_atomically(private_key, issued.key_pem.as_bytes(), 0o600).map_err(io(private_key))?;
    write_atomically(certificate, issued.pem.as_bytes(), 0o644).map_err(io(certificate))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tulpar_core::codes::CountryCode;

    use super::*;
    use crate::tls::{CA_VALIDITY, cert_from_pem, host_names};

    #[test]
    fn every_address_and_host_is_named_once() {
        let hosts = node_hosts(
            &["kz-node.example:7443".into(), "10.1.0.5:7400".into()],
            &["10.1.0.5".into(), "tulpar.customs.kz".into()],
        )
        .unwrap();
        assert_eq!(hosts, ["kz-node.example", "10.1.0.5", "tulpar.customs.kz"]);
        assert!(node_hosts(&["no-port".into()], &[]).is_err());
        assert!(node_hosts(&[], &["10.1.0.5:7400/x".into()]).is_err());
    }

    #[test]
    fn an_installed_certificate_names_the_hosts_it_was_issued_for() {
        let now = SystemTime::now();
        let ca = TlsCa::generate(CountryCode::parse("KZ").unwrap(), now, CA_VALIDITY).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("node.crt"), dir.path().join("node.key"));
        for hosts in [
            vec!["127.0.0.2".to_owned()],
            vec!["kz-node.example".into(), "::1".into()],
        ] {
            let issued = issue_node_certificate(&ca, &hosts, now).unwrap();
            install_node_certificate(&cert, &key, &issued).unwrap();
            let pem = std::fs::read_to_string(&cert).unwrap();
            assert_eq!(host_names(&cert_from_pem(&pem).unwrap()).unwrap(), hosts);
            assert_eq!(std::fs::read_to_string(&key).unwrap(), issued.key_pem);
        }
        let expires = crate::tls::not_after(
            &cert_from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap(),
        )
        .unwrap();
        assert!(expires > now + NODE_VALIDITY - Duration::from_secs(5));
        assert!(issue_node_certificate(&ca, &[], now).is_err());
    }
}
