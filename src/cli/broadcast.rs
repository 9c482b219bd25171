//! `maintenance …` and `incident …`: what ops schedule and announce, through the running
//! daemon when there is one (it owns the store and sends the notices).
//!
//! The refusals (a window already over, a start days early, a completion before the window, a
//! site or service no account lists) are decided below, by the core and `broadcast::ops`; this
//! file only carries `--force` to them and prints their answer.

use super::query::{ask, print_json, s};
use crate::admin::Query;
use crate::broadcast::ops::{IncidentForm, MaintenanceForm, Step};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

/// Options every command of these groups takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Act as if it were this instant (RFC 3339): for replays and tests with a manual clock.
    #[arg(long, global = true, value_parser = super::parse_now)]
    pub now: Option<DateTime<Utc>>,
}

/// Scope and impact, shared by schedule, recurring and update. (The id a new maintenance or
/// incident may be given is not part of it: `update <ID>` takes its id as an argument, and
/// clap refuses two arguments of one name.)
#[derive(Debug, Clone, Default, Args)]
pub struct Scope {
    /// A short title customers recognise ("Core router upgrade AM11").
    #[arg(long)]
    pub title: Option<String>,
    /// outage, degraded, reduced-redundancy or no-impact.
    #[arg(long)]
    pub impact: Option<String>,
    /// Sites in scope (comma-separated or repeated): accounts with a service there are told.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub sites: Option<Vec<String>>,
    /// Services in scope (comma-separated or repeated).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub services: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Schedule a one-off window and announce it to every affected account.
    Schedule {
        #[command(flatten)]
        scope: Scope,
        /// Choose the id instead of the next MNT-<n>.
        #[arg(long)]
        id: Option<String>,
        /// Start: 2026-12-02T00:00+01:00, or local time in --tz.
        #[arg(long)]
        start: String,
        /// End, like --start.
        #[arg(long, conflicts_with = "duration")]
        end: Option<String>,
        /// Instead of --end: "6h", "90m".
        #[arg(long)]
        duration: Option<String>,
        /// Zone of times written without an offset (default: general.timezone).
        #[arg(long)]
        tz: Option<String>,
        /// Announce it as tentative (not confirmed).
        #[arg(long)]
        tentative: bool,
        /// Schedule it even though its window has ended, or a site or service is one no
        /// account lists (a new site before its accounts are added).
        #[arg(long)]
        force: bool,
        /// Show who would be told, per account and language; store and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Schedule a standing window ("first Wednesday of the month 00:00–06:00").
    Recurring {
        #[command(flatten)]
        scope: Scope,
        /// Choose the id instead of the next MNT-<n>.
        #[arg(long)]
        id: Option<String>,
        /// An RFC 5545 rule: FREQ=MONTHLY;BYDAY=1WE.
        #[arg(long)]
        rrule: String,
        /// Local start time of each occurrence: 00:00.
        #[arg(long)]
        at: String,
        /// Length of each occurrence: 6h.
        #[arg(long)]
        duration: String,
        /// The ops' zone the rule runs in: Europe/Paris (default: general.timezone).
        #[arg(long)]
        tz: Option<String>,
        /// First date an occurrence may fall on (default: today).
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        tentative: bool,
        /// Schedule it even though its rule has no occurrence left, or a site or service is
        /// one no account lists.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Every maintenance.
    List,
    /// One maintenance: schedule, next occurrences, history, notices sent, and who is told.
    Show { id: String },
    /// Change a maintenance; customers who were told get a reschedule notice when times change.
    Update {
        id: String,
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        #[arg(long)]
        duration: Option<String>,
        #[arg(long)]
        tz: Option<String>,
        #[arg(long)]
        rrule: Option<String>,
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        from: Option<String>,
        /// Take the occurrence starting at this instant out of a standing window.
        #[arg(long)]
        skip: Option<String>,
        /// Confirm a tentative maintenance.
        #[arg(long)]
        confirm: bool,
        /// Change it even though the new times have passed, or a site or service is one no
        /// account lists.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Cancel it (a whole series, for a standing window); customers who were told are told.
    Cancel {
        id: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// The work has started (one-off windows; standing windows start with the clock). Refused
    /// more than 24 h before the window starts.
    Start {
        id: String,
        /// Mark it started even more than 24 h before its window (work that really began early).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// The work is done. Refused before the window starts.
    Complete {
        id: String,
        /// Mark it completed even before its window starts (work really done early).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident and tell the affected accounts.
    Open {
        #[command(flatten)]
        scope: Scope,
        /// Choose the id instead of the next INC-<n>.
        #[arg(long)]
        id: Option<String>,
        /// What customers are told.
        #[arg(long)]
        message: String,
        /// investigating (default), identified or monitoring.
        #[arg(long)]
        status: Option<String>,
        /// A security incident: managed accounts' own contacts are told too, not only their partner.
        #[arg(long)]
        security: bool,
        /// Accept a site or service no account lists (a new site before its accounts are added).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Post an update.
    Update {
        id: String,
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        message: String,
        #[arg(long)]
        status: Option<String>,
        /// Accept a site or service no account lists.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Resolve it, with the last word to customers.
    Resolve {
        id: String,
        #[arg(long)]
        message: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Every incident.
    List,
    /// One incident with its updates, notices and audience.
    Show { id: String },
}

fn form(scope: Scope) -> MaintenanceForm {
    MaintenanceForm {
        title: scope.title,
        impact: scope.impact,
        sites: scope.sites,
        services: scope.services,
        ..MaintenanceForm::default()
    }
}

pub async fn maintenance(
    config: Option<&PathBuf>,
    cmd: MaintenanceCommand,
    common: Common,
) -> anyhow::Result<i32> {
    let now = common.now;
    let (q, dry) = match cmd {
        MaintenanceCommand::Schedule {
            scope,
            id,
            start,
            end,
            duration,
            tz,
            tentative,
            force,
            dry_run,
        } => (
            Query::MaintenanceSchedule {
                form: MaintenanceForm {
                    id,
                    start: Some(start),
                    end,
                    duration,
                    tz,
                    tentative,
                    force,
                    ..form(scope)
                },
                dry_run,
                now,
            },
            dry_run,
        ),
        MaintenanceCommand::Recurring {
            scope,
            id,
            rrule,
            at,
            duration,
            tz,
            from,
            tentative,
            force,
            dry_run,
        } => (
            Query::MaintenanceSchedule {
                form: MaintenanceForm {
                    id,
                    rrule: Some(rrule),
                    at: Some(at),
                    duration: Some(duration),
                    tz,
                    from,
                    tentative,
                    force,
                    ..form(scope)
                },
                dry_run,
                now,
            },
            dry_run,
        ),
        MaintenanceCommand::List => {
            let v = ask(config, Query::MaintenanceList { now }).await?;
            if common.json {
                return print_json(&v);
            }
            for m in v.as_array().into_iter().flatten() {
                println!(
                    "{:<10} {:<10} {:<19} {:<18} {}",
                    s(m, "id"),
                    s(m, "status"),
                    s(m, "impact"),
                    s(m, "next_start"),
                    s(m, "title")
                );
            }
            return Ok(0);
        }
        MaintenanceCommand::Show { id } => (Query::MaintenanceShow { id, now }, false),
        MaintenanceCommand::Update {
            id,
            scope,
            start,
            end,
            duration,
            tz,
            rrule,
            at,
            from,
            skip,
            confirm,
            force,
            dry_run,
        } => (
            Query::MaintenanceUpdate {
                id,
                form: MaintenanceForm {
                    start,
                    end,
                    duration,
                    tz,
                    rrule,
                    at,
                    from,
                    skip,
                    confirm,
                    force,
                    ..form(scope)
                },
                dry_run,
                now,
            },
            dry_run,
        ),
        MaintenanceCommand::Cancel { id, dry_run } => {
            (step(id, Step::Cancel, dry_run, false, now), dry_run)
        }
        MaintenanceCommand::Start { id, force, dry_run } => {
            (step(id, Step::Start, dry_run, force, now), dry_run)
        }
        MaintenanceCommand::Complete { id, force, dry_run } => {
            (step(id, Step::Complete, dry_run, force, now), dry_run)
        }
    };
    let v = ask(config, q).await?;
    if common.json {
        return print_json(&v);
    }
    println!(
        "{} [{}] {} — {}, impact {}, sequence {}",
        s(&v, "id"),
        s(&v, "status"),
        s(&v, "title"),
        if v["recurring"].as_bool() == Some(true) {
            format!(
                "{} at {} for {} ({})",
                s(&v["schedule"], "rule"),
                s(&v["schedule"], "at"),
                s(&v["schedule"], "duration"),
                s(&v["schedule"], "timezone")
            )
        } else {
            format!("{} → {}", s(&v, "next_start"), s(&v, "next_end"))
        },
        s(&v, "impact"),
        v["sequence"]
    );
    for o in v["occurrences"].as_array().into_iter().flatten() {
        println!(
            "  window {} → {}  ({})",
            s(o, "start"),
            s(o, "end"),
            s(o, "reference")
        );
    }
    print_audience(&v, dry);
    print_notices(&v);
    Ok(0)
}

fn step(id: String, step: Step, dry_run: bool, force: bool, now: Option<DateTime<Utc>>) -> Query {
    Query::MaintenanceStep {
        id,
        step,
        dry_run,
        force,
        now,
    }
}

pub async fn incident(
    config: Option<&PathBuf>,
    cmd: IncidentCommand,
    common: Common,
) -> anyhow::Result<i32> {
    let now = common.now;
    let incident_form = |scope: Scope, message: String, status: Option<String>| IncidentForm {
        id: None,
        title: scope.title,
        impact: scope.impact,
        sites: scope.sites,
        services: scope.services,
        status,
        message: Some(message),
        security: false,
        force: false,
    };
    let (q, dry) = match cmd {
        IncidentCommand::Open {
            scope,
            id,
            message,
            status,
            security,
            force,
            dry_run,
        } => (
            Query::IncidentOpen {
                form: IncidentForm {
                    id,
                    security,
                    force,
                    ..incident_form(scope, message, status)
                },
                dry_run,
                now,
            },
            dry_run,
        ),
        IncidentCommand::Update {
            id,
            scope,
            message,
            status,
            force,
            dry_run,
        } => (
            Query::IncidentUpdate {
                id,
                form: IncidentForm {
                    force,
                    ..incident_form(scope, message, status)
                },
                dry_run,
                now,
            },
            dry_run,
        ),
        IncidentCommand::Resolve {
            id,
            message,
            dry_run,
        } => (
            Query::IncidentResolve {
                id,
                message,
                dry_run,
                now,
            },
            dry_run,
        ),
        IncidentCommand::List => {
            let v = ask(config, Query::IncidentList).await?;
            if common.json {
                return print_json(&v);
            }
            for i in v.as_array().into_iter().flatten() {
                println!(
                    "{:<10} {:<13} {:<19} {}",
                    s(i, "id"),
                    s(i, "status"),
                    s(i, "impact"),
                    s(i, "title")
                );
            }
            return Ok(0);
        }
        IncidentCommand::Show { id } => (Query::IncidentShow { id }, false),
    };
    let v = ask(config, q).await?;
    if common.json {
        return print_json(&v);
    }
    println!(
        "{} [{}] {} — impact {}{}",
        s(&v, "id"),
        s(&v, "status"),
        s(&v, "title"),
        s(&v, "impact"),
        if v["security"].as_bool() == Some(true) {
            ", security"
        } else {
            ""
        }
    );
    for u in v["updates"].as_array().into_iter().flatten() {
        println!(
            "  {} {:<13} {}",
            s(u, "at"),
            s(u, "status"),
            s(u, "message")
        );
    }
    print_audience(&v, dry);
    print_notices(&v);
    Ok(0)
}

/// Who is (or would be) told, per account, with their language.
fn print_audience(v: &Value, dry_run: bool) {
    let a = &v["audience"];
    println!(
        "\n{} {} recipient(s) in {} account(s) in scope; by language: {}",
        if dry_run { "Would tell" } else { "Tells" },
        a["recipients"],
        a["accounts_in_scope"],
        a["by_language"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(l, n)| format!("{l} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for acc in a["accounts"].as_array().into_iter().flatten() {
        let recipients = acc["recipients"].as_array().cloned().unwrap_or_default();
        println!("  {} ({})", s(acc, "id"), s(acc, "name"));
        if recipients.is_empty() {
            println!("    nobody: no contact holds the maintenance role");
        }
        for r in &recipients {
            let via = r["via"]
                .as_str()
                .map(|p| format!(" via partner {p}"))
                .unwrap_or_default();
            println!(
                "    {} <{}> [{}]{via}",
                s(r, "name"),
                s(r, "address"),
                s(r, "language")
            );
        }
    }
    if dry_run {
        println!("\n(dry run: nothing stored, nothing sent)");
    }
}

fn print_notices(v: &Value) {
    if let Some(b) = v.get("broadcast") {
        println!(
            "\nQueued now: {} notice(s) to {} recipient(s), {} held",
            b["notices"], b["queued"], b["held"]
        );
    }
    let notices = v["notices"].as_array().cloned().unwrap_or_default();
    if !notices.is_empty() {
        println!("\nNotices:");
    }
    for n in &notices {
        println!(
            "  {} {:<13} queued {} held {}{}",
            s(n, "begun"),
            s(n, "kind"),
            n["queued"],
            n["held"],
            if n["done"].is_null() {
                " (in progress)"
            } else {
                ""
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct MaintenanceCli {
        #[command(subcommand)]
        command: MaintenanceCommand,
        #[command(flatten)]
        common: Common,
    }

    #[derive(Debug, Parser)]
    struct IncidentCli {
        #[command(subcommand)]
        command: IncidentCommand,
        #[command(flatten)]
        common: Common,
    }

    /// `update <ID>` once flattened a scope that had an `--id` of its own: clap refused the
    /// command (two arguments named `id`) and every `maintenance update` and `incident update`
    /// panicked.
    #[test]
    fn update_commands_take_their_id_once() {
        MaintenanceCli::command().debug_assert();
        IncidentCli::command().debug_assert();
        let m = MaintenanceCli::try_parse_from([
            "maintenance",
            "update",
            "MNT-1",
            "--start",
            "2026-12-16T00:00",
        ])
        .expect("maintenance update parses");
        assert!(matches!(m.command, MaintenanceCommand::Update { ref id, .. } if id == "MNT-1"));
        let i = IncidentCli::try_parse_from(["incident", "update", "INC-2", "--message", "ok"])
            .expect("incident update parses");
        assert!(matches!(i.command, IncidentCommand::Update { ref id, .. } if id == "INC-2"));
        let s = MaintenanceCli::try_parse_from([
            "maintenance",
            "schedule",
            "--id",
            "CHG-7",
            "--title",
            "t",
            "--start",
            "2026-12-16T00:00",
            "--duration",
            "1h",
        ])
        .expect("schedule parses");
        assert!(
            matches!(s.command, MaintenanceCommand::Schedule { id: Some(ref id), .. } if id == "CHG-7")
        );
    }
}
