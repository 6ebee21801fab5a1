//! Who is calling the client API, and what they may see and do.
//!
//! | role        | sees                                                         | acts                          |
//! |-------------|--------------------------------------------------------------|-------------------------------|
//! | officer     | alerts its unit sent; received alerts addressed to its unit  | submits and answers for its   |
//! |             | or to the country as a whole                                 | unit                          |
//! | integrator  | as an officer, for each unit its token or certificate names  | as an officer, for those units|
//! | focal-point | every alert of the node, overdue lists, audit                | nothing (audits only)         |
//! | admin       | partners and node status, no alert content                   | nothing on alerts             |
//!
//! A node only ever holds its own country's alerts and those addressed to it, so nobody can see another
//! country's internal exchanges through it.

use std::fmt;

use tulpar_core::alert::RecipientSpec;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_trust::tls::Role;

/// An authenticated caller of the client API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// What the caller may do.
    pub role: Role,
    /// The node's country (callers are always of the node's own country).
    pub country: CountryCode,
    /// The units the caller acts for (officer: one; integrator: several; others: none).
    pub units: Vec<UnitId>,
    /// How the caller authenticated, for logs and the ledger: "cert:<subject>" or "token:<name>".
    pub name: String,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.role.as_str())
    }
}

/// How an alert relates to this node, as far as visibility goes.
#[derive(Debug, Clone, Copy)]
pub enum AlertSide<'a> {
    /// Raised by `origin`, a unit of this country.
    Sent {
        /// The origin unit.
        origin: &'a UnitId,
    },
    /// Received from a partner and addressed to this country as `recipient`.
    Received {
        /// This country's recipient entry in the alert.
        recipient: &'a RecipientSpec,
    },
}

impl Principal {
    /// Whether the caller acts for `unit` (officers and integrators).
    pub fn acts_for(&self, unit: &UnitId) -> bool {
        matches!(self.role, Role::Officer | Role::Integrator) && self.units.contains(unit)
    }

    /// Whether the caller may see the alert.
    pub fn may_see(&self, side: AlertSide<'_>) -> bool {
        match self.role {
            Role::FocalPoint => true,
            Role::Admin => false,
            Role::Officer | Role::Integrator => match side {
                AlertSide::Sent { origin } => self.acts_for(origin),
                AlertSide::Received { recipient } => {
                    self.units.iter().any(|u| recipient.addresses(u))
                }
            },
        }
    }

    /// Whether the caller may answer a received alert as `unit`.
    pub fn may_respond_as(&self, unit: &UnitId, recipient: &RecipientSpec) -> bool {
        self.acts_for(unit) && recipient.addresses(unit)
    }

    /// Whether the caller may use the audit API and see overdue lists of the whole country.
    pub fn is_focal_point(&self) -> bool {
        self.role == Role::FocalPoint
    }

    /// Whether the caller may see partner status.
    pub fn may_see_peers(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: &str) -> UnitId {
        UnitId::parse(id).unwrap()
    }

    fn principal(role: Role, units: &[&str]) -> Principal {
        Principal {
            role,
            country: CountryCode::parse("UZ").unwrap(),
            units: units.iter().map(|u| unit(u)).collect(),
            name: "test".into(),
        }
    }

    fn recipient(units: &[&str]) -> RecipientSpec {
        RecipientSpec {
            country: CountryCode::parse("UZ").unwrap(),
            units: units.iter().map(|u| unit(u)).collect(),
        }
    }

    /// One test per cell of the table in the module documentation.
    #[test]
    fn officer_sees_own_sent_and_addressed_received() {
        let officer = principal(Role::Officer, &["UZ-TASHKENT-PCU"]);
        let own = unit("UZ-TASHKENT-PCU");
        let other = unit("UZ-TERMEZ-PCU");
        assert!(officer.may_see(AlertSide::Sent { origin: &own }));
        assert!(!officer.may_see(AlertSide::Sent { origin: &other }));
        assert!(officer.may_see(AlertSide::Received {
            recipient: &recipient(&[])
        }));
        assert!(officer.may_see(AlertSide::Received {
            recipient: &recipient(&["UZ-TASHKENT-PCU"])
        }));
        assert!(!officer.may_see(AlertSide::Received {
            recipient: &recipient(&["UZ-TERMEZ-PCU"])
        }));
    }

    #[test]
    fn officer_acts_only_for_own_unit_and_only_where_addressed() {
        let officer = principal(Role::Officer, &["UZ-TASHKENT-PCU"]);
        assert!(officer.acts_for(&unit("UZ-TASHKENT-PCU")));
        assert!(!officer.acts_for(&unit("UZ-TERMEZ-PCU")));
        let own = unit("UZ-TASHKENT-PCU");
        assert!(officer.may_respond_as(&own, &recipient(&[])));
        assert!(officer.may_respond_as(&own, &recipient(&["UZ-TASHKENT-PCU"])));
        assert!(!officer.may_respond_as(&own, &recipient(&["UZ-TERMEZ-PCU"])));
        assert!(!officer.may_respond_as(&unit("UZ-TERMEZ-PCU"), &recipient(&[])));
    }

    #[test]
    fn integrator_acts_for_each_named_unit() {
        let integrator = principal(Role::Integrator, &["UZ-TASHKENT-PCU", "UZ-TERMEZ-PCU"]);
        assert!(integrator.acts_for(&unit("UZ-TERMEZ-PCU")));
        assert!(!integrator.acts_for(&unit("UZ-NAVOI-PCU")));
        assert!(integrator.may_see(AlertSide::Received {
            recipient: &recipient(&["UZ-TERMEZ-PCU"])
        }));
        assert!(!integrator.may_see(AlertSide::Received {
            recipient: &recipient(&["UZ-NAVOI-PCU"])
        }));
        assert!(integrator.may_see(AlertSide::Sent {
            origin: &unit("UZ-TASHKENT-PCU")
        }));
        assert!(!integrator.may_see(AlertSide::Sent {
            origin: &unit("UZ-NAVOI-PCU")
        }));
    }

    #[test]
    fn focal_point_sees_everything_and_acts_for_nothing() {
        let focal = principal(Role::FocalPoint, &[]);
        assert!(focal.may_see(AlertSide::Sent {
            origin: &unit("UZ-NAVOI-PCU")
        }));
        assert!(focal.may_see(AlertSide::Received {
            recipient: &recipient(&["UZ-TERMEZ-PCU"])
        }));
        assert!(!focal.acts_for(&unit("UZ-NAVOI-PCU")));
        assert!(focal.is_focal_point());
    }

    #[test]
    fn admin_sees_no_alerts_and_acts_for_nothing() {
        let admin = principal(Role::Admin, &[]);
        assert!(!admin.may_see(AlertSide::Sent {
            origin: &unit("UZ-NAVOI-PCU")
        }));
        assert!(!admin.may_see(AlertSide::Received {
            recipient: &recipient(&[])
        }));
        assert!(!admin.acts_for(&unit("UZ-NAVOI-PCU")));
        assert!(!admin.is_focal_point());
        assert!(admin.may_see_peers());
    }

    #[test]
    fn a_forged_unit_list_does_not_widen_an_officer() {
        // Even if an officer principal somehow named a unit of another country, addressing is by country.
        let officer = principal(Role::Officer, &["KZ-AKTAU-PCU"]);
        assert!(!officer.may_respond_as(&unit("KZ-AKTAU-PCU"), &recipient(&[])));
    }
}
