//! `deskgate run` and `deskgate check`.

use crate::config::Config;
use crate::render::{RenderError, Templates};
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
        let summary = report.summary();
        tracing::info!(
            fetched = report.fetched,
            created = report.created,
            appended = report.appended,
            aside = report.aside,
            quarantined = report.quarantined,
            sent = report.sent,
            failed = report.failed,
            retrying = report.retrying,
            %summary,
            "pass complete"
        );
        // The machine form is unchanged (tests and scripts parse it); people get one line.
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{summary}");
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
        let overrides = Templates::load(&config.general.templates)
            .map(|t| t.overrides().count())
            .unwrap_or(0);
        let templates = match overrides {
            0 => format!(
                "built-in templates (no overrides in {})",
                config.general.templates.display()
            ),
            n => format!(
                "built-in templates with {n} override{} from {}",
                if n == 1 { "" } else { "s" },
                config.general.templates.display()
            ),
        };
        println!(
            "{}: config and templates are valid ({} desks; {templates})",
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

/// The client secret and refresh token commands of an oauth2 table that fail (each message
/// starts with the key). The token endpoint itself is not asked: `check` stays offline.
fn oauth2_secret_problems(o: &crate::config::OAuth2Config) -> Vec<String> {
    [o.client_secret(), o.refresh_token()]
        .into_iter()
        .filter(|s| s.command.is_some())
        .filter_map(|s| s.resolve().err())
        .collect()
}

/// Problems beyond the config's own validation: templates, and secrets that cannot be resolved.
pub fn check_config(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    match Templates::load(&config.general.templates) {
        Ok(t) => {
            // Every template in force compiles (the built-in ones compile on first use).
            if let Err(RenderError::Compile { problems: p }) = t.compile_all() {
                problems.extend(p);
            }
            let mut langs: Vec<String> = config.desks.iter().map(|d| d.language.clone()).collect();
            langs.sort();
            langs.dedup();
            problems.extend(t.check(&langs));
        }
        Err(RenderError::Compile { problems: p }) => problems.extend(p),
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
        // `run` refuses a missing Maildir (a typo would otherwise read as an empty mailbox);
        // the embedded defaults' own is created by `run` and is no problem here.
        if let Some(m) = d.maildir.as_ref().filter(|m| !m.create && !m.path.is_dir()) {
            let missing = crate::source::SourceError::Missing {
                desk: d.name.clone(),
                path: m.path.display().to_string(),
            };
            problems.push(format!("{}: {missing}", config.source.display()));
        }
        if let Some(imap) = &d.imap {
            if let Err(e) = imap.secret().resolve() {
                problems.push(format!(
                    "{}: desk {} imap.password_command: {e}",
                    config.source.display(),
                    d.name
                ));
            }
            if let Some(o) = &imap.oauth2 {
                for e in oauth2_secret_problems(o) {
                    problems.push(format!(
                        "{}: desk {} imap.oauth2.{e}",
                        config.source.display(),
                        d.name
                    ));
                }
            }
        }
    }
    if let Some(o) = &config.smtp.oauth2 {
        for e in oauth2_secret_problems(o) {
            problems.push(format!("{}: smtp.oauth2.{e}", config.source.display()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn check_names_a_maildir_that_does_not_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("inbox-fr")).expect("mkdir");
        std::fs::write(
            dir.path().join("deskgate.toml"),
            "[store]\npath = \"store\"\n[smtp]\nurl = \"file://out\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"nl@example.net\"\nlanguage = \"en\"\n\
             [desk.maildir]\npath = \"var/inbx-nl\"\n\
             [[desk]]\nname = \"fr\"\naddress = \"fr@example.net\"\nlanguage = \"en\"\n\
             [desk.maildir]\npath = \"inbox-fr\"\n",
        )
        .expect("write");
        let config = Config::load(Some(&dir.path().join("deskgate.toml"))).expect("loads");
        let problems = check_config(&config);
        let missing = config.desks[0]
            .maildir
            .as_ref()
            .map(|m| m.path.display().to_string())
            .unwrap_or_default();
        assert_eq!(
            problems,
            [format!(
                "{}: desk nl: maildir {missing} does not exist",
                config.source.display()
            )]
        );
        assert!(Path::new(&missing).ends_with("var/inbx-nl"));
    }
}
