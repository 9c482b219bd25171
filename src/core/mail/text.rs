//! New-text extraction: what the writer of a mail wrote, without the quoted history and the
//! signature that mail clients append.
//!
//! The input is the mail's readable text (text/plain, or HTML already turned into text by the
//! parser), so Outlook's HTML replies arrive here as plain lines with their `From:`/`Sent:` header
//! blocks. [`extract_new_text`] reads it line by line and recognises what the common clients
//! (Outlook, Thunderbird, Gmail, Apple Mail, mobile apps) write in English, French, Portuguese,
//! Spanish, Italian, Dutch and German:
//!
//! - A *cut marker* ends the new text: everything from it to the end of the mail is history. Cut
//!   markers are `-----Original Message-----` and its translations, an Outlook header block
//!   (`From:` followed within a few lines by `Sent:`/`Date:` and `To:`/`Subject:`, with the
//!   `____` line above it), and a reply attribution (`On … wrote:`) that is *not* followed by
//!   `>`-quoted lines, which is how HTML replies look once converted to text. Such an attribution
//!   must be a line of its own (or two, as Gmail wraps it), have a client's shape, hold a time, a
//!   numeric date or an address, and contain no sentence break: "On Monday the link went down. We
//!   wrote:" is prose.
//! - `>`-quoted lines are dropped wherever they are, together with an attribution line that
//!   introduces them (here a bare `Jane wrote:` is enough) and `[...]`/`<snip>` marks next to
//!   them, but the unquoted lines between them are kept: that is how bottom-posted and inline
//!   answers survive.
//! - The signature after a `-- ` line (or a bare `--` with a short tail), and the footers of
//!   mobile apps ("Sent from my iPhone", "Get Outlook for iOS" …), are dropped. Other signatures
//!   are left alone: guessing where a signature starts would sooner or later eat a real sentence.
//!
//! Forwards are kept. A line such as `---------- Forwarded message ---------` or `Begin forwarded
//! message:` ends the part that is looked at, and everything from it is returned as written:
//! somebody who forwards a provider's alert to the desk wants the alert read. An Outlook forward
//! has no such line (its header block is the same as a reply's), so it is cut like a reply; a
//! caller that knows from the subject that a mail is a forward (`subject::is_forward`) should keep
//! the whole text instead. For the same reason, answers an engineer types *inside* Outlook's
//! unquoted history are lost with it: in text they cannot be told from the history.
//!
//! The function never loses a whole mail: when everything would be removed (a mail that is only a
//! quote), it returns the original text. Lines are compared without their line ends (carriage
//! returns included), and the result always uses `\n`. Each line is looked at with a bounded
//! look-ahead, so the cost is linear in the size of the text.

use crate::core::mail::pattern::re;
use regex::Regex;
use std::sync::LazyLock;

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
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let scan = scan(&lines);

    // Which lines survive: everything before the end of the examined part that is neither quoted
    // nor an attribution introducing a quote, minus the signature and mobile footers; then the
    // forwarded part, untouched.
    let mut keep = vec![false; lines.len()];
    let mut quote_removed = scan.cut.is_some();
    let quoting = |i: usize| is_quoted(lines[i]) || scan.intros.binary_search(&i).is_ok();
    for (i, line) in lines.iter().enumerate().take(scan.end) {
        if quoting(i) {
            quote_removed = true;
        } else if !(is_snip(line) && next_to_quote(&lines, i, scan.end, &quoting)) {
            keep[i] = true;
        }
    }
    let mut signature_removed = false;
    if let Some(start) = signature_start(&lines, &keep, scan.end) {
        signature_removed = true;
        keep[start..scan.end].iter_mut().for_each(|k| *k = false);
    }
    for (i, line) in lines.iter().enumerate().take(scan.end) {
        if keep[i] && is_mobile_footer(line) {
            signature_removed = true;
            keep[i] = false;
        }
    }
    if let Some(forward) = scan.forward {
        keep[forward..].iter_mut().for_each(|k| *k = true);
    }

    let new_text = join_kept(&lines, &keep);
    if new_text.is_empty() || (!quote_removed && !signature_removed) {
        // Nothing was removed, or everything was: the mail as written is the best answer. The
        // second case is a mail that is only a quote (or only a signature), where an empty
        // ticket note would be worse than the whole text.
        return Extracted {
            new_text: lines.join("\n").trim().to_string(),
            quote_removed: false,
            signature_removed: false,
        };
    }
    Extracted {
        new_text,
        quote_removed,
        signature_removed,
    }
}

