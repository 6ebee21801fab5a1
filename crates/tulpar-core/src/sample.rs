//! Realistic sample alerts, for the demo federation, benchmarks and tests.
//!
//! The contents follow the programme's real patterns (a container from Shanghai by rail through Altynkol
//! to Tashkent, declared as spare parts) but name no real company or person.

use crate::proto;

/// A valid drugs-and-precursors alert draft from `origin_unit` to `recipient_country`.
///
/// `origin_unit` must be a unit id; its first two letters are the origin country.
pub fn alert_draft(origin_unit: &str, recipient_country: &str) -> proto::AlertContent {
    let origin_country = origin_unit.get(..2).unwrap_or_default().to_owned();
    proto::AlertContent {
        origin: Some(proto::Origin { country: origin_country, unit: origin_unit.to_owned() }),
        recipients: vec![proto::Recipient { country: recipient_country.to_owned(), units: vec![] }],
        priority: proto::Priority::Urgent.into(),
        category: proto::ThreatCategory::DrugsAndPrecursors.into(),
        transport_mode: proto::TransportMode::Rail.into(),
        consignment: Some(proto::Consignment {
            containers: vec!["CSQU3054383".into(), "MSKU1234565".into()],
            transport_document: Some(proto::TransportDocument {
                kind: proto::TransportDocumentKind::RailWaybillSmgs.into(),
                number: "SMGS-24-118234".into(),
            }),
            conveyance: Some(proto::Conveyance {
                train_number: "1207".into(),
                ..Default::default()
            }),
            route: Some(proto::Route {
                loading: Some(place("CNSHA")),
                transit: vec![place("KZAKX")],
                discharge: Some(place("UZTAS")),
                final_destination: Some(place("UZTAS")),
                transit_countries: vec!["KZ".into()],
            }),
            parties: Some(proto::Parties {
                shipper: Some(proto::Party {
                    name: "Eastern Machinery Trading Co.".into(),
                    country: "CN".into(),
                    ..Default::default()
                }),
                consignee: Some(proto::Party {
                    name: "Silk Route Components LLC".into(),
                    country: "UZ".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            goods: vec![proto::GoodsItem {
                description: "Spare parts for agricultural machinery".into(),
                hs_code: "843390".into(),
                packages: 48,
                package_kind: "pallets".into(),
                gross_weight_kg: 18_400.0,
                declared_value: Some(proto::MonetaryAmount {
                    currency: "USD".into(),
                    amount: "12500.00".into(),
                }),
                ..Default::default()
            }],
            permits: None,
        }),
        risk: Some(proto::RiskAssessment {
            indicators: vec![
                proto::RiskIndicator::RouteInconsistentWithGoods.into(),
                proto::RiskIndicator::FirstTimeConsignee.into(),
                proto::RiskIndicator::WeightDiscrepancy.into(),
            ],
            notes: "Declared weight 18.4 t; rail scale at Altynkol recorded 21.1 t.".into(),
        }),
        requested_action: proto::RequestedAction::InspectOnArrival.into(),
        handling: Some(proto::Handling {
            code: proto::HandlingCode::H1.into(),
            restrictions: String::new(),
            source_reliability: proto::SourceReliability::B.into(),
            information_accuracy: proto::InformationAccuracy::InformationAccuracy2.into(),
        }),
        narrative: "Consignee registered three weeks ago; first import. Route through Aktau is \
                    unusual for machinery parts from Shanghai. Request X-ray and physical inspection."
            .into(),
        narrative_language: "en".into(),
        attachments: vec![],
    }
}

fn place(locode: &str) -> proto::RoutePlace {
    proto::RoutePlace {
        locode: locode.into(),
        expected_arrival: None,
    }
}
