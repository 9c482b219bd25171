//! One command line: which [`Command`] it is and its argument, read with the tolerance the
//! block's reader promises (any case, a colon after the name, decorated addresses, durations
//! written several ways), or one sentence saying what is wrong and what is accepted, with a
//! "did you mean" for a mistyped name.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::core::mail::pattern::re;
use crate::core::service::ticket::{Priority, Status, LAST_TIER};

/// One understood staff command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#status pending`.
    Status(Status),
    /// `#priority P1`.
    Priority(Priority),
    /// `#assign alice` or `#assign alice@provider.example`: a staff login or address, lower-cased.
    /// Whether it names a real staff member is for the caller, which knows the staff list.
    Assign(String),
    /// `#take`: assign the ticket to the sender.
    Take,
    /// `#escalate`: move the ticket to the next tier.
    Escalate,
    /// `#tier 2`: move the ticket to the given tier, 1 to [`LAST_TIER`].
    Tier(u8),
    /// `#time 45m`: expert time spent, more than 0 and at most 24 hours.
    Time { minutes: u32 },
    /// `#note`: the whole mail is an internal note.
    Note,
    /// `#cc +ops@customer.example`: add a participant (address lower-cased).
    CcAdd(String),
    /// `#cc -bob@customer.example`: remove a participant (address lower-cased).
    CcRemove(String),
}

impl fmt::Display for Command {
    /// The canonical form, as an engineer would write it: `#status pending`, `#time 1h30m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Status(s) => write!(f, "#status {}", s.as_str()),
            Command::Priority(p) => write!(f, "#priority {}", priority_name(*p)),
            Command::Assign(who) => write!(f, "#assign {who}"),
            Command::Take => f.write_str("#take"),
            Command::Escalate => f.write_str("#escalate"),
            Command::Tier(t) => write!(f, "#tier {t}"),
            Command::Time { minutes } => {
                let (h, m) = (minutes / 60, minutes % 60);
                match (h, m) {
                    (0, m) => write!(f, "#time {m}m"),
                    (h, 0) => write!(f, "#time {h}h"),
                    (h, m) => write!(f, "#time {h}h{m}m"),
                }
            }
            Command::Note => f.write_str("#note"),
            Command::CcAdd(a) => write!(f, "#cc +{a}"),
            Command::CcRemove(a) => write!(f, "#cc -{a}"),
        }
    }
}

/// The command names, in the order [`help`](super::help) lists them.
pub(super) const NAMES: &[&str] = &[
    "status", "priority", "assign", "take", "escalate", "tier", "time", "note", "cc",
];

/// The most expert time one mail may log. A larger figure is almost always a typo (`#time 450`
/// meant as 45m) and would skew the ticket's totals.
const MAX_MINUTES: u32 = 24 * 60;

/// Reads one cleaned command line (it starts with `#`).
pub(super) fn parse_line(line: &str) -> Result<Command, String> {
    let after_hash = line.get(1..).unwrap_or("");
    let name_end = after_hash.find([' ', ':', '=']).unwrap_or(after_hash.len());
    let (name, rest) = after_hash.split_at(name_end);
    let name = name.to_lowercase();
    if name.is_empty() {
        return Err(format!(
            "`#` must be followed directly by a command name such as #status; the commands are {}",
            NAME_LIST
        ));
    }
    if !NAMES.contains(&name.as_str()) {
        let hint = closest_name(&name)
            .map(|n| format!("did you mean #{n}? "))
            .unwrap_or_default();
        return Err(format!(
            "#{name} is not a command; {hint}the commands are {}",
            NAME_LIST
        ));
    }
    let rest = rest.trim_start();
    if rest.starts_with('=') {
        return Err(format!(
            "write the argument after a space, not after `=`, as in `{}`",
            example(&name)
        ));
    }
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let rest = MAILTO_ECHO.replace_all(rest, " ");
    let args: Vec<&str> = rest.split_whitespace().collect();
    match name.as_str() {
        "status" => one_arg(
            &name,
            &args,
            "a status: new, open, pending, resolved or closed",
        )
        .and_then(parse_status)
        .map(Command::Status),
        "priority" => one_arg(&name, &args, "a priority: P1, P2, P3 or P4")
            .and_then(parse_priority)
            .map(Command::Priority),
        "assign" => one_arg(&name, &args, "a staff login or address")
            .and_then(parse_assignee)
            .map(Command::Assign),
        "take" => no_arg(
            &name,
            &args,
            "; to give the ticket to someone else use #assign",
        )
        .map(|()| Command::Take),
        "escalate" => no_arg(&name, &args, "; to move to a given tier use #tier 2")
            .map(|()| Command::Escalate),
        "note" => no_arg(&name, &args, "; the whole mail becomes the note").map(|()| Command::Note),
        "tier" => one_arg(&name, &args, "a tier: 1, 2 or 3")
            .and_then(parse_tier)
            .map(Command::Tier),
        "time" => parse_time(&args).map(|minutes| Command::Time { minutes }),
        _ => parse_cc(&args),
    }
}

