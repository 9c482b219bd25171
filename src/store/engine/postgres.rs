//! The PostgreSQL engine: the same ordered byte keys in one table, each batch one SQL statement
//! (so one transaction), durable after `flush`.
//!
//! Layout: `deskgate_kv (key bytea primary key, value bytea not null)`; PostgreSQL orders
//! `bytea` byte by byte, as sled does, so prefix and range scans are index range scans. Raw mail
//! is kept inline under its `raw/` key (there is no raw-mail log beside a database shared by
//! several machines); PostgreSQL compresses large values and stores them out of line (TOAST), so
//! they do not weigh on the index. The engine's own tables are versioned in
//! `deskgate_schema` and created by [`MIGRATIONS`]; the store's key layout keeps its own version
//! under its schema key, as on sled.
//!
//! Durability is a group commit, as on sled: the session runs with `synchronous_commit = off`, so
//! a batch's commit does not wait for the WAL to reach the disk (a crash of the server loses at
//! most its last few hundred milliseconds of commits, always a prefix of them), and `flush`
//! commits a one-row update with `synchronous_commit = on`, which waits until the WAL up to that
//! commit (so every earlier commit, of any session) is on disk.
//!
//! Why tokio-postgres, driven by the calling thread (`postgres_io.rs`), and not the sync
//! `postgres` crate: the engine interface is synchronous and is called from blocking threads
//! *and*, for short reads, from async code (the admin socket, the status page, start-up). The
//! sync crate runs each call with its own runtime's `block_on`, which panics inside a tokio
//! runtime. Here each call polls itself and the connection, and waits for the socket itself
//! when both wait for it: no runtime, no second thread, a call blocks its thread exactly as a
//! sled call does, wherever it is made.
//!
//! No tokio-postgres type leaves this file: errors become [`StoreError`], and the connection
//! target is given as a URL and an optional password.

use super::postgres_io::{Driver, Plain, Socket};
use super::postgres_tls::RustlsMake;
use super::{Batch, Engine, Entries};
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::{Client, NoTls, Statement};

/// The engine's own tables, one step per version: `MIGRATIONS[n]` takes a database from version
/// `n` to `n + 1`. Append only; never edit a step that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: the key-value table, and the row a flush updates to wait for the WAL.
    "CREATE TABLE deskgate_kv (key bytea PRIMARY KEY, value bytea NOT NULL);
     CREATE TABLE deskgate_flush (id integer PRIMARY KEY, n bigint NOT NULL);
     INSERT INTO deskgate_flush VALUES (1, 0);",
    // 2: several daemons on one database. Leases (one row per desk, `timers`, `broadcast`,
    // `writer`), whose epoch grows at each change of hands and fences the holder's commits;
    // claims on outbox entries, taken before an entry's SMTP transaction.
    "CREATE TABLE deskgate_lease (name text PRIMARY KEY, holder text NOT NULL,
         epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
     CREATE TABLE deskgate_claim (id bigint PRIMARY KEY, holder text NOT NULL,
         until timestamptz NOT NULL);",
    // 3: a process waiting for a lease says so, and the holder that keeps it between uses
    // (the writer lease) stands back when it next lets it go.
    "ALTER TABLE deskgate_lease ADD COLUMN wanted boolean NOT NULL DEFAULT false;",
];

/// An arbitrary constant: the advisory lock that keeps two daemons starting at once from
/// migrating the same database together.
const MIGRATION_LOCK: i64 = 0x6465_736b_6761_7465; // "deskgate"

/// How long to wait for a connection (TCP and authentication).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to connect: a `postgres://` URL (or key=value string) and the password, if it is not in
/// the URL; with `sslmode=require` in the URL, the CA certificates that vouch for the server
/// beside the webpki roots; and the longest a statement may run.
#[derive(Clone, Default)]
pub struct PostgresTarget {
    pub url: String,
    pub password: Option<String>,
    /// PEM certificates trusted for the server's certificate (`sslmode=require`), beside the
    /// webpki roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Any statement running longer is cancelled by the server (`statement_timeout`), so a
    /// lock held by a forgotten session or a server in trouble shows as an error instead of a
    /// daemon that hangs. `None`: the server's own setting.
    pub statement_timeout: Option<Duration>,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PostgresTarget {
    fn config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut config: tokio_postgres::Config =
            self.url
                .parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Open {
                    path: self.describe(),
                    message: format!("store.url is not a PostgreSQL connection URL: {e}"),
                })?;
        if let Some(p) = &self.password {
            config.password(p.as_bytes());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("deskgate");
        // A server that vanishes without closing the connection (a machine that died) is noticed
        // within about a minute instead of the kernel's two hours.
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer {
            // libpq's default would try TLS without checking the certificate, then fall back
            // to plain TCP: no protection worth the name. deskgate speaks TLS only when told to
            // (sslmode=require, the certificate always verified) and plain TCP otherwise.
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        }
        Ok(config)
    }

