//! The client registry: `/api/v1/clients` (OAuth 2.0 / OpenID Connect
//! clients of a realm). Handlers only parse and map; rules live in
//! `portcullis_core::clients`.

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

/// List the realm's clients (`clients:read:all`).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = ClientList), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn clients_list(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsRead>,
) -> Answer<ClientList> {
    Ok(axum::Json(s.core.clients().list(&admin).await?))
}

/// Register a client (`clients:manage:all`). A confidential client using a
/// secret gets one in this answer, and never again.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses((status = 201, body = ClientWithSecret),
        (status = 409, description = "client_id taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_post(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    Json(body): Json<CreateClientRequest>,
) -> Result<(StatusCode, axum::Json<ClientWithSecret>), ApiError> {
    let created = s.core.clients().create(&admin, body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One client by `client_id` (`clients:read:all`).
#[utoipa::path(get, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    responses((status = 200, body = ClientView), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_get(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsRead>,
    p: Params,
) -> Answer<ClientView> {
    Ok(axum::Json(
        s.core.clients().get(&admin, p.text("client_id")?).await?,
    ))
}

/// Change a client (`clients:manage:all`); only the fields present change.
/// Switching to a secret-based authentication method from one without a
/// secret returns a new secret, once.
#[utoipa::path(patch, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    request_body = UpdateClientRequest,
    responses((status = 200, body = ClientWithSecret),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_patch(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    p: Params,
    Json(body): Json<UpdateClientRequest>,
) -> Answer<ClientWithSecret> {
    Ok(axum::Json(
        s.core
            .clients()
            .update(&admin, p.text("client_id")?, body)
            .await?,
    ))
}

/// Delete a client (`clients:manage:all`).
#[utoipa::path(delete, path = "/api/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The OAuth client_id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem, content_type = "application/problem+json")))]
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
        (status = 409, description = "The client does not authenticate with a secret", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn client_secret_post(
    State(s): State<AppState>,
    Admin(admin): Admin<ClientsManage>,
    p: Params,
) -> Answer<ClientWithSecret> {
    Ok(axum::Json(
        s.core
            .clients()
            .rotate_secret(&admin, p.text("client_id")?)
            .await?,
    ))
}
