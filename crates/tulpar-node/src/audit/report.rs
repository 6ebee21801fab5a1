//! Exchange reports: per partner and direction, what was exchanged in a period and how fast it was
//! answered. Computed from alert records alone, so the same records always give the same figures.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::proto::{
    self, DeliveryState, Direction, alert_response, outcome::Result as OutcomeResult,
};
use tulpar_core::time::from_timestamp;

use crate::state::StoredAlert;

/// The `p`-th percentile (0–100) of `values` by linear interpolation between closest ranks (the
/// method of most spreadsheets: the median of 1, 2, 3, 4 is 2.5); 0 when there are none.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    values[low] + (values[high] - values[low]) * (rank - low as f64)
}

/// One row being counted, with the times its percentiles come from.
#[derive(Default)]
struct Row {
    figures: proto::ExchangeFigures,
    by_category: BTreeMap<i32, u64>,
    by_priority: BTreeMap<i32, u64>,
    delivery_seconds: Vec<f64>,
    acknowledgement_seconds: Vec<f64>,
}

impl Row {
    fn count(
        &mut self,
        stored: &StoredAlert,
        status: &proto::RecipientStatus,
        created: SystemTime,
    ) {
        let figures = &mut self.figures;
        figures.alerts += 1;
        *self.by_category.entry(stored.category).or_default() += 1;
        *self.by_priority.entry(stored.priority).or_default() += 1;
        let seconds_since_creation = |event: &proto::TimelineEvent| {
            let at = event.at.as_ref().and_then(from_timestamp)?;
            Some(at.duration_since(created).unwrap_or_default().as_secs_f64())
        };
        let steps = || status.timeline.iter().filter(|e| !e.deadline_missed);
        if let Some(delivered) = steps().find(|e| e.state == DeliveryState::Delivered as i32) {
            figures.delivered += 1;
            self.delivery_seconds
                .extend(seconds_since_creation(delivered));
        }
        let answered = steps().find(|e| {
            e.state == DeliveryState::Acknowledged as i32
                || e.state == DeliveryState::Declined as i32
        });
        if let Some(answer) = answered {
            if answer.state == DeliveryState::Acknowledged as i32 {
                figures.acknowledged += 1;
            } else {
                figures.declined += 1;
            }
            self.acknowledgement_seconds
                .extend(seconds_since_creation(answer));
        }
        // The latest outcome counts, should a recipient have reported more than one.
        let outcome = steps()
            .rev()
            .filter(|e| e.state == DeliveryState::OutcomeRecorded as i32)
            .find_map(|e| match e.response.as_ref()?.kind.as_ref()? {
                alert_response::Kind::Outcome(outcome) => outcome.result.as_ref(),
                alert_response::Kind::Acknowledgement(_) => None,
            });
        match outcome {
            Some(OutcomeResult::Seizure(_)) => figures.outcomes_seizure += 1,
            Some(OutcomeResult::NothingFound(_)) => figures.outcomes_nothing_found += 1,
            Some(OutcomeResult::NotInspected(_)) => figures.outcomes_not_inspected += 1,
            Some(OutcomeResult::DidNotArrive(_)) => figures.outcomes_did_not_arrive += 1,
            None => {}
        }
        if status.timeline.iter().any(|e| e.deadline_missed) {
            figures.overdue += 1;
        }
    }

    fn finish(mut self) -> proto::ExchangeFigures {
        let mut figures = self.figures;
        figures.by_category = self
            .by_category
            .into_iter()
            .map(|(category, count)| proto::CategoryCount { category, count })
            .collect();
        figures.by_priority = self
            .by_priority
            .into_iter()
            .map(|(priority, count)| proto::PriorityCount { priority, count })
            .collect();
        figures.delivery_seconds_median = percentile(&mut self.delivery_seconds, 50.0);
        figures.delivery_seconds_p90 = percentile(&mut self.delivery_seconds, 90.0);
        figures.acknowledgement_seconds_median =
            percentile(&mut self.acknowledgement_seconds, 50.0);
        figures.acknowledgement_seconds_p90 = percentile(&mut self.acknowledgement_seconds, 90.0);
        figures
    }
}

/// Which alerts a report or reconciliation covers: created in `from..to`, exchanged with `partner`
/// (any partner when `None`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    pub(crate) partner: Option<CountryCode>,
    pub(crate) from: SystemTime,
    pub(crate) to: SystemTime,
}

impl Period {
    /// The partner and this node's recipient status of each exchange `stored` is part of in the
    /// period: one per addressed partner for a sent alert, this country's status for a received one.
    pub(crate) fn exchanges<'a>(
        &self,
        stored: &'a StoredAlert,
    ) -> Vec<(CountryCode, Direction, &'a proto::RecipientStatus)> {
        let created = stored.created_at.as_ref().and_then(from_timestamp);
        if !created.is_some_and(|c| c >= self.from && c < self.to) {
            return Vec::new();
        }
        let wanted = |country: CountryCode| self.partner.is_none_or(|p| p == country);
        if stored.direction == Direction::Sent as i32 {
            stored
                .recipients
                .iter()
                .filter_map(|r| Some((CountryCode::parse(&r.country).ok()?, r)))
                .filter(|(country, _)| wanted(*country))
                .map(|(country, r)| (country, Direction::Sent, r))
                .collect()
        } else {
            let origin = UnitId::parse(&stored.origin_unit).ok().map(|u| u.country());
            match (origin, stored.recipients.first()) {
                (Some(origin), Some(own)) if wanted(origin) => {
                    vec![(origin, Direction::Received, own)]
                }
                _ => Vec::new(),
            }
        }
    }
}

/// The report rows for `alerts` in `period`: one per partner and direction with any alerts, by partner
/// then direction (sent first).
pub(crate) fn exchange_figures<'a>(
    period: &Period,
    alerts: impl IntoIterator<Item = &'a StoredAlert>,
) -> Vec<proto::ExchangeFigures> {
    let mut rows: BTreeMap<(CountryCode, i32), Row> = BTreeMap::new();
    for stored in alerts {
        let Some(created) = stored.created_at.as_ref().and_then(from_timestamp) else {
            continue;
        };
        for (partner, direction, status) in period.exchanges(stored) {
            let row = rows.entry((partner, direction as i32)).or_default();
            row.figures.partner = partner.to_string();
            row.figures.direction = direction as i32;
            row.count(stored, status, created);
        }
    }
    rows.into_values().map(Row::finish).collect()
}

#[cfg(test)]
mod tests;
