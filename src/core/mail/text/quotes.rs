//! Which lines are quoted: `>`-quoted lines (any nesting), `|`-quoted and Supercite-quoted
//! (`JD> text`) blocks, the fragments of a quoted line that a client wrapped without its `>`,
//! and the snip marks that stand for text left out of a quote.

use super::line::{clean, is_blank};
use crate::core::mail::pattern::re;
use regex::Regex;
use std::sync::LazyLock;

/// For every line, whether it belongs to a quote:
///
/// - a `>`-quoted line, unless it is an arrow decoration such as `>>> http://example.com <<<`
///   (a quoted line does not end in `<<`);
/// - a `|`-quoted line (`| text`, or a bare `|`) in a run of at least two: some webmail and
///   list software quote that way, and two lines in a row rule out a stray pipe;
/// - a Supercite-quoted line (the quoted writer's initials before the `>`: `JD> text`, `C>`, as
///   Emacs writes them) in a run of at least two with the same initials;
/// - a line that sits directly between two quoted lines and starts with a space or punctuation:
///   the wrapped tail of a long quoted line (a URL, as a rule) that the client did not prefix.
///   Answers typed between quoted lines start with a word and stay.
pub(super) fn mark(lines: &[&str]) -> Vec<bool> {
    let mut quoted: Vec<bool> = lines.iter().map(|l| is_quoted(l)).collect();
    let pipe: Vec<bool> = lines.iter().map(|l| is_pipe_quoted(l)).collect();
    for (i, &p) in pipe.iter().enumerate() {
        let neighbour = (i > 0 && pipe[i - 1]) || pipe.get(i + 1).copied().unwrap_or(false);
        if p && neighbour {
            quoted[i] = true;
        }
    }
    let initials: Vec<Option<&str>> = lines.iter().map(|l| supercite_initials(l)).collect();
    for i in 0..lines.len() {
        let same = |j: usize| initials.get(j).copied().flatten() == initials[i];
        if initials[i].is_some() && ((i > 0 && same(i - 1)) || same(i + 1)) {
            quoted[i] = true;
        }
    }
    let base = quoted.clone();
    for i in 1..lines.len().saturating_sub(1) {
        if !base[i] && base[i - 1] && base[i + 1] && is_wrapped_fragment(lines[i]) {
            quoted[i] = true;
        }
    }
    quoted
}

/// True for a `>`-quoted line (any nesting, optionally indented) that is not an arrow decoration.
pub(super) fn is_quoted(line: &str) -> bool {
    let l = line.trim_start();
    if !l.starts_with('>') {
        return false;
    }
    let rest = l.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
    let decoration = rest.trim_end().ends_with("<<") && rest.chars().any(|c| c != '<');
    !decoration
}

/// True for a line quoted with `|`: `| text` or a bare `|`. A table row (`| a | b |`) ends with
/// a pipe and is not taken.
fn is_pipe_quoted(line: &str) -> bool {
    let l = line.trim();
    l == "|" || (l.starts_with("| ") && !l.ends_with('|'))
}

/// The initials of a Supercite-quoted line (`JD> text`, `C>`): one to three ASCII letters at
/// the start of the line, directly followed by `>` and a space or the end of the line.
fn supercite_initials(line: &str) -> Option<&str> {
    let l = line.trim_start();
    let letters = l.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &l[letters..];
    let after = rest.strip_prefix('>')?;
    ((1..=3).contains(&letters) && (after.is_empty() || after.starts_with(' ')))
        .then_some(&l[..letters])
}

/// True for a line that could be the wrapped rest of a quoted line: it starts with a space or an
/// ASCII punctuation mark (`_nonce=…)`, ` (http://…) >`).
fn is_wrapped_fragment(line: &str) -> bool {
    let Some(first) = line.chars().next() else {
        return false;
    };
    !is_blank(line) && (first.is_whitespace() || (first.is_ascii_punctuation() && first != '>'))
}

/// True for a line that looks like the start of quoted text on its own, for the look-ahead after
/// an attribution: `>`-quoted or `|`-quoted.
pub(super) fn is_quote_line(line: &str) -> bool {
    is_quoted(line) || is_pipe_quoted(line)
}

/// True when the first line at or after `from` (within a few lines) that is neither blank nor a
/// snip mark is quoted.
pub(super) fn next_content_is_quoted(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .take(6)
        .find(|l| !is_blank(l) && !is_snip(l))
        .is_some_and(|l| is_quote_line(l))
}

/// True when the nearest line above or below `i` that is neither blank nor a snip mark belongs
/// to a quote: then a snip mark at `i` is part of that quote.
pub(super) fn next_to_quote(
    lines: &[&str],
    i: usize,
    end: usize,
    quoting: &dyn Fn(usize) -> bool,
) -> bool {
    let content = |j: &usize| !is_blank(lines[*j]) && !is_snip(lines[*j]);
    let above = (i.saturating_sub(6)..i).rev().find(content);
    let below = (i + 1..end.min(i + 7)).find(content);
    above.is_some_and(quoting) || below.is_some_and(quoting)
}

/// True for a line that only says something was left out of a quote: `[...]`, `<snip>`,
/// `... snip ...`. It carries nothing of the writer's, so it goes with the quote around it.
pub(super) fn is_snip(line: &str) -> bool {
    let l = clean(line);
    l.len() <= 20 && SNIP.is_match(l)
}

/// A mark for text left out of a quote.
static SNIP: LazyLock<Regex> = LazyLock::new(|| {
    // A bare "snip" or "cut" is not taken: it could be a one-word answer.
    re(
        r"(?i)^(?:[\[<(]\s*(?:\.{3}|…|snip|snipped|cut)\s*[\]>)]|(?:\.{3}|…|-+)\s*snip\s*(?:\.{3}|…|-+)|\.{3}|…)$",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lines_allow_nesting_and_indentation() {
        assert!(is_quoted("> a"));
        assert!(is_quoted("> > a"));
        assert!(is_quoted(">>a"));
        assert!(is_quoted("  > a"));
        assert!(!is_quoted("a > b"));
    }

    #[test]
    fn arrow_decorations_are_not_quotes() {
        assert!(!is_quoted(">>> >>>  http://www.example.com <<<"));
        assert!(is_quoted("> <<<<<<<<<"));
        assert!(is_quoted("> a << b"));
    }

    #[test]
    fn pipe_quotes_need_a_run_and_are_not_tables() {
        let lines = [
            "| quoted",
            "|",
            "| more",
            "text",
            "| alone",
            "",
            "| a | b |",
            "| c | d |",
        ];
        assert_eq!(
            mark(&lines),
            [true, true, true, false, false, false, false, false]
        );
    }

    /// Emacs' Supercite, as in Discourse's `email_reply_trimmer` fixture `embedded_email_7`.
    #[test]
    fn supercite_quotes_need_a_run_with_the_same_initials() {
        let lines = ["C>", "C> quoted", "JD> other", "A>B is a ratio", "text"];
        assert_eq!(mark(&lines), [true, true, false, false, false]);
        assert_eq!(supercite_initials("JD> x"), Some("JD"));
        assert_eq!(supercite_initials("ABCD> x"), None);
        assert_eq!(supercite_initials("C>x"), None);
    }

    #[test]
    fn wrapped_fragments_between_quoted_lines_are_quoted() {
        let lines = ["> View ticket (http://example.com/a", "_nonce=3dd518)", ">"];
        assert_eq!(mark(&lines), [true, true, true]);
        let answer = ["> question one", "yes", "> question two"];
        assert_eq!(mark(&answer), [true, false, true]);
    }
}
