//! The connection limits must fit under the process's limit on open files: otherwise `accept` fails
//! before a limit refuses anyone, and every client, legitimate or not, times out.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use super::Config;

/// Descriptors kept beside the listeners' connections: ledger segments and sled files, the trust
/// store, connections to partners, standard streams, with room to spare.
const DESCRIPTOR_RESERVE: u64 = 256;

/// Connection limits that do not fit under the process's limit on open files.
#[derive(Debug, thiserror::Error)]
#[error(
    "client_api.max_connections ({client_connections}) + client_api.max_handshakes \
     ({client_handshakes}) + federation.max_connections ({federation_connections}) + \
     federation.max_handshakes ({federation_handshakes}) + {DESCRIPTOR_RESERVE} held beside \
     connections need {needed} open files, but the process may open only {current} (hard limit \
     {hard}): raise LimitNOFILE or `ulimit -n`, or lower the limits"
)]
pub struct DescriptorLimitError {
    client_connections: usize,
    client_handshakes: usize,
    federation_connections: usize,
    federation_handshakes: usize,
    needed: u64,
    current: u64,
    /// The hard limit, or "unlimited".
    hard: String,
}

/// The node's open-files budget for a configuration.
pub trait DescriptorLimit {
    /// Descriptors the node may hold at most: each listener's connections, plus the refused
    /// connections it tells why (up to its handshake limit), plus 256 held beside connections (ledger
    /// segments, sled, partners).
    fn descriptors_needed(&self) -> u64;

    /// Raises the process's soft limit on open files to its hard limit, as far as needed, and
    /// refuses a configuration whose connection limits do not fit under it. Returns the limit.
    fn fit_descriptor_limit(&self) -> Result<u64, DescriptorLimitError>;
}

impl DescriptorLimit for Config {
    fn descriptors_needed(&self) -> u64 {
        [&self.client_api.connections, &self.federation.connections]
            .iter()
            .map(|limits| (limits.max_connections + limits.max_handshakes) as u64)
            .sum::<u64>()
            + DESCRIPTOR_RESERVE
    }

    fn fit_descriptor_limit(&self) -> Result<u64, DescriptorLimitError> {
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
            let (client, federation) = (&self.client_api.connections, &self.federation.connections);
            return Err(DescriptorLimitError {
                client_connections: client.max_connections,
                client_handshakes: client.max_handshakes,
                federation_connections: federation.max_connections,
                federation_handshakes: federation.max_handshakes,
                needed,
                current,
                hard: limit
                    .maximum
                    .map_or_else(|| "unlimited".to_owned(), |hard| hard.to_string()),
            });
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../../deploy/node.example.toml");

    fn load(env: &[(&str, &str)]) -> Config {
        let vars = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_toml(
            EXAMPLE,
            Path::new("/etc/tulpar/node.toml"),
            vars.collect::<Vec<_>>().into_iter(),
        )
        .unwrap()
    }

    #[test]
    fn connection_limits_that_cannot_fit_under_the_open_files_limit_are_refused() {
        let config = load(&[("TULPAR__CLIENT_API__MAX_CONNECTIONS", "1000000")]);
        // No test machine lets a process open a million files and more.
        let hard = getrlimit(Resource::Nofile).maximum;
        if hard.is_some_and(|hard| hard < config.descriptors_needed()) {
            let refusal = config.fit_descriptor_limit().unwrap_err().to_string();
            assert!(
                refusal.contains("client_api.max_connections (1000000)"),
                "{refusal}"
            );
            assert!(refusal.contains("LimitNOFILE"), "{refusal}");
        }
        assert!(
            load(&[]).descriptors_needed() <= 8192,
            "the systemd unit allows 8192"
        );
    }
}
