//! A real DNS server for the tests that need one: Debian's `dnsmasq` on a loopback port, serving
//! only the TXT records a test gives it (DKIM keys at `selector._domainkey.domain`) and refusing
//! to forward anything else (no upstream, no /etc/hosts), so a lookup of any other name fails as
//! a missing record does on the Internet.
//!
//! dnsmasq answers UDP and TCP on the same port; readiness is its TCP port accepting.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use super::process::{
    find_binary, free_port, log_report, make_tempdir, poll_until, port_open, ServerProcess,
};
use super::TIMEOUT;

/// A running dnsmasq with its TXT records; stopped when dropped.
pub struct Dns {
    port: u16,
    dir: TempDir,
    _process: ServerProcess,
}

/// One TXT string may hold at most 255 bytes (RFC 1035); longer text (an RSA-2048 DKIM key) is
/// served as several strings of one record, which resolvers join.
const TXT_STRING_MAX: usize = 255;

impl Dns {
    /// Starts dnsmasq answering `records` (`(name, text)`) on 127.0.0.1.
    pub fn start(records: &[(&str, &str)]) -> Dns {
        let dir = make_tempdir("deskgate-dns-");
        let log = dir.path().join("dnsmasq.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(find_binary("dnsmasq", &["/usr/sbin/dnsmasq"]));
            cmd.args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file=",
                "--log-queries",
                // Records live a minute (dnsmasq's default is 0), as keys in DNS do for longer.
                "--local-ttl=60",
                "--user=root",
            ])
            .arg(format!("--port={port}"));
            for (name, text) in records {
                cmd.arg(txt_record(name, text));
            }
            // Authoritative for the records' domains: any other name there is NXDOMAIN, as for
            // a key nobody published, rather than REFUSED for want of an upstream server.
            let zones: std::collections::BTreeSet<String> =
                records.iter().map(|(name, _)| zone(name)).collect();
            for zone in zones {
                cmd.arg(format!("--local=/{zone}/"));
            }
            let mut process = ServerProcess::spawn("dnsmasq", cmd, &log);
            let up = poll_until(TIMEOUT, || port_open(port) || process.has_exited());
            if up && !process.has_exited() {
                return Dns {
                    port,
                    dir,
                    _process: process,
                };
            }
            last = log_report(&[&log]);
            // Most likely the port was taken between free_port and dnsmasq's bind: try another.
            drop(process);
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("cannot start dnsmasq (is it installed? see .ci/run){last}");
    }

    /// The `address:port` to configure as deskgate's nameserver.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// dnsmasq's log (every query it answered), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The domain a record name belongs to: its last two labels (`provider.example` of
/// `sel._domainkey.provider.example`).
fn zone(name: &str) -> String {
    let labels: Vec<&str> = name.trim_end_matches('.').rsplitn(3, '.').collect();
    labels
        .iter()
        .take(2)
        .rev()
        .copied()
        .collect::<Vec<_>>()
        .join(".")
}

/// dnsmasq's `--txt-record=name,string,string…` for `text`, split into strings of at most 255
/// bytes (dnsmasq refuses longer ones). No quotes: given as an argument rather than in a config
/// file, dnsmasq would serve them as part of the text. DKIM text is ASCII without commas, so any
/// split is on a character and no string needs quoting.
fn txt_record(name: &str, text: &str) -> String {
    assert!(
        !text.contains(','),
        "a TXT text with a comma needs quoting: {text}"
    );
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(TXT_STRING_MAX)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    format!("--txt-record={name},{}", strings.join(","))
}
