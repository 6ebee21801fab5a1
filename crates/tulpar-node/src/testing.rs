//! A federation of two countries for unit tests, without servers, sockets or processes: KZ (units
//! KZ-AKTAU-PCU and KZ-ALTYNKOL-PCU) and UZ (unit UZ-TASHKENT-PCU), made by the key ceremony `tulpar
//! init` runs, each with a trust store that pins the other, in a temporary directory. Either node's
//! [`Node`] is opened from those files as start-up opens it, on one manual clock; the keys kept here
//! sign what a partner's unit or node would send.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use tempfile::TempDir;
use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{PayloadType, sign_message};
use tulpar_core::ids::{AlertId, ResponseId};
use tulpar_core::keys::SigningKey;
use tulpar_core::proto::{self, alert_response::Kind as ResponseKind, ledger_entry::Kind};
use tulpar_core::time::{Clock, ManualClock, to_timestamp};
use tulpar_ledger::{Ledger, LedgerOptions};
use tulpar_trust::TrustStore;
use tulpar_trust::ceremony::{CountryPlan, NewCountry, create_country};
use tulpar_trust::files::write_new;
use tulpar_trust::keyfile;
use tulpar_trust::tls::{Role, pem_cert};

use crate::auth::Principal;
use crate::config::Config;
use crate::node::Node;

/// KZ's unit.
pub(crate) const KZ_UNIT: &str = "KZ-AKTAU-PCU";
/// KZ's second unit.
pub(crate) const KZ_OTHER_UNIT: &str = "KZ-ALTYNKOL-PCU";
/// UZ's unit.
pub(crate) const UZ_UNIT: &str = "UZ-TASHKENT-PCU";

/// One country of the federation: the keys of its ceremony and its node's configuration.
pub(crate) struct Country {
    pub(crate) code: CountryCode,
    pub(crate) made: NewCountry,
    pub(crate) config: Config,
}

impl Country {
    /// The signing key of `unit`.
    pub(crate) fn unit_key(&self, unit: &str) -> &SigningKey {
        self.made
            .units
            .iter()
            .find(|(id, _)| id.as_str() == unit)
            .map(|(_, key)| key)
            .unwrap_or_else(|| panic!("{unit} is not a unit of {}", self.code))
    }
}

/// An alert as its origin's node signs it.
pub(crate) struct SignedAlert {
    pub(crate) id: AlertId,
    pub(crate) alert_id: String,
    pub(crate) envelope: proto::Envelope,
}

impl SignedAlert {
    /// The id as the state view keys it.
    pub(crate) fn key(&self) -> [u8; 16] {
        *self.id.as_bytes()
    }
}

/// A response as the responder's node signs it.
pub(crate) struct SignedResponse {
    pub(crate) response_id: String,
    pub(crate) envelope: proto::Envelope,
}

/// KZ and UZ, trusting each other, in a temporary directory removed when this is dropped.
pub(crate) struct TestFederation {
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) kz: Country,
    pub(crate) uz: Country,
    dir: TempDir,
}

