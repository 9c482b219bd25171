//! Proposing a ticket's priority from what the customer wrote.
//!
//! Words that mean "it is down" in the desk languages propose P1; words that mean "degraded" or
//! "urgent" propose P2. The proposal starts the SLA clock at once (the clock starts at creation,
//! whatever the channel) and tier 1 confirms or changes it with `#priority`.

use super::ticket::Priority;

/// Words (lower case) that propose P1: a service is down.
const P1_WORDS: &[&str] = &[
    "p1",
    "outage",
    "down",
    "not reachable",
    "unreachable",
    "no connectivity",
    "total loss",
    "panne",
    "indisponible",
    "hors service",
    "coupure",
    "interruption totale",
    "incidente grave",
    "caído",
    "caida",
    "caída",
    "sin servicio",
    "fuera de servicio",
    "avaria",
    "fora de serviço",
    "sem serviço",
    "inoperacional",
    "indisponível",
    "guasto",
    "disservizio",
    "fuori servizio",
    "non raggiungibile",
    "storing",
    "uitval",
    "onbereikbaar",
    "ligt plat",
    "werkt niet meer",
    "ausfall",
    "totalausfall",
    "störung",
    "nicht erreichbar",
];

/// Words (lower case) that propose P2: degraded, urgent.
const P2_WORDS: &[&str] = &[
    "p2",
    "urgent",
    "degraded",
    "packet loss",
    "flapping",
    "intermittent",
    "latency",
    "urgente",
    "dégradé",
    "perte de paquets",
    "incidente",
    "pérdida de paquetes",
    "degradado",
    "perda de pacotes",
    "degradato",
    "perdita di pacchetti",
    "dringend",
    "spoed",
    "pakketverlies",
    "paketverlust",
    "dringend",
];

/// The priority the words of `subject` and `text` suggest, if any. Only the first 4 KB of the
/// text are read: the customer's point is at the top, and quoted history further down must not
/// raise the priority of a follow-up question.
pub fn propose(subject: &str, text: &str) -> Option<Priority> {
    let head: String = text.chars().take(4096).collect();
    let haystack = format!(" {} {} ", subject.to_lowercase(), head.to_lowercase());
    let has = |w: &&str| contains_word(&haystack, w);
    if P1_WORDS.iter().any(has) {
        Some(Priority::P1)
    } else if P2_WORDS.iter().any(has) {
        Some(Priority::P2)
    } else {
        None
    }
}

/// True when `word` occurs in `haystack` with no letter or digit directly before or after it.
fn contains_word(haystack: &str, word: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = haystack[from..].find(word) {
        let start = from + pos;
        let end = start + word.len();
        let before = haystack[..start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let after = haystack[end..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        if !before && !after {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_the_desk_languages_propose_a_priority() {
        let cases = [
            ("Link down in AM11", "", Some(Priority::P1)),
            ("Panne totale", "", Some(Priority::P1)),
            ("Servidor indisponível", "", Some(Priority::P1)),
            ("", "La conexión está caída desde las 9", Some(Priority::P1)),
            ("Guasto alimentazione", "", Some(Priority::P1)),
            ("Storing op verbinding", "", Some(Priority::P1)),
            ("Totalausfall Rack 12", "", Some(Priority::P1)),
            ("URGENT: packet loss towards DE-CIX", "", Some(Priority::P2)),
            ("Incidente en MAD2", "", Some(Priority::P2)),
            (
                "Invoice question",
                "Could you send the October invoice?",
                None,
            ),
            ("Download speeds", "the downstream port is fine", None),
            ("Shutdown planned", "", None),
        ];
        for (subject, text, want) in cases {
            assert_eq!(propose(subject, text), want, "{subject:?} / {text:?}");
        }
    }
}
