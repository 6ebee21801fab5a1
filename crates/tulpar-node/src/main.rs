//! `tulpar-node`: the national node of one country.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tulpar_node::config::{Config, LogFormat};

// The node allocates and frees many small buffers per alert across threads (protobuf, HTTP/2,
// sled pages); mimalloc does that with less CPU than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Tulpar national node: the client API for this country's officers and systems, and the
/// federation API for partner nodes.
#[derive(Debug, Parser)]
#[command(name = "tulpar-node", version, about)]
struct Args {
    /// The node's configuration file (see deploy/node.example.toml).
    #[arg(long, short, env = "TULPAR_CONFIG", default_value = "node.toml")]
    config: PathBuf,
    /// Check the configuration, keys and trust store, then exit without serving.
    #[arg(long)]
    check: bool,
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TULPAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        if args.check {
            tulpar_node::check(config).await
        } else {
            tulpar_node::run_until_signal(config).await
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if tulpar_node::is_damaged_ledger(&error) {
                ExitCode::from(tulpar_node::EXIT_DAMAGED_LEDGER)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