    /// The target without its password: `postgres://user@host:port/db`, for logs and errors.
    pub fn describe(&self) -> String {
        let Ok(config) = self.url.parse::<tokio_postgres::Config>() else {
            return "postgres://<unparsable url>".into();
        };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "postgres://{}@{host}:{port}/{}",
            config.get_user().unwrap_or(""),
            config.get_dbname().unwrap_or("")
        )
    }
}

/// PostgreSQL: one table of ordered byte keys, one statement per batch, durable after `flush`.
pub struct PostgresEngine {
    target: PostgresTarget,
    /// The connection, made again on the next call after it was lost (a server restart).
    /// One connection, used by one call at a time, as sled's batches are applied one at a time.
    conn: Mutex<Option<Conn>>,
}

/// One connection, its driver and the statements prepared on it.
struct Conn {
    client: Client,
    /// Drives the connection in the calling thread (`postgres_io.rs`). Calls are one at a
    /// time: the engine's mutex is held around each.
    driver: std::cell::RefCell<Driver>,
    st: Statements,
}

struct Statements {
    get: Statement,
    scan_from: Statement,
    scan_range: Statement,
    apply: Statement,
    apply_fenced: Statement,
    take_lease: Statement,
    release_lease: Statement,
    want_lease: Statement,
    claim: Statement,
    release_claims: Statement,
    forget_ended_lives: Statement,
    next_seq: Statement,
    get_many: Statement,
}

impl Conn {
    /// Runs a call on this connection to its end.
    fn block_on<F: std::future::Future>(&self, call: F) -> F::Output {
        self.driver.borrow_mut().block_on(call)
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed() || self.driver.borrow().is_closed()
    }
}

impl PostgresEngine {
    /// Connects, and creates or migrates the engine's tables.
    pub fn open(target: PostgresTarget) -> Result<PostgresEngine, StoreError> {
        let config = target.config()?;
        let engine = PostgresEngine {
            target,
            conn: Mutex::new(None),
        };
        let (client, mut driver) =
            connect(&config, &engine.target).map_err(|message| StoreError::Open {
                path: engine.target.describe(),
                message,
            })?;
        migrate(&client, &mut driver, &engine.target.describe())?;
        let conn = prepare(client, driver).map_err(|e| StoreError::Open {
            path: engine.target.describe(),
            message: error_text(&e),
        })?;
        *engine.lock() = Some(conn);
        Ok(engine)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Conn>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the connection, connecting first if there is none. A connection that failed
    /// is dropped, so the next call connects again.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Conn) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut guard = self.lock();
        if guard.is_none() {
            let config = self.target.config()?;
            let (client, driver) =
                connect(&config, &self.target).map_err(|message| StoreError::Engine {
                    message: format!("PostgreSQL {}: {message}", self.target.describe()),
                    transient: true,
                })?;
            *guard = Some(prepare(client, driver).map_err(|e| engine_error(&e))?);
        }
        let Some(conn) = guard.as_ref() else {
            unreachable!("connected just above")
        };
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_closed() || conn.is_closed() || lost_connection(&e) {
                    *guard = None;
                }
                Err(engine_error(&e))
            }
        }
    }
}

