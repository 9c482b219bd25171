//! Snapshot tests of the final MIME of each kind of outgoing mail, made end to end by the
//! `deskgate` binary: a Maildir desk in, `[smtp] url = "file://…"` out (each mail becomes one
//! `.eml` file), every pass a `run --once --now T` and every ops step a `maintenance …` or
//! `incident …` command with `--now T`, so no snapshot depends on today's date.
//!
//! Each snapshot in `tests/snapshots/snapshots_mime__<kind>.snap` is one whole message as the
//! file transport wrote it (its `X-Envelope-From`/`X-Envelope-To` lines first), lines ending in
//! CRLF on disk and shown with LF, followed by the decoded text of each of its parts so that a
//! reviewer reads what the customer or engineer reads. What varies between runs is redacted by
//! [`Redactor`]: the `Date` header, the random part of deskgate's own Message-IDs (shown as the
//! name of the mail it identifies, e.g. `<dg.NL-000001.[notify-new-ticket]@desk.example.net>`, so
//! `In-Reply-To` and `References` still show the thread), MIME boundaries and the temporary
//! directory. The inbound mails are fixed (their dates too) and follow the header layouts of
//! real clients; each fixture names the client and the sample it follows.
//!
//! Kinds covered: ack, notify (new ticket), an engineer's reply relayed to the customer,
//! command_error, too_large, register, partner_redirect, SLA warning and breach (both `notify`),
//! shift handover, maintenance announcement (with its `text/calendar` part) and incident
//! notice. A `…-passes` snapshot per scenario lists every mail of every pass (recipients and
//! subject), so an extra or a missing mail shows too.
//!
//! A changed mail fails these tests until its snapshot is reviewed:
//! - `cargo insta review` (with `cargo-insta`: `cargo insta test --test snapshots_mime
//!   --review`), or
//! - `INSTA_UPDATE=always cargo test --test snapshots_mime`, then read `git diff
//!   tests/snapshots/` as the reader of each mail would, and commit only what is right.
//!
//! Without `INSTA_UPDATE=always` a mismatch or a missing snapshot fails: locally insta writes the
//! candidate as `*.snap.new` beside the snapshot (never commit those), under `CI=true` it writes
//! nothing.

mod common;

use common::{DeskConfig, Gate, GateConfig, DKIM_OK};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Tier 1 on shift around the clock, tiers 2 and 3 without hours, and one engineer.
const THREE_TIERS: &str = include_str!("fixtures/teams/three_tiers.toml");

/// Two tier-1 teams that follow the sun (Amsterdam, then New York), and tier 2.
const FOLLOW_THE_SUN: &str = r#"
[[team]]
name = "ams"
tier = 1
address = "ams@provider.example"
timezone = "Europe/Amsterdam"
hours = "07:00-19:00"
[[team]]
name = "nyc"
tier = 1
address = "nyc@provider.example"
timezone = "America/New_York"
hours = "07:00-19:00"
[[team]]
name = "noc"
tier = 2
address = "noc@provider.example"
"#;

/// A Gold account (Jane is its contact), a partner and the account it manages and supports.
const ACCOUNTS: &str = r#"
[[account]]
id = "acme"
name = "Acme Hosting B.V."
plan = "gold"
language = "en"
timezone = "Europe/Amsterdam"
domains = ["acme.example"]
sites = ["AM11"]

[account.team]
customer_success_manager = "csm@provider.example"

[[account.contact]]
address = "jane@acme.example"
name = "Jane Doe"
roles = ["technical", "escalation", "maintenance"]

[[account]]
id = "cloudreseller"
name = "Cloudreseller SAS"
plan = "silver"
language = "fr"
timezone = "Europe/Paris"
domains = ["cloudreseller.example"]

[[account.contact]]
address = "support@cloudreseller.example"
name = "Cloudreseller Support"
roles = ["technical"]

