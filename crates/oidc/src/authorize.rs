//! The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2):
//! the authorization code flow only, hardened per RFC 9700.
//!
//! A request is checked in an order that never redirects to an address that
//! is not proven: first the client and its redirect URI (a failure there is
//! an error page, [`Rejection::Page`]), and only then everything else, whose
//! failures go back to the client ([`Rejection::Redirect`]) with `state` and
//! `iss` (RFC 9207). What happens next depends on the browser's single
//! sign-on session: [`decide`] asks for a login or a consent, or issues a
//! code with [`issue_code`].

use portcullis_core::Portcullis;
use portcullis_core::clients::{ClientType, GrantType, OAuthClient};
use portcullis_core::model::{AuthCode, Consent, Realm, Session, new_id};
use portcullis_crypto::{random_token, sha256};
use time::Duration;

use crate::{Form, OAuthError};

/// How long a code lives.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// Longest `state` and `nonce` accepted.
const MAX_VALUE_LEN: usize = 2048;

/// How the answer travels back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// Query parameters of a redirect (303).
    Query,
    /// An HTML form the browser posts to the redirect URI.
    FormPost,
}

/// The `prompt` values that change what happens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Fail rather than show a page.
    pub none: bool,
    /// Authenticate again, even with a session.
    pub login: bool,
    /// Ask for consent again.
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The client.
    pub client: OAuthClient,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Whether the request named it (the token request must then repeat it).
    pub redirect_uri_given: bool,
    /// How the answer travels.
    pub response_mode: ResponseMode,
    /// Echoed back.
    pub state: Option<String>,
    /// Requested scopes the client may have, in request order.
    pub scopes: Vec<String>,
    /// Carried into the ID token.
    pub nonce: Option<String>,
    /// PKCE `S256` challenge.
    pub code_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, to pre-fill the login form.
    pub login_hint: Option<String>,
    /// The subject of a valid `id_token_hint`.
    pub hint_subject: Option<String>,
    /// `idp_hint`: the alias of an identity provider to sign in with at
    /// once, skipping the login page.
    pub idp_hint: Option<String>,
    /// The request's parameters, form-encoded: what the login and consent
    /// forms carry so the request can be checked again after them.
    pub encoded: String,
}

impl AuthRequest {
    /// Whether the scopes include `openid`.
    pub fn is_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }
}

/// An answer for the client's redirect URI: a code or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// How to deliver it.
    pub mode: ResponseMode,
    /// `code` or `error` (+ `error_description`), then `state` and `iss`.
    pub params: Vec<(&'static str, String)>,
}

impl AuthResponse {
    /// The redirect target for `query` mode: the redirect URI with the
    /// parameters appended to its own query.
    pub fn location(&self) -> String {
        let mut url = self.redirect_uri.clone();
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            ser.append_pair(k, v);
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&ser.finish());
        url
    }

    fn error(req: &Partial<'_>, issuer: &str, e: &OAuthError) -> Self {
        let mut params = vec![
            ("error", e.error.to_owned()),
            ("error_description", e.error_description.clone()),
        ];
        push_state_iss(&mut params, req.state.map(str::to_owned), issuer);
        Self {
            redirect_uri: req.redirect_uri.to_owned(),
            mode: req.mode,
            params,
        }
    }
}

fn push_state_iss(params: &mut Vec<(&'static str, String)>, state: Option<String>, issuer: &str) {
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer.to_owned()));
}

/// Why a request goes no further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The client or redirect URI is not proven: show an error page and
    /// never redirect.
    Page {
        /// What is wrong.
        message: String,
    },
    /// Send an error back to the client.
    Redirect(AuthResponse),
}

/// What the browser sees next.
#[derive(Debug, Clone)]
pub enum Next {
    /// The login form.
    Login,
    /// The consent form, for these scopes.
    Consent,
    /// A code (or an error) for the client.
    Respond(AuthResponse),
}

/// What is known once the redirect URI is proven.
struct Partial<'a> {
    redirect_uri: &'a str,
    mode: ResponseMode,
    state: Option<&'a str>,
}

fn page(message: impl Into<String>) -> Rejection {
    Rejection::Page {
        message: message.into(),
    }
}

