//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): checks the
//! request. Where it goes afterwards is only ever a `post_logout_redirect_uri`
//! registered, exactly, for the client that the valid `id_token_hint` (or
//! `client_id`) names; anything doubtful is an error page, never a redirect.

use portcullis_core::Portcullis;
use portcullis_core::clients::OAuthClient;
use portcullis_core::model::Realm;

use crate::Form;
use crate::id_token::IdClaims;

/// A checked logout request.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    /// The client asking, if known.
    pub client: Option<OAuthClient>,
    /// The valid `id_token_hint`'s claims.
    pub hint: Option<IdClaims>,
    /// Where to send the browser afterwards (registered for the client).
    pub redirect_uri: Option<String>,
    /// Echoed to the redirect URI.
    pub state: Option<String>,
}

impl LogoutRequest {
    /// The redirect target after logout: the URI with `state` appended.
    pub fn location(&self) -> Option<String> {
        let uri = self.redirect_uri.as_ref()?;
        let mut out = uri.clone();
        if let Some(state) = &self.state {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", state)
                    .finish(),
            );
        }
        Some(out)
    }

    /// Whether the hint proves the request comes from a client of the
    /// browser session `sid`, so no confirmation is needed.
    pub fn proves_session(&self, sid: &str) -> bool {
        self.hint
            .as_ref()
            .and_then(|h| h.sid.as_deref())
            .is_some_and(|s| s == sid)
    }
}

/// Checks a logout request; `Err` is the message of an error page.
pub async fn check(
    core: &Portcullis,
    realm: &Realm,
    form: &Form<'_>,
) -> Result<LogoutRequest, String> {
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(token) => Some(
            crate::id_token::verify_hint(core, realm, token)
                .await
                .ok_or("The id_token_hint is not an ID token of this realm.")?,
        ),
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), form.get("client_id")) {
        (Some(a), Some(b)) if a != b => {
            return Err("The client_id does not match the id_token_hint.".to_owned());
        }
        (Some(a), _) | (None, Some(a)) => Some(a.to_owned()),
        (None, None) => None,
    };
    let client = match client_id {
        None => None,
        Some(id) => match core.clients().find(realm.id, &id).await {
            Ok(c) => Some(c),
            Err(portcullis_core::Error::NotFound(_)) => {
                return Err("The client is unknown.".to_owned());
            }
            Err(_) => return Err("The server could not look up the client.".to_owned()),
        },
    };
    let redirect_uri = match form.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Some(uri.to_owned()),
            Some(_) => {
                return Err(
                    "The post_logout_redirect_uri is not registered for this client.".to_owned(),
                );
            }
            None => {
                return Err(
                    "A post_logout_redirect_uri needs an id_token_hint or client_id.".to_owned(),
                );
            }
        },
    };
    Ok(LogoutRequest {
        client,
        hint,
        redirect_uri,
        state: form.get("state").map(|s| s.chars().take(2048).collect()),
    })
}
