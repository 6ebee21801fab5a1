//! The checks of what a partner delivers that depend on nothing recorded before: the unit signature
//! (verified before anything is decoded), the content, and who may have signed and sent it. They
//! read the trust store, this country's own units and one reading of the clock, and write nothing,
//! so a whole `DeliverAlerts` request can be judged without a running node (the fuzz target
//! `deliver_alerts` does).

use std::time::{Duration, SystemTime};

use tulpar_core::alert::{RecipientSpec, validate_alert};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, PayloadType};
use tulpar_core::keys::KeyId;
use tulpar_core::proto;
use tulpar_core::time::fmt_duration;
use tulpar_core::validation::Violations;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::{Purpose, VerifiedDirectory};

use super::ReceiveError;

/// The units of this country's own directory, which partners' alerts may name as recipients.
pub trait OwnUnits {
    /// The positions of those of `units` the directory does not list, and the directory's version.
    fn unlisted(&self, units: &[UnitId]) -> (Vec<usize>, u64);
}

impl OwnUnits for VerifiedDirectory {
    fn unlisted(&self, units: &[UnitId]) -> (Vec<usize>, u64) {
        let unlisted = units
            .iter()
            .enumerate()
            .filter(|(_, unit)| !self.units().iter().any(|u| u.unit_id == **unit))
            .map(|(j, _)| j)
            .collect();
        (unlisted, self.version())
    }
}

/// What a partner's delivery is judged against, at one reading of this node's clock.
pub struct DeliveryRules<'a> {
    /// This node's country.
    pub country: CountryCode,
    /// The partners' directories and their unit keys.
    pub trust: &'a TrustStore,
    /// This country's own units.
    pub own_units: &'a (dyn OwnUnits + Sync),
    /// This node's clock.
    pub now: SystemTime,
    /// `federation.max_clock_skew`: how far ahead of `now` a partner's alert may be dated.
    pub max_clock_skew: Duration,
}

/// What a partner delivered, checked to come from one of its units.
pub(crate) struct UnitSigned<M> {
    pub(crate) message: M,
    pub(crate) signers: Vec<KeyId>,
    pub(crate) envelope: proto::Envelope,
}

/// A delivered alert that passed every check that does not depend on earlier deliveries.
#[derive(Debug)]
pub struct CheckedAlert {
    pub(crate) alert_id: String,
    pub(crate) id: [u8; 16],
    pub(crate) origin: String,
    pub(crate) envelope: proto::Envelope,
}

impl DeliveryRules<'_> {
    /// Verifies that `envelope` is signed by some unit key of `country` (cryptographically, before
    /// anything is decoded), then decodes it. Which unit and when is checked by the caller with
    /// [`Self::check_unit_signer`], once the message says who claims to have signed it.
    pub(crate) fn verify_unit_signed<M: prost::Message + Default>(
        &self,
        verifier: &mut envelope::Verifier,
        country: CountryCode,
        envelope: proto::Envelope,
        payload_type: PayloadType,
    ) -> Result<UnitSigned<M>, ReceiveError> {
        let directory = self
            .trust
            .directory(country)
            .ok_or(ReceiveError::NoDirectory(country))?;
        let resolve = |id: &KeyId| {
            directory
                .units()
                .iter()
                .flat_map(|unit| &unit.keys)
                .find(|key| key.key_id == *id)
                .map(|key| key.public_key)
        };
        let verified = verifier
            .verify(&envelope, payload_type, &resolve)
            .map_err(|source| ReceiveError::Signature {
                payload_type,
                partner: country,
                source,
            })?;
        let message = verified
            .decode::<M>()
            .map_err(|e| ReceiveError::Invalid(Violations::single("payload", e.to_string())))?;
        Ok(UnitSigned {
            message,
            signers: verified.signers().to_vec(),
            envelope,
        })
    }

    /// Checks that one of `signers` is a key of `unit` valid for `purpose` at `at`.
    pub(crate) fn check_unit_signer(
        &self,
        unit: &UnitId,
        signers: &[KeyId],
        purpose: Purpose,
        at: SystemTime,
    ) -> Result<(), ReceiveError> {
        let mut refusal = None;
        for key_id in signers {
            match self
                .trust
                .check_unit_key(unit.country(), unit, key_id, purpose, at)
            {
                Ok(_) => return Ok(()),
                Err(error) => refusal = Some(error),
            }
        }
        Err(refusal.map_or_else(
            || ReceiveError::NotSignedBy(unit.clone()),
            ReceiveError::Signer,
        ))
    }

    /// Every check of an alert `partner` delivered that does not depend on what was recorded
    /// before: the unit signature (verified before anything is decoded), the content, the origin
    /// against the partner, the signing key against the origin unit, that this country is a
    /// recipient, its date against this node's clock, and that the units it names here exist.
    /// Alerts signed together share one signature, which `verifier` checks once.
    pub fn check_alert(
        &self,
        verifier: &mut envelope::Verifier,
        partner: CountryCode,
        envelope: proto::Envelope,
    ) -> Result<CheckedAlert, ReceiveError> {
        let signed = self.verify_unit_signed::<proto::Alert>(
            verifier,
            partner,
            envelope,
            PayloadType::Alert,
        )?;
        let alert = validate_alert(signed.message).map_err(ReceiveError::Invalid)?;
        let origin = alert.content().origin().clone();
        if origin.country() != partner {
            return Err(ReceiveError::NotItsOwn {
                what: format!("alert {} from {origin}", alert.id()),
                partner,
                kind: "alerts",
            });
        }
        self.check_unit_signer(&origin, &signed.signers, Purpose::Alert, alert.created_at())?;
        let Some(addressed) = alert.content().recipient(self.country) else {
            return Err(ReceiveError::NotAddressedHere {
                alert_id: alert.id().to_string(),
                country: self.country,
            });
        };
        self.check_created_at(alert.created_at())?;
        self.check_own_units(alert.content().recipients(), &addressed.units)?;
        Ok(CheckedAlert {
            alert_id: alert.id().to_string(),
            id: *alert.id().as_bytes(),
            origin: origin.to_string(),
            envelope: signed.envelope,
        })
    }

    /// Refuses an alert dated further in this node's future than `federation.max_clock_skew`: its
    /// deadline counts from `created_at`, so it would never be overdue.
    fn check_created_at(&self, created_at: SystemTime) -> Result<(), ReceiveError> {
        let skew = self.max_clock_skew;
        match created_at.duration_since(self.now) {
            Ok(ahead) if ahead > skew => Err(ReceiveError::Invalid(Violations::single(
                "created_at",
                format!(
                    "is {} ahead of this node's clock; at most {} is allowed \
                     (federation.max_clock_skew)",
                    fmt_duration(ahead),
                    fmt_duration(skew)
                ),
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses an alert naming units of this country that its own directory does not list: nobody
    /// could answer it.
    fn check_own_units(
        &self,
        recipients: &[RecipientSpec],
        units: &[UnitId],
    ) -> Result<(), ReceiveError> {
        if units.is_empty() {
            return Ok(());
        }
        let (unlisted, version) = self.own_units.unlisted(units);
        let position = recipients
            .iter()
            .position(|r| r.country == self.country)
            .unwrap_or_default();
        let unknown = unlisted
            .into_iter()
            .map(|j| {
                (
                    format!("content.recipients[{position}].units[{j}]"),
                    format!(
                        "{} is not a unit in the directory of {} (version {version})",
                        units[j], self.country
                    ),
                )
            })
            .collect();
        match Violations::from_pairs(unknown) {
            Some(violations) => Err(ReceiveError::Invalid(violations)),
            None => Ok(()),
        }
    }
}
