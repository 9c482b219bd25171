//! deskgate's own DKIM and ARC check (an adapter): the DNS lookups of the signing keys and the
//! cryptography, done with `mail-auth` on a resolver of our choosing and with a key cache. What
//! it finds goes to the pure verdict (`core::mail::auth::verify_signatures`) as a
//! [`SignatureCheck`] of facts; this file decides nothing about trust, alignment or time.
//!
//! Only a mail that claims a staff address is checked, so the lookups are rare and must cost
//! nothing to everyone else. The ingest prepares mail on blocking threads, where it cannot
//! `.await`; a check is therefore a request to a thread of its own that runs a small tokio
//! runtime (started on the first staff claim), and the caller waits for its answer at most the
//! configured timeout. Any thread can wait that way — a blocking worker, a plain test, even an
//! async task — where `Handle::block_on` would panic inside async code.
//!
//! Time: mail-auth judges a signature's `x=` against the system clock. The parsed expiry is
//! cleared before verifying (the header bytes the signature covers are untouched) and `t=` and
//! `x=` are reported as facts, so the core judges them against deskgate's clock: a test under
//! another date, or `run --once --now`, sees the same verdict as production does at that time.
//!
//! Owns: the resolver, the key cache, the worker thread. Imports `config` and `core` only.

use crate::config::AuthConfig;
use crate::core::mail::auth::{ArcChain, BodyCoverage, Checked, DkimSignature, SignatureCheck};
use chrono::{DateTime, Utc};
use mail_auth::common::headers::Writable;
use mail_auth::dkim::Canonicalization;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod cache;
use cache::KeyCache;

/// How the checker reaches DNS and how long it keeps keys; from `[auth]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The nameserver; `None` for the system's (`/etc/resolv.conf`).
    pub nameserver: Option<SocketAddr>,
    /// The longest one mail's check may take.
    pub timeout: Duration,
    /// Keys kept at most (0: none).
    pub cache_entries: usize,
    /// The longest a key is kept, whatever its DNS TTL.
    pub cache_max_age: Duration,
}

impl Settings {
    /// The settings `[auth]` gives (a `dns_server` that does not parse was refused by
    /// `Config::validate`; here it falls back to the system's resolver).
    pub fn from_config(auth: &AuthConfig) -> Settings {
        Settings {
            nameserver: auth.dns_server_addr().ok().flatten(),
            timeout: Duration::from_secs(auth.dns_timeout_secs.max(1)),
            cache_entries: auth.key_cache_entries,
            cache_max_age: Duration::from_secs(auth.key_cache_max_secs),
        }
    }
}

/// Checks the DKIM signatures and the ARC chain of a mail; shared by every desk.
pub struct Verifier {
    settings: Settings,
    /// The worker's queue; `None` until the first check, and again after the worker died.
    worker: Mutex<Option<mpsc::UnboundedSender<Request>>>,
}

/// One mail to check, and where the answer goes.
struct Request {
    raw: Vec<u8>,
    reply: std::sync::mpsc::SyncSender<SignatureCheck>,
}

/// A little longer than the worker's own timeout, so the worker's answer says what timed out.
const GRACE: Duration = Duration::from_millis(500);

impl Verifier {
    /// A verifier that starts nothing until its first check.
    pub fn new(settings: Settings) -> Verifier {
        Verifier {
            settings,
            worker: Mutex::new(None),
        }
    }

    /// Checks `raw`, waiting at most the configured timeout. Never fails: a check that cannot
    /// run or finish says why in [`SignatureCheck::unavailable`].
    pub fn check(&self, raw: &[u8]) -> SignatureCheck {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let request = Request {
            raw: raw.to_vec(),
            reply,
        };
        if let Err(why) = self.send(request) {
            return SignatureCheck::unavailable(why);
        }
        match answer.recv_timeout(self.settings.timeout + GRACE) {
            Ok(check) => check,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => SignatureCheck::unavailable(
                format!("no answer within {} s", self.settings.timeout.as_secs()),
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                SignatureCheck::unavailable("the signature check stopped unexpectedly")
            }
        }
    }

