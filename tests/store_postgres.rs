//! The store on PostgreSQL, against a real server started by the harness (`common::Postgres`):
//! the store's contract suite (the same one memory and sled pass), what only a server can do
//! (restart, crash, a newer schema, two daemons opening a fresh database at once, being called
//! inside an async runtime), and the whole path through the `deskgate` binary: a mail in from a
//! Maildir, its ticket listed, its acknowledgement sent to smtp-sink.

mod common;

use common::{DeskConfig, Gate, GateConfig, Postgres, SmtpSink};
use deskgate::store::contract::{self, Subject};
use deskgate::store::{Checkpoint, PostgresTarget, Store, StoreError};
use std::time::{Duration, Instant};

fn target(url: &str) -> PostgresTarget {
    PostgresTarget {
        url: url.to_string(),
        ..PostgresTarget::default()
    }
}

fn open(url: &str) -> Store {
    Store::open_postgres(target(url)).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// PostgreSQL as the contract sees it: a fresh database per check.
struct OnPostgres<'a>(&'a Postgres);

impl OnPostgres<'_> {
    fn db(label: &str) -> &str {
        // Identifiers are at most 63 bytes; the checks' names differ well before 48.
        &label[..label.len().min(48)]
    }
}

impl Subject for OnPostgres<'_> {
    fn name(&self) -> &str {
        "postgresql"
    }
    fn open(&self, label: &str) -> Store {
        open(&self.0.create_db(Self::db(label)))
    }
    fn reopen(&self, label: &str) -> Option<Store> {
        Some(open(&self.0.url(Self::db(label))))
    }
}

#[test]
fn the_store_contract_holds_on_postgresql() {
    let pg = Postgres::start();
    contract::run(&OnPostgres(&pg));
}

fn cp(last_uid: u32) -> Checkpoint {
    Checkpoint {
        uid_validity: 1,
        last_uid,
    }
}

fn commit_checkpoint(store: &Store, last_uid: u32) -> Result<(), StoreError> {
    let mut txn = store.txn();
    txn.put_checkpoint("nl", cp(last_uid));
    txn.commit()
}

#[test]
fn a_restarted_server_costs_one_transient_error_then_the_store_reconnects() {
    let mut pg = Postgres::start();
    let store = open(&pg.create_db("restart"));
    commit_checkpoint(&store, 5).expect("commit");
    store.flush().expect("flush");
    pg.restart();
    // The first call finds the connection gone: an error the desk retries, never a panic.
    let first = store.checkpoint("nl");
    if let Err(e) = &first {
        assert!(e.is_transient(), "a lost connection is transient: {e}");
    }
    assert_eq!(store.checkpoint("nl").expect("reconnected"), Some(cp(5)));
    commit_checkpoint(&store, 6).expect("commit after the restart");
    store.flush().expect("flush");
    drop(store);
    assert_eq!(
        open(&pg.url("restart")).checkpoint("nl").expect("cp"),
        Some(cp(6))
    );
}

#[test]
fn a_killed_server_keeps_every_flushed_commit() {
    let mut pg = Postgres::start();
    let url = pg.create_db("crash");
    let store = open(&url);
    for uid in 1..=50 {
        commit_checkpoint(&store, uid).expect("commit");
    }
    store.flush().expect("flush");
    pg.kill();
    // While the server is down a call fails, transiently, and does not hang.
    match store.checkpoint("nl") {
        Err(e) => assert!(e.is_transient(), "{e}"),
        Ok(cp) => panic!("read {cp:?} from a killed server"),
    }
    pg.start_again();
    drop(store);
    assert_eq!(open(&url).checkpoint("nl").expect("cp"), Some(cp(50)));
}

#[test]
fn a_database_of_a_newer_deskgate_is_refused() {
    let pg = Postgres::start();
    let url = pg.create_db("newer");
    drop(open(&url));
    pg.sql("newer", "UPDATE deskgate_schema SET version = 99");
    match Store::open_postgres(target(&url)) {
        Err(StoreError::Schema { found, .. }) => assert!(found.starts_with("99"), "{found}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a database of engine schema 99 was opened"),
    }
}

