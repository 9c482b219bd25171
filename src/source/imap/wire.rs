//! The IMAP protocol helpers that need no connection: what an `imap://` URL says, UID sets,
//! quoted strings, and the server's words inside an async-imap error.
//!
//! Pure functions over text, tested here; session handling (`session.rs`) and connecting
//! (`connect.rs`) use them, never the other way round.

use std::fmt::Write as _;
use std::time::Duration;

/// How the connection is secured, from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Security {
    Plain,
    StartTls,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) security: Security,
    pub(super) host: String,
    pub(super) port: u16,
}

impl Endpoint {
    /// Parses `imap://host[:port]`, `imap+starttls://…` or `imaps://…`; an IPv6 host goes in
    /// brackets. A trailing path is ignored.
    pub(super) fn parse(url: &str) -> Result<Endpoint, String> {
        let bad = |why: &str| format!("{url:?} is not a usable IMAP URL: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "imap" => (Security::Plain, 143),
            "imap+starttls" => (Security::StartTls, 143),
            "imaps" => (Security::Tls, 993),
            _ => return Err(bad("the scheme must be imap, imap+starttls or imaps")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("put the user in `user`, not in the URL"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(after.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            None => default_port,
        };
        if port == 0 {
            return Err(bad("the port is not a number from 1 to 65535"));
        }
        Ok(Endpoint {
            security,
            host: host.to_string(),
            port,
        })
    }
}

/// A UID set in ranges, `1:5,7,9:12`, so batches stay short on the command line.
pub(super) fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut sorted: Vec<u32> = uids.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut rest = sorted.into_iter().peekable();
    while let Some(start) = rest.next() {
        let mut end = start;
        while let Some(&next) = rest.peek() {
            if end.checked_add(1) != Some(next) {
                break;
            }
            end = next;
            rest.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}:{end}");
        }
    }
    out
}

/// An IMAP quoted string; `None` for line breaks, which no quoting can carry.
pub(super) fn quote(s: &str) -> Option<String> {
    if s.contains(['\r', '\n']) {
        return None;
    }
    Some(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// A mailbox name as IMAP carries it: modified UTF-7 (RFC 3501 §5.1.3). Printable ASCII
/// stands for itself except `&`, which becomes `&-`; every other run of characters is UTF-16,
/// base64 with `,` for `/` and no padding, between `&` and `-`: `Traité` → `Trait&AOk-`.
pub(super) fn mailbox_utf7(name: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            // 1, 2 or 3 bytes give 2, 3 or 4 characters; no `=` padding.
            for i in 0..=chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Whether the server's words (a NO, BAD or BYE text) say it is throttling this client: `Some`
/// with the wait it suggests, if it names one. Recognised: RFC 5530's `[LIMIT]`, `[THROTTLED]`
/// and Exchange Online's "Request is throttled. Suggested Backoff Time: N milliseconds",
/// Gmail's "Account exceeded command or bandwidth limits" and "Too many simultaneous
/// connections", and Dovecot's "Maximum number of connections … exceeded".
pub(super) fn throttling(text: &str) -> Option<Option<Duration>> {
    let lower = text.to_ascii_lowercase();
    let signs = [
        "[limit]",
        "[throttled]",
        "throttl",
        "bandwidth limit",
        "too many simultaneous connections",
        "maximum number of connections",
    ];
    if !signs.iter().any(|s| lower.contains(s)) {
        return None;
    }
    let wait = lower
        .split_once("suggested backoff time:")
        .and_then(|(_, rest)| {
            let rest = rest.trim_start();
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let n: u64 = digits.parse().ok()?;
            let unit = rest[digits.len()..].trim_start();
            Some(if unit.starts_with("ms") || unit.starts_with("milli") {
                Duration::from_millis(n)
            } else {
                Duration::from_secs(n)
            })
        });
    Some(wait)
}

/// The server's own words from an async-imap NO/BAD error, which reads
/// `code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`.
pub(super) fn server_text(message: &str) -> String {
    message
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .map(|text| text.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_else(|| message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_lists_are_compressed_into_ranges() {
        assert_eq!(uid_set([9, 1, 2, 3, 4, 5, 7, 10, 11, 12, 3]), "1:5,7,9:12");
        assert_eq!(uid_set([42]), "42");
        assert_eq!(uid_set([u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        assert_eq!(uid_set(std::iter::empty()), "");
    }

    #[test]
    fn urls_give_security_host_and_port() {
        let e = |u: &str| Endpoint::parse(u).expect(u);
        assert_eq!(
            e("imap://127.0.0.1:1143"),
            Endpoint {
                security: Security::Plain,
                host: "127.0.0.1".into(),
                port: 1143
            }
        );
        assert_eq!(
            e("imaps://mail.example.net"),
            Endpoint {
                security: Security::Tls,
                host: "mail.example.net".into(),
                port: 993
            }
        );
        assert_eq!(
            e("imap+starttls://mx/"),
            Endpoint {
                security: Security::StartTls,
                host: "mx".into(),
                port: 143
            }
        );
        assert_eq!(
            e("imaps://[::1]:1993"),
            Endpoint {
                security: Security::Tls,
                host: "::1".into(),
                port: 1993
            }
        );
        for bad in [
            "http://x",
            "imap://",
            "imap://h:0",
            "imap://h:99999",
            "imap://u@h",
            "imaps://[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_text_is_taken_out_of_async_imap_errors() {
        let m = r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication \"failed\".")"#;
        assert_eq!(
            server_text(m),
            r#"[AUTHENTICATIONFAILED] Authentication "failed"."#
        );
        assert_eq!(
            server_text("code: None, info: None"),
            "code: None, info: None"
        );
    }

    #[test]
    fn mailbox_names_are_written_in_modified_utf7() {
        for (name, wire) in [
            ("INBOX", "INBOX"),
            ("Traité", "Trait&AOk-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            // RFC 3501 §5.1.3's example.
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe/Größe", "Entw&APw-rfe/Gr&APYA3w-e"),
            ("[Gmail]/Tous les messages", "[Gmail]/Tous les messages"),
            ("Ärger", "&AMQ-rger"),
            // Outside the BMP: a surrogate pair.
            ("Done 🎫", "Done &2Dzfqw-"),
        ] {
            assert_eq!(mailbox_utf7(name), wire, "{name}");
        }
    }

    #[test]
    fn throttling_is_recognised_with_the_wait_the_server_suggests() {
        let cases = [
            ("[LIMIT] Too many commands", Some(None)),
            ("[THROTTLED] slow down", Some(None)),
            (
                "Request is throttled. Suggested Backoff Time: 2000 milliseconds",
                Some(Some(Duration::from_secs(2))),
            ),
            (
                "Account exceeded command or bandwidth limits. (Failure)",
                Some(None),
            ),
            (
                "[ALERT] Too many simultaneous connections. (Failure)",
                Some(None),
            ),
            (
                "[UNAVAILABLE] Maximum number of connections from user+IP exceeded",
                Some(None),
            ),
            ("[AUTHENTICATIONFAILED] Authentication failed.", None),
            ("Logged out", None),
        ];
        for (text, expected) in cases {
            assert_eq!(throttling(text), expected, "{text}");
        }
    }

    #[test]
    fn mailbox_names_are_quoted() {
        assert_eq!(quote("INBOX").as_deref(), Some("\"INBOX\""));
        assert_eq!(quote(r#"a"b\c"#).as_deref(), Some(r#""a\"b\\c""#));
        assert_eq!(quote("a\r\nb"), None);
    }
}
