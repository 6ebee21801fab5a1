//! deploy/README.md, followed to the letter: its marked command blocks are read from the file and run
//! for KZ and UZ, each country in a folder of its own with its own loopback addresses (one for the
//! federation endpoint, another for the client API, as on hosts with two networks), until UZ has
//! acknowledged and answered KZ's alert and both focal points have audited their node. The guide
//! cannot drift from what works.
//!
//! Markers in the guide (`<!-- guide: WHO -->` before a fenced `sh` block) say who runs the block:
//! `each` country, the `sender` (KZ) or the `recipient` (UZ); `<!-- guide: exchange -->` is where the
//! countries give each other their `public/` folders and fingerprints. The guide's commands are written
//! for KZ; UZ runs the `each` blocks with KZ's values swapped for its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tulpar_tests::{binary, output_text};

/// Who runs a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Each,
    Sender,
    Recipient,
    /// Each country, later in the node's life: not part of setting it up.
    Later,
}

#[derive(Debug)]
enum Step {
    Block(Who, Vec<String>),
    Exchange,
}

fn guide() -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/README.md");
    std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))
}

/// The marked steps of the guide, in order; a command continued with `\` is one command.
fn steps(text: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut pending: Option<Who> = None;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(marker) = line
            .strip_prefix("<!-- guide:")
            .and_then(|m| m.strip_suffix("-->"))
        {
            match marker.trim() {
                "exchange" => steps.push(Step::Exchange),
                "each" => pending = Some(Who::Each),
                "sender" => pending = Some(Who::Sender),
                "recipient" => pending = Some(Who::Recipient),
                "later" => pending = Some(Who::Later),
                other => bail!("unknown guide marker {other:?}"),
            }
            continue;
        }
        if line.starts_with("```") {
            let Some(who) = pending.take() else {
                // An unmarked block: shown to the reader, not run here. Skip to its end.
                for inner in lines.by_ref() {
                    if inner.trim().starts_with("```") {
                        break;
                    }
                }
                continue;
            };
            ensure!(line == "```sh", "a marked block must be ```sh, not {line}");
            let mut commands = Vec::new();
            let mut current = String::new();
            for inner in lines.by_ref() {
                if inner.trim().starts_with("```") {
                    break;
                }
                let inner = inner.trim();
                if inner.is_empty() || inner.starts_with('#') {
                    continue;
                }
                match inner.strip_suffix('\\') {
                    Some(part) => current.push_str(part),
                    None => {
                        current.push_str(inner);
                        commands.push(std::mem::take(&mut current));
                    }
                }
            }
            steps.push(Step::Block(who, commands));
        }
    }
    Ok(steps)
}

