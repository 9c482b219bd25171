//! The verdict on deskgate's own check of a mail's signatures: DKIM (RFC 6376) and, for mail
//! that passed a forwarder, ARC (RFC 8617).
//!
//! The DNS lookups and the cryptography happen outside the core (the `dkim` adapter); what they
//! found comes in here as a [`SignatureCheck`], a list of facts, and this file decides what the
//! facts prove. A signature authenticates a staff mail only when it verifies, covers the From
//! header, covers the whole body (an `l=` tag that leaves content unsigned does not count), has
//! not expired at `now` (deskgate's clock, so a replayed old signature fails on any date), and
//! its signing domain is aligned with the From domain the DMARC way (relaxed: the same domain,
//! or one is a parent of the other; a bare top-level domain never aligns).
//!
//! ARC counts only through a sealer we trust: the newest ARC set (the hop that handed the mail
//! to our mailbox) must be sealed by one of the configured sealer domains, the chain must
//! validate, its message signature must cover the body as it is now, and the results that
//! sealer recorded (its `ARC-Authentication-Results`) must report a DKIM pass aligned with the
//! From domain, or a DMARC pass for it. A chain whose newest seal is someone else's proves
//! nothing, since anyone can add a seal on top of a trusted one and change the body.

use chrono::{DateTime, Utc};

use super::authres::parse_authentication_results;
use super::{fail, AuthMethod, AuthVerdict};
use crate::core::mail::InboundMail;

/// What deskgate's own check found in one mail: facts for [`verify_signatures`], no decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The From addresses the checker read (lower-cased). The signatures were checked against
    /// that header, so a mail whose From it read differently from the core is not believed.
    pub from: Vec<String>,
    /// One entry per `DKIM-Signature` header, in header order.
    pub dkim: Vec<DkimSignature>,
    /// The ARC chain, when the mail carries one.
    pub arc: Option<ArcChain>,
    /// Why the check could not run at all (no resolver, timed out); `None` when it ran.
    pub unavailable: Option<String>,
}

impl SignatureCheck {
    /// A check that could not run, with the reason.
    pub fn unavailable(reason: impl Into<String>) -> SignatureCheck {
        SignatureCheck {
            unavailable: Some(reason.into()),
            ..Default::default()
        }
    }
}

/// One `DKIM-Signature` and what checking it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSignature {
    /// The signing domain (`d=`), lower-cased; empty when the header could not be read.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// What the cryptography said: the body hash, the key lookup and the signature.
    pub result: Checked,
    /// The signature's timestamp (`t=`), if it has one.
    pub signed_at: Option<DateTime<Utc>>,
    /// Its expiry (`x=`), if it has one. Judged here against `now`, never against the clock of
    /// the machine that checked the cryptography.
    pub expires: Option<DateTime<Utc>>,
    /// Whether `From` is among the signed headers (`h=`).
    pub covers_from: bool,
    /// How much of the body the signature covers.
    pub body: BodyCoverage,
}

/// The cryptographic outcome of one signature or chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Pass,
    /// A permanent failure, with a short reason ("body hash mismatch").
    Fail(String),
    /// The check could not finish (a DNS failure), with a short reason.
    TempError(String),
}

/// How much of the body a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCoverage {
    /// All of it (no `l=` tag, or one that leaves nothing out).
    Whole,
    /// Only the first `signed` of `total` body bytes (`l=`): the rest could be anything.
    Part { signed: u64, total: u64 },
}

/// An ARC chain (RFC 8617) as checked: the chain as a whole, and the newest set's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcChain {
    /// Whether the whole chain validates: every seal, and the newest message signature.
    pub result: Checked,
    /// The newest set's instance (`i=`).
    pub instance: u32,
    /// The domain (`d=`) of the newest `ARC-Seal`, lower-cased.
    pub sealer: String,
    /// The newest `ARC-Authentication-Results` value, as written (with its `i=` tag).
    pub results: String,
    /// The newest `ARC-Message-Signature`'s expiry (`x=`), if any.
    pub expires: Option<DateTime<Utc>>,
    /// How much of the body the newest `ARC-Message-Signature` covers.
    pub body: BodyCoverage,
}

