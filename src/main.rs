//! The `deskgate` binary: parse arguments, set up logging, run the command, map errors to exit
//! codes (0 success, 1 failure, 2 usage).

use clap::Parser;

fn main() {
    let cli = deskgate::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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

/// `DESKGATE_LOG` (default `info`), with async-imap's own logging always off: at trace level it
/// prints every command it sends, the LOGIN password included.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DESKGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match "async_imap=off".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}