impl TestFederation {
    /// Runs both ceremonies an hour before the clock's start, and has each trust store pin the other.
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // Whole seconds: timestamps in the ledger and in signed objects round-trip exactly.
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let start = UNIX_EPOCH + Duration::from_secs(seconds);
        let clock = Arc::new(ManualClock::new(start));
        let ceremony = start - Duration::from_secs(3600);
        let kz = country(&dir, "KZ", &[KZ_UNIT, KZ_OTHER_UNIT], ceremony);
        let uz = country(&dir, "UZ", &[UZ_UNIT], ceremony);
        for (own, partner) in [(&kz, &uz), (&uz, &kz)] {
            let store = TrustStore::open(&own.config.trust.store, clock.clone()).expect("store");
            let root = partner.made.root.public_key();
            store
                .add_country(
                    partner.code,
                    root,
                    &root.key_id().to_string(),
                    Some(&partner.made.directory),
                )
                .expect("partner trusted");
        }
        Self { clock, kz, uz, dir }
    }

    /// Opens `country`'s node as start-up does, without serving. Only one may be open per country.
    pub(crate) fn open(&self, country: &Country) -> Arc<Node> {
        Arc::new(
            crate::startup::open(country.config.clone(), self.clock.clone()).expect("node opens"),
        )
    }

    /// Opens `country`'s node with its configuration changed by `edit`.
    pub(crate) fn open_with(&self, country: &Country, edit: impl FnOnce(&mut Config)) -> Arc<Node> {
        let mut config = country.config.clone();
        edit(&mut config);
        Arc::new(crate::startup::open(config, self.clock.clone()).expect("node opens"))
    }

    /// A bare ledger with origin `origin` signed with `key`, in a folder of its own named `name`.
    pub(crate) fn outside_ledger(&self, origin: &str, key: &SigningKey, name: &str) -> Ledger {
        let (ledger, _) = Ledger::open(
            self.dir.path().join(name),
            LedgerOptions {
                origin: origin.to_owned(),
                signing_key: SigningKey::from_pem(&key.to_pem()).expect("key copy"),
                earlier_keys: Vec::new(),
                views: Vec::new(),
            },
        )
        .expect("ledger opens");
        ledger
    }

    /// A bare ledger of `country`'s node, signed with its ledger key, in a folder of its own named
    /// `name`: a second one with the same key is a fork of the first.
    pub(crate) fn ledger(&self, country: &Country, name: &str) -> Ledger {
        let (ledger, _) = Ledger::open(
            self.dir.path().join(name),
            LedgerOptions {
                origin: tulpar_ledger::note::ledger_origin(
                    &country.config.federation.name,
                    country.code,
                ),
                signing_key: keyfile::read_private_key(&country.config.keys.ledger_key)
                    .expect("ledger key"),
                earlier_keys: Vec::new(),
                views: Vec::new(),
            },
        )
        .expect("ledger opens");
        ledger
    }

    /// The country of `unit`.
    fn of_unit(&self, unit: &str) -> &Country {
        if unit.starts_with("KZ") {
            &self.kz
        } else {
            &self.uz
        }
    }

    /// An alert from `unit` to `recipient` (a country), created now, signed with the unit's key.
    pub(crate) fn alert(&self, unit: &str, recipient: &str) -> SignedAlert {
        let now = self.clock.now();
        self.alert_with(
            unit,
            AlertId::new_at(now),
            now,
            tulpar_core::sample::alert_draft(unit, recipient),
        )
    }

    /// An alert from `unit` with the given id, time and content, signed with the unit's key.
    pub(crate) fn alert_with(
        &self,
        unit: &str,
        id: AlertId,
        created_at: SystemTime,
        content: proto::AlertContent,
    ) -> SignedAlert {
        let content = validate_content(content).expect("valid content");
        let alert = ValidAlert::new(id, created_at, content);
        let key = self.of_unit(unit).unit_key(unit);
        SignedAlert {
            id: alert.id(),
            alert_id: alert.id().to_string(),
            envelope: sign_message(PayloadType::Alert, alert.message(), &[key]),
        }
    }

    /// A response by `unit` to `alert_id`, created now, signed with the unit's key.
    pub(crate) fn response(
        &self,
        unit: &str,
        alert_id: &str,
        kind: ResponseKind,
    ) -> SignedResponse {
        let id = ResponseId::new_at(self.clock.now()).to_string();
        self.response_with(unit, &id, alert_id, kind)
    }

    /// A response by `unit` to `alert_id` with the given id, created now, signed with the unit's key.
    pub(crate) fn response_with(
        &self,
        unit: &str,
        response_id: &str,
        alert_id: &str,
        kind: ResponseKind,
    ) -> SignedResponse {
        let now = self.clock.now();
        let country = self.of_unit(unit);
        let response = proto::AlertResponse {
            response_id: response_id.to_owned(),
            alert_id: alert_id.to_owned(),
            responder: Some(proto::Origin {
                country: country.code.to_string(),
                unit: unit.to_owned(),
            }),
            created_at: Some(to_timestamp(now)),
            kind: Some(kind),
        };
        SignedResponse {
            response_id: response.response_id.clone(),
            envelope: sign_message(PayloadType::Response, &response, &[country.unit_key(unit)]),
        }
    }

    /// A delivery receipt signed with `country`'s ledger key.
    pub(crate) fn receipt(
        &self,
        country: &Country,
        body: &proto::DeliveryReceipt,
    ) -> proto::Envelope {
        sign_message(PayloadType::Receipt, body, &[&country.made.ledger])
    }
}

/// An acknowledgement accepting the alert.
pub(crate) fn accepted() -> ResponseKind {
    ResponseKind::Acknowledgement(proto::Acknowledgement {
        decision: proto::AcknowledgementDecision::Accepted as i32,
        note: String::new(),
    })
}

/// An outcome: the consignment was inspected and nothing was found.
pub(crate) fn nothing_found() -> ResponseKind {
    ResponseKind::Outcome(proto::Outcome {
        result: Some(proto::outcome::Result::NothingFound(
            proto::NothingFound::default(),
        )),
        ..Default::default()
    })
}

