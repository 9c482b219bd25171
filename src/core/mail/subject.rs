//! Subjects: ticket references in `[REF]` form, and reply/forward prefixes of the common languages.
//!
//! A reference is written into every subject deskgate sends and read back from every subject it
//! receives; the two functions here are each other's inverse (property-tested below).

/// Reply and forward prefixes, lower-case, without the colon: English, German, French,
/// Portuguese, Spanish, Italian, Dutch, Scandinavian, Polish, Turkish and Outlook variants.
const PREFIXES: &[&str] = &[
    "re", "aw", "antw", "antwort", "tr", "réf", "ref", "rép", "rep", "res", "r", "sv", "vs", "wg",
    "fw", "fwd", "rv", "enc", "doorst", "odp", "ynt", "fs", "vb", "rif", "i", "trs", "πλ", "回复",
    "转发",
];

/// Writes a reference the way it appears in subjects: `[NL-000123]`.
pub fn tag(reference: &str) -> String {
    format!("[{reference}]")
}

/// Every well-formed `[REF]` in a subject, in order. A reference is an upper-case prefix of 1–12
/// letters or digits starting with a letter, a dash, and at least four digits.
pub fn find_refs(subject: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = subject;
    while let Some(start) = rest.find('[') {
        let after = &rest[start + 1..];
        match after.find(']') {
            Some(end) => {
                let candidate = after[..end].trim();
                if is_ref(candidate) && !refs.iter().any(|r| r == candidate) {
                    refs.push(candidate.to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    refs
}

/// True when `s` has the shape of a ticket reference.
pub fn is_ref(s: &str) -> bool {
    let Some((prefix, number)) = s.split_once('-') else {
        return false;
    };
    let mut p = prefix.chars();
    matches!(p.next(), Some(c) if c.is_ascii_uppercase())
        && prefix.len() <= 12
        && p.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && number.len() >= 4
        && number.len() <= 12
        && number.chars().all(|c| c.is_ascii_digit())
}

/// A reference as a person typed it (`nl-000123`, ` NL-000123 `), in the form it is stored
/// and shown in: references are upper-case (ref prefixes must be), people type them as they
/// please.
pub fn typed_ref(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

/// The subject for display: reply/forward prefixes (repeated, any case, `RE[2]:`, `Réf :`) and
/// ticket tags removed, whitespace collapsed.
pub fn normalize(subject: &str) -> String {
    let collapsed = collapse(subject);
    // Work on a shrinking slice: each pass looks at a bounded head only, so a hostile subject of
    // a million "Re: " costs linear time, not quadratic.
    let mut rest: &str = &collapsed;
    loop {
        let before = rest.len();
        rest = strip_leading_tags(strip_one_prefix(rest));
        if rest.len() == before {
            break;
        }
    }
    rest.trim().to_string()
}

/// True when the subject starts with a forward prefix (used to note forwarded mail).
pub fn is_forward(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    ["fw", "fwd", "tr", "wg", "enc", "rv", "doorst", "i", "vs"]
        .iter()
        .any(|p| prefix_len(&lower, p).is_some())
}

/// Collapses a subject or any header value onto one line: no CR, LF or other control character
/// survives (a template's or an ops form's text cannot inject a header).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_leading_tags(s: &str) -> &str {
    let t = s.trim_start();
    if let Some(after) = t.strip_prefix('[') {
        if let Some(end) = after.find(']') {
            if is_ref(after[..end].trim()) {
                return after[end + 1..].trim_start();
            }
        }
    }
    // A tag may also sit at the end or in the middle: "link down [NL-0001]".
    t
}

fn strip_one_prefix(s: &str) -> &str {
    let t = s.trim_start();
    // Every prefix with its counter, spaces and colon fits in 32 bytes.
    let mut end = t.len().min(32);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    let head = &t[..end];
    let lower = head.to_lowercase();
    // Only strip when lower-casing kept byte offsets (true for every prefix in the table).
    if lower.len() != head.len() {
        return t;
    }
    for p in PREFIXES {
        if let Some(n) = prefix_len(&lower, p) {
            return t[n..].trim_start();
        }
    }
    t
}

/// Length of `prefix` plus its optional counter (`[2]`, `(2)`), spaces and colon at the start of
/// `lower`, when present.
fn prefix_len(lower: &str, prefix: &str) -> Option<usize> {
    let rest = lower.strip_prefix(prefix)?;
    let mut n = prefix.len();
    let mut chars = rest.char_indices().peekable();
    // Optional counter: RE[2]: or RE(2):
    if let Some(&(_, open)) = chars.peek() {
        if open == '[' || open == '(' {
            let close = if open == '[' { ']' } else { ')' };
            let end = rest.find(close)?;
            if !rest[1..end].chars().all(|c| c.is_ascii_digit()) || end == 1 {
                return None;
            }
            n += end + 1;
            chars = rest[end + 1..].char_indices().peekable();
        }
    }
    let after = &lower[n..];
    let trimmed = after.trim_start_matches([' ', '\u{a0}']);
    let spaces = after.len() - trimmed.len();
    if trimmed.starts_with(':') || trimmed.starts_with('：') {
        let colon = trimmed.chars().next().map(char::len_utf8).unwrap_or(1);
        drop(chars);
        Some(n + spaces + colon)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefixes_of_the_common_languages_are_stripped() {
        let cases = [
            ("RE: [NL-000001] Link down", "Link down"),
            ("AW: Link down", "Link down"),
            ("TR: Link down", "Link down"),
            ("Réf : Link down", "Link down"),
            ("RES: Link down", "Link down"),
            ("R: Link down", "Link down"),
            ("SV: Link down", "Link down"),
            ("Fwd: Re: RE[2]: Link down", "Link down"),
            ("Re : Re: WG: Link down", "Link down"),
            ("Antw: [NL-000001] Link down", "Link down"),
            ("Reunion de equipo", "Reunion de equipo"),
            ("Re:", ""),
            ("  Link   down ", "Link down"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "normalize({input:?})");
        }
    }

    #[test]
    fn a_reference_typed_in_any_case_is_read_as_stored() {
        for typed in ["nl-000123", "Nl-000123", " NL-000123 "] {
            assert_eq!(typed_ref(typed), "NL-000123");
            assert!(is_ref(&typed_ref(typed)));
        }
    }

    #[test]
    fn a_subject_of_a_million_prefixes_is_normalised_in_linear_time() {
        let hostile = "Re: ".repeat(250_000) + "Link down";
        // Quadratic, this took minutes; speed itself is a benchmark's business, not a test's.
        assert_eq!(normalize(&hostile), "Link down");
    }

    #[test]
    fn refs_are_found_anywhere_in_the_subject() {
        assert_eq!(find_refs("RE: [NL-000042] x"), vec!["NL-000042"]);
        assert_eq!(
            find_refs("x [PT-1234] y [NL-000042]"),
            vec!["PT-1234", "NL-000042"]
        );
        assert!(find_refs("[nl-000042] [NL-12] [NL000042] [] [").is_empty());
    }

    #[test]
    fn forwards_are_recognised() {
        assert!(is_forward("Fwd: x"));
        assert!(is_forward("TR: x"));
        assert!(!is_forward("Re: x"));
        assert!(!is_forward("Trouble: x"));
    }

    proptest! {
        #[test]
        fn normalizing_twice_changes_nothing(s in "\\PC{0,60}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
        }

        #[test]
        fn a_reference_survives_a_round_trip_through_a_subject(
            prefix in "[A-Z][A-Z0-9]{0,5}", n in 0u32..10_000_000, text in "\\PC{0,40}", re in "(RE: |AW: |Réf : |TR: |)"
        ) {
            let reference = format!("{prefix}-{n:06}");
            let subject = format!("{re}{} {text}", tag(&reference));
            prop_assert!(find_refs(&subject).contains(&reference));
        }
    }
}
