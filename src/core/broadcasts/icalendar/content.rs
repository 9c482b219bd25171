//! RFC 5545 content lines, the text layer under every calendar object: TEXT values escaped and
//! unescaped, lines folded at 75 octets without splitting a UTF-8 character and unfolded again,
//! a line split into its name, parameters and value, and UTC date-times.

use chrono::{DateTime, NaiveDateTime, Utc};

/// One property of a content line, after unfolding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContentLine {
    pub(super) name: String,
    pub(super) params: Vec<(String, String)>,
    pub(super) value: String,
}
/// Escapes a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines. A CR LF
/// or lone CR counts as one newline; other control characters, which TEXT cannot hold, are
/// dropped.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_text`]; an unknown escape keeps the escaped character.
pub fn unescape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Folds one content line (RFC 5545 3.1): no physical line longer than 75 octets, breaks only
/// between characters, each continuation starting with a space; every line ends in CRLF.
pub fn fold(content: &str) -> String {
    let mut out = String::with_capacity(content.len() + content.len() / 70 * 3 + 2);
    let mut width = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

/// Undoes folding: a line starting with a space or a tab continues the previous one. Accepts
/// CRLF or bare LF line ends.
pub(super) fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for physical in text.split('\n') {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        match (physical.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(physical.to_string()),
        }
    }
    lines
}

/// Splits `NAME;PARAM=VALUE;…:value`, honouring quoted parameter values.
pub(super) fn content_line(line: &str) -> Result<ContentLine, String> {
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon.ok_or_else(|| format!("content line without ':': {line:?}"))?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts
        .next()
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("content line without a name: {line:?}"))?;
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_uppercase(),
                v.trim_matches('"').to_string(),
            ))
        })
        .collect();
    Ok(ContentLine {
        name,
        params,
        value: value.to_string(),
    })
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

pub(super) fn parse_utc(value: &str) -> Option<DateTime<Utc>> {
    let bare = value.trim().strip_suffix('Z')?;
    NaiveDateTime::parse_from_str(bare, "%Y%m%dT%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

pub(super) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A parameter value for inside double quotes: no quotes or control characters.
pub(super) fn param_text(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect()
}

pub(super) fn text_property(out: &mut String, name: &str, value: &str) {
    line(out, &format!("{name}:{}", escape_text(value)));
}

pub(super) fn line(out: &mut String, content: &str) {
    out.push_str(&fold(content));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_escaping() {
        let table = [
            ("plain", "plain"),
            ("a,b;c\\d", "a\\,b\\;c\\\\d"),
            ("one\ntwo", "one\\ntwo"),
            ("one\r\ntwo\rthree", "one\\ntwo\\nthree"),
            ("bell\u{7}gone", "bellgone"),
            ("tab\tkept", "tab\tkept"),
            ("colon: fine", "colon: fine"),
        ];
        for (raw, escaped) in table {
            assert_eq!(escape_text(raw), escaped, "{raw:?}");
        }
        assert_eq!(unescape_text("a\\,b\\;c\\\\d\\Ne\\x"), "a,b;c\\d\nex");
    }

    #[test]
    fn folding_at_75_octets_never_splits_a_character() {
        // 74 ASCII octets then a 2-octet character: it must move to the next line whole.
        let line = format!("{}é{}", "x".repeat(74), "y".repeat(80));
        let folded = fold(&line);
        let physical: Vec<&str> = folded.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(physical[0], "x".repeat(74));
        assert!(physical[1].starts_with(" é"));
        for p in &physical {
            assert!(p.len() <= 75, "{} octets: {p:?}", p.len());
        }
        assert_eq!(unfold(&folded).concat(), line);
        assert_eq!(fold("short"), "short\r\n");
        assert_eq!(fold(&"z".repeat(75)).len(), 75 + 2);
    }

    proptest! {
        #[test]
        fn escaping_round_trips_text_without_control_characters(text in "[^\\p{Cc}]{0,200}") {
            prop_assert_eq!(unescape_text(&escape_text(&text)), text);
        }
    }
}
