//! The container set-up script, run as the compose file's `ceremony` service runs it: three countries
//! with pinned trust, configurations that load, and tokens that authenticate.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use tulpar_tests::{binary, free_port};

fn script() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/container/federation-init.sh"
    ))
}

fn run_script(dir: &Path) -> Result<String> {
    let bin = binary("tulpar")?;
    let path = format!(
        "{}:{}",
        bin.parent().context("bin dir")?.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg(script())
        .env("PATH", path)
        .env("FEDERATION_DIR", dir)
        .env(
            "CONFIGS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/federation"),
        )
        .envs([
            ("HOST_KZ", "127.0.0.1"),
            ("HOST_UZ", "127.0.0.1"),
            ("HOST_TJ", "127.0.0.1"),
        ])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_ceremony_sets_up_a_federation_that_starts() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("federation");
    let out = run_script(&dir)?;
    assert!(out.contains("federation ready"), "{out}");
    // Once only: a second run leaves it as it is.
    assert!(run_script(&dir)?.contains("already set up"));

    for (country, partners) in [("kz", "TJ, UZ"), ("uz", "KZ, TJ"), ("tj", "KZ, UZ")] {
        let config = dir.join(country).join("node.toml");
        let output = Command::new(binary("tulpar-node")?)
            .arg("--config")
            .arg(&config)
            .arg("--check")
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains(&format!("partners {partners}")), "{text}");
        let tokens = dir.join(country).join("tokens.txt");
        assert_eq!(
            std::fs::metadata(&tokens)?.permissions().mode() & 0o777,
            0o600
        );
    }

    // The officer token written for KZ authenticates as that unit's officer.
    let tokens = std::fs::read_to_string(dir.join("kz/tokens.txt"))?;
    let officer = tokens
        .lines()
        .find_map(|l| l.strip_prefix("TULPAR_TOKEN_OFFICER="))
        .context("officer token")?;
    let client_addr = format!("127.0.0.1:{}", free_port()?);
    let log_path = temp.path().join("kz-node.log");
    let node = Command::new(binary("tulpar-node")?)
        .arg("--config")
        .arg(dir.join("kz/node.toml"))
        .env("TULPAR__CLIENT_API__LISTEN", &client_addr)
        .env(
            "TULPAR__FEDERATION__LISTEN",
            format!("127.0.0.1:{}", free_port()?),
        )
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()?;
    let node = std::sync::Mutex::new(node);
    let whoami = tulpar_tests::eventually(
        std::time::Duration::from_secs(20),
        "the KZ node answering",
        || {
            let client_addr = client_addr.clone();
            let ca = dir.join("kz/node/tls-ca.crt");
            // A node that could not start is reported with its log, not waited for.
            let exited = node.lock().expect("node").try_wait();
            let log_path = log_path.clone();
            async move {
                if let Some(status) = exited? {
                    anyhow::bail!(
                        "the KZ node exited with {status}:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                let output = Command::new(binary("tulpar")?)
                    .args(["whoami", "--node", &client_addr, "--token", officer, "--ca"])
                    .arg(ca)
                    .output()?;
                Ok(output
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
            }
        },
    )
    .await;
    let mut node = node.into_inner().expect("node");
    // Killing fails only if it already exited; waiting reaps it either way.
    let _ = node.kill();
    node.wait()?;
    let whoami = whoami.with_context(|| {
        format!(
            "the KZ node's log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    })?;
    assert!(
        whoami.contains("officer") && whoami.contains("KZ-AKTAU-PCU"),
        "{whoami}"
    );
    Ok(())
}
