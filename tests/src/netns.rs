//! Network namespaces for tests over an emulated network: one namespace per country, its node's
//! address on a TUN device whose packets pass through this process's [`LinkEmulator`].
//!
//! Needs root and iproute2's `ip`. Everything made is removed when the [`Network`] is dropped (during a
//! panic too): the processes still inside its namespaces are killed, the emulator stops (which closes
//! the TUN devices) and the namespaces are deleted. Namespaces are named `tulpar-<pid>-<n>-<label>`,
//! so that runs side by side never meet, and those of a test process that died unable to clean up
//! are deleted by the next `Network` made on the machine.
//!
//! The addresses are `198.18.0.<n>/24` (RFC 2544's range for network test beds, which names no real
//! host) and exist only inside the namespaces, so every run can use the same ones. Nothing in the
//! test's own namespace can reach them: connect from inside with [`Namespace::tcp_socket`], and run
//! programs inside with [`Namespace::command`].

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

use crate::link::{LinkEmulator, LinkSettings, LinkStats, Port};

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";
/// The prefix of this module's namespace names.
const PREFIX: &str = "tulpar-";
/// The TUN device of each namespace.
const DEVICE: &str = "wan0";

/// Networks made by this process, to name their namespaces apart.
static MADE: AtomicU32 = AtomicU32::new(0);

/// One network namespace of a [`Network`].
pub struct Namespace {
    name: String,
    address: Ipv4Addr,
    /// Keeps the namespace open for [`Namespace::enter`].
    handle: std::fs::File,
}

