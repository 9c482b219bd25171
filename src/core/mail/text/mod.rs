//! New-text extraction: what the writer of a mail wrote, without the quoted history and the
//! signature that mail clients append.
//!
//! The input is the mail's readable text (text/plain, or HTML already turned into text by the
//! parser), so Outlook's HTML replies arrive here as plain lines with their `From:`/`Sent:` header
//! blocks. [`extract_new_text`] reads it line by line and recognises what the common clients
//! (Outlook, Thunderbird, Gmail, Apple Mail, Yahoo, Yandex, Zoho, mobile apps) write in the desks'
//! languages (English, French, Portuguese, Spanish, Italian, Dutch, German) and in the others the
//! public reply-parsing suites show (Danish, Norwegian, Swedish, Polish, Czech, Russian,
//! Ukrainian, Vietnamese, Chinese …):
//!
//! - A *cut marker* ends the new text: everything from it to the end of the mail is history. Cut
//!   markers are `-----Original Message-----` and its translations, an Outlook header block
//!   (`From:` followed within a few lines by `Sent:`/`Date:` and `To:`/`Subject:`, or all of them
//!   on one line, with the `____` line above it; Hotmail's and Yahoo's blocks that start with
//!   `Date:`), and a reply attribution (`On … wrote:`) that is *not* followed by quoted lines,
//!   which is how HTML replies look once converted to text. Such an attribution must be a line of
//!   its own (or up to five, as clients wrap it and its address), have a client's shape, hold a
//!   time, a numeric date or an address, and contain no sentence break: "On Monday the link went
//!   down. We wrote:" is prose. An attribution that opens the mail, with nothing of the writer's
//!   above it, is dropped alone: cutting there would leave nothing.
//! - Quoted history is dropped: `>`-quoted lines (not an arrow decoration such as `>>> link
//!   <<<`), `|`-quoted and Supercite-quoted (`JD>`) blocks, and the wrapped tails of quoted lines
//!   that lost their `>`; together with an attribution that introduces them (here a bare `Jane
//!   wrote:` or Gmail's `<date> Jane <jane@example.com>` is enough, also at the end of a line of
//!   the writer's text) and `[...]`/`<snip>` marks next to them. The unquoted lines between them
//!   are kept: that is how bottom-posted and inline answers survive. A quote the writer answered
//!   below it stays with its answer (see [`answers`]): a bare quote followed by the writer's
//!   text, or an attributed one between the writer's text above and an answer below.
//! - The signature after a `-- ` line (or a bare `--` with a short tail), the footers of mobile
//!   apps ("Sent from my iPhone", "Get Outlook for iOS" …, with the name line above one), and the
//!   shapes a signature takes without a delimiter at the end of a mail are dropped: a block of
//!   contact lines, a rule followed by contact lines, a name or a mailing list's footer, and a
//!   `-Name` line. A closing line such as "Thanks, Jane" is the writer's and stays: guessing
//!   further where a signature starts would sooner or later eat a real sentence.
//!
//! Forwards are kept. A line such as `---------- Forwarded message ---------` or `Begin forwarded
//! message:` ends the part that is looked at, and everything from it is returned as written:
//! somebody who forwards a provider's alert to the desk wants the alert read. An Outlook forward
//! has no such line (its header block is the same as a reply's), so it is cut like a reply; a
//! caller that knows from the subject that a mail is a forward (`subject::is_forward`) should keep
//! the whole text instead. For the same reason, answers an engineer types *inside* Outlook's
//! unquoted history are lost with it: in text they cannot be told from the history.
//!
//! [`new_text_of`] reads a whole mail: for an HTML-only mail it prefers the text the parser
//! rendered from the HTML's structure ([`InboundMail::html_text`]), in which the quote containers
//! of the clients are already `>`-quoted and Outlook's history is cut off.
//!
//! A mail that is only history (or only a signature) has no new text: the result is empty and
//! the flags say what was removed; a caller that must show something shows the whole mail. The
//! function only removes whole lines, except that a line holding the writer's text and then an
//! attribution is cut before the attribution. Lines are compared without their line ends
//! (carriage returns included), and the result always uses `\n`. Each line is looked at with a
//! bounded look-ahead, so the cost is linear in the size of the text.
//!
//! The rules live in one file each, in the order a line meets them: [`line`] (what a rule looks
//! at), [`quotes`], [`attribution`], [`history`] (the pass that finds where history starts),
//! [`footer`], [`signature`], and [`answers`] (the quotes that stay with their answer). When the
//! writer is known, [`own_signature`] also takes their own name block off the end.

mod answers;
mod attribution;
mod footer;
mod history;
mod line;
mod quotes;
mod signature;
mod own_signature;

pub use own_signature::without_own_signature;

use crate::core::mail::InboundMail;
use line::is_blank;

/// The new text of a mail and what was taken away to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// What the writer wrote in this mail: quoted history and signature removed, trimmed.
    pub new_text: String,
    /// True when quoted history was found and removed.
    pub quote_removed: bool,
    /// True when a signature was found and removed.
    pub signature_removed: bool,
}

