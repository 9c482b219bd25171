//! Ingest benchmark: deskgate against the raw limit, on the same machine in the same run.
//!
//! 1. Fills a real Dovecot mailbox with N realistic mails (4–20 KB, a third with attachments,
//!    a fifth replies to earlier ones; default N = 10,000, `DESKGATE_BENCH_MAILS` to change).
//! 2. Times `mbsync` (isync) downloading that mailbox into a Maildir: the raw limit (it fsyncs
//!    every mail).
//! 3. Times `deskgate run --once` ingesting the mailbox into an empty store, then into a store
//!    already holding 100,000 tickets (`DESKGATE_BENCH_TICKETS`). Delivery of the
//!    acknowledgements is reported apart (`file://` transport).
//! 4. Measures IDLE latency: a running daemon, 100 mails appended one by one, time from APPEND
//!    to the ticket being visible through the admin socket.
//!
//! With `DESKGATE_BENCH_POSTGRES=1` every build also runs on a PostgreSQL store (a private
//! server the harness starts, `[store] url`), taking turns with the sled runs;
//! `DESKGATE_BENCH_POSTGRES=only` runs the builds on PostgreSQL alone. The server gets 1 GB of
//! shared buffers (`DESKGATE_BENCH_PG_SHARED_BUFFERS`; the tests' server has 16 MB).
//!
//! Each timing is the median of 3 runs (`DESKGATE_BENCH_RUNS`). Peak memory is the child's VmHWM.
//! `DESKGATE_BENCH_PREFILLED=DIR` keeps the prefilled sled store in DIR for the next run (made
//! once, copied into each run); `DESKGATE_BENCH_WRAP="heaptrack -o FILE"` runs the first build's
//! first run (on the store `DESKGATE_BENCH_PERF_STORE` names: empty, or full) under that tool.
//! Run: `cargo bench --bench ingest` (needs dovecot-imapd and isync; `.ci/run` installs them).
//! Results go to stdout and `target/bench-ingest.md`; BENCHMARKS.md records them.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/mailbox.rs"]
mod mailbox;
#[path = "support/measure.rs"]
mod measure;

use common::{Dovecot, Postgres};
use mailbox::{generate, words, Rng};
use measure::{measure, median};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PW: &str = "bench-pw";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mbsync_once(dovecot: &Dovecot, user: &str, dir: &Path) -> (f64, u64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("mail")).expect("mkdir");
    let cfg = dir.join("mbsyncrc");
    std::fs::write(
        &cfg,
        format!(
            "IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {user}\nPass {PW}\nSSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount bench\n\nMaildirStore local\nPath {dir}/mail/\nInbox {dir}/mail/INBOX\n\nChannel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSyncState *\nSync Pull\n",
            port = dovecot.imap_port(),
            dir = dir.display()
        ),
    )
    .expect("write mbsyncrc");
    let (secs, peak, _) = measure(
        Command::new("mbsync")
            .arg("-c")
            .arg(&cfg)
            .arg("-a")
            .arg("-q"),
    );
    (secs, peak)
}

/// `store` is the `[store]` table's body: `path = …` or `url = …`.
fn deskgate_config(
    dir: &Path,
    imap_port: u16,
    user: &str,
    templates: &Path,
    store: &str,
) -> PathBuf {
    let cfg = dir.join("deskgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\n{store}\nadmin_socket = {:?}\n[smtp]\nurl = \"file://{}\"\n[general]\ntemplates = {:?}\n[ingest]\nbatch_size = 500\n[[desk]]\nname = \"nl\"\naddress = \"servicedesk.nl@example.net\"\nlanguage = \"en\"\n[desk.imap]\nurl = \"imap://127.0.0.1:{imap_port}\"\nuser = \"{user}\"\npassword = \"{PW}\"\npoll_interval_secs = 1\n",
            dir.join("store.sock").display().to_string(),
            dir.join("outbox").display(),
            templates.display().to_string()
        ),
    )
    .expect("write config");
    cfg
}

