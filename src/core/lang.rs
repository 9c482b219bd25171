//! The languages deskgate speaks (the desk languages), below everything that needs the list:
//! config validation, templates, dates and the status page.

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

#[cfg(test)]
mod tests {
    use super::*;

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
