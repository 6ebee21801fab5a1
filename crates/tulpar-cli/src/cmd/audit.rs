//! `tulpar audit`: a focal point's checks of a node — verification that needs no trust in the node,
//! reconciliation with a partner, exchange reports, alarms.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressStyle};
use tulpar_audit::report::{category_name, direction_name, priority_name, report_csv};
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::PublicKey;
use tulpar_core::proto::{
    self, Priority, ReconcileFindingKind, ThreatCategory, VerifyLedgerProgress,
};
use tulpar_core::time::{fmt_duration, to_timestamp};
use tulpar_ledger::note::{self, SignedCheckpoint};
use tulpar_ledger::{Frontier, Hash, leaf_hash, verify_consistency_proof};
use tulpar_trust::TrustStore;
use tulpar_trust::keyfile;

use super::alerts::{Output, call, damage_text, print_json, runtime, time};
use crate::client::{AuditClient, Connection};
use crate::paint::{Tone, paint};

/// Entries asked for per `GetEntries` call.
const PAGE: u64 = 1000;

/// Audit a node (focal points).
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Verify the node's ledger without trusting the node: download every entry, recompute the Merkle
    /// root, check the signed checkpoint (and the one partners cosigned), check consistency with a
    /// checkpoint saved earlier, and have the node re-check every entry's signatures.
    ///
    /// Exits with 1 when anything does not verify.
    Verify(VerifyArgs),
    /// Match exchanges with a partner over a period against delivery receipts; exits with 1 when there
    /// are findings (unmatched, late or inconsistent).
    Reconcile(ReconcileArgs),
    /// Counts and timings of exchanges with partners over a period, as a table, CSV or JSON.
    Report(ReportArgs),
    /// Evidence of partners' ledgers forking (equivocation), oldest first.
    Alarms,
}

/// Verify a node's ledger.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("checkpoint_key").required(true).args(["ledger_key", "directory"])))]
pub(crate) struct VerifyArgs {
    /// The node's ledger public key (PEM), obtained other than from the node: e.g. its `ledger.pub`
    /// copied at set-up. Repeat for each key a node whose key was rotated has signed with; the
    /// latest checkpoint may be signed by any of them.
    #[arg(long)]
    ledger_key: Vec<PathBuf>,
    /// Instead of --ledger-key: the country's signed directory (`public/directory.env`), whose
    /// checkpoint keys are trusted once it verifies against --root-key.
    #[arg(long, requires = "root_key")]
    directory: Option<PathBuf>,
    /// The country's root public key (`public/root.pub`), for --directory.
    #[arg(long, requires = "directory")]
    root_key: Option<PathBuf>,
    /// A checkpoint note saved by an earlier `--save`: the ledger must have grown from it, not changed.
    /// If the file does not exist yet, this is the first audit: it says so and writes the checkpoint
    /// there once everything verifies.
    #[arg(long)]
    previous: Option<PathBuf>,
    /// Write the verified checkpoint note here, for the next run's `--previous`.
    #[arg(long)]
    save: Option<PathBuf>,
    /// A trust store holding the partners' directories (e.g. the node's `trust/` folder): checks the
    /// partners' cosignatures on the witnessed checkpoint.
    #[arg(long)]
    trust: Option<PathBuf>,
    /// Skip the node's own re-check of every entry's signatures.
    #[arg(long)]
    skip_node_check: bool,
}

/// A period, by alert creation time.
#[derive(Debug, clap::Args)]
pub(crate) struct PeriodArgs {
    /// Period start, inclusive: a date (2026-07-01, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    from: SystemTime,
    /// Period end, exclusive: a date (2026-10-01) or an RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    to: SystemTime,
}

/// Reconcile with a partner.
#[derive(Debug, clap::Args)]
pub(crate) struct ReconcileArgs {
    /// The partner country, e.g. UZ.
    #[arg(long)]
    partner: String,
    #[command(flatten)]
    period: PeriodArgs,
    /// A delivery later than this after creation is a finding ("30m", "4h", "1d").
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    late_after: Duration,
}

/// An exchange report.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// Only this partner country; default: every partner.
    #[arg(long)]
    partner: Option<String>,
    #[command(flatten)]
    period: PeriodArgs,
    /// Print CSV (one line per partner and direction) instead of a table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

