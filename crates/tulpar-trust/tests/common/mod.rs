//! Shared test helpers: countries made by the real key ceremony, and trust stores holding them.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::time::{Clock, ManualClock, SystemClock};
use tulpar_trust::TrustStore;
use tulpar_trust::ceremony::{CountryPlan, NewCountry, create_country};
use tulpar_trust::tls::NodeIdentity;

pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// A country made by the ceremony, with its node identity.
pub struct TestCountry {
    pub code: CountryCode,
    pub made: NewCountry,
    pub identity: NodeIdentity,
}

impl TestCountry {
    pub fn new(code: &str, units: &[&str]) -> Self {
        Self::at(code, units, SystemTime::now())
    }

    pub fn at(code: &str, units: &[&str], now: SystemTime) -> Self {
        let code = CountryCode::parse(code).unwrap();
        let plan = CountryPlan {
            country: code,
            units: units.iter().map(|u| UnitId::parse(u).unwrap()).collect(),
            endpoint: "127.0.0.1:7443".into(),
            extra_hosts: vec!["localhost".into()],
            now,
        };
        let made = create_country(&plan).unwrap();
        let identity =
            NodeIdentity::from_pem(&made.node_cert.pem, &made.node_cert.key_pem).unwrap();
        Self {
            code,
            made,
            identity,
        }
    }

    pub fn fingerprint(&self) -> String {
        self.made.root.key_id().to_string()
    }

    pub fn unit_key(&self, unit: &str) -> &tulpar_core::keys::SigningKey {
        &self
            .made
            .units
            .iter()
            .find(|(u, _)| u.as_str() == unit)
            .unwrap()
            .1
    }
}

/// A trust store in a fresh temporary folder, holding `partners` with their first directories.
pub fn store_with(partners: &[&TestCountry]) -> (tempfile::TempDir, Arc<TrustStore>) {
    store_with_clock(partners, Arc::new(SystemClock))
}

pub fn store_with_clock(
    partners: &[&TestCountry],
    clock: Arc<dyn Clock>,
) -> (tempfile::TempDir, Arc<TrustStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = TrustStore::open(dir.path(), clock).unwrap();
    for p in partners {
        store
            .add_country(
                p.code,
                p.made.root.public_key(),
                &p.fingerprint(),
                Some(&p.made.directory),
            )
            .unwrap();
    }
    (dir, Arc::new(store))
}

pub fn manual_clock(at: SystemTime) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at))
}
