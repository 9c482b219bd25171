//! Import benchmark: `deskgate import` of the ingest benchmark's mailbox exported as an mbox.
//!
//! 1. Generates the same N mails as `benches/ingest.rs` (default 10,000,
//!    `DESKGATE_BENCH_MAILS` to change) and writes them as one mboxrd file.
//! 2. Times `deskgate import --desk nl FILE --json` into an empty store, median of 3 runs
//!    (`DESKGATE_BENCH_RUNS`), each on a fresh store; peak memory is the child's VmHWM.
//! 3. Times the same import once more into the store of the last run: every mail a duplicate
//!    (what running it twice costs).
//!
//! Run: `cargo bench --bench import` (no mail server needed). Results go to stdout;
//! BENCHMARKS.md records them.

#[path = "support/mailbox.rs"]
mod mailbox;
#[path = "support/measure.rs"]
mod measure;

use measure::{measure, median};
use std::path::{Path, PathBuf};
use std::process::Command;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &Path) -> PathBuf {
    let cfg = dir.join("deskgate.toml");
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    std::fs::write(
        &cfg,
        format!(
            "[store]\npath = {:?}\n[smtp]\nurl = \"file://{}\"\n[general]\ntemplates = {:?}\n[[desk]]\nname = \"nl\"\naddress = \"servicedesk.nl@example.net\"\nlanguage = \"en\"\n[desk.maildir]\npath = {:?}\n",
            dir.join("store").display().to_string(),
            dir.join("outbox").display(),
            templates.display().to_string(),
            dir.join("inbox").display().to_string(),
        ),
    )
    .expect("write config");
    cfg
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with `cargo bench --bench import`");
        return;
    }
    let n = env_usize("DESKGATE_BENCH_MAILS", 10_000);
    let runs = env_usize("DESKGATE_BENCH_RUNS", 3);
    let bin = std::env::var("DESKGATE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_deskgate").to_string());
    let work = tempfile::tempdir().expect("tempdir");

    let mails = mailbox::generate(n);
    let mbox_path = work.path().join("history.mbox");
    let mbox = deskgate::source::mbox::join(&mails);
    std::fs::write(&mbox_path, &mbox).expect("write mbox");
    eprintln!(
        "{n} mails written as an mbox of {:.1} MB",
        mbox.len() as f64 / 1e6
    );
    drop(mbox);

    let import = |dir: &Path| -> (f64, u64, serde_json::Value) {
        let cfg = config(dir);
        let (secs, peak, out) = measure(
            Command::new(&bin)
                .arg("--config")
                .arg(&cfg)
                .args(["import", "--desk", "nl"])
                .arg(&mbox_path)
                .arg("--json")
                .env("DESKGATE_LOG", "warn"),
        );
        let summary: serde_json::Value = serde_json::from_str(&out).expect("summary");
        (secs, peak, summary)
    };

    let mut times = Vec::new();
    let mut peak = 0;
    let mut last = PathBuf::new();
    for r in 0..runs {
        let dir = work.path().join(format!("run{r}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (secs, p, summary) = import(&dir);
        assert_eq!(summary["mails"], n, "{summary}");
        assert_eq!(summary["duplicates"], 0, "{summary}");
        eprintln!(
            "import run {r}: {secs:.2} s, peak {} MB: {summary}",
            p / 1024
        );
        times.push(secs);
        peak = peak.max(p);
        last = dir;
    }
    let (again, again_peak, summary) = import(&last);
    assert_eq!(summary["duplicates"], n, "{summary}");
    assert!(
        std::fs::read_dir(last.join("outbox"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "the import sent mail"
    );
    let med = median(times.clone());
    let list: Vec<String> = times.iter().map(|t| format!("{t:.2}")).collect();
    println!("| what | median of {runs} | mails/s | peak RSS |");
    println!("|---|---|---|---|");
    println!(
        "| deskgate import, empty store ({} s) | {med:.2} s | {:.0} | {} MB |",
        list.join(" / "),
        n as f64 / med,
        peak / 1024
    );
    println!(
        "| deskgate import again, every mail a duplicate | {again:.2} s | {:.0} | {} MB |",
        n as f64 / again,
        again_peak / 1024
    );
    println!(
        "DESKGATE-IMPORT-BENCH {}",
        serde_json::json!({
            "mails": n,
            "median_s": med,
            "mails_per_s": n as f64 / med,
            "peak_mb": peak / 1024,
            "again_s": again,
            "again_peak_mb": again_peak / 1024,
        })
    );
}
