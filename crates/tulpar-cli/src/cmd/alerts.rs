//! Commands against a node's client API: send, list, show, watch and answer alerts; overdue; peers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tulpar_core::proto::{self, AlertEventKind, DeliveryState, Direction};
use tulpar_core::time::from_timestamp;

use super::alert_check::read_draft;
use crate::client::{Client, Connection, describe};
use crate::paint::{Tone, paint};

/// Output options shared by the node commands.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Output {
    /// Print the answer as proto3 JSON instead of text for people.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// Send an alert.
#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// The alert draft (AlertContent in proto3 JSON), e.g. one of deploy/examples/alert-*.json.
    draft: PathBuf,
    /// Recipient countries, replacing the draft's (comma-separated, e.g. UZ,TJ).
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// The raising unit, replacing the draft's origin.
    #[arg(long)]
    unit: Option<String>,
    /// Idempotency key: sending again with the same key returns the first result. Default: a new one.
    #[arg(long)]
    request_id: Option<String>,
    /// A file to attach (a photo, a scanned document), added to the draft's; may be repeated.
    #[arg(long = "attach", value_name = "FILE")]
    attachments: Vec<PathBuf>,
}

/// A file as an attachment: its bytes, size and SHA-256, and a media type from its extension.
fn attachment(path: &std::path::Path) -> Result<proto::Attachment> {
    let content =
        std::fs::read(path).with_context(|| format!("--attach: cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("attachment");
    Ok(tulpar_core::alert::attachment_of(name, None, content))
}

/// List alerts.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// sent or received.
    #[arg(long)]
    direction: Option<String>,
    /// Partner country (recipient of sent alerts, origin of received ones).
    #[arg(long)]
    country: Option<String>,
    /// Only alerts raised by or addressed to this unit.
    #[arg(long)]
    unit: Option<String>,
    /// Only overdue alerts.
    #[arg(long)]
    overdue: bool,
    /// Only alerts with a container, document, vessel (name or IMO), flight, train or plate number
    /// containing this text; case, spaces and '-' are ignored.
    #[arg(long)]
    search: Option<String>,
    /// Only alerts of this priority: routine, high or urgent.
    #[arg(long)]
    priority: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

/// Answer a received alert.
#[derive(Debug, clap::Args)]
pub(crate) struct AnswerArgs {
    /// The alert id, or a unique prefix of it (at least 4 characters).
    alert_id: String,
    /// The answering unit (needed when you act for several).
    #[arg(long)]
    unit: Option<String>,
    /// A note (required to decline: the reason).
    #[arg(long, default_value = "")]
    note: String,
}

/// Report an inspection outcome.
#[derive(Debug, clap::Args)]
pub(crate) struct OutcomeArgs {
    #[command(flatten)]
    answer: AnswerArgs,
    /// Goods seized, "DESCRIPTION:QUANTITY:UNIT[:HS CODE]"; repeat for several.
    #[arg(long, conflicts_with_all = ["nothing_found", "not_inspected", "did_not_arrive"])]
    seizure: Vec<String>,
    /// National case or seizure report number, with --seizure.
    #[arg(long, default_value = "")]
    case_reference: String,
    /// Inspected; nothing irregular found.
    #[arg(long)]
    nothing_found: bool,
    /// Not inspected, and why.
    #[arg(long)]
    not_inspected: Option<String>,
    /// The consignment never arrived.
    #[arg(long)]
    did_not_arrive: bool,
    /// A photo of what was found, or a document such as the seizure report; may be repeated.
    #[arg(long = "attach", value_name = "FILE")]
    attachments: Vec<PathBuf>,
    /// Correct the outcome recorded earlier: its response id, as `alert show` prints it. Needs --reason.
    #[arg(long, value_name = "RESPONSE_ID", requires = "reason")]
    corrects: Option<String>,
    /// Why the earlier outcome was wrong, with --corrects.
    #[arg(long, requires = "corrects")]
    reason: Option<String>,
}

/// Alert commands that talk to a node.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AlertCall {
    /// Sign and send an alert from a draft file.
    Send(SendArgs),
    /// List alerts you may see, newest first.
    List(ListArgs),
    /// Show one alert with its lifecycle per recipient.
    Show {
        /// The alert id, or a unique prefix of it (at least 4 characters).
        alert_id: String,
    },
    /// Follow events live (new alerts, deliveries, answers, overdue) until interrupted.
    Watch {
        /// Replay from this ledger index first (the last event's index + 1 to resume).
        #[arg(long)]
        resume_from: Option<u64>,
    },
    /// Acknowledge (accept) a received alert.
    Ack(AnswerArgs),
    /// Decline a received alert, with the reason as --note.
    Decline(AnswerArgs),
    /// Report the inspection outcome of an acknowledged alert, or correct it with --corrects.
    Outcome(OutcomeArgs),
    /// Save an attachment of an answer (a photo of an outcome) to a file.
    Attachment {
        /// The alert id, or a unique prefix of it (at least 4 characters).
        alert_id: String,
        /// The response id, as `alert show` prints it.
        response_id: String,
        /// Which attachment, from 0, in the order `alert show` lists them.
        index: u32,
        /// Where to write it; the attachment's own name in the current directory by default.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Commands about the node itself.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum NodeCall {
    /// Alerts whose acknowledgement deadline has passed.
    Overdue,
    /// Partner nodes: reachable, last contact, outbox depth, directory version.
    Peers,
    /// Who the node takes you for.
    Whoami,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn print_json<M: Serialize>(message: &M) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(message)?);
    Ok(())
}

/// A time for people: in the zone of the machine (`TZ`, else the system's), with its UTC offset,
/// e.g. `2026-11-29 16:30:05 +05:00`; `--json` keeps RFC 3339 in UTC.
pub(crate) fn time(ts: &Option<tulpar_proto::pbjson_types::Timestamp>) -> String {
    ts.as_ref()
        .and_then(from_timestamp)
        .map(local_time)
        .unwrap_or_else(|| "-".into())
}

/// `at` in the local zone with its offset; in UTC (RFC 3339) beyond the years a calendar writes.
pub(crate) fn local_time(at: std::time::SystemTime) -> String {
    let utc: Option<chrono::DateTime<chrono::Utc>> = at
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| chrono::DateTime::from_timestamp(i64::try_from(d.as_secs()).ok()?, 0));
    match utc {
        Some(utc) => utc
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        None => tulpar_trust::directory::fmt_time(at),
    }
}

