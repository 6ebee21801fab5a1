//! `tulpar user`: people's accounts for the console on a running node (administrators). Passwords are
//! read from the terminal without echo, or from the first line of standard input when it is not a
//! terminal; they go to the node over TLS, which keeps only their Argon2id hash.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tulpar_core::proto;

use super::alerts::{Output, call, print_json, runtime, time};
use crate::client::Connection;
use crate::paint::{Tone, paint};

/// People's accounts.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Create an account; asks for its first password. Focal points and administrators get a TOTP
    /// secret for their authenticator app, printed once.
    Add {
        /// The sign-in name, e.g. a.seitova (lowercase letters, digits, '.', '-', '_').
        name: String,
        /// officer, focal-point or admin.
        #[arg(long)]
        role: String,
        /// The unit an officer acts for, e.g. KZ-AKTAU-PCU.
        #[arg(long, default_value = "")]
        unit: String,
        /// The person's name as others see it.
        #[arg(long)]
        display_name: String,
        /// The console's language for the account.
        #[arg(long, default_value = "ru")]
        language: String,
        /// Also require a TOTP code from an officer.
        #[arg(long)]
        require_totp: bool,
    },
    /// The accounts with their state.
    List,
    /// Disable an account: it can no longer sign in and its sessions end.
    Disable {
        /// The account's name.
        name: String,
    },
    /// Set a new password (asked for), lifting a lock after failed sign-ins.
    ResetPassword {
        /// The account's name.
        name: String,
    },
    /// Issue a new TOTP secret, printed once; the old one stops working.
    ResetTotp {
        /// The account's name.
        name: String,
    },
}

pub(crate) fn run(connection: &Connection, output: &Output, args: Args) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let mut client = connection.connect_admin()?;
        let response = match args {
            Args::Add {
                name,
                role,
                unit,
                display_name,
                language,
                require_totp,
            } => {
                let password = read_password(&format!("password for {name}: "))?;
                let request = proto::AddUserRequest {
                    name,
                    display_name,
                    role,
                    unit,
                    language,
                    password,
                    require_totp,
                };
                call(client.add_user(request)).await?
            }
            Args::List => {
                let response = call(client.list_users(proto::ListUsersRequest {})).await?;
                if output.json {
                    print_json(&response)?;
                } else {
                    print_users(&response.users);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Args::Disable { name } => {
                call(client.disable_user(proto::DisableUserRequest { name })).await?
            }
            Args::ResetPassword { name } => {
                let password = read_password(&format!("new password for {name}: "))?;
                call(client.reset_password(proto::ResetPasswordRequest { name, password })).await?
            }
            Args::ResetTotp { name } => {
                call(client.reset_totp(proto::ResetTotpRequest { name })).await?
            }
        };
        if output.json {
            print_json(&response)?;
        } else {
            print_change(&response);
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_change(response: &proto::UserResponse) {
    let user = response.user.clone().unwrap_or_default();
    if !response.changed {
        println!("{}: nothing to change", user.name);
    } else {
        println!(
            "{} ({}, {}{}): recorded at ledger index {}",
            user.name,
            user.display_name,
            user.role,
            if user.unit.is_empty() {
                String::new()
            } else {
                format!(" of {}", user.unit)
            },
            response.ledger_index
        );
    }
    if let Some(totp) = &response.totp {
        let grouped: Vec<String> = totp
            .secret
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        println!("TOTP secret (give it to the person once, for their authenticator app):");
        println!("  {}", grouped.join(" "));
        println!("  {}", totp.uri);
    }
}

fn print_users(users: &[proto::UserInfo]) {
    println!(
        "{:<20} {:<12} {:<18} {:<5} {:<9} last sign-in",
        "name", "role", "unit", "totp", "state"
    );
    for user in users {
        let state = if user.disabled {
            paint(&format!("{:<9}", "disabled"), Tone::Bad)
        } else if user.locked_until.is_some() {
            paint(&format!("{:<9}", "locked"), Tone::Warn)
        } else {
            paint(&format!("{:<9}", "active"), Tone::Good)
        };
        let line = format!(
            "{:<20} {:<12} {:<18} {:<5} {state} {}{}",
            user.name,
            user.role,
            if user.unit.is_empty() {
                "-"
            } else {
                &user.unit
            },
            if user.totp_required { "yes" } else { "no" },
            time(&user.last_sign_in_at),
            if user.locked_until.is_some() {
                format!(" (locked until {})", time(&user.locked_until))
            } else {
                String::new()
            }
        );
        println!("{}", line.trim_end());
    }
}

/// A password from the terminal without echo (asked twice), or the first line of standard input.
fn read_password(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = read_hidden(prompt)?;
    let second = read_hidden("again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

fn read_hidden(prompt: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut hidden = saved.clone();
    hidden.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &hidden).context("turning echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, OptionalActions::Now, &saved).context("turning echo back on")?;
    eprintln!();
    read.context("reading the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
