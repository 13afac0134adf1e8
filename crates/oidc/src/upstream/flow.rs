//! The steps of an upstream sign-in, over core's federation service:
//!
//! 1. [`start`]: an attempt bound to the browser (its binding cookie), and
//!    the provider's authorization URL.
//! 2. [`callback`]: the attempt taken once (state, browser), the code
//!    exchanged, the identity validated and resolved to an account; then,
//!    by what the attempt continues with, a browser sign-in for the
//!    realm's authorization request, an exchange code for an API client,
//!    a link for a signed-in user, or a pending link the user must confirm.
//! 3. [`confirm`]: the pending link proven with the local account's
//!    password, passkey or mailbox.

use portcullis_core::Portcullis;
use portcullis_core::accounts::{BrowserLogin, RequestMeta};
use portcullis_core::federation::{Continuation, IdentityProvider, LinkProof, Resolved, Step};
use portcullis_core::model::Realm;
use secrecy::{ExposeSecret as _, SecretString};

use super::{Upstream, UpstreamError, presets};

/// The cookie that binds an upstream sign-in to its browser.
pub const BINDING_COOKIE: &str = "portcullis_fed";

/// The callback URL of `alias` in `realm`: the short path for the default
/// realm (as the seeds write it), the realm's path otherwise. This is the
/// redirect URI to register at the provider.
pub fn callback_url(public_url: &str, realm: &Realm, default_realm: &str, alias: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if realm.name.as_str() == default_realm {
        format!("{base}/api/v1/auth/social/{alias}/callback")
    } else {
        format!(
            "{base}/api/v1/realms/{}/auth/social/{alias}/callback",
            realm.name
        )
    }
}

/// A started sign-in.
#[derive(Debug)]
pub struct Started {
    /// The provider's authorization URL, where the browser goes.
    pub location: String,
    /// The binding cookie's secret.
    pub binding: SecretString,
    /// Whether the callback comes as a cross-site POST (the cookie must
    /// then be `SameSite=None`).
    pub form_post: bool,
}

/// Why a step failed before anything could be sent back to a client.
#[derive(Debug)]
pub enum Failure {
    /// Core refused (an unknown provider, an attempt from another
    /// browser, ...): its error.
    Core(portcullis_core::Error),
    /// The provider failed.
    Upstream(UpstreamError),
}

impl From<portcullis_core::Error> for Failure {
    fn from(e: portcullis_core::Error) -> Self {
        Self::Core(e)
    }
}

/// The checks every client continuation shares: the client exists and is
/// enabled, the redirect URI is one it registered (exactly), the state is
/// not too long. Wrong fields are added to `errors`.
async fn check_client(
    core: &Portcullis,
    realm: &Realm,
    client_id: Option<&str>,
    redirect_uri: Option<&str>,
    state: Option<&str>,
    errors: &mut Vec<portcullis_core::FieldError>,
) -> Result<(), portcullis_core::Error> {
    use portcullis_core::FieldError;
    let client = match client_id.filter(|c| !c.is_empty() && c.len() <= 255) {
        None => {
            errors.push(FieldError::new(
                "client_id",
                "required: the OAuth client asking",
            ));
            None
        }
        Some(id) => match core.clients().find(realm.id, id).await {
            Ok(c) if c.enabled => Some(c),
            Ok(_) | Err(portcullis_core::Error::NotFound(_)) => {
                errors.push(FieldError::new(
                    "client_id",
                    "no enabled client has this id",
                ));
                None
            }
            Err(e) => return Err(e),
        },
    };
    match (redirect_uri, &client) {
        (None, _) => errors.push(FieldError::new(
            "redirect_uri",
            "required: one of the client's registered redirect URIs",
        )),
        (Some(uri), Some(c)) if !c.redirect_uris.iter().any(|r| r == uri) => {
            errors.push(FieldError::new(
                "redirect_uri",
                "is not registered for this client (exact match)",
            ))
        }
        _ => {}
    }
    if state.is_some_and(|s| s.len() > 512) {
        errors.push(FieldError::new("state", "at most 512 characters"));
    }
    Ok(())
}