[[account]]
id = "boulangerie-martin"
name = "Boulangerie Martin"
language = "fr"
timezone = "Europe/Paris"
domains = ["boulangerie-martin.example"]
partner = "cloudreseller"
support_by = "partner"

[[account.contact]]
address = "it@boulangerie-martin.example"
name = "Paul Martin"
roles = ["technical"]
"#;

/// A deskgate in a temporary directory: a Maildir desk `nl`, `.eml` files out.
struct Desk {
    gate: Gate,
    redactor: Redactor,
    /// One line per mail of every pass so far: the `…-passes` snapshot.
    log: String,
}

impl Desk {
    /// A desk `nl` on a Maildir with `teams` (TOML tables) and the accounts above; mail is
    /// written into `.eml` files (the gate's default `file://` transport).
    fn start(teams: &str) -> Desk {
        let gate = GateConfig::new()
            .general("timezone", "Europe/Amsterdam")
            .set("ingest", "max_message_bytes", 2_000_000)
            .set("broadcast", "provider", "provider.example")
            .set("broadcast", "organizer_name", "Provider NOC")
            .set("broadcast", "per_minute", 0)
            .trusted_mx()
            .teams(teams)
            .accounts(ACCOUNTS)
            .desk(DeskConfig::nl().language("en").maildir("inbox"))
            .start();
        let redactor = Redactor::new(gate.dir());
        Desk {
            gate,
            redactor,
            log: String::new(),
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        self.gate.json(args)
    }

    /// Drops a raw mail (written with LF) into the desk's Maildir `new/`, with CRLF line ends
    /// as it arrives from an MTA.
    fn deliver(&self, name: &str, raw: &str) {
        let crlf = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        self.gate.deliver(name, crlf.as_bytes());
    }

    fn sent_files(&self) -> Vec<PathBuf> {
        let out = self.gate.path("outbox");
        let mut files: Vec<PathBuf> = fs::read_dir(&out)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
    }

    /// One pass as if it were `now` (`step` names it in the `…-passes` snapshot); returns the
    /// mails it wrote.
    fn run_at(&mut self, step: &str, now: &str) -> Pass {
        let before = self.sent_files();
        let report = self.json(&["run", "--once", "--now", now, "--json"]);
        assert_eq!(
            (report["failed"].as_u64(), report["retrying"].as_u64()),
            (Some(0), Some(0)),
            "pass at {now}: every mail was written: {report}"
        );
        self.collect(step, now, &before)
    }

    /// An ops command as if it were `now`, answered in JSON, then the pass at `now` that sends
    /// what it queued.
    fn ops_then_run(&mut self, step: &str, args: &[&str], now: &str) -> Pass {
        let mut all = args.to_vec();
        all.extend(["--json", "--now", now]);
        self.json(&all);
        self.run_at(step, now)
    }

    fn collect(&mut self, step: &str, now: &str, before: &[PathBuf]) -> Pass {
        let mut mails: Vec<Mail> = self
            .sent_files()
            .into_iter()
            .filter(|p| !before.contains(p))
            .map(|p| Mail::read(&p))
            .collect();
        // Files are named after their random Message-IDs: order them by what they say.
        mails.sort_by(|a, b| (&a.to, &a.subject).cmp(&(&b.to, &b.subject)));
        self.log.push_str(&format!("{step} (--now {now})\n"));
        if mails.is_empty() {
            self.log.push_str("  (no mail)\n");
        }
        for m in &mails {
            self.log
                .push_str(&format!("  to {}: {}\n", m.to.join(", "), m.subject));
        }
        Pass {
            now: now.to_string(),
            mails,
        }
    }

    /// Snapshots the one mail of `pass` to `to` whose subject contains `subject`, as `name`; its
    /// Message-ID is shown as `[name]` wherever it appears, here and in later mails.
    fn snapshot(&mut self, pass: &Pass, name: &str, to: &str, subject: &str) {
        let found: Vec<&Mail> = pass
            .mails
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{name}: one mail to {to} with {subject:?} in its subject; the pass sent {:#?}",
            pass.mails
                .iter()
                .map(|m| (&m.to, &m.subject))
                .collect::<Vec<_>>()
        );
        let mail = found[0];
        // The snapshot hides the Date; it must still be the pass's clock, not the machine's.
        let now = chrono::DateTime::parse_from_rfc3339(&pass.now).expect("--now is RFC 3339");
        assert_eq!(
            mail.date,
            Some(now.timestamp()),
            "{name}: the Date header is the instant of the pass that sent it ({})",
            pass.now
        );
        self.redactor.name_message(&mail.message_id, name);
        let shown = self.redactor.redact(&mail.raw);
        insta::with_settings!({
            omit_expression => true,
            prepend_module_to_snapshot => true,
            description => format!("{name}: to {to}"),
        }, {
            insta::assert_snapshot!(name, format!("{shown}{}", decoded_parts(&mail.raw)));
        });
    }

    /// The `…-passes` snapshot of this scenario.
    fn snapshot_log(&self, name: &str) {
        insta::with_settings!({
            omit_expression => true,
            prepend_module_to_snapshot => true,
            description => "every mail of every pass: recipients and subject",
        }, {
            insta::assert_snapshot!(name, self.log.clone());
        });
    }
}

/// The mails one pass wrote.
struct Pass {
    /// The pass's `--now`.
    now: String,
    mails: Vec<Mail>,
}

/// One written `.eml` file.
struct Mail {
    raw: Vec<u8>,
    to: Vec<String>,
    subject: String,
    message_id: String,
    /// The `Date` header as a Unix timestamp.
    date: Option<i64>,
}

impl Mail {
    fn read(path: &Path) -> Mail {
        let raw = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let parsed = MessageParser::default()
            .parse(&raw[..])
            .unwrap_or_else(|| panic!("{} does not parse", path.display()));
        let text = String::from_utf8_lossy(&raw).into_owned();
        let to = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Envelope-To: "))
            .unwrap_or_else(|| panic!("{} has no X-Envelope-To", path.display()))
            .split(',')
            .map(|a| a.trim().to_string())
            .collect();
        Mail {
            to,
            subject: parsed.subject().unwrap_or("").to_string(),
            message_id: parsed.message_id().unwrap_or("").to_string(),
            date: parsed.date().map(|d| d.to_timestamp()),
            raw,
        }
    }
}

/// Replaces what differs between two runs of the same scenario with stable placeholders.
struct Redactor {
    /// The test's temporary directory, as it may appear in a mail.
    tmp: String,
    /// The random part of a Message-ID deskgate made, and the name of the mail it identifies.
    names: BTreeMap<String, String>,
    random: Regex,
    boundary: Regex,
}

impl Redactor {
    fn new(tmp: &Path) -> Redactor {
        Redactor {
            tmp: tmp.display().to_string(),
            names: BTreeMap::new(),
            // deskgate's Message-IDs: `dg.<ref>.<32 hex digits>.<12 hex digits of tag>@domain`;
            // the tag depends on the random part and the store's secret.
            random: Regex::new(r"\b[0-9a-f]{32}(\.[0-9a-f]{12})?\b").expect("regex"),
            boundary: Regex::new(r#"boundary="?([^";\s]+)"?"#).expect("regex"),
        }
    }

    fn name_message(&mut self, message_id: &str, name: &str) {
        let random = self
            .random
            .find(message_id)
            .unwrap_or_else(|| panic!("{name}: no random part in Message-ID {message_id:?}"));
        self.names
            .insert(random.as_str().to_string(), name.to_string());
    }

    /// The message with LF line ends and its varying parts replaced. Panics unless every line
    /// ends with CRLF on disk (what SMTP requires and the file transport keeps).
    fn redact(&self, raw: &[u8]) -> String {
        let text = String::from_utf8(raw.to_vec()).expect("an outgoing mail is 7-bit clean");
        assert!(
            text.ends_with("\r\n") && !text.replace("\r\n", "").contains(['\r', '\n']),
            "every line ends with CRLF:\n{text}"
        );
        let mut text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").expect("header and body");
        let head: Vec<String> = header_fields(head)
            .into_iter()
            .map(|h| {
                if h.starts_with("Date:") {
                    "Date: [date]".to_string()
                } else if let Some(v) = h.strip_prefix("X-Deskgate-Loop: ") {
                    // This installation's id: 16 hex digits drawn from the store's secret.
                    assert!(
                        v.len() == 16 && v.chars().all(|c| c.is_ascii_hexdigit()),
                        "X-Deskgate-Loop names the installation: {v:?}"
                    );
                    "X-Deskgate-Loop: [installation]".to_string()
                } else {
                    h
                }
            })
            .collect();
        text = format!("{}\n\n{body}", head.join("\n"));
        let boundaries: Vec<String> = self
            .boundary
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        for (i, b) in boundaries.iter().enumerate() {
            text = text.replace(b.as_str(), &format!("[boundary-{}]", i + 1));
        }
        let mut unknown: Vec<String> = Vec::new();
        let text = self
            .random
            .replace_all(&text, |c: &regex::Captures<'_>| {
                let r = &c[0];
                match self.names.get(r) {
                    Some(name) => format!("[{name}]"),
                    None => {
                        let n = match unknown.iter().position(|u| u == r) {
                            Some(n) => n,
                            None => {
                                unknown.push(r.to_string());
                                unknown.len() - 1
                            }
                        };
                        format!("[random-{}]", n + 1)
                    }
                }
            })
            .into_owned();
        text.replace(&self.tmp, "[tmp]")
    }
}

/// The header fields of `head`, each with its folded continuation lines kept as they are
/// (folding is part of the bytes, so the snapshot shows it).
fn header_fields(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in head.lines() {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

/// Each part's decoded content, in order, under a ruler naming its type: what the reader sees.
fn decoded_parts(raw: &[u8]) -> String {
    let parsed = MessageParser::default().parse(raw).expect("parses");
    let mut out = String::from(
        "\n======================================================================== decoded\n",
    );
    for part in &parsed.parts {
        let ct = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{s}", c.ctype()),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "text/plain".into());
        let body = match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.replace("\r\n", "\n"),
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                format!("({} bytes of binary data)", b.len())
            }
            PartType::Message(_) => "(an attached message)".into(),
            PartType::Multipart(_) => continue,
        };
        out.push_str(&format!(
            "------------------------------------------------------------------------ {ct}\n{}\n",
            body.trim_end_matches('\n')
        ));
    }
    out
}

/// The acknowledgement, the tier-1 notice, the SLA warning and breach of a Gold P1, Alice's
/// answer relayed to the customer, her mistyped command, the partner redirect, the registration
/// hint and the too-large reply.
#[test]
fn ticket_mail() {
    let mut d = Desk::start(THREE_TIERS);

    // Friday 27 November, 23:48 in Amsterdam: Jane writes from Outlook (Microsoft 365 /
    // Exchange Online). Header layout after Outlook's (shared corpus zammad/mail/mail072.box
    // and mail096.box: Thread-Topic, Thread-Index, Accept-Language, Content-Language,
    // X-MS-Has-Attach, X-MS-TNEF-Correlator, a `_000_<id>_` boundary, quoted-printable
    // text and Word-generated HTML), the Date in UTC as Exchange Online writes it.
    d.deliver(
        "1764283692.M1P1.mx1",
        "Received: from AM9PR07MB7313.eurprd07.prod.outlook.com (2603:10a6:20b:2e1::9)
 by mx1.provider.example with ESMTPS; Fri, 27 Nov 2026 22:48:14 +0000
From: Jane Doe <jane@acme.example>
To: \"servicedesk.nl@example.net\" <servicedesk.nl@example.net>
Subject: Link down between AM11 and PA3
Thread-Topic: Link down between AM11 and PA3
Thread-Index: AdtfQ0ZxkM3nGm1bTuWq7c8JzY0Lrg==
Date: Fri, 27 Nov 2026 22:48:12 +0000
Message-ID: <AM9PR07MB7313A1B2C3D4E5F60718293A4B5C6D7E8F90@AM9PR07MB7313.eurprd07.prod.outlook.com>
Accept-Language: en-US, nl-NL
Content-Language: en-US
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
Content-Type: multipart/alternative;
\tboundary=\"_000_AM9PR07MB7313A1B2C3D4E5F60718293A4B5C6D7E8F90AM9PR07MB7313eurp_\"
MIME-Version: 1.0

--_000_AM9PR07MB7313A1B2C3D4E5F60718293A4B5C6D7E8F90AM9PR07MB7313eurp_
Content-Type: text/plain; charset=\"us-ascii\"
Content-Transfer-Encoding: quoted-printable

Hello,

Our wave between AM11 and PA3 is down since 23:40. Both ends show loss of =
signal.

Kind regards,
Jane Doe
Network Engineer | Acme Hosting B.V.

--_000_AM9PR07MB7313A1B2C3D4E5F60718293A4B5C6D7E8F90AM9PR07MB7313eurp_
Content-Type: text/html; charset=\"us-ascii\"
Content-Transfer-Encoding: quoted-printable

<html xmlns:o=3D\"urn:schemas-microsoft-com:office:office\" xmlns:w=3D\"urn:sc=
hemas-microsoft-com:office:word\" xmlns=3D\"http://www.w3.org/TR/REC-html40\">
<head>
<meta http-equiv=3D\"Content-Type\" content=3D\"text/html; charset=3Dus-ascii\">
<meta name=3D\"Generator\" content=3D\"Microsoft Word 15 (filtered medium)\">
</head>
<body lang=3D\"EN-US\" link=3D\"#0563C1\" vlink=3D\"#954F72\">
<div class=3D\"WordSection1\">
<p class=3D\"MsoNormal\">Hello,<o:p></o:p></p>
<p class=3D\"MsoNormal\"><o:p>&nbsp;</o:p></p>
<p class=3D\"MsoNormal\">Our wave between AM11 and PA3 is down since 23:40. Bot=
h ends show loss of signal.<o:p></o:p></p>
<p class=3D\"MsoNormal\"><o:p>&nbsp;</o:p></p>
<p class=3D\"MsoNormal\">Kind regards,<o:p></o:p></p>
<p class=3D\"MsoNormal\">Jane Doe<o:p></o:p></p>
<p class=3D\"MsoNormal\">Network Engineer | Acme Hosting B.V.<o:p></o:p></p>
</div>
</body>
</html>

--_000_AM9PR07MB7313A1B2C3D4E5F60718293A4B5C6D7E8F90AM9PR07MB7313eurp_--
",
    );
    let opened = d.run_at("Jane's mail opens NL-000001", "2026-11-27T23:50:00+01:00");
    d.snapshot(&opened, "ack", "jane@acme.example", "[NL-000001]");
    d.snapshot(
        &opened,
        "notify-new-ticket",
        "css@provider.example",
        "New ticket",
    );

    // Gold P1: first response due in 15 minutes, warned at 75 %, breached at 00:05.
    let warned = d.run_at("75 % of the first response", "2026-11-28T00:01:15+01:00");
    d.snapshot(
        &warned,
        "sla-warning",
        "css@provider.example",
        "SLA warning",
    );
    let breached = d.run_at("first response missed", "2026-11-28T00:05:00+01:00");
    d.snapshot(
        &breached,
        "sla-breach",
        "noc@provider.example",
        "SLA breached",
    );

    // Alice answers the notice from Thunderbird 128: its header order (Message-ID first,
    // `User-Agent: Mozilla Thunderbird`, Content-Language, References before From,
    // In-Reply-To after it), format=flowed text and its "On <date>, <name> wrote:" attribution.
    // The older layout is in the shared corpus (zammad/mail/mail005.box, Thunderbird 12).
    // Our MX prepended Received and Authentication-Results.
    let notice_id = opened
        .mails
        .iter()
        .find(|m| m.to == ["css@provider.example"])
        .map(|m| m.message_id.clone())
        .expect("the notice's Message-ID");
    let dkim = DKIM_OK.trim_end();
    let thunderbird = |message_id: &str, date: &str, body: &str| {
        format!(
            "Received: from [192.0.2.17] (vpn-17.provider.example [192.0.2.17])
\tby mx.provider.example (Postfix) with ESMTPSA id 4Q9ZxT0c1Kz9sWm
\tfor <servicedesk.nl@example.net>; {date}
{dkim}
Message-ID: <{message_id}@provider.example>
Date: {date}
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Re: [NL-000001] New ticket: Link down between AM11 and PA3
Content-Language: en-US
To: Service Desk Amsterdam <servicedesk.nl@example.net>
References: <{notice_id}>
From: Alice Martin <alice@provider.example>
In-Reply-To: <{notice_id}>
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

{body}
On 28/11/2026 00:00, Service Desk Amsterdam wrote:
> Ticket:     NL-000001
> Event:      New ticket
> From:       Jane Doe <jane@acme.example>
>
> Our wave between AM11 and PA3 is down since 23:40.
"
        )
    };
    d.deliver(
        "1764285097.M2P1.mx1",
        &thunderbird(
            "3b9e61c4-5d0a-4f7e-8c21-97a4d2e0f513",
            "Sat, 28 Nov 2026 00:11:37 +0100",
            "#take
Hello Jane,

We see loss of light on the AM11 side of the wave. A field engineer is\x20
on the way to the rack; you will have an update from us within the hour.

Best regards,
Alice
",
        ),
    );
    let answered = d.run_at(
        "Alice takes the ticket and answers",
        "2026-11-28T00:12:00+01:00",
    );
    d.snapshot(&answered, "reply", "jane@acme.example", "[NL-000001]");

    d.deliver(
        "1764285559.M3P1.mx1",
        &thunderbird(
            "a7c0d2f8-19b4-4e63-b5a8-0c6e3f2d9b71",
            "Sat, 28 Nov 2026 00:19:19 +0100",
            "#stauts pending
Waiting for the field engineer.
",
        ),
    );
    let mistyped = d.run_at("Alice mistypes a command", "2026-11-28T00:20:00+01:00");
    d.snapshot(
        &mistyped,
        "command-error",
        "alice@provider.example",
        "Not applied",
    );

    // Monday: a contact of a partner-supported account writes from Gmail, in French. Layout of
    // Gmail's web client (MIME-Version first, a `0000000000…` boundary, quoted-printable
    // UTF-8 text and `<div dir="ltr">` HTML; cf. the shared corpus replies/talon/018.eml).
    d.deliver(
        "1764489731.M4P1.mx1",
        "Received: by mail-wr1-f54.google.com with SMTP id ffacd0b85a97d-3a4e5f6b7c8so1234567f8f.1
        for <servicedesk.nl@example.net>; Mon, 30 Nov 2026 00:02:11 -0800 (PST)
MIME-Version: 1.0
From: Paul Martin <it@boulangerie-martin.example>
Date: Mon, 30 Nov 2026 09:02:11 +0100
Message-ID: <CAF7kQx0bN3vZ8pJ2mW5rT9yH4eL6dS1aU3cG8fK0iO2qR7tY5w@mail.gmail.com>
Subject: =?UTF-8?Q?Notre_VM_ne_d=C3=A9marre_plus?=
To: servicedesk.nl@example.net
Content-Type: multipart/alternative; boundary=\"0000000000004a7f2b0625c1d8e3\"

--0000000000004a7f2b0625c1d8e3
Content-Type: text/plain; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

Bonjour,

Notre VM web01 ne d=C3=A9marre plus depuis ce matin.

Cordialement,
Paul Martin

--0000000000004a7f2b0625c1d8e3
Content-Type: text/html; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

<div dir=3D\"ltr\"><div>Bonjour,</div><div><br></div><div>Notre VM web01 ne d=
=C3=A9marre plus depuis ce matin.</div><div><br></div><div>Cordialement,</di=
v><div>Paul Martin</div></div>

--0000000000004a7f2b0625c1d8e3--
",
    );
    let redirected = d.run_at("a partner's customer writes", "2026-11-30T09:03:00+01:00");
    d.snapshot(
        &redirected,
        "partner-redirect",
        "it@boulangerie-martin.example",
        "[NL-000002]",
    );

    // An unknown sender writes from Apple Mail on macOS: its header order (Content-Type with
    // the charset folded onto the next line, `Mime-Version: 1.0 (Mac OS X Mail …)`,
    // Message-Id with an upper-case UUID, X-Mailer last; cf. the shared corpus
    // replies/talon/020.eml).
    d.deliver(
        "1764490001.M5P1.mx1",
        "Received: from smtpclient.apple (unknown-corp.example [198.51.100.23])
\tby mx.provider.example (Postfix) with ESMTPS id 4QB0mX2yL1z9t0Pq
\tfor <servicedesk.nl@example.net>; Mon, 30 Nov 2026 09:06:41 +0100 (CET)
From: Sam Stranger <sam@unknown-corp.example>
Content-Type: text/plain;
\tcharset=us-ascii
Content-Transfer-Encoding: 7bit
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.600.41.1.1\\))
Subject: Quote for a cage
Message-Id: <8E2B6C4A-1F3D-4B7E-9A0C-5D2E7F9B1C34@unknown-corp.example>
Date: Mon, 30 Nov 2026 09:06:38 +0100
To: servicedesk.nl@example.net
X-Mailer: Apple Mail (3826.600.41.1.1)

Hello,

We would like a quote for a half-rack cage in AM11, with two 16 A feeds.

Thanks,
Sam
",
    );
    let unknown = d.run_at("an unknown sender writes", "2026-11-30T09:07:00+01:00");
    d.snapshot(
        &unknown,
        "register",
        "sam@unknown-corp.example",
        "[NL-000003]",
    );

    // Jane sends a packet capture from Outlook: over the 2 MB limit of this desk. Outlook's
    // layout as above, `multipart/mixed` with a `_004_` boundary and a base64 attachment in
    // 76-column lines.
    let capture: Vec<u8> = (0..1_600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut big = String::from(
        "Received: from AM9PR07MB7313.eurprd07.prod.outlook.com (2603:10a6:20b:2e1::9)
 by mx1.provider.example with ESMTPS; Mon, 30 Nov 2026 08:14:03 +0000
From: Jane Doe <jane@acme.example>
To: \"servicedesk.nl@example.net\" <servicedesk.nl@example.net>
Subject: Packet capture of the AM11 uplink
Thread-Topic: Packet capture of the AM11 uplink
Thread-Index: AdtiB7n3Yc1vQpKmRo6Yh0m2Vb3XwQ==
Date: Mon, 30 Nov 2026 08:14:01 +0000
Message-ID: <AM9PR07MB73139F8E7D6C5B4A3928170F6E5D4C3B2A10@AM9PR07MB7313.eurprd07.prod.outlook.com>
Accept-Language: en-US, nl-NL
Content-Language: en-US
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/mixed;
\tboundary=\"_004_AM9PR07MB73139F8E7D6C5B4A3928170F6E5D4C3B2A10AM9PR07MB7313eurp_\"
MIME-Version: 1.0

--_004_AM9PR07MB73139F8E7D6C5B4A3928170F6E5D4C3B2A10AM9PR07MB7313eurp_
Content-Type: text/plain; charset=\"us-ascii\"
Content-Transfer-Encoding: quoted-printable

Hello,

Attached is a capture of the AM11 uplink during the loss this morning.

Kind regards,
Jane Doe

--_004_AM9PR07MB73139F8E7D6C5B4A3928170F6E5D4C3B2A10AM9PR07MB7313eurp_
Content-Type: application/vnd.tcpdump.pcap; name=\"am11-uplink.pcap\"
Content-Description: am11-uplink.pcap
Content-Disposition: attachment; filename=\"am11-uplink.pcap\"; size=1600000;
\tcreation-date=\"Mon, 30 Nov 2026 08:12:40 GMT\";
\tmodification-date=\"Mon, 30 Nov 2026 08:12:40 GMT\"
Content-Transfer-Encoding: base64

",
    );
    let encoded = base64(&capture);
    for line in encoded.as_bytes().chunks(76) {
        big.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        big.push('\n');
    }
    big.push_str("\n--_004_AM9PR07MB73139F8E7D6C5B4A3928170F6E5D4C3B2A10AM9PR07MB7313eurp_--\n");
    d.deliver("1764490443.M6P1.mx1", &big);
    let too_large = d.run_at("a mail over the size limit", "2026-11-30T09:15:00+01:00");
    d.snapshot(
        &too_large,
        "too-large",
        "jane@acme.example",
        "Packet capture",
    );

    d.snapshot_log("ticket-mail-passes");
}

