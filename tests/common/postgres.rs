//! An isolated PostgreSQL per test: `initdb` into its own temp dir, the server on a free
//! loopback port with its Unix socket in that dir, trust authentication for the `deskgate` role,
//! databases made on demand with `psql`, stopped, killed and started again on the same data.
//!
//! PostgreSQL refuses to run as root; the harness runs as root in CI, so then `initdb` and the
//! server run as `nobody`, with the data directory handed to that user. The binaries come from
//! Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, else `pg_config
//! --bindir`, else `PATH`).
//!
//! The server does not run under libfaketime, even when the test does (CI runs the suite again
//! three years ahead with `LD_PRELOAD` set by its runner): deskgate never asks the database for
//! the time (no `now()` in its SQL, every time comes from its own clock), so the server's clock
//! is no part of what that pass checks, and a shifted clock in the postmaster's latch timeouts
//! and checkpoints only adds a way to fail that tells nothing about deskgate.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{
    euid, free_port, log_report, make_tempdir, mkdir, passwd_lookup, relaunch, run_ok,
    run_with_timeout, send_signal, sys, wait_port_closed, what_happened, Launch, ServerProcess,
};
use super::TIMEOUT;

/// The role every test connects as (the superuser `initdb` makes).
pub const PG_USER: &str = "deskgate";

/// A PostgreSQL server of its own on 127.0.0.1. Killed on drop.
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    run: PathBuf,
    log: PathBuf,
    /// `(uid, gid)` the server runs as: `nobody` when the tests run as root.
    owner: Option<(u32, u32)>,
    process: Option<ServerProcess>,
    /// Server settings given beside the harness's own (`-c name=value`, later ones win).
    settings: Vec<String>,
    // Dropped last: the directory must outlive the server.
    dir: TempDir,
}

impl Postgres {
    /// `initdb`, then start the server and wait until it accepts connections. Panics with the
    /// server's log on failure.
    pub fn start() -> Postgres {
        Postgres::start_with(&[])
    }