    /// Hands `request` to the worker, starting it (again) when there is none.
    fn send(&self, request: Request) -> Result<(), String> {
        let mut worker = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        let request = match worker.as_ref() {
            Some(queue) => match queue.send(request) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => back,
            },
            None => request,
        };
        let queue = start(self.settings.clone())?;
        queue
            .send(request)
            .map_err(|_| "the signature checker stopped as it started".to_string())?;
        *worker = Some(queue);
        Ok(())
    }
}

/// Starts the worker thread with its runtime; returns its queue. The thread ends when the
/// queue's last sender (the [`Verifier`]) is dropped.
fn start(settings: Settings) -> Result<mpsc::UnboundedSender<Request>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the DNS runtime: {e}"))?;
    let (queue, requests) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("deskgate-dkim".into())
        .spawn(move || runtime.block_on(serve(settings, requests)))
        .map_err(|e| format!("cannot start the signature checker: {e}"))?;
    tracing::info!("DKIM checker started");
    Ok(queue)
}

/// The worker: answers each request in a task of its own, each within the timeout.
async fn serve(settings: Settings, mut requests: mpsc::UnboundedReceiver<Request>) {
    let authenticator = resolver(&settings).map(Arc::new);
    if let Err(e) = &authenticator {
        tracing::error!(error = %e, "DKIM checker without a resolver: staff mail relying on DKIM is not authenticated");
    }
    let cache = Arc::new(KeyCache::new(
        settings.cache_entries,
        settings.cache_max_age,
    ));
    while let Some(request) = requests.recv().await {
        let authenticator = match &authenticator {
            Ok(a) => a.clone(),
            Err(e) => {
                let _ = request.reply.send(SignatureCheck::unavailable(e.clone()));
                continue;
            }
        };
        let cache = cache.clone();
        let timeout = settings.timeout;
        tokio::spawn(async move {
            let started = Instant::now();
            let check = tokio::time::timeout(timeout, check(&authenticator, &cache, &request.raw))
                .await
                .unwrap_or_else(|_| {
                    SignatureCheck::unavailable(format!(
                        "DNS lookups did not finish within {} s",
                        timeout.as_secs()
                    ))
                });
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                signatures = check.dkim.len(),
                arc = check.arc.is_some(),
                "signatures checked"
            );
            let _ = request.reply.send(check);
        });
    }
}

/// The resolver: the configured nameserver over UDP (and TCP for long answers), or the
/// system's. Its own cache is off: the key cache is the one cache, with one bound.
fn resolver(settings: &Settings) -> Result<MessageAuthenticator, String> {
    let (config, mut options) = match settings.nameserver {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            (
                ResolverConfig::from_name_servers(vec![server]),
                ResolverOpts::default(),
            )
        }
        None => mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
    };
    // Two tries inside the whole check's time.
    options.timeout = (settings.timeout / 2).max(Duration::from_millis(500));
    options.attempts = 2;
    options.cache_size = 0;
    MessageAuthenticator::new(config, options)
        .map_err(|e| format!("cannot set up the DNS resolver: {e}"))
}

