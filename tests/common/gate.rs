//! deskgate as the tests run it. [`GateConfig`] writes the TOML an administrator would (desks
//! reading IMAP or a Maildir, teams, staff, accounts, plans, SMTP, the store and any other
//! section); [`Gate`] runs the `deskgate` binary on it in a temp dir: one command, one
//! `run --once` pass (a [`Pass`]: its report and the mails it sent), or the daemon
//! (`Daemon`, its log in a file). `Rig` is the usual end-to-end setup around one: desk `nl` on
//! its own Dovecot, an smtp-sink, and the Gate between them.
//!
//! A test says only what is special about it:
//!
//! ```ignore
//! let rig = Rig::start(|c| c.trusted_mx().teams(THREE_TIERS).accounts(ACME));
//! rig.append(&rig.mail("Jane <jane@acme.example>", "Link down").bytes());
//! let pass = rig.pass_at("2026-11-27T23:50:00+01:00");
//! assert_eq!(rig.gate.tickets().len(), 1);
//! ```

use std::fs;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::daemon::Daemon;
use super::dovecot::Dovecot;
use super::process::{run_with_timeout, tail};
use super::smtp_sink::{Captured, SmtpSink};
use super::TIMEOUT;

/// Upper bound for one `deskgate` command (a `run --once` pass included) on a busy machine.
const CLI_LIMIT: Duration = Duration::from_secs(120);
/// Lines of the daemon's log shown in panic messages.
const LOG_TAIL: usize = 40;
/// The daemon's log filter: info, and the sources at debug (each acknowledged UID, each IDLE).
const DAEMON_LOG: &str = "info,deskgate::source=debug";

/// What our own mail server writes on mail from an authenticated engineer; trusted with
/// [`GateConfig::trusted_mx`].
pub const DKIM_OK: &str = "Authentication-Results: mx.provider.example; dkim=pass header.d=provider.example header.s=sel; spf=pass smtp.mailfrom=provider.example\r\n";

// ---------------------------------------------------------------------------
// The config
// ---------------------------------------------------------------------------

/// A deskgate configuration, written by [`GateConfig::write_to`] (or started as a [`Gate`]).
///
/// Defaults: the store in `store/` of the gate's dir, the built-in templates (`templates`, a
/// folder of overrides that the gate's dir does not have), Message-IDs at
/// `desk.example.net`, and mail "sent" into files (`file://…/outbox`) until [`smtp_port`] or
/// [`smtp_url`] says otherwise. Paths given relative are inside the gate's dir.
///
/// [`smtp_port`]: GateConfig::smtp_port
/// [`smtp_url`]: GateConfig::smtp_url
#[derive(Debug, Clone)]
pub struct GateConfig {
    store: PathBuf,
    /// `[store] url`: a PostgreSQL database instead of the sled store at `store` (whose path
    /// then only names the admin socket, `<store>.sock`).
    store_url: Option<String>,
    templates: PathBuf,
    /// `[smtp]`, `[general]` and every other plain section, in the order first set.
    sections: Vec<(String, Vec<(String, toml::Value)>)>,
    /// `[[team]]`/`[[staff]]` tables as TOML text.
    teams: String,
    /// `[[calendar]]`/`[[plan]]` tables as TOML text.
    plans: String,
    accounts: Option<String>,
    extra: String,
    desks: Vec<DeskConfig>,
}

impl Default for GateConfig {
    fn default() -> GateConfig {
        GateConfig::new()
    }
}

impl GateConfig {
    pub fn new() -> GateConfig {
        GateConfig {
            store: PathBuf::from("store"),
            // Relative and absent from the gate's dir: no overrides, the templates built into
            // the binary, as a deployment that changes no wording runs.
            templates: PathBuf::from("templates"),
            store_url: None,
            sections: Vec::new(),
            teams: String::new(),
            plans: String::new(),
            accounts: None,
            extra: String::new(),
            desks: Vec::new(),
        }
        .general("message_id_domain", "desk.example.net")
    }

