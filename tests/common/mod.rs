//! Integration-test harness: owns the world around a `deskgate` under test. It starts REAL mail
//! servers on 127.0.0.1 (an isolated Dovecot per test with IMAP and IMAPS, Postfix's `smtp-sink`
//! to capture what is sent), feeds and reads them with tiny hand-written IMAP and SMTP clients,
//! writes the configuration an administrator would write, and runs the `deskgate` binary on it:
//! one command, one `run --once` pass, or the daemon with its log in a file.
//!
//! It drives deskgate only through its binary (`CARGO_BIN_EXE_deskgate`): arguments, exit
//! status, stdout (JSON where the CLI has some) and the log. It never uses the `deskgate`
//! library, so it keeps working while the library's insides change, and a test built on it
//! checks what an administrator or a customer would see. It needs only `std`, `tempfile`,
//! `serde_json` (to read the CLI's JSON) and `toml` (to write the config); no tokio.
//!
//! Every server instance lives in its own temporary directory with its own ports, sockets,
//! state and logs, so tests can run in parallel threads. Every wait is bounded (see [`TIMEOUT`]);
//! failures panic with the tail of the logs that explain them.
//!
//! The pieces, in the order a newcomer should read them:
//! - `process`: ports, processes, files and the bounded waits everything else uses;
//! - `tls`: a throw-away CA and server certificate;
//! - `dovecot` and `imap_client`: the IMAP server and the client that feeds and inspects it;
//! - `oauth_server`: an OAuth2 token and introspection endpoint, for Dovecot's `oauth2` passdb;
//! - `smtp_sink` and `smtp_client`: the capturing SMTP server and a client to send to it;
//! - `postgres`: a PostgreSQL server of its own, for the store on PostgreSQL;
//! - `mail`: the customer mails tests put into a mailbox;
//! - `gate`: the config builder and the `deskgate` binary run on it, `daemon`: `deskgate run`
//!   with its log, and `rig`: the usual end-to-end setup (desk, Dovecot, smtp-sink);
//! - `dns`: a real DNS server (dnsmasq) serving the TXT records a test gives it, such as
//!   DKIM keys;
//! - `corpus`: where the shared corpus of real-world mail is, for the tests that read it.
//!
//! Requirements (see `.ci/run`): Linux, `dovecot` 2.3.x (`dovecot-imapd`), Postfix's
//! `smtp-sink`, the `openssl` CLI, `dnsmasq` for the DKIM tests and Debian's `postgresql`.
//! Running as root works.
//!
//! Not part of the harness, though they live beside it: `smtp_tls_server.rs` (a TLS SMTP server
//! on tokio), and `decoded.rs` and `notice.rs`, which read captured mail with deskgate's own
//! parsers. Tests that want them include them by `#[path]`.

// Every integration test binary includes this module with `mod common;` but
// each one uses only a subset of it, so unused items are expected here.
// (So a `mod common;` declaration must NOT add its own `#[allow(dead_code)]`:
// clippy rejects the duplicate.)
#![allow(dead_code)]
// The re-exports below are the harness's API; each test binary uses some of them.
#![allow(unused_imports)]

use std::time::Duration;

/// Upper bound for every wait in this harness (server start-up, greetings,
/// IMAP/SMTP replies, subprocesses).
pub const TIMEOUT: Duration = Duration::from_secs(20);

mod process;
mod tls;
mod dovecot;
mod oauth_server;
mod imap_client;
mod smtp_sink;
mod smtp_client;
mod postgres;
mod mail;
mod gate;
mod daemon;
mod rig;
mod dns;
pub mod corpus;

pub use daemon::Daemon;
pub use dns::Dns;
pub use dovecot::{dovecot_version, Dovecot};
pub use gate::{DeskConfig, Gate, GateConfig, Pass, DKIM_OK};
pub use imap_client::ImapClient;
pub use mail::TextMail;
pub use oauth_server::{OAuthClient, OAuthServer};
pub use postgres::{Postgres, PG_USER};
pub use process::{
    free_port, poll_until, port_open, run_with_timeout, tail, wait_port, wait_port_closed,
    wait_until,
};
pub use rig::{Rig, RIG_DESK, RIG_PASSWORD};
pub use smtp_client::smtp_send;
pub use smtp_sink::{Captured, SmtpSink};
pub use tls::{make_tls, Tls};
