//! Signatures: what follows a `-- ` line, the footers of mobile apps, and a few shapes that need
//! no delimiter because nothing else looks like them at the end of a mail: a block of contact
//! lines (name, address, phone, web site), a rule followed by such a block or by a name alone,
//! a `-Name` line, and a mailing list's footer. A closing line ("Thanks, Jane") is the writer's
//! and stays.

use super::footer::is_mobile_footer;
use super::line::{clean, is_blank};
use crate::core::mail::pattern::re;
use regex::Regex;
use std::sync::LazyLock;

/// Removes the signature among the kept lines before `end` (clearing their `keep` flags), and
/// tells whether there was one.
pub(super) fn remove(lines: &[&str], keep: &mut [bool], end: usize) -> bool {
    let mut removed = false;
    if let Some(start) = signature_start(lines, keep, end) {
        removed = true;
        keep[start..end].iter_mut().for_each(|k| *k = false);
    }
    for i in 0..end {
        if keep[i] && is_mobile_footer(lines[i]) {
            removed = true;
            keep[i] = false;
            if let Some(name) = name_above(lines, keep, i) {
                keep[name] = false;
            }
        }
    }
    // Each shape can uncover another above it (a `-Name` line above a list footer).
    for _ in 0..3 {
        let Some(start) = trailing_signature(lines, keep, end) else {
            break;
        };
        removed = true;
        keep[start..end].iter_mut().for_each(|k| *k = false);
    }
    removed
}

/// Non-blank lines after a bare `--` (without the trailing space) up to which it is still taken
/// for a signature delimiter. Many clients and converters drop the space, but a bare `--` can also
/// be a writer's own separator with real text below, so a long tail is not cut.
const MAX_BARE_SIGNATURE_LINES: usize = 15;

/// The first line of the signature among the kept lines before `end`, if there is one: the first
/// `-- ` line, or the first bare `--` line with a short enough tail.
pub(super) fn signature_start(lines: &[&str], keep: &[bool], end: usize) -> Option<usize> {
    // Kept non-blank lines after each line, counted once from the end so that many `--` lines
    // cost no more than one.
    let mut after = vec![0usize; end];
    let mut count = 0;
    for i in (0..end).rev() {
        after[i] = count;
        if keep[i] && !is_blank(lines[i]) {
            count += 1;
        }
    }
    (0..end).find(|&i| {
        keep[i]
            && lines[i].trim_end() == "--"
            // A `-- ` with its space (or a non-breaking one from HTML) is the standard delimiter.
            && (lines[i] != "--" || after[i] <= MAX_BARE_SIGNATURE_LINES)
    })
}

/// The line above a mobile footer at `footer` when it is the writer's name on a line of its own
/// that starts a paragraph ("Jane Roe" / "via mobile"): the footer's signature block. A closing
/// word ("Best regards") is not a name.
fn name_above(lines: &[&str], keep: &[bool], footer: usize) -> Option<usize> {
    let name = footer.checked_sub(1)?;
    let starts_paragraph = name == 0 || is_blank(lines[name - 1]);
    (keep[name] && starts_paragraph && is_full_name(clean(lines[name]))).then_some(name)
}

/// Two or three capitalised words of letters: "Jane Roe", "Jean-Luc Picard".
fn is_full_name(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    line.len() <= 40
        && (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '’' | '.'))
        })
        && !CLOSING.is_match(line)
}

/// True when `lines` (non-blank, in order) are only a sign-off: a short closing ("Thanks,",
/// "Regards, Roman", "Mit freundlichen Grüßen") and at most two short lines under it (a name).
pub(super) fn is_sign_off(lines: &[&str]) -> bool {
    let Some((first, rest)) = lines.split_first() else {
        return false;
    };
    let first = clean(first);
    let starts_with_closing = CLOSING.find(first).is_some_and(|m| m.start() == 0);
    starts_with_closing
        && first.chars().count() <= 40
        && first.split_whitespace().count() <= 5
        && rest.len() <= 2
        && rest
            .iter()
            .all(|l| clean(l).chars().count() <= 30 && clean(l).split_whitespace().count() <= 3)
}

/// How many kept lines the shapes at the end of a mail may span.
const MAX_TRAILING_LINES: usize = 14;

