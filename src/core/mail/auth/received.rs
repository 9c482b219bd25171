//! `Received` header values: which host handed the mail over, as the receiving MTA recorded it
//! (the address, and the name it looked up for that address), told apart from what the sender
//! claimed in HELO.

use std::sync::LazyLock;

use regex::Regex;

use crate::core::mail::pattern::re;

/// From a `Received` value, the connecting host as the receiving MTA recorded it: the IP address
/// and, when the MTA wrote one, the name it looked up for that address.
///
/// Postfix and Sendmail write `from HELO (NAME [IP]) by …` (NAME `unknown` without reverse DNS),
/// Exim `from NAME ([IP] helo=HELO) by …` or `from [IP] (helo=HELO) by …`, Microsoft `from HELO
/// (IP) by …`. The HELO is the sender's own words, and Postfix accepts almost anything there,
/// spaces and brackets included, so a forged `(relay.internal [10.0.0.5]) by x` can precede the
/// real comment. The MTA's comment is therefore the *last* `(… [IP] …) by` in the value: what
/// follows it the MTA wrote itself. A name counts only inside that comment (Postfix, Sendmail);
/// Exim's name outside it looks exactly like Sendmail's HELO, so Exim relays are known by address.
pub(super) fn received_from(value: &str) -> Option<(Option<String>, String)> {
    let value = value.trim_start();
    if !value
        .get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("from "))
    {
        return None;
    }
    if let Some(c) = MTA_COMMENT.captures_iter(value).last() {
        let ip = normalize_host(c.name("ip").or_else(|| c.name("bare"))?.as_str());
        let name = c
            .name("name")
            // Sendmail may write the ident user: `(user@name [IP])`.
            .map(|n| normalize_host(n.as_str().rsplit('@').next().unwrap_or("")))
            .filter(|n| !n.is_empty() && n != "unknown" && !looks_like_ip(n));
        return looks_like_ip(&ip).then_some((name, ip));
    }
    let c = EXIM_LITERAL.captures(value)?;
    let ip = normalize_host(c.name("ip")?.as_str());
    looks_like_ip(&ip).then_some((None, ip))
}

/// The MTA's comment on the connecting host, followed by `by`: `(NAME [IP])`, `([IP] helo=x)` or
/// Microsoft's `(IP)`.
static MTA_COMMENT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\((?:(?P<name>[^\s()\[\]]+)\s+)?\[(?:ipv6:)?(?P<ip>[0-9a-f:.]+)\][^()]*\)\s+by\s|\((?P<bare>[0-9a-f:.]+)\)\s+by\s",
    )
});

/// Exim without reverse DNS: `from [IP] (helo=x) by …`. Used only when there is no MTA comment,
/// which Postfix and Sendmail always write, so a Postfix HELO of `[IP]` cannot pass for it.
static EXIM_LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^from\s+\[(?:ipv6:)?(?P<ip>[0-9a-f:.]+)\](?:\s+\(helo=[^()]*\))?\s+by\s")
});

/// A host or address for comparison: lower-case, no brackets, no `IPv6:` tag, no final dot.
pub(super) fn normalize_host(s: &str) -> String {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let s = match s.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("ipv6:") => s.get(5..).unwrap_or(""),
        _ => s,
    };
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// An IPv4 or IPv6 literal, loosely: hex digits, dots and colons, with at least one separator.
/// Parsing it properly would need `std::net`, which the core stays away from; this only tells
/// an address from a name.
fn looks_like_ip(s: &str) -> bool {
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':');
    let v4 = s.split('.').count() == 4
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    !s.is_empty() && chars_ok && (v4 || s.contains(':'))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const EXIM_RELAY: &str = "from relay.internal ([10.0.0.5] helo=whatever) by mx.desk.example with esmtps (TLS1.3) (Exim 4.97) id 1rX; Mon, 6 May 2024 10:00:00 +0000";
    pub(crate) const POSTFIX_RELAY: &str = "from relay.internal (relay.internal [10.0.0.5]) by mx.desk.example (Postfix) with ESMTP id 4XyZ1; Mon, 6 May 2024 10:00:00 +0000";

    #[test]
    fn received_from_finds_the_name_the_mta_looked_up() {
        // What the MTA recorded: the name it looked up, if any, and the address.
        type Seen = Option<(Option<&'static str>, &'static str)>;
        let rows: &[(&str, Seen)] = &[
            (POSTFIX_RELAY, Some((Some("relay.internal"), "10.0.0.5"))),
            (
                "from helo.example (unknown [192.0.2.1]) by mx (Postfix)",
                Some((None, "192.0.2.1")),
            ),
            (
                "from [192.0.2.1] (helo=x) by mx with esmtp",
                Some((None, "192.0.2.1")),
            ),
            (
                "from [192.0.2.1] by mx with esmtp",
                Some((None, "192.0.2.1")),
            ),
            (EXIM_RELAY, Some((None, "10.0.0.5"))),
            (
                "from x (relay.internal [10.0.0.5]) by y (unknown [203.0.113.9]) by mx (Postfix)",
                Some((None, "203.0.113.9")),
            ),
            (
                "from x (user@host.example [192.0.2.1]) by mx (8.17.1/8.17.1)",
                Some((Some("host.example"), "192.0.2.1")),
            ),
            ("by mx.desk.example with LMTP id 7", None),
            ("from localhost by mx with local", None),
            ("from x ([not an ip]) by mx", None),
        ];
        for (value, want) in rows {
            let got = received_from(value);
            let want = want.map(|(h, ip)| (h.map(str::to_string), ip.to_string()));
            assert_eq!(got, want, "{value}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(value in any::<String>()) {
            let _ = received_from(&value);
        }
    }
}