/// Extracts what the writer wrote in this mail. See the module documentation for what is removed.
pub fn extract_new_text(text: &str) -> Extracted {
    extract(text).extracted
}

/// The new text of a whole mail: [`new_text_from`] its text and, for an HTML-only mail, the
/// text the parser rendered from the HTML's structure.
pub fn new_text_of(mail: &InboundMail) -> Extracted {
    new_text_from(&mail.text, mail.html_text.as_deref(), mail.html_history_cut)
}

/// The new text of a mail given its text and, for an HTML-only mail, its text rendered from the
/// HTML's structure (`structured`, with `history_cut` when the structure's history was cut off
/// there). The structured text wins, since the structure says for certain where the history
/// is, unless the mail's text shows a forward (kept whole) or nothing is left of the structured
/// text (the history stood at the top, or the structure was misread).
pub fn new_text_from(text: &str, structured: Option<&str>, history_cut: bool) -> Extracted {
    let plain = extract(text);
    let Some(structured) = structured else {
        return plain.extracted;
    };
    if plain.forward {
        return plain.extracted;
    }
    let mut from_structure = extract_new_text(structured);
    if from_structure.new_text.is_empty() {
        return plain.extracted;
    }
    from_structure.quote_removed |= history_cut;
    from_structure
}

/// What one extraction found.
struct Outcome {
    extracted: Extracted,
    /// True when a forwarded message was found (and kept) before any history.
    forward: bool,
}

fn extract(text: &str) -> Outcome {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let lines = attribution::split_shared_lines(lines);
    let quoted = quotes::mark(&lines);
    let scan = history::scan(&lines, &quoted);

    // Which lines survive: everything before the end of the examined part that is neither quoted
    // nor an attribution introducing a quote, minus the signature and mobile footers; then the
    // quotes the writer answered below them; then the forwarded part, untouched.
    let mut keep = vec![false; lines.len()];
    let is_intro = |i: usize| scan.intros.binary_search(&i).is_ok();
    let quoting = |i: usize| quoted[i] || is_intro(i);
    for (i, line) in lines.iter().enumerate().take(scan.end) {
        let snip_of_a_quote =
            quotes::is_snip(line) && quotes::next_to_quote(&lines, i, scan.end, &quoting);
        keep[i] = !quoting(i) && !snip_of_a_quote;
    }
    let signature_removed = signature::remove(&lines, &mut keep, scan.end);
    answers::keep_answered(&lines, &quoted, &is_intro, &mut keep, scan.end);
    let quote_removed = scan.cut.is_some() || (0..scan.end).any(|i| quoting(i) && !keep[i]);
    if let Some(forward) = scan.forward {
        keep[forward..].iter_mut().for_each(|k| *k = true);
    }

    let extracted = if !quote_removed && !signature_removed {
        // Nothing was removed: the mail as written.
        Extracted {
            new_text: lines.join("\n").trim().to_string(),
            quote_removed: false,
            signature_removed: false,
        }
    } else {
        // May be empty: a mail that is only a quote (or only a signature) has no new text.
        Extracted {
            new_text: join_kept(&lines, &keep, &|i| {
                if quoted[i] && !is_intro(i) {
                    Removed::History
                } else if is_intro(i) {
                    Removed::Attribution
                } else {
                    Removed::Other
                }
            }),
            quote_removed,
            signature_removed,
        }
    };
    Outcome {
        extracted,
        forward: scan.forward.is_some(),
    }
}

/// What a removed line was, for the blank lines around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removed {
    /// Quoted history.
    History,
    /// An attribution whose quote stays.
    Attribution,
    /// A signature, a footer, a snip mark.
    Other,
}