/// Reads "2026-07-01" as midnight UTC, or an RFC 3339 time.
fn parse_time(text: &str) -> Result<SystemTime, String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(parsed) => parsed,
        Err(_) => {
            let parts: Vec<&str> = text.split('-').collect();
            let number = |i: usize| parts.get(i).and_then(|p| p.parse::<i32>().ok());
            let date = match (parts.len(), number(0), number(1), number(2)) {
                (3, Some(y), Some(m), Some(d)) => time::Month::try_from(m as u8)
                    .ok()
                    .and_then(|m| time::Date::from_calendar_date(y, m, d as u8).ok()),
                _ => None,
            };
            date.ok_or_else(|| format!("{text:?} is not a date (2026-07-01) or an RFC 3339 time"))?
                .midnight()
                .assume_utc()
        }
    };
    let seconds = parsed.unix_timestamp();
    Ok(if seconds >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    })
}

/// Runs an audit command.
pub(crate) fn run(connection: &Connection, output: &Output, args: Args) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connection.connect_audit()?;
        match args {
            Args::Verify(args) => verify(client, output, args).await,
            Args::Reconcile(args) => reconcile(client, output, args).await,
            Args::Report(args) => report(client, output, args).await,
            Args::Alarms => alarms(client, output).await,
        }
    })
}

fn progress_bar(what: &str) -> Result<ProgressBar> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what:<20} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} ({{eta}})"
        ))
        .context("progress bar template")?,
    );
    Ok(bar)
}

/// One check of a verification.
#[derive(serde::Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

/// Every check of a verification, for the summary.
#[derive(Default, serde::Serialize)]
struct Verdict {
    verified: bool,
    checks: Vec<Check>,
}

impl Verdict {
    fn pass(&mut self, what: &str, detail: String) {
        self.checks.push(Check {
            check: what.to_owned(),
            ok: true,
            detail,
        });
    }

    fn fail(&mut self, what: &str, detail: String) {
        self.checks.push(Check {
            check: what.to_owned(),
            ok: false,
            detail,
        });
    }

    fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect()
    }
}

fn short(hash: &[u8]) -> String {
    let text = STANDARD.encode(hash);
    format!("{}…", &text[..12.min(text.len())])
}

/// The ledger keys checkpoints may be signed with.
struct LedgerKeys {
    /// For the latest checkpoint: the keys given, or the checkpoint keys valid now in the directory.
    now: Vec<PublicKey>,
    /// For earlier checkpoints (cosigned, saved by an earlier audit): also the directory's checkpoint
    /// keys closed since, as a node whose key was rotated signed them.
    any: Vec<PublicKey>,
}

/// The ledger keys checkpoints may be signed with: those given, or the checkpoint keys of a
/// directory that verifies against the country's root.
fn ledger_keys(args: &VerifyArgs) -> Result<LedgerKeys> {
    if !args.ledger_key.is_empty() {
        let keys = args
            .ledger_key
            .iter()
            .map(|path| keyfile::read_public_key(path).context("--ledger-key"))
            .collect::<Result<Vec<_>>>()?;
        return Ok(LedgerKeys {
            now: keys.clone(),
            any: keys,
        });
    }
    let (Some(path), Some(root)) = (&args.directory, &args.root_key) else {
        anyhow::bail!("give --ledger-key, or --directory with --root-key");
    };
    let root = keyfile::read_public_key(root).context("--root-key")?;
    let bytes = std::fs::read(path)
        .with_context(|| format!("--directory: cannot read {}", path.display()))?;
    let envelope = <proto::Envelope as prost::Message>::decode(bytes.as_slice())
        .with_context(|| format!("--directory: {} is not a signed directory", path.display()))?;
    let claimed: proto::CountryDirectory = tulpar_core::envelope::decode_recorded(
        &envelope,
        tulpar_core::envelope::PayloadType::Directory,
    )
    .context("--directory")?;
    let country = CountryCode::parse(&claimed.country).context("--directory: country")?;
    let directory = tulpar_trust::directory::verify_directory(&envelope, &root, country)
        .context("--directory")?;
    let now = SystemTime::now();
    let purpose = tulpar_trust::directory::Purpose::Checkpoint;
    let keys = |valid_now: bool| {
        directory
            .node_keys()
            .iter()
            .filter(|k| match valid_now {
                true => directory.check_node_key(&k.key_id, purpose, now).is_ok(),
                false => k.purposes.contains(&purpose),
            })
            .map(|k| k.public_key)
            .collect()
    };
    Ok(LedgerKeys {
        now: keys(true),
        any: keys(false),
    })
}