/// The continuation of an API client's sign-in: the client's checks, and
/// a PKCE S256 challenge. Every wrong field is named.
pub async fn client_continuation(
    core: &Portcullis,
    realm: &Realm,
    client_id: Option<&str>,
    redirect_uri: Option<&str>,
    state: Option<&str>,
    code_challenge: Option<&str>,
    code_challenge_method: Option<&str>,
) -> Result<Continuation, portcullis_core::Error> {
    use portcullis_core::FieldError;
    let mut errors = Vec::new();
    check_client(core, realm, client_id, redirect_uri, state, &mut errors).await?;
    match code_challenge {
        Some(c) if c.len() == 43 && crate::authorize::is_pkce_value(c) => {}
        _ => errors.push(FieldError::new(
            "code_challenge",
            "required: the client's PKCE S256 challenge (43 characters)",
        )),
    }
    if code_challenge_method != Some("S256") {
        errors.push(FieldError::new("code_challenge_method", "must be S256"));
    }
    if !errors.is_empty() {
        return Err(portcullis_core::Error::Validation(errors));
    }
    Ok(Continuation::Client {
        client_id: client_id.unwrap_or_default().to_owned(),
        redirect_uri: redirect_uri.unwrap_or_default().to_owned(),
        state: state.map(str::to_owned),
        code_challenge: code_challenge.unwrap_or_default().to_owned(),
    })
}

/// The continuation of linking a provider to the signed-in user
/// `user_id`: back to a client's registered redirect URI (nothing is
/// exchanged, so no PKCE). Every wrong field is named.
pub async fn link_continuation(
    core: &Portcullis,
    realm: &Realm,
    user_id: uuid::Uuid,
    client_id: &str,
    redirect_uri: &str,
    state: Option<&str>,
) -> Result<Continuation, portcullis_core::Error> {
    let mut errors = Vec::new();
    check_client(
        core,
        realm,
        Some(client_id),
        Some(redirect_uri),
        state,
        &mut errors,
    )
    .await?;
    if !errors.is_empty() {
        return Err(portcullis_core::Error::Validation(errors));
    }
    Ok(Continuation::Link {
        user_id,
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state.map(str::to_owned),
    })
}

/// Starts a sign-in through `provider`.
pub async fn start(
    core: &Portcullis,
    upstream: &Upstream,
    provider: &IdentityProvider,
    next: Continuation,
    binding: Option<&str>,
    callback: &str,
) -> Result<Started, Failure> {
    let r = presets::resolve(provider);
    let begun = core.federation().begin(provider, next, binding).await?;
    let location = upstream
        .authorization_url(provider, &r, callback, &begun.state, &begun.secrets)
        .await
        .map_err(Failure::Upstream)?;
    Ok(Started {
        location,
        binding: begun.binding,
        form_post: r.form_post,
    })
}

/// The parameters of a callback.
#[derive(Debug, Default)]
pub struct CallbackParams<'a> {
    /// `code`.
    pub code: Option<&'a str>,
    /// `state`.
    pub state: Option<&'a str>,
    /// `error`.
    pub error: Option<&'a str>,
    /// `error_description`.
    pub error_description: Option<&'a str>,
    /// Apple's `user` (JSON with the name, sent on the first sign-in).
    pub user: Option<&'a str>,
}

/// Where a callback (or a confirmed link) lands.
#[derive(Debug)]
pub enum Landing {
    /// A browser sign-in for an authorization request of the realm: go on
    /// with the request (`request`, form-encoded) after this outcome.
    Authorize {
        /// The authorization request.
        request: String,
        /// The sign-in.
        outcome: BrowserLogin,
    },
    /// The sign-in for an authorization request failed upstream or here:
    /// show the login page again with `message`.
    AuthorizeFailed {
        /// The authorization request.
        request: String,
        /// What to tell the user.
        message: String,
    },
    /// The user must prove the local account before the link is made.
    ConfirmLink {
        /// The pending link's handle (for the confirmation form).
        handle: SecretString,
        /// The provider's alias.
        alias: String,
        /// The provider's label.
        label: String,
        /// The local account's address.
        email: String,
        /// Whether it has a password to prove it with.
        has_password: bool,
        /// Where the sign-in goes on once the link is proven.
        next: Continuation,
    },
    /// Send the browser to this URL of the client (a code, a link's
    /// result, or an RFC 6749 error).
    Redirect(String),
}

