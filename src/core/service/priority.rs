//! Proposing a ticket's priority from what the customer wrote.
//!
//! Words that mean "it is down" in the desk languages propose P1; words that mean "degraded" or
//! "urgent" propose P2. The proposal starts the SLA clock at once (the clock starts at creation,
//! whatever the channel) and tier 1 confirms or changes it with `#priority`.
//!
//! A word counts unless the few words before it in its clause deny it ("no outage expected",
//! "not urgent", "pas urgent", "geen storing", "kein Ausfall", "isn't down"), plan it ("planned
//! outage", "coupure programmée" is read the other way round and counts), or make "down" an
//! action someone takes ("power down the server", "shut down", "scale down"): a P1 proposed
//! from a request for planned work starts a 15-minute clock that is breached before anyone
//! reads the ticket.

use crate::core::service::ticket::Priority;
use aho_corasick::AhoCorasick;
use std::sync::LazyLock;

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

/// Words that deny what follows them in the same clause.
const NEGATIONS: &[&str] = &[
    "no", "not", "non", "never", "without", "pas", "sans", "aucun", "aucune", "jamais", "niet",
    "geen", "zonder", "nooit", "nicht", "kein", "keine", "keinen", "ohne", "sin", "ningún",
    "ninguna", "nunca", "não", "nao", "sem", "nenhum", "nenhuma", "senza", "nessun", "nessuna",
    "nessuno",
];

/// Words that make an outage one that is planned, not one that is happening.
const PLANNED: &[&str] = &[
    "planned",
    "scheduled",
    "maintenance",
    "planifiée",
    "planifié",
    "prévue",
    "prévu",
    "gepland",
    "geplande",
    "geplante",
    "programada",
    "programado",
    "planeada",
    "planeado",
    "prevista",
    "previsto",
    "programmata",
    "programmato",
    "pianificata",
    "pianificato",
];

/// Verbs that make "down" an action someone takes, not a failure.
const ACTIONS_DOWN: &[&str] = &[
    "power", "powered", "powering", "shut", "shutting", "scale", "scaled", "scaling", "wind",
    "turn", "turned", "step", "slow", "slowed", "narrow", "write", "count",
];

/// How many words before a word are looked at for a negation or a plan.
const LOOK_BEFORE: usize = 3;

/// True when the word at `haystack[start..end]` counts: a whole word, not denied, planned or
/// made an action by the words before it in its clause.
fn counts(haystack: &str, start: usize, end: usize) -> bool {
    if !is_whole_word(haystack, start, end) {
        return false;
    }
    let clause_start = haystack[..start]
        .rfind(['.', '!', '?', ';', ':', ',', '\n'])
        .map_or(0, |i| i + 1);
    let before: Vec<&str> = haystack[clause_start..start]
        .split_whitespace()
        .rev()
        .take(LOOK_BEFORE)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’'))
        .collect();
    let denied = before
        .iter()
        .any(|w| NEGATIONS.contains(w) || w.ends_with("n't") || w.ends_with("n’t"));
    let planned = before.iter().any(|w| PLANNED.contains(w));
    let action =
        &haystack[start..end] == "down" && before.first().is_some_and(|w| ACTIONS_DOWN.contains(w));
    !(denied || planned || action)
}

/// The priority the words of `subject` and `text` suggest, if any. Only the first 4 KB of the
/// text are read: the customer's point is at the top, and quoted history further down must not
/// raise the priority of a follow-up question.
pub fn propose(subject: &str, text: &str) -> Option<Priority> {
    let head: String = text.chars().take(4096).collect();
    let haystack = format!(" {} \n {} ", subject.to_lowercase(), head.to_lowercase());
    // One pass over the text for every word of both lists (an Aho-Corasick automaton), instead
    // of one search per word: this runs on every new ticket.
    let mut p2 = false;
    for m in WORDS.find_overlapping_iter(&haystack) {
        if !counts(&haystack, m.start(), m.end()) {
            continue;
        }
        if m.pattern().as_usize() < P1_WORDS.len() {
            return Some(Priority::P1);
        }
        p2 = true;
    }
    p2.then_some(Priority::P2)
}

/// Every word of [`P1_WORDS`], then every word of [`P2_WORDS`]: a match's pattern index says
/// which list it came from.
static WORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::new(P1_WORDS.iter().chain(P2_WORDS))
        .expect("the built-in word lists make a valid automaton")
});

/// True when `haystack[start..end]` is not part of a longer word.
fn is_whole_word(haystack: &str, start: usize, end: usize) -> bool {
    let before = haystack[..start]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let after = haystack[end..]
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric);
    !before && !after
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

    #[test]
    fn a_denied_planned_or_wanted_word_proposes_nothing() {
        // The walkthrough's two requests, and their kin in the desk languages.
        let cases = [
            ("Config change", "Not urgent, any time today.", None),
            (
                "Remote hands",
                "Please power down server r12-u07 at 14:00. No outage expected.",
                None,
            ),
            ("", "Pas urgent : merci de vérifier le câblage.", None),
            ("", "Geen storing, alleen een vraag over de factuur.", None),
            ("", "Kein Ausfall, nur eine Frage.", None),
            ("", "The link isn't down, only slow.", None),
            (
                "Planned outage next week",
                "Will our backup link stay up?",
                None,
            ),
            ("", "Shut down port 3 and scale down the VMs please.", None),
            // What still counts: a clause of its own, or nothing in front.
            ("", "No, the link is down again.", Some(Priority::P1)),
            ("", "Not sure why, but AM11 is down.", Some(Priority::P1)),
            (
                "Urgent",
                "No outage, but packet loss of 5 %.",
                Some(Priority::P2),
            ),
            (
                "",
                "The server is not reachable since 09:40.",
                Some(Priority::P1),
            ),
            ("", "Nicht erreichbar seit 9 Uhr.", Some(Priority::P1)),
            // The subject is a clause of its own.
            (
                "No idea what happened",
                "Link down in AM11",
                Some(Priority::P1),
            ),
        ];
        for (subject, text, want) in cases {
            assert_eq!(propose(subject, text), want, "{subject:?} / {text:?}");
        }
    }

    /// The words of a list, searched one by one at every position: the plain reading of the rule
    /// that the automaton implements in one pass.
    fn model(subject: &str, text: &str) -> Option<Priority> {
        let head: String = text.chars().take(4096).collect();
        let hay = format!(" {} \n {} ", subject.to_lowercase(), head.to_lowercase());
        let has = |w: &&str| {
            hay.match_indices(*w)
                .any(|(i, _)| counts(&hay, i, i + w.len()))
        };
        if P1_WORDS.iter().any(has) {
            Some(Priority::P1)
        } else if P2_WORDS.iter().any(has) {
            Some(Priority::P2)
        } else {
            None
        }
    }

    proptest::proptest! {
        #[test]
        fn one_pass_finds_what_a_search_per_word_finds(
            words in proptest::collection::vec(proptest::sample::select(vec![
                "down", "downstream", "shut", "Down.", "p1", "p12", "panne", "pannes", "caído",
                "caídos", "urgent", "urgente", "URGENTE!", "latency", "packet", "loss", "the",
                "link", "störung", "Störungen", "ligt", "plat", "werkt", "niet", "meer", "é",
            ]), 0..12),
            split in 0usize..12,
        ) {
            let split = split.min(words.len());
            let subject = words[..split].join(" ");
            let text = words[split..].join(" ");
            proptest::prop_assert_eq!(propose(&subject, &text), model(&subject, &text));
        }
    }
}