    /// Sets `key` of `[section]` (replacing an earlier value).
    pub fn set(mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> GateConfig {
        let value = value.into();
        let keys = match self.sections.iter_mut().find(|(name, _)| name == section) {
            Some((_, keys)) => keys,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                &mut self.sections.last_mut().expect("just pushed").1
            }
        };
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => keys.push((key.to_string(), value)),
        }
        self
    }

    /// Sets `key` of `[general]`.
    pub fn general(self, key: &str, value: impl Into<toml::Value>) -> GateConfig {
        self.set("general", key, value)
    }

    pub fn smtp_url(self, url: &str) -> GateConfig {
        self.set("smtp", "url", url)
    }

    /// Plain SMTP to 127.0.0.1:`port` (an smtp-sink).
    pub fn smtp_port(self, port: u16) -> GateConfig {
        self.smtp_url(&format!("smtp://127.0.0.1:{port}"))
    }

    /// Trusts the provider's own mail server's `Authentication-Results` ([`DKIM_OK`]), so that
    /// mail from staff counts as authenticated.
    pub fn trusted_mx(self) -> GateConfig {
        self.set("auth", "trusted_authserv_ids", vec!["mx.provider.example"])
    }

    /// The store's path (relative: inside the gate's dir).
    pub fn store(mut self, path: impl Into<PathBuf>) -> GateConfig {
        self.store = path.into();
        self
    }

    /// The store in a PostgreSQL database (`postgres://…`, e.g. [`Postgres::create_db`]).
    ///
    /// [`Postgres::create_db`]: super::Postgres::create_db
    pub fn store_url(mut self, url: &str) -> GateConfig {
        self.store_url = Some(url.to_string());
        self
    }

    /// A folder of template overrides (relative: resolved by deskgate against the config's
    /// folder, the gate's dir).
    pub fn templates(mut self, path: impl Into<PathBuf>) -> GateConfig {
        self.templates = path.into();
        self
    }

    /// One `[[team]]`.
    pub fn team(
        mut self,
        name: &str,
        tier: u32,
        address: &str,
        hours: Option<(&str, &str)>,
    ) -> GateConfig {
        self.teams.push_str(&format!(
            "[[team]]\nname = {}\ntier = {tier}\naddress = {}\n",
            quoted(name),
            quoted(address)
        ));
        if let Some((timezone, hours)) = hours {
            self.teams.push_str(&format!(
                "timezone = {}\nhours = {}\n",
                quoted(timezone),
                quoted(hours)
            ));
        }
        self
    }

    /// One `[[staff]]` member of `team`.
    pub fn staff(mut self, login: &str, address: &str, name: &str, team: &str) -> GateConfig {
        self.teams.push_str(&format!(
            "[[staff]]\nlogin = {}\naddress = {}\nname = {}\nteam = {}\n",
            quoted(login),
            quoted(address),
            quoted(name),
            quoted(team)
        ));
        self
    }

    /// Teams and staff as TOML text (`[[team]]` and `[[staff]]` tables, e.g. a fixture file).
    pub fn teams(mut self, toml: &str) -> GateConfig {
        self.teams.push_str(toml);
        self.teams.push('\n');
        self
    }

    /// Calendars and plans as TOML text (`[[calendar]]` and `[[plan]]` tables).
    pub fn plans(mut self, toml: &str) -> GateConfig {
        self.plans.push_str(toml);
        self.plans.push('\n');
        self
    }

    /// An accounts file with `text` (`accounts.toml` in the gate's dir, named by
    /// `general.accounts`).
    pub fn accounts(mut self, text: &str) -> GateConfig {
        self.accounts = Some(text.to_string());
        self
    }

    /// Any other TOML, appended as it is: it must start with a table header.
    pub fn extra(mut self, toml: &str) -> GateConfig {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    pub fn desk(mut self, desk: DeskConfig) -> GateConfig {
        self.desks.push(desk);
        self
    }

    /// The config's text, with the paths inside `dir`.
    pub fn toml(&self, dir: &Path) -> String {
        let mut sections = self.sections.clone();
        if !sections
            .iter()
            .any(|(name, keys)| name == "smtp" && keys.iter().any(|(key, _)| key == "url"))
        {
            let url = format!("file://{}", dir.join("outbox").display());
            sections.insert(0, ("smtp".into(), vec![("url".into(), url.into())]));
        }
        let mut general = vec![(
            "templates".to_string(),
            toml::Value::from(path_text(&self.templates)),
        )];
        if self.accounts.is_some() {
            let accounts = dir.join(ACCOUNTS_FILE);
            general.push(("accounts".into(), path_text(&accounts).into()));
        }
        match sections.iter_mut().find(|(name, _)| name == "general") {
            Some((_, keys)) => {
                general.append(keys);
                *keys = general;
            }
            None => sections.push(("general".into(), general)),
        }

        // Keys set on `[store]` join the table written here (a second `[store]` is an error).
        let store_keys = match sections.iter().position(|(name, _)| name == "store") {
            Some(i) => sections.remove(i).1,
            None => Vec::new(),
        };
        let store = dir.join(&self.store);
        let mut out = match &self.store_url {
            None => format!(
                "# Written by tests/common/gate.rs.\n[store]\npath = {}\n",
                quoted(&path_text(&store))
            ),
            Some(url) => {
                let mut socket = store.into_os_string();
                socket.push(".sock");
                format!(
                    "# Written by tests/common/gate.rs.\n[store]\nurl = {}\nadmin_socket = {}\n",
                    quoted(url),
                    quoted(&path_text(Path::new(&socket)))
                )
            }
        };
        for (key, value) in &store_keys {
            out.push_str(&format!("{key} = {value}\n"));
        }
        for (name, keys) in &sections {
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in keys {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        for text in [&self.teams, &self.plans, &self.extra] {
            out.push_str(text);
        }
        for desk in &self.desks {
            out.push_str(&desk.toml(dir));
        }
        out
    }

    /// Writes `deskgate.toml`, the accounts file and each Maildir desk's folders into `dir`;
    /// returns the config's path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        if let Some(text) = &self.accounts {
            write(&dir.join(ACCOUNTS_FILE), text);
        }
        for desk in &self.desks {
            if let DeskSource::Maildir(path) = &desk.source {
                for sub in ["new", "cur", "tmp"] {
                    let folder = dir.join(path).join(sub);
                    fs::create_dir_all(&folder)
                        .unwrap_or_else(|e| panic!("mkdir {}: {e}", folder.display()));
                }
            }
        }
        let path = dir.join(CONFIG_FILE);
        write(&path, self.toml(dir));
        path
    }

    /// A [`Gate`] running deskgate with this config in a fresh temp dir.
    pub fn start(self) -> Gate {
        Gate::start(self)
    }
}