fn client_redirect(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    url.into()
}

/// What the user is told about a failure.
pub fn message(e: &Failure) -> String {
    match e {
        Failure::Upstream(UpstreamError::Denied(_)) => {
            "The sign-in was cancelled or refused by the provider.".to_owned()
        }
        Failure::Upstream(u) => format!("The sign-in could not be completed: {u}."),
        Failure::Core(portcullis_core::Error::Forbidden(m)) => {
            let mut m = (*m).to_owned();
            if let Some(first) = m.get(..1) {
                m = first.to_uppercase() + m.get(1..).unwrap_or("");
            }
            m + "."
        }
        Failure::Core(portcullis_core::Error::Conflict(m)) => format!("{m}."),
        Failure::Core(portcullis_core::Error::NotAuthenticated(m)) => {
            format!("{m}: start the sign-in again.")
        }
        Failure::Core(portcullis_core::Error::BadRequest(m)) => format!("{m}."),
        Failure::Core(_) => "The sign-in could not be completed; try again.".to_owned(),
    }
}

fn error_code(e: &Failure) -> &'static str {
    match e {
        Failure::Upstream(UpstreamError::Denied(_) | UpstreamError::InvalidToken(_))
        | Failure::Core(portcullis_core::Error::Forbidden(_)) => "access_denied",
        Failure::Upstream(UpstreamError::Misconfigured(_)) => "server_error",
        Failure::Upstream(_) => "temporarily_unavailable",
        Failure::Core(portcullis_core::Error::Conflict(_)) => "access_denied",
        Failure::Core(_) => "server_error",
    }
}

/// Finishes a sign-in at the callback. An attempt that cannot be taken
/// (unknown, spent, expired, another browser's) is a [`Failure`]; after
/// that, failures go where the attempt continues (the login page, or the
/// client as an RFC 6749 error).
#[allow(clippy::too_many_arguments)]
pub async fn callback(
    core: &Portcullis,
    upstream: &Upstream,
    realm: &Realm,
    provider: &IdentityProvider,
    params: &CallbackParams<'_>,
    binding: Option<&str>,
    callback: &str,
    meta: &RequestMeta,
) -> Result<Landing, Failure> {
    let state = params.state.unwrap_or("");
    let step = core.federation().take(provider, state, binding).await?;
    let Step::Started { next } = step else {
        return Err(Failure::Core(portcullis_core::Error::BadRequest(
            portcullis_core::federation::INVALID_ATTEMPT.to_owned(),
        )));
    };
    // `take` checked the binding: it is the browser's.
    let binding = binding.unwrap_or("");
    let outcome = async {
        if let Some(error) = params.error {
            let detail = params.error_description.unwrap_or(error);
            return Err(Failure::Upstream(UpstreamError::Denied(
                detail.chars().take(200).collect(),
            )));
        }
        let code = params
            .code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| Failure::Upstream(UpstreamError::BadResponse("no code".into())))?;
        let r = presets::resolve(provider);
        let secrets = portcullis_core::federation::secrets(binding, state);
        let mut identity = upstream
            .identity(core, realm, provider, &r, callback, code, &secrets)
            .await
            .map_err(Failure::Upstream)?;
        if identity.name.is_none()
            && let Some(user) = params.user.filter(|u| u.len() <= 4096)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(user)
        {
            let part = |k: &str| {
                v.pointer(&format!("/name/{k}"))
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
            };
            let name = format!("{} {}", part("firstName"), part("lastName"));
            if !name.trim().is_empty() {
                identity.name = Some(name.trim().to_owned());
            }
        }
        Ok(identity)
    }
    .await;
    let identity = match outcome {
        Ok(i) => i,
        Err(e) => return Ok(fail(next, &e)),
    };
    if let Continuation::Link {
        user_id,
        redirect_uri,
        state,
        ..
    } = &next
    {
        let res = core
            .federation()
            .link_signed_in(realm, provider, *user_id, &identity)
            .await;
        return Ok(match res {
            Ok(_) => linked(redirect_uri, state.as_deref(), provider),
            Err(e) => fail(next, &Failure::Core(e)),
        });
    }
    let resolved = match core.federation().resolve(realm, provider, &identity).await {
        Ok(r) => r,
        Err(e) => return Ok(fail(next, &Failure::Core(e))),
    };
    match resolved {
        Resolved::User { user, .. } => {
            Ok(sign_in(core, realm, provider, next, user, &identity.amr, meta).await)
        }
        Resolved::ConfirmLink { user } => {
            let has_password = user.password_hash.is_some();
            let email = user.email.as_str().to_owned();
            let handle = core
                .federation()
                .hold_for_link(provider, binding, next.clone(), user.id, identity)
                .await?;
            Ok(Landing::ConfirmLink {
                handle,
                alias: provider.alias.clone(),
                label: provider.label().to_owned(),
                email,
                has_password,
                next,
            })
        }
    }
}

