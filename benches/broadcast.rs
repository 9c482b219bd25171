//! Broadcast benchmark: deskgate's outbox delivery against Postfix's `smtp-source`, the raw
//! limit, on the same `smtp-sink` in the same run.
//!
//! 1. Starts Postfix's `smtp-sink` on a free loopback port (it accepts and discards mail).
//! 2. Probes the costs delivery is made of: one commit plus durable sled flush; SMTP
//!    transactions through deskgate's transport with no store in the way (1, 4, 16 at once);
//!    and, for comparison, lettre's own pooled transport.
//! 3. Each run, interleaved so a machine getting busier hits all alike: `smtp-source` sends N
//!    mails with a 5 KB payload over one session (`-s 1 -d`: the raw limit), and again with a
//!    new connection per mail (`-s 1`), both with the mean size of a real notice; then for each
//!    `max_in_flight` deskgate broadcasts a maintenance announcement to N recipients into a
//!    fresh sled store (`broadcast_notices`: scheduled as `deskgate maintenance schedule` does,
//!    each notice rendered in its reader's language with its iCalendar part and queued with its
//!    idempotency key; timed apart from the delivery), runs delivery passes until nothing is
//!    due, copies the store's files while it is still open (what a crash at that moment would
//!    leave) and checks in the copy that every notice is recorded as sent.
//!
//! Default N = 10,000 (`DESKGATE_BENCH_MAILS`); each time is the median of 3 runs
//! (`DESKGATE_BENCH_RUNS`); `DESKGATE_BENCH_IN_FLIGHT=1,4,16` picks the windows (default 1,16).
//! Run: `cargo bench --bench broadcast` (needs Postfix's `smtp-sink` and `smtp-source`).
//! Results go to stdout and `target/bench-broadcast.md`; BENCHMARKS.md records them.

use chrono::Utc;
use deskgate::clock::SystemClock;
use deskgate::config::{OutboxConfig, SmtpConfig};
use deskgate::core::service::outbox::{OutboxEntry, OutboxState};
use deskgate::delivery::Delivery;
use deskgate::outbound::Transport;
use deskgate::store::Store;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The payload size of every mail, as `smtp-source -l` sends it.
const PAYLOAD: usize = 5120;
const FROM: &str = "noc@provider.example";
const TO: &str = "customer@acme.example";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1-minute load average: other work on the machine slows both sides, unequally.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Postfix's `smtp-sink` on 127.0.0.1, killed on drop.
struct Sink {
    child: Child,
    port: u16,
}

