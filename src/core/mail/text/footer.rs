//! The one-line footers that mobile mail apps and Outlook's apps append ("Sent from my iPhone",
//! "Von meinem iPhone gesendet", "Get Outlook for iOS" …), in the desks' seven languages (en, fr,
//! pt, es, it, nl, de) and the ones the reply suites show in others.

use super::line::clean;
use crate::core::mail::pattern::re;
use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// True for the one-line footer a mobile mail app appends.
pub(super) fn is_mobile_footer(line: &str) -> bool {
    let l = clean(line);
    if l.is_empty() || l.len() > 300 {
        return false;
    }
    let l = normalise(l);
    l.len() <= 80 && could_be_a_footer(&l) && MOBILE_FOOTER.is_match(&l)
}

/// The footer without what clients and converters wrap around it: brackets (`(Sent from my
/// phone)`, `<<sent by galaxy>>`), a Markdown link (`Get [Outlook for Android](https://…)`), a
/// link after the text (Outlook's HTML-to-text keeps it: `Get Outlook for iOS<https://…>`, or
/// glued: `…iOShttps://…`), and a closing `.` or `!`.
fn normalise(line: &str) -> Cow<'_, str> {
    let mut l = line;
    loop {
        let before = l;
        for (open, close) in [("<<", ">>"), ("(", ")"), ("[", "]"), ("*", "*"), ("_", "_")] {
            if l.len() > open.len() + close.len() && l.starts_with(open) && l.ends_with(close) {
                l = l[open.len()..l.len() - close.len()].trim();
            }
        }
        if l == before {
            break;
        }
    }
    let mut out: Cow<'_, str> = Cow::Borrowed(l);
    // Every line of a mail comes through here: the one-character tests (memchr) keep the
    // substring searches off lines that hold no link at all.
    if out.contains(']') && out.contains("](") {
        out = Cow::Owned(unlink_markdown(&out));
    }
    let link = || out.find("http://").or_else(|| out.find("https://"));
    if let Some(pos) = out.contains(':').then(link).flatten() {
        // Only a link at the end, with no text after it, is dropped.
        let rest = out[pos..].trim_end_matches(['>', ')']);
        if !rest.contains(char::is_whitespace) {
            let kept = out[..pos].trim_end_matches(['<', '(', ' ']).to_string();
            out = Cow::Owned(kept);
        }
    } else if let Some(pos) = out.ends_with('>').then(|| out.find('<')).flatten() {
        out = Cow::Owned(out[..pos].to_string());
    }
    let trimmed = out.trim_end_matches(['.', '!', ' ']);
    if trimmed.len() != out.len() {
        out = Cow::Owned(trimmed.to_string());
    }
    out
}

/// `[text](url)` → `text`.
fn unlink_markdown(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|m| open + m) else {
            break;
        };
        let Some(close) = rest[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..mid]);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The words a mobile footer can start with: every alternative of [`MOBILE_FOOTER`] begins with
/// one of them and a space, starts with one of [`FOOTER_PREFIXES`], or ends with one of
/// [`FOOTER_SUFFIXES`].
const FOOTER_FIRST_WORDS: &[&str] = &[
    "sent",
    "envoyé",
    "enviado",
    "inviato",
    "verstuurd",
    "verzonden",
    "gesendet",
    "von",
    "diese",
    "get",
    "download",
    "obtenir",
    "obter",
    "obtener",
    "scarica",
    "outlook",
    "from",
    "via",
    "sendt",
    "skickat",
    "wysłane",
    "отправлено",
];

/// Footers written without a space after their first word (Chinese).
const FOOTER_PREFIXES: &[&str] = &["從我的", "从我的"];

/// Footers whose first word is free: "Jane from mobile", "Jane via mobile", "Jane from my
/// phone", and Japanese "iPhoneから送信".
const FOOTER_SUFFIXES: &[&[&str]] = &[
    &["from", "mobile"],
    &["via", "mobile"],
    &["from", "my", "phone"],
];