async fn verify(mut client: AuditClient, output: &Output, args: VerifyArgs) -> Result<ExitCode> {
    let keys = ledger_keys(&args)?;
    let mut verdict = Verdict::default();
    let checkpoints =
        call(client.get_latest_checkpoint(proto::GetLatestCheckpointRequest {})).await?;
    let note_text = checkpoints
        .checkpoint
        .as_ref()
        .map(|c| c.note.clone())
        .context("the node sent no checkpoint")?;
    let verified = keys
        .now
        .iter()
        .find_map(|key| SignedCheckpoint::verify(&note_text, None, key).ok());
    let Some(checkpoint) = verified else {
        eprintln!(
            "the node's checkpoint is not signed by {}",
            if !args.ledger_key.is_empty() {
                "--ledger-key"
            } else {
                "a checkpoint key of the directory"
            }
        );
        return Ok(ExitCode::FAILURE);
    };
    verdict.pass(
        "checkpoint",
        format!(
            "{} size {}, root {}, signed by the ledger key",
            checkpoint.origin(),
            checkpoint.size(),
            short(checkpoint.root())
        ),
    );
    let cosigned = checkpoints
        .cosigned_checkpoint
        .as_ref()
        .filter(|c| !c.note.is_empty());
    let cosigned_size = cosigned.map(|c| c.size).filter(|s| *s <= checkpoint.size());

    // Every entry, hashed here: the root must be the signed one.
    let bar = progress_bar("downloading entries")?;
    bar.set_length(checkpoint.size());
    let downloaded = download(&mut client, &bar, checkpoint.size(), cosigned_size).await;
    bar.finish_and_clear();
    let root_at_cosigned = match downloaded {
        Err(error) => {
            verdict.fail("entries", error);
            None
        }
        Ok((root, _)) if root != *checkpoint.root() => {
            verdict.fail(
                "entries",
                format!(
                    "recomputed root {} of {} entries differs from the checkpoint's {}",
                    short(&root),
                    checkpoint.size(),
                    short(checkpoint.root())
                ),
            );
            None
        }
        Ok((_, root_at_cosigned)) => {
            verdict.pass(
                "entries",
                format!(
                    "{} downloaded; recomputed root matches the checkpoint",
                    checkpoint.size()
                ),
            );
            root_at_cosigned
        }
    };

    match cosigned {
        None => verdict.pass("witnessed", "no checkpoint cosigned by partners yet".into()),
        Some(cosigned) => witnessed(
            &mut verdict,
            &keys.any,
            cosigned,
            &checkpoints,
            root_at_cosigned,
            args.trust.as_deref(),
        ),
    }

    let first_audit = match &args.previous {
        Some(path) => {
            since_previous(&mut client, &mut verdict, &keys.any, &checkpoint, path).await?
        }
        None => false,
    };

    segments(&mut client, &mut verdict).await?;

    if !args.skip_node_check {
        node_check(&mut client, &mut verdict).await?;
    }

    // A first audit saves its checkpoint where the next one will look for it.
    let save = match (&args.save, &args.previous) {
        (Some(path), _) => Some(path),
        (None, Some(path)) if first_audit => Some(path),
        _ => None,
    };
    if let Some(path) = save {
        if verdict.failures().is_empty() {
            std::fs::write(path, checkpoint.note())
                .with_context(|| format!("--save: cannot write {}", path.display()))?;
            verdict.pass(
                "saved",
                format!("checkpoint note written to {}", path.display()),
            );
        }
    }
    finish(output, verdict)
}