/// Several daemons share a database (issue 12 §2): daemons started together on a fresh
/// database migrate it once, and every one of them opens it.
#[test]
fn daemons_starting_together_migrate_once_and_all_open_the_database() {
    let pg = Postgres::start();
    let url = pg.create_db("race");
    let opened: Vec<Result<Store, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| Store::open_postgres(target(&url))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("open"))
            .collect()
    });
    assert_eq!(pg.sql("race", "SELECT count(*) FROM deskgate_schema"), "1");
    let stores: Vec<Store> = opened
        .into_iter()
        .map(|o| o.unwrap_or_else(|e| panic!("a daemon could not open the database: {e}")))
        .collect();
    let holders: std::collections::BTreeSet<&str> = stores.iter().map(|s| s.holder()).collect();
    assert_eq!(
        holders.len(),
        3,
        "each process is its own holder: {holders:?}"
    );
    commit_checkpoint(&stores[0], 9).expect("commit");
    stores[0].flush().expect("flush");
    assert_eq!(stores[2].checkpoint("nl").expect("cp"), Some(cp(9)));
}

/// Two processes on one database, with leases of `secs` seconds.
fn two_processes(pg: &Postgres, db: &str, secs: u64) -> (Store, Store) {
    let url = pg.create_db(db);
    let (a, b) = (open(&url), open(&url));
    for s in [&a, &b] {
        s.set_lease_times(Duration::from_secs(secs), Duration::from_secs(secs));
    }
    (a, b)
}

/// Waits until the lease `name` has run out by the database's clock (the only clock leases
/// use): there is no signal for time passing, so this polls the table.
fn until_expired(pg: &Postgres, db: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.sql(
        db,
        &format!(
            "SELECT count(*) FROM deskgate_lease WHERE name = '{name}' AND expires_at >= now()"
        ),
    ) != "0"
    {
        assert!(Instant::now() < deadline, "lease {name} never ran out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_lease_is_held_by_one_process_renewed_and_taken_over_once_it_runs_out() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "lease", 3);
    assert!(a.take_lease("desk:nl").expect("take"), "free: taken");
    let first = a.lease_epoch("desk:nl").expect("held");
    assert!(
        !b.take_lease("desk:nl").expect("take"),
        "held by a: refused"
    );
    assert!(!b.may_act("desk:nl"));
    assert!(
        a.take_lease("desk:nl").expect("renew"),
        "renewed by its holder"
    );
    assert_eq!(
        a.lease_epoch("desk:nl"),
        Some(first),
        "a renewal keeps the epoch"
    );
    // a stops renewing (it died or hangs): once the lease runs out, b takes it over.
    until_expired(&pg, "lease", "desk:nl");
    assert!(b.take_lease("desk:nl").expect("take over"));
    let second = b.lease_epoch("desk:nl").expect("held");
    assert!(
        second > first,
        "a change of hands is a new epoch: {first} -> {second}"
    );
    assert!(!a.take_lease("desk:nl").expect("take"), "a lost it");
    assert_eq!(a.lease_epoch("desk:nl"), None);
    // A lease let go is free at once.
    b.release_lease("desk:nl").expect("release");
    assert!(
        !b.take_lease("desk:nl").expect("take"),
        "a lease let go is not taken back (a renewal racing the release of a stopping daemon)"
    );
    assert!(a.take_lease("desk:nl").expect("take"));
    assert!(a.lease_epoch("desk:nl").expect("held") > second);
    // Other leases are independent.
    assert!(b.take_lease("timers").expect("take"));
}

#[test]
fn a_commit_under_a_lease_taken_over_meanwhile_is_refused() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "fence", 3);
    assert!(a.take_lease("desk:nl").expect("take"));
    commit_checkpoint(&a, 5).expect("a holds the desk: its commit goes in");
    // a pauses past its lease; b takes the desk over and moves on.
    until_expired(&pg, "fence", "desk:nl");
    assert!(b.take_lease("desk:nl").expect("take over"));
    commit_checkpoint(&b, 6).expect("b's commit");
    // a wakes up and commits what it prepared: refused, and nothing of it is written.
    let mut txn = a.txn();
    txn.put_checkpoint("nl", cp(99));
    txn.put_meta("written_by_a", &true);
    match txn.commit() {
        Err(e @ StoreError::Fenced { .. }) => assert!(e.is_transient(), "{e}"),
        other => panic!("a stale holder committed: {other:?}"),
    }
    assert_eq!(b.checkpoint("nl").expect("cp"), Some(cp(6)));
    assert_eq!(b.meta::<bool>("written_by_a").expect("meta"), None);
    // A process that never asked for the lease (one run of a command) is not fenced by it.
    let c = open(&pg.url("fence"));
    commit_checkpoint(&c, 7).expect("unfenced");
}

