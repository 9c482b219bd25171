//! deskgate's own mail: what only this installation writes into what it sends, so that its
//! mail coming back (a forwarding loop, a robot answering it, a colleague's rule bouncing it)
//! is recognised — and an engineer's mail from the desk's own domain is not.
//!
//! The domain of a Message-ID says nothing: Thunderbird, Apple Mail, iOS Mail and K-9 write
//! `<uuid@sender's-domain>`, Exchange on-premises and Postfix (for clients that write none)
//! write ids in the organisation's domain, so an engineer of `provider.example` writes ids in
//! the desk's own domain every day. What only deskgate writes:
//!
//! - its Message-IDs, `dg.<ref>.<random>.<tag>@<domain>`, where the tag is a keyed digest of
//!   the rest under this installation's secret: no client produces it by chance;
//! - the `X-Deskgate-Loop` header, naming this installation;
//! - a desk's address as the sender.
//!
//! Ids and loop headers of deskgate before the tag (`dg.<ref>.<32 hex>@<domain>`, and the
//! domain as the loop header) are recognised too: mail sent then may still come back.

use crate::core::mail::InboundMail;
use sha2::{Digest, Sha256};

/// The header deskgate writes into every mail it sends.
pub const LOOP_HEADER: &str = "X-Deskgate-Loop";