/// Checks one mail's DKIM signatures and ARC chain.
async fn check(
    authenticator: &MessageAuthenticator,
    cache: &KeyCache,
    raw: &[u8],
) -> SignatureCheck {
    // Not strict: a signature with `l=` is verified over what it covers, and the core is told
    // how much of the body that is (strict parsing would only say "insecure l= tag").
    let Some(mut message) = AuthenticatedMessage::parse_with_opts(raw, None, false) else {
        return SignatureCheck::unavailable("the checker found no headers in the mail");
    };
    // Facts taken before the expiries are cleared (see the module comment); reports are never
    // asked for, so no lookups beyond the keys.
    let dkim_expiry: Vec<u64> = message.dkim_headers.iter().map(|h| h.header.x).collect();
    for h in &mut message.dkim_headers {
        h.header.x = 0;
        h.header.r = false;
    }
    let newest_ams = message
        .ams_headers
        .iter()
        .max_by_key(|h| h.header.i)
        .map(|h| (h.header.x, h.header.l, h.header.cb));
    for h in &mut message.ams_headers {
        h.header.x = 0;
    }
    let message = message;
    let body = message
        .raw_message
        .get(message.body_offset as usize..)
        .unwrap_or_default();

    let outputs = authenticator
        .verify_dkim(Parameters::new(&message).with_txt_cache(cache))
        .await;
    let mut dkim = Vec::with_capacity(outputs.len());
    for out in &outputs {
        let Some(sig) = out.signature() else {
            // A DKIM-Signature header mail-auth could not read.
            dkim.push(DkimSignature {
                domain: String::new(),
                selector: String::new(),
                result: Checked::Fail(format!(
                    "malformed signature: {}",
                    describe_result(out.result(), "").unwrap_or_default()
                )),
                signed_at: None,
                expires: None,
                covers_from: false,
                body: BodyCoverage::Whole,
            });
            continue;
        };
        let index = message
            .dkim_headers
            .iter()
            .position(|h| std::ptr::eq(&h.header, sig));
        let expires = index.and_then(|i| dkim_expiry.get(i)).copied().unwrap_or(0);
        let key = format!("{}._domainkey.{}", sig.s, sig.d);
        dkim.push(DkimSignature {
            domain: sig.d.trim_end_matches('.').to_ascii_lowercase(),
            selector: sig.s.clone(),
            result: checked(out.result(), &key),
            signed_at: timestamp(sig.t),
            expires: timestamp(expires),
            covers_from: sig.h.iter().any(|h| h.trim().eq_ignore_ascii_case("from")),
            body: coverage(sig.cb, sig.l, body),
        });
    }

    let arc = if message.ams_headers.is_empty()
        && message.as_headers.is_empty()
        && message.aar_headers.is_empty()
    {
        None
    } else {
        let out = authenticator
            .verify_arc(Parameters::new(&message).with_txt_cache(cache))
            .await;
        let seal = message.as_headers.iter().max_by_key(|h| h.header.i);
        let results = message.aar_headers.iter().max_by_key(|h| h.header.i);
        let sealer = seal.map(|s| s.header.d.trim_end_matches('.').to_ascii_lowercase());
        let key = seal
            .map(|s| format!("{}._domainkey.{}", s.header.s, s.header.d))
            .unwrap_or_default();
        let (x, l, cb) = newest_ams.unwrap_or((0, 0, Canonicalization::Relaxed));
        Some(ArcChain {
            result: match out.result() {
                DkimResult::None => Checked::Fail("incomplete ARC set".into()),
                other => checked(other, &key),
            },
            instance: seal.map_or(0, |s| s.header.i),
            sealer: sealer.unwrap_or_default(),
            results: results.map(|r| unfold(r.value)).unwrap_or_default(),
            expires: timestamp(x),
            body: coverage(cb, l, body),
        })
    };

    SignatureCheck {
        from: message.from.clone(),
        dkim,
        arc,
        unavailable: None,
    }
}

/// mail-auth's result as a [`Checked`], with a short reason.
fn checked(result: &DkimResult, key: &str) -> Checked {
    match result {
        DkimResult::Pass => Checked::Pass,
        DkimResult::TempError(_) => {
            Checked::TempError(describe_result(result, key).unwrap_or_default())
        }
        _ => Checked::Fail(describe_result(result, key).unwrap_or_else(|| "no result".into())),
    }
}

