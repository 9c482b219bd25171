//! Where the quoted history starts: the one pass over the lines that finds the first cut marker
//! (`-----Original Message-----`, an Outlook header block, a reply attribution that nothing
//! quoted follows) or forward line, and the attributions that introduce `>`-quoted blocks.

use super::attribution::attribution_at;
use super::line::{clean, head, is_blank};
use super::quotes::next_content_is_quoted;
use crate::core::mail::pattern::re;
use regex::Regex;
use std::sync::LazyLock;

/// What one pass over the lines found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Scan {
    /// The first line of history that runs to the end of the mail, if any.
    pub(super) cut: Option<usize>,
    /// The line that starts a forwarded message, if it comes before any cut.
    pub(super) forward: Option<usize>,
    /// Where the part that is cleaned up ends: the cut, the forward, or the end of the mail.
    pub(super) end: usize,
    /// Attribution lines that are dropped without cutting what follows them, in ascending
    /// order: those that introduce a `>`-quoted block (the answers around it are kept), and one
    /// that opens the mail with nothing of the writer's above it.
    pub(super) intros: Vec<usize>,
}

/// Finds the first cut marker or forward line, and the attributions that introduce quotes.
/// `quoted` says which lines belong to a quote (see `quotes::mark`).
pub(super) fn scan(lines: &[&str], quoted: &[bool]) -> Scan {
    let mut found = Scan {
        end: lines.len(),
        ..Scan::default()
    };
    // Whether anything of the writer's stands above the line being looked at.
    let mut writer_above = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if quoted[i] {
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
            // An attribution that opens the mail introduces what follows even without quotes:
            // there is no answer above it to keep, and cutting would leave nothing.
            if next_content_is_quoted(lines, after) || (attribution.strong && !writer_above) {
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
        writer_above |= !is_blank(line);
        i += 1;
    }
    found
}

/// True for a line that starts a forwarded message.
pub(super) fn is_forward_marker(line: &str) -> bool {
    let l = clean(line);
    // Every forward line starts with dashes or ends with a colon; the pattern runs on those only.
    l.len() <= 120 && (l.starts_with("--") || l.ends_with(':')) && FORWARD.is_match(l)
}

/// True for `-----Original Message-----` and its translations, also in bold (`*-----…-----*`).
pub(super) fn is_original_message(line: &str) -> bool {
    let l = clean(line).trim_matches('*').trim();
    l.len() <= 120 && l.starts_with("--") && ORIGINAL_MESSAGE.is_match(l)
}

/// How many non-blank lines after a `From:` line may hold the rest of an Outlook header block.
const HEADER_BLOCK_WINDOW: usize = 6;

/// True when line `i` starts a header block of quoted history, as Outlook, Outlook for Mac,
/// Hotmail, Yahoo and Windows Mail write it in every language:
///
/// - a `From:` line followed within a few lines by a date line and a `To:` or `Subject:` line,
///   also when Outlook put them all on one line (`From: X Sent: Y To: Z Subject: W`);
/// - a `From: <address>` line directly followed by a date line;
/// - a run of header lines starting with another label (`Date:`, `Subject:` …) that holds a
///   date line and a `From:` line, or a date line with a time.
///
/// One `From:` line alone is not enough, nor `From:` and `To:` without a date: a customer may
/// well write "From: our side everything looks fine" or an outage's "From: 09:58 / To: 10:42".
pub(super) fn is_header_block(lines: &[&str], i: usize) -> bool {
    let first = clean(lines[i]);
    if first.len() > 1000 {
        return false;
    }
    let Some((kind, value)) = label_at_start(first) else {
        return false;
    };
    let mut seen = Seen::default();
    seen.add(kind);
    if kind == Label::From {
        seen.add_inner(first);
        let following = lines
            .iter()
            .skip(i + 1)
            .take(HEADER_BLOCK_WINDOW * 2)
            .map(|l| clean(l))
            .filter(|l| !l.is_empty())
            .take(HEADER_BLOCK_WINDOW);
        for (n, l) in following.enumerate() {
            if l.len() > 1000 {
                break;
            }
            if let Some((k, v)) = label_at_start(l) {
                if n == 0 && k == Label::Date && value.contains('@') && has_digit(v) {
                    return true;
                }
                seen.add(k);
                seen.add_inner(l);
            }
        }
        return seen.date && (seen.to || seen.subject);
    }
    let mut date_has_time = kind == Label::Date && TIME.is_match(head(value, 200));
    let mut run = 1;
    for l in lines.iter().skip(i + 1).take(8).map(|l| clean(l)) {
        let Some((k, v)) = label_at_start(l) else {
            break;
        };
        if k == Label::Date {
            date_has_time |= TIME.is_match(head(v, 200));
        }
        seen.add(k);
        run += 1;
    }
    run >= 2 && seen.date && (seen.from || date_has_time)
}

/// What a header line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    From,
    Date,
    To,
    Subject,
    ReplyTo,
}

