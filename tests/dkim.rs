//! deskgate's own DKIM check of staff mail (`[auth] dkim = true`), for real: the test signs an
//! engineer's mail with keys it generates (openssl), publishes the public keys as TXT records on
//! a real DNS server it starts on a loopback port (dnsmasq), and lets deskgate — with no trusted
//! mail server in front of the mailbox — read the mail from the desk's Maildir and decide, with
//! what it sends captured by smtp-sink. (A Maildir rather than Dovecot: the check reads the raw
//! bytes whatever the source, and Dovecot's master does not survive the suite's second run under
//! faketime, where this test matters most.)
//!
//! A correctly signed mail from the engineer runs her command and relays her answer. Every way
//! such a mail can fail to prove its sender — no signature, no key in DNS, another key, a body
//! changed after signing, a signature of another domain, an `l=` signature with content appended
//! after the signed length, an expired signature replayed, a forwarder's ARC seal the desk does
//! not trust — ends as an unverified staff claim:
//! an internal note with the reason, the owner (here the team) told once, nothing relayed and
//! nothing on the ticket changed. Mail forwarded through a list the desk trusts
//! (`trusted_arc_sealers`) counts through the list's ARC seal, though the footer the list adds
//! breaks her own signature. Expiry (`x=`) is judged by deskgate's clock (`--now`), not by
//! the machine's: the replayed signature is still valid by the wall clock when deskgate sees it.

mod common;
#[path = "common/decoded.rs"]
mod decoded;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration as Span, Utc};
use common::{run_with_timeout, Captured, DeskConfig, Dns, Gate, GateConfig, SmtpSink, TextMail};
use decoded::{body, summary};
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
use serde_json::Value;
use tempfile::TempDir;

const ALICE: &str = "alice@provider.example";
const TEAM: &str = "css-emea@provider.example";
const JANE: &str = "jane@acme.example";
const SUBJECT: &str = "RE: [NL-000001] Cross-connect down";

/// A key pair made by openssl: the private key (PKCS#1 DER, what `genpkey -outform DER` writes for RSA) and the DKIM TXT record text.
struct Key {
    der: Vec<u8>,
    record: String,
}

impl Key {
    fn generate(dir: &Path, name: &str) -> Key {
        let path = dir.join(format!("{name}.der"));
        let out = run_with_timeout(
            Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .args(["-outform", "DER", "-out"])
                .arg(&path),
            common::TIMEOUT,
        );
        assert!(out.status.success(), "openssl genpkey: {out:?}");
        let public = run_with_timeout(
            Command::new("openssl")
                .args(["pkey", "-inform", "DER", "-pubout", "-in"])
                .arg(&path),
            common::TIMEOUT,
        );
        assert!(public.status.success(), "openssl pkey -pubout: {public:?}");
        // The PEM body is the base64 of the SubjectPublicKeyInfo, which is what p= holds.
        let p: String = String::from_utf8_lossy(&public.stdout)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        Key {
            der: std::fs::read(&path).expect("read the private key"),
            record: format!("v=DKIM1; k=rsa; p={p}"),
        }
    }

    fn signer(&self) -> RsaKey<Sha256> {
        let der = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(self.der.as_slice()));
        RsaKey::<Sha256>::from_key_der(der).expect("openssl's key loads")
    }
}

/// How a test signs a mail.
struct Signing<'a> {
    key: &'a Key,
    domain: &'a str,
    selector: &'a str,
    /// Seconds after signing at which the signature expires (`x=`), if it does.
    expires_after: Option<u64>,
    /// Whether the signature carries the body length (`l=`).
    body_length: bool,
}

