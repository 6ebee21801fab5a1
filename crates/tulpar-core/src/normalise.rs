//! Codes as officers write them, brought to the one form the protocol holds before an alert or an
//! answer is validated and signed: container numbers with spaces or in lower case (`mscu 784512 0`),
//! HS codes with dots (`2939.11`), amounts with a decimal comma and grouped thousands (`12 500,50`),
//! UN/LOCODEs with a space (`KZ AKX`), country, unit and currency codes in lower case. What is signed
//! and shown is the normalised form; anything still malformed after it is refused by validation as
//! before, naming the field. Normalising twice changes nothing.

use crate::proto::{self, alert_response::Kind};

/// Normalises every code of an alert draft in place.
pub fn alert_content(content: &mut proto::AlertContent) {
    if let Some(origin) = &mut content.origin {
        upper(&mut origin.country);
        upper(&mut origin.unit);
    }
    for recipient in &mut content.recipients {
        upper(&mut recipient.country);
        recipient.units.iter_mut().for_each(upper);
    }
    if let Some(consignment) = &mut content.consignment {
        consignment.containers.iter_mut().for_each(compact_upper);
        if let Some(document) = &mut consignment.transport_document {
            trim(&mut document.number);
        }
        if let Some(route) = &mut consignment.route {
            let places = [
                &mut route.loading,
                &mut route.discharge,
                &mut route.final_destination,
            ];
            for place in places.into_iter().flatten() {
                compact_upper(&mut place.locode);
            }
            for place in &mut route.transit {
                compact_upper(&mut place.locode);
            }
            route.transit_countries.iter_mut().for_each(upper);
        }
        if let Some(parties) = &mut consignment.parties {
            let all = [
                &mut parties.shipper,
                &mut parties.consignee,
                &mut parties.notify_party,
                &mut parties.declarant,
            ];
            for party in all.into_iter().flatten() {
                upper(&mut party.country);
            }
        }
        for item in &mut consignment.goods {
            digits_only(&mut item.hs_code);
            digits_only(&mut item.national_tariff_code);
            if let Some(value) = &mut item.declared_value {
                upper(&mut value.currency);
                amount(&mut value.amount);
            }
        }
        if let Some(permits) = &mut consignment.permits {
            for permit in &mut permits.cites_permits {
                upper(&mut permit.issuing_country);
            }
            for licence in &mut permits.export_licences {
                upper(&mut licence.issuing_country);
            }
        }
    }
}

/// Normalises the codes of an answer in place.
pub fn response_kind(kind: &mut Kind) {
    let Kind::Outcome(outcome) = kind else {
        return;
    };
    if let Some(proto::outcome::Result::Seizure(seizure)) = &mut outcome.result {
        for item in &mut seizure.items {
            digits_only(&mut item.hs_code);
            trim(&mut item.unit);
        }
    }
    if let Some(correction) = &mut outcome.correction {
        trim(&mut correction.corrects_response_id);
    }
}

fn trim(text: &mut String) {
    let trimmed = text.trim();
    if trimmed.len() != text.len() {
        *text = trimmed.to_owned();
    }
}

fn upper(text: &mut String) {
    *text = text.trim().to_uppercase();
}

/// A code as it is compared, whoever wrote it: upper case without spaces or hyphens.
pub fn compact(text: &str) -> String {
    let mut text = text.to_owned();
    compact_upper(&mut text);
    text
}

/// Upper case without spaces or hyphens: `mscu-784512 0` → `MSCU7845120`.
fn compact_upper(text: &mut String) {
    *text = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
}

/// A code of digits written with dots or spaces between groups: `2939.11` → `293911`. Anything that is
/// not digits with those separators is left for validation to refuse as written.
fn digits_only(text: &mut String) {
    let separated = text
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c.is_whitespace());
    if separated {
        text.retain(|c| c.is_ascii_digit());
    }
}

/// A number as officers write it, with a decimal comma and grouped thousands, as Rust and proto3
/// JSON read it: `12 500,50` → `12500.50`. Whether it is a number is for the caller to find.
pub fn decimal(text: &str) -> String {
    let mut text = text.to_owned();
    amount(&mut text);
    text
}

/// An amount with a decimal comma and grouped thousands: `12 500,50` → `12500.50`.
fn amount(text: &mut String) {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}')
        .collect();
    // A comma is the decimal separator only when there is no point; "1,250.00" keeps its meaning.
    *text = if compact.contains('.') {
        compact.replace(',', "")
    } else {
        compact.replace(',', ".")
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::alert_draft;

    #[test]
    fn codes_as_officers_write_them_become_the_protocols_and_then_validate() {
        let mut draft = alert_draft("kz-aktau-pcu", "uz");
        let origin = draft.origin.as_mut().unwrap();
        origin.country = "kz".into();
        let consignment = draft.consignment.as_mut().unwrap();
        consignment.containers = vec!["mscu 123456 6".into(), "CSQU-305438-3".into()];
        let goods = &mut consignment.goods[0];
        goods.hs_code = "8433.90".into();
        goods.declared_value.as_mut().unwrap().amount = "12 500,50".into();
        goods.declared_value.as_mut().unwrap().currency = "usd".into();
        let route = consignment.route.as_mut().unwrap();
        route.loading.as_mut().unwrap().locode = "cn sha".into();
        alert_content(&mut draft);
        let consignment = draft.consignment.as_ref().unwrap();
        assert_eq!(consignment.containers, ["MSCU1234566", "CSQU3054383"]);
        assert_eq!(consignment.goods[0].hs_code, "843390");
        let value = consignment.goods[0].declared_value.as_ref().unwrap();
        assert_eq!(
            (value.amount.as_str(), value.currency.as_str()),
            ("12500.50", "USD")
        );
        assert_eq!(
            consignment
                .route
                .as_ref()
                .unwrap()
                .loading
                .as_ref()
                .unwrap()
                .locode,
            "CNSHA"
        );
        assert_eq!(draft.origin.as_ref().unwrap().unit, "KZ-AKTAU-PCU");
        let again = {
            let mut copy = draft.clone();
            alert_content(&mut copy);
            copy
        };
        assert_eq!(again, draft, "normalising twice changes nothing");
        crate::alert::validate_content(draft).expect("the normalised draft is valid");
    }

    #[test]
    fn what_is_not_a_code_with_separators_is_left_for_validation() {
        let mut hs = "29x9.11".to_owned();
        digits_only(&mut hs);
        assert_eq!(hs, "29x9.11");
        let mut grouped = "1,250.00".to_owned();
        amount(&mut grouped);
        assert_eq!(grouped, "1250.00");
        let mut seizure = Kind::Outcome(proto::Outcome {
            result: Some(proto::outcome::Result::Seizure(proto::Seizure {
                items: vec![proto::SeizedItem {
                    description: "heroin".into(),
                    hs_code: "2939.11".into(),
                    quantity: 120.5,
                    unit: " kg ".into(),
                }],
                case_reference: String::new(),
            })),
            ..Default::default()
        });
        response_kind(&mut seizure);
        let Kind::Outcome(outcome) = seizure else {
            unreachable!()
        };
        let Some(proto::outcome::Result::Seizure(seizure)) = outcome.result else {
            unreachable!()
        };
        assert_eq!(
            (
                seizure.items[0].hs_code.as_str(),
                seizure.items[0].unit.as_str()
            ),
            ("293911", "kg")
        );
    }
}
