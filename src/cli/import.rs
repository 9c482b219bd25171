//! `deskgate import`: a desk's history into tickets, with a progress line on a terminal and a
//! summary at the end.
//!
//! The progress is one line on stderr rewritten in place (`\r`), only when stderr is a
//! terminal and at most ten times a second: a log file or a pipe gets the summary alone. (A
//! progress-bar crate would add a dependency for one line.)

use crate::import::{self, Progress};
use crate::source::history::History;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub async fn import(
    config: Option<&PathBuf>,
    desk: &str,
    path: &Path,
    json: bool,
) -> anyhow::Result<i32> {
    let config = super::load_config(config)?;
    let desk = config.known_desk(desk).map_err(anyhow::Error::msg)?.clone();
    // sled lets one process open the store: a running daemon holds it.
    let socket = config.admin_socket();
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        anyhow::bail!(
            "a deskgate daemon is running on this store (it answers on {}): stop it, import, then start it again",
            socket.display()
        );
    }
    let history = History::open(path)?;
    let ctx = crate::daemon::import_context(config)?;
    let mut line = ProgressLine::new(std::io::stderr().is_terminal());
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || {
        import::import(ctx, &desk, history, &mut |p| line.show(p, false))
            .map(|report| (report, line))
    })
    .await?;
    let (report, mut line) = report?;
    line.clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = serde_json::json!(seconds);
        println!("{v}");
    } else {
        println!("{} in {seconds:.1} s", report.summary());
    }
    Ok(0)
}

/// The progress line on a terminal.
struct ProgressLine {
    on: bool,
    last: Option<Instant>,
    shown: bool,
}

impl ProgressLine {
    fn new(on: bool) -> ProgressLine {
        ProgressLine {
            on,
            last: None,
            shown: false,
        }
    }

    fn show(&mut self, p: Progress, force: bool) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if !force
            && self
                .last
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let percent = if p.total_bytes == 0 {
            100.0
        } else {
            p.read_bytes as f64 * 100.0 / p.total_bytes as f64
        };
        let mut err = std::io::stderr().lock();
        // A closed terminal only loses the progress.
        let _ = write!(
            err,
            "\rimporting: {} mails, {percent:3.0} % ({:.1} of {:.1} MB)\x1b[K",
            p.mails,
            p.read_bytes as f64 / 1e6,
            p.total_bytes as f64 / 1e6
        );
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}
