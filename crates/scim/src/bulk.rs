//! Bulk requests (RFC 7644 §3.7): the `BulkRequest` and `BulkResponse`
//! messages, their limits, `failOnErrors`, and `bulkId` references between
//! operations (`"value": "bulkId:qwerty"`, `"path": "/Groups/bulkId:qwerty"`).
//!
//! The server runs the operations in [`BulkRequest::execution_order`],
//! records each new resource's id under its `bulkId`, rewrites later
//! operations with [`resolve_bulk_ids`] and stops once
//! [`BulkRequest::should_stop`] says so.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::{ErrorResponse, ScimError};
use crate::urn;

/// Bounds on a bulk request, published in `ServiceProviderConfig.bulk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    /// Most operations in one request (default 1,000).
    pub max_operations: usize,
    /// Largest request body in bytes (default 1 MiB).
    pub max_payload_size: usize,
}

impl Default for BulkLimits {
    fn default() -> Self {
        Self {
            max_operations: 1000,
            max_payload_size: 1 << 20,
        }
    }
}

/// The HTTP method of a bulk operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BulkMethod {
    /// Create.
    Post,
    /// Replace.
    Put,
    /// Modify.
    Patch,
    /// Delete.
    Delete,
}

impl<'de> Deserialize<'de> for BulkMethod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_uppercase().as_str() {
            "POST" => Ok(Self::Post),
            "PUT" => Ok(Self::Put),
            "PATCH" => Ok(Self::Patch),
            "DELETE" => Ok(Self::Delete),
            _ => Err(serde::de::Error::custom(format!(
                "method `{s}` is not POST, PUT, PATCH or DELETE"
            ))),
        }
    }
}

/// One operation of a [`BulkRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// The method.
    pub method: BulkMethod,
    /// The client's name for the resource a POST creates, which later
    /// operations refer to as `bulkId:<bulkId>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The ETag the resource must have (`If-Match`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource path, relative to the SCIM base: `/Users`, `/Groups/{id}`.
    pub path: String,
    /// The body: a resource (POST, PUT) or a PatchOp (PATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// `["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]`.
    pub schemas: Vec<String>,
    /// Stop after this many errors; absent: run every operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    /// The operations, in the client's order.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperation>,
}

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResponse {
    /// The operation's method.
    pub method: BulkMethod,
    /// The operation's `bulkId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource's new ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The HTTP status, written as a string.
    #[serde(
        serialize_with = "crate::error::status_ser",
        deserialize_with = "crate::error::status_de"
    )]
    pub status: u16,
    /// The error body of a failed operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl BulkOperationResponse {
    /// The result of a failed operation.
    pub fn error(op: &BulkOperation, error: &ScimError) -> Self {
        Self {
            method: op.method,
            bulk_id: op.bulk_id.clone(),
            version: None,
            location: None,
            status: error.status,
            response: serde_json::to_value::<ErrorResponse>(error.to_response()).ok(),
        }
    }
}

/// A bulk response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// `["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]`.
    pub schemas: Vec<String>,
    /// The results, one per operation run.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperationResponse>,
}

impl BulkResponse {
    /// A response with these results.
    pub fn new(operations: Vec<BulkOperationResponse>) -> Self {
        Self {
            schemas: vec![urn::BULK_RESPONSE.to_owned()],
            operations,
        }
    }
}

const PREFIX: &str = "bulkId:";