    /// [`Postgres::start`] with server settings of the caller's beside (and over) the test
    /// settings, e.g. a benchmark's `shared_buffers`.
    pub fn start_with(settings: &[(&str, &str)]) -> Postgres {
        let dir = make_tempdir("deskgate-postgres-");
        let root = dir.path().to_path_buf();
        let bin = bin_dir();
        let owner = (euid() == 0).then(|| {
            passwd_lookup("nobody").expect("PostgreSQL refuses root: a user 'nobody' is needed")
        });
        let data = root.join("data");
        let run = root.join("run");
        mkdir(&data, 0o700);
        mkdir(&run, 0o755);
        if let Some((uid, gid)) = owner {
            for d in [&data, &run] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", d.display()));
            }
        }
        let mut initdb = server_command(&bin.join("initdb"), owner, &root);
        initdb.arg("-D").arg(&data).args([
            "-U",
            PG_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run_ok(&mut initdb, "initdb");
        let mut pg = Postgres {
            port: free_port(),
            bin,
            data,
            run,
            log: root.join("postgres.log"),
            owner,
            process: None,
            settings: settings
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            dir,
        };
        let mut tries = 0;
        loop {
            match pg.launch() {
                Launch::Ready(process) => {
                    pg.process = Some(process);
                    return pg;
                }
                Launch::PortInUse if tries < 5 => {
                    tries += 1;
                    pg.port = free_port();
                }
                Launch::PortInUse => pg.fail("the ports stayed in use"),
                Launch::Failed(msg) => pg.fail(format!("cannot start PostgreSQL: {msg}")),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.run
    }

    /// The URL deskgate's `[store] url` takes for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (a plain identifier) and returns its URL.
    pub fn create_db(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name.len() < 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "Postgres::create_db: {name:?} is not a plain identifier"
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// Runs `sql` in database `db` with `psql` and returns its unaligned, tuples-only output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .arg("-p")
        .arg(self.port.to_string())
        .args(["-U", PG_USER, "-d", db, "-c", sql]);
        let out = run_with_timeout(&mut cmd, TIMEOUT);
        if !out.status.success() {
            self.fail(format!(
                "psql {sql:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| !p.has_exited())
    }

    /// A clean shutdown: SIGINT, PostgreSQL's "fast" one, which ends the sessions. (SIGTERM is
    /// its "smart" shutdown, which waits for every client to disconnect: a running daemon never
    /// does, and the harness's SIGKILL after the grace would leave the backends behind.)
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            send_signal(process.pid, sys::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !process.has_exited() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            process.terminate(Duration::from_secs(10));
        }
        wait_port_closed(self.port, TIMEOUT);
    }

    /// SIGKILL to the server and all its backends: a crash, recovered from the WAL at the next
    /// start. Each backend is a session of its own (PostgreSQL calls `setsid` in every child),
    /// so the server's process group does not hold them: they are found by their parent and
    /// killed first, or an idle one could still answer its client for a moment.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            for child in children_of(process.pid) {
                send_signal(child, sys::SIGKILL);
            }
            process.terminate(Duration::ZERO);
        }
        wait_port_closed(self.port, TIMEOUT);
    }

    /// Starts the server again on the same data and port.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Starts a stopped or killed server again on the same data and port.
    pub fn start_again(&mut self) {
        match relaunch(|| self.launch()) {
            Ok(process) => self.process = Some(process),
            Err(msg) => self.fail(format!("cannot start PostgreSQL again: {msg}")),
        }
    }

    /// Turns TLS on with `tls`'s server certificate (signed by its test CA, naming 127.0.0.1)
    /// and restarts the server; plain connections are still accepted.
    pub fn enable_tls(&mut self, tls: &super::Tls) {
        let cert = self.data.join("server.crt");
        let key = self.data.join("server.key");
        fs::copy(&tls.server_cert, &cert).expect("copy the server certificate");
        fs::copy(&tls.server_key, &key).expect("copy the server key");
        // The server refuses a key that others can read.
        fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod the key");
        if let Some((uid, gid)) = self.owner {
            for f in [&cert, &key] {
                std::os::unix::fs::chown(f, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", f.display()));
            }
        }
        let conf = self.data.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        fs::write(&conf, text).expect("write postgresql.conf");
        self.restart();
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        panic!("{msg}{}", log_report(&[&self.log]))
    }

    fn launch(&self) -> Launch {
        let start = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = server_command(&self.bin.join("postgres"), self.owner, self.dir.path());
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.run)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Test data is thrown away: no fsync, and few connections are needed.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=50", "-c", "shared_buffers=16MB"]);
        for setting in &self.settings {
            cmd.args(["-c", setting]);
        }
        let mut process = ServerProcess::spawn("postgres", cmd, &self.log);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if process.has_exited() {
                let status = process.terminate(Duration::ZERO);
                let text = fs::read(&self.log)
                    .map(|b| {
                        String::from_utf8_lossy(&b[(start as usize).min(b.len())..]).into_owned()
                    })
                    .unwrap_or_default();
                if text.contains("Address already in use") {
                    return Launch::PortInUse;
                }
                return Launch::Failed(what_happened(status));
            }
            if self.accepts_connections() {
                return Launch::Ready(process);
            }
            if Instant::now() >= deadline {
                process.terminate(Duration::ZERO);
                return Launch::Failed(format!("not accepting connections within {TIMEOUT:?}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_isready`: the server is up and out of recovery.
    fn accepts_connections(&self) -> bool {
        let mut cmd = Command::new(self.bin.join("pg_isready"));
        cmd.args(["-q", "-h", "127.0.0.1", "-U", PG_USER, "-d", "postgres"])
            .arg("-p")
            .arg(self.port.to_string());
        run_with_timeout(&mut cmd, TIMEOUT).status.success()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::ZERO);
        }
    }
}

/// The processes whose parent is `pid` (from /proc).
fn children_of(pid: i32) -> Vec<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let child: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold ") ", so split at the last one.
            let (_, rest) = stat.rsplit_once(") ")?;
            let ppid: i32 = rest.split(' ').nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// A PostgreSQL server program, as `owner` when given, without libfaketime (see the module
/// comment), in a directory it may enter.
fn server_command(program: &Path, owner: Option<(u32, u32)>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd)
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .env("LC_ALL", "C");
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid).env("HOME", cwd);
    }
    cmd
}

/// Where Debian's PostgreSQL server binaries are: the newest `/usr/lib/postgresql/*/bin`, else
/// what `pg_config --bindir` says, else the directory of `initdb` on `PATH`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    panic!("PostgreSQL's initdb not found (install Debian's 'postgresql' package; see .ci/run)")
}