/// Proves a pending link (with the local account's password or passkey,
/// or by the link mailed to it), links, and signs in. A failed proof keeps
/// nothing: the user starts again.
pub async fn confirm(
    core: &Portcullis,
    realm: &Realm,
    provider: &IdentityProvider,
    handle: &str,
    binding: Option<&str>,
    proof: LinkProof,
    meta: &RequestMeta,
) -> Result<Landing, Failure> {
    let confirmed = core
        .federation()
        .confirm_link(realm, provider, handle, binding, proof, meta)
        .await?;
    Ok(match confirmed.outcome {
        Ok(user) => {
            sign_in(
                core,
                realm,
                provider,
                confirmed.next,
                user,
                &confirmed.identity.amr,
                meta,
            )
            .await
        }
        Err(e) => fail(confirmed.next, &Failure::Core(e)),
    })
}

async fn sign_in(
    core: &Portcullis,
    realm: &Realm,
    provider: &IdentityProvider,
    next: Continuation,
    user: portcullis_core::model::User,
    upstream_amr: &[String],
    meta: &RequestMeta,
) -> Landing {
    match next {
        Continuation::Authorize { request } => {
            match core
                .accounts()
                .login_upstream_browser(realm, &user, provider, upstream_amr, meta)
                .await
            {
                Ok(outcome) => Landing::Authorize { request, outcome },
                Err(e) => fail(Continuation::Authorize { request }, &Failure::Core(e)),
            }
        }
        Continuation::Client {
            client_id,
            redirect_uri,
            state,
            code_challenge,
        } => {
            match core
                .federation()
                .issue_exchange(
                    provider,
                    &code_challenge,
                    user.id,
                    &client_id,
                    upstream_amr.to_vec(),
                )
                .await
            {
                Ok(code) => Landing::Redirect(client_redirect(
                    &redirect_uri,
                    &[("code", code.expose_secret())],
                    state.as_deref(),
                )),
                Err(e) => fail(
                    Continuation::Client {
                        client_id,
                        redirect_uri,
                        state,
                        code_challenge,
                    },
                    &Failure::Core(e),
                ),
            }
        }
        Continuation::Link {
            redirect_uri,
            state,
            ..
        } => linked(&redirect_uri, state.as_deref(), provider),
    }
}

/// Back to the client after a link: `linked={alias}`.
fn linked(redirect_uri: &str, state: Option<&str>, provider: &IdentityProvider) -> Landing {
    Landing::Redirect(client_redirect(
        redirect_uri,
        &[("linked", &provider.alias)],
        state,
    ))
}

/// A failure after the attempt was taken, sent where the attempt goes on.
fn fail(next: Continuation, e: &Failure) -> Landing {
    if let Failure::Upstream(u) = e {
        tracing::warn!(error = %u, "an upstream sign-in failed");
    }
    match next {
        Continuation::Authorize { request } => Landing::AuthorizeFailed {
            request,
            message: message(e),
        },
        Continuation::Client {
            redirect_uri,
            state,
            ..
        }
        | Continuation::Link {
            redirect_uri,
            state,
            ..
        } => Landing::Redirect(client_redirect(
            &redirect_uri,
            &[("error", error_code(e)), ("error_description", &message(e))],
            state.as_deref(),
        )),
    }
}
