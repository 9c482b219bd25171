//! The [`Directory`]: a validated set of accounts with indexes by contact address and by domain,
//! built so that every problem of an accounts file is reported at once. It answers who a sender
//! is ([`Directory::identify`]) and who receives a notice about an account, directly or through
//! the partner that manages it ([`Directory::notice_recipients`], [`Directory::audience`]).

use std::collections::HashMap;

use super::{normalise_address, Account, Contact, Identity, Role, SupportBy};
use crate::core::address::PUBLIC_PROVIDERS;

/// A validated set of accounts, indexed by contact address and by domain.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    accounts: Vec<Account>,
    /// Account id to position in `accounts`.
    by_id: HashMap<String, usize>,
    /// Contact address to (account position, contact position).
    by_address: HashMap<String, (usize, usize)>,
    /// Domain to account position.
    by_domain: HashMap<String, usize>,
}

impl Directory {
    /// Validates `accounts` and builds the indexes. Addresses and domains are lower-cased first.
    /// On failure, every problem is listed, each as `account[INDEX] (ID).KEY: what is wrong`.
    pub fn new(mut accounts: Vec<Account>) -> Result<Directory, Vec<String>> {
        for a in &mut accounts {
            normalise(a);
        }
        let mut problems = Vec::new();
        let mut dir = Directory::default();
        for (i, a) in accounts.iter().enumerate() {
            let mut bad = |key: &str, what: String| {
                problems.push(format!("account[{i}] ({}).{key}: {what}", a.id))
            };
            if !is_id(&a.id) {
                bad(
                    "id",
                    "must be non-empty letters, digits, -, _ or . (it is used in commands)".into(),
                );
            }
            if let Some(&first) = dir.by_id.get(&a.id) {
                bad("id", format!("is also the id of account[{first}]"));
            } else {
                dir.by_id.insert(a.id.clone(), i);
            }
            if a.name.trim().is_empty() {
                bad("name", "must not be empty".into());
            }
            if a.plan.trim().is_empty() {
                bad("plan", "must not be empty".into());
            }
            if !is_language(&a.language) {
                bad(
                    "language",
                    format!("{:?} is not a language code such as \"en\"", a.language),
                );
            }
            if a.timezone.parse::<chrono_tz::Tz>().is_err() {
                bad(
                    "timezone",
                    format!("{:?} is not a known IANA time zone", a.timezone),
                );
            }
            for (d, domain) in a.domains.iter().enumerate() {
                let key = format!("domains[{d}]");
                if !is_domain(domain) {
                    bad(&key, format!("{domain:?} is not a domain name"));
                } else if PUBLIC_PROVIDERS.contains(&domain.as_str()) {
                    bad(
                        &key,
                        format!(
                            "{domain:?} is a public mail provider: anyone can write from it, so \
                             register its users as contacts instead"
                        ),
                    );
                } else if let Some(&other) = dir.by_domain.get(domain) {
                    let what = if other == i {
                        format!("{domain:?} is listed twice in this account")
                    } else {
                        format!(
                            "{domain:?} is also claimed by {}",
                            describe(&accounts, other)
                        )
                    };
                    bad(&key, what);
                } else {
                    dir.by_domain.insert(domain.clone(), i);
                }
            }
            for (c, contact) in a.contacts.iter().enumerate() {
                let key = |k: &str| format!("contact[{c}].{k}");
                if !is_address(&contact.address) {
                    bad(
                        &key("address"),
                        format!("{:?} is not a mail address", contact.address),
                    );
                } else if let Some(&(other, _)) = dir.by_address.get(&contact.address) {
                    let what = if other == i {
                        format!("{:?} is listed twice in this account", contact.address)
                    } else {
                        format!(
                            "{:?} is also a contact of {}",
                            contact.address,
                            describe(&accounts, other)
                        )
                    };
                    bad(&key("address"), what);
                } else {
                    dir.by_address.insert(contact.address.clone(), (i, c));
                }
                if contact.name.trim().is_empty() {
                    bad(&key("name"), "must not be empty".into());
                }
                if let Some(l) = &contact.language {
                    if !is_language(l) {
                        bad(
                            &key("language"),
                            format!("{l:?} is not a language code such as \"en\""),
                        );
                    }
                }
                if let Some(pin) = &contact.pin {
                    // The PIN itself is not quoted: problems end up in logs and terminals.
                    if !(4..=16).contains(&pin.len())
                        || !pin.chars().all(|ch| ch.is_ascii_alphanumeric())
                    {
                        bad(&key("pin"), "must be 4 to 16 letters or digits".into());
                    }
                }
            }
            let team = [
                ("team.account_manager", &a.team.account_manager),
                (
                    "team.customer_success_manager",
                    &a.team.customer_success_manager,
                ),
                ("team.sales_engineer", &a.team.sales_engineer),
                ("team.billing_analyst", &a.team.billing_analyst),
            ];
            for (key, address) in team {
                if let Some(address) = address {
                    if !is_address(address) {
                        bad(key, format!("{address:?} is not a mail address"));
                    }
                }
            }
        }
        // Partners are checked once every id is known, so that a partner may be listed after the
        // accounts it manages.
        for (i, a) in accounts.iter().enumerate() {
            let mut bad = |key: &str, what: String| {
                problems.push(format!("account[{i}] ({}).{key}: {what}", a.id))
            };
            match &a.partner {
                None if a.support_by == SupportBy::Partner => bad(
                    "support_by",
                    "is \"partner\" but the account names no partner".into(),
                ),
                None => {}
                Some(p) if *p == a.id => {
                    bad("partner", "an account cannot be its own partner".into())
                }
                Some(p) => match dir.by_id.get(p) {
                    None => bad("partner", format!("no account has the id {p:?}")),
                    Some(&pi) => {
                        let partner = &accounts[pi];
                        if a.support_by == SupportBy::Partner
                            && !partner.contacts.iter().any(|c| c.has_role(Role::Technical))
                        {
                            bad(
                                "support_by",
                                format!(
                                    "is \"partner\" but partner {p:?} has no contact with the \
                                     technical role to redirect to"
                                ),
                            );
                        }
                    }
                },
            }
        }
        if problems.is_empty() {
            dir.accounts = accounts;
            Ok(dir)
        } else {
            Err(problems)
        }
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        self.by_id.get(id).map(|&i| &self.accounts[i])
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Who `email` is: a registered contact (exact address, any case) first; else an account
    /// owning the sender's domain or a parent of it (`mail.acme.example` belongs to whoever owns
    /// `acme.example`, the most specific owner winning); else unknown. Public mail providers
    /// never identify anyone by domain.
    pub fn identify(&self, email: &str) -> Identity {
        let email = normalise_address(email);
        if let Some(&(a, c)) = self.by_address.get(&email) {
            let account = &self.accounts[a];
            return Identity::Contact {
                account: account.id.clone(),
                contact: account.contacts[c].clone(),
            };
        }
        let Some((_, domain)) = email.rsplit_once('@') else {
            return Identity::Unknown;
        };
        if PUBLIC_PROVIDERS.contains(&domain) {
            return Identity::Unknown;
        }
        let mut candidate = domain;
        loop {
            if let Some(&a) = self.by_domain.get(candidate) {
                return Identity::Domain {
                    account: self.accounts[a].id.clone(),
                };
            }
            match candidate.split_once('.') {
                // Stop before a bare top-level domain: no account owns one.
                Some((_, parent)) if parent.contains('.') => candidate = parent,
                _ => return Identity::Unknown,
            }
        }
    }

    /// The contacts to receive notices of `role` for `account`. For a partner-managed account
    /// the partner's contacts with that role receive them instead; a security notice (`security`)
    /// goes to both, because those affected must hear of it directly. Empty when the account is
    /// unknown or nobody holds the role; the caller decides whether that deserves a warning.
    pub fn notice_recipients(&self, account: &str, role: Role, security: bool) -> Vec<&Contact> {
        let Some(a) = self.account(account) else {
            return Vec::new();
        };
        let Some(partner) = a.partner.as_deref().and_then(|p| self.account(p)) else {
            return with_role(a, role);
        };
        let mut out = with_role(partner, role);
        if security {
            for c in with_role(a, role) {
                if !out.iter().any(|o| o.address == c.address) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// For an account supported by its partner, the partner and the partner's support contact
    /// (its first contact with the technical role), to redirect the account's people to.
    pub fn partner_support(&self, account: &str) -> Option<(&Account, &Contact)> {
        let a = self.account(account)?;
        if a.support_by != SupportBy::Partner {
            return None;
        }
        let partner = self.account(a.partner.as_deref()?)?;
        let contact = partner
            .contacts
            .iter()
            .find(|c| c.has_role(Role::Technical))?;
        Some((partner, contact))
    }

    /// Who receives a broadcast notice (maintenance, incident): for every account `in_scope`
    /// says is concerned, its contacts holding `role`, or for a partner-managed account the
    /// partner's contacts instead, plus the account's own when the notice is about security
    /// (see [`Directory::notice_recipients`]). One entry per (account, contact): a partner
    /// managing three accounts in scope is told about each of them, so that its tools can book
    /// each notice on the right customer. In file order.
    pub fn audience(
        &self,
        in_scope: impl Fn(&Account) -> bool,
        role: Role,
        security: bool,
    ) -> Vec<NoticeRecipient<'_>> {
        let mut out = Vec::new();
        for account in self.accounts.iter().filter(|a| in_scope(a)) {
            let partner = account.partner.as_deref().and_then(|p| self.account(p));
            let via = partner.unwrap_or(account);
            let mut told: Vec<&str> = Vec::new();
            for contact in with_role(via, role) {
                told.push(&contact.address);
                out.push(NoticeRecipient {
                    account,
                    contact,
                    via,
                });
            }
            if partner.is_some() && security {
                for contact in with_role(account, role) {
                    if !told.contains(&contact.address.as_str()) {
                        out.push(NoticeRecipient {
                            account,
                            contact,
                            via: account,
                        });
                    }
                }
            }
        }
        out
    }

    /// The accounts managed by partner `partner`, in file order.
    pub fn managed_by(&self, partner: &str) -> Vec<&Account> {
        self.accounts
            .iter()
            .filter(|a| a.partner.as_deref() == Some(partner))
            .collect()
    }
}

/// One recipient of a broadcast notice about `account`.
#[derive(Debug, Clone, Copy)]
pub struct NoticeRecipient<'a> {
    /// The account the notice is about.
    pub account: &'a Account,
    pub contact: &'a Contact,
    /// The account the contact belongs to: `account`, or the partner that manages it.
    pub via: &'a Account,
}

impl NoticeRecipient<'_> {
    /// Whether the contact is told on behalf of a customer they manage.
    pub fn on_behalf(&self) -> bool {
        self.via.id != self.account.id
    }

    /// The contact's language (theirs, else their own account's).
    pub fn language(&self) -> &str {
        self.via.language_of(self.contact)
    }

    /// The zone the contact reads times in: their own account's.
    pub fn timezone(&self) -> &str {
        &self.via.timezone
    }
}

fn with_role(account: &Account, role: Role) -> Vec<&Contact> {
    account
        .contacts
        .iter()
        .filter(|c| c.has_role(role))
        .collect()
}

/// Lower-cases the addresses and domains of an account, as the indexes compare them.
fn normalise(a: &mut Account) {
    for d in &mut a.domains {
        *d = d.trim().trim_start_matches('@').to_ascii_lowercase();
    }
    for c in &mut a.contacts {
        c.address = normalise_address(&c.address);
    }
    for address in [
        &mut a.team.account_manager,
        &mut a.team.customer_success_manager,
        &mut a.team.sales_engineer,
        &mut a.team.billing_analyst,
    ]
    .into_iter()
    .flatten()
    {
        *address = normalise_address(address);
    }
}

fn describe(accounts: &[Account], i: usize) -> String {
    format!("account[{i}] ({})", accounts[i].id)
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_domain(d: &str) -> bool {
    d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

fn is_address(a: &str) -> bool {
    matches!(a.rsplit_once('@'), Some((local, domain)) if !local.is_empty() && is_domain(domain))
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

#[cfg(test)]
mod tests {
    use super::super::tests::{account, contact};
    use super::*;

    fn directory() -> Directory {
        use Role::*;
        let mut acme = account(
            "acme",
            &["acme.example"],
            vec![
                contact("NOC@Acme.example", &[Technical, Maintenance]),
                contact("billing@acme.example", &[Billing]),
                contact("jane.doe@gmail.com", &[Escalation, Maintenance]),
            ],
        );
        acme.contacts[0].pin = Some("4821".into());
        let eu = account("acme-eu", &["eu.acme.example"], vec![]);
        let reseller = account(
            "reseller",
            &["reseller.example"],
            vec![
                contact("sales@reseller.example", &[Billing]),
                contact("support@reseller.example", &[Technical, Maintenance]),
                contact("ops@reseller.example", &[Technical]),
            ],
        );
        let mut shop = account(
            "shop",
            &["shop.example"],
            vec![contact("it@shop.example", &[Technical, Maintenance])],
        );
        shop.partner = Some("reseller".into());
        shop.support_by = SupportBy::Partner;
        let mut bank = account(
            "bank",
            &["bank.example"],
            vec![contact("sec@bank.example", &[Maintenance])],
        );
        bank.partner = Some("reseller".into());
        Directory::new(vec![acme, eu, reseller, shop, bank]).expect("valid directory")
    }

    fn who(d: &Directory, email: &str) -> String {
        match d.identify(email) {
            Identity::Contact { account, contact } => format!("{account}: {}", contact.address),
            Identity::Domain { account } => format!("{account} (domain)"),
            Identity::Unknown => "unknown".into(),
        }
    }

    #[test]
    fn senders_are_identified_by_address_then_by_domain_or_parent_domain() {
        let d = directory();
        for (email, expected) in [
            ("noc@acme.example", "acme: noc@acme.example"),
            ("<NOC@ACME.EXAMPLE>", "acme: noc@acme.example"),
            ("jane.doe@gmail.com", "acme: jane.doe@gmail.com"),
            ("someone@acme.example", "acme (domain)"),
            ("someone@Mail.Acme.Example", "acme (domain)"),
            ("someone@eu.acme.example", "acme-eu (domain)"),
            ("someone@lab.eu.acme.example", "acme-eu (domain)"),
            ("john@gmail.com", "unknown"),
            ("someone@example", "unknown"),
            ("someone@other.example", "unknown"),
            ("no-at-sign", "unknown"),
            ("", "unknown"),
        ] {
            assert_eq!(who(&d, email), expected, "{email}");
        }
    }

    #[test]
    fn a_public_provider_never_identifies_by_domain_even_as_a_parent() {
        let d = directory();
        assert_eq!(who(&d, "x@eu.gmail.com"), "unknown");
    }

    #[test]
    fn every_validation_problem_is_listed_at_once() {
        let a = account(
            "a",
            &["a.example", "gmail.com"],
            vec![contact("x@a.example", &[])],
        );
        let mut b = account(
            "b",
            &["A.example"],
            vec![contact("X@a.example", &[]), contact("y@b.example", &[])],
        );
        b.partner = Some("nobody".into());
        let mut c = account("a", &[], vec![contact("y@b.example", &[])]);
        c.support_by = SupportBy::Partner;
        let mut s = account("s", &[], vec![]);
        s.partner = Some("a".into());
        s.support_by = SupportBy::Partner;
        s.timezone = "Mars/Olympus".into();
        let problems = Directory::new(vec![a, b, c, s]).expect_err("invalid");
        assert_eq!(
            problems,
            vec![
                "account[0] (a).domains[1]: \"gmail.com\" is a public mail provider: anyone can \
                 write from it, so register its users as contacts instead",
                "account[1] (b).domains[0]: \"a.example\" is also claimed by account[0] (a)",
                "account[1] (b).contact[0].address: \"x@a.example\" is also a contact of \
                 account[0] (a)",
                "account[2] (a).id: is also the id of account[0]",
                "account[2] (a).contact[0].address: \"y@b.example\" is also a contact of \
                 account[1] (b)",
                "account[3] (s).timezone: \"Mars/Olympus\" is not a known IANA time zone",
                "account[1] (b).partner: no account has the id \"nobody\"",
                "account[2] (a).support_by: is \"partner\" but the account names no partner",
                "account[3] (s).support_by: is \"partner\" but partner \"a\" has no contact with \
                 the technical role to redirect to",
            ]
        );
    }

    #[test]
    fn a_contact_or_domain_listed_twice_in_one_account_is_a_problem() {
        let a = account(
            "a",
            &["a.example", "A.Example"],
            vec![contact("x@a.example", &[]), contact("X@a.example", &[])],
        );
        let problems = Directory::new(vec![a]).expect_err("invalid");
        assert_eq!(
            problems,
            vec![
                "account[0] (a).domains[1]: \"a.example\" is listed twice in this account",
                "account[0] (a).contact[1].address: \"x@a.example\" is listed twice in this account",
            ]
        );
    }

    #[test]
    fn a_partner_may_be_listed_after_the_accounts_it_manages() {
        let mut shop = account("shop", &[], vec![]);
        shop.partner = Some("reseller".into());
        let reseller = account("reseller", &[], vec![]);
        assert!(Directory::new(vec![shop, reseller]).is_ok());
    }

    fn addresses(cs: Vec<&Contact>) -> Vec<&str> {
        cs.into_iter().map(|c| c.address.as_str()).collect()
    }

    #[test]
    fn notices_go_to_the_partner_of_a_managed_account_and_security_notices_to_both() {
        let d = directory();
        let n = |account, role, security| addresses(d.notice_recipients(account, role, security));
        assert_eq!(
            n("acme", Role::Maintenance, false),
            ["noc@acme.example", "jane.doe@gmail.com"]
        );
        assert_eq!(n("acme", Role::Billing, true), ["billing@acme.example"]);
        assert_eq!(
            n("shop", Role::Maintenance, false),
            ["support@reseller.example"]
        );
        assert_eq!(
            n("shop", Role::Maintenance, true),
            ["support@reseller.example", "it@shop.example"]
        );
        assert_eq!(
            n("bank", Role::Maintenance, false),
            ["support@reseller.example"]
        );
        assert_eq!(
            n("bank", Role::Maintenance, true),
            ["support@reseller.example", "sec@bank.example"]
        );
        assert!(n("bank", Role::Escalation, false).is_empty());
        assert!(n("nobody", Role::Technical, true).is_empty());
    }

    #[test]
    fn a_broadcast_audience_is_one_entry_per_account_in_scope_and_contact() {
        let d = directory();
        let line = |r: &NoticeRecipient<'_>| {
            format!(
                "{} <- {}{}",
                r.account.id,
                r.contact.address,
                if r.on_behalf() { " (partner)" } else { "" }
            )
        };
        let managed = |a: &Account| a.partner.is_some();
        let got: Vec<String> = d
            .audience(managed, Role::Maintenance, false)
            .iter()
            .map(line)
            .collect();
        assert_eq!(
            got,
            [
                "shop <- support@reseller.example (partner)",
                "bank <- support@reseller.example (partner)"
            ]
        );
        let got: Vec<String> = d
            .audience(managed, Role::Maintenance, true)
            .iter()
            .map(line)
            .collect();
        assert_eq!(
            got,
            [
                "shop <- support@reseller.example (partner)",
                "shop <- it@shop.example",
                "bank <- support@reseller.example (partner)",
                "bank <- sec@bank.example"
            ]
        );
        let everyone: Vec<String> = d
            .audience(|_| true, Role::Maintenance, false)
            .iter()
            .map(line)
            .collect();
        assert_eq!(everyone[0], "acme <- noc@acme.example");
        assert_eq!(everyone[1], "acme <- jane.doe@gmail.com");
        assert_eq!(everyone.len(), 5, "{everyone:?}");
    }

    #[test]
    fn partner_support_is_the_partners_first_technical_contact_when_the_partner_supports() {
        let d = directory();
        let (partner, contact) = d.partner_support("shop").expect("partner supported");
        assert_eq!(partner.id, "reseller");
        assert_eq!(contact.address, "support@reseller.example");
        assert!(
            d.partner_support("bank").is_none(),
            "the provider supports bank"
        );
        assert!(d.partner_support("acme").is_none());
        let managed: Vec<&str> = d
            .managed_by("reseller")
            .iter()
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(managed, ["shop", "bank"]);
    }

    #[test]
    fn the_pin_never_appears_in_json_or_debug_output() {
        let d = directory();
        let Identity::Contact { contact, .. } = d.identify("noc@acme.example") else {
            panic!("noc is a contact");
        };
        let json = serde_json::to_string(&contact).expect("json");
        let debug = format!("{contact:?} {:?}", d.account("acme"));
        assert!(!json.contains("4821") && !json.contains("pin"), "{json}");
        assert!(!debug.contains("4821"), "{debug}");
        assert!(contact.pin_matches("4821"));
        assert!(contact.pin_matches(" 4821 "));
        assert!(!contact.pin_matches("4822"));
        assert!(!contact.pin_matches("482"));
        assert!(!contact.pin_matches(""));
        let no_pin = d
            .account("acme")
            .and_then(|a| a.contact("billing@acme.example"));
        assert_eq!(no_pin.map(|c| c.pin_matches("")), Some(false));
    }

    #[test]
    fn a_pin_problem_does_not_quote_the_pin() {
        let mut c = contact("x@a.example", &[]);
        c.pin = Some("12 34".into());
        let problems = Directory::new(vec![account("a", &[], vec![c])]).expect_err("bad pin");
        assert_eq!(
            problems,
            ["account[0] (a).contact[0].pin: must be 4 to 16 letters or digits"]
        );
    }

    #[test]
    fn the_language_of_a_contact_falls_back_to_the_accounts() {
        let d = directory();
        let acme = d.account("acme").expect("acme");
        let mut c = acme.contacts[0].clone();
        assert_eq!(acme.language_of(&c), "en");
        c.language = Some("nl".into());
        assert_eq!(acme.language_of(&c), "nl");
    }
}