/// Which of our own findings are believed; from the `[auth]` configuration (or the desk's).
#[derive(Debug, Clone, Copy)]
pub struct SignaturePolicy<'a> {
    /// Domains (`d=` of the `ARC-Seal`) of forwarders whose ARC results are believed.
    pub trusted_arc_sealers: &'a [String],
}

/// Decides whether `check` authenticates `mail` under `policy` at `now`.
pub fn verify_signatures(
    mail: &InboundMail,
    check: &SignatureCheck,
    policy: &SignaturePolicy,
    now: DateTime<Utc>,
) -> AuthVerdict {
    let from_domain = mail
        .from
        .domain()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if from_domain.is_empty() {
        return fail("the From address has no domain, so no signature can vouch for it".into());
    }
    if let Some(why) = &check.unavailable {
        return fail(format!("own DKIM check unavailable: {why}"));
    }
    match check.from.as_slice() {
        [one] if one.eq_ignore_ascii_case(&mail.from.email) => {}
        [] => return fail("the DKIM checker found no From address".into()),
        [one] => {
            return fail(format!(
                "the DKIM checker read the From address as {one}, not {}",
                mail.from.email
            ))
        }
        many => {
            return fail(format!(
                "the mail has {} From addresses ({}), so no signature can vouch for one",
                many.len(),
                many.join(", ")
            ))
        }
    }
    let mut refused = Vec::new();
    for sig in &check.dkim {
        match judge_dkim(sig, &from_domain, now) {
            Ok(verdict) => return verdict,
            Err(why) => refused.push(why),
        }
    }
    if let Some(arc) = &check.arc {
        match judge_arc(arc, &from_domain, policy, now) {
            Ok(verdict) => return verdict,
            Err(why) => refused.push(why),
        }
    }
    if refused.is_empty() {
        return fail("no DKIM signature".into());
    }
    fail(refused.join("; "))
}

/// The first verdict that authenticates, else one that gives both reasons.
pub fn either(first: AuthVerdict, second: AuthVerdict) -> AuthVerdict {
    if first.authenticated {
        first
    } else if second.authenticated {
        second
    } else {
        fail(format!("{}; {}", first.reason, second.reason))
    }
}

/// One DKIM signature: a passing verdict, or why it proves nothing.
fn judge_dkim(
    sig: &DkimSignature,
    from_domain: &str,
    now: DateTime<Utc>,
) -> Result<AuthVerdict, String> {
    let who = if sig.domain.is_empty() {
        "an unreadable DKIM-Signature".to_string()
    } else {
        format!("d={} s={}", sig.domain, sig.selector)
    };
    match &sig.result {
        Checked::Pass => {}
        Checked::Fail(why) => return Err(format!("failing DKIM: {why} ({who})")),
        Checked::TempError(why) => {
            return Err(format!("DKIM check could not finish: {why} ({who})"))
        }
    }
    if !sig.covers_from {
        return Err(format!(
            "DKIM signature does not cover the From header ({who})"
        ));
    }
    fresh(sig.signed_at, sig.expires, now).map_err(|why| format!("DKIM {why} ({who})"))?;
    whole(sig.body).map_err(|why| format!("DKIM {why} ({who})"))?;
    if !relaxed_aligned(from_domain, &sig.domain) {
        return Err(format!(
            "DKIM signature of {} is not aligned with the From domain {from_domain}",
            sig.domain
        ));
    }
    Ok(AuthVerdict {
        authenticated: true,
        method: Some(AuthMethod::Dkim),
        reason: format!(
            "dkim=pass for {} (selector {}){}, verified by deskgate",
            sig.domain,
            sig.selector,
            relation(from_domain, &sig.domain)
        ),
    })
}

