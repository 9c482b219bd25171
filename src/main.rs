//! The `deskgate` binary: parse arguments, set up logging, run the command, map errors to exit
//! codes (0 success, 1 failure, 2 usage).

use clap::Parser;

fn main() {
    let cli = deskgate::cli::Cli::parse();
    init_logging(cli.command.default_log_level());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("deskgate: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(deskgate::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("deskgate: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr: lines for people by default, or with `DESKGATE_LOG_FORMAT=json` one JSON
/// object per line (`timestamp`, `level`, `target`, `fields` with `message`, and the spans) for
/// log shippers (journald, Vector, Fluent Bit, Loki's promtail).
fn init_logging(default_level: &str) {
    let format = std::env::var("DESKGATE_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(default_level))
        .with_writer(std::io::stderr);
    match format.as_str() {
        "json" => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        other => {
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            if !matches!(other, "" | "text") {
                tracing::warn!(
                    value = other,
                    "DESKGATE_LOG_FORMAT is neither \"json\" nor \"text\": logging text"
                );
            }
        }
    }
}

/// `DESKGATE_LOG` (default: the command's own level, `Command::default_log_level`), with
/// async-imap's own logging always off: at trace level it prints every command it sends, the
/// LOGIN password included.
fn log_filter(default_level: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DESKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    match "async_imap=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}