/// Why a signature failed, in a few words; `key` names the DNS record (`sel._domainkey.d`).
fn describe_result(result: &DkimResult, key: &str) -> Option<String> {
    use mail_auth::common::crypto::CryptoError;
    use mail_auth::{arc::ArcError, dkim::DkimError, DnsError, Error};
    let error = match result {
        DkimResult::Pass | DkimResult::None => return None,
        DkimResult::Neutral(e)
        | DkimResult::Fail(e)
        | DkimResult::PermError(e)
        | DkimResult::TempError(e) => e,
    };
    Some(match error {
        Error::Dkim(DkimError::FailedBodyHashMatch) | Error::Arc(ArcError::FailedBodyHashMatch) => {
            "body hash mismatch".into()
        }
        Error::Crypto(CryptoError::FailedVerification) => {
            "signature does not verify with the published key".into()
        }
        Error::Crypto(CryptoError::IncompatibleAlgorithms) => {
            "the published key is for another algorithm".into()
        }
        Error::Dns(DnsError::RecordNotFound(code)) => format!("no key published at {key} ({code})"),
        Error::Dns(DnsError::InvalidRecordType) | Error::ParseError => {
            format!("no valid DKIM key at {key}")
        }
        Error::Dns(DnsError::Resolver(e)) => format!("DNS lookup of {key} failed: {e}"),
        Error::Dkim(DkimError::RevokedPublicKey) => format!("the key at {key} is revoked"),
        Error::Dkim(DkimError::FailedAuidMatch) => {
            "the signing identity (i=) is outside the signing domain".into()
        }
        other => other.to_string().to_lowercase(),
    })
}

/// A DKIM timestamp as a time; `None` for 0 (absent) or a value past chrono's range.
fn timestamp(secs: u64) -> Option<DateTime<Utc>> {
    if secs == 0 {
        return None;
    }
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

/// How much of `body` a signature with `l=` covers, as mail-auth hashed it: all of it when the
/// canonical form of the signed part is the canonical form of the whole.
fn coverage(cb: Canonicalization, l: u64, body: &[u8]) -> BodyCoverage {
    let total = body.len() as u64;
    if l == 0 || l >= total {
        return BodyCoverage::Whole;
    }
    let (mut signed, mut all) = (Vec::new(), Vec::new());
    cb.canonical_body(body, l).write(&mut signed);
    cb.canonical_body(body, 0).write(&mut all);
    if signed == all {
        BodyCoverage::Whole
    } else {
        BodyCoverage::Part { signed: l, total }
    }
}

/// A raw header value on one line (folding undone), as the core's parsers expect.
fn unfold(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_tag_that_leaves_content_out_is_reported() {
        let body = b"Signed part.\r\nAppended later.\r\n";
        assert_eq!(
            coverage(Canonicalization::Relaxed, 14, body),
            BodyCoverage::Part {
                signed: 14,
                total: body.len() as u64
            }
        );
        assert_eq!(
            coverage(Canonicalization::Relaxed, 0, body),
            BodyCoverage::Whole
        );
        assert_eq!(
            coverage(Canonicalization::Simple, body.len() as u64, body),
            BodyCoverage::Whole
        );
        // Only empty lines after the signed length: the canonical body is the same.
        let padded = b"Signed part.\r\n\r\n\r\n";
        assert_eq!(
            coverage(Canonicalization::Relaxed, 14, padded),
            BodyCoverage::Whole
        );
    }

    #[test]
    fn timestamps_outside_the_range_are_no_expiry() {
        assert_eq!(timestamp(0), None);
        assert_eq!(timestamp(u64::MAX), None);
        assert_eq!(
            timestamp(1_700_000_000).map(|t| t.timestamp()),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn folded_results_are_unfolded() {
        assert_eq!(
            unfold(b" i=1; lists.example;\r\n\tdkim=pass header.d=provider.example\r\n"),
            "i=1; lists.example;\tdkim=pass header.d=provider.example"
        );
    }

    #[test]
    fn a_verifier_that_cannot_reach_dns_says_so_within_its_timeout() {
        // A port on loopback where nothing answers: the check gives up and says why. The body is
        // empty, so its hash (bh=) matches and the check gets as far as the key lookup.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("addr");
        let verifier = Verifier::new(Settings {
            nameserver: Some(addr),
            timeout: Duration::from_secs(1),
            cache_entries: 8,
            cache_max_age: Duration::from_secs(60),
        });
        let raw = b"From: alice@provider.example\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=provider.example; s=sel; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n\r\n";
        let started = Instant::now();
        let check = verifier.check(raw);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let said = format!("{check:?}");
        assert!(
            said.contains("did not finish within 1 s") || said.contains("DNS lookup"),
            "{said}"
        );
        drop(socket);
    }
}