#[test]
fn each_outbox_entry_is_claimed_by_one_process_until_its_claim_runs_out_or_is_released() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "claims", 3);
    let ids: Vec<u64> = (1..=300).collect();
    // Both claim every entry, in groups of different sizes and in opposite orders (as two
    // daemons reading the same queue page claim overlapping groups).
    let claim = |store: &Store, group: usize, reversed: bool| {
        let mut order = ids.clone();
        if reversed {
            order.reverse();
        }
        order
            .chunks(group)
            .flat_map(|chunk| store.claim_outbox(chunk).expect("claim"))
            .collect::<Vec<u64>>()
    };
    let (got_a, got_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| claim(&a, 7, false));
        let tb = s.spawn(|| claim(&b, 5, true));
        (ta.join().expect("a"), tb.join().expect("b"))
    });
    let mut all: Vec<u64> = got_a.iter().chain(&got_b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        ids,
        "each entry claimed exactly once (a {}, b {})",
        got_a.len(),
        got_b.len()
    );
    // Released: the other process may claim it at once; not released: only once it runs out.
    let (mine, theirs) = (1001, 1002);
    let claims = |store: &Store, id: u64| store.claim_outbox(&[id]).expect("claim") == [id];
    assert!(claims(&a, mine));
    assert!(claims(&b, theirs));
    assert!(!claims(&b, mine), "a's claim runs");
    assert_eq!(
        b.claim_outbox(&[theirs, mine, 1003]).expect("claim"),
        [theirs, 1003],
        "a group claims what is free or already its own"
    );
    a.release_outbox(&[mine]).expect("release");
    assert!(claims(&b, mine));
    assert!(!claims(&a, theirs), "b's claim runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !claims(&a, theirs) {
        assert!(Instant::now() < deadline, "b's claim never ran out");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dead_processes_claims_are_free_once_its_life_lease_runs_out_not_its_claim_time() {
    let pg = Postgres::start();
    let url = pg.create_db("lives");
    // Leases of 3 s, claims of 10 minutes: only the life lease can free a claim in this test.
    let (a, b) = (open(&url), open(&url));
    for s in [&a, &b] {
        s.set_lease_times(Duration::from_secs(3), Duration::from_secs(600));
    }
    let claimed = |store: &Store, ids: &[u64]| store.claim_outbox(ids).expect("claim");
    let (got, first_claim) = a.claim_outbox_timed(&[1, 2, 3]).expect("claim");
    assert_eq!(got, [1, 2, 3]);
    assert!(a.claims_hold(first_claim));
    assert_eq!(claimed(&b, &[1, 2, 3, 4]), [4], "a lives: its claims hold");

    // a dies (nothing renews its life lease) while b lives on (claiming renews its life): b
    // gets a's entries once a's life has run out and its own has run a lease time unbroken.
    let died = Instant::now();
    let mut got = Vec::new();
    while got != [1, 2, 3] {
        assert!(
            died.elapsed() < Duration::from_secs(30),
            "a's claims never freed"
        );
        std::thread::sleep(Duration::from_millis(200));
        got = claimed(&b, &[1, 2, 3]);
    }
    assert!(
        !a.claims_hold(first_claim),
        "a's own clock says its claims lapsed"
    );
    eprintln!(
        "a's claims taken over {:.2?} after its last claim",
        died.elapsed()
    );

    // It was a hang, not a death: a claims again (which renews its life) and gets nothing b
    // took, only what is free.
    assert_eq!(claimed(&a, &[1, 2, 3, 5]), [5]);
    assert!(
        !a.claims_hold(first_claim),
        "its life broke after its first claims: they may be gone though it lives again"
    );
    assert!(a.claims_hold(Instant::now()));
    assert_eq!(
        claimed(&b, &[5]),
        Vec::<u64>::new(),
        "a lives again: its claim holds"
    );

    // The database out of reach for longer than a lease: every life runs out at once. The
    // first back may not take the others' claims: they are alive, and come back within a
    // lease time to commit what they sent meanwhile.
    until_expired(&pg, "lives", a.life_lease());
    until_expired(&pg, "lives", b.life_lease());
    assert_eq!(
        claimed(&b, &[5, 6]),
        [6],
        "b, back first, leaves a's claim alone"
    );
    assert_eq!(claimed(&a, &[5]), [5], "a, back, still holds its claim");

    // A process that stops lets its life go: its claims are free at once (to a process whose
    // own life has run unbroken for a lease time).
    a.release_lease(a.life_lease()).expect("release");
    let stopped = Instant::now();
    while claimed(&b, &[5]) != [5] {
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "a's claim never freed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!a.claims_hold(Instant::now()));
    assert_eq!(
        claimed(&a, &[7]),
        Vec::<u64>::new(),
        "a stopping process claims nothing"
    );

    // Ended lives with no claim left are forgotten by the next process to claim; a life that
    // ran out with claims still running stays (b's, once its lease runs out too).
    let lives = |holder: &str| {
        pg.sql(
            "lives",
            &format!("SELECT count(*) FROM deskgate_lease WHERE name = 'life:{holder}'"),
        )
    };
    assert_eq!(lives(a.holder()), "1");
    until_expired(&pg, "lives", b.life_lease());
    let c = open(&url);
    assert_eq!(claimed(&c, &[8]), [8]);
    assert_eq!(lives(a.holder()), "0", "a ended without claims: forgotten");
    assert_eq!(
        lives(b.holder()),
        "1",
        "b's claims still run: its life is kept"
    );
    assert_eq!(lives(c.holder()), "1");
}

#[test]
fn two_processes_never_get_the_same_ticket_number() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "seq", 30);
    // Ticket numbers one at a time; outbox ids, which this process reserves in blocks, alike.
    for counter in ["ticket", "outbox"] {
        let numbers = |store: &Store| {
            (0..300)
                .map(|_| {
                    let mut txn = store.txn();
                    let n = txn.next_seq(counter).expect("seq");
                    txn.commit().expect("commit");
                    n
                })
                .collect::<Vec<u64>>()
        };
        let (na, nb) = std::thread::scope(|s| {
            let ta = s.spawn(|| numbers(&a));
            let tb = s.spawn(|| numbers(&b));
            (ta.join().expect("a"), tb.join().expect("b"))
        });
        assert!(na.windows(2).all(|w| w[0] < w[1]), "{counter}: rising");
        let mut all: Vec<u64> = na.into_iter().chain(nb).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 600, "{counter}: no number twice");
        if counter == "ticket" {
            assert_eq!(all.last(), Some(&600), "ticket numbers without gaps");
        }
    }
}