/// Fills a store with `n` tickets (each with its first message and index entry), as a desk
/// that has been running for years would have.
fn prefill(store: deskgate::store::Store, n: usize) {
    use deskgate::core::address::Address;
    use deskgate::core::service::message::{Direction, MessageKind, MessageRecord};
    use deskgate::core::service::ticket::{Opening, Ticket};
    let now = chrono::Utc::now();
    for chunk in 0..n.div_ceil(1000) {
        let mut txn = store.txn();
        for i in chunk * 1000..((chunk + 1) * 1000).min(n) {
            let seq = txn.next_seq("ticket").expect("seq");
            let reference = format!("NL-{seq:06}");
            let mid = format!("old-{i}@old.example");
            let requester = Address::new(None, &format!("old{i}@customer{}.example", i % 3000));
            let mut t = Ticket::open(
                Opening {
                    reference: reference.clone(),
                    desk: "nl",
                    language: "en",
                    subject: "Old case",
                    requester: requester.clone(),
                    others: &[],
                    message_id: &mid,
                },
                now,
            );
            t.push_thread_id(&mid, now);
            txn.put_message(MessageRecord {
                ticket: reference,
                seq: 1,
                message_id: mid.clone(),
                direction: Direction::In,
                kind: MessageKind::Customer,
                from: requester,
                to: vec![],
                cc: vec![],
                date: now,
                subject: "Old case".into(),
                text: words(&mut Rng(i as u64 + 1), 2000),
                new_text: None,
                attachments: vec![],
                desk: "nl".into(),
                outbox_id: None,
                classification: None,
                warnings: vec![],
            });
            txn.put_raw(&mid, words(&mut Rng(i as u64 + 7), 6000).as_bytes());
            txn.put_ticket(&t);
        }
        txn.commit().expect("commit");
    }
    store.flush().expect("flush");
}

/// The bytes of the files under `dir` (0 when it does not exist).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

