//! Staff commands: the `#status pending`, `#assign alice`, `#time 45m` … lines an engineer puts at
//! the top of a mail to change the ticket while answering it.
//!
//! Commands are read only from the first lines of the mail, so text further down (a customer's
//! "#1 priority for us is …" quoted in a reply) never changes a ticket. [`parse_commands`] is pure
//! and cannot fail: it returns what it understood, one [`CommandError`] per line it did not, and
//! the body without the command lines (what the customer may see). Every line of the command block
//! is taken out of the body, the misunderstood ones too, so a mistyped command never reaches a
//! customer. A caller should apply nothing when there are errors and answer the engineer with the
//! errors and [`help`]: half of a mail's commands applied is worse than none.
//!
//! The parser tolerates what mail clients do to typed text: non-breaking and other Unicode spaces
//! (Outlook's HTML-to-text), zero-width characters, trailing spaces, CRLF line ends, capitalised
//! names (`#Status Pending`), a colon after the name (`#status: pending`), typographic dashes in
//! `#cc –bob@…` (autocorrect) and the `<mailto:…>` echo Outlook writes after a linked address. It
//! does not accept `#status=pending`: no client produces it, and an error with the right form is
//! clearer than a guess at what else `=` might mean.
//!
//! This file reads the block: where the commands are, which lines clash, what is left for the
//! customer. `line.rs` reads one command line: which [`Command`] it is, with its arguments, and
//! what to say when it is not one.
//!
//! Owns: staff commands. Builds on the ticket vocabulary of `service` (statuses, priorities, tiers)
//! and on `mail::pattern`; must not import the rest of `mail`, nor `broadcasts`. Inside the folder,
//! only this file reads `line.rs`.

mod line;
pub use line::Command;

use std::fmt;

use line::parse_line;

/// A command line that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// 1-based line number in the mail text.
    pub line: usize,
    /// The line as written, without its line end.
    pub text: String,
    /// What is wrong and what is accepted, one sentence.
    pub message: String,
}

/// The result of reading a mail's commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedCommands {
    /// Understood commands with their 1-based line numbers, in mail order. An identical repeat
    /// of an idempotent command (two `#take`) appears once.
    pub commands: Vec<(usize, Command)>,
    /// One entry per command line that was not understood or conflicts with an earlier one.
    pub errors: Vec<CommandError>,
    /// The text with the command lines removed (what a customer may see), leading blank lines
    /// trimmed. It is a suffix of the input, so its line ends are the mail's own.
    pub body: String,
}

/// Reads the commands on the first lines of `text`.
///
/// Leading blank lines are skipped; then every line whose first non-space character is `#` is a
/// command line, and blank lines between them are allowed. The block ends at the first other
/// line, and `#` lines after it are ordinary text.
pub fn parse_commands(text: &str) -> ParsedCommands {
    let mut parsed = ParsedCommands::default();
    // Where the body starts; the whole text is commands (or blank) until a text line shows up.
    let mut body_start = text.len();
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line = clean(raw);
        if !line.is_empty() && !line.starts_with('#') {
            body_start = offset;
            break;
        }
        offset += raw.len();
        if line.is_empty() {
            continue;
        }
        let number = index + 1;
        let error = |message: String| CommandError {
            line: number,
            text: raw.trim_end_matches(['\n', '\r']).to_string(),
            message,
        };
        match parse_line(&line) {
            Ok(command) => match conflict(&parsed.commands, &command) {
                Conflict::None => parsed.commands.push((number, command)),
                Conflict::Repeat => {}
                Conflict::With(earlier_line, earlier) => parsed.errors.push(error(format!(
                    "this conflicts with `{earlier}` on line {earlier_line}; give each command once"
                ))),
            },
            Err(message) => parsed.errors.push(error(message)),
        }
    }
    parsed.body = text[body_start..].to_string();
    parsed
}

/// The command list, for the reply that tells an engineer what went wrong.
pub fn help() -> &'static str {
    "\
Commands go on the first lines of the mail, one per line; the rest of the mail is the message.
  #status pending            set the status: new, open, pending, resolved or closed
  #priority P1               set the priority: P1 (outage) to P4 (question); p1 or 1 work too
  #assign alice              give the ticket to a staff member, by login or address
  #take                      give the ticket to yourself
  #escalate                  move the ticket to the next tier
  #tier 2                    move the ticket to tier 1, 2 or 3
  #time 45m                  log expert time: 45m, 1h, 1h30m, 1.5h or 90 (minutes); at most 24h
  #note                      make the whole mail an internal note the customer never sees
  #cc +ops@customer.example  add a participant
  #cc -bob@customer.example  remove a participant
