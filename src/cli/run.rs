//! `deskgate run` and `deskgate check`.

use crate::config::Config;
use crate::render::Templates;
use std::path::PathBuf;

pub async fn run(
    config: Option<&PathBuf>,
    once: bool,
    now: Option<chrono::DateTime<chrono::Utc>>,
    json: bool,
) -> anyhow::Result<i32> {
    let config = super::load_config(config)?;
    if once {
        let report = crate::daemon::run_once(config, now).await?;
        tracing::info!(?report, "pass complete");
        if json {
            println!("{}", serde_json::to_string(&report)?);
        }
        return Ok(0);
    }
    crate::daemon::run(config, shutdown_signal()).await?;
    Ok(0)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Validates config and templates, printing every problem.
pub fn check(path: Option<&PathBuf>) -> anyhow::Result<i32> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let problems = check_config(&config);
    if problems.is_empty() {
        println!(
            "{}: config and templates are valid ({} desks)",
            config.source.display(),
            config.desks.len()
        );
        Ok(0)
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Ok(1)
    }
}

/// Problems beyond the config's own validation: templates, and secrets that cannot be resolved.
pub fn check_config(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    match Templates::load(&config.general.templates) {
        Ok(t) => {
            let mut langs: Vec<String> = config.desks.iter().map(|d| d.language.clone()).collect();
            langs.sort();
            langs.dedup();
            problems.extend(t.check(&langs));
        }
        Err(e) => problems.push(e.to_string()),
    }
    if let Some(path) = &config.general.accounts {
        match crate::accounts_file::load(path) {
            Ok(directory) => {
                let plans = config.plans();
                for a in directory.accounts() {
                    if !plans.iter().any(|p| p.name.eq_ignore_ascii_case(&a.plan)) {
                        problems.push(format!(
                            "{}: account {}: plan {:?} is not a known plan",
                            path.display(),
                            a.id,
                            a.plan
                        ));
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    for d in &config.desks {
        if let Some(imap) = &d.imap {
            if let Err(e) = imap.secret().resolve() {
                problems.push(format!(
                    "{}: desk {} imap.password_command: {e}",
                    config.source.display(),
                    d.name
                ));
            }
        }
    }
    if config.smtp.password_command.is_some() {
        if let Err(e) = config.smtp.secret().resolve() {
            problems.push(format!(
                "{}: smtp.password_command: {e}",
                config.source.display()
            ));
        }
    }
    if config.store.password_command.is_some() {
        if let Err(e) = config.store.secret().resolve() {
            problems.push(format!(
                "{}: store.password_command: {e}",
                config.source.display()
            ));
        }
    }
    problems
}
