//! `tulpar ledger repair`: what a repair of a node's damaged ledger would do, and, with `--apply`
//! and the node stopped, doing it (see `tulpar_ledger::repair`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tulpar_config::Config;
use tulpar_ledger::repair::{self, Action, RepairOptions, RepairPlan};
use tulpar_ledger::{HOLD_FILE, LedgerError};

use crate::paint::{Tone, paint};

/// Repair a node's damaged ledger.
#[derive(Debug, clap::Args)]
pub(crate) struct RepairArgs {
    /// The node's configuration: its `data_dir` holds the ledger.
    #[arg(long)]
    config: PathBuf,
    /// A copy of the ledger to restore entries from: a backup of the node's data_dir, or of its
    /// `segments/` folder. Only frames that verify against their signed checkpoints are taken. May be
    /// given several times.
    #[arg(long = "from", value_name = "COPY")]
    copies: Vec<PathBuf>,
    /// Lift the hold a repair left without the entries it waits for, when no copy holds them: the
    /// node then signs checkpoints of sizes it had already signed over other entries, which partners'
    /// witnesses record as equivocation. Tell the partners' focal points first.
    #[arg(long)]
    accept_loss: bool,
    /// Do it. The node must be stopped (the repair takes the lock it holds). Without --apply nothing
    /// changes.
    #[arg(long)]
    apply: bool,
}