/// The handover from Amsterdam to New York at the end of Amsterdam's shift, listing an open
/// Gold P1 whose targets have been missed.
#[test]
fn shift_handover() {
    let mut d = Desk::start(FOLLOW_THE_SUN);
    // A plain-text mail from Thunderbird (layout as in `ticket_mail`).
    d.deliver(
        "1764240600.M1P1.mx1",
        "Message-ID: <0d4f7a21-6b3c-4e9a-a1f2-58c7d9e0b346@acme.example>
Date: Fri, 27 Nov 2026 11:50:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Subject: Cross-connect XC-7 down in AM11
Content-Language: en-US
To: servicedesk.nl@example.net
From: Jane Doe <jane@acme.example>
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hello,

Cross-connect XC-7 in AM11 is down since 11:40: no light on our side.

Jane
",
    );
    // Amsterdam works 07:00-19:00 CET (06:00Z-18:00Z), New York 07:00-19:00 EST (12:00Z-24:00Z).
    d.run_at("Jane's mail opens NL-000001", "2026-11-27T12:00:00+01:00");
    let handover = d.run_at("Amsterdam's shift ends", "2026-11-27T19:00:00+01:00");
    d.snapshot(&handover, "handover", "nyc@provider.example", "Handover");
    d.snapshot_log("shift-handover-passes");
}