/// The ARC chain: a passing verdict, or why it proves nothing.
fn judge_arc(
    arc: &ArcChain,
    from_domain: &str,
    policy: &SignaturePolicy,
    now: DateTime<Utc>,
) -> Result<AuthVerdict, String> {
    let sealer = arc.sealer.trim_end_matches('.');
    let trusted = policy
        .trusted_arc_sealers
        .iter()
        .any(|t| t.trim().trim_end_matches('.').eq_ignore_ascii_case(sealer));
    if !trusted {
        return Err(if policy.trusted_arc_sealers.is_empty() {
            format!("ARC sealed by {sealer}, but no ARC sealer is trusted")
        } else {
            format!(
                "ARC sealed by {sealer} (i={}), not a trusted sealer",
                arc.instance
            )
        });
    }
    match &arc.result {
        Checked::Pass => {}
        Checked::Fail(why) => return Err(format!("failing ARC chain of {sealer}: {why}")),
        Checked::TempError(why) => {
            return Err(format!("ARC check could not finish: {why} ({sealer})"))
        }
    }
    fresh(None, arc.expires, now).map_err(|why| format!("ARC message {why} ({sealer})"))?;
    whole(arc.body).map_err(|why| format!("ARC message {why} ({sealer})"))?;
    let value = strip_instance(&arc.results);
    let results = parse_authentication_results(value).unwrap_or_default();
    let mut seen = Vec::new();
    for r in &results.results {
        let domain_of = |v: &str| {
            v.rsplit_once('@')
                .map_or(v, |(_, d)| d)
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase()
        };
        let vouches = match r.method.as_str() {
            "dkim" => r
                .property("header.d")
                .or_else(|| r.property("header.i"))
                .map(domain_of)
                .filter(|d| relaxed_aligned(from_domain, d)),
            "dmarc" => r
                .property("header.from")
                .map(domain_of)
                .filter(|d| d == from_domain),
            _ => continue,
        };
        match vouches {
            Some(domain) if r.result == "pass" => {
                return Ok(AuthVerdict {
                    authenticated: true,
                    method: Some(AuthMethod::Arc),
                    reason: format!(
                        "arc=pass sealed by trusted {sealer} (i={}), which saw {}=pass for {domain}",
                        arc.instance, r.method
                    ),
                });
            }
            _ => seen.push(format!("{}={}", r.method, r.result)),
        }
    }
    Err(if seen.is_empty() {
        format!("ARC results of {sealer} report no DKIM or DMARC result for {from_domain}")
    } else {
        format!(
            "ARC results of {sealer} report no aligned pass for {from_domain} ({})",
            seen.join(", ")
        )
    })
}

/// Not expired at `now`, and not expiring before it was made.
fn fresh(
    signed_at: Option<DateTime<Utc>>,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let Some(expires) = expires else {
        return Ok(());
    };
    if signed_at.is_some_and(|t| expires <= t) {
        return Err(format!(
            "signature expires ({}) before it was made",
            expires.to_rfc3339()
        ));
    }
    if expires <= now {
        return Err(format!(
            "signature expired at {} (x=): an old signature replayed proves nothing",
            expires.to_rfc3339()
        ));
    }
    Ok(())
}

/// The whole body is signed.
fn whole(body: BodyCoverage) -> Result<(), String> {
    match body {
        BodyCoverage::Whole => Ok(()),
        BodyCoverage::Part { signed, total } => Err(format!(
            "signature covers only the first {signed} of {total} body bytes (l=): what follows is unsigned"
        )),
    }
}

/// Relaxed alignment without a public-suffix list: the same domain, or one a parent of the
/// other, where the shorter still has a dot (a bare top-level domain never aligns).
pub(super) fn relaxed_aligned(from_domain: &str, domain: &str) -> bool {
    let (from, d) = (
        from_domain.trim_end_matches('.').to_ascii_lowercase(),
        domain.trim_end_matches('.').to_ascii_lowercase(),
    );
    if from.is_empty() || d.is_empty() {
        return false;
    }
    let below = |long: &str, short: &str| {
        short.contains('.')
            && !short.starts_with('.')
            && long
                .strip_suffix(short)
                .is_some_and(|head| head.ends_with('.') && head.len() > 1)
    };
    from == d || below(&from, &d) || below(&d, &from)
}

/// ", a parent of the From domain x" and the like, for the reason; empty when equal.
fn relation(from_domain: &str, domain: &str) -> String {
    if from_domain.eq_ignore_ascii_case(domain) {
        String::new()
    } else if from_domain.len() > domain.len() {
        format!(", a parent of the From domain {from_domain}")
    } else {
        format!(", a subdomain of the From domain {from_domain}")
    }
}

