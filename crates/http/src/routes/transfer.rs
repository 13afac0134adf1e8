//! `/api/v1/realms/{realm}/export` and `/import`: a realm in the JSON Lines
//! format of docs/import-export.md, streamed both ways. Server
//! administrators only (`realms:manage:all` in the default realm); an
//! import that writes also needs a recent sign-in.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use portcullis_core::transfer::{
    Caller, ExportOptions, ImportOptions, ImportSummary, LineReader, LineReport, Outcome, ReadLine,
};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::extract::Params;
use crate::routes::realms::{fresh_server_admin, server_admin};
use crate::state::AppState;

/// Refused lines listed in an HTTP import's report at most (the summary
/// counts them all).
const MAX_REPORTED: usize = 10_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/realms/{realm}/export", get(realm_export))
        .route("/api/v1/realms/{realm}/import", post(realm_import))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Include TOTP factors (their seeds in clear).
    #[serde(default)]
    factors: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    /// Validate everything, write nothing.
    #[serde(default)]
    dry_run: bool,
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-request", e.body_text())
}

/// Export a realm as JSON Lines, streamed.
#[utoipa::path(get, path = "/api/v1/realms/{realm}/export", tag = "realms",
    security(("bearer" = [])),
    params(("realm" = String, Path, description = "The realm"),
           ("factors" = Option<bool>, Query, description = "Include TOTP factors with their seeds")),
    responses(
        (status = 200, description = "The realm, one record per line", content_type = "application/x-ndjson"),
        (status = 403, description = "Not a server administrator", body = portcullis_proto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_export(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    let admin = server_admin(&state, &headers).await?;
    let realm = params.text("realm")?.to_owned();
    let options = ExportOptions { factors: q.factors };
    // Fail before the 200 when the realm does not exist.
    state
        .core
        .transfer()
        .export(Caller::ServerAdmin(&admin), &realm, options)
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let transfer = state.core.transfer();
        let export = transfer
            .export(Caller::ServerAdmin(&admin), &realm, options)
            .await;
        let mut export = match export {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        };
        loop {
            let chunk = match export.next_chunk().await {
                Ok(Some(chunk)) => Ok(Bytes::from(chunk)),
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "export failed midway");
                    Err(std::io::Error::other("export failed"))
                }
            };
            let failed = chunk.is_err();
            // The client hung up, or the export failed: stop.
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Import JSON Lines into a realm.
#[utoipa::path(post, path = "/api/v1/realms/{realm}/import", tag = "realms",
    security(("bearer" = [])),
    params(("realm" = String, Path, description = "The realm"),
           ("dry_run" = Option<bool>, Query, description = "Validate everything, write nothing")),
    request_body(content_type = "application/x-ndjson", description = "A header line, then one record per line"),
    responses(
        (status = 200, description = "The refused lines (at most 10,000), then a summary line", content_type = "application/x-ndjson"),
        (status = 401, description = "A recent sign-in is needed", body = portcullis_proto::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a server administrator", body = portcullis_proto::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_import(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    let admin = match q.dry_run {
        true => server_admin(&state, &headers).await?,
        false => fresh_server_admin(&state, &headers).await?,
    };
    let realm = params.text("realm")?;
    let transfer = state.core.transfer();
    let options = ImportOptions { dry_run: q.dry_run };
    let mut importer = transfer
        .importer(Caller::ServerAdmin(&admin), realm, options)
        .await?;
    // The body flows through a small pipe: never more than a line and a
    // batch of it in memory.
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let pump = tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { return false };
            if writer.write_all(&chunk).await.is_err() {
                return true;
            }
        }
        true
    });
    let mut lines = LineReader::new(tokio::io::BufReader::new(reader));
    let mut refused = Vec::new();
    let mut keep = |reports: Vec<LineReport>| {
        for r in reports {
            if r.outcome == Outcome::Refused && refused.len() < MAX_REPORTED {
                refused.push(r);
            }
        }
    };
    loop {
        match lines.next().await {
            Ok(Some(ReadLine::Line(n, bytes))) => keep(importer.line(n, &bytes).await),
            Ok(Some(ReadLine::TooLong(n))) => keep(importer.too_long(n)),
            Ok(None) => break,
            Err(_) => break,
        }
    }
    keep(importer.finish().await);
    let complete = pump.await.unwrap_or(false);
    if !complete {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "the request body could not be read to its end",
        ));
    }
    Ok(report(&refused, importer.summary()))
}

fn report(refused: &[LineReport], summary: ImportSummary) -> Response {
    let mut out = Vec::new();
    for r in refused {
        if serde_json::to_writer(&mut out, r).is_ok() {
            out.push(b'\n');
        }
    }
    let summary = serde_json::json!({ "summary": summary });
    if serde_json::to_writer(&mut out, &summary).is_ok() {
        out.push(b'\n');
    }
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from(out),
    )
        .into_response()
}