/// Downloads entries `0..size`, checks each decoded form against its stored bytes, and returns the
/// recomputed root, and the root at `cosigned_size` on the way.
async fn download(
    client: &mut AuditClient,
    bar: &ProgressBar,
    size: u64,
    cosigned_size: Option<u64>,
) -> Result<(Hash, Option<Hash>), String> {
    let mut frontier = Frontier::default();
    let mut root_at_cosigned = None;
    while frontier.size() < size {
        let start = frontier.size();
        let page = client
            .get_entries(proto::GetEntriesRequest {
                start,
                end: size.min(start + PAGE),
            })
            .await
            .map_err(|status| {
                format!(
                    "the node could not serve entries from {start}: {}",
                    crate::client::describe(&status)
                )
            })?
            .into_inner();
        if page.entries.is_empty() {
            return Err(format!(
                "the node returned no entries from {start} although its checkpoint has {size}"
            ));
        }
        for entry in page.entries {
            if entry.index != frontier.size() {
                return Err(format!(
                    "expected entry {}, the node sent {}",
                    frontier.size(),
                    entry.index
                ));
            }
            let decoded = <proto::LedgerEntry as prost::Message>::decode(entry.raw.as_slice());
            if decoded.ok() != entry.entry {
                return Err(format!(
                    "entry {}: the decoded form differs from the stored bytes",
                    entry.index
                ));
            }
            frontier.push_leaf(leaf_hash(&entry.raw));
            if Some(frontier.size()) == cosigned_size {
                root_at_cosigned = Some(frontier.root());
            }
            if frontier.size() == size {
                break;
            }
        }
        bar.set_position(frontier.size());
    }
    Ok((frontier.root(), root_at_cosigned))
}

/// Checks the witnessed checkpoint: signed by the ledger key, part of the same history, and each
/// cosignature a C2SP `cosignature/v1` by the key it names; with a trust store, a partner's key must
/// also be its node's key there. Lists every cosignature with its time, and the policy.
fn witnessed(
    verdict: &mut Verdict,
    keys: &[PublicKey],
    cosigned: &proto::Checkpoint,
    checkpoints: &proto::GetLatestCheckpointResponse,
    root_here: Option<Hash>,
    trust: Option<&std::path::Path>,
) {
    let checked = match tulpar_ledger::verify_any(&cosigned.note, None, keys) {
        Ok(checked) => checked,
        Err(error) => {
            return verdict.fail(
                "witnessed",
                format!("the cosigned checkpoint's own signature: {error}"),
            );
        }
    };
    if root_here != Some(*checked.root()) {
        return verdict.fail(
            "witnessed",
            format!(
                "the checkpoint partners cosigned (size {}) is not part of the history downloaded",
                checked.size()
            ),
        );
    }
    let store = match trust
        .map(|dir| TrustStore::open(dir, std::sync::Arc::new(tulpar_core::time::SystemClock)))
        .transpose()
    {
        Ok(store) => store,
        Err(error) => return verdict.fail("witnessed", format!("--trust: {error}")),
    };
    let mut lines = Vec::new();
    for cosignature in &checkpoints.cosignatures {
        let who = if cosignature.country.is_empty() {
            format!("external witness {}", cosignature.name)
        } else {
            format!("{} ({})", cosignature.country, cosignature.name)
        };
        let vkey = match note::VerifierKey::parse(&cosignature.key) {
            Ok(vkey)
                if vkey.kind == note::VerifierKind::Cosigner && vkey.name == cosignature.name =>
            {
                vkey
            }
            Ok(_) => {
                return verdict.fail(
                    "witnessed",
                    format!("{who}: {:?} is not its cosignature/v1 key", cosignature.key),
                );
            }
            Err(error) => return verdict.fail("witnessed", format!("{who}: {error}")),
        };
        let time = match note::verify_cosignature(&cosigned.note, &vkey.name, &vkey.key) {
            Ok(time) => time,
            Err(error) => {
                return verdict.fail("witnessed", format!("the cosignature of {who}: {error}"));
            }
        };
        let mut checked_against = "";
        if let Some(store) = &store
            && let Ok(country) = CountryCode::parse(&cosignature.country)
        {
            let known = store
                .directory(country)
                .is_some_and(|d| d.node_keys().iter().any(|k| k.public_key == vkey.key));
            if !known {
                return verdict.fail(
                    "witnessed",
                    format!("{who}: its key is not a node key of {country} in --trust"),
                );
            }
            checked_against = ", a node key of its directory";
        }
        let at = tulpar_trust::directory::fmt_time(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(time),
        );
        lines.push(format!(
            "{who} at {at}, key {}{checked_against}",
            cosignature.key
        ));
    }
    let policy = format!(
        "{} as the policy asks ({} cosignatures, {} needed)",
        if checkpoints.witnessed {
            "witnessed"
        } else {
            "not yet witnessed"
        },
        checkpoints.cosignatures.len(),
        checkpoints.quorum
    );
    let mut detail = format!(
        "size {} cosigned by {}; part of the same history; every cosignature verified \
         (cosignature/v1); {policy}",
        checked.size(),
        checkpoints.witnesses.join(", ")
    );
    for line in lines {
        // Under the detail column of the human output.
        detail.push_str("\n                   ");
        detail.push_str(&line);
    }
    verdict.pass("witnessed", detail);
}

