//! The consent page: what a client asks to do, and the user's answer.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::model::Session;
use portcullis_oidc::authorize::{self, AuthRequest};

use super::form::RequestForm;
use super::render::{Ctx, Page};

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    realm_name: &'a str,
    nonce: &'a str,
    action: String,
    csrf_token: &'a str,
    request: &'a str,
    client_name: &'a str,
    user_email: &'a str,
    scopes: Vec<String>,
    /// The client's privacy policy and terms (https; links, never fetched).
    policy_uri: Option<&'a str>,
    tos_uri: Option<&'a str>,
}

/// What a scope lets a client do, in words.
fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account identifier)".to_owned(),
        "profile" => "See your name and basic profile".to_owned(),
        "email" => "See your email address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "address" => "See your postal address".to_owned(),
        "offline_access" => "Keep access while you are not using it".to_owned(),
        other => format!("Use the permission \u{201c}{other}\u{201d}"),
    }
}

impl Ctx<'_> {
    pub(super) async fn consent_page(
        &self,
        mut page: Page,
        req: &AuthRequest,
        session: &Session,
    ) -> Response {
        let user = match self
            .state
            .core
            .store()
            .get_user(self.realm.id, session.user_id)
            .await
        {
            Ok(Some(u)) => u,
            _ => return self.unavailable(),
        };
        let csrf = self.csrf(&mut page);
        page.allow_form_target(&req.redirect_uri);
        let body = ConsentPage {
            realm_name: &self.realm.display_name,
            nonce: &page.nonce,
            action: self.path("consent"),
            csrf_token: &csrf,
            request: &req.encoded,
            client_name: &req.client.name,
            user_email: user.email.as_str(),
            scopes: req.scopes.iter().map(|s| describe_scope(s)).collect(),
            policy_uri: req.client.links.policy_uri.as_deref(),
            tos_uri: req.client.links.tos_uri.as_deref(),
        }
        .render();
        page.html(StatusCode::OK, body)
    }
}

/// `POST /realms/{realm}/consent`: the consent form.
pub(super) async fn consent_post(RequestForm { form, req }: RequestForm) -> Response {
    let ctx = form.ctx();
    let (s, realm) = (ctx.state, ctx.realm);
    let session = match ctx.session().await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return ctx
                .login_page(Page::new(), &req, StatusCode::OK, "", None)
                .await;
        }
        Err(_) => return ctx.unavailable(),
    };
    let allow = form.get("decision") == Some("allow");
    let core = &s.core;
    let res = match authorize::record_consent(core, realm, &req, &session, allow).await {
        Ok(Some(denied)) => denied,
        Ok(None) => match authorize::issue_code(core, realm, &req, &session).await {
            Ok(res) => res,
            Err(_) => return ctx.unavailable(),
        },
        Err(_) => return ctx.unavailable(),
    };
    ctx.respond(Page::new(), &res)
}