/// Joins the kept lines, trimmed, without blank lines (nor lines of invisible characters) at
/// either end. Between two kept lines, the blank lines around removed ones are:
/// - where quoted history was removed, those above it (the blank lines inside and below it go
///   with it): an inline answer keeps the paragraph break the writer typed, and a sign-off under
///   the history joins the text above it as it stood before the history was pasted in;
/// - where only an attribution went (its quote stays), all of them, as written;
/// - where a signature or footer went, those above it, or else the first one below it: one
///   paragraph break, not two.
fn join_kept(lines: &[&str], keep: &[bool], removed: &dyn Fn(usize) -> Removed) -> String {
    let mut out: Vec<&str> = Vec::new();
    let written = |i: usize| keep[i] && !is_blank(lines[i]);
    let mut i = 0;
    while i < lines.len() {
        if written(i) {
            out.push(lines[i]);
            i += 1;
            continue;
        }
        // A run of removed and blank lines.
        let start = i;
        while i < lines.len() && !written(i) {
            i += 1;
        }
        let kinds: Vec<Removed> = (start..i).filter(|&j| !keep[j]).map(removed).collect();
        let as_written = kinds.iter().all(|k| *k == Removed::Attribution);
        let history = kinds.contains(&Removed::History);
        let mut blank_above = false;
        let mut seen_removed = false;
        for j in start..i {
            if !keep[j] {
                seen_removed = true;
                continue;
            }
            let wanted = as_written || !seen_removed || (!history && !blank_above);
            if wanted && !out.is_empty() {
                out.push(lines[j]);
                blank_above = true;
            }
        }
    }
    while out.last().is_some_and(|l| is_blank(l)) {
        out.pop();
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::quotes::{is_snip, next_content_is_quoted};
    use super::*;

    #[test]
    fn snip_marks_go_with_the_quote_around_them() {
        for line in [
            "[...]",
            "[…]",
            "<snip>",
            "<SNIP>",
            "... snip ...",
            "[snip]",
            "...",
        ] {
            assert!(is_snip(line), "{line}");
        }
        assert!(!is_snip("snip the cable"));
        assert!(!is_snip("snip"));
        let lines = [
            "On 1.1.2010 10:00, Jane wrote:",
            "[...]",
            "> q",
            "",
            "answer",
        ];
        assert!(next_content_is_quoted(&lines, 1));
        let text = lines.join("\n");
        assert_eq!(extract_new_text(&text).new_text, "answer");
    }

    /// The blank lines of talon's `test_reply_wraps_nested_quotations`, Discourse's trimmer
    /// `embedded_email_17` and an iPhone footer above a forward.
    #[test]
    fn removed_history_takes_the_blank_lines_below_it() {
        use Removed::*;
        fn kinds(k: &[Removed]) -> impl Fn(usize) -> Removed + '_ {
            move |i| k[i]
        }
        let lines = ["a", "", "> q", "", "b"];
        let keep = [true, true, false, true, true];
        assert_eq!(
            join_kept(
                &lines,
                &keep,
                &kinds(&[Other, Other, History, Other, Other])
            ),
            "a\n\nb"
        );
        let lines = ["a", "", "", "b"];
        assert_eq!(
            join_kept(&lines, &[true; 4], &kinds(&[Other; 4])),
            "a\n\n\nb"
        );
        let lines = ["a", "Jane wrote:", "", "> q", "", "Regards"];
        let keep = [true, false, true, false, true, true];
        let history = [Other, Attribution, Other, History, Other, Other];
        assert_eq!(join_kept(&lines, &keep, &kinds(&history)), "a\nRegards");
        // Only the attribution removed, its quote kept: the blank lines stay.
        let lines = ["a", "", "Jane wrote:", "", "> q"];
        let keep = [true, true, false, true, true];
        let intro = [Other, Other, Attribution, Other, Other];
        assert_eq!(join_kept(&lines, &keep, &kinds(&intro)), "a\n\n\n> q");
        // A footer between two paragraphs leaves one blank line.
        let lines = ["a", "", "Sent from my iPhone", "", "b"];
        assert_eq!(join_kept(&lines, &keep, &kinds(&[Other; 5])), "a\n\nb");
    }

    /// The staff path relays the new text to the customer: an engineer's `#close` over the
    /// quoted history must not send the history back.
    #[test]
    fn a_mail_that_is_only_history_has_no_new_text() {
        let text = "On Mon, May 6, 2024 at 10:00 AM Jane <jane@example.com> wrote:\n> hello\n";
        let e = extract_new_text(text);
        assert_eq!(e.new_text, "");
        assert!(e.quote_removed && !e.signature_removed);
        let e = extract_new_text("-- \nJane");
        assert_eq!(e.new_text, "");
        assert!(e.signature_removed);
    }

    #[test]
    fn an_attribution_that_opens_the_mail_is_dropped_alone() {
        let text = "On 8 May 2017 17:34, \"Andy\" <andy@example.com> wrote:\n\n    nil && 2.0\n\nIt should be:\n\n    2.0 && 2.0";
        let e = extract_new_text(text);
        assert_eq!(e.new_text, "nil && 2.0\n\nIt should be:\n\n    2.0 && 2.0");
        assert!(e.quote_removed);
    }

    /// What `ingest/html.rs` renders wins over the converted text, except for a forward and
    /// when nothing of it is left.
    #[test]
    fn the_structured_html_text_wins_unless_it_has_nothing_or_the_mail_is_a_forward() {
        // The converted text of an Outlook reply in a language whose labels are unknown.
        let text = "Done.\nFrå: NOC\nOld text";
        let e = new_text_from(text, Some("Done."), true);
        assert_eq!(e.new_text, "Done.");
        assert!(e.quote_removed);
        assert_eq!(new_text_from(text, None, false).new_text, text);
        let forward = "FYI\n\n---------- Forwarded message ---------\nFrom: NOC\n\nalert";
        assert_eq!(
            new_text_from(forward, Some("FYI\n> alert"), false).new_text,
            forward
        );
        let history_on_top = "> On Mon, 6 May 2024 at 10:00, NOC <noc@example.net> wrote:\n>> old";
        assert_eq!(
            new_text_from("Answer", Some(history_on_top), false).new_text,
            "Answer"
        );
    }

    #[test]
    fn tracking_marks_at_the_end_go_with_the_signature() {
        let e = extract_new_text("Text\n\nᐧ\n--\nJane");
        assert_eq!(e.new_text, "Text");
    }
}
