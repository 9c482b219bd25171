//! Reply attributions: the line a client writes above the history it quotes ("On <date>, <name>
//! wrote:" and its translations, Gmail's older "<date> <name> <address>:", Zoho's
//! "---- On … wrote ----"), on one line or wrapped over up to four, or at the end of a line of
//! the writer's text.

use super::line::{clean, head, is_blank};
use super::quotes::{is_quoted, next_content_is_quoted};
use crate::core::mail::pattern::re;
use regex::Regex;
use std::sync::LazyLock;

/// A reply attribution found at a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Attribution {
    /// How many lines it spans: 1, or up to 5 when a client wrapped it (a wrapped address can
    /// leave a blank line, a lone `<` and a `> wrote:` behind).
    pub(super) lines: usize,
    /// True when it is certain enough to cut everything after it even without `>` quotes: it has
    /// a client's shape (`On <date> … wrote:`) and holds a time, a numeric date or an address.
    pub(super) strong: bool,
}

/// The longest line (or lines joined) taken for an attribution. Real ones are well below it;
/// the limit keeps a long paragraph that happens to end in "wrote:" out.
const MAX_ATTRIBUTION_LEN: usize = 300;

/// The longest line that can continue a wrapped attribution.
const MAX_CONTINUATION_LEN: usize = 120;

/// How many lines may follow the first line of a wrapped attribution.
const MAX_CONTINUATIONS: usize = 4;

/// The attribution starting at line `i`, if there is one. A wrapped attribution (Gmail and Apple
/// Mail wrap at about 76 characters, and a wrapped address can put its `<` and `>` on lines of
/// their own) is tried first, so that its later lines are never mistaken for an attribution of
/// their own.
pub(super) fn attribution_at(lines: &[&str], i: usize) -> Option<Attribution> {
    let first = clean(lines[i]);
    if first.is_empty() || first.len() > MAX_ATTRIBUTION_LEN {
        return None;
    }
    if !ends_with_colon(first) && may_be_wrapped(first) {
        if let Some(found) = wrapped_at(lines, i, first) {
            return Some(found);
        }
    }
    classify_attribution(first).map(|strong| Attribution { lines: 1, strong })
}

/// Splits every line that holds the writer's text and then a strong attribution, with quoted
/// lines after it (`reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:`, or with
/// dashes between: `reply--- On …`), into the writer's part and the attribution. Converters that
/// join an HTML reply's blocks, and some mobile clients, write it that way (talon's
/// `test_reply_and_quotation_splitter_share_line`). The dashes and spaces between the two go.
pub(super) fn split_shared_lines(lines: Vec<&str>) -> Vec<&str> {
    let mut out = Vec::with_capacity(lines.len());
    for (i, &line) in lines.iter().enumerate() {
        match shared_attribution(&lines, i) {
            Some(at) => {
                out.push(line[..at].trim_end_matches(|c: char| c == '-' || c.is_whitespace()));
                out.push(&line[at..]);
            }
            None => out.push(line),
        }
    }
    out
}

/// Where the attribution that ends line `i` starts, if it does: after the writer's text and a
/// space or a dash, with a client's start word, strong, and quoted lines after it.
fn shared_attribution(lines: &[&str], i: usize) -> Option<usize> {
    let line = lines[i];
    let probe = head(line, 2 * MAX_ATTRIBUTION_LEN);
    if is_quoted(line) || !ATTRIBUTION_WORD.is_match(probe) {
        return None;
    }
    if !next_content_is_quoted(lines, i + 1) {
        return None;
    }
    ATTRIBUTION_WORD
        .find_iter(probe)
        .take(4)
        .map(|m| m.start())
        .filter(|&at| {
            let before = line[..at].trim_end_matches(|c: char| c == '-' || c.is_whitespace());
            at > 0 && line[..at].ends_with([' ', '-', '\t', '\u{a0}']) && !is_blank(before)
        })
        .find(|&at| classify_attribution(clean(&line[at..])) == Some(true))
}

