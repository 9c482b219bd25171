//! Which quotes the writer answered: a quoted question with the writer's answer below it stays
//! with the answer, while quoted history goes.

use super::attribution::classify_attribution;
use super::line::{clean, is_blank};
use super::quotes::is_snip;
use super::signature::is_sign_off;

/// Puts back (sets `keep` for) the quote blocks before `end` that the writer answered: the
/// quoted question stays above its answer, as the writer meant it to be read.
///
/// A block is a run of quoted lines (with the blank lines and snip marks between them). It is
/// answered when the writer's own text (the kept lines up to the next quote) follows it and is
/// more than a sign-off ("Regards, Roman" under the history answers nothing), and:
/// - without an attribution above it, always, and also when nothing else of the writer's is
///   left (unless the quote itself opens with an attribution, as quoted history does): a client
///   that quotes a whole mail writes an attribution above it, so a bare quote is a passage the
///   writer picked to answer or to pass on;
/// - with an attribution, when the writer's text stands above the attribution too: an
///   attribution with nothing of the writer's above it starts bottom-posted history.
///
/// The attribution itself stays removed. Signatures must be removed before this runs, so that a
/// signature under the history is not taken for an answer.
pub(super) fn keep_answered(
    lines: &[&str],
    quoted: &[bool],
    is_intro: &dyn Fn(usize) -> bool,
    keep: &mut [bool],
    end: usize,
) {
    // The first kept line of the writer's, before any quote is put back: computed once, so that
    // many blocks cost no more than one.
    let first_written = (0..end).find(|&k| keep[k] && !is_blank(lines[k]));
    let mut i = 0;
    while i < end {
        if !quoted[i] || is_intro(i) {
            i += 1;
            continue;
        }
        let start = i;
        let mut last = i;
        let mut j = i + 1;
        while j < end && !is_intro(j) && (quoted[j] || is_blank(lines[j]) || is_snip(lines[j])) {
            if quoted[j] {
                last = j;
            }
            j += 1;
        }
        i = last + 1;
        let above = (0..start)
            .rev()
            .find(|&k| !is_blank(lines[k]) && !is_snip(lines[k]));
        let introduced = above.is_some_and(is_intro);
        let mut top = start;
        if let Some(mut k) = above.filter(|_| introduced) {
            while k > 0 && (is_intro(k - 1) || is_blank(lines[k - 1])) {
                k -= 1;
            }
            top = k;
        }
        let below: Vec<&str> = (last + 1..end)
            .take_while(|&k| !quoted[k] && !is_intro(k))
            .filter(|&k| keep[k] && !is_blank(lines[k]))
            .map(|k| lines[k])
            .collect();
        let answer = !below.is_empty() && !is_sign_off(&below);
        let writer_above = first_written.is_some_and(|k| k < top);
        let answered = if introduced {
            writer_above && answer
        } else {
            answer || (first_written.is_none() && !opens_with_attribution(lines[start]))
        };
        if answered {
            keep[start..=last].iter_mut().for_each(|k| *k = true);
        }
    }
}

/// True when a quoted line holds an attribution once its `>` are taken off: the start of quoted
/// history that itself was a reply.
fn opens_with_attribution(line: &str) -> bool {
    let inner = clean(line).trim_start_matches(|c: char| c == '>' || c.is_whitespace());
    classify_attribution(inner).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mail::text::quotes::mark;

    fn answered(text: &str) -> Vec<bool> {
        let lines: Vec<&str> = text.lines().collect();
        let quoted = mark(&lines);
        // The first line is an attribution when it ends with "wrote:".
        let intro = |i: usize| lines[i].ends_with("wrote:");
        let mut keep: Vec<bool> = (0..lines.len()).map(|i| !quoted[i] && !intro(i)).collect();
        keep_answered(&lines, &quoted, &intro, &mut keep, lines.len());
        keep
    }

    /// The shapes of Discourse's trimmer (`quote_and_text`, `embedded_email_7`,
    /// `embedded_email_17`) and talon's `test_reply_wraps_nested_quotations`.
    #[test]
    fn quotes_the_writer_answered_stay() {
        // A bare quote with an answer below.
        assert_eq!(answered("> question\n\nanswer"), [true, true, true]);
        // A bare quote at the end is history.
        assert_eq!(answered("answer\n\n> history"), [true, true, false]);
        // An attributed quote between the writer's text and an answer.
        assert_eq!(
            answered("intro\nJane wrote:\n> q\n\nanswer"),
            [true, false, true, true, true]
        );
        // An attributed quote at the top is bottom-posted history.
        assert_eq!(
            answered("Jane wrote:\n> q\n\nanswer one\nanswer two"),
            [false, false, true, true, true]
        );
        // A sign-off under attributed history does not make it answered.
        assert_eq!(
            answered("reply\nJane wrote:\n> q\n\nRegards, Roman"),
            [true, false, false, true, true]
        );
    }

    /// Discourse's trimmer: `quote_only` keeps a bare quote, `spam_1` (nested replies, each
    /// quoting the last) has no new text.
    #[test]
    fn a_bare_quote_alone_stays_unless_it_is_quoted_history() {
        assert_eq!(answered("> only a quote"), [true]);
        assert_eq!(
            answered("> On Thu, Apr 30, 2020 at 10:07 AM, Jane <jane@example.com> wrote:\n>\n>> q"),
            [false, false, false]
        );
    }
}