/// The new text of a whole mail: what [`extract_new_text`] keeps of its text.
pub fn new_text_of(mail: &crate::core::mail::InboundMail) -> Extracted {
    extract_new_text(&mail.text)
}

/// What one pass over the lines found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// The first line of history that runs to the end of the mail, if any.
    cut: Option<usize>,
    /// The line that starts a forwarded message, if it comes before any cut.
    forward: Option<usize>,
    /// Where the part that is cleaned up ends: the cut, the forward, or the end of the mail.
    end: usize,
    /// Attribution lines that introduce a `>`-quoted block (dropped, the answers around them
    /// kept), in ascending order.
    intros: Vec<usize>,
}

/// Finds the first cut marker or forward line, and the attributions that introduce quotes.
fn scan(lines: &[&str]) -> Scan {
    let mut found = Scan {
        end: lines.len(),
        ..Scan::default()
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if is_quoted(line) {
            i += 1;
            continue;
        }
        if is_forward_marker(line) {
            found.forward = Some(i);
            found.end = i;
            return found;
        }
        if is_original_message(line) {
            found.cut = Some(i);
            found.end = i;
            return found;
        }
        if is_header_block(lines, i) {
            let start = separator_above(lines, i).unwrap_or(i);
            found.cut = Some(start);
            found.end = start;
            return found;
        }
        if let Some(attribution) = attribution_at(lines, i) {
            let after = i + attribution.lines;
            if next_content_is_quoted(lines, after) {
                found.intros.extend(i..after);
                i = after;
                continue;
            }
            if attribution.strong {
                found.cut = Some(i);
                found.end = i;
                return found;
            }
        }
        i += 1;
    }
    found
}

/// A reply attribution found at a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attribution {
    /// How many lines it spans: 1, or 2 when a client wrapped it.
    lines: usize,
    /// True when it is certain enough to cut everything after it even without `>` quotes: it has
    /// a client's shape (`On <date> … wrote:`) and holds a time, a numeric date or an address.
    strong: bool,
}

/// The longest line (or pair of lines) taken for an attribution. Real ones are well below it;
/// the limit keeps a long paragraph that happens to end in "wrote:" out.
const MAX_ATTRIBUTION_LEN: usize = 300;

/// The attribution starting at line `i`, if there is one. A wrapped attribution (Gmail and Apple
/// Mail wrap at about 76 characters) is tried first, so its second line is never mistaken for a
/// short `<addr> wrote:` attribution of its own.
fn attribution_at(lines: &[&str], i: usize) -> Option<Attribution> {
    let first = clean(lines[i]);
    if first.is_empty() || first.len() > MAX_ATTRIBUTION_LEN {
        return None;
    }
    if !first.ends_with(':') && ATTRIBUTION_START.is_match(first) {
        if let Some(next) = lines.get(i + 1).map(|l| clean(l)) {
            if !next.is_empty() && !is_quoted(lines[i + 1]) && next.ends_with(':') {
                let joined = format!("{first} {next}");
                if let Some(strong) = classify_attribution(&joined) {
                    return Some(Attribution { lines: 2, strong });
                }
            }
        }
    }
    classify_attribution(first).map(|strong| Attribution { lines: 1, strong })
}