/// `<mailto:x@y>` or `[mailto:x@y]`: what Outlook's HTML-to-text writes after a linked address.
static MAILTO_ECHO: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\s*[<\[]mailto:[^>\]]*[>\]]"));

/// `1h30m`, `1.5h`, `45m`, `1h30`, `90min` … once spaces are removed and the text lower-cased.
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?P<h>\d{1,4})(?:[.,](?P<frac>\d{1,4}))?(?:h|hr|hrs|hour|hours))?(?:(?P<m>\d{1,5})(?P<unit>m|min|mins|minute|minutes)?)?$",
    )
});

/// `1:30`, hours and minutes.
static CLOCK_DURATION: LazyLock<Regex> = LazyLock::new(|| re(r"^(?P<h>\d{1,2}):(?P<m>[0-5]\d)$"));

const NAME_LIST: &str =
    "#status, #priority, #assign, #take, #escalate, #tier, #time, #note and #cc";

fn example(name: &str) -> &'static str {
    match name {
        "status" => "#status pending",
        "priority" => "#priority P2",
        "assign" => "#assign alice",
        "tier" => "#tier 2",
        "time" => "#time 45m",
        "cc" => "#cc +ops@customer.example",
        "take" => "#take",
        "escalate" => "#escalate",
        _ => "#note",
    }
}

fn one_arg<'a>(name: &str, args: &[&'a str], what: &str) -> Result<&'a str, String> {
    match args {
        [one] => Ok(one),
        [] => Err(format!("#{name} needs {what}, as in `{}`", example(name))),
        more => Err(format!(
            "#{name} takes just one argument ({what}), but the line has `{}`",
            more.join(" ")
        )),
    }
}

fn no_arg(name: &str, args: &[&str], hint: &str) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "#{name} takes no argument, but the line has `{}`{hint}",
            args.join(" ")
        ))
    }
}

fn parse_status(arg: &str) -> Result<Status, String> {
    match arg.to_lowercase().as_str() {
        "new" => Ok(Status::New),
        "open" => Ok(Status::Open),
        "pending" => Ok(Status::Pending),
        "resolved" => Ok(Status::Resolved),
        "closed" => Ok(Status::Closed),
        _ => Err(format!(
            "`{arg}` is not a status; use new, open, pending, resolved or closed"
        )),
    }
}

fn parse_priority(arg: &str) -> Result<Priority, String> {
    let lower = arg.to_lowercase();
    match lower.strip_prefix('p').unwrap_or(&lower) {
        "1" => Ok(Priority::P1),
        "2" => Ok(Priority::P2),
        "3" => Ok(Priority::P3),
        "4" => Ok(Priority::P4),
        _ => Err(format!(
            "`{arg}` is not a priority; use P1 (outage), P2, P3 or P4 (question)"
        )),
    }
}

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::P1 => "P1",
        Priority::P2 => "P2",
        Priority::P3 => "P3",
        Priority::P4 => "P4",
    }
}

fn parse_tier(arg: &str) -> Result<u8, String> {
    match arg.parse::<u8>() {
        Ok(t) if (1..=LAST_TIER).contains(&t) => Ok(t),
        _ => Err(format!(
            "`{arg}` is not a tier; use 1, 2 or 3 (or #escalate for the next one)"
        )),
    }
}