/// Joins the lines after `i` to `first` until one ends with a colon, and classifies the result.
fn wrapped_at(lines: &[&str], i: usize, first: &str) -> Option<Attribution> {
    let mut joined = first.to_string();
    let mut j = i + 1;
    let mut taken = 0;
    let mut skipped_blank = false;
    while taken < MAX_CONTINUATIONS && j < lines.len() {
        let next = clean(lines[j]);
        if next.is_empty() {
            // Gmail's plain text of a wrapped address: "Name", "", "<", "mailto:…", "> wrote:".
            let after = lines.get(j + 1).map(|l| clean(l)).unwrap_or_default();
            if skipped_blank || !after.starts_with('<') {
                return None;
            }
            skipped_blank = true;
            j += 1;
            continue;
        }
        if next.len() > MAX_CONTINUATION_LEN || joined.len() + next.len() >= MAX_ATTRIBUTION_LEN {
            return None;
        }
        if is_quoted(lines[j]) && !closes_address(&joined, next) {
            return None;
        }
        joined.push(' ');
        joined.push_str(next);
        taken += 1;
        j += 1;
        if ends_with_colon(next) {
            return classify_attribution(&joined).map(|strong| Attribution {
                lines: j - i,
                strong,
            });
        }
    }
    None
}

/// True when `next`, a line starting with `>`, is the closing bracket of an address that the
/// lines joined so far opened (`<noreply@example.com` then `>:` or `> wrote:`), not a quote.
fn closes_address(joined: &str, next: &str) -> bool {
    joined.matches('<').count() > joined.matches('>').count()
        && next.len() <= 40
        && ends_with_colon(next)
}

/// True for a first line that a client could have wrapped: it starts like an attribution, with
/// a date, or holds (part of) an address.
fn may_be_wrapped(first: &str) -> bool {
    first.starts_with(|c: char| c.is_ascii_digit())
        || first.contains('<')
        || first.contains('@')
        || ATTRIBUTION_START.is_match(first)
}

/// True when the line ends with a colon (ASCII or full-width).
fn ends_with_colon(line: &str) -> bool {
    line.ends_with(':') || line.ends_with('：')
}

/// `None` when `line` is not an attribution; otherwise whether it is a strong one.
pub(super) fn classify_attribution(line: &str) -> Option<bool> {
    if line.len() > MAX_ATTRIBUTION_LEN {
        return None;
    }
    // Every shape below ends with a colon, starts with a date or is Zoho's dashed form: a
    // line of prose is turned away here, before any pattern runs over it (this function sees
    // every line of every mail, and the patterns cost about a microsecond per line).
    if !ends_with_colon(line)
        && !line.starts_with(|c: char| c.is_ascii_digit())
        && !line.starts_with("--")
    {
        return None;
    }
    if GMAIL_DATE_FIRST.is_match(line) {
        // "2016-03-03 17:21 GMT+01:00 Jane <jane@example.com>:": only Gmail writes this, even
        // when the rest of the line was lost.
        return Some(true);
    }
    let dashed = dashed_inner(line);
    let line = dashed.as_deref().unwrap_or(line);
    if SENTENCE_BREAK.is_match(line) {
        return None;
    }
    if !ends_with_colon(line) {
        // "2011/4/7 Jane <jane@example.com>" (older Gmail, no colon): only with quotes after it.
        return DATE_FIRST_ADDRESS.is_match(line).then_some(false);
    }
    if ATTRIBUTION_PREFIXED.is_match(line) {
        return Some(line.contains('@') || DATE_OR_TIME.is_match(line));
    }
    if ADDRESS_WROTE.is_match(line) {
        // `John Doe <john@example.com> wrote:` (Gnus, old clients, a wrapped Gmail line) and
        // Gmail's German `Jane <jane@example.com> schrieb am Fr., 3. Mai 2024 um 10:00 Uhr:`.
        return Some(true);
    }
    if ATTRIBUTION_SHORT.is_match(line) {
        // A bare `John wrote:` could be the writer introducing a pasted text, so it only counts
        // when quotes follow.
        return Some(false);
    }
    if DATED_ADDRESS.is_match(line) && DATE_OR_TIME.is_match(line) {
        // Yandex's `26.06.2014, 14:41, "Jane" <jane@example.com>:`, Mail.ru's
        // `Thu, 26 Jun 2014 14:00:51 +0400 от Jane <jane@example.com>:`: no verb, so only with
        // quotes after them.
        return Some(false);
    }
    None
}

