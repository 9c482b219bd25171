//! The TLS client setup every connection deskgate makes shares — IMAP, SMTP, OAuth2's token
//! endpoint, PostgreSQL: rustls with the aws-lc-rs provider named rather than taken from the
//! process default (so it never depends on which backends other crates compiled in; see
//! CRATES.md), trusting the webpki roots plus, when configured, a private CA's certificates.
//!
//! Owns nothing else: each adapter wraps the config in its own connector and names its own
//! errors (`imap.ca_file …`, `store.ca_file …`).

use std::sync::Arc;

/// The client config: the webpki roots, plus every PEM certificate in `ca_pem` (which must hold
/// at least one).
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            roots
                .add(cert.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            added += 1;
        }
        if added == 0 {
            return Err("no PEM certificate in it".into());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        assert!(client_config(None).is_ok());
        assert_eq!(
            client_config(Some(b"not a certificate")).err().as_deref(),
            Some("no PEM certificate in it")
        );
    }
}