pub(crate) fn run(args: RepairArgs) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let dir = config.data_dir.clone();
    let options = RepairOptions {
        copies: args.copies.clone(),
        accept_loss: args.accept_loss,
    };
    // Taken before the plan, so that nothing changes the ledger between the plan and its doing; a
    // dry run beside a running node plans without what the index knows.
    let lock = match repair::lock(&dir) {
        Ok(lock) => Some(lock),
        Err(LedgerError::InUse(path)) if args.apply => anyhow::bail!(
            "{}: the node is running on this ledger; stop it first (systemctl stop tulpar-node)",
            path.display()
        ),
        Err(LedgerError::InUse(_)) => {
            println!(
                "{:<10} the node is running: stop it before repairing (and for the exact plan)",
                "note"
            );
            None
        }
        Err(other) => {
            return Err(other).with_context(|| format!("data_dir: {}", dir.display()));
        }
    };
    let plan = repair::plan(&dir, &options, lock.as_ref())
        .with_context(|| format!("data_dir: {}", dir.display()))?;
    print_found(&plan);
    if !plan.unrepairable.is_empty() {
        for damage in &plan.unrepairable {
            println!(
                "{:<10} {}: {}",
                paint("cannot", Tone::Bad),
                damage.segment.display(),
                damage.reason
            );
        }
        println!(
            "{:<10} nothing was changed; restore the entries named from a backup:\n{:<10}   tulpar \
             ledger repair --config {} --from BACKUP --apply",
            "next",
            "",
            args.config.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    if plan.is_empty() && !plan.held {
        println!("{:<10} nothing to repair", "ok");
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.apply { "did" } else { "would" };
    for action in &plan.actions {
        println!("{verb:<10} {}", describe(action));
    }
    print_after(&plan);
    match lock.filter(|_| args.apply) {
        None => {
            print_next(&plan, &args);
            println!(
                "{:<10} nothing changed; with the node stopped, add --apply to do this",
                "dry run"
            );
        }
        Some(lock) => {
            let held = plan.held;
            let report = repair::apply(plan.clone(), lock)?;
            // Entries given up that partners' witnesses may have cosigned: the node declares the
            // loss to them, as after a restore from an older backup.
            if args.accept_loss
                && plan.lost.is_some()
                && let Some(checkpoint) = &report.verified.checkpoint
            {
                tulpar_ledger::mark_restored(&dir, checkpoint)
                    .with_context(|| format!("data_dir: {}", dir.display()))?;
            }
            println!(
                "{:<10} {} entries in {} segment(s) verify, root {}",
                "verified",
                report.verified.size,
                report.verified.segments,
                STANDARD.encode(report.verified.root)
            );
            print_next(&plan, &args);
            if !held {
                println!("{:<10} start the node", "then");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_found(plan: &RepairPlan) {
    let intact = match plan.damage.is_empty() {
        true => format!("{} entries, every frame intact", plan.intact),
        false => format!("{} entries intact before the first damage", plan.intact),
    };
    println!("{:<10} {}: {intact}", "ledger", plan.dir.display());
    for damage in &plan.damage {
        println!("{:<10} {damage}", paint("damage", Tone::Bad));
    }
    if let Some(published) = &plan.published {
        println!(
            "{:<10} the latest checkpoint the ledger signed is of size {}",
            "signed",
            published.size()
        );
    }
}

fn print_after(plan: &RepairPlan) {
    match &plan.lost {
        None => println!("{:<10} {} entries", "after", plan.size),
        Some(lost) => println!(
            "{:<10} {} entries; entries {}..{} {}",
            "after",
            plan.size,
            lost.start,
            lost.end,
            if plan.held {
                paint(
                    "are missing: the ledger is held and records nothing until they are restored",
                    Tone::Bad,
                )
            } else {
                paint(
                    "are given up: the node's next checkpoints fork from those partners hold",
                    Tone::Bad,
                )
            }
        ),
    }
}

fn print_next(plan: &RepairPlan, args: &RepairArgs) {
    let Some(lost) = plan.lost.as_ref().filter(|_| plan.held) else {
        return;
    };
    println!(
        "{:<10} with the node stopped, restore entries {}..{} from a backup that holds them (a copy of\n\
         {:<10} data_dir taken before the damage; the frames kept in damaged/ are used too):\n\
         {:<10}   tulpar ledger repair --config {} --from BACKUP --apply\n\
         {:<10} the node starts meanwhile, serves what it holds and records nothing ({}); see the\n\
         {:<10} deployment guide, \"Damaged disks\", for what to do when no copy holds them",
        "next",
        lost.start,
        lost.end,
        "",
        "",
        args.config.display(),
        "",
        HOLD_FILE,
        "",
    );
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn describe(action: &Action) -> String {
    match action {
        Action::RewriteHeader { segment } => {
            format!(
                "write the header of {} again (it follows from its name)",
                name(segment)
            )
        }
        Action::Replace {
            segment,
            offset,
            len,
            entries,
            from,
            ..
        } => format!(
            "replace bytes {offset}..{} of {} (entries {}..{}) with the same bytes from {}",
            offset + len,
            name(segment),
            entries.start,
            entries.end,
            from.display()
        ),
        Action::Cut {
            segment,
            offset,
            bytes,
            entries,
            kept,
        } => format!(
            "keep bytes {offset}.. of {} ({bytes} bytes, entries {}..{} as far as their frames \
             tell) in {}, then cut them off",
            name(segment),
            entries.start,
            entries.end,
            kept.display()
        ),
        Action::Append {
            segment,
            entries,
            from,
            ..
        } => format!(
            "append entries {}..{} to {} from {}",
            entries.start,
            entries.end,
            name(segment),
            from.display()
        ),
        Action::Hold { checkpoint } => format!(
            "hold the ledger at the checkpoint of size {} it had signed ({HOLD_FILE}): it records \
             nothing until it holds those entries again",
            checkpoint.size()
        ),
        Action::Forget { entries } => format!(
            "make the index forget entries {}..{}, which it had recorded and the segments no longer \
             hold (--accept-loss)",
            entries.start, entries.end
        ),
        Action::Release {
            checkpoint,
            regrown: true,
        } => format!(
            "lift the hold: the ledger holds the entries of its checkpoint of size {} again",
            checkpoint.size()
        ),
        Action::Release {
            checkpoint,
            regrown: false,
        } => format!(
            "lift the hold WITHOUT the entries of its checkpoint of size {} (--accept-loss)",
            checkpoint.size()
        ),
    }
}