/// Connects: the socket (the first of the URL's hosts that answers within the connect timeout),
/// TLS when asked for, the session's start-up and settings. The calling thread drives it all,
/// and every later call (`postgres_io.rs`).
fn connect(
    config: &tokio_postgres::Config,
    target: &PostgresTarget,
) -> Result<(Client, Driver), String> {
    let (plain, host) = open_socket(config)?;
    let (socket, mut driver) =
        Socket::new(plain).map_err(|e| format!("cannot watch the connection's socket: {e}"))?;
    let deadline = std::time::Instant::now() + connect_timeout(config);
    let client = match config.get_ssl_mode() {
        tokio_postgres::config::SslMode::Require => {
            let tls = RustlsMake::new(target.ca_file.as_deref())?.connector(&host)?;
            start_session(&mut driver, config, socket, tls, deadline)?
        }
        _ => start_session(&mut driver, config, socket, NoTls, deadline)?,
    };
    if let Some(t) = target.statement_timeout {
        driver
            .block_on(client.batch_execute(&format!("SET statement_timeout = {}", t.as_millis())))
            .map_err(|e| error_text(&e))?;
    }
    Ok((client, driver))
}

/// The session's start-up over `socket` (TLS first, with `tls`), by `deadline`; the driver
/// drives the connection from then on.
fn start_session<T>(
    driver: &mut Driver,
    config: &tokio_postgres::Config,
    socket: Socket,
    tls: T,
    deadline: std::time::Instant,
) -> Result<Client, String>
where
    T: tokio_postgres::tls::TlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = driver
        .block_on_until(config.connect_raw(socket, tls), deadline)
        .ok_or_else(|| "the server did not complete the start-up in time".to_string())?
        .map_err(|e| error_text(&e))?;
    driver.attach(Box::pin(connection));
    Ok(client)
}

fn connect_timeout(config: &tokio_postgres::Config) -> Duration {
    config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT)
}

/// The socket to the first of the URL's hosts (or `hostaddr`s) that answers, and the name its
/// TLS certificate must carry. A host that is a directory is a Unix socket's, as with libpq.
fn open_socket(config: &tokio_postgres::Config) -> Result<(Plain, String), String> {
    use std::net::ToSocketAddrs;
    use tokio_postgres::config::Host;
    let (hosts, addrs, ports) = (
        config.get_hosts(),
        config.get_hostaddrs(),
        config.get_ports(),
    );
    let timeout = connect_timeout(config);
    let keepalive = config
        .get_keepalives()
        .then(|| socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle()));
    let mut failed = Vec::new();
    for i in 0..hosts.len().max(addrs.len()) {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let (name, opened) = match (hosts.get(i), addrs.get(i)) {
            (Some(Host::Unix(dir)), _) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let opened = std::os::unix::net::UnixStream::connect(&path).and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(Plain::Unix(mio::net::UnixStream::from_std(s)))
                });
                (path.display().to_string(), opened)
            }
            (host, Some(ip)) => {
                let name = match host {
                    Some(Host::Tcp(h)) => h.clone(),
                    _ => ip.to_string(),
                };
                let addr = std::net::SocketAddr::new(*ip, port);
                (name, tcp(&[addr], timeout, keepalive.as_ref()))
            }
            (Some(Host::Tcp(h)), None) => {
                let opened = (h.as_str(), port)
                    .to_socket_addrs()
                    .and_then(|a| tcp(&a.collect::<Vec<_>>(), timeout, keepalive.as_ref()));
                (h.clone(), opened)
            }
            (None, None) => continue,
        };
        match opened {
            Ok(plain) => return Ok((plain, name)),
            Err(e) => failed.push(format!("{name}:{port}: {e}")),
        }
    }
    if failed.is_empty() {
        return Err("store.url names no host".into());
    }
    Err(failed.join("; "))
}

/// A TCP connection to the first of `addrs` that answers: no Nagle delay (every message is a
/// whole request), keepalive probes so that a vanished server is noticed, non-blocking.
fn tcp(
    addrs: &[std::net::SocketAddr],
    timeout: Duration,
    keepalive: Option<&socket2::TcpKeepalive>,
) -> std::io::Result<Plain> {
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                if let Some(k) = keepalive {
                    socket2::SockRef::from(&s).set_tcp_keepalive(k)?;
                }
                s.set_nonblocking(true)?;
                return Ok(Plain::Tcp(mio::net::TcpStream::from_std(s)));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address for this host")
    }))
}

