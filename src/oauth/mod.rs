//! OAuth2 access tokens for SASL logins (XOAUTH2, OAUTHBEARER) to IMAP and SMTP: where a
//! token comes from, how long it is kept, and when a new one is fetched.
//!
//! A [`Tokens`] serves one login identity (a desk's mailbox, or `[smtp]`). With a
//! `token_command` it runs the command for every login, as mbsync's PassCmd does: the command
//! (oama, a provider's CLI, a script) keeps and refreshes the token itself. With a `token_url` it
//! is the client itself (the `oauth2` crate builds the requests and reads the answers): the
//! refresh-token grant when a refresh token is configured, else the client-credentials grant.
//! The token is kept until shortly before it expires (`expires_in`, judged by the injected
//! [`Clock`]), and dropped when a server refuses it ([`Tokens::renew`]), so the next login
//! gets a new one. A refresh token the provider rotates is kept in memory for the next refresh.
//!
//! Tokens, refresh tokens and client secrets are [`Secret`]s: nothing here logs or formats one.
//!
//! The folder sits beside [`crate::config`] and [`crate::clock`], below the adapters that log
//! in (`source`, `outbound`), which both use it; it imports only those two. `sasl.rs` builds
//! the SASL messages, `http.rs` carries the token requests.

mod http;
pub mod sasl;

use crate::clock::Clock;
use crate::config::{OAuth2Config, SaslMechanism, Secret, SecretSource};
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};
use std::sync::Arc;
use tokio::sync::Mutex;

/// A token is replaced this long before it expires (at most; a fifth of its lifetime for short
/// ones), so a login never presents one that runs out on the way.
const RENEW_AHEAD: chrono::Duration = chrono::Duration::minutes(5);

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A `token_command`, `client_secret_command` or `refresh_token_command` failed.
    #[error("{0}")]
    Command(String),
    /// The token endpoint could not be reached or gave no usable answer.
    #[error("token endpoint {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The token endpoint refused (RFC 6749 §5.2: `invalid_grant`, `invalid_client`,
    /// `invalid_scope`, …): the grant or the client registration must be fixed.
    #[error("token endpoint {url} refused: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        url: String,
        error: String,
        description: Option<String>,
    },
}

impl OAuthError {
    /// Worth retrying soon: the endpoint or a command may be back in a moment. A refusal is
    /// not: a revoked grant or a wrong client stays so until someone fixes it.
    pub fn is_transient(&self) -> bool {
        !matches!(self, OAuthError::Refused { .. })
    }
}

/// An access token for one login.
#[derive(Debug, Clone)]
pub struct Token {
    pub secret: Secret,
    /// Fetched for this login (not from the cache): a refusal cannot be cured by another.
    pub fresh: bool,
}

/// The access tokens of one login identity.
pub struct Tokens {
    cfg: OAuth2Config,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// A refresh token the endpoint handed back in place of the configured one.
    rotated_refresh: Option<Secret>,
}