/// The labels seen in a header block.
#[derive(Debug, Default)]
struct Seen {
    from: bool,
    date: bool,
    to: bool,
    subject: bool,
}

impl Seen {
    fn add(&mut self, label: Label) {
        match label {
            Label::From => self.from = true,
            Label::Date => self.date = true,
            Label::To => self.to = true,
            Label::Subject => self.subject = true,
            Label::ReplyTo => {}
        }
    }

    /// Adds the labels that follow the first one on the same line: Outlook's one-line form
    /// `From: X Sent: Y To: Z Subject: W`. A label counts when the word (or two) before a
    /// colon is one: the colons of times and of `RE:` are not.
    fn add_inner(&mut self, line: &str) {
        let line = head(line, 1000);
        for (p, _) in line.match_indices([':', '：']).skip(1).take(20) {
            let before = line[..p].trim_end_matches(|c: char| c == '*' || c.is_whitespace());
            let mut words = before.rsplit(char::is_whitespace);
            let Some(last) = words.next() else { continue };
            let last = last.trim_start_matches('*');
            if let Some(label) = label_kind(last) {
                self.add(label);
            } else if let Some(previous) = words.next() {
                if let Some(label) = label_kind(&format!("{previous} {last}")) {
                    self.add(label);
                }
            }
        }
    }
}

/// The header label a line starts with, and the value after it. The value may follow without a
/// space: the parser's HTML-to-text turns Outlook's `<b>From:</b> Jane` into `From:Jane`. Some
/// converters render the bold label as `*From:*`, hence the stars.
fn label_at_start(line: &str) -> Option<(Label, &str)> {
    // Two single-character searches (memchr) rather than one over a set of characters: this
    // runs on every line of every mail.
    let probe = head(line, 40);
    let ascii = probe.find(':').map(|p| (p, 1));
    let wide = (!probe.is_ascii())
        .then(|| probe.find('：'))
        .flatten()
        .map(|p| (p, '：'.len_utf8()));
    let (colon, width) = match (ascii, wide) {
        (Some(a), Some(w)) => a.min(w),
        (a, w) => a.or(w)?,
    };
    let name = line[..colon].trim_matches(|c: char| c == '*' || c.is_whitespace());
    if name.is_empty() || name.len() > 30 {
        return None;
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let label = label_kind(&name)?;
    let value = line[colon + width..].trim_start_matches('*').trim();
    Some((label, value))
}

/// The header labels of the mail clients in the languages the desks and the reply suites see:
/// en, fr, pt, es, it, nl, de, da, no, sv, pl, cs, ru, uk, fi, hu, tr, zh, ja.
fn label_kind(name: &str) -> Option<Label> {
    let lower = name.to_lowercase();
    let label = match lower.as_str() {
        "from" | "de" | "von" | "da" | "van" | "od" | "fra" | "från" | "от" | "від"
        | "lähettäjä" | "feladó" | "kimden" | "afzender" | "发件人" | "寄件者" | "差出人" => {
            Label::From
        }
        "sent"
        | "date"
        | "envoyé"
        | "enviado"
        | "enviado el"
        | "enviada em"
        | "enviado em"
        | "fecha"
        | "gesendet"
        | "datum"
        | "inviato"
        | "data"
        | "verzonden"
        | "wysłano"
        | "odesláno"
        | "sendt"
        | "skickat"
        | "отправлено"
        | "дата"
        | "надіслано"
        | "lähetetty"
        | "küldve"
        | "gönderildi"
        | "发送时间"
        | "日期"
        | "寄件日期"
        | "送信日時" => Label::Date,
        "to" | "cc" | "bcc" | "à" | "a" | "para" | "an" | "aan" | "do" | "dw" | "komu" | "til"
        | "till" | "kopie" | "кому" | "копия" | "vastaanottaja" | "címzett" | "kime" | "收件人"
        | "收件者" | "宛先" => Label::To,
        "subject" | "objet" | "assunto" | "asunto" | "betreff" | "oggetto" | "onderwerp"
        | "temat" | "předmět" | "emne" | "ämne" | "тема" | "aihe" | "tárgy" | "konu" | "主题"
        | "主旨" | "件名" => Label::Subject,
        "reply-to" | "risposta" | "répondre à" | "antwort an" | "responder a" => Label::ReplyTo,
        _ => return None,
    };
    Some(label)
}

fn has_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

/// A time of day, as a date line of a header block holds it.
static TIME: LazyLock<Regex> = LazyLock::new(|| re(r"\b\d{1,2}:\d{2}\b"));

/// The separator line Outlook writes above its header block (`____…`, or a dashed or `_____`
/// rule in older versions), looking back over at most two blank lines.
pub(super) fn separator_above(lines: &[&str], i: usize) -> Option<usize> {
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
pub(super) fn is_separator(line: &str) -> bool {
    let chars = line.chars().filter(|c| *c != ' ').count();
    chars >= 5 && line.chars().all(|c| matches!(c, '_' | '-' | '=' | ' '))
}

/// A forwarded message begins (Gmail, Thunderbird, KMail, Apple Mail; all languages supported).
static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:-{2,}\s*(?:forwarded\s+message|message\s+transféré|mensagem\s+encaminhada|mensaje\s+reenviado|messaggio\s+inoltrato|doorgestuurd\s+bericht|weitergeleitete\s+nachricht)\s*-{2,}|(?:begin\s+forwarded\s+message|début\s+du\s+message\s+réexpédié|início\s+da\s+mensagem\s+reencaminhada|inicio\s+del\s+mensaje\s+reenviado|inizio\s+messaggio\s+inoltrato|begin\s+doorgestuurd\s+bericht|anfang\s+der\s+weitergeleiteten\s+nachricht)\s*:)$",
    )
});

