//! An organization's dashboard: its members, how many signed in lately,
//! how many hold a second factor, invitations waiting, and the latest
//! security events of its members. For the realm's administrators and the
//! organization's own (delegated), not for plain members.

use time::Duration;

use super::Organizations;
use crate::access::{OrgAllowed, OrganizationsRead};
use crate::error::Result;
use crate::model::AuditRecord;

/// The window of "active" members: a sign-in within it.
pub const ACTIVE_WINDOW: Duration = Duration::days(30);
/// Most events the dashboard shows.
pub const RECENT_EVENTS: u64 = 20;

/// An organization's figures, as the store counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrgStats {
    /// Members.
    pub members: u64,
    /// Members who signed in within the window asked for.
    pub active: u64,
    /// Members with a confirmed second factor.
    pub with_mfa: u64,
}

/// An organization's dashboard.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The figures.
    pub stats: OrgStats,
    /// Invitations not accepted and not expired.
    pub pending_invitations: u64,
    /// The latest audit records of its members, newest first.
    pub recent_events: Vec<AuditRecord>,
}

impl Dashboard {
    /// Members with a second factor over members (0 without members).
    pub fn mfa_coverage(&self) -> f64 {
        if self.stats.members == 0 {
            return 0.0;
        }
        self.stats.with_mfa as f64 / self.stats.members as f64
    }
}

impl Organizations<'_> {
    /// The dashboard of the organization `admin` is allowed on.
    pub async fn dashboard(&self, admin: &OrgAllowed<OrganizationsRead>) -> Result<Dashboard> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let now = self.i.clock.now();
        let store = &self.i.store;
        let stats = store
            .organization_stats(realm_id, org.id, now - ACTIVE_WINDOW)
            .await?;
        let pending = store
            .list_invitations(realm_id, org.id)
            .await?
            .iter()
            .filter(|i| i.expires_at > now)
            .count();
        let recent_events = store
            .organization_member_audit(realm_id, org.id, RECENT_EVENTS)
            .await?;
        Ok(Dashboard {
            stats,
            pending_invitations: u64::try_from(pending).unwrap_or(u64::MAX),
            recent_events,
        })
    }
}