/// `None` when `line` is not an attribution; otherwise whether it is a strong one.
fn classify_attribution(line: &str) -> Option<bool> {
    if line.len() > MAX_ATTRIBUTION_LEN || !line.ends_with(':') || SENTENCE_BREAK.is_match(line) {
        return None;
    }
    if ATTRIBUTION_PREFIXED.is_match(line) {
        return Some(line.contains('@') || DATE_OR_TIME.is_match(line));
    }
    if ATTRIBUTION_SHORT.is_match(line) {
        // `John <john@example.com> wrote:` (Gnus, old clients, a wrapped Gmail line) names the
        // writer's address; a bare `John wrote:` could be the writer introducing a pasted text,
        // so it only counts when quotes follow.
        return Some(ADDRESS_WROTE.is_match(line));
    }
    None
}

/// True when the first line at or after `from` (within a few lines) that is neither blank nor a
/// snip mark is `>`-quoted.
fn next_content_is_quoted(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .take(6)
        .find(|l| !clean(l).is_empty() && !is_snip(l))
        .is_some_and(|l| is_quoted(l))
}

/// True when the nearest line above or below `i` that is neither blank nor a snip mark belongs
/// to a quote: then a snip mark at `i` is part of that quote.
fn next_to_quote(lines: &[&str], i: usize, end: usize, quoting: &dyn Fn(usize) -> bool) -> bool {
    let content = |j: &usize| !clean(lines[*j]).is_empty() && !is_snip(lines[*j]);
    let above = (i.saturating_sub(6)..i).rev().find(content);
    let below = (i + 1..end.min(i + 7)).find(content);
    above.is_some_and(quoting) || below.is_some_and(quoting)
}

/// True for a line that only says something was left out of a quote: `[...]`, `<snip>`,
/// `... snip ...`. It carries nothing of the writer's, so it goes with the quote around it.
fn is_snip(line: &str) -> bool {
    let l = clean(line);
    l.len() <= 20 && SNIP.is_match(l)
}

/// True for a `>`-quoted line (any nesting, optionally indented).
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// True for a line that starts a forwarded message.
fn is_forward_marker(line: &str) -> bool {
    let l = clean(line);
    l.len() <= 120 && FORWARD.is_match(l)
}

/// True for `-----Original Message-----` and its translations.
fn is_original_message(line: &str) -> bool {
    let l = clean(line);
    l.len() <= 120 && ORIGINAL_MESSAGE.is_match(l)
}

/// How many non-blank lines after a `From:` line may hold the rest of an Outlook header block.
const HEADER_BLOCK_WINDOW: usize = 6;

/// True when line `i` starts an Outlook-style header block: a `From:` line followed within a few
/// lines by a date line and a `To:` or `Subject:` line. One `From:` line alone is not enough: a
/// customer may well write "From: our side everything looks fine".
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let first = clean(lines[i]);
    if first.len() > 400 || !HEADER_FROM.is_match(first) {
        return false;
    }
    let (mut date, mut other) = (false, false);
    let following = lines
        .iter()
        .skip(i + 1)
        .take(HEADER_BLOCK_WINDOW * 2)
        .map(|l| clean(l))
        .filter(|l| !l.is_empty())
        .take(HEADER_BLOCK_WINDOW);
    for l in following {
        if l.len() > 1000 {
            break;
        }
        date |= HEADER_DATE.is_match(l);
        other |= HEADER_OTHER.is_match(l);
    }
    date && other
}

/// The separator line Outlook writes above its header block (`____…`, or a dashed or `_____`
/// rule in older versions), looking back over at most two blank lines.
fn separator_above(lines: &[&str], i: usize) -> Option<usize> {
    let mut j = i;
    for _ in 0..3 {
        j = j.checked_sub(1)?;
        let l = clean(lines[j]);
        if l.is_empty() {
            continue;
        }
        return is_separator(l).then_some(j);
    }
    None
}

/// True for a rule made of underscores, dashes or equals signs (spaces allowed between).
fn is_separator(line: &str) -> bool {
    let chars = line.chars().filter(|c| *c != ' ').count();
    chars >= 5 && line.chars().all(|c| matches!(c, '_' | '-' | '=' | ' '))
}

