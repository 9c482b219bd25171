//! `tickets`, `outbox`, `quarantine` and `aside`: read the store, through the running daemon when
//! there is one.

use super::{OutboxCommand, ShelfCommand, TicketsCommand};
use crate::admin::{self, Query};
use crate::store::Shelf;
use serde_json::Value;
use std::path::PathBuf;

/// Answers a query through the daemon's admin socket, or from the store when no daemon runs.
pub(super) async fn ask(config: Option<&PathBuf>, q: Query) -> anyhow::Result<Value> {
    let config = super::load_config(config)?;
    if let Some(v) = admin::ask(&config.admin_socket(), &q)
        .await
        .map_err(anyhow::Error::msg)?
    {
        return Ok(v);
    }
    let roles = crate::daemon::standalone(config)?;
    let answer = admin::answer(&roles, &q).map_err(anyhow::Error::msg);
    roles.ctx.store.flush()?;
    answer
}

pub(super) fn print_json(v: &Value) -> anyhow::Result<i32> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(0)
}

/// The string at `k`, or "".
pub(super) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub async fn tickets(config: Option<&PathBuf>, cmd: TicketsCommand) -> anyhow::Result<i32> {
    match cmd {
        TicketsCommand::List {
            json,
            now,
            limit,
            after,
            status,
            desk,
            account,
        } => {
            let filter = crate::admin::TicketFilter {
                limit,
                after,
                status,
                desk,
                account,
            };
            let v = ask(config, Query::TicketsList { now, filter }).await?;
            if json {
                return print_json(&v);
            }
            for t in v.as_array().into_iter().flatten() {
                println!(
                    "{:<12} {:<9} {:<3} {:<30} {}",
                    s(t, "ref"),
                    s(t, "status"),
                    s(t, "priority"),
                    s(t, "requester"),
                    s(t, "subject")
                );
            }
            Ok(0)
        }
        TicketsCommand::Show {
            reference,
            json,
            now,
        } => {
            let v = ask(config, Query::TicketShow { reference, now }).await?;
            if json {
                return print_json(&v);
            }
            println!("[{}] {}", s(&v, "ref"), s(&v, "subject"));
            println!(
                "desk {}  status {}  priority {}  requester {}",
                s(&v, "desk"),
                s(&v, "status"),
                s(&v, "priority"),
                s(&v, "requester")
            );
            for m in v
                .get("messages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!(
                    "\n--- {} {} {} ({}) {}",
                    s(m, "date"),
                    s(m, "direction"),
                    s(m, "from"),
                    s(m, "kind"),
                    s(m, "subject")
                );
                println!("{}", s(m, "text").trim_end());
            }
            println!("\nHistory:");
            for e in v
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let detail: Vec<String> = e
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !["at", "by", "event"].contains(&k.as_str()))
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string())
                        )
                    })
                    .collect();
                println!(
                    "  {} {} {} {}",
                    s(e, "at"),
                    s(e, "by"),
                    s(e, "event"),
                    detail.join(" ")
                );
            }
            Ok(0)
        }
    }
}

pub async fn outbox(config: Option<&PathBuf>, cmd: OutboxCommand) -> anyhow::Result<i32> {
    let OutboxCommand::List { json } = cmd;
    let v = ask(config, Query::OutboxList).await?;
    if json {
        return print_json(&v);
    }
    for e in v.as_array().into_iter().flatten() {
        let to: Vec<&str> = e
            .get("to")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:>6} {:<7} {:<12} {:<30} {}",
            e.get("id").and_then(Value::as_u64).unwrap_or(0),
            s(e, "state"),
            e.get("ticket").and_then(Value::as_str).unwrap_or("-"),
            to.join(","),
            s(e, "subject")
        );
    }
    Ok(0)
}

pub async fn shelf(
    config: Option<&PathBuf>,
    shelf: Shelf,
    cmd: ShelfCommand,
) -> anyhow::Result<i32> {
    match cmd {
        ShelfCommand::List { json } => {
            let v = ask(config, Query::ShelfList { shelf }).await?;
            if json {
                return print_json(&v);
            }
            for e in v.as_array().into_iter().flatten() {
                println!(
                    "{:>6} {} {} {:<30} {}",
                    e.get("id").and_then(Value::as_u64).unwrap_or(0),
                    s(e, "at"),
                    s(e, "desk"),
                    s(e, "from"),
                    s(e, "error")
                );
            }
            Ok(0)
        }
        ShelfCommand::Retry { id, json } => {
            let v = ask(config, Query::ShelfRetry { shelf, id }).await?;
            if json {
                return print_json(&v);
            }
            println!("{id}: {}", s(&v, "outcome"));
            Ok(0)
        }
        ShelfCommand::Drop { id, json } => {
            let v = ask(config, Query::ShelfDrop { shelf, id }).await?;
            if json {
                return print_json(&v);
            }
            println!("{id}: dropped");
            Ok(0)
        }
        ShelfCommand::Show { id, json } => {
            let v = ask(config, Query::ShelfShow { shelf, id }).await?;
            if json {
                return print_json(&v);
            }
            println!(
                "{} from {} ({}), {} bytes: {}",
                s(&v, "origin"),
                s(&v, "from"),
                s(&v, "desk"),
                v.get("size").and_then(Value::as_u64).unwrap_or(0),
                s(&v, "error")
            );
            println!("{}", s(&v, "raw"));
            Ok(0)
        }
    }
}