impl BulkRequest {
    /// Parses and checks a request body: size (413), JSON shape and
    /// `schemas` (`invalidSyntax`), operation count (413), a `bulkId` on
    /// every POST and no `bulkId` twice (`invalidValue`), `data` on POST,
    /// PUT and PATCH (`invalidSyntax`).
    pub fn parse(body: &[u8], limits: &BulkLimits) -> Result<Self, ScimError> {
        if body.len() > limits.max_payload_size {
            return Err(ScimError::status(
                413,
                format!(
                    "the bulk request is {} bytes, more than maxPayloadSize ({})",
                    body.len(),
                    limits.max_payload_size
                ),
            ));
        }
        let request: BulkRequest = serde_json::from_slice(body)
            .map_err(|e| ScimError::invalid_syntax(format!("not a BulkRequest: {e}")))?;
        if !request
            .schemas
            .iter()
            .any(|s| s.eq_ignore_ascii_case(urn::BULK_REQUEST))
        {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{}\"]",
                urn::BULK_REQUEST
            )));
        }
        if request.operations.len() > limits.max_operations {
            return Err(ScimError::status(
                413,
                format!(
                    "the bulk request has {} operations, more than maxOperations ({})",
                    request.operations.len(),
                    limits.max_operations
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, op) in request.operations.iter().enumerate() {
            match &op.bulk_id {
                Some(id) if id.is_empty() => {
                    return Err(ScimError::invalid_value(format!(
                        "operation {i}: bulkId is empty"
                    )));
                }
                Some(id) if !seen.insert(id.as_str()) => {
                    return Err(ScimError::invalid_value(format!(
                        "operation {i}: bulkId `{id}` is used twice"
                    )));
                }
                None if op.method == BulkMethod::Post => {
                    return Err(ScimError::invalid_value(format!(
                        "operation {i}: a POST needs a bulkId"
                    )));
                }
                _ => {}
            }
            if op.method != BulkMethod::Delete && op.data.is_none() {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {i}: data is missing"
                )));
            }
        }
        Ok(request)
    }

    /// Whether to stop after `errors` failed operations (`failOnErrors`).
    pub fn should_stop(&self, errors: usize) -> bool {
        self.fail_on_errors
            .is_some_and(|max| max > 0 && errors >= max as usize)
    }

    /// The order to run the operations in: every operation after the POSTs
    /// whose `bulkId` it refers to, otherwise in the client's order.
    /// Operations that refer to an unknown `bulkId`, or that take part in a
    /// cycle, come last in the client's order; resolving them then fails
    /// ([`resolve_bulk_ids`]), and the server reports them as 409.
    pub fn execution_order(&self) -> Vec<usize> {
        let index: HashMap<&str, usize> = self
            .operations
            .iter()
            .enumerate()
            .filter_map(|(i, op)| op.bulk_id.as_deref().map(|id| (id, i)))
            .collect();
        let deps: Vec<Vec<Option<usize>>> = self
            .operations
            .iter()
            .map(|op| {
                op.references()
                    .iter()
                    .map(|r| index.get(r.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut done = vec![false; self.operations.len()];
        let mut order = Vec::with_capacity(self.operations.len());
        // Repeated passes: n is bounded by max_operations, n² is small.
        loop {
            let mut progressed = false;
            for (i, d) in deps.iter().enumerate() {
                let ready = !done.get(i).copied().unwrap_or(true)
                    && d.iter().all(|dep| {
                        dep.is_some_and(|j| j != i && done.get(j).copied().unwrap_or(false))
                    });
                if ready {
                    if let Some(slot) = done.get_mut(i) {
                        *slot = true;
                    }
                    order.push(i);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        order.extend((0..self.operations.len()).filter(|i| !done.get(*i).copied().unwrap_or(true)));
        order
    }
}

impl BulkOperation {
    /// The `bulkId`s this operation refers to, in its path and data.
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_refs(&self.path, &mut out);
        if let Some(data) = &self.data {
            let mut stack = vec![data];
            while let Some(v) = stack.pop() {
                match v {
                    Value::String(s) => collect_refs(s, &mut out),
                    Value::Array(items) => stack.extend(items),
                    Value::Object(map) => stack.extend(map.values()),
                    _ => {}
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// `bulkId:x` as a whole string, or as the last segment of a path.
fn collect_refs(s: &str, out: &mut Vec<String>) {
    let last = s.rsplit('/').next().unwrap_or(s);
    if let Some(id) = last.strip_prefix(PREFIX)
        && !id.is_empty()
    {
        out.push(id.to_owned());
    }
}

fn resolve_str(s: &mut String, ids: &HashMap<String, String>) -> Result<(), String> {
    let (head, last) = match s.rsplit_once('/') {
        Some((head, last)) => (Some(head), last),
        None => (None, s.as_str()),
    };
    let Some(bulk_id) = last.strip_prefix(PREFIX).filter(|id| !id.is_empty()) else {
        return Ok(());
    };
    let id = ids.get(bulk_id).ok_or_else(|| bulk_id.to_owned())?;
    *s = match head {
        Some(head) => format!("{head}/{id}"),
        None => id.clone(),
    };
    Ok(())
}

/// Replaces every `bulkId:x` reference in an operation's path and data by
/// the id created for `x`; `Err(x)` names the first `bulkId` that has no id
/// (unknown, failed, or not yet run), which the server reports as 409.
pub fn resolve_bulk_ids(
    op: &mut BulkOperation,
    ids: &HashMap<String, String>,
) -> Result<(), String> {
    resolve_str(&mut op.path, ids)?;
    if let Some(data) = &mut op.data {
        let mut stack = vec![data];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => resolve_str(s, ids)?,
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => stack.extend(map.values_mut()),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