/// Non-blank lines after a bare `--` (without the trailing space) up to which it is still taken
/// for a signature delimiter. Many clients and converters drop the space, but a bare `--` can also
/// be a writer's own separator with real text below, so a long tail is not cut.
const MAX_BARE_SIGNATURE_LINES: usize = 15;

/// The first line of the signature among the kept lines before `end`, if there is one: the first
/// `-- ` line, or the first bare `--` line with a short enough tail.
fn signature_start(lines: &[&str], keep: &[bool], end: usize) -> Option<usize> {
    // Kept non-blank lines after each line, counted once from the end so that many `--` lines
    // cost no more than one.
    let mut after = vec![0usize; end];
    let mut count = 0;
    for i in (0..end).rev() {
        after[i] = count;
        if keep[i] && !clean(lines[i]).is_empty() {
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

/// True for the one-line footer a mobile mail app appends.
fn is_mobile_footer(line: &str) -> bool {
    let mut l = clean(line);
    // Outlook's HTML-to-text keeps the link after the text: "Get Outlook for iOS<https://…>".
    if let Some(pos) = l.find('<') {
        if l.ends_with('>') {
            l = l[..pos].trim_end();
        }
    }
    l.len() <= 80 && starts_like_a_footer(l) && MOBILE_FOOTER.is_match(l)
}

/// The words a mobile footer can start with: every alternative of [`MOBILE_FOOTER`] begins with
/// one of them, then a space.
const FOOTER_FIRST_WORDS: &[&str] = &[
    "sent",
    "envoyé",
    "enviado",
    "inviato",
    "verstuurd",
    "verzonden",
    "gesendet",
    "von",
    "get",
    "download",
    "obtenir",
    "obter",
    "obtener",
    "scarica",
    "outlook",
];

/// A cheap test that lets [`MOBILE_FOOTER`] run only on lines that could match it. The regex is
/// large (Unicode classes repeated up to 30 times): on most lines the regex engine's lazy DFA
/// gives up and its backtracker clears a bitmap of NFA states × line length per line, which made
/// this one check the largest cost of ingest.
fn starts_like_a_footer(line: &str) -> bool {
    let Some((first, _)) = line.split_once(char::is_whitespace) else {
        return false;
    };
    first.len() <= 10 && FOOTER_FIRST_WORDS.contains(&first.to_lowercase().as_str())
}

/// Joins the kept lines, trimmed. Blank lines left on both sides of a removed block are merged, so
/// an inline answer does not end up with holes in it.
fn join_kept(lines: &[&str], keep: &[bool]) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut removed_since_last = false;
    for (line, &k) in lines.iter().zip(keep) {
        if !k {
            removed_since_last = true;
            continue;
        }
        let blank = clean(line).is_empty();
        let last_blank = out.last().is_some_and(|l| clean(l).is_empty());
        if blank && last_blank && removed_since_last {
            continue;
        }
        out.push(line);
        removed_since_last = false;
    }
    out.join("\n").trim().to_string()
}

/// A line without surrounding whitespace and the invisible characters HTML conversion leaves
/// (zero-width spaces and joiners, byte-order marks); used for recognising lines, never for output.
fn clean(line: &str) -> &str {
    line.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            )
    })
}

/// The verbs that end an attribution, in every supported language (`\s` also matches the
/// non-breaking spaces French puts before a colon).
const WROTE: &str =
    r"(?:wrote|writes|a\s+écrit|escreveu|escribió|ha\s+scritto|schreef|geschreven|schrieb)";

/// How the attributions of the common clients start, per language: `On`/`At` (en), `Le` (fr),
/// `Em` (pt), `El` (es), `Il` (it), `Op` (nl), `Am` (de), and Horde's `Quoting`/`Zitat von`.
const STARTS: &str = r"(?:On|At|Le|Em|El|Il|Op|Am|Quoting|Citando|Citation|Zitat\s+von)";

/// Could be the first line of a wrapped attribution.
static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^{STARTS}\s")));

