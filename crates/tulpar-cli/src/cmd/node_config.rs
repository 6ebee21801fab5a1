//! The node configuration `tulpar init` writes beside the country's folders: the documented example
//! (`deploy/node.example.toml`) with this country's code and listen addresses, so the addresses in the
//! node certificate and in the configuration come from the same flags.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::{Context, Result, bail};
use tulpar_core::codes::CountryCode;
use tulpar_trust::ceremony::endpoint_host;

/// Every field documented; the settings below replace its values.
const EXAMPLE: &str = include_str!("../../../../deploy/node.example.toml");

/// What differs between countries' node configurations.
pub(crate) struct NodeSettings<'a> {
    pub(crate) country: CountryCode,
    /// `federation.name`; unset, the line stays commented and the node uses the default.
    pub(crate) federation_name: Option<&'a str>,
    /// `federation.listen`.
    pub(crate) federation_listen: SocketAddr,
    /// `client_api.listen`.
    pub(crate) client_listen: SocketAddr,
}

/// The address to listen on for an address people or partners dial: the same when its host is an IP
/// address, every interface at its port when it is a host name (a name cannot be bound).
pub(crate) fn listen_address(flag: &str, address: &str) -> Result<SocketAddr> {
    let host =
        endpoint_host(address).with_context(|| format!("{flag}: {address:?} is not HOST:PORT"))?;
    let port: u16 = address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .with_context(|| format!("{flag}: {address:?} has no port"))?;
    let ip = host
        .parse::<IpAddr>()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Ok(SocketAddr::new(ip, port))
}

/// The configuration text for `settings`, checked to load as the node would load it from `path`.
pub(crate) fn render(settings: &NodeSettings<'_>, path: &Path) -> Result<String> {
    let country = format!("country = \"{}\"", settings.country);
    let name = match settings.federation_name {
        Some(name) => format!("name = {}", toml_string(name)),
        None => "# name = \"pcu-mou.example\"".to_owned(),
    };
    let federation = format!("listen = \"{}\"", settings.federation_listen);
    let client = format!("listen = \"{}\"", settings.client_listen);
    // (section, key, replacement line); each must be found exactly once.
    let edits: [(&str, &str, &str); 4] = [
        ("", "country", &country),
        ("federation", "name", &name),
        ("federation", "listen", &federation),
        ("client_api", "listen", &client),
    ];
    let mut done = [0usize; 4];
    let mut section = String::new();
    let mut out = format!(
        "# The node of {} as `tulpar init` wrote it: deploy/node.example.toml with this country's\n\
         # code and listen addresses (the node certificate names the addresses they were given as).\n\
         #\n",
        settings.country
    );
    for line in EXAMPLE.lines() {
        let trimmed = line.trim_start();
        if let Some(header) = trimmed.strip_prefix('[') {
            section = header.trim_matches(|c| c == '[' || c == ']').to_owned();
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        let edit = if !trimmed.starts_with('#') && trimmed.contains('=') {
            edits
                .iter()
                .position(|(s, k, _)| *s == section && *k == key)
        } else {
            None
        };
        match edit {
            Some(i) => {
                done[i] += 1;
                out.push_str(edits[i].2);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if let Some(i) = done.iter().position(|&n| n != 1) {
        bail!(
            "the example configuration has {} `{}` lines in [{}], not one",
            done[i],
            edits[i].1,
            edits[i].0
        );
    }
    let config =
        tulpar_config::Config::from_toml(&out, path, std::iter::empty()).with_context(|| {
            format!(
                "{}: the configuration written would not load",
                path.display()
            )
        })?;
    if config.country != settings.country {
        bail!(
            "{}: the configuration names {}",
            path.display(),
            config.country
        );
    }
    Ok(out)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_follow_the_dialled_address() {
        let a = listen_address("--endpoint", "10.1.0.5:7443").unwrap();
        assert_eq!(a.to_string(), "10.1.0.5:7443");
        let b = listen_address("--endpoint", "kz-node.example:7443").unwrap();
        assert_eq!(b.to_string(), "0.0.0.0:7443");
        let c = listen_address("--client-api", "[::1]:7400").unwrap();
        assert_eq!(c.to_string(), "[::1]:7400");
        let e = listen_address("--client-api", "10.1.0.5").unwrap_err();
        assert!(format!("{e:#}").contains("--client-api"), "{e:#}");
    }

    #[test]
    fn the_configuration_loads_with_the_country_and_addresses_given() {
        let path = Path::new("/srv/uz/node.toml");
        let settings = NodeSettings {
            country: CountryCode::parse("UZ").unwrap(),
            federation_name: Some("pcu-mou.example"),
            federation_listen: "10.2.0.7:7443".parse().unwrap(),
            client_listen: "10.2.0.7:7400".parse().unwrap(),
        };
        let text = render(&settings, path).unwrap();
        let config = tulpar_config::Config::from_toml(&text, path, std::iter::empty()).unwrap();
        assert_eq!(config.country.as_str(), "UZ");
        assert_eq!(config.federation.name, "pcu-mou.example");
        assert_eq!(config.federation.listen.to_string(), "10.2.0.7:7443");
        assert_eq!(config.client_api.listen.to_string(), "10.2.0.7:7400");
        assert_eq!(config.data_dir, Path::new("/srv/uz/data"));

        let unnamed = render(
            &NodeSettings {
                federation_name: None,
                ..settings
            },
            path,
        )
        .unwrap();
        let config = tulpar_config::Config::from_toml(&unnamed, path, std::iter::empty()).unwrap();
        assert_eq!(config.federation.name, "tulpar");
    }
}
