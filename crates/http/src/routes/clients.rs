//! The client registry: `/api/v1/clients` (OAuth 2.0 / OpenID Connect
//! clients of a realm). Handlers only parse and map; rules live in
//! `portcullis_core::clients`, which answers with domain values that this
//! module maps to the API's views.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use portcullis_proto::*;

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, Json, Params};
use crate::state::AppState;
use portcullis_core::access::{ClientsManage, ClientsRead};
use portcullis_core::clients::{GrantType, OAuthClient, RegisteredClient};
use secrecy::ExposeSecret;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/clients", get(clients_list).post(client_post));
    r = realm_route(
        r,
        "/clients/{client_id}",
        get(client_get).patch(client_patch).delete(client_delete),
    );
    realm_route(r, "/clients/{client_id}/secret", post(client_secret_post))
}

type Answer<T> = Result<axum::Json<T>, ApiError>;

/// A client as the API shows it.
fn client_view(c: &OAuthClient) -> ClientView {
    ClientView {
        id: c.id,
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        client_type: c.client_type.as_str().to_owned(),
        token_endpoint_auth_method: c.auth_method.as_str().to_owned(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        grant_types: c
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: c.scopes.clone(),
        id_token_signed_response_alg: c.id_token_alg.as_str().to_owned(),
        jwks: c.jwks.clone(),
        access_token_ttl: c.access_token_ttl,
        refresh_token_ttl: c.refresh_token_ttl,
        require_consent: c.require_consent,
        enabled: c.enabled,
        has_secret: c.secret_hash.is_some(),
        logo_uri: c.links.logo_uri.clone(),
        policy_uri: c.links.policy_uri.clone(),
        tos_uri: c.links.tos_uri.clone(),
        service_account_id: c
            .grant_types
            .contains(&GrantType::ClientCredentials)
            .then_some(c.id),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A client as registered or changed, with the secret it was just given:
/// the one answer that shows it.
fn client_with_secret(r: RegisteredClient) -> ClientWithSecret {
    ClientWithSecret {
        client: client_view(&r.client),
        client_secret: r.secret.map(|s| s.expose_secret().to_owned()),
    }
}

/// List the realm's clients (`clients:read:all`).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = ClientList), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn clients_list(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsRead>,
) -> Answer<ClientList> {
    let clients = s.core.clients().list(&admin).await?;
    Ok(axum::Json(ClientList {
        items: clients.iter().map(client_view).collect(),
    }))
}

/// Register a client (`clients:manage:all`). A confidential client using a
/// secret gets one in this answer, and never again.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses((status = 201, body = ClientWithSecret),
        (status = 409, description = "client_id taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_post(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    Json(body): Json<CreateClientRequest>,
) -> Result<(StatusCode, axum::Json<ClientWithSecret>), ApiError> {
    let created = s.core.clients().create(&admin, body).await?;
    Ok((StatusCode::CREATED, axum::Json(client_with_secret(created))))
}

/// One client by `client_id` (`clients:read:all`).
#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    responses((status = 200, body = ClientView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_get(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsRead>,
    p: Params,
) -> Answer<ClientView> {
    let client = s.core.clients().get(&admin, p.text("client_id")?).await?;
    Ok(axum::Json(client_view(&client)))
}

/// Change a client (`clients:manage:all`); only the fields present change.
/// Switching to a secret-based authentication method from one without a
/// secret returns a new secret, once.
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    request_body = UpdateClientRequest,
    responses((status = 200, body = ClientWithSecret),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_patch(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    p: Params,
    Json(body): Json<UpdateClientRequest>,
) -> Answer<ClientWithSecret> {
    let updated = s
        .core
        .clients()
        .update(&admin, p.text("client_id")?, body)
        .await?;
    Ok(axum::Json(client_with_secret(updated)))
}

/// Delete a client (`clients:manage:all`).
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    p: Params,
) -> Result<StatusCode, ApiError> {
    s.core
        .clients()
        .delete(&admin, p.text("client_id")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a client's secret (`clients:manage:all`): the old secret stops
/// working at once; the new one is in this answer only.
#[utoipa::path(post, path = "/api/v1/clients/{client_id}/secret", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    responses((status = 200, body = ClientWithSecret),
        (status = 409, description = "The client does not authenticate with a secret", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_secret_post(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    p: Params,
) -> Answer<ClientWithSecret> {
    let rotated = s
        .core
        .clients()
        .rotate_secret(&admin, p.text("client_id")?)
        .await?;
    Ok(axum::Json(client_with_secret(rotated)))
}