/// `On <date>, <name> wrote:` and its translations. German and Dutch put the verb before the
/// name (`Am <date> schrieb <name>:`), Horde puts none (`Quoting <name>:`).
static ATTRIBUTION_PREFIXED: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^(?:(?:On|At|Le|Em|El|Il)\s.*\s{WROTE}\s*:|(?:Op|Am)\s.*\s(?:schreef|schrieb|geschreven)(?:\s.*)?:|(?:Quoting|Citando|Citation|Zitat\s+von)\s.+:)$"
    ))
});

/// A name with an address in angle brackets, then the verb: `John Doe <john@example.com> wrote:`.
static ADDRESS_WROTE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^[^<>]{{0,60}}<[^<>@\s]+@[^<>\s]+>\s*{WROTE}\s*:$"
    ))
});

/// A time or a numeric date (`10:00`, `06.05.2024`, `5/6/24`). Every client writes one in its
/// attribution; prose such as "Am Montag schrieb uns der Kunde:" has none, so without quotes
/// after it, it is kept.
static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| re(r"\d{1,4}[:./-]\d{1,2}"));

/// `<name or address> wrote:` without a date: Gmail's short form, old Thunderbird, Gnus.
static ATTRIBUTION_SHORT: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^\S.*\s{WROTE}\s*:$")));

/// A full stop (or `!`/`?`) ending a word and followed by a capital: a sentence boundary, which
/// no client puts in an attribution ("On Monday the link went down. We wrote:" is prose). Dates
/// such as `Mo., 6. Mai` and `lun. 6 mai` do not match: the word is short or no capital follows.
static SENTENCE_BREAK: LazyLock<Regex> = LazyLock::new(|| re(r"\p{Ll}{2,}[.!?]\s+\p{Lu}"));

/// A mark for text left out of a quote.
static SNIP: LazyLock<Regex> = LazyLock::new(|| {
    // A bare "snip" or "cut" is not taken: it could be a one-word answer.
    re(
        r"(?i)^(?:[\[<(]\s*(?:\.{3}|…|snip|snipped|cut)\s*[\]>)]|(?:\.{3}|…|-+)\s*snip\s*(?:\.{3}|…|-+)|\.{3}|…)$",
    )
});

/// A forwarded message begins (Gmail, Thunderbird, KMail, Apple Mail; all languages supported).
static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:-{2,}\s*(?:forwarded\s+message|message\s+transféré|mensagem\s+encaminhada|mensaje\s+reenviado|messaggio\s+inoltrato|doorgestuurd\s+bericht|weitergeleitete\s+nachricht)\s*-{2,}|(?:begin\s+forwarded\s+message|début\s+du\s+message\s+réexpédié|início\s+da\s+mensagem\s+reencaminhada|inicio\s+del\s+mensaje\s+reenviado|inizio\s+messaggio\s+inoltrato|begin\s+doorgestuurd\s+bericht|anfang\s+der\s+weitergeleiteten\s+nachricht)\s*:)$",
    )
});

/// `-----Original Message-----` (Outlook), `-------- Original Message --------` (Thunderbird) and
/// their translations, including T-Online's `----- Original Nachricht ----`.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^-{2,}\s*(?:original\s+message|message\s+d['’]origine|message\s+original|mensagem\s+original|mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|origineel\s+bericht|ursprüngliche\s+nachricht|original\s*nachricht|wiadomość\s+oryginalna|původní\s+zpráva)\s*-{2,}$",
    )
});

/// A header label at the start of a line. The value may follow without a space: the parser's
/// HTML-to-text turns Outlook's `<b>From:</b> Jane` into `From:Jane`. Some converters render the
/// bold label as `*From:*`, hence the optional stars.
fn label(names: &str) -> String {
    format!(r"(?i)^\*?(?:{names})\*?\s*:")
}

/// The first line of an Outlook header block: `From:` and its translations.
static HEADER_FROM: LazyLock<Regex> =
    LazyLock::new(|| re(&label("From|De|Von|Da|Van|Od|Fra|Från")));

