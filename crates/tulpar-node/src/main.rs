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
    /// Log as `text` (human lines) or `json` (one object a line, with the fields of the event and of
    /// the span it happened in); overrides `log.format`.
    #[arg(long, value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    LogFormat::try_from(text.to_owned()).map_err(|e| e.to_string())
}

fn init_logging(config: &Config, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TULPAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        // Colours only for a person at a terminal: a journal or a file gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn main() -> ExitCode {
    // mimalloc advises the kernel to back its arenas with transparent huge pages, so on a kernel in
    // THP `madvise` mode (the common default) every 2 MiB region the node touches becomes resident
    // whole: an idle node held about 70 MiB instead of about 35. Off for this process (and what it
    // spawns); a kernel without the prctl changes nothing.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let args = Args::parse();
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let format = args.log_format.unwrap_or(config.log.format);
    init_logging(&config, format);
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