/// The first line of a signature at the end of the kept lines before `end`, in one of the shapes
/// that need no `-- ` delimiter.
fn trailing_signature(lines: &[&str], keep: &[bool], end: usize) -> Option<usize> {
    // The last kept non-blank lines, bottom up. Walking back over removed and blank lines costs
    // at most one pass over the mail per call.
    let mut tail: Vec<usize> = Vec::new();
    let mut i = end;
    while i > 0 && tail.len() <= MAX_TRAILING_LINES {
        i -= 1;
        if keep[i] && !is_blank(lines[i]) {
            tail.push(i);
        }
    }
    let content_above = |at: usize| (0..at).rev().any(|j| keep[j] && !is_blank(lines[j]));
    if let Some(start) = rule_and_signature(lines, &tail) {
        return content_above(start).then_some(start);
    }
    if let Some(start) = contact_block(lines, keep, &tail) {
        return content_above(start).then_some(start);
    }
    let last = *tail.first()?;
    let above = tail.get(1).map(|&j| clean(lines[j]));
    let dashed_name = DASH_NAME.is_match(clean(lines[last]))
        && above.is_some_and(|a| !a.starts_with(['-', '–', '—', '*', '•']) && !a.ends_with(':'));
    dashed_name.then_some(last)
}

/// A rule (`---`, `____`, `-----------`) that a signature or a mailing list's footer follows:
/// a few short lines, at least one of them a contact line, one to three lines that only name
/// someone ("Roman"), or one or two lines under a long rule of underscores (Discourse's trimmer,
/// `embedded_email_7`). A rule that frames a block (another rule below), or that a line ending in
/// a colon introduces, frames the writer's own text and is not taken.
fn rule_and_signature(lines: &[&str], tail: &[usize]) -> Option<usize> {
    let mut contacts = 0;
    let mut names_only = true;
    // `n`: how many lines (bottom up) came before this one, all of them under the rule if it is.
    for (n, &i) in tail.iter().enumerate() {
        let l = clean(lines[i]);
        if is_rule(l) {
            let introduced = tail
                .get(n + 1)
                .is_some_and(|&j| clean(lines[j]).ends_with(':'));
            // A long rule of underscores is what clients and list software put above a footer:
            // one or two lines under it are one, whatever they say.
            let underscores = l.len() >= 10 && l.chars().all(|c| c == '_');
            let signature = contacts > 0 || (n <= 3 && names_only) || (n <= 2 && underscores);
            return (n > 0 && signature && !introduced).then_some(i);
        }
        if l.chars().count() > 72 || l.ends_with([':', '?']) {
            return None;
        }
        contacts += usize::from(is_contact_line(l));
        names_only &= l.chars().count() <= 40
            && l.chars().next().is_some_and(char::is_uppercase)
            && !l.ends_with(['.', '!'])
            && l.split_whitespace().count() <= 4;
    }
    None
}

/// The last paragraph when it is a block of contact lines: two to eight short lines, at least two
/// of them an address, a phone number or a web site, none ending in a colon or a question mark
/// (which would make it the writer's own list).
fn contact_block(lines: &[&str], keep: &[bool], tail: &[usize]) -> Option<usize> {
    let last = *tail.first()?;
    let mut start = last;
    while start > 0 && keep[start - 1] && !is_blank(lines[start - 1]) && last - start < 8 {
        start -= 1;
    }
    let paragraph: Vec<&str> = (start..=last).map(|j| clean(lines[j])).collect();
    let contacts = paragraph.iter().filter(|l| is_contact_line(l)).count();
    let fits = (2..=8).contains(&paragraph.len())
        && (start == 0 || !keep[start - 1] || is_blank(lines[start - 1]))
        && paragraph
            .iter()
            .all(|l| l.chars().count() <= 60 && !l.ends_with([':', '?']));
    (fits && contacts >= 2).then_some(start)
}

/// A line that is an address, a web site or a phone number, with at most a short label ("t.",
/// "Tel:", "skype:"): at most four words.
fn is_contact_line(line: &str) -> bool {
    line.chars().count() <= 50
        && line.split_whitespace().count() <= 4
        && (EMAIL.is_match(line)
            || WEB.is_match(line)
            || CONTACT_LABEL.is_match(line)
            || is_phone(line))
}

/// Seven digits or more, with nothing but spaces, dashes, dots, slashes, brackets and a `+`
/// between them, after an optional short label; an IPv4 address is not a phone number.
fn is_phone(line: &str) -> bool {
    let number =
        line.trim_start_matches(|c: char| c.is_alphabetic() || matches!(c, '.' | ':' | ' '));
    number.chars().filter(char::is_ascii_digit).count() >= 7
        && number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '/' | '(' | ')' | '+'))
        && !IPV4.is_match(number)
}

/// True for a horizontal rule of three or more characters: dashes, underscores, equals signs,
/// stars, tildes (a `--` is a signature delimiter, handled apart).
fn is_rule(line: &str) -> bool {
    line.chars().count() >= 3
        && line
            .chars()
            .all(|c| matches!(c, '-' | '_' | '=' | '*' | '~'))
}

