//! What admins do with the edge: list the callers blocked in their realm
//! and lift a block (`security:read:all` / `security:manage:all`), read a
//! realm's rate-limit policy, set it, or go back to the server's default.

use std::sync::Arc;

use super::{Block, Edge, RateLimitPolicy};
use crate::access::{Allowed, SecurityManage, SecurityRead};
use crate::error::{Error, Result};

/// A realm's policy and whether it is the server's default.
#[derive(Debug, Clone)]
pub struct PolicyInForce {
    /// The policy.
    pub policy: Arc<RateLimitPolicy>,
    /// True when the realm has none of its own.
    pub is_default: bool,
}

impl Edge<'_> {
    /// The callers blocked in the admin's realm now, newest first.
    pub async fn blocks(&self, admin: &Allowed<SecurityRead>) -> Vec<Block> {
        let now = self.i.clock.now();
        self.i.edge.state.blocks(admin.realm().id, now).await
    }

    /// Lifts a block of the admin's realm; its strikes start again from zero.
    pub async fn lift_block(
        &self,
        admin: &Allowed<SecurityManage>,
        id: uuid::Uuid,
    ) -> Result<Block> {
        let realm_id = admin.realm().id;
        let block = self
            .i
            .edge
            .state
            .lift(realm_id, id)
            .await
            .ok_or(Error::NotFound("block"))?;
        metrics::counter!("portcullis_blocks_lifted_total").increment(1);
        self.i.announce(crate::notices::Notice::Blocks { realm_id });
        crate::audit::event(
            self.i,
            realm_id,
            admin.caller(),
            "edge.block.lift",
            format!("block:{}", block.id),
            serde_json::to_value(&block).unwrap_or_default(),
        )
        .await;
        Ok(block)
    }

    /// The policy in force in the admin's realm.
    pub async fn rate_limit_policy(&self, admin: &Allowed<SecurityRead>) -> Result<PolicyInForce> {
        let realm_id = admin.realm().id;
        let own = self.i.store.get_rate_limit_policy(realm_id).await?;
        Ok(match own {
            Some(p) => PolicyInForce {
                policy: Arc::new(p),
                is_default: false,
            },
            None => PolicyInForce {
                policy: Arc::new(self.i.settings.rate_limits.clone()),
                is_default: true,
            },
        })
    }

    /// Sets the admin's realm's policy, after checking every field.
    pub async fn set_rate_limit_policy(
        &self,
        admin: &Allowed<SecurityManage>,
        policy: RateLimitPolicy,
    ) -> Result<PolicyInForce> {
        policy.validate()?;
        let realm_id = admin.realm().id;
        let now = self.i.clock.now();
        self.i
            .store
            .put_rate_limit_policy(realm_id, &policy, now)
            .await?;
        self.i.edge.forget_policy(realm_id);
        self.i
            .announce(crate::notices::Notice::RateLimits { realm_id });
        crate::audit::event(
            self.i,
            realm_id,
            admin.caller(),
            "edge.rate_limits.update",
            format!("realm:{realm_id}"),
            serde_json::to_value(&policy).unwrap_or_default(),
        )
        .await;
        Ok(PolicyInForce {
            policy: Arc::new(policy),
            is_default: false,
        })
    }

    /// Drops the realm's own policy: the server's default applies again.
    pub async fn reset_rate_limit_policy(
        &self,
        admin: &Allowed<SecurityManage>,
    ) -> Result<PolicyInForce> {
        let realm_id = admin.realm().id;
        self.i.store.delete_rate_limit_policy(realm_id).await?;
        self.i.edge.forget_policy(realm_id);
        self.i
            .announce(crate::notices::Notice::RateLimits { realm_id });
        crate::audit::event(
            self.i,
            realm_id,
            admin.caller(),
            "edge.rate_limits.reset",
            format!("realm:{realm_id}"),
            serde_json::Value::Null,
        )
        .await;
        Ok(PolicyInForce {
            policy: Arc::new(self.i.settings.rate_limits.clone()),
            is_default: true,
        })
    }
}