async fn since_previous(
    client: &mut AuditClient,
    verdict: &mut Verdict,
    keys: &[PublicKey],
    checkpoint: &SignedCheckpoint,
    path: &std::path::Path,
) -> Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            verdict.pass(
                "since previous",
                format!(
                    "first audit: {} does not exist yet, so there is no earlier checkpoint to \
                     compare with; this one (size {}) is the baseline the next audit checks",
                    path.display(),
                    checkpoint.size()
                ),
            );
            return Ok(true);
        }
        Err(e) => bail!("--previous: cannot read {}: {e}", path.display()),
    };
    let previous = match tulpar_ledger::verify_any(&text, Some(checkpoint.origin()), keys) {
        Ok(previous) => previous,
        Err(error) => {
            verdict.fail("since previous", format!("{}: {error}", path.display()));
            return Ok(false);
        }
    };
    if previous.size() > checkpoint.size() {
        verdict.fail(
            "since previous",
            format!(
                "the ledger shrank from {} to {} entries",
                previous.size(),
                checkpoint.size()
            ),
        );
        return Ok(false);
    }
    let consistent = if previous.size() == checkpoint.size() {
        previous.root() == checkpoint.root()
    } else {
        let proof = call(
            client.get_consistency_proof(proto::GetConsistencyProofRequest {
                old_size: previous.size(),
                new_size: checkpoint.size(),
            }),
        )
        .await?;
        verify_consistency_proof(&proof, previous.root(), checkpoint.root()).is_ok()
    };
    if consistent {
        verdict.pass(
            "since previous",
            format!(
                "size {} → {}: only appended to",
                previous.size(),
                checkpoint.size()
            ),
        );
    } else {
        verdict.fail(
            "since previous",
            format!(
                "size {} → {}: NOT consistent: the history saved earlier was changed",
                previous.size(),
                checkpoint.size()
            ),
        );
    }
    Ok(false)
}

/// Damage the node found in its own segments since it started (its check at start, or reads).
async fn segments(client: &mut AuditClient, verdict: &mut Verdict) -> Result<()> {
    let alarms = call(client.list_alarms(proto::ListAlarmsRequest {})).await?;
    let damage: Vec<String> = alarms
        .alarms
        .iter()
        .filter_map(|alarm| alarm.damage.as_ref().map(damage_text))
        .collect();
    match (damage.is_empty(), alarms.ledger_checked) {
        (false, _) => verdict.fail(
            "segments",
            format!("the node found damage in its ledger: {}", damage.join("; ")),
        ),
        (true, true) => verdict.pass(
            "segments",
            "the node checked every segment since it started: no damage".into(),
        ),
        (true, false) => verdict.pass(
            "segments",
            "no damage found; the node is still checking its closed segments".into(),
        ),
    }
    Ok(())
}

/// The node's own re-check of every entry, streamed with progress.
async fn node_check(client: &mut AuditClient, verdict: &mut Verdict) -> Result<()> {
    let mut stream = call(client.verify_ledger(proto::VerifyLedgerRequest {})).await?;
    let bar = progress_bar("node re-checking")?;
    let mut last: Option<VerifyLedgerProgress> = None;
    while let Some(message) = stream
        .message()
        .await
        .map_err(|status| anyhow::anyhow!("{}", crate::client::describe(&status)))?
    {
        bar.set_length(message.total);
        bar.set_position(message.checked);
        if message.done {
            last = Some(message);
            break;
        }
    }
    bar.finish_and_clear();
    let Some(last) = last else {
        verdict.fail("node check", "the stream ended without a result".into());
        return Ok(());
    };
    if !last.ok {
        verdict.fail("node check", last.error);
        return Ok(());
    }
    let mut detail = format!(
        "{} entries: every hash, checkpoint and entry signature holds",
        last.checked
    );
    if !last.revoked_signatures.is_empty() {
        let listed: Vec<String> = last
            .revoked_signatures
            .iter()
            .map(|r| {
                format!(
                    "entry {} by key {} (revoked {})",
                    r.index,
                    r.key_id,
                    time(&r.revoked_at)
                )
            })
            .collect();
        detail.push_str(&format!(
            "; signed with keys revoked at the time: {}",
            listed.join(", ")
        ));
    }
    verdict.pass("node check", detail);
    Ok(())
}