/// Zoho writes its attribution between dashes and without a colon: `---- On <date> Jane wrote
/// ----`. Returns the inner text with a colon, so that it is classified like any other.
fn dashed_inner(line: &str) -> Option<String> {
    if !line.starts_with("--") || !line.ends_with("--") {
        return None;
    }
    let inner = line.trim_matches(|c: char| c == '-' || c.is_whitespace());
    (inner.len() >= 5 && ENDS_WITH_VERB.is_match(inner)).then(|| format!("{inner}:"))
}

/// The verbs that end an attribution, in every language the reply suites and the desks see
/// (`\s` also matches the non-breaking spaces French puts before a colon): en, fr, pt, es, it,
/// nl, de, da/no/sv, pl, ru, uk, vi, fi, hu, cs, tr, zh.
const WROTE: &str = r"(?:wrote|writes|a\s+écrit|escreveu|escribió|ha\s+scritto|scrisse|schreef|geschreven|schrieb|skrev|napisał(?:\(a\)|a)?|написал(?:\(а\)|а)?|написав(?:\(ла\)|ла)?|пише|đã\s+viết|kirjoitti|írta|napsal(?:\(a\)|a)?|yazdı)";

/// How the attributions of the common clients start, per language: `On`/`At` (en), `Le` (fr),
/// `Em` (pt), `El` (es), `Il` (it), `Op` (nl), `Am` (de), `Den`/`På` (da, no, sv), `W dniu`
/// (pl), `Dne` (cs), `Vào` (vi), and Horde's `Quoting`/`Zitat von`.
const STARTS: &str =
    r"(?:On|At|Le|Em|El|Il|Op|Am|Den|På|W\s+dniu|Dne|Vào|Quoting|Citando|Citation|Zitat\s+von)";

/// A client's start word anywhere in a line (for an attribution at the end of one).
static ATTRIBUTION_WORD: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"\b{STARTS}\s")));

/// Could be the first line of a wrapped attribution.
static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^{STARTS}\s")));

/// `On <date>, <name> wrote:` and its translations. German, Dutch and the Scandinavian languages
/// may put the verb before the name (`Am <date> schrieb <name>:`), Horde puts none (`Quoting
/// <name>:`), Apple Mail in English sometimes says `sent:`.
static ATTRIBUTION_PREFIXED: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:{STARTS}\s.*\s{WROTE}\s*[:：]|On\s.*\ssent\s*:|(?:Op|Am|Den|På)\s.*\s(?:schreef|schrieb|geschreven|skrev)(?:\s.*)?:|(?:Quoting|Citando|Citation|Zitat\s+von)\s.+:)$"
    ))
});

/// A name with an address in angle brackets, then the verb: `John Doe <john@example.com>
/// wrote:`, or with the date after the verb as Gmail writes it in German and Dutch.
static ADDRESS_WROTE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^[^<>]{{0,60}}<[^<>@\s]+@[^<>\s]+>\s*{WROTE}(?:\s+(?:am|op|den)\s.*)?\s*[:：]$"
    ))
});

/// `<name or address> wrote:` without a date: Gmail's short form, old Thunderbird, Gnus; and the
/// date-first forms of Polish, Russian and Ukrainian Gmail (`23 mar 2017 21:25 "Jan" <…>
/// napisał(a):`). Chinese puts no space before its verb.
static ATTRIBUTION_SHORT: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^\S.*(?:\s{WROTE}|\s?(?:写道|寫道))\s*[:：]$")));

/// A line that ends with the verb (Zoho's dashed form has no colon).
static ENDS_WITH_VERB: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"(?:^|\s){WROTE}$")));

