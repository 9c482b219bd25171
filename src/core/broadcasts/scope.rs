//! What incidents share with maintenance: the [`Impact`] customers should expect, the scope of
//! sites and services that decides who is concerned (`in_scope`, with names kept by
//! `clean_names`), and the check on the ids that go into notice keys (`check_id`).

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
