//! What incidents share with maintenance: the [`Impact`] customers should expect, the scope of
//! sites and services that decides who is concerned (`in_scope`, with names kept by
//! `clean_names`, and [`unknown_names`] for names no account lists), and the check on the ids
//! that go into notice keys (`check_id`).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What customers should expect during the window (the BCOP `X-MAINTNOTE-IMPACT` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// The services in scope are completely out of service.
    Outage,
    /// Service continues, degraded.
    Degraded,
    /// No visible impact, but without the normal redundancy.
    ReducedRedundancy,
    /// No impact expected.
    NoImpact,
}

impl Impact {
    /// The BCOP value: `OUTAGE`, `DEGRADED`, `REDUCED-REDUNDANCY` or `NO-IMPACT`.
    pub fn bcop(self) -> &'static str {
        match self {
            Impact::Outage => "OUTAGE",
            Impact::Degraded => "DEGRADED",
            Impact::ReducedRedundancy => "REDUCED-REDUNDANCY",
            Impact::NoImpact => "NO-IMPACT",
        }
    }

    /// Reads a BCOP value. The BCOP says an unknown impact is to be treated as an outage; that
    /// is the caller's call, so this answers `None`.
    pub fn from_bcop(value: &str) -> Option<Impact> {
        match value.trim().to_ascii_uppercase().as_str() {
            "OUTAGE" => Some(Impact::Outage),
            "DEGRADED" => Some(Impact::Degraded),
            "REDUCED-REDUNDANCY" => Some(Impact::ReducedRedundancy),
            "NO-IMPACT" => Some(Impact::NoImpact),
            _ => None,
        }
    }
}

impl FromStr for Impact {
    type Err = String;

    /// The CLI spelling (`outage`, `degraded`, `reduced-redundancy`, `no-impact`) or the BCOP one.
    fn from_str(s: &str) -> Result<Impact, String> {
        Impact::from_bcop(&s.replace('_', "-")).ok_or_else(|| {
            format!("unknown impact {s:?}: use outage, degraded, reduced-redundancy or no-impact")
        })
    }
}

/// Whether `id` may name a maintenance or an incident: it goes into UIDs and notice keys.
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "maintenance id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}

/// Whether an account with `sites` and `services` is in a scope of `our_sites` and
/// `our_services` (maintenance and incidents alike): with neither, everybody; else anyone
/// sharing a site or a service, names compared without regard to ASCII case.
pub(crate) fn in_scope(
    our_sites: &[String],
    our_services: &[String],
    sites: &[String],
    services: &[String],
) -> bool {
    if our_sites.is_empty() && our_services.is_empty() {
        return true;
    }
    let meets = |ours: &[String], theirs: &[String]| {
        ours.iter()
            .any(|a| theirs.iter().any(|b| a.eq_ignore_ascii_case(b.trim())))
    };
    meets(our_sites, sites) || meets(our_services, services)
}

/// Trimmed, without empty entries or repeats (ignoring ASCII case), in the given order.
pub(crate) fn clean_names(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_string());
        }
    }
    out
}

/// The names of `ours` that are not among `known` (the sites, or the services, some account
/// lists), one problem each: `unknown site "AM1" (did you mean AM11? known: AM11, LS1, PA3)`.
/// `what` is "site" or "service". A scope naming something no account has tells nobody about
/// it, so a typo would go unnoticed until customers missed the notice. Names are compared
/// without regard to ASCII case, as [`in_scope`] compares them.
pub fn unknown_names(what: &str, ours: &[String], known: &[String]) -> Vec<String> {
    let unknown: Vec<&str> = ours
        .iter()
        .map(|name| name.trim())
        .filter(|name| {
            !name.is_empty() && !known.iter().any(|k| k.trim().eq_ignore_ascii_case(name))
        })
        .collect();
    if unknown.is_empty() {
        return Vec::new();
    }
    let mut known = clean_names(known.to_vec());
    known.sort_by_key(|k| k.to_ascii_lowercase());
    let listed = if known.is_empty() {
        "none: no account in the accounts file lists one".to_string()
    } else {
        crate::core::names::listed(known.iter().map(String::as_str))
    };
    unknown
        .into_iter()
        .map(|name| match closest(name, &known) {
            Some(k) => format!("unknown {what} {name:?} (did you mean {k}? known: {listed})"),
            None => format!("unknown {what} {name:?} (known: {listed})"),
        })
        .collect()
}

/// The known name nearest to `name`, if it is near enough to be the one meant: a third of
/// its letters wrong at most (at least one), so `AM1` finds `AM11` and `cross-conect` finds
/// `cross-connect`, while `FR5` suggests nothing among `AM11` and `PA3`.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| {
            (
                edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance in characters: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_names_are_named_with_the_closest_known_one() {
        let sites = names(&["PA3", "AM11", "LS1", "am11"]);
        let table: [(&[&str], &[&str]); 5] = [
            (&["AM11", "pa3"], &[]),
            (
                &["AM1"],
                &["unknown site \"AM1\" (did you mean AM11? known: AM11, LS1, PA3)"],
            ),
            (&["FR5"], &["unknown site \"FR5\" (known: AM11, LS1, PA3)"]),
            (
                &["AM11", "XX9", " "],
                &["unknown site \"XX9\" (known: AM11, LS1, PA3)"],
            ),
            (&[], &[]),
        ];
        for (ours, want) in table {
            assert_eq!(
                unknown_names("site", &names(ours), &sites),
                want,
                "{ours:?}"
            );
        }
        let services = names(&["cross-connect", "IP Transit"]);
        assert_eq!(
            unknown_names("service", &names(&["cross-conect"]), &services),
            [
                "unknown service \"cross-conect\" (did you mean cross-connect? known: \
              cross-connect, IP Transit)"
            ]
        );
        assert_eq!(
            unknown_names("site", &names(&["AM11"]), &[]),
            ["unknown site \"AM11\" (known: none: no account in the accounts file lists one)"]
        );
    }

    #[test]
    fn a_long_list_of_known_names_is_cut() {
        let many: Vec<String> = (0..30).map(|n| format!("S{n:02}")).collect();
        let problems = unknown_names("site", &names(&["Q"]), &many);
        assert!(problems[0].ends_with("S19, and 10 more)"), "{problems:?}");
    }

    #[test]
    fn edit_distance_counts_single_letter_edits() {
        for (a, b, d) in [
            ("", "", 0),
            ("am1", "am11", 1),
            ("kitten", "sitting", 3),
            ("abc", "", 3),
            ("é", "e", 1),
        ] {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
        }
    }
}