fn finish(output: &Output, mut verdict: Verdict) -> Result<ExitCode> {
    let failures = verdict.failures();
    verdict.verified = failures.is_empty();
    if output.json {
        print_json(&verdict)?;
    } else {
        for check in &verdict.checks {
            let mark = if check.ok {
                String::new()
            } else {
                format!("{} ", paint("FAILED:", Tone::Bad))
            };
            println!("{:<16} {mark}{}", check.check, check.detail);
        }
        if failures.is_empty() {
            println!("{}", paint("verified", Tone::Good));
        } else {
            println!(
                "{}: {}",
                paint("NOT VERIFIED", Tone::Bad),
                failures.join("; ")
            );
        }
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn period_line(from: SystemTime, to: SystemTime) -> String {
    format!(
        "{} – {}",
        tulpar_trust::directory::fmt_time(from),
        tulpar_trust::directory::fmt_time(to)
    )
}

/// What the report or reconciliation is anchored to.
fn checkpoint_lines(checkpoints: Option<&proto::GetLatestCheckpointResponse>) -> Vec<String> {
    let Some(checkpoints) = checkpoints else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if let Some(latest) = &checkpoints.checkpoint {
        lines.push(format!(
            "from {}'s ledger up to size {} (root {})",
            latest.origin,
            latest.size,
            short(&latest.root_hash)
        ));
    }
    match &checkpoints.cosigned_checkpoint {
        Some(cosigned) => lines.push(format!(
            "witnessed: size {} (root {}) cosigned by {}",
            cosigned.size,
            short(&cosigned.root_hash),
            checkpoints.witnesses.join(", ")
        )),
        None => lines.push("witnessed: no checkpoint cosigned by partners yet".into()),
    }
    lines
}

async fn reconcile(
    mut client: AuditClient,
    output: &Output,
    args: ReconcileArgs,
) -> Result<ExitCode> {
    let report = call(client.reconcile(proto::ReconcileRequest {
        partner: args.partner,
        from: Some(to_timestamp(args.period.from)),
        to: Some(to_timestamp(args.period.to)),
        late_after_seconds: u32::try_from(args.late_after.as_secs()).unwrap_or(u32::MAX),
    }))
    .await?;
    if output.json {
        print_json(&report)?;
    } else {
        println!(
            "reconciliation with {}, {}",
            report.partner,
            period_line(args.period.from, args.period.to)
        );
        println!(
            "  sent      {:>6}  with a valid receipt from {}: {}",
            report.sent, report.partner, report.sent_receipted
        );
        println!(
            "  received  {:>6}  receipted by this node: {}",
            report.received, report.received_receipted
        );
        for line in checkpoint_lines(report.checkpoints.as_ref()) {
            println!("  {line}");
        }
        if report.findings.is_empty() {
            println!(
                "no findings: everything is matched by a valid, timely receipt (late means after {})",
                fmt_duration(args.late_after)
            );
        } else {
            println!("{} findings:", report.findings.len());
            for finding in &report.findings {
                let kind = match ReconcileFindingKind::try_from(finding.kind) {
                    Ok(ReconcileFindingKind::MissingReceipt) => "MISSING RECEIPT",
                    Ok(ReconcileFindingKind::ReceiptNotIssued) => "RECEIPT NOT ISSUED",
                    Ok(ReconcileFindingKind::Late) => "LATE",
                    Ok(ReconcileFindingKind::Inconsistent) => "INCONSISTENT",
                    _ => "UNKNOWN",
                };
                println!(
                    "  {} entry {:<8} {}",
                    paint(&format!("{kind:<18}"), Tone::Bad),
                    finding.ledger_index,
                    finding.detail
                );
            }
        }
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn seconds(value: f64) -> String {
    fmt_duration(Duration::from_secs_f64(value.max(0.0)))
}

fn report_table(report: &proto::ExchangeReport, from: SystemTime, to: SystemTime) -> String {
    let mut out = format!("exchange report, {}\n", period_line(from, to));
    if report.rows.is_empty() {
        out.push_str("no alerts exchanged in this period\n");
    } else {
        out.push_str(&format!(
            "{:<7} {:<8} {:>6} {:>9} {:>17} {:>9} {:>8} {:>17} {:>7} {:>7} {:>7} {:>7} {:>7}\n",
            "partner",
            "dir",
            "alerts",
            "delivered",
            "delivery med/p90",
            "answered",
            "declined",
            "answer med/p90",
            "seized",
            "nothing",
            "not-ins",
            "no-show",
            "overdue"
        ));
        for row in &report.rows {
            out.push_str(&format!(
                "{:<7} {:<8} {:>6} {:>9} {:>17} {:>9} {:>8} {:>17} {:>7} {:>7} {:>7} {:>7} {:>7}\n",
                row.partner,
                direction_name(row.direction),
                row.alerts,
                row.delivered,
                format!(
                    "{} / {}",
                    seconds(row.delivery_seconds_median),
                    seconds(row.delivery_seconds_p90)
                ),
                row.acknowledged,
                row.declined,
                format!(
                    "{} / {}",
                    seconds(row.acknowledgement_seconds_median),
                    seconds(row.acknowledgement_seconds_p90)
                ),
                row.outcomes_seizure,
                row.outcomes_nothing_found,
                row.outcomes_not_inspected,
                row.outcomes_did_not_arrive,
                row.overdue
            ));
            let by_category: Vec<String> = row
                .by_category
                .iter()
                .filter_map(|n| {
                    let c = ThreatCategory::try_from(n.category).ok()?;
                    Some(format!("{} {}", category_name(c), n.count))
                })
                .collect();
            let by_priority: Vec<String> = row
                .by_priority
                .iter()
                .filter_map(|n| {
                    let p = Priority::try_from(n.priority).ok()?;
                    Some(format!("{} {}", priority_name(p), n.count))
                })
                .collect();
            out.push_str(&format!(
                "{:<16} by category: {}; by priority: {}\n",
                "",
                by_category.join(", "),
                by_priority.join(", ")
            ));
        }
    }
    for line in checkpoint_lines(report.checkpoints.as_ref()) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn report(mut client: AuditClient, output: &Output, args: ReportArgs) -> Result<ExitCode> {
    let report = call(client.get_exchange_report(proto::ExchangeReportRequest {
        partner: args.partner.unwrap_or_default(),
        from: Some(to_timestamp(args.period.from)),
        to: Some(to_timestamp(args.period.to)),
    }))
    .await?;
    if output.json {
        print_json(&report)?;
    } else if args.csv {
        print!("{}", report_csv(&report));
    } else {
        print!(
            "{}",
            report_table(&report, args.period.from, args.period.to)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn alarms(mut client: AuditClient, output: &Output) -> Result<ExitCode> {
    let response = call(client.list_alarms(proto::ListAlarmsRequest {})).await?;
    if output.json {
        print_json(&response)?;
        return Ok(ExitCode::SUCCESS);
    }
    if response.alarms.is_empty() {
        println!("no alarms");
    }
    for alarm in &response.alarms {
        if let Some(damage) = &alarm.damage {
            println!(
                "{} found at {}: this node's ledger is damaged: {}",
                paint("ALARM", Tone::Bad),
                time(&alarm.recorded_at),
                damage_text(damage)
            );
            continue;
        }
        let Some(evidence) = &alarm.equivocation else {
            continue;
        };
        println!(
            "{} entry {} at {}: {} equivocated: {}",
            paint("ALARM", Tone::Bad),
            alarm.ledger_index,
            time(&alarm.recorded_at),
            evidence.country,
            evidence.reason
        );
        println!(
            "  checkpoint cosigned before:\n{}",
            indent(&evidence.known_checkpoint)
        );
        println!(
            "  conflicting checkpoint:\n{}",
            indent(&evidence.conflicting_checkpoint)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_dates_as_utc_midnight_and_rfc3339_times() {
        let date = parse_time("2026-07-01").unwrap();
        let time = parse_time("2026-07-01T00:00:00Z").unwrap();
        assert_eq!(date, time);
        let later = parse_time("2026-07-01T05:30:00+05:00").unwrap();
        assert_eq!(later, time + Duration::from_secs(30 * 60));
        for bad in ["2026-13-01", "July", "2026-07", ""] {
            let error = parse_time(bad).unwrap_err();
            assert!(error.contains("is not a date"), "{error}");
        }
    }
}