fn state_name(state: i32) -> &'static str {
    match DeliveryState::try_from(state).unwrap_or(DeliveryState::Unspecified) {
        DeliveryState::Queued => "queued",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Acknowledged => "acknowledged",
        DeliveryState::Declined => "declined",
        DeliveryState::OutcomeRecorded => "outcome",
        DeliveryState::Undeliverable => "undeliverable",
        DeliveryState::Unspecified => "?",
    }
}

fn recipients_line(record: &proto::AlertRecord) -> String {
    record
        .recipients
        .iter()
        .map(|r| {
            let overdue = if r.overdue {
                format!(" {}", paint("OVERDUE", Tone::Bad))
            } else {
                String::new()
            };
            let tone = match DeliveryState::try_from(r.state) {
                Ok(DeliveryState::Queued | DeliveryState::Declined) => Tone::Warn,
                Ok(_) => Tone::Good,
                Err(_) => Tone::Bad,
            };
            format!(
                "{} {}{overdue}",
                r.country,
                paint(state_name(r.state), tone)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Damage to a node's ledger as people read it: where, and which entries.
pub(crate) fn damage_text(damage: &proto::LedgerDamage) -> String {
    let entries = match damage.end_index.saturating_sub(damage.first_index) {
        0 => "no entry lost".to_owned(),
        1 => format!("entry {} damaged", damage.first_index),
        _ => format!(
            "entries {}..{} damaged",
            damage.first_index, damage.end_index
        ),
    };
    format!(
        "segment {} at byte offset {}: {entries} ({})",
        damage.segment, damage.offset, damage.reason
    )
}

fn summary_row(record: &proto::AlertRecord) -> String {
    let alert = record.alert.clone().unwrap_or_default();
    let content = alert.content.unwrap_or_default();
    let direction = if record.direction == Direction::Sent as i32 {
        "sent"
    } else {
        "received"
    };
    if let Some(damage) = &record.damage {
        return format!(
            "{}  {:<9}  {} its ledger entry {} is unreadable on the node's disk: {}",
            record.alert_id,
            direction,
            paint("DAMAGED", Tone::Bad),
            record.ledger_index,
            damage_text(damage)
        );
    }
    let priority = content
        .priority()
        .as_str_name()
        .trim_start_matches("PRIORITY_");
    let category = content
        .category()
        .as_str_name()
        .trim_start_matches("THREAT_CATEGORY_");
    format!(
        "{}  {:<9}  {}  {:<8}  {:<22}  {:<20}  {}",
        alert.alert_id,
        direction,
        time(&alert.created_at),
        priority,
        category,
        content.origin.unwrap_or_default().unit,
        recipients_line(record)
    )
}

/// A code list's value for people: `THREAT_CATEGORY_CASH` → `cash`.
fn code_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .replace('_', " ")
        .to_lowercase()
}

/// Every part of an alert's content an officer reads, one labelled line each.
fn print_content(content: &proto::AlertContent) {
    let line = |label: &str, value: String| {
        if !value.trim().is_empty() {
            println!("  {label:<18} {value}");
        }
    };
    line(
        "transport",
        code_name(content.transport_mode().as_str_name(), "TRANSPORT_MODE_"),
    );
    if let Some(consignment) = &content.consignment {
        line("containers", consignment.containers.join(", "));
        if let Some(document) = &consignment.transport_document {
            line(
                "document",
                format!(
                    "{} {}",
                    code_name(document.kind().as_str_name(), "TRANSPORT_DOCUMENT_KIND_"),
                    document.number
                ),
            );
        }
        if let Some(conveyance) = &consignment.conveyance {
            if let Some(vessel) = &conveyance.vessel {
                line(
                    "vessel",
                    format!(
                        "{} IMO {} {}",
                        vessel.name, vessel.imo_number, vessel.voyage
                    ),
                );
            }
            line("flight", conveyance.flight_number.clone());
            line("train", conveyance.train_number.clone());
            line("vehicles", conveyance.vehicle_plates.join(", "));
        }
        if let Some(route) = &consignment.route {
            let place = |p: &Option<proto::RoutePlace>| {
                p.as_ref().map(|p| p.locode.clone()).unwrap_or_default()
            };
            let transit: Vec<String> = route.transit.iter().map(|p| p.locode.clone()).collect();
            line(
                "route",
                [
                    place(&route.loading),
                    transit.join(" → "),
                    place(&route.discharge),
                    place(&route.final_destination),
                ]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" → "),
            );
        }
        if let Some(parties) = &consignment.parties {
            for (label, party) in [
                ("shipper", &parties.shipper),
                ("consignee", &parties.consignee),
                ("notify party", &parties.notify_party),
                ("declarant", &parties.declarant),
            ] {
                if let Some(party) = party {
                    line(
                        label,
                        format!("{} ({}) {}", party.name, party.country, party.address),
                    );
                }
            }
        }
        for goods in &consignment.goods {
            let value = goods
                .declared_value
                .as_ref()
                .map(|v| format!(", {} {}", v.amount, v.currency))
                .unwrap_or_default();
            line(
                "goods",
                format!(
                    "{} (HS {}), {} {}, {} kg{value}",
                    goods.description,
                    goods.hs_code,
                    goods.packages,
                    goods.package_kind,
                    goods.gross_weight_kg
                ),
            );
        }
    }
    if let Some(risk) = &content.risk {
        let indicators: Vec<String> = risk
            .indicators()
            .map(|i| code_name(i.as_str_name(), "RISK_INDICATOR_"))
            .collect();
        line("risk", indicators.join(", "));
        line("risk notes", risk.notes.clone());
    }
    line(
        "requested",
        code_name(
            content.requested_action().as_str_name(),
            "REQUESTED_ACTION_",
        ),
    );
    if let Some(handling) = &content.handling {
        line(
            "handling",
            format!(
                "{}, source {}, information {}{}",
                code_name(handling.code().as_str_name(), "HANDLING_CODE_").to_uppercase(),
                code_name(
                    handling.source_reliability().as_str_name(),
                    "SOURCE_RELIABILITY_"
                )
                .to_uppercase(),
                code_name(
                    handling.information_accuracy().as_str_name(),
                    "INFORMATION_ACCURACY_"
                ),
                if handling.restrictions.is_empty() {
                    String::new()
                } else {
                    format!("; {}", handling.restrictions)
                }
            ),
        );
    }
    line("narrative", content.narrative.clone());
    for attachment in &content.attachments {
        line(
            "attachment",
            format!(
                "{} ({}, {} bytes)",
                attachment.file_name, attachment.media_type, attachment.size_bytes
            ),
        );
    }
}

/// What an answer said: the note of an acknowledgement, or the outcome with what was seized.
fn answer_line(response: &proto::AlertResponse) -> String {
    use proto::alert_response::Kind;
    use proto::outcome::Result as Found;
    match &response.kind {
        Some(Kind::Acknowledgement(ack)) if !ack.note.is_empty() => format!("  \"{}\"", ack.note),
        Some(Kind::Outcome(outcome)) => {
            let found = match &outcome.result {
                Some(Found::Seizure(seizure)) => {
                    let items: Vec<String> = seizure
                        .items
                        .iter()
                        .map(|i| {
                            let hs = if i.hs_code.is_empty() {
                                String::new()
                            } else {
                                format!(" (HS {})", i.hs_code)
                            };
                            format!("{} {} {}{hs}", i.description, i.quantity, i.unit)
                        })
                        .collect();
                    format!("seized: {}", items.join("; "))
                }
                Some(Found::NothingFound(_)) => "nothing found".to_owned(),
                Some(Found::NotInspected(not)) => format!("not inspected: {}", not.reason),
                Some(Found::DidNotArrive(_)) => "did not arrive".to_owned(),
                None => String::new(),
            };
            let note = if outcome.note.is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", outcome.note)
            };
            let correction = outcome.correction.as_ref().map_or(String::new(), |c| {
                format!(" (corrects {}: \"{}\")", c.corrects_response_id, c.reason)
            });
            let attached: Vec<String> = outcome
                .attachments
                .iter()
                .enumerate()
                .map(|(n, a)| format!("{n}: {} ({} bytes)", a.file_name, a.size_bytes))
                .collect();
            let attached = if attached.is_empty() {
                String::new()
            } else {
                format!(" [attached {}]", attached.join(", "))
            };
            format!(
                "  {found}{note}{correction}{attached} [response {}]",
                response.response_id
            )
        }
        _ => String::new(),
    }
}

/// What an event's alert is, for a watcher: priority, sender, first container, and the deadline while
/// an acknowledgement is awaited.
fn event_details(record: &proto::AlertRecord) -> String {
    let content = record
        .alert
        .as_ref()
        .and_then(|a| a.content.clone())
        .unwrap_or_default();
    let container = content
        .consignment
        .as_ref()
        .and_then(|c| c.containers.first().cloned())
        .unwrap_or_default();
    let awaited = record.recipients.iter().find(|r| {
        matches!(
            DeliveryState::try_from(r.state),
            Ok(DeliveryState::Queued | DeliveryState::Delivered)
        )
    });
    let deadline = awaited
        .map(|r| format!(", acknowledge by {}", time(&r.acknowledgement_deadline)))
        .unwrap_or_default();
    let priority = code_name(content.priority().as_str_name(), "PRIORITY_");
    let priority = if content.priority() == proto::Priority::Urgent {
        paint(&priority, Tone::Bad)
    } else {
        priority
    };
    format!(
        "  {priority} from {} {container}{deadline}",
        content.origin.unwrap_or_default().unit
    )
}

/// Before following live, what is waiting: alerts still to be acknowledged, and overdue ones.
async fn print_waiting(client: &mut Client) -> Result<()> {
    let request = proto::ListAlertsRequest {
        page_size: 100,
        state: DeliveryState::Delivered as i32,
        ..Default::default()
    };
    let waiting = call(client.list_alerts(request)).await?.alerts;
    let overdue = call(client.list_alerts(proto::ListAlertsRequest {
        page_size: 100,
        overdue_only: true,
        ..Default::default()
    }))
    .await?
    .alerts;
    let mut shown = Vec::new();
    for record in waiting.iter().chain(&overdue) {
        let id = record
            .alert
            .as_ref()
            .map(|a| a.alert_id.clone())
            .unwrap_or_default();
        if !shown.contains(&id) {
            println!("waiting  {}", summary_row(record));
            shown.push(id);
        }
    }
    if !shown.is_empty() {
        println!("-- live from here --");
    }
    Ok(())
}

/// The alert id `given` names: itself when whole, else the one visible alert it is a prefix of.
async fn full_alert_id(client: &mut Client, given: &str) -> Result<String> {
    let given = given.trim().to_lowercase();
    if given.len() == 36 {
        return Ok(given);
    }
    if given.len() < 4 {
        bail!("{given:?}: give at least 4 characters of the alert id");
    }
    let mut request = proto::ListAlertsRequest {
        page_size: 500,
        ..Default::default()
    };
    let mut found = Vec::new();
    // Bounded: at most 20 pages of the newest alerts are searched.
    for _ in 0..20 {
        let page = call(client.list_alerts(request.clone())).await?;
        found.extend(
            page.alerts
                .iter()
                .filter_map(|r| r.alert.as_ref().map(|a| a.alert_id.clone()))
                .filter(|id| id.starts_with(&given)),
        );
        if page.next_page_token.is_empty() || found.len() > 1 {
            break;
        }
        request.page_token = page.next_page_token;
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no alert you may see has an id starting with {given:?}"),
        many => bail!(
            "{given:?} starts {} alert ids ({}); give more of it",
            many.len(),
            many.join(", ")
        ),
    }
}

fn print_record(record: &proto::AlertRecord) {
    println!("{}", summary_row(record));
    if let Some(content) = record.alert.as_ref().and_then(|a| a.content.as_ref()) {
        print_content(content);
    }
    for recipient in &record.recipients {
        let units = if recipient.units.is_empty() {
            String::new()
        } else {
            format!(" ({})", recipient.units.join(", "))
        };
        let awaited = matches!(
            DeliveryState::try_from(recipient.state),
            Ok(DeliveryState::Queued | DeliveryState::Delivered)
        );
        let deadline = if awaited {
            format!(
                "; acknowledge by {}",
                time(&recipient.acknowledgement_deadline)
            )
        } else {
            String::new()
        };
        println!(
            "  {}{units}: {}{deadline}",
            recipient.country,
            state_name(recipient.state),
        );
        for event in &recipient.timeline {
            let what = if event.deadline_missed {
                "deadline missed"
            } else if !event.reason.is_empty() && event.state != DeliveryState::Undeliverable as i32
            {
                "response refused"
            } else {
                state_name(event.state)
            };
            let mut line = format!(
                "    {}  {:<15} ledger #{:<6} {}",
                time(&event.at),
                what,
                event.ledger_index,
                event.actor
            );
            if let Some(receipt) = &event.receipt {
                line.push_str(&format!(
                    "  [receipt: {} ledger #{}]",
                    receipt.recipient_country, receipt.ledger_index
                ));
            }
            if !event.reason.is_empty() {
                line.push_str(&format!("  [{}]", event.reason));
            }
            if let Some(response) = &event.response {
                line.push_str(&answer_line(response));
            }
            println!("{line}");
        }
    }
}

fn parse_seized(text: &str) -> Result<proto::SeizedItem> {
    let parts: Vec<&str> = text.split(':').collect();
    let (description, quantity, unit, hs_code) = match parts.as_slice() {
        [d, q, u] => (d, q, u, ""),
        [d, q, u, hs] => (d, q, u, *hs),
        _ => bail!("--seizure {text:?}: expected DESCRIPTION:QUANTITY:UNIT[:HS CODE]"),
    };
    let quantity: f64 = quantity
        .parse()
        .with_context(|| format!("--seizure {text:?}: {quantity:?} is not a number"))?;
    Ok(proto::SeizedItem {
        description: (*description).to_owned(),
        hs_code: hs_code.to_owned(),
        quantity,
        unit: (*unit).to_owned(),
    })
}

fn outcome_of(args: &OutcomeArgs) -> Result<proto::Outcome> {
    use proto::outcome::Result as R;
    let result = if !args.seizure.is_empty() {
        let items = args
            .seizure
            .iter()
            .map(|s| parse_seized(s))
            .collect::<Result<Vec<_>>>()?;
        R::Seizure(proto::Seizure {
            items,
            case_reference: args.case_reference.clone(),
        })
    } else if args.nothing_found {
        R::NothingFound(proto::NothingFound {})
    } else if let Some(reason) = &args.not_inspected {
        R::NotInspected(proto::NotInspected {
            reason: reason.clone(),
        })
    } else if args.did_not_arrive {
        R::DidNotArrive(proto::DidNotArrive {})
    } else {
        bail!(
            "say what happened: --seizure, --nothing-found, --not-inspected REASON or --did-not-arrive"
        );
    };
    let attachments = args
        .attachments
        .iter()
        .map(|path| attachment(path))
        .collect::<Result<Vec<_>>>()?;
    let correction = args
        .corrects
        .as_ref()
        .map(|corrects| proto::OutcomeCorrection {
            corrects_response_id: corrects.clone(),
            reason: args.reason.clone().unwrap_or_default(),
        });
    Ok(proto::Outcome {
        result: Some(result),
        note: args.answer.note.clone(),
        attachments,
        correction,
    })
}

/// Runs a call, printing a refused one's status and field violations.
pub(crate) async fn call<T>(
    future: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    future
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| anyhow::anyhow!("{}", describe(&status)))
}