fn parse_assignee(arg: &str) -> Result<String, String> {
    let who = strip_address_decoration(arg);
    if who.contains('@') {
        return address(who).ok_or_else(|| {
            format!("`{arg}` is not a valid address; give a staff login or address, as in `#assign alice`")
        });
    }
    // Checked after lower-casing, so what is returned reads back the same.
    let login = who.to_lowercase();
    let login_char = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_');
    if !login.is_empty() && login.chars().all(login_char) {
        Ok(login)
    } else {
        Err(format!(
            "`{arg}` is not a staff login or address; give one, as in `#assign alice`"
        ))
    }
}

/// Minutes from `45m`, `1h`, `1h30m`, `1.5h`, `1h30`, `1:30` or a bare number of minutes. Spaces
/// inside (`1h 30m`, `90 min`) are allowed, so the arguments are read as one.
fn parse_time(args: &[&str]) -> Result<u32, String> {
    let accepted = "use minutes or hours such as 45m, 1h, 1h30m, 1.5h or 90";
    if args.is_empty() {
        return Err(format!("#time needs the time spent; {accepted}"));
    }
    let written = args.join(" ");
    let compact = written.to_lowercase().replace(' ', "");
    let minutes = duration_minutes(&compact).ok_or_else(|| {
        if args.len() > 1 {
            format!("#time takes one duration, but the line has `{written}`; {accepted}")
        } else {
            format!("`{written}` is not a duration; {accepted}")
        }
    })?;
    if minutes == 0 {
        return Err(format!("`{written}` is no time at all; {accepted}"));
    }
    if minutes > u64::from(MAX_MINUTES) {
        return Err(format!(
            "`{written}` is more than 24h, the most one mail may log; check the figure"
        ));
    }
    u32::try_from(minutes).map_err(|_| format!("`{written}` is too large; {accepted}"))
}

fn duration_minutes(compact: &str) -> Option<u64> {
    if let Some(c) = CLOCK_DURATION.captures(compact) {
        let h: u64 = c.name("h")?.as_str().parse().ok()?;
        let m: u64 = c.name("m")?.as_str().parse().ok()?;
        return Some(h * 60 + m);
    }
    let c = DURATION.captures(compact)?;
    let hours = c.name("h");
    let minutes = c.name("m");
    match (hours, minutes) {
        (None, None) => return None,
        // A fraction of an hour plus minutes (`1.5h30m`) is more likely a slip than a sum.
        (Some(_), Some(_)) if c.name("frac").is_some() => return None,
        _ => {}
    }
    let mut total: u64 = 0;
    if let Some(h) = hours {
        total += h.as_str().parse::<u64>().ok()? * 60;
        if let Some(frac) = c.name("frac") {
            let digits = frac.as_str();
            let scale = 10u64.pow(u32::try_from(digits.len()).ok()?);
            let value: u64 = digits.parse().ok()?;
            // Rounded to the nearest minute: 1.33h is 80 minutes.
            total += (value * 120 + scale) / (2 * scale);
        }
    }
    if let Some(m) = minutes {
        total += m.as_str().parse::<u64>().ok()?;
    }
    Some(total)
}

/// `#cc +addr` or `#cc -addr`; a space after the sign and typographic dashes are tolerated.
fn parse_cc(args: &[&str]) -> Result<Command, String> {
    let accepted =
        "write `#cc +ops@customer.example` to add or `#cc -bob@customer.example` to remove";
    let (sign, rest) = match args {
        [] => return Err(format!("#cc needs a sign and an address; {accepted}")),
        [one] => {
            let mut chars = one.chars();
            let sign = chars.next().unwrap_or(' ');
            (sign, chars.as_str())
        }
        [sign, addr] if sign.chars().count() == 1 => (sign.chars().next().unwrap_or(' '), *addr),
        more => {
            return Err(format!(
                "#cc takes one address per line, but the line has `{}`; {accepted}",
                more.join(" ")
            ))
        }
    };
    let add = match sign {
        '+' => true,
        '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}' => false,
        _ => return Err(format!("#cc needs + or - before the address; {accepted}")),
    };
    let written = rest;
    let email = address(strip_address_decoration(rest))
        .ok_or_else(|| format!("`{written}` is not a valid address; {accepted}"))?;
    Ok(if add {
        Command::CcAdd(email)
    } else {
        Command::CcRemove(email)
    })
}

/// `<a@b>` or `mailto:a@b` as the bare address.
fn strip_address_decoration(arg: &str) -> &str {
    let arg = arg.trim_start_matches('<').trim_end_matches('>');
    match arg.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => arg.get(7..).unwrap_or(""),
        _ => arg,
    }
}

