//! Whether a mail that claims to come from staff really does: a From address alone proves
//! nothing, so staff commands are obeyed only when this module says the mail is authenticated.
//!
//! The evidence is what our own mail servers recorded. An `Authentication-Results` header
//! (RFC 8601) counts only when its authserv-id (the first token of its value) is one of the
//! trusted ones; every other such header is ignored, because anyone can write one claiming
//! `dkim=pass`. RFC 8601 §5 requires the receiving MX to remove incoming headers that carry its own
//! authserv-id, and this module relies on that: configure as trusted only the ids of servers that
//! do so. A trusted header authenticates the mail when it reports `dkim=pass` for the From domain
//! or a parent of it, `spf=pass` for an envelope sender in that domain or a parent, or
//! `dmarc=pass` for exactly the From domain.
//!
//! The weaker option is a trusted internal relay: the topmost `Received` header (added by our
//! own MX) says the mail came from a listed relay. That proves only which machine handed the mail
//! over, so use it only for relays that authenticate their own users. The relay is recognised by
//! its IP address, or by the host name the MX looked up for that address; the name the sender
//! gave in HELO is ignored, since the sender chooses it freely. Only the topmost `Received` header
//! is read, so the relay must hand mail straight to the MX that delivers to the desk's mailbox.
//!
//! Where no mail server of ours stands in front of the mailbox (or it writes no authserv-id, as
//! Microsoft 365 does), deskgate checks DKIM signatures and ARC chains itself: the `dkim` adapter
//! does the DNS lookups and the cryptography and hands the facts in as a [`SignatureCheck`];
//! [`verify_signatures`] (in `signed.rs`) decides what they prove, and [`either`] combines the two
//! verdicts.
//!
//! Everything here is pure: headers and facts in, verdict out, no DNS and no clock (`now` comes
//! in as an argument).
//!
//! This file holds the verdict policy on headers ([`verify`]); `signed.rs` the one on our own
//! check; `authres.rs` reads `Authentication-Results` values and `received.rs` reads `Received`
//! values, and neither knows what is trusted.
//!
//! Owns: whether a staff sender proved who they are. Builds on `mail::inbound` and `mail::pattern`;
//! must not import the rest of `mail`, nor `service` or `broadcasts`. Inside the folder, only this
//! file and `signed.rs` read the parsers.

mod authres;
pub use authres::{parse_authentication_results, AuthResults, MethodResult};
mod received;
mod signed;
pub use signed::{
    either, verify_signatures, ArcChain, BodyCoverage, Checked, DkimSignature, SignatureCheck,
    SignaturePolicy,
};

use serde::{Deserialize, Serialize};

use crate::core::mail::InboundMail;
use crate::core::str_enum::str_enum;
use received::{normalize_host, received_from};

/// Which servers and relays are believed; from the `[auth]` configuration.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy<'a> {
    /// authserv-ids of our own mail servers, compared case-insensitively.
    pub trusted_authserv_ids: &'a [String],
    /// IP addresses or host names of trusted internal relays, compared case-insensitively.
    pub trusted_relays: &'a [String],
}

str_enum! {
    /// What authenticated the mail. The names are what logs and the store write.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum AuthMethod {
        Dkim => "dkim",
        Spf => "spf",
        Dmarc => "dmarc",
        TrustedRelay => "trusted-relay",
        /// A trusted forwarder's ARC results, checked by deskgate itself.
        Arc => "arc",
    }
}

/// The answer, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthVerdict {
    pub authenticated: bool,
    /// What authenticated the mail; `None` when nothing did.
    pub method: Option<AuthMethod>,
    /// One sentence for logs and the ticket note, e.g. "dkim=pass for provider.example by
    /// mx.provider.example" or "no Authentication-Results from a trusted server".
    pub reason: String,
}