async fn alert_call(mut client: Client, command: AlertCall, output: &Output) -> Result<()> {
    match command {
        AlertCall::Send(args) => {
            let mut content = read_draft(&args.draft)?;
            if !args.to.is_empty() {
                content.recipients = args
                    .to
                    .iter()
                    .map(|c| proto::Recipient {
                        country: c.trim().to_uppercase(),
                        units: Vec::new(),
                    })
                    .collect();
            }
            if let Some(unit) = args.unit {
                content.origin = Some(proto::Origin {
                    country: unit.get(..2).unwrap_or_default().to_owned(),
                    unit,
                });
            }
            for path in &args.attachments {
                content.attachments.push(attachment(path)?);
            }
            let request_id = args.request_id.unwrap_or_else(|| {
                tulpar_core::ids::AlertId::new_at(std::time::SystemTime::now()).to_string()
            });
            let response = call(client.submit_alert(proto::SubmitAlertRequest {
                request_id: request_id.clone(),
                content: Some(content),
            }))
            .await?;
            if output.json {
                return print_json(&response);
            }
            let again = if response.replayed {
                " (already sent with this request id)"
            } else {
                ""
            };
            println!("{}", response.alert_id);
            eprintln!(
                "sent{again}: ledger #{}, request id {request_id}",
                response.ledger_index
            );
        }
        AlertCall::List(args) => {
            let direction = match args.direction.as_deref() {
                None => Direction::Unspecified,
                Some("sent") => Direction::Sent,
                Some("received") => Direction::Received,
                Some(other) => bail!("--direction {other:?}: use sent or received"),
            };
            let priority = match args.priority.as_deref() {
                None => 0,
                Some(name) => {
                    let full = format!("PRIORITY_{}", name.to_uppercase());
                    proto::Priority::from_str_name(&full)
                        .filter(|p| *p != proto::Priority::Unspecified)
                        .map(|p| p as i32)
                        .with_context(|| {
                            format!("--priority {name:?}: use routine, high or urgent")
                        })?
                }
            };
            let mut request = proto::ListAlertsRequest {
                page_size: args.limit,
                direction: direction as i32,
                country: args.country.unwrap_or_default(),
                unit: args.unit.unwrap_or_default(),
                overdue_only: args.overdue,
                search: args.search.unwrap_or_default(),
                priority,
                ..Default::default()
            };
            // A page holds at most PAGE_BYTES of alerts, so it may end before `--limit`: follow the
            // pages until the limit is reached or none is left.
            let mut response = proto::ListAlertsResponse::default();
            loop {
                let page = call(client.list_alerts(request.clone())).await?;
                response.alerts.extend(page.alerts);
                response.next_page_token = page.next_page_token;
                let listed = u32::try_from(response.alerts.len()).unwrap_or(u32::MAX);
                if response.next_page_token.is_empty() || listed >= args.limit {
                    break;
                }
                request.page_size = args.limit - listed;
                request.page_token = response.next_page_token.clone();
            }
            if output.json {
                return print_json(&response);
            }
            if response.alerts.is_empty() {
                eprintln!("no alerts");
            } else {
                println!(
                    "{:<36}  {:<9}  {:<20}  {:<8}  {:<22}  {:<20}  recipients",
                    "alert", "direction", "created", "priority", "category", "origin"
                );
            }
            for record in &response.alerts {
                println!("{}", summary_row(record));
            }
        }
        AlertCall::Show { alert_id } => {
            let alert_id = full_alert_id(&mut client, &alert_id).await?;
            let record = call(client.get_alert(proto::GetAlertRequest { alert_id })).await?;
            if output.json {
                return print_json(&record);
            }
            print_record(&record);
        }
        AlertCall::Watch { resume_from } => {
            if resume_from.is_none() && !output.json {
                print_waiting(&mut client).await?;
            }
            let mut events = call(client.watch_alerts(proto::WatchAlertsRequest {
                resume_from,
                kinds: Vec::new(),
            }))
            .await?;
            while let Some(event) = events
                .message()
                .await
                .map_err(|s| anyhow::anyhow!("{}", describe(&s)))?
            {
                if output.json {
                    println!("{}", serde_json::to_string(&event)?);
                    continue;
                }
                let kind =
                    AlertEventKind::try_from(event.kind).unwrap_or(AlertEventKind::Unspecified);
                let kind = kind
                    .as_str_name()
                    .trim_start_matches("ALERT_EVENT_KIND_")
                    .to_lowercase();
                if let Some(evidence) = &event.equivocation {
                    println!(
                        "#{:<6} {}  {}: {} equivocated: {} (`tulpar audit alarms` shows the evidence)",
                        event.ledger_index,
                        time(&event.recorded_at),
                        paint("ALARM", Tone::Bad),
                        evidence.country,
                        evidence.reason
                    );
                    continue;
                }
                println!(
                    "#{:<6} {}  {:<16} {} {}{}",
                    event.ledger_index,
                    time(&event.recorded_at),
                    kind,
                    event.alert_id,
                    event.country,
                    event.alert.as_ref().map(event_details).unwrap_or_default()
                );
            }
        }
        AlertCall::Ack(args) => {
            answer(
                &mut client,
                args,
                proto::AcknowledgementDecision::Accepted,
                output,
            )
            .await?
        }
        AlertCall::Decline(args) => {
            answer(
                &mut client,
                args,
                proto::AcknowledgementDecision::Declined,
                output,
            )
            .await?
        }
        AlertCall::Outcome(args) => {
            let outcome = outcome_of(&args)?;
            let request = proto::RecordOutcomeRequest {
                request_id: String::new(),
                alert_id: full_alert_id(&mut client, &args.answer.alert_id).await?,
                unit: args.answer.unit.clone().unwrap_or_default(),
                outcome: Some(outcome),
            };
            let response = call(client.record_outcome(request)).await?;
            if output.json {
                return print_json(&response);
            }
            println!("{}", response.response_id);
            eprintln!(
                "outcome recorded (ledger #{}); it is on its way to the sender",
                response.ledger_index
            );
        }
        AlertCall::Attachment {
            alert_id,
            response_id,
            index,
            out,
        } => {
            let request = proto::GetResponseAttachmentRequest {
                alert_id: full_alert_id(&mut client, &alert_id).await?,
                response_id,
                index,
            };
            let attachment = call(client.get_response_attachment(request)).await?;
            // The name came from a partner: only its last component is used, never a path.
            let path = out.unwrap_or_else(|| {
                let name = std::path::Path::new(&attachment.file_name)
                    .file_name()
                    .map_or_else(|| "attachment".into(), |n| n.to_owned());
                PathBuf::from(name)
            });
            std::fs::write(&path, &attachment.content)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "{} ({}, {} bytes) written to {}",
                attachment.file_name,
                attachment.media_type,
                attachment.content.len(),
                path.display()
            );
        }
    }
    Ok(())
}

