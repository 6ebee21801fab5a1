//! A userspace link emulator: the IP packets between network namespaces pass through this process,
//! which delays, reorders and drops them, and cuts links on request.
//!
//! The kernels this runs on may lack `sch_netem` (and iptables), so the impairments are applied here
//! instead. Each namespace has a TUN device holding its federation address, and routes the shared
//! subnet into it (see [`crate::netns`]). A reader thread per device takes each IPv4 packet the
//! namespace sends, finds the namespace that owns its destination address, and either drops it (the
//! link is cut, the packet is lost at random, or the link's queue is full) or schedules it for `now +
//! delay ± jitter`; one writer thread writes each packet, when due, into the destination's TUN device,
//! whose kernel receives it as if from a wire. The packets are really late and really lost, so TCP
//! really retransmits and backs off. Each packet draws its own jitter, so packets sent closer together
//! than the jitter arrive reordered.
//!
//! Limits: IPv4 only (anything else is dropped and counted as stray); no bandwidth limit, so a packet
//! waits only its delay, and a queue holds at most [`QUEUE_PACKETS`] packets per direction (further
//! ones are dropped, as a full router queue drops them); the links form a full mesh with settings per
//! direction; delays are as precise as the writer thread's wake-ups (a fraction of a millisecond on an
//! idle machine, more on a busy one).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Packets that may wait in one direction of a link; further ones are dropped.
pub const QUEUE_PACKETS: usize = 4096;

/// How often idle threads look whether the emulator is stopping.
const POLL: Duration = Duration::from_millis(50);

/// The impairments of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSettings {
    /// The time a packet takes, on average.
    pub delay: Duration,
    /// Each packet's delay is drawn uniformly from `delay - jitter` to `delay + jitter`.
    pub jitter: Duration,
    /// The share of packets lost at random, from 0.0 to 1.0.
    pub loss: f64,
}

impl LinkSettings {
    /// Links whose round trip takes `rtt` (half of it each way, ±2 ms of jitter) and that lose `loss`
    /// of the packets each way.
    pub fn round_trip(rtt: Duration, loss: f64) -> Self {
        Self {
            delay: rtt / 2,
            jitter: Duration::from_millis(2).min(rtt / 2),
            loss,
        }
    }
}

/// What happened to the packets sent one way over a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Written into the destination after their delay.
    pub forwarded: u64,
    /// Dropped at random.
    pub lost: u64,
    /// Dropped because the link was cut.
    pub cut: u64,
    /// Dropped because the link's queue was full.
    pub overflowed: u64,
}

/// One namespace's end of the emulated network: its address and its TUN device.
pub struct Port {
    address: Ipv4Addr,
    reader: tun::Reader,
    writer: tun::Writer,
}

impl Port {
    /// The namespace that holds `address` on `device`.
    pub fn new(address: Ipv4Addr, device: tun::Device) -> Self {
        let (reader, writer) = device.split();
        Self {
            address,
            reader,
            writer,
        }
    }
}

/// A running emulator between some ports, which stops (and closes their TUN devices) when dropped.
pub struct LinkEmulator {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    addresses: Vec<Ipv4Addr>,
    state: Mutex<State>,
    /// Wakes the writer: a packet was scheduled, or the emulator is stopping.
    scheduled: Condvar,
    stopping: AtomicBool,
    /// Packets no port owns (another address, not IPv4), and writes the kernel refused.
    stray: AtomicU64,
}

struct State {
    /// One per direction, `from * ports + to`.
    links: Vec<Link>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    /// Orders packets due at the same instant as they came.
    sequence: u64,
}

struct Link {
    settings: LinkSettings,
    cut: bool,
    queued: usize,
    stats: LinkStats,
}

struct Scheduled {
    due: Instant,
    sequence: u64,
    link: usize,
    to: usize,
    packet: Vec<u8>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.sequence) == (other.due, other.sequence)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.sequence).cmp(&(other.due, other.sequence))
    }
}

impl LinkEmulator {
    /// Starts forwarding between `ports`, every direction with `settings`.
    pub fn start(ports: Vec<Port>, settings: LinkSettings) -> Result<Self> {
        check(settings)?;
        let count = ports.len();
        let links = (0..count * count)
            .map(|_| Link {
                settings,
                cut: false,
                queued: 0,
                stats: LinkStats::default(),
            })
            .collect();
        let shared = Arc::new(Shared {
            addresses: ports.iter().map(|port| port.address).collect(),
            state: Mutex::new(State {
                links,
                queue: BinaryHeap::new(),
                sequence: 0,
            }),
            scheduled: Condvar::new(),
            stopping: AtomicBool::new(false),
            stray: AtomicU64::new(0),
        });
        let mut writers = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count + 1);
        for (from, port) in ports.into_iter().enumerate() {
            writers.push(port.writer);
            let (shared, reader) = (shared.clone(), port.reader);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("link-read-{from}"))
                    .spawn(move || shared.read(from, reader))?,
            );
        }
        let writing = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("link-write".into())
                .spawn(move || writing.write(writers))?,
        );
        Ok(Self { shared, threads })
    }

    /// Sets every direction of every link to `settings`.
    pub fn set_all(&self, settings: LinkSettings) -> Result<()> {
        check(settings)?;
        for link in &mut self.shared.lock().links {
            link.settings = settings;
        }
        Ok(())
    }

    /// Cuts (`true`) or restores (`false`) both directions between ports `a` and `b`. Packets already
    /// on their way still arrive; every later one is dropped while the link is cut.
    pub fn cut(&self, a: usize, b: usize, cut: bool) {
        let count = self.shared.addresses.len();
        let mut state = self.shared.lock();
        state.links[a * count + b].cut = cut;
        state.links[b * count + a].cut = cut;
    }

    /// What happened so far to the packets sent from port `from` to port `to`.
    pub fn stats(&self, from: usize, to: usize) -> LinkStats {
        let count = self.shared.addresses.len();
        self.shared.lock().links[from * count + to].stats
    }

    /// Packets no port owned, and writes the kernel refused.
    pub fn stray(&self) -> u64 {
        self.shared.stray.load(Ordering::Relaxed)
    }
}