impl<'a> Signing<'a> {
    fn new(key: &'a Key, domain: &'a str, selector: &'a str) -> Signing<'a> {
        Signing {
            key,
            domain,
            selector,
            expires_after: None,
            body_length: false,
        }
    }
}

/// `raw` with a `DKIM-Signature` header in front, and the signature's `t=`.
fn sign(raw: &[u8], how: &Signing) -> (Vec<u8>, DateTime<Utc>) {
    let mut signer = DkimSigner::from_key(how.key.signer())
        .domain(how.domain)
        .selector(how.selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To"])
        .body_length(how.body_length);
    if let Some(secs) = how.expires_after {
        signer = signer.expiration(secs);
    }
    let signature = signer.sign(raw).expect("the mail is signed");
    let signed_at = DateTime::from_timestamp(signature.t as i64, 0).expect("t= is a time");
    let mut out = signature.to_header().into_bytes();
    out.extend_from_slice(raw);
    (out, signed_at)
}

/// The desk, its mailbox, DNS with the keys, and the ticket a customer opened.
struct World {
    gate: Gate,
    sink: SmtpSink,
    dns: Dns,
    provider: Key,
    /// A key of the provider's domain never published (the "wrong key").
    stray: Key,
    attacker: Key,
    /// The key of `lists.example`, a forwarder whose ARC seal the desk trusts.
    lists: Key,
    /// The customer's first mail, which opened NL-000001.
    opening_id: String,
    /// The instant of the ticket's opening pass; later passes are minutes after it.
    start: DateTime<Utc>,
    /// A counter for Message-IDs and Maildir file names.
    mails: std::cell::Cell<u32>,
    _keys: TempDir,
}

impl World {
    fn start() -> World {
        let keys = tempfile::tempdir().expect("temp dir");
        let provider = Key::generate(keys.path(), "provider");
        let stray = Key::generate(keys.path(), "stray");
        let attacker = Key::generate(keys.path(), "attacker");
        let lists = Key::generate(keys.path(), "lists");
        let dns = Dns::start(&[
            ("sel._domainkey.provider.example", &provider.record),
            ("sel._domainkey.attacker.example", &attacker.record),
            ("sel._domainkey.lists.example", &lists.record),
        ]);
        let sink = SmtpSink::start();
        let gate = GateConfig::new()
            .smtp_port(sink.port())
            .desk(DeskConfig::nl().maildir("inbox"))
            .set("auth", "dkim", true)
            .set("auth", "dns_server", dns.addr())
            .set("auth", "trusted_arc_sealers", vec!["lists.example"])
            .team("css-emea", 1, TEAM, None)
            .staff("alice", ALICE, "Alice Martin", "css-emea")
            .start();
        // Passes run at whole minutes from the real time of signing, so a signature's `x=` is
        // compared to deskgate's clock on any date (and under faketime).
        let start = DateTime::from_timestamp(Utc::now().timestamp() / 60 * 60, 0).expect("now");
        let opening = TextMail::new(
            &format!("Jane <{JANE}>"),
            "Cross-connect down",
            "m1@test.example",
        );
        gate.deliver("0.eml", opening.bytes());
        let opening_id = opening.message_id().to_string();
        let pass = gate.pass_at(&sink, &start.to_rfc3339());
        assert!(
            pass.mails
                .iter()
                .any(|m| m.rcpt_to.contains(&JANE.to_string())),
            "the customer is acknowledged: {}",
            summary(&pass.mails)
        );
        World {
            gate,
            sink,
            dns,
            provider,
            stray,
            attacker,
            lists,
            opening_id,
            start,
            mails: std::cell::Cell::new(0),
            _keys: keys,
        }
    }

    /// Alice's answer on the ticket, as her client writes it (not signed yet).
    fn answer(&self, text: &str) -> Vec<u8> {
        let n = self.mails.get() + 1;
        self.mails.set(n);
        format!(
            "From: Alice Martin <{ALICE}>\r\nTo: servicedesk.nl@example.net\r\nSubject: {SUBJECT}\r\n\
             Message-ID: <alice-{n}@provider.example>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0100\r\n\
             In-Reply-To: <{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            self.opening_id,
            text.replace('\n', "\r\n")
        )
        .into_bytes()
    }

    fn ticket(&self) -> Value {
        self.gate.ticket("NL-000001")
    }

    /// Alice's signed answer as a forwarder (`sealer_domain`, signing with `sealer`) passes it
    /// on: it adds a footer, which breaks her signature, and seals the mail with an ARC set
    /// recording that her signature passed when the mail reached it.
    fn forwarded(&self, text: &str, sealer: &Key, sealer_domain: &str) -> Vec<u8> {
        let good = Signing::new(&self.provider, "provider.example", "sel");
        let (signed, _) = sign(&self.answer(text), &good);
        let arrived = AuthenticatedMessage::parse(&signed).expect("the signed mail parses");
        let signature = &arrived.dkim_headers.first().expect("one signature").header;
        // What the forwarder found on arrival (the test stands in for its own check).
        let results = AuthenticationResults::new(sealer_domain)
            .with_dkim_result(&DkimOutput::pass().with_signature(signature), ALICE);
        let mut changed = signed.clone();
        changed.extend_from_slice(b"-- \r\nSent through the staff list of provider.example\r\n");
        let message = AuthenticatedMessage::parse(&changed).expect("the forwarded mail parses");
        let set = ArcSealer::from_key(sealer.signer())
            .domain(sealer_domain)
            .selector("sel")
            .headers([
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "DKIM-Signature",
            ])
            .seal(&message, &results, &ArcOutput::default())
            .expect("the forwarder seals the mail");
        let mut out = set.to_header().into_bytes();
        out.extend_from_slice(&changed);
        out
    }

    /// Delivers `raw` and runs one pass `minutes` after the start; the mails that pass sent.
    fn deliver_at(&self, raw: &[u8], minutes: i64) -> Vec<Captured> {
        let n = self.mails.get() + 1;
        self.mails.set(n);
        self.gate.deliver(&format!("{n}.eml"), raw);
        let now = self.start + Span::minutes(minutes);
        self.gate.pass_at(&self.sink, &now.to_rfc3339()).mails
    }
}

fn to(m: &Captured, who: &str) -> bool {
    m.rcpt_to.iter().any(|r| r == who)
}

/// The ticket's fields a staff mail may change; an unverified one must leave all of them.
const GUARDED: [&str; 6] = ["status", "owner", "priority", "tier", "participants", "sla"];

/// Delivers a staff claim that must not count, and checks what a user would: nothing reached
/// the customer, nothing on the ticket moved, the mail is an internal note saying why
/// (`reason`), and the team was told once, with the reason. Returns what went wrong.
fn refused(w: &World, case: &str, raw: &[u8], minutes: i64, reason: &str) -> Vec<String> {
    let mut wrong = Vec::new();
    let before = w.ticket();
    let notes_before = notes(&before).len();
    let sent = w.deliver_at(raw, minutes);
    let after = w.ticket();
    if sent.iter().any(|m| to(m, JANE)) {
        wrong.push(format!(
            "{case}: relayed to the customer: {}",
            summary(&sent)
        ));
    }
    for field in GUARDED {
        if after[field] != before[field] {
            wrong.push(format!(
                "{case}: {field} changed from {} to {}",
                before[field], after[field]
            ));
        }
    }
    let last = after["messages"].as_array().and_then(|m| m.last());
    if last.map(|m| &m["kind"]) != Some(&Value::from("note")) {
        wrong.push(format!("{case}: not kept as an internal note: {last:?}"));
    }
    let new_notes = notes(&after).split_off(notes_before);
    let explained = new_notes.iter().any(|n| {
        n.contains(&format!("unverified mail from staff address {ALICE}")) && n.contains(reason)
    });
    if !explained {
        wrong.push(format!(
            "{case}: no note naming the reason {reason:?}: {new_notes:?}"
        ));
    }
    let told: Vec<&Captured> = sent
        .iter()
        .filter(|m| to(m, TEAM) && body(m).contains("Unverified mail from a staff address"))
        .collect();
    match told.as_slice() {
        [one] if body(one).contains(reason) => {}
        [one] => wrong.push(format!(
            "{case}: the team was told without the reason {reason:?}: {}",
            body(one)
        )),
        _ => wrong.push(format!(
            "{case}: the team was told {} times: {}",
            told.len(),
            summary(&sent)
        )),
    }
    wrong
}

fn notes(ticket: &Value) -> Vec<String> {
    ticket["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"] == "note")
        .filter_map(|e| e["text"].as_str().map(str::to_string))
        .collect()
}

/// The commands an attacker would like to run, and text they would like relayed.
const FORGED: &str = "#status closed\nResolved on our side, closing this ticket.";

#[test]
fn staff_mail_is_proven_by_its_own_dkim_signature_and_every_forgery_changes_nothing() {
    let w = World::start();
    let good = Signing::new(&w.provider, "provider.example", "sel");
    let mut wrong = Vec::new();

    // No signature at all (no trusted mail server either): a bare claim.
    wrong.extend(refused(
        &w,
        "unsigned",
        &w.answer(FORGED),
        1,
        "no DKIM signature",
    ));

    // Signed with a selector that has no key in DNS.
    let (raw, _) = sign(
        &w.answer(FORGED),
        &Signing::new(&w.provider, "provider.example", "gone"),
    );
    wrong.extend(refused(
        &w,
        "missing key",
        &raw,
        2,
        "no key published at gone._domainkey.provider.example",
    ));

    // Signed with a key of the provider's name that is not the one published.
    let (raw, _) = sign(
        &w.answer(FORGED),
        &Signing::new(&w.stray, "provider.example", "sel"),
    );
    wrong.extend(refused(
        &w,
        "wrong key",
        &raw,
        3,
        "signature does not verify with the published key",
    ));

    // Alice's genuine signature over a harmless text, the body then rewritten in transit.
    let (signed, _) = sign(&w.answer("Looking into it."), &good);
    let text = String::from_utf8_lossy(&signed).replace("Looking into it.", FORGED);
    wrong.extend(refused(
        &w,
        "body modified",
        text.as_bytes(),
        4,
        "body hash mismatch",
    ));

    // A valid signature, but of the attacker's own domain (its key is in DNS): not aligned.
    let (raw, _) = sign(
        &w.answer(FORGED),
        &Signing::new(&w.attacker, "attacker.example", "sel"),
    );
    wrong.extend(refused(
        &w,
        "misaligned d=",
        &raw,
        5,
        "DKIM signature of attacker.example is not aligned with the From domain provider.example",
    ));

    // l=: Alice signed only the length of her harmless text; commands appended after it verify
    // cryptographically but are not covered, so the mail proves nothing.
    let (signed, _) = sign(
        &w.answer("Looking into it."),
        &Signing {
            body_length: true,
            ..Signing::new(&w.provider, "provider.example", "sel")
        },
    );
    let mut extended = signed;
    extended.extend_from_slice(format!("{}\r\n", FORGED.replace('\n', "\r\n")).as_bytes());
    wrong.extend(refused(
        &w,
        "l= body extension",
        &extended,
        6,
        "body bytes (l=): what follows is unsigned",
    ));

    // A genuine signature that expires ten minutes after it was made, replayed half an hour
    // later by deskgate's clock. By the machine's clock it is still valid (the test takes far
    // less than ten minutes to get here), so only the injected clock can refuse it.
    let (raw, signed_at) = sign(
        &w.answer(FORGED),
        &Signing {
            expires_after: Some(600),
            ..Signing::new(&w.provider, "provider.example", "sel")
        },
    );
    let minutes = (signed_at - w.start).num_minutes() + 30;
    wrong.extend(refused(
        &w,
        "expired x= replayed",
        &raw,
        minutes,
        "signature expired at",
    ));

    // Forwarded by a list that breaks her signature and seals the mail (ARC), but the list is
    // not one the desk trusts: its seal proves nothing.
    let raw = w.forwarded(FORGED, &w.attacker, "attacker.example");
    wrong.extend(refused(
        &w,
        "ARC of an untrusted sealer",
        &raw,
        minutes + 1,
        "ARC sealed by attacker.example (i=1), not a trusted sealer",
    ));

    assert!(
        wrong.is_empty(),
        "{}\n----- dnsmasq -----\n{}",
        wrong.join("\n"),
        w.dns.log()
    );

    // The real thing: Alice's own signature, aligned, unexpired by deskgate's clock (it expires
    // two days after signing), over the whole body: her command runs, her answer is relayed.
    let (raw, _) = sign(
        &w.answer("#status pending\nWe replaced the optic; please check the link."),
        &Signing {
            expires_after: Some(2 * 24 * 3600),
            ..Signing::new(&w.provider, "provider.example", "sel")
        },
    );
    let sent = w.deliver_at(&raw, minutes + 30);
    let relayed: Vec<&Captured> = sent.iter().filter(|m| to(m, JANE)).collect();
    assert_eq!(
        relayed.len(),
        1,
        "the answer is relayed to the customer: {}\n----- dnsmasq -----\n{}",
        summary(&sent),
        w.dns.log()
    );
    assert!(
        body(relayed[0]).contains("We replaced the optic"),
        "{}",
        body(relayed[0])
    );
    assert!(
        !body(relayed[0]).contains("#status"),
        "the command line is not relayed: {}",
        body(relayed[0])
    );
    assert_eq!(w.ticket()["status"], "pending", "her command ran");

    // Forwarded through the trusted list: her own signature no longer verifies (the footer),
    // but the list's ARC seal records that it passed on arrival, so it counts.
    let raw = w.forwarded(
        "#status resolved\nThe link is stable again.",
        &w.lists,
        "lists.example",
    );
    let sent = w.deliver_at(&raw, minutes + 40);
    assert!(
        sent.iter()
            .any(|m| to(m, JANE) && body(m).contains("The link is stable again")),
        "the forwarded answer is relayed: {}\n{:?}",
        summary(&sent),
        notes(&w.ticket())
    );
    assert_eq!(w.ticket()["status"], "resolved", "her command ran");
}
