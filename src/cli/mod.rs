//! The command line: argument definitions and the commands behind them.
//!
//! Each command group has its own file; this one holds the clap definitions and dispatch.
//!
//! Owns: what the operator types and reads. The outermost layer: may import anything below it
//! (the roles, `daemon::standalone`, `admin` for a running daemon); nothing imports it.

/// Prints a line on stdout, standing in for std's `println!` in every command file (they are
/// declared below it, so they see it): a reader that went away (`deskgate maintenance list |
/// head`, `… | true`) ends the program quietly with status 0, where std's would panic ("failed
/// printing to stdout: Broken pipe", status 101). What the command did is done by then; only
/// the rest of its printing is dropped.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod broadcast;
mod import;
mod query;
mod report;
mod run;
mod templates;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Reads `--now`: an RFC 3339 instant that stands in for the clock (replays, dry runs, tests).
pub(crate) fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

#[derive(Debug, Parser)]
#[command(
    name = "deskgate",
    version,
    about = "Email-driven ticket gateway for service desks"
)]
pub struct Cli {
    /// Config file. Default config/deskgate.toml; when that file does not exist, the embedded
    /// defaults (a local Maildir in, .eml files out) are used. Relative paths inside a config
    /// file are relative to the file's folder.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (until SIGTERM/SIGINT), or one complete pass with --once.
    Run {
        /// One pass: fetch all waiting mail, process it, send what is due, exit.
        #[arg(long)]
        once: bool,
        /// With --once: run the pass as if it were this instant (RFC 3339).
        #[arg(long, requires = "once", value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
        /// With --once: print what the pass did as JSON on stdout.
        #[arg(long, requires = "once")]
        json: bool,
    },
    /// Validate the config and templates (the built-in set and the overrides on disk); exit
    /// non-zero naming every problem.
    Check,
    /// The mail templates: which are built in or overridden, and a preview with sample data.
    Templates {
        #[command(subcommand)]
        command: templates::TemplatesCommand,
    },
    /// Import a desk's history (an mbox file, a Maildir, or a folder of .eml files) into
    /// tickets, sending nothing; running it again changes nothing. Stop the daemon first.
    Import {
        /// The desk whose mail it is.
        #[arg(long)]
        desk: String,
        /// An mbox file (mboxrd or mboxo; Thunderbird's folders; Apple Mail's Name.mbox
        /// folder), a Maildir (cur/ and new/), a folder of .eml files, or one .eml file.
        path: PathBuf,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Tickets.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// The outbox of mail to send.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Mail that could not be processed.
    Quarantine {
        #[command(subcommand)]
        command: ShelfCommand,
    },
    /// Mail kept aside: bounces and auto-replies answering no ticket, list mail, loops.
    Aside {
        #[command(subcommand)]
        command: ShelfCommand,
    },
    /// Maintenance windows: schedule, change, cancel; notices go to every affected account.
    Maintenance {
        #[command(subcommand)]
        command: broadcast::MaintenanceCommand,
        #[command(flatten)]
        common: broadcast::Common,
    },
    /// Incidents: open, update, resolve; notices go to every affected account.
    Incident {
        #[command(subcommand)]
        command: broadcast::IncidentCommand,
        #[command(flatten)]
        common: broadcast::Common,
    },
    /// The monthly report: tickets opened and resolved, SLA targets met per priority, expert
    /// hours used against the allowance.
    Report {
        /// The month, "2026-11" (bounded by local midnights in the account's or the
        /// deployment's time zone).
        #[arg(long)]
        month: String,
        /// Only this account's tickets and hours.
        #[arg(long)]
        account: Option<String>,
        /// Print the report as JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print the report as CSV: the priority table, a blank line, the expert-hours table.
        #[arg(long)]
        csv: bool,
        /// Judge the targets still running as of this instant (RFC 3339) instead of the clock:
        /// the report of a replayed pass made with `run --once --now`.
        #[arg(long, value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Every ticket, or a page of them (`--limit`, then `--after` the last reference shown).
    List {
        #[arg(long)]
        json: bool,
        /// Judge SLA states as of this instant (RFC 3339) instead of the clock.
        #[arg(long, value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
        /// At most this many tickets, in reference order.
        #[arg(long)]
        limit: Option<usize>,
        /// Only tickets after this reference (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Only tickets of this status (new, open, pending, resolved, closed).
        #[arg(long)]
        status: Option<crate::core::service::ticket::Status>,
        /// Only tickets of this desk.
        #[arg(long)]
        desk: Option<String>,
        /// Only tickets of this account (its id).
        #[arg(long)]
        account: Option<String>,
    },
    /// One ticket with its messages and history.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
        /// Judge SLA states as of this instant (RFC 3339) instead of the clock.
        #[arg(long, value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Every outbox entry.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShelfCommand {
    /// Every mail on the shelf, with the reason it is there.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One mail, raw, with the reason.
    Show {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Process the mail again (after a fix or a config change).
    Retry {
        id: u64,
        #[arg(long)]
        json: bool,
    },
    /// Remove the mail for good.
    Drop {
        id: u64,
        #[arg(long)]
        json: bool,
    },
}

/// Loads the config named on the command line, or the default file, or the embedded defaults.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<crate::config::Config> {
    let default = PathBuf::from(crate::config::DEFAULT_PATH);
    let chosen = match path {
        Some(p) => Some(p.clone()),
        None if default.exists() => Some(default),
        None => {
            tracing::info!(
                "no {} here: using the embedded defaults",
                crate::config::DEFAULT_PATH
            );
            None
        }
    };
    Ok(crate::config::Config::load(chosen.as_deref())?)
}

impl Command {
    /// The log level a command logs at unless `DESKGATE_LOG` says otherwise: `info` for the
    /// daemon, a pass, an import and `check`, whose progress is their output; `warn` for the
    /// queries and the ops commands, whose output is their answer on stdout (an operator
    /// reading `tickets list` wants the list, not "opening store").
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Run { .. } | Command::Check | Command::Import { .. } => "info",
            _ => "warn",
        }
    }
}

/// Runs a parsed command; returns the process exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run { once, now, json } => run::run(cli.config.as_ref(), once, now, json).await,
        Command::Check => run::check(cli.config.as_ref()),
        Command::Templates { command } => templates::templates(cli.config.as_ref(), command),
        Command::Import { desk, path, json } => {
            import::import(cli.config.as_ref(), &desk, &path, json).await
        }
        Command::Tickets { command } => query::tickets(cli.config.as_ref(), command).await,
        Command::Outbox { command } => query::outbox(cli.config.as_ref(), command).await,
        Command::Quarantine { command } => {
            query::shelf(
                cli.config.as_ref(),
                crate::store::Shelf::Quarantine,
                command,
            )
            .await
        }
        Command::Aside { command } => {
            query::shelf(cli.config.as_ref(), crate::store::Shelf::Aside, command).await
        }
        Command::Maintenance { command, common } => {
            broadcast::maintenance(cli.config.as_ref(), command, common).await
        }
        Command::Incident { command, common } => {
            broadcast::incident(cli.config.as_ref(), command, common).await
        }
        Command::Report {
            month,
            account,
            json,
            csv,
            now,
        } => {
            let format = match (json, csv) {
                (true, _) => report::Format::Json,
                (_, true) => report::Format::Csv,
                _ => report::Format::Text,
            };
            report::report(cli.config.as_ref(), month, account, now, format).await
        }
    }
}