impl Drop for LinkEmulator {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.scheduled.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn check(settings: LinkSettings) -> Result<()> {
    if !(0.0..=1.0).contains(&settings.loss) {
        bail!("loss {} is not between 0 and 1", settings.loss);
    }
    if settings.jitter > settings.delay {
        bail!(
            "jitter {:?} is larger than the delay {:?}",
            settings.jitter,
            settings.delay
        );
    }
    Ok(())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads what port `from`'s namespace sends until the emulator stops.
    fn read(&self, from: usize, reader: tun::Reader) {
        let mut random = Random::new();
        let mut buffer = vec![0u8; 65_536];
        while !self.stopping.load(Ordering::Relaxed) {
            match reader.recv_timeout(&mut buffer, POLL) {
                Ok(length) => self.route(from, &buffer[..length], &mut random),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => {
                    eprintln!("link emulator: reading port {from}: {error}");
                    return;
                }
            }
        }
    }

    /// Drops `packet` from port `from`, or schedules it for its destination.
    fn route(&self, from: usize, packet: &[u8], random: &mut Random) {
        let to = destination(packet)
            .and_then(|address| self.addresses.iter().position(|a| *a == address))
            .filter(|to| *to != from);
        let Some(to) = to else {
            self.stray.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let now = Instant::now();
        let count = self.addresses.len();
        let mut state = self.lock();
        let index = from * count + to;
        let link = &mut state.links[index];
        if link.cut {
            link.stats.cut += 1;
            return;
        }
        if random.unit() < link.settings.loss {
            link.stats.lost += 1;
            return;
        }
        if link.queued >= QUEUE_PACKETS {
            link.stats.overflowed += 1;
            return;
        }
        link.queued += 1;
        let (delay, jitter) = (link.settings.delay, link.settings.jitter);
        // Uniform in [delay - jitter, delay + jitter].
        let due = now + delay - jitter + jitter.mul_f64(2.0 * random.unit());
        state.sequence += 1;
        let sequence = state.sequence;
        state.queue.push(Reverse(Scheduled {
            due,
            sequence,
            link: index,
            to,
            packet: packet.to_vec(),
        }));
        drop(state);
        self.scheduled.notify_one();
    }

    /// Writes each packet into its destination when it is due, until the emulator stops.
    fn write(&self, mut writers: Vec<tun::Writer>) {
        let mut state = self.lock();
        while !self.stopping.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = match state.queue.peek() {
                Some(Reverse(next)) if next.due <= now => None,
                Some(Reverse(next)) => Some(next.due - now),
                None => Some(POLL),
            };
            if let Some(wait) = wait {
                state = self
                    .scheduled
                    .wait_timeout(state, wait.min(POLL))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
            let Some(Reverse(due)) = state.queue.pop() else {
                continue;
            };
            let link = &mut state.links[due.link];
            link.queued -= 1;
            link.stats.forwarded += 1;
            drop(state);
            // A full receive backlog in the namespace drops the packet, as a busy host does.
            if writers[due.to].write(&due.packet).is_err() {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
            state = self.lock();
        }
    }
}

/// The destination of an IPv4 packet.
fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(
        packet[16], packet[17], packet[18], packet[19],
    ))
}

/// A small xorshift generator: loss and jitter need speed, not secrecy.
struct Random(u64);

impl Random {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        // Without system randomness a fixed seed still impairs the links, only predictably.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed);
        Self(u64::from_le_bytes(seed) | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_routed_by_their_ipv4_destination() {
        let mut packet = [0u8; 20];
        packet[0] = 0x45;
        packet[16..20].copy_from_slice(&[198, 18, 0, 2]);
        assert_eq!(destination(&packet), Some(Ipv4Addr::new(198, 18, 0, 2)));
        packet[0] = 0x60;
        assert_eq!(destination(&packet), None, "IPv6 is not routed");
        assert_eq!(destination(&packet[..19]), None, "too short");
    }

    #[test]
    fn random_loss_comes_near_its_share() {
        let mut random = Random::new();
        let lost = (0..100_000).filter(|_| random.unit() < 0.05).count();
        assert!((4_000..6_000).contains(&lost), "{lost} of 100000 at 5 %");
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let mut settings = LinkSettings::round_trip(Duration::from_millis(120), 0.01);
        assert_eq!(settings.delay, Duration::from_millis(60));
        assert!(check(settings).is_ok());
        settings.loss = 1.5;
        assert!(check(settings).is_err());
        settings.loss = 0.0;
        settings.jitter = Duration::from_millis(61);
        assert!(check(settings).is_err());
    }
}
