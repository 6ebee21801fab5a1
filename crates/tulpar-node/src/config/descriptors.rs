//! The connection limits must fit under the process's limit on open files: otherwise `accept` fails
//! before a limit refuses anyone, and every client, legitimate or not, times out.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use super::Config;

/// Descriptors kept beside the listeners' connections: ledger segments and sled files, the trust
/// store, connections to partners, standard streams, with room to spare.
const DESCRIPTOR_RESERVE: u64 = 256;

/// The connection limits need more open files than the process may have.
#[derive(Debug, thiserror::Error)]
#[error(
    "client_api.max_connections ({}) + client_api.max_handshakes ({}) + federation.max_connections \
     ({}) + federation.max_handshakes ({}) + {DESCRIPTOR_RESERVE} held beside connections need \
     {needed} open files, but the process may open only {current} (hard limit {}): raise \
     LimitNOFILE or `ulimit -n`, or lower the limits",
    client.max_connections,
    client.max_handshakes,
    federation.max_connections,
    federation.max_handshakes,
    hard.map_or_else(|| "unlimited".to_owned(), |hard| hard.to_string())
)]
pub struct DescriptorShortage {
    client: crate::transport::ConnectionLimits,
    federation: crate::transport::ConnectionLimits,
    needed: u64,
    current: u64,
    hard: Option<u64>,
}

impl Config {
    /// Descriptors the node may hold at most: each listener's connections, plus the refused
    /// connections it tells why (up to its handshake limit), plus 256 held beside connections (ledger segments, sled, partners).
    pub fn descriptors_needed(&self) -> u64 {
        [&self.client_api.connections, &self.federation.connections]
            .iter()
            .map(|limits| (limits.max_connections + limits.max_handshakes) as u64)
            .sum::<u64>()
            + DESCRIPTOR_RESERVE
    }

    /// Raises the process's soft limit on open files to its hard limit, as far as needed, and
    /// refuses a configuration whose connection limits do not fit under it. Returns the limit.
    pub fn fit_descriptor_limit(&self) -> Result<u64, DescriptorShortage> {
        let needed = self.descriptors_needed();
        let limit = getrlimit(Resource::Nofile);
        let Some(current) = limit.current else {
            return Ok(u64::MAX);
        };
        let mut current = current;
        if current < needed {
            let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
            if raised > current
                && setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(raised),
                        maximum: limit.maximum,
                    },
                )
                .is_ok()
            {
                current = raised;
            }
        }
        if current < needed {
            return Err(DescriptorShortage {
                client: self.client_api.connections.clone(),
                federation: self.federation.connections.clone(),
                needed,
                current,
                hard: limit.maximum,
            });
        }
        Ok(current)
    }
}