async fn answer(
    client: &mut Client,
    args: AnswerArgs,
    decision: proto::AcknowledgementDecision,
    output: &Output,
) -> Result<()> {
    let request = proto::AcknowledgeRequest {
        request_id: String::new(),
        alert_id: full_alert_id(client, &args.alert_id).await?,
        unit: args.unit.unwrap_or_default(),
        acknowledgement: Some(proto::Acknowledgement {
            decision: decision as i32,
            note: args.note,
        }),
    };
    let response = call(client.acknowledge(request)).await?;
    if output.json {
        return print_json(&response);
    }
    println!("{}", response.response_id);
    eprintln!(
        "recorded (ledger #{}); it is on its way to the sender",
        response.ledger_index
    );
    Ok(())
}

async fn node_call(mut client: Client, command: NodeCall, output: &Output) -> Result<()> {
    match command {
        NodeCall::Overdue => {
            // Every page: one holds at most PAGE_BYTES of alerts.
            let mut response = proto::ListOverdueResponse::default();
            loop {
                let page = call(client.list_overdue(proto::ListOverdueRequest {
                    page_token: response.next_page_token.clone(),
                    ..Default::default()
                }))
                .await?;
                response.overdue.extend(page.overdue);
                response.next_page_token = page.next_page_token;
                if response.next_page_token.is_empty() {
                    break;
                }
            }
            if output.json {
                return print_json(&response);
            }
            if response.overdue.is_empty() {
                eprintln!("nothing overdue");
            }
            for item in &response.overdue {
                if let Some(record) = &item.alert {
                    println!(
                        "{}  {} was due {}",
                        summary_row(record),
                        item.country,
                        time(&item.deadline)
                    );
                }
            }
        }
        NodeCall::Peers => {
            let response = call(client.list_peers(proto::ListPeersRequest {})).await?;
            if output.json {
                return print_json(&response);
            }
            println!(
                "{:<3} {:<10} {:<26} {:<26} {:>7} {:>13} {:>9} {:>9}  endpoint / last error / last refused",
                "cc",
                "reachable",
                "last contact",
                "last delivery",
                "outbox",
                "undeliverable",
                "directory",
                "cosigned"
            );
            for peer in &response.peers {
                let mut detail = if peer.last_error.is_empty() {
                    peer.endpoints.join(", ")
                } else {
                    peer.last_error.clone()
                };
                if !peer.last_undeliverable_reason.is_empty() {
                    detail.push_str(&format!(
                        "; last refused: {}",
                        peer.last_undeliverable_reason
                    ));
                }
                let reachable = if peer.reachable {
                    paint(&format!("{:<10}", "yes"), Tone::Good)
                } else {
                    paint(&format!("{:<10}", "no"), Tone::Bad)
                };
                if peer.cosigned_size > 0 {
                    detail.push_str(&format!("; cosigned {}", time(&peer.cosigned_at)));
                }
                println!(
                    "{:<3} {reachable} {:<26} {:<26} {:>7} {:>13} {:>9} {:>9}  {detail}",
                    peer.country,
                    time(&peer.last_contact),
                    time(&peer.last_delivery),
                    peer.outbox_depth,
                    peer.undeliverable,
                    format!("v{}", peer.directory_version),
                    if peer.cosigned_size > 0 {
                        format!("#{}", peer.cosigned_size)
                    } else {
                        "-".to_owned()
                    },
                );
            }
        }
        NodeCall::Whoami => {
            let response = call(client.who_am_i(proto::WhoAmIRequest {})).await?;
            if output.json {
                return print_json(&response);
            }
            let units = if response.units.is_empty() {
                String::new()
            } else {
                format!(" for {}", response.units.join(", "))
            };
            println!(
                "{} ({} of {}{units})",
                response.principal, response.role, response.country
            );
        }
    }
    Ok(())
}

/// Runs an alert command against the node.
pub(crate) fn run_alert(
    connection: &Connection,
    output: &Output,
    command: AlertCall,
) -> Result<ExitCode> {
    runtime()?.block_on(async { alert_call(connection.connect()?, command, output).await })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a node command.
pub(crate) fn run_node(
    connection: &Connection,
    output: &Output,
    command: NodeCall,
) -> Result<ExitCode> {
    runtime()?.block_on(async { node_call(connection.connect()?, command, output).await })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tulpar_core::time::to_timestamp;

    #[test]
    fn seized_items_read_description_quantity_unit_and_hs_code() {
        let item = parse_seized("Heroin:12.5:kg:293911").unwrap();
        assert_eq!(
            (item.description.as_str(), item.quantity, item.unit.as_str()),
            ("Heroin", 12.5, "kg")
        );
        assert_eq!(item.hs_code, "293911");
        assert!(
            parse_seized("Heroin:lots:kg")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(parse_seized("Heroin").is_err());
    }

    #[test]
    fn timestamps_print_in_utc() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert!(time(&Some(to_timestamp(at))).starts_with("2026-"));
        assert_eq!(time(&None), "-");
    }
}
