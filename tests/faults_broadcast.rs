//! A maintenance announcement to 10,000 recipients survives two SIGKILLs of the daemon, one
//! while it queues the notices, one while it delivers them, and a clean stop (SIGTERM) while
//! it queues them (it stops after the batch in hand). Every recipient gets the notice
//! exactly once; a repeat is only ever the same mail again, for a transaction in flight at a
//! kill. (The broadcasts' behaviour is in `e2e_broadcast.rs`; this is its fault drill, like
//! `faults.rs` for ingest.)

mod common;
#[path = "common/notice.rs"]
mod notice;

use notice::Broadcast;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `accounts` accounts at AM11 with four maintenance contacts each, in four languages and
/// four zones.
fn many_accounts(accounts: usize) -> String {
    let languages = ["en", "fr", "nl", "de"];
    let zones = [
        "Europe/Amsterdam",
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
    ];
    let mut out = String::new();
    for a in 0..accounts {
        out.push_str(&format!(
            "[[account]]\nid = \"c{a:05}\"\nname = \"Customer {a}\"\nlanguage = \"{}\"\n\
             timezone = \"{}\"\nsites = [\"AM11\"]\n",
            languages[a % 4],
            zones[a % 4]
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

/// Mails in the sink so far (a transaction in progress included): a cheap count.
fn sink_count(g: &Broadcast) -> usize {
    std::fs::read_dir(g.sink.dump_dir())
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The broadcast record of maintenance `id`'s only notice, as `maintenance show` has it
/// (run without a daemon: the store is free).
fn only_notice(g: &Broadcast, id: &str) -> Value {
    let v = g.gate.json(&["maintenance", "show", id, "--json"]);
    let notices = v["notices"].as_array().cloned().unwrap_or_default();
    assert_eq!(notices.len(), 1, "one notice begun: {:#}", v["notices"]);
    notices[0].clone()
}

/// How many SMTP transactions a killed daemon may have had in flight (`[outbox]
/// max_in_flight`, 1 by default): each may be sent again after a restart, with the same bytes
/// and Message-ID, since the server had accepted it before the outcome was made durable.
const MAX_IN_FLIGHT: usize = 1;

/// How long delivering the 10,000 may take: the whole test takes about 20 s on 2 cores (debug
/// build); the margin is for a loaded CI machine.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn ten_thousand_recipients_get_a_notice_once_through_two_sigkills() {
    const ACCOUNTS: usize = 2_500;
    const RECIPIENTS: usize = ACCOUNTS * 4;
    let began = Instant::now();
    let g = Broadcast::start(&many_accounts(ACCOUNTS), "");
    let daemon = g.gate.spawn_daemon();

    // Ops schedule a window a month ahead; the daemon queues the announcement to everybody.
    let start = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT00:00")
        .to_string();
    let mut ops = g
        .gate
        .cmd(&[
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
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the ops command");

    // SIGKILL while it queues: after its first batch is durable, before the last is.
    daemon.wait_until(
        "the first batch of notices queued",
        Duration::from_secs(30),
        || daemon.log().contains("notice batch queued"),
    );
    daemon.kill();
    let queueing = began.elapsed();
    let _ = ops.wait();
    // The delivery task is woken after each flushed batch, so a few notices of the first batch
    // may already be in the sink: the count at the end says whether any went twice.
    let record = only_notice(&g, "MNT-1");
    let queued = record["queued"].as_u64().unwrap_or(0) as usize;
    assert!(
        record["done"].is_null() && queued > 0 && queued < RECIPIENTS,
        "the kill interrupted the queueing: {record:#}"
    );

    // Restarted, and stopped cleanly (SIGTERM) as it takes the queueing up again: it stops
    // after the batch in hand, the rest left to the next start, rather than queueing thousands
    // first.
    let daemon = g.gate.spawn(&["run"]);
    daemon.wait_until(
        "the interrupted notice taken up again",
        Duration::from_secs(60),
        || {
            daemon
                .log()
                .contains("finishing a notice a restart interrupted")
        },
    );
    let asked = Instant::now();
    let log = daemon.stop();
    let stopping = asked.elapsed();
    assert!(
        log.contains("notice interrupted by the daemon's stop"),
        "the stop ended the queueing: {}",
        log.lines()
            .filter(|l| l.contains("notice") || l.contains("stop"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let record = only_notice(&g, "MNT-1");
    let queued_at_stop = record["queued"].as_u64().unwrap_or(0) as usize;
    assert!(
        record["done"].is_null() && queued_at_stop < RECIPIENTS,
        "the notice is left for the next start: {record:#}"
    );
    eprintln!("SIGTERM while queueing: stopped after {stopping:.2?}, {queued_at_stop} queued");

    // Restarted: it finishes the queueing (the recipients without an entry only) and delivers;
    // SIGKILL again when about half the notices are in the sink.
    let daemon = g.gate.spawn(&["run"]);
    daemon.wait_until("half of the notices delivered", DELIVERY_TIMEOUT, || {
        sink_count(&g) >= RECIPIENTS / 2
    });
    daemon.kill();
    let delivered_before_kill = sink_count(&g);
    assert!(
        delivered_before_kill < RECIPIENTS,
        "killed while delivering: {delivered_before_kill} of {RECIPIENTS} in the sink"
    );
    let record = only_notice(&g, "MNT-1");
    assert!(!record["done"].is_null(), "queueing finished: {record:#}");
    assert_eq!(
        record["queued"].as_u64(),
        Some(RECIPIENTS as u64),
        "each recipient queued once across both runs: {record:#}"
    );
    assert!(g
        .gate
        .log()
        .contains("finishing a notice a restart interrupted"));

    // Restarted again: it delivers the rest and falls quiet.
    let daemon = g.gate.spawn(&["run"]);
    // A negative wait: a repeat after the last notice would come from a transaction the kill
    // left in flight, and nothing announces that none is coming, so the sink must stay quiet
    // for a while once all are in.
    let mut last = (0, Instant::now());
    daemon.wait_until(
        "every notice delivered, then quiet",
        DELIVERY_TIMEOUT,
        || {
            let n = sink_count(&g);
            if n != last.0 {
                last = (n, Instant::now());
            }
            n >= RECIPIENTS && last.1.elapsed() > Duration::from_millis(1500)
        },
    );
    daemon.kill();
    let delivery = began.elapsed() - queueing;

    let outbox = g.gate.outbox();
    let unsent: Vec<&Value> = outbox.iter().filter(|e| e["state"] != "sent").collect();
    assert_eq!(outbox.len(), RECIPIENTS, "one outbox entry per recipient");
    assert!(
        unsent.is_empty(),
        "every entry sent: {:#?}",
        &unsent[..unsent.len().min(5)]
    );

    // Every recipient exactly once, by (notice, recipient).
    let captured = g.sink.messages();
    let mut by_pair: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for m in &captured {
        let key = m.header("X-Deskgate-Notice").unwrap_or_default();
        let mid = m.header("Message-ID").unwrap_or_default();
        for to in &m.rcpt_to {
            by_pair
                .entry((key.clone(), to.clone()))
                .or_default()
                .push(mid.clone());
        }
    }
    let keys: BTreeSet<&String> = by_pair.keys().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 1, "one notice: {keys:?}");
    let expected: BTreeSet<String> = (0..ACCOUNTS)
        .flat_map(|a| (0..4).map(move |c| format!("noc{c}@c{a:05}.example")))
        .collect();
    let got: BTreeSet<String> = by_pair.keys().map(|(_, to)| to.clone()).collect();
    let missing: Vec<&String> = expected.difference(&got).take(5).collect();
    let strangers: Vec<&String> = got.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && strangers.is_empty(),
        "{} missing (e.g. {missing:?}), {} not expected (e.g. {strangers:?})",
        expected.difference(&got).count(),
        got.difference(&expected).count()
    );
    // A repeat is allowed only for a transaction in flight at a kill: the same mail (same
    // Message-ID) again, at most MAX_IN_FLIGHT per kill.
    let repeats: Vec<(&(String, String), &Vec<String>)> =
        by_pair.iter().filter(|(_, mids)| mids.len() > 1).collect();
    for (pair, mids) in &repeats {
        assert!(
            mids.iter().all(|m| m == &mids[0]),
            "{pair:?} got two different mails: {mids:?}"
        );
    }
    let extra: usize = repeats.iter().map(|(_, mids)| mids.len() - 1).sum();
    assert!(
        extra <= 2 * MAX_IN_FLIGHT,
        "{extra} repeated transactions after 2 kills: {repeats:?}"
    );
    assert_eq!(captured.len(), RECIPIENTS + extra);
    eprintln!(
        "{RECIPIENTS} recipients: queueing until the first kill {queueing:.1?} ({queued} queued), \
         the rest (finishing the queue, delivery with a kill at {delivered_before_kill}, quiet) \
         {delivery:.1?}, {extra} repeated; whole test {:.1?}",
        began.elapsed()
    );
}