/// A signature of one name after a dash: `-Jane`, `- jane`, `-Jane Roe.`
/// Only the ASCII hyphen of plain text: a typographic dash (`—Ryan`) is typed by word
/// processors and phones as a closing, which stays like other closings (Discourse's trimmer
/// keeps it, `embedded_email_19`).
static DASH_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^-\s?\p{L}[\p{L}'’.\-]{0,20}(?:\s\p{L}[\p{L}'’.\-]{0,20}){0,2}$"));

/// The closing words of the desks' languages, which can look like a name ("Best Regards").
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:regards|thanks|thank|cheers|best|greetings|gruß|grüße|grüssen|grüßen|mit\s+freundlichen|merci|cordialement|bien\s+à\s+vous|saludos|un\s+saludo|atentamente|grazie|cordiali|groeten|met\s+vriendelijke|obrigad[oa]|atenciosamente|saluti|kind|sincerely)\b",
    )
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"));

static WEB: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?:https?://|www\.)\S+"));

/// A contact label with a value: "skype: jane", "Tel: 0800 …", "M: …".
static CONTACT_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:skype|tel|phone|mobile|mob|cell|fax|e-?mail|web|linkedin|twitter)\s*[:.]\s*\S")
});

static IPV4: LazyLock<Regex> = LazyLock::new(|| re(r"^\d{1,3}(?:\.\d{1,3}){3}$"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_dashes_only_start_a_short_signature() {
        let lines = ["text", "--", "Jane"];
        assert_eq!(signature_start(&lines, &[true; 3], 3), Some(1));
        let mut long = vec!["text", "--"];
        long.extend(std::iter::repeat_n("more text", 20));
        let keep = vec![true; long.len()];
        assert_eq!(signature_start(&long, &keep, long.len()), None);
        long.push("--");
        long.push("Jane");
        let keep = vec![true; long.len()];
        assert_eq!(signature_start(&long, &keep, long.len()), Some(22));
        long[1] = "-- ";
        assert_eq!(signature_start(&long, &keep, long.len()), Some(1));
    }

    fn removed(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut keep = vec![true; lines.len()];
        remove(&lines, &mut keep, lines.len());
        lines
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| l.to_string())
            .collect()
    }

    #[test]
    fn signature_shapes_without_a_delimiter() {
        assert_eq!(removed("Hey!\n-roman"), ["Hey!"]);
        assert_eq!(removed("Hey!\n\n- roman"), ["Hey!", ""]);
        assert_eq!(removed("Hey man!\n---\nRoman"), ["Hey man!"]);
        assert_eq!(
            removed("Text.\n\nJane Roe\njane@example.com\n(555) 346-9947\nwww.example.com"),
            ["Text.", ""]
        );
        assert_eq!(
            removed("Text.\n\n-Jane\n\n______\nlist mailing list\nlist@example.com\nhttp://example.com/list"),
            ["Text.", ""]
        );
        assert_eq!(removed("Text.\n\nJane Roe\nvia mobile"), ["Text.", ""]);
        assert_eq!(
            removed("Text.\n\n_______________________\nAnd here's my signature."),
            ["Text.", ""]
        );
        // A typographic dash before a name is a closing, and stays.
        assert_eq!(removed("Text.\n\n—Ryan"), ["Text.", "", "—Ryan"]);
    }

    #[test]
    fn sign_offs_are_a_closing_and_a_name() {
        for lines in [
            &["Regards, Roman"][..],
            &["Thanks,", "Jane"],
            &["Mit freundlichen Grüßen", "Bob Smith"],
            &["Cheers"],
        ] {
            assert!(is_sign_off(lines), "{lines:?}");
        }
        for lines in [
            &["Thanks for the quick fix, it works again now"][..],
            &["fra1-edge-02 only."],
            &["Thanks,", "Jane", "NOC", "Berlin"],
            &[],
        ] {
            assert!(!is_sign_off(lines), "{lines:?}");
        }
    }

    #[test]
    fn the_writers_own_text_is_not_a_signature() {
        for text in [
            "Things to check:\n- cable",
            "Steps:\n- reboot\n- check",
            "Logs:\n-----\nerror one\nerror two",
            "Output\n-----\nError One\n-----",
            "Please call me back:\n+49 30 1234567\njane@example.com",
            "The hosts are\n10.0.0.1\n192.168.100.200",
            "Thanks,\nJane",
            "Best Regards\nSent from my iPhone",
        ] {
            let kept = removed(text);
            let expected: Vec<String> = text
                .lines()
                .filter(|l| !is_mobile_footer(l))
                .map(String::from)
                .collect();
            assert_eq!(kept, expected, "{text:?}");
        }
    }
}