impl Namespace {
    /// Its name, for `ip netns`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it holds on the emulated network.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Runs `work` on a thread of its own that has entered this namespace, so that the sockets and
    /// devices `work` makes belong to it; they stay there when used from any other thread.
    pub fn enter<T: Send>(&self, work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    rustix::thread::move_into_link_name_space(
                        std::os::fd::AsFd::as_fd(&self.handle),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .with_context(|| format!("entering network namespace {}", self.name))?;
                    work()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A TCP socket of this namespace: what it connects to is reached from here.
    pub fn tcp_socket(&self) -> std::io::Result<tokio::net::TcpSocket> {
        self.enter(|| Ok(tokio::net::TcpSocket::new_v4()?))
            .map_err(|error| std::io::Error::other(format!("{error:#}")))
    }

    /// `program` to be run inside this namespace (by `ip netns exec`, which becomes `program`, so
    /// the child's id is the program's).
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

/// Namespaces joined by a [`LinkEmulator`], removed when dropped.
pub struct Network {
    /// By label, in the order given.
    namespaces: Vec<(String, Arc<Namespace>)>,
    /// Every name made, also those whose setup failed halfway.
    made: Vec<String>,
    emulator: Option<LinkEmulator>,
}

impl Network {
    /// Why a network cannot be made here (not root, or no `ip`); `None` when it can.
    pub fn unavailable() -> Option<String> {
        if !rustix::process::geteuid().is_root() {
            return Some("network namespaces need root".into());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(output) if output.status.success() => None,
            _ => Some("`ip` (iproute2) is not installed".into()),
        }
    }

    /// A network for a test: `Some` when one can be made; otherwise an error on CI (`CI` set), where
    /// the test must run, and elsewhere `None` after printing why the test is skipped.
    pub fn for_test(labels: &[&str], settings: LinkSettings) -> Result<Option<Self>> {
        if let Some(reason) = Self::unavailable() {
            if std::env::var_os("CI").is_some() {
                bail!("{reason}: CI runs this test as root with iproute2 installed");
            }
            eprintln!("skipped: {reason} (run as root with iproute2 to run this test)");
            return Ok(None);
        }
        Self::new(labels, settings).map(Some)
    }

    /// A namespace per label (a country code, say), all joined by links with `settings`.
    pub fn new(labels: &[&str], settings: LinkSettings) -> Result<Self> {
        if labels.len() > 250 {
            bail!("at most 250 namespaces, one per address of 198.18.0.0/24");
        }
        remove_abandoned();
        let run = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let mut network = Self {
            namespaces: Vec::new(),
            made: Vec::new(),
            emulator: None,
        };
        let mut ports = Vec::new();
        for (n, label) in labels.iter().enumerate() {
            let name = format!("{run}-{}", label.to_lowercase());
            ip(&["netns", "add", &name])?;
            network.made.push(name.clone());
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            let handle = std::fs::File::open(Path::new(NETNS_DIR).join(&name))
                .with_context(|| format!("opening namespace {name}"))?;
            let address = Ipv4Addr::new(198, 18, 0, u8::try_from(n + 1)?);
            let namespace = Namespace {
                name,
                address,
                handle,
            };
            let device = namespace.enter(|| {
                let mut config = tun::Configuration::default();
                config
                    .tun_name(DEVICE)
                    .address(address)
                    .netmask((255, 255, 255, 0))
                    .mtu(1500)
                    .up();
                tun::create(&config).context("creating a TUN device")
            })?;
            ports.push(Port::new(address, device));
            network
                .namespaces
                .push((label.to_string(), Arc::new(namespace)));
        }
        network.emulator = Some(LinkEmulator::start(ports, settings)?);
        Ok(network)
    }

    /// The namespace labelled `label`.
    pub fn namespace(&self, label: &str) -> Result<Arc<Namespace>> {
        self.position(label).map(|at| self.namespaces[at].1.clone())
    }

    /// Sets every link, both ways, to `settings`.
    pub fn set_links(&self, settings: LinkSettings) -> Result<()> {
        self.emulator()?.set_all(settings)
    }

    /// Cuts the link between `a` and `b`, both ways: nothing passes until [`Network::heal`].
    pub fn partition(&self, a: &str, b: &str) -> Result<()> {
        self.emulator()?
            .cut(self.position(a)?, self.position(b)?, true);
        Ok(())
    }

    /// Restores the link between `a` and `b`.
    pub fn heal(&self, a: &str, b: &str) -> Result<()> {
        self.emulator()?
            .cut(self.position(a)?, self.position(b)?, false);
        Ok(())
    }

    /// What happened so far to the packets sent from `from` to `to`.
    pub fn stats(&self, from: &str, to: &str) -> Result<LinkStats> {
        Ok(self
            .emulator()?
            .stats(self.position(from)?, self.position(to)?))
    }

    fn emulator(&self) -> Result<&LinkEmulator> {
        self.emulator.as_ref().context("the emulator is stopped")
    }

    fn position(&self, label: &str) -> Result<usize> {
        self.namespaces
            .iter()
            .position(|(known, _)| known == label)
            .with_context(|| format!("no namespace {label} in this network"))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in &self.made {
            kill_inside(name);
        }
        self.emulator.take();
        for name in &self.made {
            if let Err(error) = ip(&["netns", "delete", name]) {
                eprintln!("removing network namespace {name}: {error:#}");
            }
        }
    }
}

/// Kills the processes inside namespace `name` (the test's own nodes, which a test that failed may
/// have left running) by their ids, and waits a little for them to go.
fn kill_inside(name: &str) {
    let Ok(pids) = ip(&["netns", "pids", name]) else {
        return;
    };
    let pids: Vec<_> = pids
        .split_whitespace()
        .filter_map(|pid| pid.parse::<i32>().ok())
        .filter_map(rustix::process::Pid::from_raw)
        .collect();
    for pid in &pids {
        let _ = rustix::process::kill_process(*pid, rustix::process::Signal::KILL);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pids
        .iter()
        .any(|pid| Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Deletes the namespaces of test processes that no longer run (killed before they could).
fn remove_abandoned() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "delete", &name]);
        }
    }
}

/// Runs `ip` with `args`; what it printed.
fn ip(args: &[&str]) -> Result<String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