/// The store's writer lock spans processes: two processes' read-modify-writes of one record
/// never overwrite each other.
#[test]
fn read_modify_writes_of_two_processes_never_lose_an_update() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "writer", 30);
    let add = |store: &Store| {
        for _ in 0..150 {
            let _writer = store.write_lock();
            let n: u64 = store.meta("counter").expect("read").unwrap_or(0);
            let mut txn = store.txn();
            txn.put_meta("counter", &(n + 1));
            txn.commit().expect("commit");
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| add(&a));
        s.spawn(|| add(&b));
    });
    assert_eq!(a.meta::<u64>("counter").expect("read"), Some(300));
}

/// A process keeps the writer lease between its write locks (one take per slice, not per
/// commit), but not from a process that waits for it: while one process writes without pause,
/// another still gets its turns, and neither loses an update.
#[test]
fn a_process_writing_without_pause_does_not_starve_another() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "fair", 30);
    let bump = |store: &Store, name: &str| {
        let _writer = store.write_lock();
        let n: u64 = store.meta(name).expect("read").unwrap_or(0);
        let mut txn = store.txn();
        txn.put_meta(name, &(n + 1));
        txn.commit().expect("commit");
    };
    let b_done = std::sync::atomic::AtomicBool::new(false);
    let started = Instant::now();
    let a_commits = std::thread::scope(|s| {
        let busy = s.spawn(|| {
            // a writes back to back until b is through, or 60 s have passed.
            let mut n = 0u64;
            while !b_done.load(std::sync::atomic::Ordering::SeqCst)
                && started.elapsed() < Duration::from_secs(60)
            {
                bump(&a, "a");
                n += 1;
            }
            n
        });
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..20 {
            bump(&b, "b");
        }
        b_done.store(true, std::sync::atomic::Ordering::SeqCst);
        busy.join().expect("a")
    });
    let waited = started.elapsed();
    eprintln!("b's 20 commits took {waited:?}; a made {a_commits} meanwhile");
    assert_eq!(b.meta::<u64>("b").expect("read"), Some(20));
    assert_eq!(a.meta::<u64>("a").expect("read"), Some(a_commits));
    // b waits for the end of a's slice (0.1 s) and a's stand-back, then makes its commits in
    // a slice of its own: well under a second (without the stand-back, a took the lease back
    // at once nearly every time and b's commits took about 12 s here).
    assert!(
        waited < Duration::from_secs(5),
        "b's 20 commits took {waited:?} while a wrote without pause"
    );
    assert!(a_commits > 20, "a wrote too: {a_commits} commits");
}

