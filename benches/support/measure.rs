//! Timing a benchmark's child process, with its peak memory (VmHWM).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command to completion; returns (seconds, peak RSS in KiB from VmHWM, stdout). Its
/// stderr goes to a file (a pipe nobody reads while it runs would fill up and block it).
pub fn measure(cmd: &mut Command) -> (f64, u64, String) {
    let log = std::env::temp_dir().join(format!("deskgate-bench-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("log file");
    cmd.stderr(log_file);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        panic!(
            "{cmd:?} failed: {status}\n{}",
            &err[err.len().saturating_sub(3000)..]
        );
    }
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        use std::io::Read;
        let _ = o.read_to_string(&mut out);
    }
    (secs, peak, out)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
