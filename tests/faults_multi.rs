//! Several daemons on one store (issue 12 §2), as a fault drill: two `deskgate run` on one
//! PostgreSQL database and one Dovecot mailbox, customers' mail flowing in and a maintenance
//! announcement going out to many recipients, while the daemon fetching the desk is SIGKILLed
//! at random moments (and started again), several rounds; then it hangs (SIGSTOP) past its
//! lease and comes back (SIGCONT) to find the desk taken over; then it is stopped cleanly
//! (SIGTERM) and hands the desk over at once; then PostgreSQL is restarted under both. Every
//! mail ends up on exactly one ticket, every recipient gets the notice, and a repeat is only
//! ever the same mail again (same Message-ID), for a transaction in flight at a kill, a hang
//! or the database's restart. The takeover times (the fault until the other daemon fetches the
//! desk) are printed.
//!
//! 10,000 recipients, the number: about 45 s on 2 cores (debug build), the kills all
//! land while the notices are delivered. `DESKGATE_FAULT_RECIPIENTS` sets another number (1,000
//! takes about 30 s); `DESKGATE_FAULT_SEED` replays the kill moments of a failed run (the seed
//! is printed).

mod common;

use common::{Daemon, DeskConfig, Dovecot, Gate, GateConfig, Postgres, SmtpSink, TextMail};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DESK: &str = "nl";
const PASSWORD: &str = "multi-desk-pw";
/// Leases of 3 s (renewed every second): a takeover within about 4 s.
const LEASE_SECS: u64 = 3;
/// How often a customer writes in, while the daemons are killed and restarted.
const MAIL_EVERY: Duration = Duration::from_millis(250);
/// SIGKILLs of the daemon holding the desk.
const KILLS: usize = 3;
/// Transactions a daemon may have in flight (`[outbox] max_in_flight`, 1 by default).
const MAX_IN_FLIGHT: usize = 1;
const TIMEOUT: Duration = Duration::from_secs(240);

/// `accounts` accounts at AM11 with four maintenance contacts each.
fn many_accounts(accounts: usize) -> String {
    let mut out = String::new();
    for a in 0..accounts {
        out.push_str(&format!(
            "[[account]]\nid = \"c{a:05}\"\nname = \"Customer {a}\"\nlanguage = \"en\"\n\
             timezone = \"Europe/Amsterdam\"\nsites = [\"AM11\"]\n"
        ));
        for c in 0..4 {
            out.push_str(&format!(
                "[[account.contact]]\naddress = \"noc{c}@c{a:05}.example\"\nname = \"NOC {c}\"\n\
                 roles = [\"maintenance\"]\n"
            ));
        }
    }
    out
}

/// One of the two daemons' configurations: the same database, mailbox and sink; its own
/// folder (config, accounts file, admin socket, log).
fn gate(url: &str, dovecot: &Dovecot, sink: &SmtpSink, accounts: &str, status: u16) -> Gate {
    GateConfig::new()
        .store_url(url)
        .set("status", "listen", format!("127.0.0.1:{status}"))
        .set("store", "lease_secs", LEASE_SECS as i64)
        // Claims of 10 minutes, longer than the drill: the entries a killed or hung daemon had
        // claimed are sent by the other once its life lease has run out (a lease time), or the
        // drill times out.
        .set("store", "claim_secs", 600)
        .set("smtp", "timeout_secs", 10)
        .smtp_port(sink.port())
        .general("timezone", "Europe/Amsterdam")
        .accounts(accounts)
        .set("broadcast", "provider", "provider.example")
        .set("broadcast", "per_minute", 0)
        .desk(
            DeskConfig::nl()
                .imap_on(dovecot, DESK, PASSWORD)
                .poll_interval_secs(1),
        )
        .start()
}

/// A small deterministic generator for the kill moments (xorshift64*).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo)
    }
}

