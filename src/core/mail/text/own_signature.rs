//! The writer's own name block, when the writer is known: an engineer's answer is relayed to the
//! customer under the reply template, which signs it with the engineer's name and the desk, so
//! the name block the engineer's client or hands put at the end ("Alice Martin / Network
//! Support / +31 20 …") would stand twice. [`without_own_signature`] removes it, from the line
//! that names the writer to the end, and keeps the closing above it ("Best regards,"), which
//! reads on into the template's signature.
//!
//! Only a block at the end is taken, and only from a line that is the writer's name: their full
//! name, their first name alone, or the full name with a short title after a separator ("Alice
//! Martin | Network Support"). Below it only short lines may follow (a title, a company, a
//! phone number, an address), at most four. A sentence that names the writer ("Alice Martin
//! will call you at 10:00.") is not a name line, and a name among the last lines with a
//! sentence below it is not a signature.

use super::line::{clean, is_blank};

/// Non-blank lines at the end of a text among which the name line is looked for.
const LOOK_BACK: usize = 6;
/// Lines a signature block may have below the name line.
const MAX_BELOW: usize = 4;

/// `text` without the writer's own name block at its end (see the module documentation), its
/// end trimmed; `text` as it is (its end trimmed) when there is none. `name` is the writer's
/// name as the desk knows it ("Alice Martin").
pub fn without_own_signature<'t>(text: &'t str, name: &str) -> &'t str {
    let name = name.trim();
    if name.is_empty() {
        return text.trim_end();
    }
    let lines: Vec<(usize, &str)> = line_starts(text).filter(|(_, l)| !is_blank(l)).collect();
    let tail = &lines[lines.len().saturating_sub(LOOK_BACK)..];
    for (k, &(start, line)) in tail.iter().enumerate() {
        let below = &tail[k + 1..];
        let content_above = lines.len() > tail.len() || k > 0;
        if content_above
            && below.len() <= MAX_BELOW
            && is_own_name_line(clean(line), name)
            && below.iter().all(|(_, l)| is_signature_line(clean(l)))
        {
            return text[..start].trim_end();
        }
    }
    text.trim_end()
}

/// Each line of `text` with the byte offset it starts at.
fn line_starts(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |at, line| {
        let start = *at;
        *at += line.len();
        Some((start, line))
    })
}

/// The writer's name on a line: the full name or the first name alone (after a dash some write
/// before it: "- Alice", "– Alice Martin"), or the full name and a short title after a
/// separator ("Alice Martin | NOC", "Alice Martin, Network Support", "Alice Martin (tier 2)").
fn is_own_name_line(line: &str, name: &str) -> bool {
    let line = line
        .trim_start_matches(['-', '–', '—', '~'])
        .trim_start()
        .trim_end_matches([',', '.']);
    let first = name.split_whitespace().next().unwrap_or(name);
    if eq_caseless(line, name) || (first.chars().count() >= 2 && eq_caseless(line, first)) {
        return true;
    }
    let Some(rest) = strip_prefix_caseless(line, name) else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with([',', '|', '-', '–', '—', '(', '/', '·', '•'])
        && rest.chars().count() <= 50
        && !rest.ends_with(['.', '?', '!', ':'])
}

/// A line a signature block may hold below the name: short, not a sentence.
fn is_signature_line(line: &str) -> bool {
    line.chars().count() <= 60
        && line.split_whitespace().count() <= 8
        && !line.ends_with(['?', '!', ':'])
        && !line.contains(". ")
}

fn eq_caseless(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// `line` after `prefix`, compared without case, if it starts with it.
fn strip_prefix_caseless<'l>(line: &'l str, prefix: &str) -> Option<&'l str> {
    let mut rest = line.char_indices();
    for p in prefix.chars() {
        let (_, c) = rest.next()?;
        if !c.to_lowercase().eq(p.to_lowercase()) {
            return None;
        }
    }
    Some(rest.next().map_or("", |(i, _)| &line[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "Alice Martin";

    #[test]
    fn an_outlook_signature_block_goes_and_the_closing_stays() {
        // Outlook's signature as the review's walkthrough relayed it: closing, name, title,
        // company, phone.
        let text = "The optic was reseated; the link is up.\r\n\r\nBest regards,\r\n\r\nAlice Martin\r\nNetwork Support Engineer\r\nProvider B.V.\r\n+31 20 123 4567\r\n";
        assert_eq!(
            without_own_signature(text, ALICE),
            "The optic was reseated; the link is up.\r\n\r\nBest regards,"
        );
    }

    #[test]
    fn a_first_name_or_a_name_with_a_title_goes() {
        assert_eq!(
            without_own_signature("Done.\n\nThanks,\nAlice\n", ALICE),
            "Done.\n\nThanks,"
        );
        assert_eq!(
            without_own_signature("Done.\n\n- alice martin | NOC Amsterdam\n", ALICE),
            "Done."
        );
        assert_eq!(
            without_own_signature("Done.\n\nAlice Martin, Network Support\nProvider\n", ALICE),
            "Done."
        );
    }

    #[test]
    fn sentences_and_other_names_stay() {
        for text in [
            "The engineer on site is Bob.\n\nAlice Martin will call you at 10:00.",
            "Please ask for\nAlice\nat the reception, she has your badge ready for you today.",
            "Done.\n\nThanks,\nBob Jansen\nNetwork Support",
            "Alice",
            "Done.\n\nAlice Martin\nPlease confirm that the link stays up over the weekend.",
        ] {
            assert_eq!(without_own_signature(text, ALICE), text, "{text:?}");
        }
    }

    #[test]
    fn a_long_block_below_the_name_is_not_a_signature() {
        let text = "Done.\n\nAlice Martin\nNOC\nProvider\nAmsterdam\nNetherlands\n+31 20 123 4567";
        assert_eq!(without_own_signature(text, ALICE), text);
    }

    #[test]
    fn names_are_compared_without_case_and_with_accents() {
        assert_eq!(
            without_own_signature(
                "C'est réparé.\n\nCordialement,\nFRANÇOIS LÉVÊQUE\n",
                "François Lévêque"
            ),
            "C'est réparé.\n\nCordialement,"
        );
    }
}
