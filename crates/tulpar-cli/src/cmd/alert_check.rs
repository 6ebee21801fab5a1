//! `tulpar alert check`: validate alert drafts offline, with every violation named.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use tulpar_core::alert::{ValidAlertContent, validate_content};
use tulpar_core::proto;

/// Validate alert drafts (AlertContent in proto3 JSON) without sending them.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Draft files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Reads an alert draft from a proto3 JSON file.
pub(crate) fn read_draft(path: &Path) -> Result<proto::AlertContent> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not an alert draft in the proto3 JSON mapping",
            path.display()
        )
    })
}

/// One line describing a valid draft.
pub(crate) fn summary(valid: &ValidAlertContent) -> String {
    let content = valid.content();
    let recipients: Vec<String> = valid
        .recipients()
        .iter()
        .map(|r| {
            if r.units.is_empty() {
                r.country.to_string()
            } else {
                let units: Vec<&str> = r.units.iter().map(|u| u.as_str()).collect();
                format!("{} ({})", r.country, units.join(", "))
            }
        })
        .collect();
    let consignment = content.consignment.clone().unwrap_or_default();
    let category = valid
        .category()
        .as_str_name()
        .trim_start_matches("THREAT_CATEGORY_");
    format!(
        "{} {} alert from {} to {}: {} container(s), {} goods item(s)",
        valid.priority().as_str(),
        category,
        valid.origin(),
        recipients.join(", "),
        consignment.containers.len(),
        consignment.goods.len(),
    )
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let several = args.files.len() > 1;
    let mut all_valid = true;
    for path in &args.files {
        let prefix = if several {
            format!("{}: ", path.display())
        } else {
            String::new()
        };
        let draft = match read_draft(path) {
            Ok(draft) => draft,
            Err(error) => {
                println!("{prefix}{error:#}");
                all_valid = false;
                continue;
            }
        };
        match validate_content(draft) {
            Ok(valid) => println!("{prefix}valid: {}", summary(&valid)),
            Err(violations) => {
                all_valid = false;
                for violation in violations.as_slice() {
                    println!("{prefix}{violation}");
                }
            }
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