/// Decides whether `mail` is authenticated under `policy`.
pub fn verify(mail: &InboundMail, policy: &AuthPolicy) -> AuthVerdict {
    let from_domain = mail.from.domain().trim_end_matches('.');
    if from_domain.is_empty() {
        return fail("the From address has no domain, so nothing can vouch for it".to_string());
    }
    let mut untrusted: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut best: Option<(AuthMethod, String, String)> = None;
    for (name, value) in &mail.headers {
        if !name.eq_ignore_ascii_case("authentication-results") {
            continue;
        }
        let Some(ar) = parse_authentication_results(value) else {
            continue;
        };
        if !is_trusted_id(&ar.authserv_id, policy) {
            let id = if ar.authserv_id.is_empty() {
                "a server without an authserv-id".to_string()
            } else {
                ar.authserv_id.clone()
            };
            if !untrusted.contains(&id) {
                untrusted.push(id);
            }
            continue;
        }
        for r in &ar.results {
            let Some((method, domain)) = evidence(r) else {
                continue;
            };
            let aligned = match method {
                // DMARC has already checked alignment; its header.from must be the From domain.
                AuthMethod::Dmarc => domain.eq_ignore_ascii_case(from_domain),
                _ => aligns(from_domain, &domain),
            };
            if r.result == "pass" && aligned {
                let better = best
                    .as_ref()
                    .is_none_or(|(m, _, _)| rank(method) < rank(*m));
                if better {
                    best = Some((method, domain, ar.authserv_id.clone()));
                }
            } else {
                let shown = if domain.is_empty() {
                    "no domain"
                } else {
                    &domain
                };
                seen.push(format!("{}={} for {shown}", r.method, r.result));
            }
        }
        if seen.is_empty() && best.is_none() {
            seen.push(format!(
                "no DKIM, SPF or DMARC result from {}",
                ar.authserv_id
            ));
        }
    }
    if let Some((method, domain, by)) = best {
        let alignment = if domain.eq_ignore_ascii_case(from_domain) {
            String::new()
        } else {
            format!(", a parent of the From domain {from_domain}")
        };
        return AuthVerdict {
            authenticated: true,
            method: Some(method),
            reason: format!("{}=pass for {domain}{alignment} by {by}", method.as_str()),
        };
    }
    if let Some(relay) = trusted_relay(mail, policy) {
        return AuthVerdict {
            authenticated: true,
            method: Some(AuthMethod::TrustedRelay),
            reason: format!("received from trusted relay {relay} (topmost Received header)"),
        };
    }
    let mut reason = if policy.trusted_authserv_ids.is_empty() {
        "no trusted authserv-id is configured, so no Authentication-Results are believed"
            .to_string()
    } else if !seen.is_empty() {
        format!(
            "no trusted pass for {from_domain}: trusted servers report {}",
            seen.join(", ")
        )
    } else {
        "no Authentication-Results from a trusted server".to_string()
    };
    if !untrusted.is_empty() {
        reason.push_str(&format!(
            " (ignored untrusted Authentication-Results from {})",
            untrusted.join(", ")
        ));
    }
    if !policy.trusted_relays.is_empty() {
        reason.push_str(" and the topmost Received header is not from a trusted relay");
    }
    fail(reason)
}

fn is_trusted_id(id: &str, policy: &AuthPolicy) -> bool {
    !id.is_empty()
        && policy
            .trusted_authserv_ids
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(id))
}

/// The method a result speaks for and the domain it vouches for (empty when it names none).
fn evidence(r: &MethodResult) -> Option<(AuthMethod, String)> {
    let domain_of = |v: &str| {
        v.rsplit_once('@')
            .map_or(v, |(_, d)| d)
            .trim()
            .trim_end_matches('.')
            .to_lowercase()
    };
    match r.method.as_str() {
        // Gmail names the signing domain only through header.i (`@example.com`).
        "dkim" => Some((
            AuthMethod::Dkim,
            r.property("header.d")
                .or_else(|| r.property("header.i"))
                .map(domain_of)
                .unwrap_or_default(),
        )),
        // Only the envelope sender ties SPF to a domain; a HELO name proves nothing about From.
        "spf" => Some((
            AuthMethod::Spf,
            r.property("smtp.mailfrom")
                .map(domain_of)
                .unwrap_or_default(),
        )),
        "dmarc" => Some((
            AuthMethod::Dmarc,
            r.property("header.from").map(domain_of).unwrap_or_default(),
        )),
        _ => None,
    }
}