/// An `ARC-Authentication-Results` value without its leading `i=N;` tag.
fn strip_instance(value: &str) -> &str {
    match value.split_once(';') {
        Some((tag, rest))
            if tag.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("i") && is_number(v.trim())
            }) =>
        {
            rest.trim_start()
        }
        _ => value,
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0)
            .single()
            .expect("valid time")
    }

    fn mail(from: &str) -> InboundMail {
        InboundMail {
            from: Address::new(None, from),
            ..Default::default()
        }
    }

    fn sig(domain: &str, result: Checked) -> DkimSignature {
        DkimSignature {
            domain: domain.into(),
            selector: "sel".into(),
            result,
            signed_at: Some(at(9)),
            expires: None,
            covers_from: true,
            body: BodyCoverage::Whole,
        }
    }

    fn check_of(from: &str, dkim: Vec<DkimSignature>, arc: Option<ArcChain>) -> SignatureCheck {
        SignatureCheck {
            from: vec![from.into()],
            dkim,
            arc,
            unavailable: None,
        }
    }

    fn arc(sealer: &str, results: &str) -> ArcChain {
        ArcChain {
            result: Checked::Pass,
            instance: 1,
            sealer: sealer.into(),
            results: results.into(),
            expires: None,
            body: BodyCoverage::Whole,
        }
    }

    /// One table row: the check's facts and the verdict expected (method, a reason fragment).
    struct Case {
        name: &'static str,
        from: &'static str,
        check: SignatureCheck,
        sealers: &'static [&'static str],
        method: Option<AuthMethod>,
        reason: &'static str,
    }

    fn check(cases: Vec<Case>) {
        let mut failures = Vec::new();
        for c in cases {
            let sealers: Vec<String> = c.sealers.iter().map(|s| s.to_string()).collect();
            let policy = SignaturePolicy {
                trusted_arc_sealers: &sealers,
            };
            let v = verify_signatures(&mail(c.from), &c.check, &policy, at(10));
            if v.method != c.method
                || v.authenticated != c.method.is_some()
                || !v.reason.contains(c.reason)
            {
                failures.push(format!(
                    "{}: got {:?} {:?}, want {:?} with reason containing {:?}",
                    c.name, v.method, v.reason, c.method, c.reason
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    const ALICE: &str = "alice@provider.example";
    const AAR_OK: &str = "i=1; mx.lists.example; dkim=pass header.d=provider.example header.s=sel; spf=fail smtp.mailfrom=provider.example";

    #[test]
    fn own_dkim_findings_decide_as_expected() {
        use AuthMethod::*;
        let fail_bh = Checked::Fail("body hash mismatch".into());
        check(vec![
            Case {
                name: "a passing aligned signature",
                from: ALICE,
                check: check_of(ALICE, vec![sig("provider.example", Checked::Pass)], None),
                sealers: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example (selector sel), verified by deskgate",
            },
            Case {
                name: "the parent domain signs for a subdomain address",
                from: "alice@eu.provider.example",
                check: check_of("alice@eu.provider.example", vec![sig("provider.example", Checked::Pass)], None),
                sealers: &[],
                method: Some(Dkim),
                reason: "a parent of the From domain eu.provider.example",
            },
            Case {
                name: "a subdomain signs for the parent's address (relaxed alignment)",
                from: ALICE,
                check: check_of(ALICE, vec![sig("mail.provider.example", Checked::Pass)], None),
                sealers: &[],
                method: Some(Dkim),
                reason: "a subdomain of the From domain provider.example",
            },
            Case {
                name: "a body changed after signing",
                from: ALICE,
                check: check_of(ALICE, vec![sig("provider.example", fail_bh.clone())], None),
                sealers: &[],
                method: None,
                reason: "failing DKIM: body hash mismatch (d=provider.example s=sel)",
            },
            Case {
                name: "another domain's valid signature",
                from: ALICE,
                check: check_of(ALICE, vec![sig("attacker.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "DKIM signature of attacker.example is not aligned with the From domain provider.example",
            },
            Case {
                name: "a look-alike domain",
                from: ALICE,
                check: check_of(ALICE, vec![sig("evilprovider.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "not aligned",
            },
            Case {
                name: "a top-level domain never aligns",
                from: ALICE,
                check: check_of(ALICE, vec![sig("example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "not aligned",
            },
            Case {
                name: "a sibling subdomain does not align without a public-suffix list",
                from: "alice@eu.provider.example",
                check: check_of("alice@eu.provider.example", vec![sig("us.provider.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "not aligned",
            },
            Case {
                name: "expired at now",
                from: ALICE,
                check: check_of(ALICE, vec![DkimSignature { expires: Some(at(10)), ..sig("provider.example", Checked::Pass) }], None),
                sealers: &[],
                method: None,
                reason: "DKIM signature expired at 2026-11-23T10:00:00+00:00 (x=)",
            },
            Case {
                name: "not yet expired at now",
                from: ALICE,
                check: check_of(ALICE, vec![DkimSignature { expires: Some(at(11)), ..sig("provider.example", Checked::Pass) }], None),
                sealers: &[],
                method: Some(Dkim),
                reason: "dkim=pass",
            },
            Case {
                name: "expiring before it was made",
                from: ALICE,
                check: check_of(ALICE, vec![DkimSignature { signed_at: Some(at(12)), expires: Some(at(11)), ..sig("provider.example", Checked::Pass) }], None),
                sealers: &[],
                method: None,
                reason: "before it was made",
            },
            Case {
                name: "l= leaves content unsigned",
                from: ALICE,
                check: check_of(ALICE, vec![DkimSignature { body: BodyCoverage::Part { signed: 40, total: 90 }, ..sig("provider.example", Checked::Pass) }], None),
                sealers: &[],
                method: None,
                reason: "covers only the first 40 of 90 body bytes (l=)",
            },
            Case {
                name: "a signature that does not sign From",
                from: ALICE,
                check: check_of(ALICE, vec![DkimSignature { covers_from: false, ..sig("provider.example", Checked::Pass) }], None),
                sealers: &[],
                method: None,
                reason: "does not cover the From header",
            },
            Case {
                name: "a second signature passes where the first failed",
                from: ALICE,
                check: check_of(ALICE, vec![sig("provider.example", fail_bh.clone()), sig("provider.example", Checked::Pass)], None),
                sealers: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example",
            },
            Case {
                name: "every refusal is named",
                from: ALICE,
                check: check_of(ALICE, vec![sig("provider.example", fail_bh.clone()), sig("esp.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "failing DKIM: body hash mismatch (d=provider.example s=sel); DKIM signature of esp.example is not aligned",
            },
            Case {
                name: "a DNS failure",
                from: ALICE,
                check: check_of(ALICE, vec![sig("provider.example", Checked::TempError("DNS timed out".into()))], None),
                sealers: &[],
                method: None,
                reason: "DKIM check could not finish: DNS timed out",
            },
            Case {
                name: "no signature at all",
                from: ALICE,
                check: check_of(ALICE, vec![], None),
                sealers: &[],
                method: None,
                reason: "no DKIM signature",
            },
            Case {
                name: "the check could not run",
                from: ALICE,
                check: SignatureCheck::unavailable("timed out after 5 s"),
                sealers: &[],
                method: None,
                reason: "own DKIM check unavailable: timed out after 5 s",
            },
            Case {
                name: "two From addresses",
                from: ALICE,
                check: SignatureCheck { from: vec![ALICE.into(), "news@provider.example".into()], ..check_of(ALICE, vec![sig("provider.example", Checked::Pass)], None) },
                sealers: &[],
                method: None,
                reason: "2 From addresses",
            },
            Case {
                name: "the checker read another From",
                from: ALICE,
                check: check_of("news@provider.example", vec![sig("provider.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "read the From address as news@provider.example",
            },
            Case {
                name: "From without a domain",
                from: "alice",
                check: check_of("alice", vec![sig("provider.example", Checked::Pass)], None),
                sealers: &[],
                method: None,
                reason: "has no domain",
            },
        ]);
    }

    #[test]
    fn arc_counts_only_through_a_trusted_newest_sealer() {
        use AuthMethod::*;
        let broken = vec![sig(
            "provider.example",
            Checked::Fail("body hash mismatch".into()),
        )];
        check(vec![
            Case {
                name: "a forwarder we trust saw the original signature pass",
                from: ALICE,
                check: check_of(ALICE, broken.clone(), Some(arc("lists.example", AAR_OK))),
                sealers: &["Lists.Example."],
                method: Some(Arc),
                reason: "arc=pass sealed by trusted lists.example (i=1), which saw dkim=pass for provider.example",
            },
            Case {
                name: "a DMARC pass recorded by the sealer",
                from: ALICE,
                check: check_of(ALICE, broken.clone(), Some(arc("lists.example", "i=2; lists.example; dmarc=pass header.from=provider.example"))),
                sealers: &["lists.example"],
                method: Some(Arc),
                reason: "dmarc=pass",
            },
            Case {
                name: "the failing original signature is still named",
                from: ALICE,
                check: check_of(ALICE, broken.clone(), Some(arc("relay.example", AAR_OK))),
                sealers: &["lists.example"],
                method: None,
                reason: "failing DKIM: body hash mismatch (d=provider.example s=sel); ARC sealed by relay.example (i=1), not a trusted sealer",
            },
            Case {
                name: "no sealer configured",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(arc("lists.example", AAR_OK))),
                sealers: &[],
                method: None,
                reason: "no ARC sealer is trusted",
            },
            Case {
                name: "a broken chain",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(ArcChain { result: Checked::Fail("seal does not verify".into()), ..arc("lists.example", AAR_OK) })),
                sealers: &["lists.example"],
                method: None,
                reason: "failing ARC chain of lists.example: seal does not verify",
            },
            Case {
                name: "the sealer saw the signature fail",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(arc("lists.example", "i=1; lists.example; dkim=fail header.d=provider.example"))),
                sealers: &["lists.example"],
                method: None,
                reason: "report no aligned pass for provider.example (dkim=fail)",
            },
            Case {
                name: "the sealer saw another domain's signature pass",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(arc("lists.example", "i=1; lists.example; dkim=pass header.d=attacker.example"))),
                sealers: &["lists.example"],
                method: None,
                reason: "no aligned pass",
            },
            Case {
                name: "a partial body under the newest seal",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(ArcChain { body: BodyCoverage::Part { signed: 10, total: 20 }, ..arc("lists.example", AAR_OK) })),
                sealers: &["lists.example"],
                method: None,
                reason: "ARC message signature covers only the first 10 of 20 body bytes",
            },
            Case {
                name: "an expired newest message signature",
                from: ALICE,
                check: check_of(ALICE, vec![], Some(ArcChain { expires: Some(at(8)), ..arc("lists.example", AAR_OK) })),
                sealers: &["lists.example"],
                method: None,
                reason: "ARC message signature expired",
            },
        ]);
    }

    #[test]
    fn either_keeps_the_first_proof_and_both_refusals() {
        let yes = |r: &str| AuthVerdict {
            authenticated: true,
            method: Some(AuthMethod::Dkim),
            reason: r.into(),
        };
        assert_eq!(either(yes("a"), fail("b".into())).reason, "a");
        assert_eq!(either(fail("a".into()), yes("b")).reason, "b");
        let both = either(fail("a".into()), fail("b".into()));
        assert!(!both.authenticated);
        assert_eq!(both.reason, "a; b");
    }

    #[test]
    fn alignment_is_relaxed_both_ways_but_never_to_a_bare_tld() {
        for (from, d, want) in [
            ("provider.example", "provider.example", true),
            ("provider.example", "PROVIDER.example.", true),
            ("eu.provider.example", "provider.example", true),
            ("provider.example", "eu.provider.example", true),
            ("provider.example", "example", false),
            ("example", "provider.example", false),
            ("provider.example", "evilprovider.example", false),
            ("provider.example", ".provider.example", false),
            ("provider.example", "", false),
        ] {
            assert_eq!(relaxed_aligned(from, d), want, "{from} / {d}");
        }
    }

    #[test]
    fn the_instance_tag_is_stripped_from_arc_results() {
        assert_eq!(
            strip_instance("i=1; mx.example; dkim=pass"),
            "mx.example; dkim=pass"
        );
        assert_eq!(
            strip_instance(" I = 12 ;mx.example; none"),
            "mx.example; none"
        );
        assert_eq!(
            strip_instance("mx.example; dkim=pass"),
            "mx.example; dkim=pass"
        );
    }
}