/// An officer of `unit`, authenticated by certificate.
pub(crate) fn officer(unit: &str) -> Principal {
    let unit = UnitId::parse(unit).expect("unit id");
    Principal {
        role: Role::Officer,
        country: unit.country(),
        name: format!("cert:officer/{unit}"),
        units: vec![unit],
    }
}

/// An integrator acting for `units`.
pub(crate) fn integrator(units: &[&str]) -> Principal {
    let units: Vec<UnitId> = units
        .iter()
        .map(|u| UnitId::parse(u).expect("unit id"))
        .collect();
    Principal {
        role: Role::Integrator,
        country: units.first().expect("a unit").country(),
        name: "token:integrator".into(),
        units,
    }
}

/// A ledger entry recorded now by `clock`.
pub(crate) fn entry(clock: &ManualClock, alert_id: &str, kind: Kind) -> proto::LedgerEntry {
    proto::LedgerEntry {
        recorded_at: Some(to_timestamp(clock.now())),
        alert_id: alert_id.to_owned(),
        kind: Some(kind),
    }
}

/// Raises an alert from `unit` to `to` through `node`'s submission, as that unit's officer would.
pub(crate) async fn raise(node: &Node, unit: &str, to: &str) -> proto::SubmitAlertResponse {
    node.submission
        .submit_alert(
            &officer(unit),
            proto::SubmitAlertRequest {
                content: Some(tulpar_core::sample::alert_draft(unit, to)),
                ..Default::default()
            },
        )
        .await
        .expect("submitted")
}

/// Records `alert` at `node` as received from UZ without its receipt, as a node that stopped between
/// the two leaves it.
pub(crate) async fn received_without_receipt(
    clock: &ManualClock,
    node: &Node,
    alert: &SignedAlert,
) -> crate::context::Appended {
    node.context
        .append(entry(
            clock,
            &alert.alert_id,
            Kind::AlertReceived(proto::AlertReceived {
                alert: Some(alert.envelope.clone()),
                from_country: "UZ".into(),
            }),
        ))
        .await
        .expect("recorded")
}

/// The decoded body of a signed receipt.
pub(crate) fn receipt_body(receipt: &proto::Envelope) -> proto::DeliveryReceipt {
    proto::DeliveryReceipt::decode(receipt.payload.as_slice()).expect("a receipt")
}

/// Runs `code`'s ceremony at `now` and lays its files out as `tulpar init` does, with an empty trust
/// store and a configuration naming them.
fn country(dir: &TempDir, code: &str, units: &[&str], now: SystemTime) -> Country {
    let code = CountryCode::parse(code).expect("country code");
    let made = create_country(&CountryPlan {
        country: code,
        units: units
            .iter()
            .map(|u| UnitId::parse(u).expect("unit id"))
            .collect(),
        endpoint: "127.0.0.1:1".into(),
        extra_hosts: Vec::new(),
        now,
    })
    .expect("ceremony");
    let home = dir.path().join(code.as_str());
    let node = home.join("node");
    std::fs::create_dir_all(node.join("units")).expect("node folder");
    let file = |name: &str, bytes: &[u8], mode: u32| {
        write_new(&node.join(name), bytes, mode).expect("file written");
    };
    let ca_pem = pem_cert(made.tls_ca.certificate());
    file("node.crt", made.node_cert.pem.as_bytes(), 0o644);
    file("node.key", made.node_cert.key_pem.as_bytes(), 0o600);
    file("tls-ca.crt", ca_pem.as_bytes(), 0o644);
    file("directory.env", &made.directory.encode_to_vec(), 0o644);
    keyfile::write_private_key(&node.join("ledger.key"), &made.ledger).expect("ledger key");
    for (unit, key) in &made.units {
        let path: PathBuf = node.join("units").join(format!("{unit}.key"));
        keyfile::write_private_key(&path, key).expect("unit key");
    }
    let text = r#"country = "CC"
data_dir = "data"

[client_api]
listen = "127.0.0.1:0"

[federation]
name = "test.tulpar.example"
listen = "127.0.0.1:0"

[tls]
certificate = "node/node.crt"
private_key = "node/node.key"
ca_certificate = "node/tls-ca.crt"

[keys]
ledger_key = "node/ledger.key"
units_dir = "node/units"

[trust]
store = "node/trust"
own_directory = "node/directory.env"
"#
    .replace("CC", code.as_str());
    let config = Config::from_toml(&text, &home.join("tulpar-node.toml"), std::iter::empty())
        .expect("configuration");
    Country { code, made, config }
}