/// A maintenance announcement (with its iCalendar part) and an incident opened, to the
/// maintenance contact of the account with a site in scope.
#[test]
fn broadcasts() {
    let mut d = Desk::start(THREE_TIERS);
    let announced = d.ops_then_run(
        "maintenance schedule",
        &[
            "maintenance",
            "schedule",
            "--title",
            "Core router upgrade AM11",
            "--sites",
            "AM11",
            "--start",
            "2026-12-10T00:00",
            "--end",
            "2026-12-10T04:00",
            "--tz",
            "Europe/Amsterdam",
            "--impact",
            "outage",
        ],
        "2026-12-01T09:00:00Z",
    );
    d.snapshot(
        &announced,
        "maintenance-announcement",
        "jane@acme.example",
        "MNT-1",
    );
    let opened = d.ops_then_run(
        "incident open",
        &[
            "incident",
            "open",
            "--title",
            "Packet loss on AM11 core",
            "--impact",
            "degraded",
            "--sites",
            "AM11",
            "--message",
            "We see packet loss on one of the AM11 core routers.\nTraffic via AM7 is not affected.",
        ],
        "2026-12-05T10:00:00Z",
    );
    d.snapshot(&opened, "incident-opened", "jane@acme.example", "INC-1");
    d.snapshot_log("broadcasts-passes");
}

/// Standard base64 with padding (RFC 4648), for the large attachment.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