struct Cached {
    token: Secret,
    /// When to stop using it; `None` when the endpoint gave no `expires_in`.
    renew_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("mechanism", &self.cfg.mechanism)
            .field("token_url", &self.cfg.token_url)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(cfg: OAuth2Config, clock: Arc<dyn Clock>) -> Tokens {
        Tokens {
            cfg,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// The SASL mechanism the tokens are sent with.
    pub fn mechanism(&self) -> SaslMechanism {
        self.cfg.mechanism
    }

    /// A token for a login: the kept one while it is good, else a new one.
    pub async fn token(&self) -> Result<Token, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached {
            if c.renew_at.is_none_or(|at| self.clock.now() < at) {
                return Ok(Token {
                    secret: c.token.clone(),
                    fresh: false,
                });
            }
            tracing::debug!("access token about to expire; fetching a new one");
        }
        self.fetch(&mut state).await
    }

    /// A new token after a server refused `refused`: the kept one is dropped (unless another
    /// login has replaced it meanwhile, which is then returned).
    pub async fn renew(&self, refused: &Secret) -> Result<Token, OAuthError> {
        let mut state = self.state.lock().await;
        if let Some(c) = &state.cached {
            if &c.token != refused {
                return Ok(Token {
                    secret: c.token.clone(),
                    fresh: true,
                });
            }
        }
        state.cached = None;
        self.fetch(&mut state).await
    }

    /// Drops `refused` from the cache (a fresh token the server would not take either), so the
    /// next login asks again rather than presenting it once more.
    pub async fn forget(&self, refused: &Secret) {
        let mut state = self.state.lock().await;
        if state.cached.as_ref().is_some_and(|c| &c.token == refused) {
            state.cached = None;
        }
    }

    async fn fetch(&self, state: &mut State) -> Result<Token, OAuthError> {
        if self.cfg.token_command.is_some() {
            let token = resolve(
                move |cfg: &OAuth2Config| {
                    cfg.token_command_source()
                        .map_or_else(|| Ok(Secret::new("")), |s| s.resolve())
                },
                &self.cfg,
            )
            .await?;
            if token.expose().trim().is_empty() {
                return Err(OAuthError::Command("token_command printed no token".into()));
            }
            // The command keeps its own cache: nothing is kept here.
            return Ok(Token {
                secret: token,
                fresh: true,
            });
        }
        let url = self.cfg.token_url.clone().unwrap_or_default();
        let unreachable = |message: String| OAuthError::Unreachable {
            url: url.clone(),
            message,
        };
        let client_secret = resolve(|c: &OAuth2Config| given(c.client_secret()), &self.cfg).await?;
        let refresh = match &state.rotated_refresh {
            Some(r) => Some(r.clone()),
            None => resolve(|c: &OAuth2Config| given(c.refresh_token()), &self.cfg).await?,
        };
        let token_url = TokenUrl::new(url.clone()).map_err(|e| unreachable(e.to_string()))?;
        let mut client = BasicClient::new(ClientId::new(
            self.cfg.client_id.clone().unwrap_or_default(),
        ))
        .set_token_uri(token_url)
        // In the form body rather than HTTP Basic: what Microsoft's and Google's documentation
        // show, and what every provider accepts.
        .set_auth_type(AuthType::RequestBody);
        if let Some(s) = client_secret {
            client = client.set_client_secret(ClientSecret::new(s.expose().to_string()));
        }
        let scopes: Vec<Scope> = self
            .cfg
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(|s| Scope::new(s.to_string()))
            .collect();
        let asked = self.clock.now();
        let answer = match &refresh {
            Some(r) => {
                let r = RefreshToken::new(r.expose().to_string());
                client
                    .exchange_refresh_token(&r)
                    .add_scopes(scopes)
                    .request_async(&http::send)
                    .await
            }
            None => {
                client
                    .exchange_client_credentials()
                    .add_scopes(scopes)
                    .request_async(&http::send)
                    .await
            }
        };
        let answer = answer.map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                let error = r.error().to_string();
                let description = r.error_description().cloned();
                match r.error() {
                    BasicErrorResponseType::Extension(x)
                        if x == "temporarily_unavailable" || x == "server_error" =>
                    {
                        unreachable(format!(
                            "{error}{}",
                            description.map(|d| format!(": {d}")).unwrap_or_default()
                        ))
                    }
                    _ => OAuthError::Refused {
                        url: url.clone(),
                        error,
                        description,
                    },
                }
            }
            RequestTokenError::Request(e) => unreachable(e.to_string()),
            RequestTokenError::Parse(e, _) => {
                unreachable(format!("the answer is not a token response: {e}"))
            }
            RequestTokenError::Other(m) => unreachable(m),
        })?;
        let token = Secret::new(answer.access_token().secret().clone());
        let renew_at = answer.expires_in().and_then(|d| {
            let lifetime = chrono::Duration::from_std(d).ok()?;
            Some(asked + lifetime - RENEW_AHEAD.min(lifetime / 5))
        });
        if let Some(r) = answer.refresh_token() {
            // Microsoft rotates refresh tokens; the configured one stays valid for a while, the
            // newest is what a long-running daemon should use.
            state.rotated_refresh = Some(Secret::new(r.secret().clone()));
        }
        let grant = if refresh.is_some() {
            "refresh_token"
        } else {
            "client_credentials"
        };
        tracing::info!(
            token_url = %url,
            grant,
            expires_in = ?answer.expires_in(),
            "fetched an access token"
        );
        state.cached = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(Token {
            secret: token,
            fresh: true,
        })
    }
}

/// A secret that may be absent.
fn given(s: SecretSource<'_>) -> Result<Option<Secret>, String> {
    if s.is_given() {
        s.resolve().map(Some)
    } else {
        Ok(None)
    }
}

/// Runs `f` (which may run a command) on a blocking thread.
async fn resolve<T: Send + 'static>(
    f: impl FnOnce(&OAuth2Config) -> Result<T, String> + Send + 'static,
    cfg: &OAuth2Config,
) -> Result<T, OAuthError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || f(&cfg))
        .await
        .map_err(|e| OAuthError::Command(format!("a secret command did not finish: {e}")))?
        .map_err(OAuthError::Command)
}