const CONFIG_FILE: &str = "deskgate.toml";
const ACCOUNTS_FILE: &str = "accounts.toml";
const DAEMON_LOG_FILE: &str = "daemon.log";

/// One `[[desk]]`: its name, address, language and where its mail comes from.
#[derive(Debug, Clone)]
pub struct DeskConfig {
    name: String,
    address: String,
    display_name: Option<String>,
    language: String,
    source: DeskSource,
}

#[derive(Debug, Clone)]
enum DeskSource {
    /// A Maildir at this path (relative: inside the gate's dir).
    Maildir(PathBuf),
    /// `[desk.imap]`'s keys.
    Imap(Vec<(String, toml::Value)>),
}

impl DeskConfig {
    /// Desk `name` answering at `address` in English, reading the Maildir `inbox/` of the
    /// gate's dir.
    pub fn new(name: &str, address: &str) -> DeskConfig {
        DeskConfig {
            name: name.to_string(),
            address: address.to_string(),
            display_name: None,
            language: "en".to_string(),
            source: DeskSource::Maildir(PathBuf::from("inbox")),
        }
    }

    /// The Amsterdam desk of most tests: `nl`, servicedesk.nl@example.net, "Service Desk
    /// Amsterdam", in English.
    pub fn nl() -> DeskConfig {
        DeskConfig::new("nl", "servicedesk.nl@example.net").display_name("Service Desk Amsterdam")
    }

    pub fn address(mut self, address: &str) -> DeskConfig {
        self.address = address.to_string();
        self
    }

    pub fn display_name(mut self, name: &str) -> DeskConfig {
        self.display_name = Some(name.to_string());
        self
    }

    pub fn language(mut self, language: &str) -> DeskConfig {
        self.language = language.to_string();
        self
    }

    /// Reads the Maildir at `path` (relative: inside the gate's dir).
    pub fn maildir(mut self, path: impl Into<PathBuf>) -> DeskConfig {
        self.source = DeskSource::Maildir(path.into());
        self
    }

    /// Reads the mailbox of `user` at `url` (`imap://…`, `imaps://…`).
    pub fn imap(mut self, url: &str, user: &str, password: &str) -> DeskConfig {
        self.source = DeskSource::Imap(vec![
            ("url".into(), url.into()),
            ("user".into(), user.into()),
            ("password".into(), password.into()),
        ]);
        self
    }