/// `-----Original Message-----` (Outlook), `-------- Original Message --------` (Thunderbird),
/// `-----Reply Message-----` and their translations, including T-Online's `----- Original
/// Nachricht ----` and `-----Antwort Nachricht-----`.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^-{2,}\s*(?:original\s+message|reply\s+message|message\s+d['’]origine|message\s+original|mensagem\s+original|mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|origineel\s+bericht|ursprüngliche\s+nachricht|original\s*nachricht|antwort\s*nachricht|wiadomość\s+oryginalna|oryginalna\s+wiadomość|původní\s+zpráva|oprindelig\s+meddelelse|opprinnelig\s+melding|ursprungligt\s+meddelande|alkuperäinen\s+viesti|исходное\s+сообщение|оригинальное\s+сообщение|eredeti\s+üzenet|原始邮件|原始郵件)\s*-{2,}$",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

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
    fn original_message_markers_of_more_languages() {
        for line in [
            "*-------- Original Message --------*",
            "-----Oprindelig meddelelse-----",
            "-----Reply Message-----",
            "-----Antwort Nachricht-----",
            "------------------ 原始邮件 ------------------",
        ] {
            assert!(is_original_message(line), "{line}");
        }
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
    fn header_blocks_in_one_line_and_other_orders() {
        let one_line = [
            "From: Jane <jane@example.com> Sent: Monday, May 6, 2024 10:00 AM To: Desk Subject: RE: Port down",
        ];
        assert!(is_header_block(&one_line, 0));
        let german = ["Von: Jane Gesendet: Montag, 6. Mai 2024 10:00 An: Desk Betreff: AW: Port"];
        assert!(is_header_block(&german, 0));
        let russian = [
            "От: Alexander",
            "Отправлено: 26 июня 2014 г. 15:05",
            "Кому: Alex",
        ];
        assert!(is_header_block(&russian, 0));
        let hotmail = [
            "Date: Thu, 26 Jun 2014 13:53:45 +0400",
            "Subject: Test",
            "From: abc@example.com",
            "To: alex@example.com",
        ];
        assert!(is_header_block(&hotmail, 0));
        let date_to = [
            "Date: Wed, 16 May 2012 00:15:02 -0600",
            "To: bob@example.com",
        ];
        assert!(is_header_block(&date_to, 0));
        let from_date = ["From: somebody@example.com", "Date: Wed, 16 May 2012"];
        assert!(is_header_block(&from_date, 0));
        // An outage timeline and a sentence with times are not headers.
        let timeline = ["From: 09:58 UTC", "To: 10:42 UTC", "Impact: all traffic"];
        assert!(!is_header_block(&timeline, 0));
        assert!(!is_header_block(&timeline, 1));
        let sentence = ["From: our side the date: unknown, as of 10:00"];
        assert!(!is_header_block(&sentence, 0));
        let date_only = ["Date: tomorrow", "To: all customers"];
        assert!(!is_header_block(&date_only, 0));
    }
}