/// Whether `given` is the registered URI `registered`: the same string, or
/// for a loopback IP address over `http`, the same but for the port (RFC
/// 8252 §7.3: native apps get a port from the system at run time).
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    loopback(&r)
        && loopback(&g)
        && r.host() == g.host()
        && r.path() == g.path()
        && r.query() == g.query()
        && r.fragment().is_none()
        && g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
        // The string without the port must be identical too.
        && strip_port(registered) == strip_port(given)
}

fn strip_port(uri: &str) -> String {
    url::Url::parse(uri)
        .map(|mut u| {
            let _ = u.set_port(None);
            u.to_string()
        })
        .unwrap_or_default()
}

/// Checks an authorization request whose parameters are `form`.
pub async fn check(
    core: &Portcullis,
    realm: &Realm,
    form: &Form<'_>,
) -> Result<AuthRequest, Rejection> {
    let issuer = core.realms().issuer(realm);
    let Some(client_id) = form.get("client_id") else {
        return Err(page("The request names no client (client_id is missing)."));
    };
    let client = match core.clients().find(realm.id, client_id).await {
        Ok(c) if c.enabled => c,
        Ok(_) | Err(portcullis_core::Error::NotFound(_)) => {
            return Err(page("The client is unknown or disabled."));
        }
        Err(_) => {
            return Err(page(
                "The server could not look up the client; try again later.",
            ));
        }
    };
    let (redirect_uri, given) = match form.get("redirect_uri") {
        Some(given) => match client
            .redirect_uris
            .iter()
            .find(|r| redirect_matches(r, given))
        {
            Some(_) => (given.to_owned(), true),
            None => {
                return Err(page(
                    "The redirect URI is not registered for this client, so the answer cannot be sent back.",
                ));
            }
        },
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            [] => return Err(page("The client has no registered redirect URI.")),
            _ => {
                return Err(page(
                    "The request must name its redirect_uri: the client has several.",
                ));
            }
        },
    };
    let state = form.get("state").filter(|s| s.len() <= MAX_VALUE_LEN);
    let mode = match form.get("response_mode") {
        Some("form_post") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    let partial = Partial {
        redirect_uri: &redirect_uri,
        mode,
        state,
    };
    let fail = |e: OAuthError| Rejection::Redirect(AuthResponse::error(&partial, &issuer, &e));

    if form.get("state").is_some_and(|s| s.len() > MAX_VALUE_LEN) {
        return Err(fail(OAuthError::invalid_request("state is too long")));
    }
    match form.get("response_mode") {
        None | Some("query" | "form_post") => {}
        Some(other) => {
            return Err(fail(OAuthError::invalid_request(format!(
                "response_mode {other} is not supported (query, form_post)"
            ))));
        }
    }
    match form.get("response_type") {
        None => {
            return Err(fail(OAuthError::invalid_request(
                "response_type is required",
            )));
        }
        Some("code") => {}
        Some(other) => {
            return Err(fail(OAuthError::new(
                "unsupported_response_type",
                format!(
                    "response_type {other} is not supported: only code (tokens never travel through the browser)"
                ),
            )));
        }
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::unauthorized_client(
            "this client may not use the authorization code flow",
        )));
    }
    if form.get("request").is_some() {
        return Err(fail(OAuthError::new(
            "request_not_supported",
            "request objects are not supported",
        )));
    }
    if form.get("request_uri").is_some() {
        return Err(fail(OAuthError::new(
            "request_uri_not_supported",
            "request_uri is not supported",
        )));
    }
    let code_challenge = match (
        form.get("code_challenge"),
        form.get("code_challenge_method"),
    ) {
        (None, None) if client.client_type == ClientType::Public => {
            return Err(fail(OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            )));
        }
        (None, None) => None,
        (Some(c), Some("S256")) if is_pkce_value(c) && c.len() == 43 => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge must be the 43-character base64url SHA-256 of the verifier",
            )));
        }
        (None, Some(_)) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            )));
        }
        (Some(_), _) => {
            return Err(fail(OAuthError::invalid_request(
                "only code_challenge_method=S256 is supported (plain is refused)",
            )));
        }
    };
    let mut prompt = Prompt::default();
    for p in form
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => {}
            other => {
                return Err(fail(OAuthError::invalid_request(format!(
                    "prompt {other} is not supported"
                ))));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(fail(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        )));
    }
    let max_age = match form.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(OAuthError::invalid_request(
                    "max_age must be a non-negative number of seconds",
                )));
            }
        },
    };
    let nonce = form.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_VALUE_LEN) {
        return Err(fail(OAuthError::invalid_request("nonce is too long")));
    }
    // The scopes the client may have; others are ignored (RFC 6749 §3.3).
    let mut scopes: Vec<String> = Vec::new();
    for s in form.get("scope").unwrap_or("").split(' ') {
        if !s.is_empty() && client.scopes.iter().any(|c| c == s) && !scopes.iter().any(|g| g == s) {
            scopes.push(s.to_owned());
        }
    }
    let hint_subject = match form.get("id_token_hint") {
        None => None,
        Some(hint) => match crate::id_token::verify_hint(core, realm, hint).await {
            Some(claims) => Some(claims.sub),
            None => {
                return Err(fail(OAuthError::invalid_request(
                    "id_token_hint is not an ID token of this issuer",
                )));
            }
        },
    };
    Ok(AuthRequest {
        redirect_uri,
        redirect_uri_given: given,
        response_mode: mode,
        state: state.map(str::to_owned),
        scopes,
        nonce: nonce.map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: form
            .get("login_hint")
            .map(|h| h.chars().take(256).collect()),
        hint_subject,
        idp_hint: form
            .get("idp_hint")
            .filter(|h| !h.is_empty() && h.len() <= 64)
            .map(str::to_owned),
        encoded: form.encode(),
        client,
    })
}