/// Swaps each pair of words both ways in one pass: KZ's commands become UZ's.
fn swap(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for (a, b) in pairs {
            for (from, to) in [(a, b), (b, a)] {
                if let Some(after) = rest.strip_prefix(from) {
                    out.push_str(to);
                    rest = after;
                    continue 'outer;
                }
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The guide's addresses and where they are here.
const ADDRESSES: [(&str, &str); 4] = [
    ("10.10.0.2", "127.0.0.2"),
    ("10.10.1.2", "127.0.0.4"),
    ("10.20.0.2", "127.0.0.3"),
    ("10.20.1.2", "127.0.0.5"),
];

/// One country's machines, folded into one folder.
struct Host {
    country: &'static str,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    node: Option<Child>,
    fingerprint: Option<String>,
    /// Commands run to set the country up, to an answered alert and a first audit.
    commands: usize,
    /// Commands run later (republishing the directory).
    later: usize,
    outputs: Vec<(String, String)>,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut node) = self.node.take() {
            // Killing fails only if it already exited; waiting reaps it either way.
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

struct Run {
    temp: PathBuf,
    path: String,
    alert_id: Option<String>,
}

impl Run {
    /// The command as this host runs it.
    fn localise(&self, host: &Host, who: Who, command: &str, hosts: &[&Host]) -> Result<String> {
        let mut command = if matches!(who, Who::Each | Who::Later) && host.country == "UZ" {
            swap(
                command,
                &[
                    ("KZ", "UZ"),
                    ("kz", "uz"),
                    ("AKTAU", "TASHKENT"),
                    ("10.10.", "10.20."),
                ],
            )
        } else {
            command.to_owned()
        };
        for (guide, here) in ADDRESSES {
            command = command.replace(guide, here);
        }
        command = command.replace("/media/", &format!("{}/media/", self.temp.display()));
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/");
        command = command.replace("deploy/examples/", &format!("{}/", examples.display()));
        for other in hosts {
            let placeholder = format!("<fingerprint read out by {}>", other.country);
            if let Some(fingerprint) = &other.fingerprint {
                command = command.replace(&placeholder, fingerprint);
            }
        }
        if let Some(id) = &self.alert_id {
            command = command.replace("<alert id>", id);
        }
        ensure!(
            !command.contains('<'),
            "{}: a placeholder is left in {command:?}",
            host.country
        );
        Ok(command)
    }

    fn shell(&self, host: &Host, command: &str) -> Result<Output> {
        Ok(Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&host.dir)
            .env("PATH", &self.path)
            .envs(&host.env)
            .output()?)
    }

    fn run(&mut self, host: &mut Host, command: &str) -> Result<()> {
        println!("{}$ {command}", host.country);
        if let Some(exports) = command.strip_prefix("export ") {
            for pair in exports.split_whitespace() {
                let (name, value) = pair.split_once('=').context("export NAME=VALUE")?;
                host.env.insert(name.to_owned(), value.to_owned());
            }
            return Ok(());
        }
        if command.starts_with("tulpar-node ") && !command.contains("--check") {
            return self.start_node(host, command);
        }
        // Commands that talk to a node wait for it (started, partner met, alert delivered), as a
        // person would try again; the others run once.
        let waits = ["tulpar alert", "tulpar peers", "tulpar audit"]
            .iter()
            .any(|p| command.starts_with(p));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.shell(host, command)?;
            if output.status.success() {
                let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                if command.starts_with("tulpar init ") {
                    host.fingerprint = Some(stdout.trim().to_owned());
                }
                if command.starts_with("tulpar alert send ") {
                    self.alert_id = Some(stdout.trim().to_owned());
                }
                let text = output_text(&output);
                println!("{text}");
                host.outputs.push((command.to_owned(), text));
                return Ok(());
            }
            if !waits || Instant::now() > deadline {
                bail!(
                    "{}: `{command}` failed: {}{}",
                    host.country,
                    output_text(&output),
                    node_log(host)
                );
            }
            if let Some(node) = host.node.as_mut() {
                if let Some(status) = node.try_wait()? {
                    bail!(
                        "{}: the node exited with {status}{}",
                        host.country,
                        node_log(host)
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn start_node(&self, host: &mut Host, command: &str) -> Result<()> {
        let log = std::fs::File::create(host.dir.join("node.log"))?;
        // The one setting not from the guide: on separate hosts each node's metrics listener has
        // 127.0.0.1:9464 to itself; here two nodes share one machine.
        let metrics = ADDRESSES
            .iter()
            .find(|(guide, _)| {
                *guide
                    == if host.country == "KZ" {
                        "10.10.1.2"
                    } else {
                        "10.20.1.2"
                    }
            })
            .map(|(_, here)| format!("{here}:9464"))
            .context("address")?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .current_dir(&host.dir)
            .env("PATH", &self.path)
            .env("TULPAR__METRICS__LISTEN", metrics)
            .envs(&host.env)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()?;
        host.node = Some(child);
        Ok(())
    }
}

fn node_log(host: &Host) -> String {
    std::fs::read_to_string(host.dir.join("node.log"))
        .map(|log| format!("\n{}'s node log:\n{log}", host.country))
        .unwrap_or_default()
}

/// Gives each country the other's `public/` folder, as the guide's exchange step says.
fn exchange(kz: &Host, uz: &Host) -> Result<()> {
    for (from, to) in [(kz, uz), (uz, kz)] {
        let lower = from.country.to_lowercase();
        let source = from.dir.join(&lower).join("public");
        let target = to.dir.join("partners").join(&lower);
        std::fs::create_dir_all(&target)?;
        for file in std::fs::read_dir(&source)? {
            let file = file?;
            std::fs::copy(file.path(), target.join(file.file_name()))?;
        }
    }
    Ok(())
}

#[test]
fn two_countries_on_separate_addresses_follow_the_deployment_guide() -> Result<()> {
    let steps = steps(&guide()?)?;
    let temp = tempfile::tempdir()?;
    let bin = binary("tulpar")?;
    let bin_dir = bin.parent().context("bin dir")?;
    let mut run = Run {
        temp: temp.path().to_owned(),
        path: format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        alert_id: None,
    };
    let host = |country: &'static str| -> Result<Host> {
        let dir = temp.path().join(format!("{}-host", country.to_lowercase()));
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(
            temp.path()
                .join(format!("media/{}-usb", country.to_lowercase())),
        )?;
        Ok(Host {
            country,
            dir,
            env: BTreeMap::new(),
            node: None,
            fingerprint: None,
            commands: 0,
            later: 0,
            outputs: Vec::new(),
        })
    };
    let (mut kz, mut uz) = (host("KZ")?, host("UZ")?);

    for step in &steps {
        match step {
            Step::Exchange => exchange(&kz, &uz)?,
            Step::Block(who, commands) => {
                for command in commands {
                    let runners: Vec<bool> = match who {
                        Who::Each | Who::Later => vec![true, false],
                        Who::Sender => vec![true],
                        Who::Recipient => vec![false],
                    };
                    for is_kz in runners {
                        let line = {
                            let (this, other) = if is_kz { (&kz, &uz) } else { (&uz, &kz) };
                            run.localise(this, *who, command, &[this, other])?
                        };
                        let host = if is_kz { &mut kz } else { &mut uz };
                        if *who == Who::Later {
                            host.later += 1;
                        } else {
                            host.commands += 1;
                        }
                        run.run(host, &line)?;
                    }
                }
            }
        }
    }

    println!(
        "the guide's commands to set a country up: KZ {}, UZ {}; later: KZ {}, UZ {}",
        kz.commands, uz.commands, kz.later, uz.later
    );
    // The republished directory is a newer version, signed with the key from the offline folder.
    for host in [&kz, &uz] {
        let (_, shown) = host
            .outputs
            .iter()
            .find(|(command, _)| command.starts_with("tulpar directory publish"))
            .context("a republished directory")?;
        assert!(shown.contains("version 2"), "{shown}");
    }
    ensure!(
        kz.commands <= 16 && uz.commands <= 16,
        "the guide takes KZ {} and UZ {} commands to a first answered alert and audit",
        kz.commands,
        uz.commands
    );

    // UZ's officer, after reporting the outcome, sees it, with no deadline left to meet.
    let shown = |host: &Host| -> String {
        host.outputs
            .iter()
            .rev()
            .find(|(command, _)| command.starts_with("tulpar alert show "))
            .map(|(_, out)| out.clone())
            .unwrap_or_default()
    };
    let uz_show = shown(&uz);
    assert!(uz_show.contains("outcome"), "{uz_show}");
    assert!(!uz_show.contains("acknowledge by"), "{uz_show}");

    // Both first audits say so, pass, and leave the checkpoint for the next.
    for host in [&kz, &uz] {
        let (_, audit) = host
            .outputs
            .iter()
            .find(|(command, _)| command.starts_with("tulpar audit verify"))
            .context("an audit")?;
        assert!(audit.contains("first audit"), "{audit}");
        assert!(host.dir.join("audited.txt").exists());
    }

    // KZ learns the outcome, and the next audit proves KZ's ledger only grew since the first.
    let id = run.alert_id.clone().context("alert id")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = run.shell(&kz, &format!("tulpar alert show {id}"))?;
        let text = output_text(&output);
        if text.contains("UZ (UZ-TASHKENT-PCU): outcome") {
            assert!(!text.contains("acknowledge by"), "{text}");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "KZ never saw UZ's outcome: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let again = run.shell(
        &kz,
        "tulpar audit verify --ledger-key kz/public/ledger.pub --previous audited.txt",
    )?;
    let text = output_text(&again);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("only appended to"), "{text}");

    // A node's log in a file is plain text, without a terminal's colours.
    for host in [&kz, &uz] {
        let log = std::fs::read_to_string(host.dir.join("node.log"))?;
        assert!(log.contains("node started"), "{log}");
        assert!(!log.contains('\u{1b}'), "{log}");
    }
    Ok(())
}

#[test]
fn the_guide_swaps_kz_for_uz_both_ways() {
    let pairs = [("KZ", "UZ"), ("kz", "uz"), ("10.10.", "10.20.")];
    assert_eq!(
        swap(
            "trust add --store kz/node/trust --country UZ 10.10.0.2:7443",
            &pairs
        ),
        "trust add --store uz/node/trust --country KZ 10.20.0.2:7443"
    );
}

#[test]
fn a_node_refuses_a_ledger_key_its_directory_does_not_name() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path();
    let tulpar = |args: &[&str]| -> Result<Output> {
        Ok(Command::new(binary("tulpar")?)
            .args(args)
            .current_dir(dir)
            .output()?)
    };
    let init = tulpar(&[
        "init",
        "--country",
        "KZ",
        "--units",
        "KZ-AKTAU-PCU",
        "--endpoint",
        "127.0.0.2:7443",
        "--out",
        "kz",
    ])?;
    ensure!(init.status.success(), "{}", output_text(&init));
    let check = || -> Result<Output> {
        Ok(Command::new(binary("tulpar-node")?)
            .args(["--config", "kz/node.toml", "--check"])
            .current_dir(dir)
            .output()?)
    };
    // Another key in place of the one made with the directory (and published as public/ledger.pub),
    // before the node ever started.
    let other = tulpar(&["keygen", "--out", "other", "--name", "ledger"])?;
    ensure!(other.status.success(), "{}", output_text(&other));
    let made = dir.join("made-ledger.key");
    std::fs::rename(dir.join("kz/node/ledger.key"), &made)?;
    std::fs::rename(dir.join("other/ledger.key"), dir.join("kz/node/ledger.key"))?;
    let refused = check()?;
    let text = output_text(&refused);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("keys.ledger_key") && text.contains("kz/node/directory.env"),
        "{text}"
    );
    assert!(
        !dir.join("kz/data/ledger.pub").exists(),
        "nothing was begun"
    );

    std::fs::rename(&made, dir.join("kz/node/ledger.key"))?;
    let accepted = check()?;
    ensure!(accepted.status.success(), "{}", output_text(&accepted));
    Ok(())
}