/// A line ending in an address and a colon: `… "Jane" <jane@example.com>:`.
static DATED_ADDRESS: LazyLock<Regex> = LazyLock::new(|| re(r"[<(][^<>()\s]+@[^<>()\s]+[>)]\s*:$"));

/// Older Gmail: a numeric date first, the name and address last, no colon.
static DATE_FIRST_ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}\s.*<[^<>\s]+@[^<>\s]+>$"));

/// Gmail's ISO date, time and GMT offset at the start of a line.
static GMAIL_DATE_FIRST: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}\s+GMT[+-]\d{1,2}:?\d{2}\s+\S"));

/// A time or a numeric date (`10:00`, `06.05.2024`, `5/6/24`). Every client writes one in its
/// attribution; prose such as "Am Montag schrieb uns der Kunde:" has none, so without quotes
/// after it, it is kept.
static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| re(r"\d{1,4}[:./-]\d{1,2}"));

/// A full stop (or `!`/`?`) ending a word and followed by a capital: a sentence boundary, which
/// no client puts in an attribution ("On Monday the link went down. We wrote:" is prose). Dates
/// such as `Mo., 6. Mai` and `lun. 6 mai` do not match: the word is short or no capital follows.
static SENTENCE_BREAK: LazyLock<Regex> = LazyLock::new(|| re(r"\p{Ll}{2,}[.!?]\s+\p{Lu}"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mail::text::quotes::next_content_is_quoted;

    #[test]
    fn attributions_of_every_language_are_recognised() {
        for line in [
            "On Mon, May 6, 2024 at 10:00 AM John Smith <john@example.com> wrote:",
            "On 06/05/2024 10:00, John Smith wrote:",
            "At 14:56 02.06.2003 -0400, you wrote:",
            "Le lun. 6 mai 2024 à 10:00, Jean Dupont <jean@example.fr> a\u{a0}écrit\u{a0}:",
            "Em seg., 6 de mai. de 2024 às 10:00, João <joao@example.pt> escreveu:",
            "El lun, 6 may 2024 a las 10:00, Juan (<juan@example.es>) escribió:",
            "Il giorno lun 6 mag 2024 alle ore 10:00 Mario <mario@example.it> ha scritto:",
            "Op ma 6 mei 2024 om 10:00 schreef Jan <jan@example.nl>:",
            "Am Mo., 6. Mai 2024 um 10:00 Uhr schrieb Hans <hans@example.de>:",
            "Quoting John Doe <john@example.com>:",
            "<john@example.com> wrote:",
            // Added with the reply suites: Scandinavian, Polish, Vietnamese, Zoho, Gmail forms.
            "Den 15. jun. 2016 kl. 20.42 skrev Jeff <info@example.org>:",
            "På 14 september 2015 på 02:23:18, Valentino Rudy (valentino@example.be) skrev:",
            "W dniu 28 stycznia 2015 01:53 użytkownik Zoe <zoe@example.com> napisał:",
            "Vào 14:24 8 tháng 6, 2017, Hùng Nguyễn <hung@example.com> đã viết:",
            "---- On Tue, 22 Dec 2015 14:17:36 +0530 Sam <info@example.org> wrote ----",
            "------On 12/29/1987 17:32 PM, Julius Caesar wrote-----",
            "On 11-Apr-2011, at 6:54 PM, Roman <roman@example.com> sent:",
            "Max Mustermann <max@example.com> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:",
            "2016-03-03 17:21 GMT+01:00 Some One",
            "23 mar 2017 21:25 \"Neil\" <meta@example.com> napisał(a):",
            "30 серп. 2016 р. 20:45 \"Arpit\" <no-reply@example.com> пише:",
        ] {
            assert_eq!(classify_attribution(line), Some(true), "{line}");
        }
    }

    #[test]
    fn weak_attributions_need_quotes_to_follow() {
        assert_eq!(classify_attribution("John Smith wrote:"), Some(false));
        assert_eq!(
            classify_attribution("On Monday support wrote:"),
            Some(false)
        );
        let lines = ["John Smith wrote:", "> quoted"];
        assert!(next_content_is_quoted(&lines, 1));
        let lines = ["John Smith wrote:", "", "not a quote"];
        assert!(!next_content_is_quoted(&lines, 1));
    }

    #[test]
    fn weak_attributions_of_more_clients() {
        for line in [
            "понедельник, 6 октября 2014 г. пользователь lidel написал:",
            "2011/4/7 Nathan <support@example.com>",
            "26.06.2014, 14:41, \"Alexander L\" <abc@example.com>:",
            "Thu, 26 Jun 2014 14:00:51 +0400 от Alexander L <abc@example.com>:",
            "---- John Smith wrote ----",
            "在 2024年5月6日 10:00，Jane <jane@example.com> 写道：",
        ] {
            assert_eq!(classify_attribution(line), Some(false), "{line}");
        }
    }

    #[test]
    fn prose_is_not_an_attribution() {
        for line in [
            "On Monday the link went down. We wrote:",
            "On 3 May the link went down. We wrote:",
            "On Monday we wrote: please check the port.",
            "Can you tell me what you wrote?",
            "2024-05-06 10:00 the link went down",
            "---------- the cable was cut ----------",
        ] {
            assert_eq!(classify_attribution(line), None, "{line}");
        }
    }

    /// talon's `test_reply_and_quotation_splitter_share_line`.
    #[test]
    fn an_attribution_at_the_end_of_a_line_is_split_off() {
        let lines = vec![
            "reply--- On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:",
            "> Hi",
        ];
        assert_eq!(
            split_shared_lines(lines),
            [
                "reply",
                "On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:",
                "> Hi"
            ]
        );
        // Without quotes after it, or without a date or address, the line is the writer's.
        for lines in [
            vec![
                "reply On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:",
                "Hi",
            ],
            vec!["I said On Monday the NOC wrote:", "> Hi"],
            vec![
                "On Wed, Apr 4, 2012 at 3:59 PM, me@example.com wrote:",
                "> Hi",
            ],
        ] {
            assert_eq!(split_shared_lines(lines.clone()), lines);
        }
    }

    #[test]
    fn a_wrapped_attribution_spans_two_lines() {
        let lines = [
            "On Sat, Jan 2, 2010 at 1:25 PM, Jan Kratochvil",
            "<jan.kratochvil@redhat.com> wrote:",
        ];
        assert_eq!(
            attribution_at(&lines, 0),
            Some(Attribution {
                lines: 2,
                strong: true
            })
        );
    }

    #[test]
    fn attributions_wrapped_over_more_lines() {
        let three = [
            "Le 4 janv. 2016 19:03, \"Neil Lalonde\"",
            "<info@example.org>",
            "a écrit :",
        ];
        assert_eq!(
            attribution_at(&three, 0),
            Some(Attribution {
                lines: 3,
                strong: true
            })
        );
        let gmail = [
            "On Thu, 31 Mar 2016 at 11:16 Some One",
            "",
            "<",
            "mailto:Some One <some.one@example.com>",
            "> wrote:",
        ];
        assert_eq!(
            attribution_at(&gmail, 0),
            Some(Attribution {
                lines: 5,
                strong: true
            })
        );
        let bracket = [
            "Am 21.04.2016 17:48 schrieb \"Einz Zwei\" <noreply@example.com",
            ">:",
        ];
        assert_eq!(
            attribution_at(&bracket, 0),
            Some(Attribution {
                lines: 2,
                strong: true
            })
        );
        // A quote after the first line is not a continuation.
        let quoted = ["On Monday at 10:00 the NOC", "> wrote:"];
        assert_eq!(attribution_at(&quoted, 0), None);
        // Nor is prose after a blank line.
        let prose = [
            "On 6 May at 10:00 the link went down",
            "",
            "and Jane wrote:",
        ];
        assert_eq!(attribution_at(&prose, 0), None);
        assert!(!is_blank(prose[0]));
    }
}