/// Whether `v` uses only the PKCE alphabet (RFC 7636 §4.1).
pub(crate) fn is_pkce_value(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// What comes next for a checked request, given the browser's session.
/// `fresh` is true right after the user logged in on the login form, so
/// `prompt=login` and `max_age` are satisfied; `consented` right after the
/// consent form.
pub async fn decide(
    core: &Portcullis,
    realm: &Realm,
    req: &AuthRequest,
    session: Option<&Session>,
    fresh: bool,
    consented: bool,
) -> Result<Next, OAuthError> {
    let issuer = core.realms().issuer(realm);
    let error = |code: &'static str, description: &str| {
        let mut params = vec![
            ("error", code.to_owned()),
            ("error_description", description.to_owned()),
        ];
        push_state_iss(&mut params, req.state.clone(), &issuer);
        Next::Respond(AuthResponse {
            redirect_uri: req.redirect_uri.clone(),
            mode: req.response_mode,
            params,
        })
    };
    let now = core.clock().now();
    let needs_login = match session {
        None => true,
        Some(s) => {
            !fresh
                && (req.prompt.login
                    || req
                        .max_age
                        .is_some_and(|age| (now - s.auth_time).whole_seconds() > age)
                    || req
                        .hint_subject
                        .as_ref()
                        .is_some_and(|sub| *sub != s.user_id.to_string()))
        }
    };
    let Some(session) = session.filter(|_| !needs_login) else {
        return Ok(match req.prompt.none {
            true => error("login_required", "the user is not logged in"),
            false => Next::Login,
        });
    };
    if req.client.require_consent && !consented {
        let stored = core
            .store()
            .get_consent(realm.id, session.user_id, &req.client.client_id)
            .await
            .map_err(portcullis_core::Error::from)?;
        let covered = stored.is_some_and(|c| req.scopes.iter().all(|s| c.scopes.contains(s)));
        if !covered || req.prompt.consent {
            return Ok(match req.prompt.none {
                true => error("consent_required", "the user has not consented"),
                false => Next::Consent,
            });
        }
    }
    Ok(Next::Respond(issue_code(core, realm, req, session).await?))
}