fn prepare(client: Client, mut driver: Driver) -> Result<Conn, tokio_postgres::Error> {
    let st = driver.block_on(async {
        client.batch_execute("SET synchronous_commit = off").await?;
        // Large values (raw mail, composed mail) are compressed with LZ4 where the server was
        // built with it (PostgreSQL 14 and later, Debian's among them): several times faster
        // than the default pglz, inside every commit, for a few per cent more bytes. A server
        // without it refuses the setting and keeps pglz.
        if let Err(e) = client
            .batch_execute("SET default_toast_compression = 'lz4'")
            .await
        {
            tracing::debug!(error = %error_text(&e), "PostgreSQL without LZ4: pglz compresses");
        }
        let get = client
            .prepare("SELECT value FROM deskgate_kv WHERE key = $1")
            .await?;
        let scan_from = client
            .prepare(
                "SELECT key, value FROM deskgate_kv WHERE key >= $1 ORDER BY key LIMIT $2::bigint",
            )
            .await?;
        let scan_range = client
            .prepare(
                "SELECT key, value FROM deskgate_kv WHERE key >= $1 AND key < $2 \
                 ORDER BY key LIMIT $3::bigint",
            )
            .await?;
        // Deletes and upserts of disjoint keys (the batch is collapsed to its last write per
        // key first): one statement, so one transaction and one round trip.
        let apply = client
            .prepare(
                "WITH deleted AS (DELETE FROM deskgate_kv WHERE key = ANY($1::bytea[])) \
                 INSERT INTO deskgate_kv (key, value) \
                 SELECT * FROM unnest($2::bytea[], $3::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?;
        // The same, only if every fence (lease, holder, epoch) still holds. The lease rows are
        // locked FOR SHARE, so a takeover (an UPDATE of the row) waits for this commit, and the
        // new holder reads what it committed. Answers whether the fences held (and so whether
        // anything was written).
        let apply_fenced = client
            .prepare(
                "WITH fence AS (SELECT l.name FROM deskgate_lease l \
                 JOIN unnest($4::text[], $5::text[], $6::bigint[]) AS f(name, holder, epoch) \
                 ON l.name = f.name AND l.holder = f.holder AND l.epoch = f.epoch \
                 FOR SHARE OF l), \
                 held AS (SELECT count(*) = cardinality($4::text[]) AS ok FROM fence), \
                 deleted AS (DELETE FROM deskgate_kv \
                 WHERE (SELECT ok FROM held) AND key = ANY($1::bytea[])), \
                 inserted AS (INSERT INTO deskgate_kv (key, value) \
                 SELECT k, v FROM unnest($2::bytea[], $3::bytea[]) AS u(k, v) \
                 WHERE (SELECT ok FROM held) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value) \
                 SELECT ok FROM held",
            )
            .await?;
        // Taken when free, expired, or already ours (a renewal); the epoch grows when the
        // lease changes hands, and a new holder starts unasked. Time is the server's only:
        // daemons' clocks may disagree.
        let take_lease = client
            .prepare(
                "INSERT INTO deskgate_lease AS l (name, holder, epoch, expires_at) \
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3::float8)) \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
                 epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END, \
                 wanted = l.wanted AND l.holder = EXCLUDED.holder, \
                 expires_at = EXCLUDED.expires_at \
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at < now() \
                 RETURNING epoch",
            )
            .await?;
        // Answers whether another process asked for the lease meanwhile (and forgets it).
        let release_lease = client
            .prepare(
                "WITH old AS (SELECT wanted FROM deskgate_lease \
                 WHERE name = $1 AND holder = $2 FOR UPDATE) \
                 UPDATE deskgate_lease l SET expires_at = '-infinity', wanted = false FROM old \
                 WHERE l.name = $1 AND l.holder = $2 RETURNING old.wanted",
            )
            .await?;
        let want_lease = client
            .prepare(
                "UPDATE deskgate_lease SET wanted = true \
                 WHERE name = $1 AND holder <> $2 AND NOT wanted",
            )
            .await?;
        let claim = client
            .prepare(
                "INSERT INTO deskgate_claim AS c (id, holder, until) \
                 SELECT id, $2, now() + make_interval(secs => $3::float8) \
                 FROM unnest($1::bigint[]) AS id ORDER BY id \
                 ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                 WHERE c.holder = EXCLUDED.holder OR c.until < now() \
                 OR ($4 AND EXISTS (SELECT 1 FROM deskgate_lease l \
                 WHERE l.name = 'life:' || c.holder AND l.expires_at < now())) \
                 RETURNING id",
            )
            .await?;
        let release_claims = client
            .prepare("DELETE FROM deskgate_claim WHERE holder = $2 AND id = ANY($1::bigint[])")
            .await?;
        let forget_ended_lives = client
            .prepare(
                "DELETE FROM deskgate_lease l WHERE l.name LIKE 'life:%' AND l.expires_at < now() \
                 AND NOT EXISTS (SELECT 1 FROM deskgate_claim c \
                 WHERE 'life:' || c.holder = l.name AND c.until >= now())",
            )
            .await?;
        // A counter is 8 bytes big-endian, as the store writes it in a transaction. Answers
        // the last value reserved.
        let next_seq = client
            .prepare(
                "INSERT INTO deskgate_kv AS kv (key, value) VALUES ($1, int8send($2::bigint)) \
                 ON CONFLICT (key) DO UPDATE SET value = \
                 int8send(('x' || encode(kv.value, 'hex'))::bit(64)::bigint + $2::bigint) \
                 RETURNING value",
            )
            .await?;
        let get_many = client
            .prepare("SELECT key, value FROM deskgate_kv WHERE key = ANY($1::bytea[])")
            .await?;
        Ok::<_, tokio_postgres::Error>(Statements {
            get,
            scan_from,
            scan_range,
            apply,
            apply_fenced,
            take_lease,
            release_lease,
            want_lease,
            claim,
            release_claims,
            forget_ended_lives,
            next_seq,
            get_many,
        })
    })?;
    Ok(Conn {
        client,
        driver: std::cell::RefCell::new(driver),
        st,
    })
}

/// Brings the engine's tables to the newest version, under an advisory lock, in one transaction.
fn migrate(client: &Client, driver: &mut Driver, target: &str) -> Result<(), StoreError> {
    let open_error = |e: tokio_postgres::Error| StoreError::Open {
        path: target.to_string(),
        message: error_text(&e),
    };
    driver
        .block_on(async {
            client.batch_execute("BEGIN").await?;
            client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS deskgate_schema (version integer NOT NULL)",
                )
                .await?;
            let found: Option<i32> = match client
                .query_opt("SELECT max(version) FROM deskgate_schema", &[])
                .await?
            {
                Some(row) => row.try_get(0)?,
                None => None,
            };
            Ok::<_, tokio_postgres::Error>(found.unwrap_or(0))
        })
        .map_err(open_error)
        .and_then(|found| {
            let known = MIGRATIONS.len();
            let found = usize::try_from(found).unwrap_or(usize::MAX);
            if found > known {
                let _ = driver.block_on(client.batch_execute("ROLLBACK"));
                return Err(StoreError::Schema {
                    path: target.to_string(),
                    found: format!("{found} (PostgreSQL tables)"),
                    expected: u32::try_from(known).unwrap_or(u32::MAX),
                });
            }
            driver
                .block_on(async {
                    for (step, sql) in MIGRATIONS.iter().enumerate().skip(found) {
                        client.batch_execute(sql).await?;
                        let version = i32::try_from(step + 1).unwrap_or(i32::MAX);
                        client.execute("DELETE FROM deskgate_schema", &[]).await?;
                        client
                            .execute("INSERT INTO deskgate_schema VALUES ($1)", &[&version])
                            .await?;
                        tracing::info!(version, "PostgreSQL tables migrated");
                    }
                    client.batch_execute("COMMIT").await
                })
                .map_err(open_error)
        })
}