/// The date line of an Outlook header block (Outlook for Mac and Gmail write `Date:`).
static HEADER_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&label(
        "Sent|Date|Envoyé|Enviado|Enviado\\s+el|Enviada\\s+em|Enviado\\s+em|Fecha|Gesendet|Datum|Inviato|Data|Verzonden|Wysłano|Odesláno|Sendt|Skickat",
    ))
});

/// The recipient or subject line of an Outlook header block.
static HEADER_OTHER: LazyLock<Regex> = LazyLock::new(|| {
    re(&label(
        "To|Cc|Subject|À|A|Objet|Para|Assunto|Asunto|An|Betreff|Oggetto|Aan|Onderwerp|Do|Temat|Komu|Předmět|Til|Emne|Till|Ämne",
    ))
});

/// The footers of mobile mail apps and of Outlook's apps, in every supported language.
static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    const DEVICE: &str = r"[\p{L}\p{N} .'’\-]{1,30}";
    const OS: &str = r"(?:ios|android|iphone|ipad|windows(?:\s+\d+)?)";
    re(&format!(
        r"(?i)^(?:(?:sent\s+from\s+my|envoyé\s+de\s+mon|envoyé\s+depuis\s+mon|enviado\s+do\s+meu|enviado\s+a\s+partir\s+do\s+meu|enviado\s+desde\s+mi|inviato\s+dal\s+mio|verstuurd\s+vanaf\s+mijn|verzonden\s+vanaf\s+mijn|gesendet\s+von\s+meinem)\s+{DEVICE}|von\s+meinem\s+{DEVICE}\s+gesendet|inviato\s+da\s+(?:iphone|ipad|android)|sent\s+from\s+(?:outlook|mail|yahoo\s+mail|aol\s+mail|proton\s*mail|samsung\s+mobile|gmail)(?:\s+(?:for|on)\s+{OS})?(?:\s+mobile)?|(?:get|download)\s+outlook\s+for\s+{OS}|obtenir\s+outlook\s+pour\s+{OS}|obter\s+o\s+outlook\s+para\s+{OS}|obtener\s+outlook\s+para\s+{OS}|scarica\s+outlook\s+per\s+{OS}|outlook\s+voor\s+{OS}\s+downloaden|outlook\s+für\s+{OS}\s+beziehen|gesendet\s+von\s+outlook(?:\s+für\s+{OS})?)$"
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

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
    fn prose_is_not_an_attribution() {
        for line in [
            "On Monday the link went down. We wrote:",
            "On 3 May the link went down. We wrote:",
            "On Monday we wrote: please check the port.",
            "Can you tell me what you wrote?",
        ] {
            assert_eq!(classify_attribution(line), None, "{line}");
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

    #[test]
    fn quoted_lines_allow_nesting_and_indentation() {
        assert!(is_quoted("> a"));
        assert!(is_quoted("> > a"));
        assert!(is_quoted(">>a"));
        assert!(is_quoted("  > a"));
        assert!(!is_quoted("a > b"));
    }

    #[test]
    fn separators_and_markers() {
        assert!(is_separator("________________________________"));
        assert!(is_separator("_____"));
        assert!(is_separator("-------------------------------------------"));
        assert!(!is_separator("--"));
        assert!(is_original_message("-----Original Message-----"));
        assert!(is_original_message("-----Message d'origine-----"));
        assert!(is_original_message("-----Ursprüngliche Nachricht-----"));
        assert!(is_original_message("----- Original Nachricht ----"));
        assert!(!is_original_message("the original message was lost"));
        assert!(is_forward_marker("---------- Forwarded message ---------"));
        assert!(is_forward_marker("-------- Forwarded Message --------"));
        assert!(is_forward_marker("Begin forwarded message:"));
        assert!(is_forward_marker("Début du message réexpédié :"));
        assert!(!is_forward_marker("I forwarded the message to NOC"));
    }

    #[test]
    fn header_blocks_need_a_date_and_a_recipient_or_subject() {
        let outlook = [
            "From: Jane <jane@example.com>",
            "Sent: Monday, May 6, 2024 10:00 AM",
            "To: Desk",
            "Subject: RE: Port down",
        ];
        assert!(is_header_block(&outlook, 0));
        let french = [
            "De\u{a0}: Jean",
            "Envoyé\u{a0}: lundi 6 mai 2024 10:00",
            "À\u{a0}: Desk",
        ];
        assert!(is_header_block(&french, 0));
        let bold = ["*From:* Jane", "*Sent:* Monday", "*To:* Desk"];
        assert!(is_header_block(&bold, 0));
        let converted = ["From:Jane <jane@example.com>", "Sent:Monday", "To:Desk"];
        assert!(is_header_block(&converted, 0));
        let prose = ["From: our side everything looks fine.", "Thanks"];
        assert!(!is_header_block(&prose, 0));
    }

    #[test]
    fn mobile_footers_of_every_language() {
        for line in [
            "Sent from my iPhone",
            "Sent from my Galaxy",
            "Envoyé de mon iPhone",
            "Enviado do meu iPhone",
            "Enviado desde mi iPhone",
            "Inviato da iPhone",
            "Verstuurd vanaf mijn iPhone",
            "Von meinem iPhone gesendet",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Get Outlook for Android",
            "Sent from Outlook",
            "Sent from Mail for Windows 10",
        ] {
            assert!(is_mobile_footer(line), "{line}");
        }
        assert!(!is_mobile_footer(
            "Sent from my laptop, the port is down again, please check it"
        ));
        assert!(!is_mobile_footer("Inviato da Marco il ticket di ieri"));
    }

    proptest::proptest! {
        /// The cheap first-word test never hides a line the footer pattern matches: each
        /// language's footer openings, then devices or filler, in any case and spacing.
        #[test]
        fn the_footer_prefilter_passes_every_footer(
            head in proptest::sample::select(vec![
                "sent from my", "envoyé de mon", "envoyé depuis mon", "enviado do meu",
                "enviado a partir do meu", "enviado desde mi", "inviato dal mio", "inviato da",
                "verstuurd vanaf mijn", "verzonden vanaf mijn", "gesendet von meinem",
                "von meinem", "sent from", "get outlook for", "download outlook for",
                "obtenir outlook pour", "obter o outlook para", "obtener outlook para",
                "scarica outlook per", "outlook voor", "gesendet von outlook", "the port is",
            ]),
            tail in proptest::collection::vec(proptest::sample::select(vec![
                "iphone", "ipad", "android", "ios", "windows", "10", "mail", "outlook", "gmail",
                "mobile", "for", "on", "gesendet", "downloaden", "beziehen", "Galaxy", "down",
            ]), 0..3),
            upper in proptest::collection::vec(proptest::bool::ANY, 8),
            sep in proptest::sample::select(vec![" ", "  ", "\u{a0}", "\t"]),
        ) {
            let words: Vec<&str> = head.split(' ').chain(tail.iter().copied()).collect();
            let line = words
                .iter()
                .zip(upper.iter().cycle())
                .map(|(w, u)| if *u { w.to_uppercase() } else { w.to_string() })
                .collect::<Vec<_>>()
                .join(sep);
            proptest::prop_assert_eq!(
                is_mobile_footer(&line),
                MOBILE_FOOTER.is_match(clean(&line)) && clean(&line).len() <= 80,
                "{:?}", line
            );
        }
    }

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

    #[test]
    fn removed_blocks_leave_one_blank_line() {
        let lines = ["a", "", "> q", "", "b"];
        assert_eq!(
            join_kept(&lines, &[true, true, false, true, true]),
            "a\n\nb"
        );
        let lines = ["a", "", "", "b"];
        assert_eq!(join_kept(&lines, &[true; 4]), "a\n\n\nb");
    }

    #[test]
    fn a_mail_that_is_only_a_quote_comes_back_whole() {
        let text = "On Mon, May 6, 2024 at 10:00 AM Jane <jane@example.com> wrote:\n> hello\n";
        let e = extract_new_text(text);
        assert_eq!(e.new_text, text.trim());
        assert!(!e.quote_removed && !e.signature_removed);
    }
}
