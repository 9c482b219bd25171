//! The usual end-to-end setup: desk `nl` reading its mailbox on its own Dovecot, an smtp-sink,
//! and a `Gate` between them, with the mails a test puts into that mailbox.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::dovecot::Dovecot;
use super::gate::{DeskConfig, Gate, GateConfig, Pass};
use super::mail::TextMail;
use super::smtp_sink::SmtpSink;

/// The desk of a [`Rig`], and its IMAP user.
pub const RIG_DESK: &str = "nl";
/// The IMAP password of a [`Rig`]'s desk.
pub const RIG_PASSWORD: &str = "rig-desk-pw";

/// Desk `nl` ([`DeskConfig::nl`]) reading its mailbox on its own Dovecot over IMAP (polling
/// every second where IDLE is not used), an smtp-sink, and a [`Gate`] sending to it.
pub struct Rig {
    pub dovecot: Dovecot,
    pub sink: SmtpSink,
    pub gate: Gate,
    /// Mails made by [`Rig::mail`] so far.
    mails: AtomicUsize,
}

impl Rig {
    /// Starts both servers and a gate whose config `configure` completes.
    pub fn start(configure: impl FnOnce(GateConfig) -> GateConfig) -> Rig {
        Rig::start_desk(|desk| desk, configure)
    }

    /// [`Rig::start`] with desk `nl` changed by `desk` first (another address, language…).
    pub fn start_desk(
        desk: impl FnOnce(DeskConfig) -> DeskConfig,
        configure: impl FnOnce(GateConfig) -> GateConfig,
    ) -> Rig {
        let dovecot = Dovecot::start(&[(RIG_DESK, RIG_PASSWORD)]);
        let sink = SmtpSink::start();
        let desk = desk(DeskConfig::nl())
            .imap_on(&dovecot, RIG_DESK, RIG_PASSWORD)
            .poll_interval_secs(1);
        let config = configure(GateConfig::new().smtp_port(sink.port()).desk(desk));
        Rig {
            gate: config.start(),
            dovecot,
            sink,
            mails: AtomicUsize::new(0),
        }
    }

    /// The setup of the tests of accounts, SLA clocks and handovers: desk `nl` in Amsterdam time
    /// with the teams and staff of `teams` (TOML), an accounts file with `accounts` when given,
    /// and staff mail authenticated by our own mail server (`DKIM_OK`).
    pub fn staffed(teams: &str, accounts: Option<&str>) -> Rig {
        Rig::start(|c| {
            let c = c
                .general("timezone", "Europe/Amsterdam")
                .trusted_mx()
                .teams(teams);
            match accounts {
                Some(text) => c.accounts(text),
                None => c,
            }
        })
    }

    /// A mail from `from` to the desk, with a Message-ID of its own (`m<n>@test.example`).
    pub fn mail(&self, from: &str, subject: &str) -> TextMail {
        let n = self.mails.fetch_add(1, Ordering::SeqCst) + 1;
        TextMail::new(from, subject, &format!("m{n}@test.example"))
    }

    /// Appends `mail` to the desk's INBOX; returns its Message-ID.
    pub fn append_mail(&self, mail: &TextMail) -> String {
        self.append(&mail.bytes());
        mail.message_id().to_string()
    }

    /// Appends `raw` to the desk's INBOX.
    pub fn append(&self, raw: &[u8]) {
        self.dovecot.append(RIG_DESK, RIG_PASSWORD, "INBOX", raw);
    }

    /// `(uid, flags)` of every mail in the desk's INBOX.
    pub fn inbox_flags(&self) -> Vec<(u32, String)> {
        self.dovecot.flags(RIG_DESK, RIG_PASSWORD, "INBOX")
    }

    /// [`Gate::pass`] against the rig's sink.
    pub fn pass(&self) -> Pass {
        self.gate.pass(&self.sink)
    }

    /// [`Gate::pass_at`] against the rig's sink.
    pub fn pass_at(&self, now: &str) -> Pass {
        self.gate.pass_at(&self.sink, now)
    }
}
