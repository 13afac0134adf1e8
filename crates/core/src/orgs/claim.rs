//! The `organization` claim of tokens and UserInfo, in Keycloak's shape:
//! an object keyed by organization name, each value holding the
//! organization's `id` (`{"globex": {"id": "0193..."}}`), released when
//! the client was granted the `organization` scope.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Organizations;
use crate::error::Result;

/// The scope that releases the claim.
pub const ORGANIZATION_SCOPE: &str = "organization";

impl Organizations<'_> {
    /// The `organization` claim of a user: its organizations by name.
    pub async fn claim(&self, realm_id: Uuid, user_id: Uuid) -> Result<Value> {
        let mut out = Map::new();
        for (org, _role) in self.memberships(realm_id, user_id).await? {
            out.insert(org.name, json!({ "id": org.id }));
        }
        Ok(Value::Object(out))
    }
}
