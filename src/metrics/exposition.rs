//! The Prometheus text exposition format (version 0.0.4), written by hand: a few dozen lines
//! instead of a crate and its registry, which would duplicate ours.
//!
//! Each family is written once, as `# HELP`, `# TYPE` and then its samples, sorted by their
//! label values so two scrapes of the same state are byte for byte the same. Label values are
//! escaped (`\`, `"` and line feeds); help text escapes `\` and line feeds. Names are checked
//! in debug builds against the format's grammar.

use std::fmt::Write as _;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (its name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One sample: its label pairs and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Sample {
    pub fn new(value: f64) -> Sample {
        Sample {
            labels: Vec::new(),
            value,
        }
    }

    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Sample {
        self.labels.push((name, value.into()));
        self
    }
}

/// The text of one scrape, built family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Adds a family with its samples. A family without samples still says what it is.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str, mut samples: Vec<Sample>) {
        debug_assert!(valid_name(name), "bad metric name {name:?}");
        debug_assert!(
            kind != Kind::Counter || name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        samples.sort_by(|a, b| {
            let key = |s: &Sample| s.labels.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>();
            key(a).cmp(&key(b))
        });
        for s in samples {
            self.out.push_str(name);
            if !s.labels.is_empty() {
                self.out.push('{');
                for (i, (label, value)) in s.labels.iter().enumerate() {
                    debug_assert!(valid_name(label) && !label.contains(':'));
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{label}=\"{}\"", escape_label(value));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {}", number(s.value));
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A value as the format writes it: integers without a fraction, `NaN`, `+Inf`, `-Inf`.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help text: backslash and line feed escaped.
pub fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_is_help_type_then_samples_sorted_by_label_values() {
        let mut e = Exposition::default();
        e.family(
            "deskgate_mails_total",
            Kind::Counter,
            "Mails processed, by desk and kind.",
            vec![
                Sample::new(2.0).label("desk", "nl").label("kind", "human"),
                Sample::new(1.0).label("desk", "fr").label("kind", "robot"),
                Sample::new(0.0).label("desk", "nl").label("kind", "bounce"),
            ],
        );
        e.family(
            "deskgate_outbox_queued",
            Kind::Gauge,
            "Queued.",
            vec![Sample::new(3.0)],
        );
        assert_eq!(
            e.finish(),
            "# HELP deskgate_mails_total Mails processed, by desk and kind.\n\
             # TYPE deskgate_mails_total counter\n\
             deskgate_mails_total{desk=\"fr\",kind=\"robot\"} 1\n\
             deskgate_mails_total{desk=\"nl\",kind=\"bounce\"} 0\n\
             deskgate_mails_total{desk=\"nl\",kind=\"human\"} 2\n\
             # HELP deskgate_outbox_queued Queued.\n\
             # TYPE deskgate_outbox_queued gauge\n\
             deskgate_outbox_queued 3\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::default();
        e.family(
            "x_total",
            Kind::Counter,
            "a \\ path\nsecond line",
            vec![Sample::new(1.0).label("desk", "a\"b\\c\nd")],
        );
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ path\\nsecond line\n\
             # TYPE x_total counter\n\
             x_total{desk=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn numbers_are_written_as_the_format_reads_them() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(42.0), "42");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(1764990000.25), "1764990000.25");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(1e300), format!("{}", 1e300));
    }

    #[test]
    fn names_follow_the_grammar() {
        assert!(valid_name("deskgate_mails_total"));
        assert!(valid_name("a:b_c9"));
        assert!(!valid_name("9a"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
    }
}