/// The writer lease is let go once unused, and at a flush: another process does not wait for
/// a lease kept by a process that has nothing more to write (a command that is about to exit).
#[test]
fn the_writer_lease_kept_between_writes_is_let_go_when_unused() {
    let pg = Postgres::start();
    let (a, b) = two_processes(&pg, "idle", 30);
    let held_by = |who: &Store| {
        pg.sql(
            "idle",
            &format!(
                "SELECT count(*) FROM deskgate_lease WHERE name = 'writer' \
                 AND holder = '{}' AND expires_at >= now()",
                who.holder()
            ),
        ) == "1"
    };
    {
        let _writer = a.write_lock();
        let mut txn = a.txn();
        txn.put_meta("x", &1u64);
        txn.commit().expect("commit");
    }
    // Unused, the lease goes within moments, not after its 30 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    while held_by(&a) {
        assert!(
            Instant::now() < deadline,
            "the unused writer lease was kept"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A flush lets it go at once.
    {
        let _writer = b.write_lock();
        let mut txn = b.txn();
        txn.put_meta("x", &2u64);
        txn.commit().expect("commit");
    }
    b.flush().expect("flush");
    assert!(!held_by(&b), "flushed: the writer lease is let go");
    let started = Instant::now();
    drop(a.write_lock());
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A server on this machine is reached through its Unix socket when the URL's host is a
/// directory, as with libpq (`host=/run/postgresql`).
#[test]
fn a_server_is_reached_through_its_unix_socket() {
    let pg = Postgres::start();
    pg.create_db("unix");
    let url = format!(
        "host={} port={} user={} dbname=unix",
        pg.socket_dir().display(),
        pg.port(),
        common::PG_USER
    );
    let store = open(&url);
    commit_checkpoint(&store, 7).expect("commit");
    store.flush().expect("flush");
    assert_eq!(store.checkpoint("nl").expect("cp"), Some(cp(7)));
    assert_eq!(
        pg.sql(
            "unix",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deskgate' \
             AND client_port = -1"
        ),
        "1",
        "the session came through the Unix socket"
    );
}

/// The engine interface is synchronous and parts of deskgate call it from async code: a call
/// made on a tokio worker must block like a sled call, not panic as a nested runtime would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_answers_inside_an_async_runtime() {
    let pg = Postgres::start();
    let store = open(&pg.create_db("in_async"));
    commit_checkpoint(&store, 3).expect("commit");
    store.flush().expect("flush");
    assert_eq!(store.checkpoint("nl").expect("cp"), Some(cp(3)));
    let again = store.clone();
    let cp_in_blocking = tokio::task::spawn_blocking(move || again.checkpoint("nl"))
        .await
        .expect("join");
    assert_eq!(cp_in_blocking.expect("cp"), Some(cp(3)));
}

#[test]
fn a_password_given_beside_the_url_is_used() {
    let pg = Postgres::start();
    let url = pg.create_db("password");
    pg.sql("postgres", "CREATE ROLE desk LOGIN PASSWORD 'hunter2'");
    pg.sql("password", "GRANT ALL ON SCHEMA public TO desk");
    let url = url.replace(common::PG_USER, "desk");
    let store = Store::open_postgres(PostgresTarget {
        url: url.clone(),
        password: Some("hunter2".into()),
        ..PostgresTarget::default()
    })
    .expect("open with the password");
    commit_checkpoint(&store, 1).expect("commit");
    // Trust authentication lets anyone in, so the password is not proven by logging in; that
    // it reaches the server is (password authentication is what a real deployment sets up).
    let err = Store::open_postgres(target("postgres://desk@127.0.0.1:1/password"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(!err.contains("hunter2"), "{err}");
}

/// The whole path on PostgreSQL through the binary: a customer's mail from the Maildir opens a
/// ticket that `tickets list --json` shows, with its acknowledgement sent to smtp-sink and the
/// outbox entry marked sent; a second pass over the same mail changes nothing.
#[test]
fn a_mail_becomes_a_ticket_and_its_acknowledgement_is_sent_on_postgresql() {
    let pg = Postgres::start();
    let sink = SmtpSink::start();
    let gate = GateConfig::new()
        .store_url(&pg.create_db("e2e"))
        .smtp_port(sink.port())
        .desk(DeskConfig::nl())
        .start();
    gate.ok(&["check"]);
    gate.deliver(
        "1.link",
        "From: Jane Doe <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\n\
         Subject: Link down in AMS-3\r\nMessage-ID: <link@acme.example>\r\n\
         Date: Sun, 6 Dec 2026 01:00:00 +0000\r\n\r\nOur uplink is down since 01:00.\r\n",
    );
    let pass = gate.pass(&sink);
    let tickets = gate.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(tickets[0]["subject"], "Link down in AMS-3", "{tickets:?}");
    let reference = tickets[0]["ref"].as_str().expect("a reference");
    assert_eq!(pass.mails.len(), 1, "the acknowledgement");
    assert!(
        pass.mails[0]
            .rcpt_to
            .iter()
            .any(|r| r == "jane@acme.example"),
        "{:?}",
        pass.mails[0].rcpt_to
    );
    assert!(
        pass.mails[0].text().contains(reference),
        "the ack names the ticket"
    );
    let outbox = gate.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["state"], "sent", "{outbox:?}");
    // Raw mail is in the database, not in a file beside it.
    assert_eq!(
        pg.sql(
            "e2e",
            "SELECT count(*) FROM deskgate_kv WHERE key >= 'raw/' AND key < 'raw0'"
        ),
        "1"
    );
    assert!(!gate.dir().join("store").exists(), "no sled store was made");
    // The same mail again (a crash before the Maildir was told): nothing new.
    gate.deliver(
        "2.again",
        "From: Jane Doe <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\n\
         Subject: Link down in AMS-3\r\nMessage-ID: <link@acme.example>\r\n\r\nagain\r\n",
    );
    let again = gate.pass(&sink);
    assert!(again.mails.is_empty(), "a duplicate sends nothing");
    assert_eq!(gate.tickets().len(), 1);

    // A second customer: the listing comes in pages, and filtered.
    gate.deliver(
        "3.vpn",
        "From: Joe <joe@globex.example>\r\nTo: servicedesk.nl@example.net\r\n\
         Subject: VPN flapping\r\nMessage-ID: <vpn@globex.example>\r\n\r\nsince noon\r\n",
    );
    assert_eq!(gate.pass(&sink).mails.len(), 1);
    let refs = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["tickets", "list", "--json"];
        all.extend_from_slice(args);
        gate.list(&all)
            .iter()
            .map(|t| t["ref"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let first = refs(&["--limit", "1"]);
    assert_eq!(first, [reference.to_string()]);
    let second = refs(&["--limit", "1", "--after", reference]);
    assert_eq!(second.len(), 1);
    assert_ne!(second[0], reference);
    assert!(
        refs(&["--after", &second[0]]).is_empty(),
        "nothing after the last"
    );
    assert_eq!(refs(&["--desk", "nl", "--status", "new"]).len(), 2);
    assert!(refs(&["--status", "resolved"]).is_empty());
    let unknown = gate
        .try_ok(&["tickets", "list", "--json", "--desk", "fr"])
        .expect_err("a desk the config does not have is an error");
    assert!(unknown.contains("no desk \"fr\""), "{unknown}");

    // In one pass: a reply by its In-Reply-To, a mail naming the ticket in its subject only,
    // a new customer, and the reply again. Each mail's look-ups are read in one round trip;
    // each lands where it belongs, the repeated reply nowhere.
    let reply = "From: Jane Doe <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\n\
         Subject: Re: Link down in AMS-3\r\nMessage-ID: <reply@acme.example>\r\n\
         In-Reply-To: <link@acme.example>\r\nReferences: <link@acme.example>\r\n\r\n\
         Still down.\r\n";
    gate.deliver("4.reply", reply);
    gate.deliver(
        "5.subject",
        format!(
            "From: Jane Doe <jane@acme.example>\r\nTo: servicedesk.nl@example.net\r\n\
             Subject: [{reference}] traceroute\r\nMessage-ID: <trace@acme.example>\r\n\r\n\
             Traceroute attached.\r\n"
        ),
    );
    gate.deliver(
        "6.power",
        "From: Ann <ann@initech.example>\r\nTo: servicedesk.nl@example.net\r\n\
         Subject: Feed A lost\r\nMessage-ID: <power@initech.example>\r\n\r\nsince 02:00\r\n",
    );
    gate.deliver("7.reply-again", reply);
    gate.pass(&sink);
    assert_eq!(gate.tickets().len(), 3, "one new ticket");
    let show = gate.ticket(reference);
    assert_eq!(
        Gate::inbound_ids(&show),
        [
            "link@acme.example",
            "reply@acme.example",
            "trace@acme.example"
        ],
        "the first mail, the reply and the traceroute, once each"
    );
}

/// `sslmode=require`: TLS with the server's certificate verified against `ca_file`, the store
/// works over it (the server sees the session as TLS); without the CA the certificate is
/// refused, and a server without TLS is refused rather than spoken to in the clear.
#[test]
fn sslmode_require_speaks_tls_and_verifies_the_server() {
    let mut pg = Postgres::start();
    let url = pg.create_db("tls");
    let plain = Postgres::start();
    let plain_url = plain.create_db("tls");
    let tls = common::make_tls(&pg.dir().join("tls"));
    pg.enable_tls(&tls);
    let require = |url: &str, ca: Option<&std::path::Path>| {
        Store::open_postgres(PostgresTarget {
            url: format!("{url}?sslmode=require"),
            ca_file: ca.map(|p| p.to_path_buf()),
            statement_timeout: Some(Duration::from_secs(5)),
            ..PostgresTarget::default()
        })
    };

    let store = require(&url, Some(&tls.ca_cert)).expect("open over TLS with the CA");
    let mut txn = store.txn();
    txn.put_meta("tls-check", &"over TLS");
    txn.commit().expect("commit");
    store.flush().expect("flush");
    let tls_sessions = pg.sql(
        "tls",
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND application_name = 'deskgate'",
    );
    assert_ne!(tls_sessions.trim(), "0", "deskgate's session is not TLS");
    assert_eq!(
        pg.sql("tls", "SELECT current_setting('ssl')").trim(),
        "on",
        "the server runs TLS"
    );
    drop(store);

    match require(&url, None) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"),
                "unexpected error without the CA: {text}"
            );
        }
        Ok(_) => panic!("a server certificate from an unknown CA was accepted"),
    }
    match require(&plain_url, Some(&tls.ca_cert)) {
        Err(e) => assert!(
            e.to_string().to_lowercase().contains("tls")
                || e.to_string().to_lowercase().contains("ssl"),
            "unexpected error from a server without TLS: {e}"
        ),
        Ok(_) => panic!("sslmode=require spoke to a server without TLS"),
    }
}

/// `statement_timeout` is set on deskgate's session: a statement stuck behind a lock another
/// session holds fails after it instead of hanging the daemon.
#[test]
fn the_statement_timeout_bounds_a_stuck_statement() {
    let pg = Postgres::start();
    let url = pg.create_db("timeout");
    let store = Store::open_postgres(PostgresTarget {
        url,
        statement_timeout: Some(Duration::from_millis(700)),
        ..PostgresTarget::default()
    })
    .expect("open");
    let mut txn = store.txn();
    txn.put_meta("before", &1);
    txn.commit().expect("commit");
    // Another session locks the table for three seconds, while this one tries to commit.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            pg.sql(
                "timeout",
                "BEGIN; LOCK TABLE deskgate_kv IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;",
            )
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while pg
            .sql(
                "timeout",
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted \
                 AND relation = 'deskgate_kv'::regclass",
            )
            .trim()
            == "0"
        {
            assert!(Instant::now() < deadline, "the lock was never taken");
            std::thread::sleep(Duration::from_millis(50));
        }
        let started = Instant::now();
        let mut txn = store.txn();
        txn.put_meta("during", &2);
        let result = txn.commit().and_then(|()| store.flush());
        let waited = started.elapsed();
        let text = result
            .expect_err("the commit waited out the lock")
            .to_string();
        assert!(
            text.contains("statement timeout") || text.contains("canceling statement"),
            "unexpected error: {text}"
        );
        assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
    });
}