/// The user's answer on the consent form: remembered when allowed.
pub async fn record_consent(
    core: &Portcullis,
    realm: &Realm,
    req: &AuthRequest,
    session: &Session,
    allow: bool,
) -> Result<Option<AuthResponse>, OAuthError> {
    if !allow {
        let issuer = core.realms().issuer(realm);
        let mut params = vec![
            ("error", "access_denied".to_owned()),
            (
                "error_description",
                "the user denied the request".to_owned(),
            ),
        ];
        push_state_iss(&mut params, req.state.clone(), &issuer);
        return Ok(Some(AuthResponse {
            redirect_uri: req.redirect_uri.clone(),
            mode: req.response_mode,
            params,
        }));
    }
    let now = core.clock().now();
    let store = core.store();
    let previous = store
        .get_consent(realm.id, session.user_id, &req.client.client_id)
        .await
        .map_err(portcullis_core::Error::from)?;
    let mut scopes = previous
        .as_ref()
        .map(|c| c.scopes.clone())
        .unwrap_or_default();
    for s in &req.scopes {
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    store
        .put_consent(&Consent {
            realm_id: realm.id,
            user_id: session.user_id,
            client_id: req.client.client_id.clone(),
            scopes,
            created_at: previous.map_or(now, |c| c.created_at),
            updated_at: now,
        })
        .await
        .map_err(portcullis_core::Error::from)?;
    Ok(None)
}

/// Issues a code for the request to the session's user.
pub async fn issue_code(
    core: &Portcullis,
    realm: &Realm,
    req: &AuthRequest,
    session: &Session,
) -> Result<AuthResponse, OAuthError> {
    let now = core.clock().now();
    let code = random_token();
    let record = AuthCode {
        id: new_id(),
        realm_id: realm.id,
        code_hash: sha256(code.as_bytes()).to_vec(),
        client_id: req.client.client_id.clone(),
        user_id: session.user_id,
        session_id: session.id,
        redirect_uri: req.redirect_uri_given.then(|| req.redirect_uri.clone()),
        scope: req.scopes.join(" "),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        created_at: now,
        expires_at: now + CODE_TTL,
        used_at: None,
        grant_session_id: None,
    };
    core.store()
        .insert_auth_code(&record)
        .await
        .map_err(portcullis_core::Error::from)?;
    let mut params = vec![("code", code)];
    push_state_iss(&mut params, req.state.clone(), &core.realms().issuer(realm));
    Ok(AuthResponse {
        redirect_uri: req.redirect_uri.clone(),
        mode: req.response_mode,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly() {
        let r = "https://app.example.com/cb";
        assert!(redirect_matches(r, r));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/CB",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#f",
            "https://user@app.example.com/cb",
            "https://app.example.com/cb/../cb",
            "https://app.example.com.evil/cb",
            "http://app.example.com/cb",
        ] {
            assert!(!redirect_matches(r, other), "{other}");
        }
    }

    #[test]
    fn loopback_redirects_may_change_port_only() {
        let r = "http://127.0.0.1/cb";
        assert!(redirect_matches(r, "http://127.0.0.1:53211/cb"));
        assert!(redirect_matches(
            "http://[::1]:8080/cb",
            "http://[::1]:9/cb"
        ));
        for other in [
            "http://127.0.0.1:5321/cb2",
            "http://127.0.0.1:5321/cb?x",
            "http://localhost:5321/cb",
            "https://127.0.0.1:5321/cb",
            "http://127.0.0.2:5321/cb",
            "http://u@127.0.0.1:5321/cb",
        ] {
            assert!(!redirect_matches(r, other), "{other}");
        }
        assert!(!redirect_matches(
            "https://app.example.com:8443/cb",
            "https://app.example.com:9443/cb"
        ));
    }

    #[test]
    fn response_location_keeps_the_registered_query() {
        let res = AuthResponse {
            redirect_uri: "https://app.example.com/cb?tenant=a".to_owned(),
            mode: ResponseMode::Query,
            params: vec![("code", "abc".to_owned()), ("state", "s 1&".to_owned())],
        };
        assert_eq!(
            res.location(),
            "https://app.example.com/cb?tenant=a&code=abc&state=s+1%26"
        );
    }

    #[test]
    fn pkce_alphabet() {
        assert!(is_pkce_value("abcXYZ019-._~"));
        assert!(!is_pkce_value("abc+/="));
        assert!(!is_pkce_value("abc def"));
    }
}