/// A running daemon, 100 mails appended one at a time: the median and worst time in ms from
/// APPEND to the ticket being visible through the admin socket.
fn idle_latency(dovecot: &Dovecot, work: &Path, bin: &str) -> (f64, f64) {
    let idle_dir = work.join("idle");
    std::fs::create_dir_all(&idle_dir).expect("mkdir");
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let store = format!("path = {:?}", idle_dir.join("store").display().to_string());
    let cfg = deskgate_config(&idle_dir, dovecot.imap_port(), "idle", &templates, &store);
    let mut daemon = Command::new(bin)
        .arg("--config")
        .arg(&cfg)
        .arg("run")
        .env("DESKGATE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let socket = idle_dir.join("store.sock");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let mut lat = Vec::new();
    for i in 0..100usize {
        let raw = format!("From: idle{i}@acme.example\r\nTo: servicedesk.nl@example.net\r\nSubject: idle {i}\r\nMessage-ID: <idle{i}@acme.example>\r\n\r\nx\r\n");
        dovecot.append("idle", PW, "INBOX", raw.as_bytes());
        let t0 = Instant::now();
        loop {
            let v = rt
                .block_on(deskgate::admin::ask(
                    &socket,
                    &deskgate::admin::Query::TicketsList {
                        now: None,
                        filter: Default::default(),
                    },
                ))
                .ok()
                .flatten();
            if v.and_then(|v| v.as_array().map(Vec::len)).unwrap_or(0) > i {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "mail {i} never arrived"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
    let worst = lat.iter().cloned().fold(0.0, f64::max);
    let idle_median = median(lat);
    (idle_median, worst)
}

/// A build of deskgate to time, with the templates it was written for.
#[derive(Clone)]
struct Build {
    label: String,
    bin: String,
    templates: PathBuf,
    /// Runs on a PostgreSQL store instead of sled.
    postgres: bool,
}

/// This build, or those named by `DESKGATE_BENCH_BIN="label=PATH,label=PATH"`: other builds of
/// deskgate (an older commit's, to bisect a regression; main's, to check a change before it
/// lands), timed in the same run against the same mailbox and mbsync. A `templates/` folder
/// beside a binary is used with it, else this checkout's.
fn builds() -> Vec<Build> {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let Ok(list) = std::env::var("DESKGATE_BENCH_BIN") else {
        return vec![Build {
            label: "this build".into(),
            bin: env!("CARGO_BIN_EXE_deskgate").into(),
            templates: ours,
            postgres: false,
        }];
    };
    list.split(',')
        .map(|item| {
            let (label, bin) = item.split_once('=').unwrap_or((item, item));
            let beside = Path::new(bin).with_file_name("templates");
            Build {
                label: label.to_string(),
                bin: bin.to_string(),
                templates: if beside.is_dir() {
                    beside
                } else {
                    ours.clone()
                },
                postgres: false,
            }
        })
        .collect()
}

/// The phases of ingest that `run --once --json` reports, in the order a mail meets them.
const PHASES: &[&str] = &[
    "fetch", "parse", "classify", "pack", "thread", "apply", "render", "commit", "flush", "ack",
];

/// One `run --once`: its whole time, the ingest and delivery phases it reported, the seconds of
/// each ingest phase (as [`PHASES`]; empty from a build that does not report them), peak RSS.
#[derive(Clone)]
struct Run {
    total: f64,
    ingest: f64,
    delivery: f64,
    phases: Vec<f64>,
    peak_kib: u64,
    /// The store's size after the run (sled's directory, or the PostgreSQL database).
    store_bytes: u64,
}

/// The medians of a build's runs (peak memory: the highest).
struct Medians {
    total: f64,
    ingest: f64,
    delivery: f64,
    phases: Vec<f64>,
    peak_kib: u64,
    store_bytes: u64,
}

impl Medians {
    fn of(runs: &[Run]) -> Medians {
        let phases = (0..runs.iter().map(|r| r.phases.len()).min().unwrap_or(0))
            .map(|i| median(runs.iter().map(|r| r.phases[i]).collect()))
            .collect();
        Medians {
            total: median(runs.iter().map(|r| r.total).collect()),
            ingest: median(runs.iter().map(|r| r.ingest).collect()),
            delivery: median(runs.iter().map(|r| r.delivery).collect()),
            phases,
            peak_kib: runs.iter().map(|r| r.peak_kib).max().unwrap_or(0),
            store_bytes: runs.iter().map(|r| r.store_bytes).max().unwrap_or(0),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with `cargo bench --bench ingest`");
        return;
    }
    let n = env_usize("DESKGATE_BENCH_MAILS", 10_000);
    let prefilled = env_usize("DESKGATE_BENCH_TICKETS", 100_000);
    let runs = env_usize("DESKGATE_BENCH_RUNS", 3);
    let work = tempfile::tempdir().expect("tempdir");
    let mut builds = builds();
    // DESKGATE_BENCH_POSTGRES=1: each build on sled and on PostgreSQL; =only: on PostgreSQL only.
    let on_postgres = std::env::var("DESKGATE_BENCH_POSTGRES").unwrap_or_default();
    let pg = matches!(on_postgres.as_str(), "1" | "only").then(|| {
        let twins: Vec<Build> = builds
            .iter()
            .map(|b| Build {
                label: format!("{}, PostgreSQL", b.label),
                postgres: true,
                ..b.clone()
            })
            .collect();
        if on_postgres == "only" {
            builds.clear();
        }
        builds.extend(twins);
        // The tests' 16 MB of shared buffers would measure the server's cache, not deskgate,
        // once a million tickets' index is larger: a server's usual setting is a quarter of RAM.
        let buffers =
            std::env::var("DESKGATE_BENCH_PG_SHARED_BUFFERS").unwrap_or_else(|_| "1GB".to_string());
        Postgres::start_with(&[("shared_buffers", &buffers)])
    });
    let bin = builds[0].bin.as_str();

    eprintln!("generating {n} mails");
    let mails = generate(n);
    let total_bytes: usize = mails.iter().map(Vec::len).sum();
    let dovecot = Dovecot::start(&[("bench", PW), ("idle", PW)]);
    let t = Instant::now();
    dovecot.append_many("bench", PW, "INBOX", mails.iter());
    eprintln!(
        "appended {n} mails ({:.1} MB) in {:.1}s",
        total_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let mut mb = Vec::new();
    let mut mb_mem = 0;
    for r in 0..runs {
        let (s, m) = mbsync_once(&dovecot, "bench", &work.path().join(format!("mbsync{r}")));
        eprintln!("mbsync run {r}: {s:.2}s");
        mb.push(s);
        mb_mem = mb_mem.max(m);
    }

    // Query timings on the full store (see below), printed after the tables.
    let query_times = std::cell::RefCell::new(Vec::<String>::new());
    // One `run --once` of `build` on a copy of `base` (or an empty store).
    let run_deskgate = |build: &Build, label: &str, r: usize, base: Option<&Path>| -> Run {
        let dir = work.path().join(format!("{label}{r}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let db = format!("{label}{r}").replace('-', "_");
        let store = match &pg {
            Some(pg) if build.postgres => {
                let once = runs == 1 && builds.iter().filter(|b| b.postgres).count() == 1;
                let sql = match base {
                    // Used once: renamed, not copied (a million tickets make about 6 GB).
                    Some(_) if once => format!("ALTER DATABASE prefilled RENAME TO {db}"),
                    // A file copy: the default copies the database through the WAL.
                    Some(_) => {
                        format!("CREATE DATABASE {db} TEMPLATE prefilled STRATEGY = FILE_COPY")
                    }
                    None => format!("CREATE DATABASE {db}"),
                };
                pg.sql("postgres", &sql);
                format!("url = {:?}", pg.url(&db))
            }
            _ => {
                if let Some(base) = base {
                    let kept = std::env::var_os("DESKGATE_BENCH_PREFILLED").is_some();
                    if !kept && runs == 1 && builds.iter().filter(|b| !b.postgres).count() == 1 {
                        // Used once: moved, not copied (a million tickets make about 12 GB).
                        std::fs::rename(base, dir.join("store")).expect("move the prefilled store");
                    } else {
                        copy_dir(base, &dir.join("store"));
                    }
                }
                format!("path = {:?}", dir.join("store").display().to_string())
            }
        };
        let cfg = deskgate_config(&dir, dovecot.imap_port(), "bench", &build.templates, &store);
        // DESKGATE_BENCH_PERF=FILE records a profile of the first build's first run on the
        // empty store (DESKGATE_BENCH_PERF_STORE=full: on the full one) with DWARF call graphs,
        // which a release build without frame pointers needs.
        let profiled = format!(
            "{}-0-",
            std::env::var("DESKGATE_BENCH_PERF_STORE").unwrap_or_else(|_| "empty".into())
        );
        // DESKGATE_BENCH_WRAP="heaptrack -o FILE" runs the same run under any such tool.
        let wrapper: Option<Vec<String>> = match std::env::var("DESKGATE_BENCH_PERF") {
            Ok(file) => Some(
                [
                    "perf",
                    "record",
                    "--call-graph",
                    "dwarf,16384",
                    "-F",
                    "700",
                    "-o",
                    &file,
                    "--",
                ]
                .map(String::from)
                .to_vec(),
            ),
            Err(_) => std::env::var("DESKGATE_BENCH_WRAP")
                .ok()
                .map(|line| line.split_whitespace().map(String::from).collect()),
        };
        let mut cmd = match wrapper {
            Some(words) if r == 0 && label == profiled && !words.is_empty() => {
                let mut c = Command::new(&words[0]);
                c.args(&words[1..]).arg(&build.bin);
                c
            }
            _ => Command::new(&build.bin),
        };
        let (s, m, out) = measure(
            cmd.arg("--config")
                .arg(&cfg)
                .args(["run", "--once", "--json"])
                .env("DESKGATE_LOG", "warn"),
        );
        // The report is one line; a wrapper (heaptrack) may print lines of its own around it.
        let report: serde_json::Value = out
            .lines()
            .find(|l| l.starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
            .expect("run --once --json report");
        let phases = if report["phases"].is_object() {
            PHASES
                .iter()
                .map(|p| report["phases"][*p].as_f64().unwrap_or(0.0))
                .collect()
        } else {
            Vec::new()
        };
        // What an engineer waits for on the full store, once per build and store.
        // An older build (to compare with) may not have the paged listing: its rows say so.
        let paged = || {
            Command::new(&build.bin)
                .args(["tickets", "list", "--help"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("--limit"))
                .unwrap_or(false)
        };
        if r == 0 && base.is_some() && !paged() {
            query_times.borrow_mut().push(format!(
                "| (paged listing not in this build) | {} | – | – |",
                build.label
            ));
        } else if r == 0 && base.is_some() {
            let middle = format!("NL-{:06}", prefilled / 2 + 1);
            let queries: [(&str, Vec<&str>); 4] = [
                (
                    "tickets list --json --limit 50",
                    vec!["tickets", "list", "--json", "--limit", "50"],
                ),
                (
                    "tickets list --json --limit 50 --status new",
                    vec![
                        "tickets", "list", "--json", "--limit", "50", "--status", "new",
                    ],
                ),
                (
                    "tickets list --json --limit 50 --after (middle)",
                    vec![
                        "tickets", "list", "--json", "--limit", "50", "--after", &middle,
                    ],
                ),
                (
                    "tickets show (middle) --json",
                    vec!["tickets", "show", &middle, "--json"],
                ),
            ];
            for (what, args) in queries {
                let (secs, peak_kib, out) = measure(
                    Command::new(&build.bin)
                        .arg("--config")
                        .arg(&cfg)
                        .args(&args)
                        .env("DESKGATE_LOG", "warn"),
                );
                assert!(out.len() > 2, "{what}: no output");
                query_times.borrow_mut().push(format!(
                    "| {what} | {} | {:.0} ms | {} MB |",
                    build.label,
                    secs * 1e3,
                    peak_kib / 1024
                ));
            }
        }
        let store_bytes = match &pg {
            Some(pg) if build.postgres => {
                let size = pg.sql("postgres", &format!("SELECT pg_database_size('{db}')"));
                pg.sql("postgres", &format!("DROP DATABASE {db}"));
                size.parse().unwrap_or(0)
            }
            _ => dir_bytes(&dir.join("store")),
        };
        let run = Run {
            store_bytes,
            total: s,
            ingest: report["ingest_secs"].as_f64().unwrap_or(s),
            delivery: report["delivery_secs"].as_f64().unwrap_or(0.0),
            phases,
            peak_kib: m,
        };
        eprintln!(
            "deskgate {} {label} run {r}: {s:.2}s (ingest {:.2}s, delivery {:.2}s), created {} appended {} sent {}",
            build.label, run.ingest, run.delivery, report["created"], report["appended"], report["sent"]
        );
        let _ = std::fs::remove_dir_all(&dir);
        run
    };
    // The builds take turns within each run, so that a machine that gets busier or quieter
    // during the benchmark weighs on all of them alike.
    let interleaved = |label: &str, base: Option<&Path>| -> Vec<Medians> {
        let mut runs_of: Vec<Vec<Run>> = vec![Vec::new(); builds.len()];
        for r in 0..runs {
            for (b, build) in builds.iter().enumerate() {
                runs_of[b].push(run_deskgate(build, &format!("{label}-{b}-"), r, base));
            }
        }
        runs_of.iter().map(|v| Medians::of(v)).collect()
    };

    let empty = interleaved("empty", None);
    // DESKGATE_BENCH_TICKETS=0 skips the full store (an older build may not read this one's
    // store format).
    let full = (prefilled > 0).then(|| {
        // DESKGATE_BENCH_PREFILLED=DIR keeps the prefilled sled store there for the next run
        // (a million tickets take ~11 minutes to write): made once, copied into every run.
        let kept = std::env::var_os("DESKGATE_BENCH_PREFILLED").map(PathBuf::from);
        let base = kept
            .clone()
            .unwrap_or_else(|| work.path().join("prefilled-store"));
        if kept.as_ref().is_some_and(|dir| dir.exists()) {
            eprintln!("using the prefilled store in {}", base.display());
        } else if builds.iter().any(|b| !b.postgres) {
            eprintln!("prefilling a store with {prefilled} tickets");
            prefill(
                deskgate::store::Store::open(&base).expect("open store"),
                prefilled,
            );
        }
        if let Some(pg) = &pg {
            eprintln!("prefilling a PostgreSQL database with {prefilled} tickets");
            let target = deskgate::store::PostgresTarget {
                url: pg.create_db("prefilled"),
                ..Default::default()
            };
            prefill(
                deskgate::store::Store::open_postgres(target).expect("open store"),
                prefilled,
            );
        }
        interleaved("full", Some(&base))
    });

    // IDLE latency (DESKGATE_BENCH_IDLE=0 skips it: a bisect needs only the ingest figures).
    let idle = if env_usize("DESKGATE_BENCH_IDLE", 1) != 0 {
        let (median, worst) = idle_latency(&dovecot, work.path(), bin);
        format!("IDLE latency (APPEND → ticket visible, 100 mails): median {median:.1} ms, worst {worst:.1} ms.\n")
    } else {
        String::new()
    };

    let mb_s = median(mb);
    let rate = |s: f64| n as f64 / s;
    let ratio = |s: f64| rate(s) / rate(mb_s);
    let name = |b: &Build| {
        if builds.len() > 1 {
            format!(" ({})", b.label)
        } else {
            String::new()
        }
    };
    let mut rows = String::new();
    let mut whole = String::new();
    for (b, build) in builds.iter().enumerate() {
        let e = &empty[b];
        rows += &format!(
            "| deskgate ingest, empty store{} | {:.2} s | {:.0} | {:.2} | {} MB | {:.0} MB |\n",
            name(build),
            e.ingest,
            rate(e.ingest),
            ratio(e.ingest),
            e.peak_kib / 1024,
            e.store_bytes as f64 / 1e6
        );
        whole += &format!(
            "{}: {:.2} s in all ({:.2} s delivering) on the empty store",
            build.label, e.total, e.delivery
        );
        if let Some(full) = &full {
            let f = &full[b];
            rows += &format!(
                "| deskgate ingest, {prefilled} tickets stored{} | {:.2} s | {:.0} | {:.2} | {} MB | {:.0} MB |\n",
                name(build),
                f.ingest,
                rate(f.ingest),
                ratio(f.ingest),
                f.peak_kib / 1024,
                f.store_bytes as f64 / 1e6
            );
            whole += &format!(
                ", {:.2} s ({:.2} s delivering) on the full one",
                f.total, f.delivery
            );
        }
        whole += ".\n";
    }
    let report = format!(
        "| what | median of {runs} | mails/s | rate ÷ mbsync rate | peak RSS | store after |\n|---|---|---|---|---|---|\n\
| mbsync (raw limit: download to a Maildir) | {mb_s:.2} s | {:.0} | 1.00 | {} MB | {:.0} MB raw |\n\
{rows}\n\
Ingest = fetch, parse, classify, thread, render and queue the acknowledgement, durable commit,\n\
`\\Seen` on the server. The whole `run --once` also delivered the acknowledgements to `file://`:\n\
{whole}\n\
{idle}{n} mails, {:.1} MB in all; machine: {} cores.\n",
        rate(mb_s),
        mb_mem / 1024,
        total_bytes as f64 / 1e6,
        total_bytes as f64 / 1e6,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    );
    // Where the time goes, per mail, on the empty store and (when there is one) the full one.
    let mut table = String::from("| phase (µs per mail) |");
    let mut stores: Vec<(&str, &Vec<Medians>)> = vec![("empty", &empty)];
    if let Some(f) = &full {
        stores.push(("full", f));
    }
    for (store, _) in &stores {
        for b in &builds {
            table += &format!(" {} ({store}) |", b.label);
        }
    }
    table += "\n|---|";
    table += &"---|".repeat(builds.len() * stores.len());
    table += "\n";
    for (i, phase) in PHASES.iter().enumerate() {
        table += &format!("| {phase} |");
        for (_, medians) in &stores {
            for m in medians.iter() {
                match m.phases.get(i) {
                    Some(secs) => table += &format!(" {:.0} |", secs * 1e6 / n as f64),
                    None => table += " – |",
                }
            }
        }
        table += "\n";
    }
    let report = format!("{report}\n{table}");
    let queries = query_times.into_inner();
    let report = if queries.is_empty() {
        report
    } else {
        format!(
            "{report}\n| query on the full store ({prefilled} tickets + this run's), once | build | time (process start to exit) | peak RSS |\n|---|---|---|---|\n{}\n",
            queries.join("\n")
        )
    };
    // One line for scripts: the first build's rates against mbsync's (see BENCHMARKS.md).
    let summary = serde_json::json!({
        "bench": "ingest",
        "build": builds[0].label,
        "mails": n,
        "runs": runs,
        "mbsync_secs": mb_s,
        "empty_ratio": (ratio(empty[0].ingest) * 1000.0).round() / 1000.0,
        "empty_peak_mb": empty[0].peak_kib / 1024,
        "stored_tickets": full.as_ref().map(|_| prefilled),
        "full_ratio": full.as_ref().map(|f| (ratio(f[0].ingest) * 1000.0).round() / 1000.0),
        "full_peak_mb": full.as_ref().map(|f| f[0].peak_kib / 1024),
    });
    let report = format!("{report}\nDESKGATE-BENCH {summary}\n");
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-ingest.md");
    let _ = std::fs::write(out, &report);
}