/// This installation's mark on its mail.
#[derive(Clone)]
pub struct Stamp {
    secret: Vec<u8>,
    installation: String,
    /// The domain of its Message-IDs, lower-cased.
    domain: String,
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp")
            .field("installation", &self.installation)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Stamp {
    /// The stamp of an installation with `secret` (kept in its store) writing Message-IDs in
    /// `domain`.
    pub fn new(secret: &[u8], domain: &str) -> Stamp {
        let installation = hex(&Sha256::new()
            .chain_update(b"deskgate installation\0")
            .chain_update(secret)
            .finalize()[..8]);
        Stamp {
            secret: secret.to_vec(),
            installation,
            domain: domain.trim().to_ascii_lowercase(),
        }
    }

    /// What the `X-Deskgate-Loop` header of this installation says.
    pub fn installation(&self) -> &str {
        &self.installation
    }

    /// A new Message-ID (without angle brackets) for a mail about `reference`; `random` makes
    /// it unique (the caller draws it: the core has no randomness).
    pub fn message_id(&self, reference: Option<&str>, random: u128) -> String {
        let local = match reference {
            Some(r) => format!("dg.{r}.{random:032x}"),
            None => format!("dg.{random:032x}"),
        };
        format!("{local}.{}@{}", self.tag(&local), self.domain)
    }

    fn tag(&self, local: &str) -> String {
        hex(&Sha256::new()
            .chain_update(&self.secret)
            .chain_update(b"\0")
            .chain_update(local.as_bytes())
            .finalize()[..6])
    }

    /// Whether `id` is a Message-ID this installation wrote (or deskgate wrote before ids were
    /// tagged).
    pub fn wrote(&self, id: &str) -> bool {
        let id = id.trim().trim_matches(|c| c == '<' || c == '>');
        let Some((local, domain)) = id.rsplit_once('@') else {
            return false;
        };
        if !domain.eq_ignore_ascii_case(&self.domain) || !local.starts_with("dg.") {
            return false;
        }
        match local.rsplit_once('.') {
            Some((rest, tag))
                if tag.len() == 12 && rest.starts_with("dg.") && self.tag(rest) == tag =>
            {
                true
            }
            _ => is_untagged_id(local),
        }
    }

    /// Why `mail` is this installation's own mail coming back; empty when it is not.
    pub fn signals(&self, mail: &InboundMail, desk_addresses: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if !mail.synthetic_id && self.wrote(&mail.message_id) {
            out.push(format!(
                "Message-ID {} written by this deskgate",
                mail.message_id
            ));
        }
        if let Some(loop_header) = mail.header(&LOOP_HEADER.to_ascii_lowercase()) {
            let value = loop_header.trim();
            if value.eq_ignore_ascii_case(&self.installation)
                || value.eq_ignore_ascii_case(&self.domain)
            {
                out.push(format!("{LOOP_HEADER}: {value} of this installation"));
            }
        }
        let from = mail.from.email.as_str();
        if !from.is_empty() && desk_addresses.iter().any(|d| d.eq_ignore_ascii_case(from)) {
            out.push(format!("sender {from} is a desk address"));
        }
        out
    }
}

/// The local part deskgate wrote before ids were tagged: `dg.` + (reference `.`) + 32 hex.
fn is_untagged_id(local: &str) -> bool {
    let random = local.rsplit('.').next().unwrap_or_default();
    random.len() == 32
        && random
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Address;

    fn stamp() -> Stamp {
        Stamp::new(b"0123456789abcdef0123456789abcdef", "provider.example")
    }

    fn mail(message_id: &str, from: &str) -> InboundMail {
        InboundMail {
            message_id: message_id
                .trim_matches(|c| c == '<' || c == '>')
                .to_string(),
            from: Address::new(None, from),
            ..InboundMail::default()
        }
    }

    const DESKS: &[&str] = &["servicedesk.nl@provider.example"];

    fn desks() -> Vec<String> {
        DESKS.iter().map(|d| d.to_string()).collect()
    }

    /// The Message-IDs real clients write for an engineer of the desk's own domain
    /// (alice@provider.example): none is deskgate's own mail. Shapes as the clients write
    /// them; the corpus files named show the same shapes in other domains.
    #[test]
    fn engineers_own_domain_message_ids_of_real_clients_are_not_own_mail() {
        let cases = [
            // Outlook / Exchange Online (zammad/mail/mail072.box has Exchange's hex form).
            (
                "Exchange Online",
                "<AM0PR07MB4420D6F0E9D8A1B3C2E5F7A1C1E20@AM0PR07MB4420.eurprd07.prod.outlook.com>",
            ),
            (
                "Exchange on-premises",
                "<077a50fe57b04807bfa82f909aeacba9@provider.example>",
            ),
            (
                "Exchange on-premises, server name",
                "<6B7EC235A6B1F44A9D8E2C6F1A2B3C4D01234567@EXCH01.provider.example>",
            ),
            // Gmail (replies/talon/018.eml).
            (
                "Gmail",
                "<CAEAsyCZ-sCHxZtoKyM3JmT5gSYpZd5GwY-cVNiV8H329zgJT4g@mail.gmail.com>",
            ),
            // Thunderbird writes a UUID at the sender's domain (older ones the zammad/mail005 form).
            (
                "Thunderbird",
                "<9f3c2a1e-5b7d-4c2a-8e1f-0a1b2c3d4e5f@provider.example>",
            ),
            ("Thunderbird 12", "<4FA76F9A.3060602@provider.example>"),
            // Apple Mail and iOS Mail: an upper-case UUID at the sender's domain
            // (replies/talon/020.eml, replies/talon/025.eml).
            (
                "Apple Mail",
                "<9A1EA6A5-4FD3-4AD0-8DFD-2420E670DB53@provider.example>",
            ),
            (
                "iOS Mail",
                "<06C90B12-13B9-4C5F-A9EF-4A809D94C078@provider.example>",
            ),
            (
                "K-9 / Thunderbird for Android",
                "<a1b2c3d4-e5f6-4789-abcd-ef1234567890@provider.example>",
            ),
            // Postfix, for a client that wrote none: time stamp and queue id at myhostname
            // (the bounce corpus has many, e.g. <20190429233445.18513041C2DA@mail.example.co.jp>).
            ("Postfix", "<20261205103000.1A2B3C4D5E@provider.example>"),
            // Shapes that begin like ours but carry no valid tag.
            ("dg. prefix, no tag", "<dg.budget-2027@provider.example>"),
            (
                "dg. prefix, wrong tag",
                "<dg.NL-000001.0123456789abcdef0123456789abcdef.000000000000@provider.example>",
            ),
        ];
        let s = stamp();
        for (client, id) in cases {
            assert!(
                s.signals(&mail(id, "alice@provider.example"), &desks())
                    .is_empty(),
                "{client}: {id} taken for our own mail"
            );
        }
    }

    #[test]
    fn what_deskgate_wrote_is_recognised() {
        let s = stamp();
        for reference in [Some("NL-000001"), None] {
            let id = s.message_id(reference, 0x1234_5678_9abc_def0_1122_3344_5566_7788);
            assert!(s.wrote(&id), "{id}");
            let back = mail(&id, "mailer@robot.example");
            assert_eq!(s.signals(&back, &desks()).len(), 1, "{id}");
        }
        // Another installation's ids (another secret) are not ours.
        let other = Stamp::new(b"another secret", "provider.example");
        let id = other.message_id(Some("NL-000001"), 7);
        assert!(!s.wrote(&id), "{id}");
        // Ids of deskgate before the tag.
        assert!(s.wrote("dg.NL-000001.0123456789abcdef0123456789abcdef@provider.example"));
        assert!(s.wrote("dg.0123456789abcdef0123456789abcdef@Provider.Example"));
        assert!(!s.wrote("dg.NL-000001.0123456789abcdef0123456789abcdef@other.example"));
    }

    #[test]
    fn the_loop_header_and_a_desk_sender_are_own_mail() {
        let s = stamp();
        let mut m = mail("<9f3c2a1e@provider.example>", "alice@provider.example");
        m.headers
            .push(("x-deskgate-loop".into(), s.installation().to_string()));
        assert_eq!(s.signals(&m, &desks()).len(), 1);
        m.headers = vec![("x-deskgate-loop".into(), "provider.example".into())];
        assert_eq!(
            s.signals(&m, &desks()).len(),
            1,
            "the header of deskgate before"
        );
        m.headers = vec![("x-deskgate-loop".into(), "0000000000000000".into())];
        assert!(s.signals(&m, &desks()).is_empty(), "another installation's");
        let desk = mail("<x@y.example>", "ServiceDesk.NL@Provider.Example");
        assert_eq!(s.signals(&desk, &desks()).len(), 1);
    }

    #[test]
    fn the_stamp_does_not_print_its_secret() {
        let printed = format!("{:?}", stamp());
        assert!(!printed.contains("0123456789abcdef0123"), "{printed}");
    }
}
