//! The languages deskgate speaks (the desk languages), below everything that needs the list:
//! config validation, templates, dates and the status page; and which of them a text is
//! written in ([`detect`]), for a sender the accounts file does not know.

/// A language deskgate speaks: the desk languages, with templates and status-page words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Fr,
    Pt,
    Es,
    It,
    Nl,
    De,
}

impl Lang {
    /// Every language, in the order of the desks' default list.
    pub const ALL: [Lang; 7] = [
        Lang::En,
        Lang::Fr,
        Lang::Pt,
        Lang::Es,
        Lang::It,
        Lang::Nl,
        Lang::De,
    ];

    /// The ISO 639-1 code, as in `<html lang>` and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Pt => "pt",
            Lang::Es => "es",
            Lang::It => "it",
            Lang::Nl => "nl",
            Lang::De => "de",
        }
    }

    /// Reads a language tag by its primary subtag, ignoring case: `fr`, `FR`, `pt-BR`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// A number with `places` decimals as readers of the language write it: a comma before
    /// the decimals everywhere but in English (`31,4` in French, German, Spanish, Italian,
    /// Dutch and Portuguese).
    pub fn decimal(self, value: f64, places: usize) -> String {
        let s = format!("{value:.places$}");
        match self {
            Lang::En => s,
            _ => s.replace('.', ","),
        }
    }

    /// The language's name in itself, for the links to the other languages.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Pt => "Português",
            Lang::Es => "Español",
            Lang::It => "Italiano",
            Lang::Nl => "Nederlands",
            Lang::De => "Deutsch",
        }
    }
}

/// Common words of each language that the others do not share (so no `de`, `que`, `en`, `la`,
/// `con` or `para`, which several of them write), lower case.
const COMMON_WORDS: [(Lang, &[&str]); 7] = [
    (
        Lang::En,
        &[
            "the", "and", "we", "you", "our", "your", "please", "with", "this", "have", "since",
            "thanks", "hello", "regards", "are", "of", "it", "to", "from", "can", "be",
        ],
    ),
    (
        Lang::Fr,
        &[
            "le",
            "les",
            "des",
            "est",
            "nous",
            "vous",
            "notre",
            "votre",
            "avec",
            "pour",
            "dans",
            "depuis",
            "merci",
            "bonjour",
            "pas",
            "sur",
            "cordialement",
            "une",
            "au",
            "du",
            "ce",
        ],
    ),
    (
        Lang::Pt,
        &[
            "não",
            "nosso",
            "nossa",
            "vocês",
            "você",
            "estão",
            "obrigado",
            "obrigada",
            "olá",
            "também",
            "já",
            "muito",
            "uma",
            "os",
            "ao",
            "às",
            "pelo",
            "pela",
            "nós",
            "atenciosamente",
        ],
    ),
    (
        Lang::Es,
        &[
            "el",
            "los",
            "las",
            "nuestro",
            "nuestra",
            "ustedes",
            "gracias",
            "hola",
            "favor",
            "del",
            "muy",
            "saludos",
            "una",
            "pero",
            "también",
            "hay",
            "usted",
            "nosotros",
            "atentamente",
        ],
    ),
    (
        Lang::It,
        &[
            "il",
            "gli",
            "della",
            "è",
            "per",
            "grazie",
            "buongiorno",
            "sono",
            "alle",
            "abbiamo",
            "cordiali",
            "saluti",
            "dal",
            "nel",
            "questo",
            "anche",
            "ancora",
            "nostro",
            "nostra",
            "di",
        ],
    ),
    (
        Lang::Nl,
        &[
            "het",
            "een",
            "wij",
            "onze",
            "jullie",
            "niet",
            "sinds",
            "bedankt",
            "graag",
            "goedemorgen",
            "van",
            "groeten",
            "voor",
            "ook",
            "maar",
            "dat",
            "zijn",
            "uw",
            "wordt",
        ],
    ),
    (
        Lang::De,
        &[
            "der",
            "das",
            "ist",
            "wir",
            "unser",
            "unsere",
            "für",
            "nicht",
            "seit",
            "danke",
            "bitte",
            "und",
            "ein",
            "eine",
            "von",
            "grüße",
            "freundlichen",
            "auch",
            "sind",
            "ich",
        ],
    ),
];