Command names are case-insensitive, and a colon after the name is fine (#status: pending).
"
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.text, self.message)
    }
}

/// A line with mail-client artefacts undone: line end dropped, every Unicode space made an ASCII
/// space, zero-width characters removed, surrounding spaces trimmed.
fn clean(raw: &str) -> String {
    raw.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            )
        })
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// What a new command does to the ones already read.
enum Conflict {
    None,
    /// The same idempotent command again: harmless, dropped.
    Repeat,
    /// A different command for the same thing, with the earlier one's line.
    With(usize, Command),
}

/// Two commands clash when they set the same thing. Repeating an idempotent command is harmless;
/// repeating `#escalate` or `#time` is not (one tier or two? one session or a correction?), so it
/// is an error like any other clash.
fn conflict(earlier: &[(usize, Command)], new: &Command) -> Conflict {
    for (line, old) in earlier {
        if slot(old) != slot(new) {
            continue;
        }
        let idempotent = !matches!(new, Command::Escalate | Command::Time { .. });
        return if old == new && idempotent {
            Conflict::Repeat
        } else {
            Conflict::With(*line, old.clone())
        };
    }
    Conflict::None
}

/// What a command sets; two commands with the same slot clash.
#[derive(PartialEq, Eq)]
enum Slot<'a> {
    Status,
    Priority,
    Owner,
    Tier,
    Time,
    Note,
    Participant(&'a str),
}

fn slot(c: &Command) -> Slot<'_> {
    match c {
        Command::Status(_) => Slot::Status,
        Command::Priority(_) => Slot::Priority,
        Command::Assign(_) | Command::Take => Slot::Owner,
        Command::Escalate | Command::Tier(_) => Slot::Tier,
        Command::Time { .. } => Slot::Time,
        Command::Note => Slot::Note,
        Command::CcAdd(a) | Command::CcRemove(a) => Slot::Participant(a),
    }
}

#[cfg(test)]
mod tests {
    use super::line::NAMES;
    use super::*;
    use proptest::prelude::*;