/// A loosely valid address, lower-cased: one `@` with text on both sides, a dot-free domain
/// allowed (intranet hosts), no spaces, control characters or brackets. Whether the address
/// exists is for the mail system to say.
fn address(candidate: &str) -> Option<String> {
    let candidate = candidate.to_lowercase();
    let (local, domain) = candidate.split_once('@')?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"@".contains(c);
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.chars().any(bad);
    let local_ok = !local.is_empty() && !local.chars().any(bad);
    (local_ok && domain_ok).then_some(candidate)
}

/// A command name that `typed` abbreviates (three letters at least) or is within two edits of,
/// for the "did you mean" hint.
fn closest_name(typed: &str) -> Option<&'static str> {
    if typed.chars().count() >= 3 {
        if let Some(n) = NAMES.iter().find(|n| n.starts_with(typed)) {
            return Some(n);
        }
    }
    NAMES
        .iter()
        .map(|n| (edit_distance(typed, n), *n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Optimal-string-alignment distance: Levenshtein plus the swap of two neighbours (`stauts`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Names are short; anything much longer than a command name is not a typo of one.
    if a.len() > 20 {
        return usize::MAX;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::parse_commands;
    use super::*;

    #[test]
    fn time_accepts_the_usual_ways_of_writing_a_duration() {
        let rows: &[(&str, u32)] = &[
            ("45m", 45),
            ("1h", 60),
            ("1h30m", 90),
            ("1.5h", 90),
            ("1,5h", 90),
            ("90", 90),
            ("1h 30m", 90),
            ("1h30", 90),
            ("1:30", 90),
            ("90 min", 90),
            ("2 hours", 120),
            ("0.25h", 15),
            ("1.33h", 80),
            ("24h", 1440),
            ("1440", 1440),
            ("1H30M", 90),
        ];
        for (written, minutes) in rows {
            let p = parse_commands(&format!("#time {written}\nx"));
            assert_eq!(
                p.commands,
                vec![(1, Command::Time { minutes: *minutes })],
                "#time {written}: errors {:?}",
                p.errors
            );
        }
    }

    #[test]
    fn time_rejects_nothing_too_much_and_nonsense() {
        let rows: &[(&str, &str)] = &[
            ("0", "no time at all"),
            ("0h", "no time at all"),
            ("1441", "more than 24h"),
            ("25h", "more than 24h"),
            ("1.5", "not a duration"),
            ("abc", "not a duration"),
            ("1.5h30m", "not a duration"),
            ("-30m", "not a duration"),
            ("99999999999h", "not a duration"),
            ("45m fixing the router", "takes one duration"),
        ];
        for (written, fragment) in rows {
            let p = parse_commands(&format!("#time {written}\nx"));
            assert!(p.commands.is_empty(), "#time {written}: {:?}", p.commands);
            assert_eq!(p.errors.len(), 1, "#time {written}");
            assert!(
                p.errors[0].message.contains(fragment),
                "#time {written}: {}",
                p.errors[0].message
            );
        }
        let p = parse_commands("#time\n");
        assert!(p.errors[0].message.contains("needs the time spent"));
    }

    #[test]
    fn display_is_canonical_and_reads_back() {
        let all = [
            Command::Status(Status::Closed),
            Command::Priority(Priority::P1),
            Command::Assign("alice".into()),
            Command::Take,
            Command::Escalate,
            Command::Tier(2),
            Command::Time { minutes: 45 },
            Command::Time { minutes: 60 },
            Command::Time { minutes: 90 },
            Command::Note,
            Command::CcAdd("ops@customer.example".into()),
            Command::CcRemove("bob@customer.example".into()),
        ];
        for c in all {
            let written = c.to_string();
            let p = parse_commands(&written);
            assert_eq!(p.commands, vec![(1, c)], "{written}: {:?}", p.errors);
        }
        assert_eq!(Command::Time { minutes: 90 }.to_string(), "#time 1h30m");
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("stauts", "status"), 1);
        assert_eq!(edit_distance("prio", "priority"), 4);
        assert_eq!(closest_name("prio"), Some("priority"));
        assert_eq!(closest_name("asign"), Some("assign"));
        assert_eq!(closest_name("t"), None);
    }
}