/// Every common word with the languages (indices into [`COMMON_WORDS`]) that list it: one
/// look-up per word of the text (this runs on every mail from an unknown sender).
static WORD_LANGS: std::sync::LazyLock<std::collections::HashMap<&'static str, Vec<usize>>> =
    std::sync::LazyLock::new(|| {
        let mut map: std::collections::HashMap<&'static str, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, (_, words)) in COMMON_WORDS.iter().enumerate() {
            for w in *words {
                map.entry(*w).or_default().push(i);
            }
        }
        map
    });

/// Words of a text looked at: its point is at the top, and a few dozen words decide.
const DETECT_WORDS: usize = 300;
/// Common words the most frequent language needs, and how many more than the next one, before
/// a text is said to be written in it: a greeting alone, or a mix, decides nothing.
const DETECT_MIN: usize = 3;
const DETECT_LEAD: usize = 2;

/// The desk language `text` is written in, recognised from its common words, if it clearly is
/// one of them.
pub fn detect(text: &str) -> Option<Lang> {
    let mut hits = [0usize; 7];
    let words = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .take(DETECT_WORDS);
    for word in words {
        let word = word.to_lowercase();
        if let Some(langs) = WORD_LANGS.get(word.as_str()) {
            for &i in langs {
                hits[i] += 1;
            }
        }
    }
    let mut ranked: Vec<(usize, Lang)> = hits
        .iter()
        .zip(COMMON_WORDS.iter())
        .map(|(&n, (lang, _))| (n, *lang))
        .collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    let (best, lang) = ranked[0];
    let next = ranked[1].0;
    (best >= DETECT_MIN && best >= next + DETECT_LEAD).then_some(lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_recognised_in_each_desk_language() {
        let cases = [
            ("Hello, our 10G link to AM11 is down since 09:40. Can you please check it?", Lang::En),
            ("Bonjour, notre lien 10G vers PA3 est en panne depuis 9h40. Pouvez-vous vérifier ? Merci, cordialement", Lang::Fr),
            ("Olá, o nosso link de 10G para LS1 não está a funcionar desde as 9h40. Obrigado pela ajuda.", Lang::Pt),
            ("Hola, nuestro enlace de 10G a MAD2 está caído desde las 9:40. Por favor, revisen el puerto. Gracias", Lang::Es),
            ("Buongiorno, il nostro collegamento 10G verso MIL1 è fuori servizio dalle 9:40. Grazie per il supporto.", Lang::It),
            ("Goedemorgen, onze 10G verbinding naar AM11 werkt niet sinds 09:40. Kunnen jullie dat bekijken? Groeten", Lang::Nl),
            ("Hallo, unsere 10G Verbindung nach FRA1 ist seit 9:40 nicht erreichbar. Bitte prüfen Sie das. Danke und freundliche Grüße", Lang::De),
        ];
        for (text, lang) in cases {
            assert_eq!(detect(text), Some(lang), "{text}");
        }
    }

    #[test]
    fn a_short_or_mixed_text_decides_nothing() {
        for text in [
            "",
            "Thanks!",
            "XC-1 AM11 10G LR4 09:40",
            "Bonjour, hello, the lien est down",
        ] {
            assert_eq!(detect(text), None, "{text}");
        }
    }

    #[test]
    fn tags_are_read_by_their_primary_subtag() {
        assert_eq!(Lang::parse("fr"), Some(Lang::Fr));
        assert_eq!(Lang::parse(" PT-br "), Some(Lang::Pt));
        assert_eq!(Lang::parse("nl_BE"), Some(Lang::Nl));
        assert_eq!(Lang::parse("ja"), None);
        assert_eq!(Lang::parse(""), None);
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
        }
    }

    #[test]
    fn decimals_are_written_as_each_language_does() {
        assert_eq!(Lang::En.decimal(31.44, 1), "31.4");
        for l in [Lang::Fr, Lang::De, Lang::Es, Lang::It, Lang::Nl, Lang::Pt] {
            assert_eq!(l.decimal(31.44, 1), "31,4", "{l:?}");
        }
        assert_eq!(Lang::Fr.decimal(25.0, 0), "25");
    }
}
