//! `report`: the monthly report as a table, as JSON or as CSV, asked of the running daemon or
//! computed from the store when none runs.
//!
//! The figures come from `core::service::report` through the admin query, so the daemon and the CLI give
//! the same answer; this file only asks and prints.

use crate::admin::Query;
use crate::core::service::report::{ExpertHours, Month, MonthlyReport, PriorityRow, TargetCount};
use std::fmt::Write as _;
use std::path::PathBuf;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
}

/// Prints the report of `month` ("2026-11"), of one account or of all.
pub async fn report(
    config: Option<&PathBuf>,
    month: String,
    account: Option<String>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    format: Format,
) -> anyhow::Result<i32> {
    // A typo in the month is a usage error, told before any store is opened.
    if let Err(e) = Month::parse(&month) {
        eprintln!("deskgate: {e}");
        return Ok(2);
    }
    let v = super::query::ask(
        config,
        Query::Report {
            month,
            account,
            now,
        },
    )
    .await?;
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&v)? + "\n",
        Format::Csv => csv(&serde_json::from_value(v)?),
        Format::Text => text(&serde_json::from_value(v)?),
    };
    print(&out)?;
    Ok(0)
}

/// Writes `out` to stdout; a closed pipe (`deskgate report … | head`) is no error.
fn print(out: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The priority table (a header and one line per priority), a blank line, and the expert-hours
/// table (a header and one line per account).
pub fn csv(r: &MonthlyReport) -> String {
    let mut out = String::from(
        "priority,opened,resolved,\
         first_response_met,first_response_missed,first_response_running,\
         restore_met,restore_missed,restore_running\n",
    );
    for row in &r.per_priority {
        let PriorityRow {
            priority,
            opened,
            resolved,
            first_response: f,
            restore: s,
        } = row;
        let _ = writeln!(
            out,
            "{priority:?},{opened},{resolved},{},{},{},{},{},{}",
            f.met, f.missed, f.running, s.met, s.missed, s.running
        );
    }
    out.push_str("\naccount,plan,used_minutes,used_hours,allowance_hours,remaining_hours\n");
    for h in &r.expert_hours {
        let ExpertHours {
            account,
            plan,
            used_minutes,
            used_hours,
            allowance_hours,
            remaining_hours,
        } = h;
        let _ = writeln!(
            out,
            "{},{},{used_minutes},{used_hours:.2},{allowance_hours:.2},{remaining_hours:.2}",
            csv_field(account),
            csv_field(plan.as_deref().unwrap_or("")),
        );
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The report as a table for people.
pub fn text(r: &MonthlyReport) -> String {
    let mut out = String::new();
    let whose = r
        .account
        .as_deref()
        .map_or_else(|| "all accounts".to_string(), |a| format!("account {a}"));
    let _ = writeln!(
        out,
        "Report {} ({}), {whose}, targets as of {}",
        r.month,
        r.timezone,
        r.as_of.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "Opened {}, resolved {}.\n", r.opened, r.resolved);
    // The headings are laid out as the rows below: 8, 6 and 8 wide, then 26 and the rest.
    let _ = writeln!(
        out,
        "priority opened resolved  first response             restore"
    );
    let _ = writeln!(
        out,
        "                          met / missed / running     met / missed / running"
    );
    let counts = |c: &TargetCount| format!("{:>3} / {:>6} / {:>7}", c.met, c.missed, c.running);
    for row in &r.per_priority {
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>8}  {:<26} {}",
            format!("{:?}", row.priority),
            row.opened,
            row.resolved,
            counts(&row.first_response),
            counts(&row.restore)
        );
    }
    let _ = writeln!(out, "\nExpert hours");
    if r.expert_hours.is_empty() {
        let _ = writeln!(out, "(none logged, no allowance)");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<10} {:>8} {:>10} {:>10}",
        "account", "plan", "used", "allowance", "remaining"
    );
    for h in &r.expert_hours {
        let _ = writeln!(
            out,
            "{:<20} {:<10} {:>8.2} {:>10.2} {:>10.2}",
            h.account,
            h.plan.as_deref().unwrap_or("-"),
            h.used_hours,
            h.allowance_hours,
            h.remaining_hours
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("acme"), "acme");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
