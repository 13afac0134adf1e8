//! `POST /Bulk` (RFC 7644 §3.7): operations run one by one, in an order
//! that creates what later operations refer to (`bulkId:`) first; each
//! answers on its own, and `failOnErrors` stops the run.

use std::collections::HashMap;

use portcullis_scim::ScimError;
use portcullis_scim::bulk::{
    BulkLimits, BulkMethod, BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse,
    resolve_bulk_ids,
};
use serde_json::Value;

use super::{Scim, ScimFailure, ScimResource, ScimResult};
use crate::access::{Allowed, ScimProvision};

/// The bounds of a bulk request, as `ServiceProviderConfig` publishes them.
pub const LIMITS: BulkLimits = BulkLimits {
    max_operations: 1_000,
    max_payload_size: 1 << 20,
};

enum Kind {
    Users,
    Groups,
}

/// `/Users`, `/Users/{id}`, `/Groups`, `/Groups/{id}`.
fn route(path: &str) -> Option<(Kind, Option<&str>)> {
    let path = path.trim().trim_start_matches('/');
    let (kind, rest) = path
        .split_once('/')
        .map_or((path, None), |(k, r)| (k, Some(r)));
    let kind = match kind {
        "Users" => Kind::Users,
        "Groups" => Kind::Groups,
        _ => return None,
    };
    match rest {
        Some(id) if id.is_empty() || id.contains('/') => None,
        other => Some((kind, other)),
    }
}

impl Scim<'_> {
    /// Runs a bulk request.
    pub async fn bulk(
        &self,
        admin: &Allowed<ScimProvision>,
        body: &[u8],
    ) -> ScimResult<BulkResponse> {
        let request = BulkRequest::parse(body, &LIMITS)?;
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut answers: Vec<Option<BulkOperationResponse>> = vec![None; request.operations.len()];
        let mut errors = 0;
        for index in request.execution_order() {
            if request.should_stop(errors) {
                break;
            }
            let Some(op) = request.operations.get(index) else {
                continue;
            };
            let mut op = op.clone();
            let answer = match resolve_bulk_ids(&mut op, &ids) {
                Err(missing) => Err(ScimError::status(
                    409,
                    format!("bulkId `{missing}` names no resource created in this request"),
                )
                .into()),
                Ok(()) => self.run_one(admin, &op).await,
            };
            let response = match answer {
                Ok((status, resource)) => {
                    if let (Some(bulk_id), Some(r)) = (&op.bulk_id, &resource)
                        && let Some(id) = r.body.get("id").and_then(Value::as_str)
                    {
                        ids.insert(bulk_id.clone(), id.to_owned());
                    }
                    BulkOperationResponse {
                        method: op.method,
                        bulk_id: op.bulk_id.clone(),
                        version: resource.as_ref().map(|r| r.etag.clone()),
                        location: resource.as_ref().and_then(|r| {
                            r.body
                                .pointer("/meta/location")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        }),
                        status,
                        response: None,
                    }
                }
                Err(failure) => {
                    errors += 1;
                    BulkOperationResponse::error(&op, &scim_error(failure))
                }
            };
            if let Some(slot) = answers.get_mut(index) {
                *slot = Some(response);
            }
        }
        Ok(BulkResponse::new(answers.into_iter().flatten().collect()))
    }

    async fn run_one(
        &self,
        admin: &Allowed<ScimProvision>,
        op: &BulkOperation,
    ) -> ScimResult<(u16, Option<ScimResource>)> {
        let not_found = || ScimError::status(404, format!("no resource at `{}`", op.path));
        let (kind, id) = route(&op.path).ok_or_else(not_found)?;
        let data = op.data.clone().unwrap_or(Value::Null);
        let version = op.version.as_deref();
        match (op.method, kind, id) {
            (BulkMethod::Post, Kind::Users, None) => {
                Ok((201, Some(self.create_user(admin, data).await?)))
            }
            (BulkMethod::Post, Kind::Groups, None) => {
                Ok((201, Some(self.create_group(admin, data).await?)))
            }
            (BulkMethod::Put, Kind::Users, Some(id)) => Ok((
                200,
                Some(self.replace_user(admin, id, data, version).await?),
            )),
            (BulkMethod::Put, Kind::Groups, Some(id)) => Ok((
                200,
                Some(self.replace_group(admin, id, data, version).await?),
            )),
            (BulkMethod::Patch, Kind::Users, Some(id)) => {
                Ok((200, Some(self.patch_user(admin, id, &data, version).await?)))
            }
            (BulkMethod::Patch, Kind::Groups, Some(id)) => Ok((
                200,
                Some(self.patch_group(admin, id, &data, version).await?),
            )),
            (BulkMethod::Delete, Kind::Users, Some(id)) => {
                self.delete_user(admin, id, version).await?;
                Ok((204, None))
            }
            (BulkMethod::Delete, Kind::Groups, Some(id)) => {
                self.delete_group(admin, id, version).await?;
                Ok((204, None))
            }
            _ => Err(ScimError::status(
                405,
                format!("{:?} is not allowed on `{}`", op.method, op.path),
            )
            .into()),
        }
    }
}

/// A failure as a SCIM error: the server's own errors by their status.
pub fn scim_error(failure: ScimFailure) -> ScimError {
    match failure {
        ScimFailure::Scim(e) => e,
        ScimFailure::Core(e) => {
            let status = e.status_code();
            let detail = if status >= 500 {
                "internal error".to_owned()
            } else {
                e.to_string()
            };
            ScimError::status(status, detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_paths_route() {
        assert!(matches!(route("/Users"), Some((Kind::Users, None))));
        assert!(matches!(
            route("/Groups/abc"),
            Some((Kind::Groups, Some("abc")))
        ));
        assert!(route("/Users/a/b").is_none());
        assert!(route("/Schemas").is_none());
        assert!(route("/Users/").is_none());
    }
}