    /// One table row: the mail text, the commands expected (line, canonical form), the errors
    /// expected (line, a fragment of the message) and the body.
    struct Case {
        name: &'static str,
        text: &'static str,
        commands: &'static [(usize, &'static str)],
        errors: &'static [(usize, &'static str)],
        body: &'static str,
    }

    fn check(cases: &[Case]) {
        let mut failures = Vec::new();
        for c in cases {
            let p = parse_commands(c.text);
            let got: Vec<(usize, String)> = p
                .commands
                .iter()
                .map(|(l, cmd)| (*l, cmd.to_string()))
                .collect();
            let want: Vec<(usize, String)> = c
                .commands
                .iter()
                .map(|(l, s)| (*l, s.to_string()))
                .collect();
            let errors_ok = p.errors.len() == c.errors.len()
                && p.errors
                    .iter()
                    .zip(c.errors)
                    .all(|(e, (line, fragment))| e.line == *line && e.message.contains(fragment));
            if got != want || !errors_ok || p.body != c.body {
                failures.push(format!(
                    "{}:\n  commands {got:?}\n  want     {want:?}\n  errors   {:?}\n  want     {:?}\n  body     {:?}\n  want     {:?}",
                    c.name, p.errors, c.errors, p.body, c.body
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_command_is_read() {
        check(&[
            Case {
                name: "status",
                text: "#status pending\nThanks, waiting for you.",
                commands: &[(1, "#status pending")],
                errors: &[],
                body: "Thanks, waiting for you.",
            },
            Case {
                name: "a second status conflicts",
                text: "#status new\n#priority p2\n\n#status open\n",
                commands: &[(1, "#status new"), (2, "#priority P2")],
                errors: &[(4, "conflicts with `#status new` on line 1")],
                body: "",
            },
            Case {
                name: "priority forms",
                text: "#priority P1\nx",
                commands: &[(1, "#priority P1")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "priority lower case",
                text: "#priority p4\nx",
                commands: &[(1, "#priority P4")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "priority bare digit",
                text: "#priority 3\nx",
                commands: &[(1, "#priority P3")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "assign login",
                text: "#assign Alice\nx",
                commands: &[(1, "#assign alice")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "assign address",
                text: "#assign <Alice@Provider.Example>\nx",
                commands: &[(1, "#assign alice@provider.example")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "take",
                text: "#take\nOn it.",
                commands: &[(1, "#take")],
                errors: &[],
                body: "On it.",
            },
            Case {
                name: "escalate",
                text: "#escalate\nNeeds network support.",
                commands: &[(1, "#escalate")],
                errors: &[],
                body: "Needs network support.",
            },
            Case {
                name: "tier",
                text: "#tier 3\nx",
                commands: &[(1, "#tier 3")],
                errors: &[],
                body: "x",
            },
            Case {
                name: "note",
                text: "#note\nCustomer is on the old firmware.",
                commands: &[(1, "#note")],
                errors: &[],
                body: "Customer is on the old firmware.",
            },
            Case {
                name: "cc add and remove",
                text: "#cc +Ops@Customer.Example\n#cc -bob@customer.example\nx",
                commands: &[
                    (1, "#cc +ops@customer.example"),
                    (2, "#cc -bob@customer.example"),
                ],
                errors: &[],
                body: "x",
            },
            Case {
                name: "cc with a space after the sign",
                text: "#cc + ops@customer.example\nx",
                commands: &[(1, "#cc +ops@customer.example")],
                errors: &[],
                body: "x",
            },
        ]);
    }

    #[test]
    fn every_error_names_its_line() {
        check(&[
            Case {
                name: "unknown command with a suggestion",
                text: "#stauts pending\nx",
                commands: &[],
                errors: &[(1, "did you mean #status?")],
                body: "x",
            },
            Case {
                name: "unknown command without a suggestion",
                text: "#frobnicate\nx",
                commands: &[],
                errors: &[(1, "#frobnicate is not a command; the commands are #status")],
                body: "x",
            },
            Case {
                name: "hash alone",
                text: "# \nx",
                commands: &[],
                errors: &[(1, "followed directly by a command name")],
                body: "x",
            },
            Case {
                name: "missing argument",
                text: "#status\nx",
                commands: &[],
                errors: &[(1, "#status needs a status: new, open")],
                body: "x",
            },
            Case {
                name: "invalid status",
                text: "#status done\nx",
                commands: &[],
                errors: &[(1, "`done` is not a status")],
                body: "x",
            },
            Case {
                name: "invalid priority",
                text: "#priority P5\nx",
                commands: &[],
                errors: &[(1, "`P5` is not a priority")],
                body: "x",
            },
            Case {
                name: "invalid tier",
                text: "#tier 4\nx",
                commands: &[],
                errors: &[(1, "`4` is not a tier")],
                body: "x",
            },
            Case {
                name: "tier zero",
                text: "#tier 0\nx",
                commands: &[],
                errors: &[(1, "`0` is not a tier")],
                body: "x",
            },
            Case {
                name: "extra argument",
                text: "#status pending now\nx",
                commands: &[],
                errors: &[(1, "takes just one argument (a status: new, open, pending, resolved or closed), but the line has `pending now`")],
                body: "x",
            },
            Case {
                name: "argument to an argument-less command",
                text: "#take alice\nx",
                commands: &[],
                errors: &[(1, "#take takes no argument, but the line has `alice`; to give the ticket to someone else use #assign")],
                body: "x",
            },
            Case {
                name: "escalate with a tier",
                text: "#escalate 2\nx",
                commands: &[],
                errors: &[(1, "use #tier 2")],
                body: "x",
            },
            Case {
                name: "assign with a bad login",
                text: "#assign al/ice\nx",
                commands: &[],
                errors: &[(1, "not a staff login or address")],
                body: "x",
            },
            Case {
                name: "assign with a bad address",
                text: "#assign alice@@provider.example\nx",
                commands: &[],
                errors: &[(1, "not a valid address")],
                body: "x",
            },
            Case {
                name: "cc without a sign",
                text: "#cc ops@customer.example\nx",
                commands: &[],
                errors: &[(1, "needs + or - before the address")],
                body: "x",
            },
            Case {
                name: "cc with a bad address",
                text: "#cc +ops\nx",
                commands: &[],
                errors: &[(1, "`ops` is not a valid address")],
                body: "x",
            },
            Case {
                name: "cc with two addresses",
                text: "#cc +a@customer.example +b@customer.example\nx",
                commands: &[],
                errors: &[(1, "one address per line")],
                body: "x",
            },
            Case {
                name: "cc with nothing",
                text: "#cc\nx",
                commands: &[],
                errors: &[(1, "#cc needs a sign and an address")],
                body: "x",
            },
            Case {
                name: "equals sign",
                text: "#status=pending\nx",
                commands: &[],
                errors: &[(1, "not after `=`, as in `#status pending`")],
                body: "x",
            },
            Case {
                name: "errors do not stop the rest of the block",
                text: "#status pendng\n#take\nx",
                commands: &[(2, "#take")],
                errors: &[(1, "`pendng` is not a status")],
                body: "x",
            },
        ]);
    }

    #[test]
    fn clashing_commands_are_errors_and_harmless_repeats_are_dropped() {
        check(&[
            Case {
                name: "two priorities",
                text: "#priority P1\n#priority P2\nx",
                commands: &[(1, "#priority P1")],
                errors: &[(2, "conflicts with `#priority P1` on line 1")],
                body: "x",
            },
            Case {
                name: "assign and take",
                text: "#assign bob\n#take\nx",
                commands: &[(1, "#assign bob")],
                errors: &[(2, "conflicts with `#assign bob` on line 1")],
                body: "x",
            },
            Case {
                name: "escalate and tier",
                text: "#escalate\n#tier 3\nx",
                commands: &[(1, "#escalate")],
                errors: &[(2, "conflicts with `#escalate`")],
                body: "x",
            },
            Case {
                name: "escalate twice is ambiguous",
                text: "#escalate\n#escalate\nx",
                commands: &[(1, "#escalate")],
                errors: &[(2, "conflicts with `#escalate`")],
                body: "x",
            },
            Case {
                name: "time twice is ambiguous",
                text: "#time 30m\n#time 30m\nx",
                commands: &[(1, "#time 30m")],
                errors: &[(2, "conflicts with `#time 30m`")],
                body: "x",
            },
            Case {
                name: "cc add and remove of one address",
                text: "#cc +a@customer.example\n#cc -A@customer.example\nx",
                commands: &[(1, "#cc +a@customer.example")],
                errors: &[(2, "conflicts with `#cc +a@customer.example`")],
                body: "x",
            },
            Case {
                name: "identical repeats are dropped",
                text: "#status pending\n#Status Pending\n#take\n#take\n#note\n#note\nx",
                commands: &[(1, "#status pending"), (3, "#take"), (5, "#note")],
                errors: &[],
                body: "x",
            },
        ]);
    }

    #[test]
    fn only_the_first_lines_are_commands() {
        check(&[
            Case {
                name: "hash lines in the body are text",
                text: "Hello,\n#status closed\n#1 priority for us is uptime.\n",
                commands: &[],
                errors: &[],
                body: "Hello,\n#status closed\n#1 priority for us is uptime.\n",
            },
            Case {
                name: "hash lines after the block are text",
                text: "#status pending\nHello,\n#priority P1\n",
                commands: &[(1, "#status pending")],
                errors: &[],
                body: "Hello,\n#priority P1\n",
            },
            Case {
                name: "leading blank lines are skipped",
                text: "\n  \n#take\n\nHello",
                commands: &[(3, "#take")],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "blank line inside the block",
                text: "#take\n\n#priority P2\n\n\nHello\n\nBye\n",
                commands: &[(1, "#take"), (3, "#priority P2")],
                errors: &[],
                body: "Hello\n\nBye\n",
            },
            Case {
                name: "a mail of only commands has an empty body",
                text: "#status resolved\n#time 15m\n\n",
                commands: &[(1, "#status resolved"), (2, "#time 15m")],
                errors: &[],
                body: "",
            },
            Case {
                name: "take alone",
                text: "#take",
                commands: &[(1, "#take")],
                errors: &[],
                body: "",
            },
            Case {
                name: "note alone",
                text: "#note\r\n",
                commands: &[(1, "#note")],
                errors: &[],
                body: "",
            },
            Case {
                name: "no commands, leading blanks trimmed",
                text: "\r\n\r\nHello\r\n",
                commands: &[],
                errors: &[],
                body: "Hello\r\n",
            },
            Case {
                name: "empty mail",
                text: "",
                commands: &[],
                errors: &[],
                body: "",
            },
        ]);
    }

    #[test]
    fn mail_client_artefacts_are_tolerated() {
        check(&[
            Case {
                name: "CRLF",
                text: "#status pending\r\n#priority P2\r\n\r\nHello\r\nBye\r\n",
                commands: &[(1, "#status pending"), (2, "#priority P2")],
                errors: &[],
                body: "Hello\r\nBye\r\n",
            },
            Case {
                name: "non-breaking and trailing spaces, indentation",
                text: "\u{a0}#status\u{a0}pending \u{a0}\n\t#priority\u{202f}P1  \nHello",
                commands: &[(1, "#status pending"), (2, "#priority P1")],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "zero-width characters and a byte order mark",
                text: "\u{feff}#ta\u{200b}ke\nHello",
                commands: &[(1, "#take")],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "colon after the name",
                text: "#status: pending\n#Priority:P1\n#cc: +ops@customer.example\nHello",
                commands: &[
                    (1, "#status pending"),
                    (2, "#priority P1"),
                    (3, "#cc +ops@customer.example"),
                ],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "capitals",
                text: "#STATUS RESOLVED\n#Take\nHello",
                commands: &[(1, "#status resolved"), (2, "#take")],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "autocorrected dash",
                text: "#cc \u{2013}bob@customer.example\nHello",
                commands: &[(1, "#cc -bob@customer.example")],
                errors: &[],
                body: "Hello",
            },
            Case {
                name: "Outlook mailto echo",
                text: "#cc +ops@customer.example <mailto:ops@customer.example>\n#assign alice@provider.example<mailto:alice@provider.example>\nHello",
                commands: &[
                    (1, "#cc +ops@customer.example"),
                    (2, "#assign alice@provider.example"),
                ],
                errors: &[],
                body: "Hello",
            },
        ]);
    }

    #[test]
    fn an_error_keeps_the_line_as_written() {
        let p = parse_commands("\r\n#stauts\u{a0}pending \r\nHello");
        assert_eq!(
            p.errors,
            vec![CommandError {
                line: 2,
                text: "#stauts\u{a0}pending ".to_string(),
                message: "#stauts is not a command; did you mean #status? the commands are #status, #priority, #assign, #take, #escalate, #tier, #time, #note and #cc".to_string(),
            }]
        );
        assert_eq!(p.body, "Hello");
    }

    #[test]
    fn help_lists_every_command() {
        for name in NAMES {
            assert!(help().contains(&format!("#{name}")), "{name}");
        }
    }

    /// Lines made of the pieces that matter to the parser, so the random mails hit real commands.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("#status pending".to_string()),
            Just("#take".to_string()),
            Just("#time 1h30m".to_string()),
            Just("#cc +a@b.example".to_string()),
            Just("#escalate".to_string()),
            Just("Hello".to_string()),
            Just(" \u{a0}".to_string()),
            "[#a-z0-9 :=+@.\u{a0}\u{2013}<>-]{0,30}",
            any::<String>(),
        ]
    }

    fn mail() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(line(), 0..8),
            prop_oneof![Just("\n"), Just("\r\n")],
        )
            .prop_map(|(lines, end)| lines.join(end))
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in any::<String>()) {
            let _ = parse_commands(&text);
        }

        #[test]
        fn the_body_holds_no_command_line(text in mail()) {
            let p = parse_commands(&text);
            // The body is what follows the command block, whole.
            prop_assert!(text.ends_with(&p.body));
            let lines_before_body = text[..text.len() - p.body.len()]
                .split_inclusive('\n')
                .count();
            for (line, _) in &p.commands {
                prop_assert!(*line <= lines_before_body, "command line {} in body {:?}", line, p.body);
            }
            for e in &p.errors {
                prop_assert!(e.line <= lines_before_body, "error line {} in body {:?}", e.line, p.body);
            }
            // And it starts with text, not with a command or a blank line.
            if let Some(first) = p.body.lines().next() {
                let first = clean(first);
                prop_assert!(!first.is_empty() && !first.starts_with('#'), "{:?}", p.body);
            }
            // Every command reads back from its canonical form.
            for (_, c) in &p.commands {
                let again = parse_commands(&c.to_string());
                prop_assert_eq!(&again.commands, &vec![(1, c.clone())]);
            }
        }
    }
}