    /// Reads the mailbox of `user` at `url`, logging in with OAuth2 (`auth = "oauth2"`) and the
    /// `[desk.imap.oauth2]` keys of `oauth2` (TOML, one key a line).
    pub fn imap_oauth2(mut self, url: &str, user: &str, oauth2: &str) -> DeskConfig {
        let table: toml::Table = oauth2
            .parse()
            .unwrap_or_else(|e| panic!("desk {}: oauth2 keys {oauth2:?}: {e}", self.name));
        self.source = DeskSource::Imap(vec![
            ("url".into(), url.into()),
            ("user".into(), user.into()),
            ("auth".into(), "oauth2".into()),
            ("oauth2".into(), toml::Value::Table(table)),
        ]);
        self
    }

    /// Reads the mailbox of `user` on `dovecot`'s plaintext port.
    pub fn imap_on(self, dovecot: &Dovecot, user: &str, password: &str) -> DeskConfig {
        let url = format!("imap://127.0.0.1:{}", dovecot.imap_port());
        self.imap(&url, user, password)
    }

    /// The IMAP password comes from `command` instead.
    pub fn password_command(self, command: &str) -> DeskConfig {
        self.imap_key("password", None)
            .imap_key("password_command", Some(command.into()))
    }

    pub fn poll_interval_secs(self, secs: u32) -> DeskConfig {
        self.imap_key("poll_interval_secs", Some(secs.into()))
    }

    /// Trusts the CA in `path` for IMAPS.
    pub fn ca_file(self, path: &Path) -> DeskConfig {
        self.imap_key("ca_file", Some(path_text(path).into()))
    }

    fn imap_key(mut self, key: &str, value: Option<toml::Value>) -> DeskConfig {
        let DeskSource::Imap(keys) = &mut self.source else {
            panic!(
                "desk {}: {key} is an IMAP setting; call imap() first",
                self.name
            );
        };
        keys.retain(|(k, _)| k != key);
        keys.extend(value.map(|v| (key.to_string(), v)));
        self
    }

    fn toml(&self, dir: &Path) -> String {
        let mut out = format!(
            "[[desk]]\nname = {}\naddress = {}\n",
            quoted(&self.name),
            quoted(&self.address)
        );
        if let Some(name) = &self.display_name {
            out.push_str(&format!("display_name = {}\n", quoted(name)));
        }
        out.push_str(&format!("language = {}\n", quoted(&self.language)));
        match &self.source {
            DeskSource::Maildir(path) => out.push_str(&format!(
                "[desk.maildir]\npath = {}\n",
                quoted(&path_text(&dir.join(path)))
            )),
            DeskSource::Imap(keys) => {
                out.push_str("[desk.imap]\n");
                for (key, value) in keys {
                    out.push_str(&format!("{key} = {value}\n"));
                }
            }
        }
        out
    }
}

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::from(s).to_string()
}