/// A cheap test that lets [`MOBILE_FOOTER`] run only on lines that could match it. The regex is
/// large (Unicode classes repeated up to 40 times): on most lines the regex engine's lazy DFA
/// gives up and its backtracker clears a bitmap of NFA states × line length per line, which made
/// this one check the largest cost of ingest.
fn could_be_a_footer(line: &str) -> bool {
    if FOOTER_PREFIXES.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    let Some((first, _)) = line.split_once(char::is_whitespace) else {
        return false;
    };
    if first.chars().count() <= 12 && FOOTER_FIRST_WORDS.contains(&first.to_lowercase().as_str()) {
        return true;
    }
    if line.len() > 60 {
        return false;
    }
    if line.ends_with("から送信") {
        return true;
    }
    let words: Vec<String> = line.split_whitespace().map(str::to_lowercase).collect();
    FOOTER_SUFFIXES.iter().any(|tail| {
        words.len() > tail.len() && words[words.len() - tail.len()..].iter().eq(tail.iter())
    })
}

/// The footers of mobile mail apps and of Outlook's apps, in every supported language.
static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    // Unbounded here: the line is at most 80 bytes long, and a counted repetition of a
    // Unicode class multiplies the compiled program past the regex crate's size limit.
    const DEVICE: &str = r"[\p{L}\p{N} .'’®™\-]+";
    const OS: &str = r"(?:ios|android|iphone|ipad|mac|windows(?:\s+\d+)?)";
    const APP: &str = r"(?:outlook|mail|mailbox|windows\s+mail|yahoo\s*mail|aol\s+mail|proton\s*mail|gmail|samsung\s+mobile|e-?mail|correo|posta|courrier)";
    const EXCUSE: &str = r"(?:[,.!]?\s+(?:please\s+)?(?:excuse|pardon|forgive)\s[^<>]{0,40})?";
    re(&format!(
        r"(?i)^(?:{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{})$",
        // "Sent from my iPhone" and its translations, with a device of up to 40 characters.
        format_args!(
            r"(?:sent\s+from\s+my|sent\s+wirelessly\s+from\s+my|sent\s+from\s+(?:a|an)|sent\s+(?:via|with|using|by)|envoyé\s+de\s+mon|envoyé\s+depuis\s+mon|envoyé\s+sans\s+fil\s+par\s+mon|enviado\s+do\s+meu|enviado\s+a\s+partir\s+do\s+meu|enviado\s+desde\s+mi|enviado\s+de\s+mi|inviato\s+dal\s+mio|verstuurd\s+vanaf\s+mijn|verzonden\s+vanaf\s+mijn|(?:verzonden|verstuurd)\s+(?:met|via)|gesendet\s+von\s+meinem|gesendet\s+mit(?:\s+der)?|sendt\s+fra\s+min|skickat\s+från\s+min|wysłane\s+z\s+mojego|отправлено\s+с)\s+{DEVICE}{EXCUSE}"
        ),
        // The apps: "Sent from Outlook for iOS", "Sent from Mail for Windows 10".
        format_args!(
            r"sent\s+from\s+(?:{APP}|mobile(?:\s+device)?|phone|cell|smartphone|tablet)(?:\s+(?:for|on)\s+{OS})?(?:\s+mobile)?"
        ),
        format_args!(r"von\s+meinem\s+{DEVICE}\s+gesendet"),
        format_args!(
            r"diese\s+nachricht\s+wurde\s+von\s+meinem\s+{DEVICE}(?:\s+mit\s+{DEVICE})?\s+gesendet"
        ),
        format_args!(r"gesendet\s+von\s+{APP}(?:\s+für\s+{OS})?"),
        format_args!(
            r"envoyé\s+(?:de|depuis|à\s+partir\s+de|à\s+partir\s+d['’])\s*{APP}(?:\s+pour\s+{OS})?"
        ),
        format_args!(r"enviado\s+(?:do|desde|de)\s+{APP}(?:\s+(?:para|for)\s+{OS})?"),
        format_args!(r"inviato\s+da\s+(?:iphone|ipad|android|{APP})(?:\s+(?:per|su)\s+{OS})?"),
        format_args!(r"(?:verzonden|verstuurd)\s+(?:vanuit|vanaf)\s+{APP}(?:\s+voor\s+{OS})?"),
        // Outlook's own invitations.
        format_args!(
            r"(?:get|download)\s+outlook\s+for\s+{OS}|obtenir\s+outlook\s+pour\s+{OS}|obter\s+o\s+outlook\s+para\s+{OS}|obtener\s+outlook\s+para\s+{OS}|scarica\s+outlook\s+per\s+{OS}|outlook\s+voor\s+{OS}\s+downloaden|outlook\s+für\s+{OS}\s+beziehen"
        ),
        // Short signatures that say only where the mail was written.
        format_args!(
            r"from\s+my\s+(?:iphone|ipad|ipod|android|mobile|phone|cell|smartphone|blackberry|galaxy|samsung|huawei|pixel)(?:\s+[\p{{L}}\p{{N}}]+){{0,2}}"
        ),
        format_args!(r"via\s+(?:mobile|phone|iphone|ipad|android|blackberry)"),
        format_args!(r"\p{{L}}+\s+(?:from|via)\s+(?:mobile|my\s+phone)"),
        format_args!(r"(?:從|从)我的\s*{DEVICE}\s*(?:傳送|发送)|{DEVICE}から送信"),
    ))
});

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The desks' seven languages, Outlook's and Samsung's apps in each, and the shapes the
    /// reply suites collect (Discourse's trimmer `signatures.txt`, talon's signature tests).
    #[test]
    fn more_footers_of_the_desk_languages_and_the_suites() {
        for line in [
            // en
            "Sent from my iPhone!",
            "Sent from my Samsung Galaxy s5 Octacore device",
            "Sent from my cell, please excuse any typos.",
            "Sent from my HTC M8 Android phone.  Please excuse typoze",
            "Sent from my Windows 8 PC <http://windows.microsoft.com/consumer-preview>",
            "Sent wirelessly from my BlackBerry device on the Bell network.",
            "Sent from Mailbox for iPad",
            "Sent from Windows Mail",
            "Sent from Yahoo Mail on Android",
            "Sent via mobile",
            "Sent with Airmail",
            "(sent from a phone)",
            "(Sent from mobile device)",
            "<<sent by galaxy>>",
            "From My Iphone 6",
            "Someone from mobile",
            "via mobile",
            "Sent from [mail](https://go.microsoft.com/fwlink/?LinkId=550986) for windows 10",
            "Get Outlook for iOShttps://aka.ms/o0ukef",
            "Get [Outlook for Android](https://aka.ms/ghei36)",
            // fr
            "Envoyé depuis mon iPhone",
            "Envoyé sans fil par mon terminal mobile BlackBerry sur le réseau de Bell.",
            "Envoyé de mon appareil Galaxy",
            "Envoyé à partir de Outlook pour Android",
            "Obtenir Outlook pour iOS",
            // pt
            "Enviado do meu smartphone Samsung Galaxy",
            "Enviado do Yahoo Mail para iPhone",
            "Obter o Outlook para Android",
            // es
            "Enviado desde mi oficina móvil BlackBerry® de Telcel",
            "Enviado desde Outlook para iOS",
            "Obtener Outlook para Android",
            // it
            "Inviato dal mio smartphone Samsung Galaxy.",
            "Inviato da Outlook per Android",
            "Scarica Outlook per iOS",
            // nl
            "Verzonden met BlackBerry Work",
            "Verzonden vanuit Outlook voor iOS",
            "Outlook voor Android downloaden",
            // de
            "Von meinem Mobilgerät gesendet",
            "Gesendet von meinem iPhone",
            "Gesendet mit der WEB.DE Mail App",
            "Gesendet von Outlook für Android",
            "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
            // others the suites show
            "Sendt fra min iPad",
            "Skickat från min iPhone",
            "從我的 iPhone 傳送",
        ] {
            assert!(is_mobile_footer(line), "{line}");
        }
        for line in [
            "From my side everything looks fine",
            "From my iPhone I cannot open the portal at all",
            "Sent from the office: the port is down",
            "Via the portal the ticket cannot be opened",
            "Von meinem Kollegen habe ich gehört, dass der Port down ist",
            "Get the logs from the router",
        ] {
            assert!(!is_mobile_footer(line), "{line}");
        }
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
                // Added with the footers of the reply suites.
                "sent via", "sent with", "sent wirelessly from my", "envoyé sans fil par mon",
                "verzonden met", "gesendet mit der", "diese nachricht wurde von meinem",
                "sendt fra min", "skickat från min", "from my", "via", "someone from",
                "envoyé à partir de", "enviado desde", "verzonden vanuit",
            ]),
            tail in proptest::collection::vec(proptest::sample::select(vec![
                "iphone", "ipad", "android", "ios", "windows", "10", "mail", "outlook", "gmail",
                "mobile", "for", "on", "gesendet", "downloaden", "beziehen", "Galaxy", "down",
                "phone", "pour", "para", "voor", "mit", "k-9",
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
}