/// Relaxed alignment: `domain` is the From domain or a parent of it. A bare top-level domain
/// never aligns; without a public-suffix list this is the guard against `d=com`.
fn aligns(from_domain: &str, domain: &str) -> bool {
    if domain.is_empty() || !domain.contains('.') || domain.starts_with('.') {
        return false;
    }
    let from = from_domain.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    from == domain
        || from
            .strip_suffix(&domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// The strongest evidence wins when several results pass: a signature over the message, then
/// DMARC (which rests on one of the other two), then the envelope sender.
fn rank(m: AuthMethod) -> u8 {
    match m {
        AuthMethod::Dkim => 0,
        AuthMethod::Dmarc => 1,
        AuthMethod::Spf => 2,
        AuthMethod::Arc => 3,
        AuthMethod::TrustedRelay => 4,
    }
}

fn fail(reason: String) -> AuthVerdict {
    AuthVerdict {
        authenticated: false,
        method: None,
        reason,
    }
}

/// The trusted relay the topmost `Received` header names, as "name [ip]" or "[ip]".
fn trusted_relay(mail: &InboundMail, policy: &AuthPolicy) -> Option<String> {
    if policy.trusted_relays.is_empty() {
        return None;
    }
    let (_, received) = mail
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("received"))?;
    let (host, ip) = received_from(received)?;
    let wanted: Vec<String> = policy
        .trusted_relays
        .iter()
        .map(|r| normalize_host(r))
        .collect();
    let hit = wanted.contains(&ip) || host.as_ref().is_some_and(|h| wanted.contains(h));
    hit.then(|| match host {
        Some(h) => format!("{h} [{ip}]"),
        None => format!("[{ip}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::authres::tests::{GMAIL, M365, OPENDKIM};
    use super::received::tests::{EXIM_RELAY, POSTFIX_RELAY};
    use super::*;
    use crate::core::address::Address;
    use proptest::prelude::*;

    const RSPAMD: &str = "mail.provider.example; dkim=pass header.d=provider.example header.s=dkim header.b=Xyz123ab; spf=pass (mail.provider.example: domain of alice@provider.example designates 192.0.2.10 as permitted sender) smtp.mailfrom=alice@provider.example; dmarc=pass (policy=reject) header.from=provider.example";

    fn mail(from: &str, headers: &[(&str, &str)]) -> InboundMail {
        InboundMail {
            from: Address::new(None, from),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// One table row: a mail, the policy, and the verdict expected (method, a reason fragment).
    struct Case {
        name: &'static str,
        from: &'static str,
        headers: &'static [(&'static str, &'static str)],
        ids: &'static [&'static str],
        relays: &'static [&'static str],
        method: Option<AuthMethod>,
        reason: &'static str,
    }

    fn check(cases: &[Case]) {
        let mut failures = Vec::new();
        for c in cases {
            let (ids, relays) = (strings(c.ids), strings(c.relays));
            let policy = AuthPolicy {
                trusted_authserv_ids: &ids,
                trusted_relays: &relays,
            };
            let v = verify(&mail(c.from, c.headers), &policy);
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

    const AR: &str = "authentication-results";

    #[test]
    fn real_world_headers_decide_as_expected() {
        use AuthMethod::*;
        check(&[
            Case {
                name: "gmail: dkim through header.i",
                from: "Alice <alice@example.com>",
                headers: &[(AR, GMAIL)],
                ids: &["mx.google.com"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass for example.com by mx.google.com",
            },
            Case {
                name: "microsoft 365 writes no authserv-id, so nothing can trust it",
                from: "alice@example.com",
                headers: &[(AR, M365)],
                ids: &["mx.microsoft.com"],
                relays: &[],
                method: None,
                reason: "ignored untrusted Authentication-Results from a server without an authserv-id",
            },
            Case {
                name: "postfix and opendkim, semicolon inside a comment",
                from: "alice@provider.example",
                headers: &[(AR, OPENDKIM)],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example by mx.provider.example",
            },
            Case {
                name: "rspamd",
                from: "alice@provider.example",
                headers: &[(AR, RSPAMD)],
                ids: &["MAIL.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "by mail.provider.example",
            },
            Case {
                name: "forged header from an untrusted server",
                from: "alice@provider.example",
                headers: &[(AR, "evil.example; dkim=pass header.d=provider.example; spf=pass smtp.mailfrom=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "no Authentication-Results from a trusted server (ignored untrusted Authentication-Results from evil.example)",
            },
            Case {
                name: "forged pass below a trusted fail",
                from: "alice@provider.example",
                headers: &[
                    (AR, "mx.provider.example; dkim=fail header.d=provider.example"),
                    (AR, "mx.attacker.example; dkim=pass header.d=provider.example"),
                ],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "trusted servers report dkim=fail for provider.example",
            },
            Case {
                name: "dkim pass for a different domain",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=mailer.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "no trusted pass for provider.example: trusted servers report dkim=pass for mailer.example",
            },
            Case {
                name: "dkim pass for a look-alike domain",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=evilprovider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "dkim=pass for evilprovider.example",
            },
            Case {
                name: "dkim fail",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=fail (bad signature) header.d=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "dkim=fail for provider.example",
            },
            Case {
                name: "spf softfail",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; spf=softfail (transitioning) smtp.mailfrom=alice@provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "spf=softfail for provider.example",
            },
            Case {
                name: "spf pass for a subdomain envelope does not vouch for the parent",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=none; spf=pass smtp.mailfrom=bounces+123@mail.provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "spf=pass for mail.provider.example",
            },
            Case {
                name: "spf pass for the From domain",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; spf=pass smtp.mailfrom=provider.example smtp.helo=out.provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Spf),
                reason: "spf=pass for provider.example by mx.provider.example",
            },
            Case {
                name: "spf pass on helo only proves nothing",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; spf=pass smtp.helo=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "spf=pass for no domain",
            },
            Case {
                name: "dmarc pass",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=none; dmarc=pass header.from=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dmarc),
                reason: "dmarc=pass for provider.example",
            },
            Case {
                name: "dmarc pass for another domain",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dmarc=pass header.from=other.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "dmarc=pass for other.example",
            },
            Case {
                name: "subdomain From, parent signing domain",
                from: "alice@eu.provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example, a parent of the From domain eu.provider.example",
            },
            Case {
                name: "a subdomain does not vouch for its parent",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=eu.provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "dkim=pass for eu.provider.example",
            },
            Case {
                name: "a top-level domain never aligns",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "dkim=pass for example",
            },
            Case {
                name: "case does not matter",
                from: "Alice@Provider.Example",
                headers: &[(AR, "MX.Provider.Example; DKIM=Pass Header.D=PROVIDER.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example",
            },
            Case {
                name: "dkim preferred over spf when both pass",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; spf=pass smtp.mailfrom=provider.example; dkim=pass header.d=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass",
            },
            Case {
                name: "a second signature passes where the first failed",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; dkim=pass header.d=esp.example; dkim=pass header.d=provider.example")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: Some(Dkim),
                reason: "dkim=pass for provider.example",
            },
            Case {
                name: "a trusted server without results",
                from: "alice@provider.example",
                headers: &[(AR, "mx.provider.example; none")],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "no DKIM, SPF or DMARC result from mx.provider.example",
            },
            Case {
                name: "no headers at all",
                from: "alice@provider.example",
                headers: &[],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "no Authentication-Results from a trusted server",
            },
            Case {
                name: "nothing configured",
                from: "alice@provider.example",
                headers: &[(AR, OPENDKIM)],
                ids: &[],
                relays: &[],
                method: None,
                reason: "no trusted authserv-id is configured",
            },
            Case {
                name: "From without a domain",
                from: "alice",
                headers: &[(AR, OPENDKIM)],
                ids: &["mx.provider.example"],
                relays: &[],
                method: None,
                reason: "has no domain",
            },
        ]);
    }

    #[test]
    fn trusted_relays_are_the_weaker_option() {
        use AuthMethod::*;
        check(&[
            Case {
                name: "relay by ip",
                from: "alice@provider.example",
                headers: &[("received", POSTFIX_RELAY)],
                ids: &["mx.provider.example"],
                relays: &["10.0.0.5"],
                method: Some(TrustedRelay),
                reason: "received from trusted relay relay.internal [10.0.0.5]",
            },
            Case {
                name: "relay by the name the MX looked up",
                from: "alice@provider.example",
                headers: &[("received", POSTFIX_RELAY)],
                ids: &[],
                relays: &["Relay.Internal."],
                method: Some(TrustedRelay),
                reason: "trusted relay",
            },
            Case {
                name: "a HELO name alone is forgeable",
                from: "alice@provider.example",
                headers: &[("received", "from relay.internal (unknown [203.0.113.9]) by mx.desk.example (Postfix) with ESMTP id 1")],
                ids: &[],
                relays: &["relay.internal"],
                method: None,
                reason: "the topmost Received header is not from a trusted relay",
            },
            Case {
                name: "HELO names the relay, reverse DNS something else",
                from: "alice@provider.example",
                headers: &[("received", "from relay.internal (dsl-1.isp.example [203.0.113.9]) by mx.desk.example (Postfix) with ESMTP id 1")],
                ids: &[],
                relays: &["relay.internal"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "only the topmost Received header counts",
                from: "alice@provider.example",
                headers: &[
                    ("received", "from attacker.example (attacker.example [198.51.100.7]) by mx.desk.example (Postfix) with ESMTP id 2"),
                    ("received", POSTFIX_RELAY),
                ],
                ids: &[],
                relays: &["10.0.0.5", "relay.internal"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "a forged comment in a Postfix HELO",
                from: "alice@provider.example",
                headers: &[("received", "from x (relay.internal [10.0.0.5]) by y (unknown [203.0.113.9]) by mx.desk.example (Postfix) with ESMTP id 1")],
                ids: &[],
                relays: &["10.0.0.5", "relay.internal"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "an address literal as Postfix HELO",
                from: "alice@provider.example",
                headers: &[("received", "from [10.0.0.5] (unknown [203.0.113.9]) by mx.desk.example (Postfix) with ESMTP id 1")],
                ids: &[],
                relays: &["10.0.0.5"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "exim with reverse DNS, by ip",
                from: "alice@provider.example",
                headers: &[("received", EXIM_RELAY)],
                ids: &[],
                relays: &["10.0.0.5"],
                method: Some(TrustedRelay),
                reason: "received from trusted relay [10.0.0.5]",
            },
            Case {
                name: "exim's name stands where Sendmail's HELO does, so it does not count",
                from: "alice@provider.example",
                headers: &[("received", EXIM_RELAY)],
                ids: &[],
                relays: &["relay.internal"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "exim without reverse DNS, by ip",
                from: "alice@provider.example",
                headers: &[("received", "from [10.0.0.5] (helo=relay.internal) by mx.desk.example with esmtp (Exim 4.97) id 1rX")],
                ids: &[],
                relays: &["10.0.0.5"],
                method: Some(TrustedRelay),
                reason: "[10.0.0.5]",
            },
            Case {
                name: "exim without reverse DNS ignores the HELO",
                from: "alice@provider.example",
                headers: &[("received", "from [198.51.100.7] (helo=relay.internal) by mx.desk.example with esmtp (Exim 4.97) id 1rX")],
                ids: &[],
                relays: &["relay.internal"],
                method: None,
                reason: "not from a trusted relay",
            },
            Case {
                name: "ipv6 literal",
                from: "alice@provider.example",
                headers: &[("received", "from relay.internal (relay.internal [IPv6:2001:db8::5]) by mx.desk.example (Postfix) with ESMTPS id 3")],
                ids: &[],
                relays: &["2001:DB8::5"],
                method: Some(TrustedRelay),
                reason: "[2001:db8::5]",
            },
            Case {
                name: "microsoft form, address in parentheses",
                from: "alice@provider.example",
                headers: &[("received", "from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:1::15) by AM0PR01MB5678.eurprd01.prod.exchangelabs.com with HTTPS; Mon, 6 May 2024 10:00:00 +0000")],
                ids: &[],
                relays: &["2603:10a6:208:1::15"],
                method: Some(TrustedRelay),
                reason: "[2603:10a6:208:1::15]",
            },
            Case {
                name: "a DKIM pass wins over the relay",
                from: "alice@provider.example",
                headers: &[
                    ("received", POSTFIX_RELAY),
                    (AR, OPENDKIM),
                ],
                ids: &["mx.provider.example"],
                relays: &["10.0.0.5"],
                method: Some(Dkim),
                reason: "dkim=pass",
            },
            Case {
                name: "no Received header",
                from: "alice@provider.example",
                headers: &[],
                ids: &[],
                relays: &["10.0.0.5"],
                method: None,
                reason: "not from a trusted relay",
            },
        ]);
    }

    proptest! {
        #[test]
        fn parsing_header_like_text_never_panics(
            value in "[a-z0-9 .;=()\"\\\\@/:\\[\\]-]{0,80}",
            from in "[a-z]{1,5}@[a-z.]{0,12}",
        ) {
            let _ = parse_authentication_results(&value);
            let ids = strings(&["mx.example"]);
            let relays = strings(&["10.0.0.5", "relay"]);
            let policy = AuthPolicy { trusted_authserv_ids: &ids, trusted_relays: &relays };
            let headers = [(AR, format!("mx.example; {value}")), ("received", format!("from {value}"))];
            let m = InboundMail {
                from: Address::new(None, &from),
                headers: headers.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
                ..Default::default()
            };
            let v = verify(&m, &policy);
            prop_assert_eq!(v.authenticated, v.method.is_some());
        }
    }
}