fn path_text(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_string()
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------

/// The `deskgate` binary with a config in a temp dir (config, store, accounts, Maildirs, the
/// daemon's log). Every command runs in that dir, bounded in time.
///
/// It keeps a manual clock: after a pass at `now` ([`Gate::run_once_at`]), ticket queries are
/// asked as of that instant, so SLA states are judged then and not at today's date.
pub struct Gate {
    config: Mutex<GateConfig>,
    config_path: PathBuf,
    /// The `--now` of the last pass.
    now: Mutex<Option<String>>,
    /// Mails of the sink already handed out by [`Gate::pass`].
    seen: AtomicUsize,
    /// Runs of [`Gate::spawn`] so far: each one's log starts with a line naming it.
    runs: AtomicU32,
    // Dropped last: everything above points into it.
    dir: TempDir,
}

/// One `run --once --json` pass: what it reported and the mails the sink received from it, in
/// the order deskgate queued them.
#[derive(Debug)]
pub struct Pass {
    pub report: Value,
    pub mails: Vec<Captured>,
}

impl Gate {
    /// Writes `config` into a fresh temp dir.
    pub fn start(config: GateConfig) -> Gate {
        let dir = tempfile::Builder::new()
            .prefix("deskgate-gate-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let config_path = config.write_to(dir.path());
        Gate {
            config: Mutex::new(config),
            config_path,
            now: Mutex::new(None),
            seen: AtomicUsize::new(0),
            runs: AtomicU32::new(0),
            dir,
        }
    }

    /// The gate's dir: the config, the store and everything else is in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `relative` inside the gate's dir.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Rewrites the config with `change` applied, as an administrator edits it (a running
    /// daemon reads it only when started).
    pub fn reconfigure(&self, change: impl FnOnce(GateConfig) -> GateConfig) {
        let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        *config = change(config.clone());
        config.write_to(self.dir.path());
    }

    /// Rewrites the accounts file (a running daemon reads it on SIGHUP).
    pub fn write_accounts(&self, text: &str) {
        write(&self.path(ACCOUNTS_FILE), text);
    }

    /// Drops `raw` into the `new/` folder of the first Maildir desk, as file `name`.
    pub fn deliver(&self, name: &str, raw: impl AsRef<[u8]>) {
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let maildir = config
            .desks
            .iter()
            .find_map(|d| match &d.source {
                DeskSource::Maildir(path) => Some(self.path(path)),
                DeskSource::Imap(_) => None,
            })
            .unwrap_or_else(|| panic!("deliver: no Maildir desk in {config:?}"));
        write(&maildir.join("new").join(name), raw);
    }

    /// `deskgate --config … <args>`, not started yet.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deskgate"));
        cmd.arg("--config")
            .arg(&self.config_path)
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `deskgate <args>` to completion (killed after two minutes), whatever its exit.
    pub fn output(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.cmd(args), CLI_LIMIT)
    }

    /// Runs `deskgate <args>`; its stdout, or why it failed (exit status and stderr).
    pub fn try_ok(&self, args: &[&str]) -> Result<String, String> {
        let out = self.output(args);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`deskgate {}` failed ({}):\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Runs `deskgate <args>`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.try_ok(args).unwrap_or_else(|e| self.fail(e))
    }

    /// Runs `deskgate <args>`; its stdout read as JSON, or why not.
    pub fn try_json(&self, args: &[&str]) -> Result<Value, String> {
        let out = self.try_ok(args)?;
        serde_json::from_str(&out).map_err(|e| {
            format!(
                "`deskgate {}` printed no JSON ({e}):\n{out}",
                args.join(" ")
            )
        })
    }

    /// Runs `deskgate <args>`, which must print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        self.try_json(args).unwrap_or_else(|e| self.fail(e))
    }

    /// `tickets list --json` (as of the last pass's `--now`).
    pub fn tickets(&self) -> Vec<Value> {
        let args = self.as_of(&["tickets", "list", "--json"]);
        self.list(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The Message-IDs of a ticket's incoming messages (`tickets show --json`), in order.
    pub fn inbound_ids(show: &Value) -> Vec<&str> {
        show["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|m| m["direction"] == "in")
            .filter_map(|m| m["message_id"].as_str())
            .collect()
    }

    /// `tickets show <reference> --json` (as of the last pass's `--now`).
    pub fn ticket(&self, reference: &str) -> Value {
        let args = self.as_of(&["tickets", "show", reference, "--json"]);
        self.json(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `outbox list --json`.
    pub fn outbox(&self) -> Vec<Value> {
        self.list(&["outbox", "list", "--json"])
    }

    /// The JSON array `deskgate <args>` prints.
    pub fn list(&self, args: &[&str]) -> Vec<Value> {
        match self.json(args) {
            Value::Array(items) => items,
            other => self.fail(format!(
                "`deskgate {}` printed no array: {other}",
                args.join(" ")
            )),
        }
    }

    /// One `run --once --json` on the real clock; its report. `run --once` returns only after
    /// its delivery pass, so what it sent has reached the SMTP server.
    pub fn run_once(&self) -> Value {
        self.json(&["run", "--once", "--json"])
    }

    /// One `run --once --json` as if it were `now`; its report. Later ticket queries are asked
    /// as of `now`.
    pub fn run_once_at(&self, now: &str) -> Value {
        let report = self.json(&["run", "--once", "--now", now, "--json"]);
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = Some(now.to_string());
        report
    }

    /// [`Gate::run_once`], whose every mail must have been accepted, and the mails `sink`
    /// received from it.
    pub fn pass(&self, sink: &SmtpSink) -> Pass {
        let report = self.run_once();
        self.mails_of(report, sink, "the pass")
    }

    /// [`Gate::run_once_at`], whose every mail must have been accepted, and the mails `sink`
    /// received from it.
    pub fn pass_at(&self, sink: &SmtpSink, now: &str) -> Pass {
        let report = self.run_once_at(now);
        self.mails_of(report, sink, &format!("the pass at {now}"))
    }

    /// Waits until `sink` holds every mail the pass of `report` sent, and hands those out.
    fn mails_of(&self, report: Value, sink: &SmtpSink, pass: &str) -> Pass {
        assert_eq!(
            (report["failed"].as_u64(), report["retrying"].as_u64()),
            (Some(0), Some(0)),
            "{pass}: every mail was accepted: {report}"
        );
        let sent = usize::try_from(report["sent"].as_u64().expect("the report's sent count"))
            .expect("a count fits in usize");
        let seen = self.seen.load(Ordering::SeqCst);
        let all = sink.wait_for(seen + sent, TIMEOUT);
        let mut mails = all[seen..].to_vec();
        if mails.len() > 1 {
            // The sink orders mails by file time, which ties for mails sent within one clock
            // tick: put them in the order deskgate queued (and so sent) them.
            let queued: Vec<String> = self
                .outbox()
                .iter()
                .filter_map(|e| e["message_id"].as_str().map(str::to_string))
                .collect();
            mails.sort_by_key(|m| queued.iter().position(|id| *id == m.message_id()));
        }
        assert_eq!(
            mails.len(),
            sent,
            "{pass}: the sink holds more mails than were sent: {:#?}",
            mails
                .iter()
                .map(|m| (m.rcpt_to.clone(), m.header("Subject")))
                .collect::<Vec<_>>()
        );
        self.seen.store(all.len(), Ordering::SeqCst);
        Pass { report, mails }
    }

    /// `args` with `--now` set to the instant of the last pass, when there was one.
    fn as_of(&self, args: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if let Some(now) = self.now.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            args.extend(["--now".to_string(), now]);
        }
        args
    }

    /// The admin socket a running daemon answers on: `<store.path>.sock`.
    pub fn socket(&self) -> PathBuf {
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let store = self.path(&config.store);
        let mut name = store.into_os_string();
        name.push(".sock");
        PathBuf::from(name)
    }

    /// Whether a daemon answers on the admin socket (a stale socket file refuses).
    pub fn daemon_answers(&self) -> bool {
        UnixStream::connect(self.socket()).is_ok()
    }

    /// Starts `deskgate <args>` (the daemon, or a pass to kill half-way) with its stderr appended
    /// to `daemon.log` after a line naming the run; does not wait for anything.
    pub fn spawn(&self, args: &[&str]) -> Daemon {
        self.spawn_with_env(args, &[])
    }

    /// [`Gate::spawn`] with these environment variables set (`NOTIFY_SOCKET`, as systemd sets
    /// it, or `DESKGATE_LOG_FORMAT`).
    pub fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let log_path = self.log_path();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
        writeln!(log, "===== test: run #{run}: deskgate {}", args.join(" ")).expect("log");
        let from = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = self
            .cmd(args)
            .env("DESKGATE_LOG", DAEMON_LOG)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start deskgate {args:?}: {e}"));
        let what = format!("run #{run}: deskgate {}", args.join(" "));
        Daemon::new(child, what, log_path, from, self.socket())
    }

    /// Starts `deskgate run` and waits until it answers on its admin socket.
    pub fn spawn_daemon(&self) -> Daemon {
        let daemon = self.spawn(&["run"]);
        daemon.wait_ready();
        daemon
    }

    /// The log every [`Gate::spawn`] run writes to.
    pub fn log_path(&self) -> PathBuf {
        self.path(DAEMON_LOG_FILE)
    }

    /// Everything the runs of [`Gate::spawn`] logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Panics with `msg`, the config's path and the tail of the daemon's log.
    pub fn fail(&self, msg: impl std::fmt::Display) -> ! {
        let log = self.log_path();
        let log = if log.exists() {
            format!(
                "\n----- {} (last {LOG_TAIL} lines) -----\n{}",
                log.display(),
                tail(&log, LOG_TAIL)
            )
        } else {
            String::new()
        };
        panic!("{msg}\n(config: {}){log}", self.config_path.display())
    }
}