impl Sink {
    fn start() -> Sink {
        let binary = ["/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("smtp-sink not found: install postfix");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut cmd = Command::new(binary);
            // smtp-sink refuses to run as root without -u.
            if std::env::var("USER").as_deref() == Ok("root") || is_root() {
                cmd.args(["-u", "root"]);
            }
            let mut child = cmd
                .arg(format!("127.0.0.1:{port}"))
                .arg("256")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn smtp-sink");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sink { child, port };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("smtp-sink did not start");
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Times `smtp-source` sending `n` mails over one session.
fn smtp_source(port: u16, n: usize, reuse: bool, payload: usize) -> f64 {
    let binary = ["/usr/sbin/smtp-source", "/usr/lib/postfix/sbin/smtp-source"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("smtp-source not found: install postfix");
    let mut cmd = Command::new(binary);
    if reuse {
        cmd.arg("-d");
    }
    let start = Instant::now();
    let status = cmd
        .args(["-s", "1", "-m", &n.to_string(), "-l", &payload.to_string()])
        .args(["-f", FROM, "-t", TO])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .status()
        .expect("run smtp-source");
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "smtp-source failed: {status}");
    secs
}

/// A 5 KB notice: a few headers and a `PAYLOAD`-byte body of 72-column lines.
fn notice_bytes(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Service Desk <{FROM}>\r\nTo: <{TO}>\r\nSubject: Planned maintenance AMS1, notice {i}\r\nMessage-ID: <bench-{i}@provider.example>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    let line = b"Maintenance window: core router replacement in AMS1, hall 2, rack 0412.";
    let mut body = 0;
    while body < PAYLOAD {
        let take = line.len().min(PAYLOAD - body);
        m.extend_from_slice(&line[..take]);
        m.extend_from_slice(b"\r\n");
        body += take + 2;
    }
    m
}

/// Queues `n` notices in the outbox, in transactions of 1,000, and flushes. Stands in for the
/// maintenance broadcast, which will render real notices.
fn queue_notices(store: &Store, n: usize) {
    let now = Utc::now();
    for chunk in 0..n.div_ceil(1000) {
        let mut txn = store.txn();
        for i in chunk * 1000..((chunk + 1) * 1000).min(n) {
            let id = txn.next_seq("outbox").expect("seq");
            let entry = OutboxEntry {
                id,
                ticket: None,
                kind: "maintenance".into(),
                from: FROM.into(),
                to: vec![TO.into()],
                subject: format!("Planned maintenance AMS1, notice {i}"),
                message_id: format!("bench-{i}@provider.example"),
                state: OutboxState::Queued,
                attempts: 0,
                created_at: now,
                next_attempt_at: now,
                sent_at: None,
                last_error: None,
            };
            txn.put_outbox(&entry, Some(&notice_bytes(i)));
        }
        txn.commit().expect("commit");
    }
    store.flush().expect("flush");
}

/// The accounts file of a campaign: `n` maintenance contacts, four per account, every account
/// at site AM11, in the seven desk languages.
fn accounts(n: usize) -> deskgate::core::service::accounts::Directory {
    const LANGS: [&str; 7] = ["en", "fr", "pt", "es", "it", "nl", "de"];
    let mut text = String::new();
    for a in 0..n.div_ceil(4) {
        text += &format!(
            "[[account]]\nid = \"acct{a}\"\nname = \"Customer {a} B.V.\"\nlanguage = \"{}\"\n\
             timezone = \"Europe/Amsterdam\"\nsites = [\"AM11\"]\nservices = [\"IP Transit\"]\n",
            LANGS[a % LANGS.len()]
        );
        for c in 0..4.min(n - a * 4) {
            text += &format!(
                "[[account.contact]]\naddress = \"noc{c}@customer{a}.example\"\nname = \"NOC {c}\"\nroles = [\"maintenance\"]\n"
            );
        }
    }
    deskgate::accounts_file::parse(&text, Path::new("bench-accounts.toml")).expect("accounts")
}

/// A deskgate with `n` maintenance contacts at AM11 over `store`, sending to the sink.
fn bench_broadcaster(store: &Store, port: u16, n: usize) -> deskgate::broadcast::Broadcaster {
    let config = deskgate::config::Config::parse(
        &format!(
            "[store]\npath = \"unused\"\n[smtp]\nurl = \"smtp://127.0.0.1:{port}\"\n\
             [broadcast]\nper_minute = 0\nprovider = \"provider.example\"\n\
             [[desk]]\nname = \"nl\"\naddress = \"servicedesk.nl@provider.example\"\n\
             display_name = \"Service Desk Amsterdam\"\nlanguage = \"en\"\n"
        ),
        Path::new("bench.toml"),
    )
    .expect("config");
    let templates =
        deskgate::render::Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates");
    let ctx = deskgate::context::Context::new(
        store.clone(),
        Arc::new(templates),
        Arc::new(config),
        Arc::new(SystemClock),
    );
    ctx.set_directory(accounts(n));
    deskgate::broadcast::Broadcaster::new(Arc::new(ctx))
}

/// Broadcasts the announcement of one maintenance to everyone the way the daemon does
/// (`deskgate maintenance schedule`: stored, then `broadcast::run_due` renders each notice in
/// its reader's language, composes text + HTML + iCalendar, and queues it with its idempotency
/// key, 500 to a flushed transaction, waking the delivery after each). Returns the mean size of
/// the queued mails in bytes.
fn announce(broadcaster: &deskgate::broadcast::Broadcaster, n: usize) -> usize {
    let form = deskgate::broadcast::ops::MaintenanceForm {
        title: Some("Core router upgrade AM11".into()),
        impact: Some("outage".into()),
        sites: Some(vec!["AM11".into()]),
        start: Some(
            (Utc::now() + chrono::Duration::days(9))
                .format("%Y-%m-%dT%H:%MZ")
                .to_string(),
        ),
        duration: Some("6h".into()),
        ..Default::default()
    };
    let v = deskgate::broadcast::ops::schedule_maintenance(broadcaster, &form, false, Utc::now())
        .expect("scheduled");
    assert_eq!(v["broadcast"]["queued"], n, "{}", v["broadcast"]);
    let store = &broadcaster.ctx().store;
    let entries = store.outbox().expect("outbox");
    let bytes: usize = entries
        .iter()
        .map(|e| {
            store
                .outbox_bytes(e.id)
                .ok()
                .flatten()
                .map_or(0, |b| b.len())
        })
        .sum();
    bytes / entries.len().max(1)
}

fn smtp_config(port: u16) -> SmtpConfig {
    toml::from_str(&format!("url = \"smtp://127.0.0.1:{port}\"")).expect("smtp config")
}

/// The median cost of one small commit followed by a durable flush, in milliseconds.
fn probe_flush(dir: &Path) -> f64 {
    let store = Store::open(&dir.join("flush-probe")).expect("open store");
    queue_notices(&store, 1);
    let mut entry = store.outbox_entry(1).expect("read").expect("entry");
    let mut times = Vec::new();
    for i in 0..300 {
        entry.attempts = i;
        let t = Instant::now();
        let mut txn = store.txn();
        txn.put_outbox(&entry, None);
        txn.commit().expect("commit");
        store.flush().expect("flush");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    median(times)
}

/// Mails per second through deskgate's SMTP transport alone (no store), `concurrency` at once.
fn probe_transport(rt: &tokio::runtime::Runtime, port: u16, n: usize, concurrency: usize) -> f64 {
    let transport = Transport::from_config(
        &smtp_config(port),
        std::sync::Arc::new(deskgate::clock::SystemClock),
    )
    .expect("transport");
    transport.keep_sessions(concurrency);
    let bytes = notice_bytes(0);
    let to = vec![TO.to_string()];
    rt.block_on(async {
        let t = Instant::now();
        let per = n / concurrency;
        let tasks = (0..concurrency).map(|_| async {
            for _ in 0..per {
                let a = transport.send(FROM, &to, "probe@x", &bytes).await;
                assert_eq!(a, deskgate::core::service::outbox::Attempt::Sent);
            }
        });
        futures::future::join_all(tasks).await;
        (per * concurrency) as f64 / t.elapsed().as_secs_f64()
    })
}

/// Mails per second through lettre's own pooled transport, for comparison: lettre 0.11.23
/// waits for the server's delayed ACK on every mail (see `src/outbound/smtp.rs`).
fn probe_lettre_pool(rt: &tokio::runtime::Runtime, port: u16, n: usize) -> f64 {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let envelope = lettre::address::Envelope::new(
        Some(FROM.parse().expect("from")),
        vec![TO.parse().expect("to")],
    )
    .expect("envelope");
    let bytes = notice_bytes(0);
    rt.block_on(async {
        let t = Instant::now();
        for _ in 0..n {
            transport.send_raw(&envelope, &bytes).await.expect("send");
        }
        n as f64 / t.elapsed().as_secs_f64()
    })
}

/// One deskgate delivery of a broadcast.
struct Delivered {
    /// Until the broadcast had queued everything.
    queue_secs: f64,
    /// Sequential: the delivery alone, after the queueing. Overlapped: from the start of the
    /// broadcast until the last notice was recorded as sent (end to end).
    deliver_secs: f64,
}

/// Broadcasts to `n` recipients in a fresh store and delivers with `max_in_flight`, then checks
/// that every notice is durably recorded as sent: the store's files are copied the moment the
/// last pass returns, while it is still open (what a crash then would leave), and the copy is
/// opened. `overlap`: as in the daemon, delivery runs while the broadcast is still queueing
/// (woken after each flushed batch); otherwise it starts when the queueing is done, which
/// times the delivery alone.
fn deliver_all(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    port: u16,
    n: usize,
    max_in_flight: usize,
    overlap: bool,
) -> Delivered {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join("store");
    let crashed = dir.join("store-as-left-by-a-crash");
    let store = Store::open(&path).expect("open store");
    let broadcaster = Arc::new(bench_broadcaster(&store, port, n));
    let waker = Arc::new(tokio::sync::Notify::new());
    broadcaster.ctx().set_outbox_waker(waker.clone());
    let transport = Transport::from_config(
        &smtp_config(port),
        std::sync::Arc::new(deskgate::clock::SystemClock),
    )
    .expect("transport");
    let config = OutboxConfig {
        max_in_flight,
        ..OutboxConfig::default()
    };
    let delivery = Arc::new(Delivery::new(
        store.clone(),
        transport,
        Arc::new(SystemClock),
        &config,
    ));
    let started = Instant::now();
    let queueing = {
        let broadcaster = broadcaster.clone();
        std::thread::spawn(move || {
            announce(&broadcaster, n);
            started.elapsed().as_secs_f64()
        })
    };
    let (queue_secs, queueing) = if overlap {
        (None, Some(queueing))
    } else {
        (Some(queueing.join().expect("the broadcast")), None)
    };
    // A task on the runtime's workers, as the daemon's delivery task is (driving it from the
    // main thread with `block_on` would add a thread hand-off to every socket event).
    let task = delivery.clone();
    let deliver_secs = rt
        .block_on(tokio::spawn(async move {
            let t = Instant::now();
            let mut sent = 0;
            while sent < n {
                let r = task.pass().await.expect("pass");
                sent += r.sent;
                assert_eq!(r.failed + r.retrying, 0, "every notice is accepted");
                if r.sent == 0 {
                    // Nothing due yet: wait for the broadcast's next batch.
                    let _ = tokio::time::timeout(Duration::from_millis(50), waker.notified()).await;
                }
            }
            if overlap {
                started.elapsed().as_secs_f64()
            } else {
                t.elapsed().as_secs_f64()
            }
        }))
        .expect("the delivery task");
    let queue_secs = match (queue_secs, queueing) {
        (Some(q), _) => q,
        (None, Some(thread)) => thread.join().expect("the broadcast"),
        (None, None) => unreachable!("one or the other"),
    };
    let status = Command::new("cp")
        .arg("-a")
        .arg(&path)
        .arg(&crashed)
        .status()
        .expect("cp");
    assert!(status.success());
    drop(delivery);
    drop(store);
    let copy = Store::open(&crashed).expect("open the copy");
    let entries = copy.outbox().expect("outbox");
    assert_eq!(entries.len(), n);
    let sent = entries
        .iter()
        .filter(|e| e.state == OutboxState::Sent)
        .count();
    assert_eq!(sent, n, "every notice is durably recorded as sent");
    assert_eq!(copy.outbox_next_due().expect("next"), None);
    drop(copy);
    let _ = std::fs::remove_dir_all(dir);
    Delivered {
        queue_secs,
        deliver_secs,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing: run only when asked.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with `cargo bench --bench broadcast`");
        return;
    }
    let n = env_usize("DESKGATE_BENCH_MAILS", 10_000);
    let runs = env_usize("DESKGATE_BENCH_RUNS", 3);
    let windows: Vec<usize> = std::env::var("DESKGATE_BENCH_IN_FLIGHT")
        .unwrap_or_else(|_| "1,16".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let work = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // lettre's pool spawns its cleaner when its transport is built: inside the runtime.
    let _runtime = rt.enter();
    let sink = Sink::start();
    let load_before = load_average();

    let flush_ms = probe_flush(work.path());
    eprintln!("one commit + flush: {flush_ms:.3} ms");
    let probe_n = n.min(5000);
    let transport_rates: Vec<(usize, f64)> = [1, 4, 16]
        .into_iter()
        .map(|c| {
            let rate = probe_transport(&rt, sink.port, probe_n, c);
            eprintln!("deskgate transport alone, {c} at once: {rate:.0} mails/s");
            (c, rate)
        })
        .collect();
    let lettre_rate = probe_lettre_pool(&rt, sink.port, 100);
    eprintln!("lettre's pooled transport, 1 at once: {lettre_rate:.0} mails/s");

    // The size of a real notice (text + HTML + iCalendar), for smtp-source to send the same.
    let payload = {
        let store = Store::memory();
        announce(&bench_broadcaster(&store, sink.port, 70), 70)
    };
    eprintln!("a notice is {payload} bytes on average");

    // Runs interleave the contenders, so a machine getting busier hits them alike.
    let mut source = Vec::new();
    let mut source_new = Vec::new();
    // Per window: delivery-alone times, queueing times, end-to-end times.
    type Times = (usize, Vec<f64>, Vec<f64>, Vec<f64>);
    let mut deskgate: Vec<Times> = windows
        .iter()
        .map(|w| (*w, Vec::new(), Vec::new(), Vec::new()))
        .collect();
    for r in 0..runs {
        let s = smtp_source(sink.port, n, true, payload);
        let s_new = smtp_source(sink.port, n, false, payload);
        eprintln!("smtp-source run {r}: {s:.2}s (one connection), {s_new:.2}s (one per mail)");
        source.push(s);
        source_new.push(s_new);
        for (w, times, queued, ends) in &mut deskgate {
            let dir = work.path().join(format!("w{w}"));
            let d = deliver_all(&rt, &dir, sink.port, n, *w, false);
            let e = deliver_all(&rt, &dir, sink.port, n, *w, true);
            eprintln!(
                "deskgate max_in_flight {w} run {r}: delivery {:.2}s after queueing {:.2}s; \
                 end to end with delivery during the queueing {:.2}s",
                d.deliver_secs, d.queue_secs, e.deliver_secs
            );
            times.push(d.deliver_secs);
            queued.push(d.queue_secs);
            ends.push(e.deliver_secs);
        }
    }

    let rate = |secs: f64| n as f64 / secs;
    let source_s = median(source.clone());
    let list = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mut report = format!(
        "| what | median of {runs} | mails/s | rate ÷ smtp-source rate |\n|---|---|---|---|\n\
| smtp-source -s 1 -d (one session; the raw limit) | {source_s:.2} s | {:.0} | 1.00 |\n\
| smtp-source -s 1 (a new connection per mail) | {:.2} s | {:.0} | {:.2} |\n",
        rate(source_s),
        median(source_new.clone()),
        rate(median(source_new.clone())),
        source_s / median(source_new.clone()),
    );
    for (w, times, _, _) in &deskgate {
        let s = median(times.clone());
        report += &format!(
            "| deskgate delivery alone, max_in_flight = {w} | {s:.2} s | {:.0} | {:.2} |\n",
            rate(s),
            source_s / s
        );
    }
    for (w, _, _, ends) in &deskgate {
        let s = median(ends.clone());
        report += &format!(
            "| deskgate broadcast end to end (render, queue, deliver), max_in_flight = {w} | {s:.2} s | {:.0} | {:.2} |\n",
            rate(s),
            source_s / s
        );
    }
    report += &format!(
        "\nRuns: smtp-source -d {}; without -d {}",
        list(&source),
        list(&source_new)
    );
    for (w, times, queued, ends) in &deskgate {
        report += &format!(
            "; deskgate {w} at once: delivery {} (after queueing {} mails in {}), end to end {}",
            list(times),
            n,
            list(queued),
            list(ends)
        );
    }
    report += &format!(
        ".\nEvery run: all {n} notices recorded as sent in a copy of the store taken when the last pass returned.\n\
Probes: one commit + sled flush {flush_ms:.3} ms (median of 300); deskgate's SMTP transport alone, {probe_n} mails: {}; lettre 0.11.23's pooled transport, 1 at once: {lettre_rate:.0} mails/s.\n\
{n} mails of {payload} bytes (the mean notice; smtp-source -l {payload}); machine: {} cores, load average {load_before} before and {} after.\n",
        transport_rates
            .iter()
            .map(|(c, r)| format!("{r:.0} mails/s with {c} at once"))
            .collect::<Vec<_>>()
            .join(", "),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        load_average(),
    );
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-broadcast.md");
    let _ = std::fs::write(out, &report);
}