/// The connection itself failed (as opposed to one statement): connect again next time.
fn lost_connection(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        // Class 08: connection exception; 57P01..57P03: the server shuts down or restarts.
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
        // No SQL state: an I/O error, a timeout or a closed connection.
        None => true,
    }
}

/// A PostgreSQL failure as the store reports it: a lost connection, a server going down, a
/// serialization failure or a deadlock may pass; a wrong query or a full disk needs a person.
fn engine_error(e: &tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
        }
        None => true,
    };
    StoreError::Engine {
        message: format!("PostgreSQL: {}", error_text(e)),
        transient,
    }
}

/// The error with its causes (tokio-postgres puts the server's message in the source).
fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// An epoch or outbox id as PostgreSQL's bigint (ours never pass `i64::MAX`).
fn as_epoch(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The smallest key above every key that starts with `prefix`; `None` when there is none (an
/// empty prefix, or one of only 0xff bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn entries(rows: Vec<tokio_postgres::Row>) -> Result<Entries, tokio_postgres::Error> {
    rows.into_iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Commits with `synchronous_commit` on: its wait for the WAL covers every commit before it.
const FLUSH: &str = "BEGIN; SET LOCAL synchronous_commit = on; \
                     UPDATE deskgate_flush SET n = n + 1 WHERE id = 1; COMMIT;";

/// A batch as the `apply` statements take it: the last write of each key, and its fences.
struct Writes {
    deleted: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
    names: Vec<String>,
    holders: Vec<String>,
    epochs: Vec<i64>,
}

impl Writes {
    /// `None` for a batch that writes nothing.
    fn of(batch: Batch) -> Option<Writes> {
        // The last write of each key wins, as when a batch's writes are applied in order.
        let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for (k, v) in batch.ops {
            last.insert(k, v);
        }
        if last.is_empty() {
            return None;
        }
        let mut w = Writes {
            deleted: Vec::new(),
            keys: Vec::new(),
            values: Vec::new(),
            names: Vec::new(),
            holders: Vec::new(),
            epochs: Vec::new(),
        };
        for (k, v) in last {
            match v {
                Some(v) => {
                    w.keys.push(k);
                    w.values.push(v);
                }
                None => w.deleted.push(k),
            }
        }
        for f in batch.fences {
            w.names.push(f.lease);
            w.holders.push(f.holder);
            w.epochs.push(as_epoch(f.epoch));
        }
        Some(w)
    }

    /// Runs the batch's statement: whether its fences held (always, without fences).
    async fn run(&self, c: &Conn) -> Result<bool, tokio_postgres::Error> {
        if self.names.is_empty() {
            let (deleted, keys, values) = (&self.deleted, &self.keys, &self.values);
            return c
                .client
                .execute(&c.st.apply, &[deleted, keys, values])
                .await
                .map(|_| true);
        }
        c.client
            .query_one(
                &c.st.apply_fenced,
                &[
                    &self.deleted,
                    &self.keys,
                    &self.values,
                    &self.names,
                    &self.holders,
                    &self.epochs,
                ],
            )
            .await?
            .try_get(0)
    }

    /// A batch refused by its fences as the store reports it.
    fn checked(&self, held: bool) -> Result<(), StoreError> {
        if held {
            Ok(())
        } else {
            Err(StoreError::Fenced {
                leases: self.names.join(", "),
            })
        }
    }
}

impl Engine for PostgresEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_conn(|c| {
            let row = c.block_on(c.client.query_opt(&c.st.get, &[&key]))?;
            row.map(|r| r.try_get(0)).transpose()
        })
    }

    fn scan_prefix(&self, prefix: &[u8], limit: usize) -> Result<Entries, StoreError> {
        match prefix_end(prefix) {
            Some(end) => self.scan_range(prefix, &end, limit),
            None => self.with_conn(|c| {
                entries(
                    c.block_on(
                        c.client
                            .query(&c.st.scan_from, &[&prefix, &as_limit(limit)]),
                    )?,
                )
            }),
        }
    }

    /// The whole of deskgate's tables as the server keeps them: rows, TOAST (the raw mail,
    /// compressed) and indexes.
    fn stored_bytes(&self) -> Result<Option<u64>, StoreError> {
        let bytes: i64 = self.with_conn(|c| {
            c.block_on(c.client.query_one(
                "SELECT (sum(pg_total_relation_size(c.oid)))::bigint FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'r' AND c.relname LIKE 'deskgate\\_%' \
                 AND n.nspname = current_schema()",
                &[],
            ))?
            .try_get(0)
        })?;
        Ok(Some(u64::try_from(bytes).unwrap_or(0)))
    }

    fn scan_range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StoreError> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.with_conn(|c| {
            entries(
                c.block_on(
                    c.client
                        .query(&c.st.scan_range, &[&start, &end, &as_limit(limit)]),
                )?,
            )
        })
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let Some(writes) = Writes::of(batch) else {
            return Ok(());
        };
        let held = self.with_conn(|c| c.block_on(writes.run(c)))?;
        writes.checked(held)
    }

    /// The batch and the flush sent together: one round trip. The flush's transaction commits
    /// after the batch's on the same connection, so its wait for the WAL covers both.
    fn apply_durably(&self, batch: Batch) -> Result<(), StoreError> {
        let Some(writes) = Writes::of(batch) else {
            return self.flush();
        };
        let held = self.with_conn(|c| {
            c.block_on(async {
                futures::try_join!(writes.run(c), c.client.batch_execute(FLUSH)).map(|(h, ())| h)
            })
        })?;
        writes.checked(held)
    }

    fn shared(&self) -> bool {
        true
    }

    fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        let secs = ttl.as_secs_f64();
        let epoch: Option<i64> = self.with_conn(|c| {
            c.block_on(
                c.client
                    .query_opt(&c.st.take_lease, &[&name, &holder, &secs]),
            )?
            .map(|row| row.try_get(0))
            .transpose()
        })?;
        Ok(epoch.map(|e| u64::try_from(e).unwrap_or(0)))
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            c.block_on(c.client.query_opt(&c.st.release_lease, &[&name, &holder]))?
                .map(|row| row.try_get(0))
                .transpose()
                .map(|wanted| wanted.unwrap_or(false))
        })
    }

    fn want_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.block_on(c.client.execute(&c.st.want_lease, &[&name, &holder]))
                .map(drop)
        })
    }

    fn claim(
        &self,
        ids: &[u64],
        holder: &str,
        ttl: Duration,
        take_over_lives: bool,
    ) -> Result<Vec<u64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let asked: Vec<i64> = ids.iter().map(|&id| as_epoch(id)).collect();
        let secs = ttl.as_secs_f64();
        let rows = self.with_conn(|c| {
            c.block_on(
                c.client
                    .query(&c.st.claim, &[&asked, &holder, &secs, &take_over_lives]),
            )
        })?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0).map_err(|e| engine_error(&e))?;
            claimed.extend(u64::try_from(id).ok());
        }
        claimed.sort_unstable();
        Ok(claimed)
    }

    fn release_claims(&self, ids: &[u64], holder: &str) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ids.iter().map(|&id| as_epoch(id)).collect();
        self.with_conn(|c| {
            c.block_on(c.client.execute(&c.st.release_claims, &[&ids, &holder]))
                .map(drop)
        })
    }

    fn forget_ended_lives(&self) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.block_on(c.client.execute(&c.st.forget_ended_lives, &[]))
                .map(drop)
        })
    }

    fn next_seq(&self, key: &[u8], count: u64) -> Result<Option<u64>, StoreError> {
        let count = count.max(1);
        let step = as_epoch(count);
        let value: Vec<u8> = self.with_conn(|c| {
            c.block_on(c.client.query_one(&c.st.next_seq, &[&key, &step]))?
                .try_get(0)
        })?;
        let last = <[u8; 8]>::try_from(value.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                message: format!("a counter of {} bytes, not 8", value.len()),
            })?;
        Ok(Some((last + 1).saturating_sub(count)))
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found: BTreeMap<Vec<u8>, Vec<u8>> = self
            .with_conn(|c| entries(c.block_on(c.client.query(&c.st.get_many, &[&keys]))?))?
            .into_iter()
            .collect();
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.with_conn(|c| c.block_on(c.client.batch_execute(FLUSH)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_successor() {
        assert_eq!(prefix_end(b"t/"), Some(b"t0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn a_target_describes_itself_without_its_password() {
        let target = PostgresTarget {
            url: "postgres://desk:s3cret@db.example:6543/deskgate".into(),
            password: Some("other".into()),
            ..PostgresTarget::default()
        };
        assert_eq!(
            target.describe(),
            "postgres://desk@db.example:6543/deskgate"
        );
        assert!(!format!("{target:?}").contains("s3cret"));
    }

    /// `prefer` would mean TLS without checking whom we speak to: plain TCP, as `disable`.
    #[test]
    fn sslmode_prefer_means_plain_and_require_is_kept() {
        use tokio_postgres::config::SslMode;
        let mode = |url: &str| {
            PostgresTarget {
                url: url.into(),
                ..PostgresTarget::default()
            }
            .config()
            .map(|c| c.get_ssl_mode())
            .ok()
        };
        assert_eq!(
            mode("postgres://desk@db.example/deskgate"),
            Some(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://desk@db.example/deskgate?sslmode=require"),
            Some(SslMode::Require)
        );
    }
}