/// The process id in the holder of lease `name` (`host:pid:tag`), if anyone holds it.
fn holder_pid(pg: &Postgres, db: &str, name: &str) -> Option<i32> {
    let holder = pg.sql(
        db,
        &format!("SELECT holder FROM deskgate_lease WHERE name = '{name}' AND expires_at > now()"),
    );
    holder.split(':').nth(1).and_then(|p| p.trim().parse().ok())
}

const TAKEN: &str = "fetching the desk under its lease";
const LOST: &str = "desk lease lost";

/// `/status.json` of the status page on 127.0.0.1:`port`.
fn status_json(port: u16) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("status page");
    stream
        .write_all(b"GET /status.json HTTP/1.1\r\nHost: status\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {reply}"))
}

/// Clears a flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Which of the daemons holds the desk's lease (waits until one does).
fn desk_holder(pg: &Postgres, daemons: &[Option<Daemon>; 2]) -> usize {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(pid) = holder_pid(pg, "multi", "desk:nl") {
            if let Some(i) = daemons
                .iter()
                .position(|d| d.as_ref().is_some_and(|d| d.pid() == pid))
            {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "nobody holds the desk");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_daemons_share_a_store_through_sigkills_and_a_database_restart() {
    let recipients = std::env::var("DESKGATE_FAULT_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10_000)
        .max(4)
        / 4
        * 4;
    let seed = std::env::var("DESKGATE_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| rand::random::<u64>() | 1);
    eprintln!("faults_multi: {recipients} recipients, seed {seed}");
    let mut moments = Moments(seed);
    let began = Instant::now();

    let mut pg = Postgres::start();
    let url = pg.create_db("multi");
    let dovecot = Dovecot::start(&[(DESK, PASSWORD)]);
    let sink = SmtpSink::start();
    let accounts = many_accounts(recipients / 4);
    let status_ports = [common::free_port(), common::free_port()];
    let gates = [
        gate(&url, &dovecot, &sink, &accounts, status_ports[0]),
        gate(&url, &dovecot, &sink, &accounts, status_ports[1]),
    ];
    let mut daemons: [Option<Daemon>; 2] = [Some(gates[0].spawn_daemon()), None];
    // The first daemon makes the database; the second joins it.
    daemons[0]
        .as_ref()
        .expect("started")
        .wait_for_line("the desk fetched", TIMEOUT, |l| l.contains(TAKEN));
    daemons[1] = Some(gates[1].spawn_daemon());

    // Ops schedule a window a month ahead on one daemon; whichever holds the broadcast lease
    // queues the announcement, and both deliver it.
    let start = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT00:00")
        .to_string();
    gates[0].ok(&[
        "maintenance",
        "schedule",
        "--json",
        "--title",
        "Core router replacement AM11",
        "--sites",
        "AM11",
        "--start",
        &start,
        "--duration",
        "4h",
    ]);

    let in_sink = || {
        std::fs::read_dir(sink.dump_dir())
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // Customers write in all along, until the database has been restarted: one new ticket each.
    let appended = AtomicUsize::new(0);
    let appending = AtomicBool::new(true);
    let mut takeovers = Vec::new();
    std::thread::scope(|s| {
        // The customers stop writing when this scope ends, a failed assertion included (the
        // scope waits for them before it reports the failure).
        let _customers_stop = StopOnDrop(&appending);
        s.spawn(|| {
            let mut i = 0;
            while appending.load(Ordering::SeqCst) {
                let mail = TextMail::new(
                    &format!("Customer {i} <noc@cust{i:03}.example>"),
                    &format!("Outage {i:03} at AM11"),
                    &format!("outage{i:03}@cust{i:03}.example"),
                );
                dovecot.append(DESK, PASSWORD, "INBOX", &mail.bytes());
                appended.fetch_add(1, Ordering::SeqCst);
                i += 1;
                std::thread::sleep(MAIL_EVERY);
            }
        });

        // The announcement is being delivered: the first notices are in the sink.
        daemons[0].as_ref().expect("running").wait_until(
            "the first notices delivered",
            TIMEOUT,
            || {
                sink.messages()
                    .iter()
                    .any(|m| m.header("X-Deskgate-Notice").is_some())
            },
        );

        // Rounds: at a random moment, SIGKILL the daemon holding the desk; the other takes it
        // over; the killed one is started again.
        for round in 0..KILLS {
            std::thread::sleep(Duration::from_millis(moments.next_ms(0, 2_000)));
            let holder = desk_holder(&pg, &daemons);
            let other = 1 - holder;
            let victim = daemons[holder].take().expect("running");
            let survivor = daemons[other].as_ref().expect("both run between rounds");
            let before = survivor.count(TAKEN);
            let killed_at = Instant::now();
            victim.kill();
            let sunk = in_sink();
            survivor.wait_until("the survivor takes the desk over", TIMEOUT, || {
                survivor.count(TAKEN) > before
            });
            let took = killed_at.elapsed();
            eprintln!(
                "round {round}: killed daemon {holder} with {} mails appended and {sunk} mails \
                 in the sink (of {recipients} notices and the acknowledgements); daemon {other} \
                 fetched the desk {took:.2?} later",
                appended.load(Ordering::SeqCst)
            );
            takeovers.push(took);
            daemons[holder] = Some(gates[holder].spawn_daemon());
        }

        // The holder hangs past its lease: the other takes the desk over; back, the one that
        // hung finds its lease gone (whatever it commits under it is refused) and waits.
        std::thread::sleep(Duration::from_millis(moments.next_ms(0, 1_000)));
        let holder = desk_holder(&pg, &daemons);
        let (hung, survivor) = (
            daemons[holder].as_ref().expect("running"),
            daemons[1 - holder].as_ref().expect("running"),
        );
        let (before, lost_before) = (survivor.count(TAKEN), hung.count(LOST));
        let paused_at = Instant::now();
        hung.pause();
        survivor.wait_until(
            "the survivor takes the desk over from a hung daemon",
            TIMEOUT,
            || survivor.count(TAKEN) > before,
        );
        let took = paused_at.elapsed();
        hung.resume();
        hung.wait_until(
            "the daemon that hung knows it lost the desk",
            TIMEOUT,
            || hung.count(LOST) > lost_before,
        );
        eprintln!(
            "hang: daemon {holder} stopped (SIGSTOP) with {} mails appended; daemon {} fetched \
             the desk {took:.2?} later; back, daemon {holder} logged the lease lost",
            appended.load(Ordering::SeqCst),
            1 - holder
        );
        takeovers.push(took);

        // A clean stop hands the desk over at once (its leases are released).
        let holder = desk_holder(&pg, &daemons);
        let leaving = daemons[holder].take().expect("running");
        let survivor = daemons[1 - holder].as_ref().expect("running");
        let before = survivor.count(TAKEN);
        let stopped_at = Instant::now();
        leaving.ask_to_stop();
        survivor.wait_until(
            "the survivor takes the desk over from a stopped daemon",
            TIMEOUT,
            || survivor.count(TAKEN) > before,
        );
        let handover = stopped_at.elapsed();
        let log = leaving.stop();
        let shutdown = stopped_at.elapsed();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("lease") || l.contains("stop") || l.contains("shutting"))
            .collect();
        assert!(
            log.contains("desk lease released"),
            "a stopping daemon lets its desk go: {tail:#?}"
        );
        // Released, not run out: the survivor's next look (a third of the lease) finds it free.
        assert!(
            handover < Duration::from_secs(LEASE_SECS),
            "a clean stop hands the desk over without waiting for its lease to run out: \
             {handover:?} (the stopping daemon exited after {shutdown:?}): {tail:#?}"
        );
        eprintln!(
            "clean stop: daemon {holder} stopped (SIGTERM, exited after {shutdown:.2?}); daemon \
             {} fetched the desk {handover:.2?} after the signal",
            1 - holder
        );
        daemons[holder] = Some(gates[holder].spawn_daemon());

        // PostgreSQL restarted under both daemons while mail still comes in.
        std::thread::sleep(Duration::from_millis(moments.next_ms(0, 1_000)));
        let sunk = in_sink();
        pg.restart();
        eprintln!(
            "PostgreSQL restarted with {} mails appended and {sunk} in the sink",
            appended.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_secs(2));
        appending.store(false, Ordering::SeqCst);
    });
    let mails = appended.load(Ordering::SeqCst);

    // Everything arrives: every ticket's acknowledgement and every notice; then quiet, since a
    // repeat after the last would come from a transaction in flight at a kill.
    let expected_mails = recipients + mails;
    let d0 = daemons[0].as_ref().expect("running");
    let mut last = (0, Instant::now());
    d0.wait_until("every mail delivered, then quiet", TIMEOUT, || {
        let n = in_sink();
        if n != last.0 {
            last = (n, Instant::now());
        }
        n >= expected_mails && last.1.elapsed() > Duration::from_secs(3)
    });

    // Every mail on exactly one ticket: one ticket per customer's mail, none twice, none lost.
    let tickets = gates[0].tickets();
    let subjects: Vec<String> = tickets
        .iter()
        .map(|t| t["subject"].as_str().unwrap_or("").to_string())
        .collect();
    let distinct: BTreeSet<&String> = subjects.iter().collect();
    let want: BTreeSet<String> = (0..mails)
        .map(|i| format!("Outage {i:03} at AM11"))
        .collect();
    assert_eq!(
        distinct.len(),
        subjects.len(),
        "a ticket doubled: {subjects:?}"
    );
    assert_eq!(
        distinct.into_iter().cloned().collect::<BTreeSet<String>>(),
        want,
        "every mail on a ticket"
    );
    let refs: BTreeSet<&str> = tickets.iter().filter_map(|t| t["ref"].as_str()).collect();
    assert_eq!(refs.len(), mails, "ticket numbers never collide");
    // The CLI answers the same through either daemon.
    let through_other: BTreeSet<String> = gates[1]
        .tickets()
        .iter()
        .filter_map(|t| t["ref"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        through_other,
        refs.iter()
            .map(|r| r.to_string())
            .collect::<BTreeSet<String>>()
    );
    // The status page shows the same through either daemon.
    for port in status_ports {
        let status = status_json(port);
        assert_eq!(
            status["maintenance"]["upcoming"][0]["title"], "Core router replacement AM11",
            "status page on port {port}: {status}"
        );
    }
    // Every mail acknowledged to the mailbox (\Seen) once its ticket was durable.
    let flags = dovecot.flags(DESK, PASSWORD, "INBOX");
    assert_eq!(flags.len(), mails);
    assert!(
        flags.iter().all(|(_, f)| f.contains("\\Seen")),
        "every mail marked seen: {flags:?}"
    );

    // Every recipient the notice, and every customer an acknowledgement, once; a repeat only
    // the same mail again.
    let captured = sink.messages();
    let mut by_pair: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for m in &captured {
        let what = m
            .header("X-Deskgate-Notice")
            .unwrap_or_else(|| "ack".into());
        let mid = m.header("Message-ID").unwrap_or_default();
        for to in &m.rcpt_to {
            by_pair
                .entry((what.clone(), to.clone()))
                .or_default()
                .push(mid.clone());
        }
    }
    let notified: BTreeSet<&String> = by_pair
        .keys()
        .filter(|(what, _)| what != "ack")
        .map(|(_, to)| to)
        .collect();
    let expected: BTreeSet<String> = (0..recipients / 4)
        .flat_map(|a| (0..4).map(move |c| format!("noc{c}@c{a:05}.example")))
        .collect();
    assert_eq!(
        notified.len(),
        recipients,
        "every recipient notified ({} missing)",
        expected.iter().filter(|e| !notified.contains(e)).count()
    );
    let acked: BTreeSet<&String> = by_pair
        .keys()
        .filter(|(what, _)| what == "ack")
        .map(|(_, to)| to)
        .collect();
    assert_eq!(acked.len(), mails, "every customer acknowledged");
    let repeats: Vec<_> = by_pair.iter().filter(|(_, mids)| mids.len() > 1).collect();
    for (pair, mids) in &repeats {
        assert!(
            mids.iter().all(|m| m == &mids[0]),
            "{pair:?} got two different mails: {mids:?}"
        );
    }
    let extra: usize = repeats.iter().map(|(_, mids)| mids.len() - 1).sum();
    // A kill (and the hang) repeats at most that daemon's transactions in flight; the
    // database's restart at most each daemon's (an outcome it could not commit is sent again).
    let allowed = (KILLS + 1) * MAX_IN_FLIGHT + 2 * MAX_IN_FLIGHT;
    assert!(
        extra <= allowed,
        "{extra} repeated transactions (at most {allowed}): {repeats:?}"
    );
    assert_eq!(captured.len(), expected_mails + extra);
    let worst = takeovers.iter().max().copied().unwrap_or_default();
    eprintln!(
        "faults_multi: {recipients} recipients and {mails} mails through {KILLS} SIGKILLs, a \
         hang, a clean stop and a PostgreSQL restart: 0 lost, 0 doubled, {extra} repeated (same \
         Message-ID); takeover after a kill or the hang {:?} (lease {LEASE_SECS} s), worst \
         {worst:.2?}; whole test {:.1?}",
        takeovers
            .iter()
            .map(|t| format!("{:.2}s", t.as_secs_f64()))
            .collect::<Vec<_>>(),
        began.elapsed()
    );
}

/// A desk that keeps failing on the daemon holding its lease is fetched by another daemon: here
/// the first daemon logs in with an old password (a rotation that reached only the other
/// machine). It lets the desk's lease go at its first refused login, and the second daemon
/// fetches the desk and opens the customer's ticket; the first does not take the desk back
/// while the second holds it.
#[test]
fn a_desk_failing_on_one_daemon_is_fetched_by_the_other() {
    let pg = Postgres::start();
    let url = pg.create_db("standdown");
    let dovecot = Dovecot::start(&[(DESK, PASSWORD)]);
    let sink = SmtpSink::start();
    let daemon_gate = |password: &str| {
        GateConfig::new()
            .store_url(&url)
            .set("store", "lease_secs", LEASE_SECS as i64)
            .smtp_port(sink.port())
            .desk(
                DeskConfig::nl()
                    .imap_on(&dovecot, DESK, password)
                    .poll_interval_secs(1),
            )
            .start()
    };
    let (stale, current) = (daemon_gate("an-old-password"), daemon_gate(PASSWORD));
    let first = stale.spawn_daemon();
    first.wait_for_line(
        "the desk leased by the daemon with the old password",
        TIMEOUT,
        |l| l.contains(TAKEN),
    );
    let second = current.spawn_daemon();
    let mail = TextMail::new(
        "NOC <noc@cust001.example>",
        "Port down at AM11",
        "port-down@cust001.example",
    );
    dovecot.append(DESK, PASSWORD, "INBOX", &mail.bytes());
    first.wait_for_line("the failing daemon lets the desk go", TIMEOUT, |l| {
        l.contains("the desk keeps failing on this daemon")
    });
    second.wait_for_line("the other daemon fetches the desk", TIMEOUT, |l| {
        l.contains(TAKEN)
    });
    second.wait_until("the customer's ticket opened", TIMEOUT, || {
        current.tickets().len() == 1
    });
    // Rested (two lease times) and back: the desk is held, so the first daemon stays off it.
    std::thread::sleep(Duration::from_secs(3 * LEASE_SECS));
    assert_eq!(
        holder_pid(&pg, "standdown", "desk:nl"),
        Some(second.pid()),
        "the working daemon keeps the desk"
    );
    assert_eq!(first.count(TAKEN), 1, "{}", first.tail());
    let tickets = current.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    second.stop();
    first.stop();
}
