//! What a signed-in user does with their own account: read it, change the
//! password, list and end their sessions, list and withdraw consents.

use portcullis_crypto::Verification;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::Accounts;
use crate::error::{Error, Result};
use crate::model::{Session, User};
use crate::passwords::check_new_password;
use crate::throttle;
use crate::tokens::Principal;

impl Accounts<'_> {
    /// The caller's account.
    pub async fn me(&self, who: &Principal) -> Result<User> {
        self.i
            .store
            .get_user(who.realm.id, who.user_id)
            .await?
            .ok_or(Error::NotAuthenticated("account no longer exists"))
    }

    /// Changes the caller's password and ends every other session.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: SecretString,
        new: SecretString,
    ) -> Result<()> {
        // Sensitive: the session's authentication must be fresh, whatever
        // the current password says.
        crate::access::Access::new(self.i).fresh(who).await?;
        let i = self.i;
        let now = i.clock.now();
        let mut user = self.me(who).await?;
        let acct_key = throttle::account_key(&user.email.canonical());
        let limits = &i.settings.login;
        throttle::check_account(&*i.store, limits, who.realm.id, &acct_key, now).await?;
        let ok = match user.password_hash.clone() {
            Some(phc) => matches!(
                i.passwords.verify(current, phc).await?,
                Verification::Valid { .. }
            ),
            None => false,
        };
        if !ok {
            i.store
                .record_login_failure(who.realm.id, &acct_key, now)
                .await?;
            return Err(Error::field("current_password", "is incorrect"));
        }
        check_new_password(
            "new_password",
            new.expose_secret(),
            who.realm.password_min_length,
            Some(&user.email),
        )?;
        user.password_hash = Some(i.passwords.hash(new).await?);
        user.updated_at = now;
        i.store.update_user(&user).await?;
        let ended = i
            .store
            .revoke_user_sessions(who.realm.id, user.id, who.session_id, now)
            .await?;
        for sid in ended {
            self.deny_session(sid);
        }
        Ok(())
    }

    /// The caller's active sessions, newest first, with the current one flagged.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<(Session, bool)>> {
        let now = self.i.clock.now();
        let sessions = self
            .i
            .store
            .list_active_sessions(who.realm.id, who.user_id, now)
            .await?;
        Ok(sessions
            .into_iter()
            .map(|s| {
                let current = Some(s.id) == who.session_id;
                (s, current)
            })
            .collect())
    }

    /// The consents the caller gave clients.
    pub async fn consents(&self, who: &Principal) -> Result<Vec<crate::model::Consent>> {
        Ok(self
            .i
            .store
            .list_consents(who.realm.id, who.user_id)
            .await?)
    }

    /// Withdraws the caller's consent to a client and ends the client's
    /// sessions of the caller (their refresh and access tokens).
    pub async fn revoke_consent(&self, who: &Principal, client_id: &str) -> Result<()> {
        let i = self.i;
        if !i
            .store
            .delete_consent(who.realm.id, who.user_id, client_id)
            .await?
        {
            return Err(Error::NotFound("consent"));
        }
        let now = i.clock.now();
        let sessions = i
            .store
            .list_active_sessions(who.realm.id, who.user_id, now)
            .await?;
        for s in sessions
            .iter()
            .filter(|s| s.client_id.as_deref() == Some(client_id))
        {
            self.end_session(who.realm.id, s.id).await?;
        }
        Ok(())
    }

    /// Ends one of the caller's sessions.
    pub async fn revoke_session(&self, who: &Principal, id: Uuid) -> Result<()> {
        let i = self.i;
        let session = i
            .store
            .get_session(who.realm.id, id)
            .await?
            .filter(|s| s.user_id == who.user_id && s.revoked_at.is_none())
            .ok_or(Error::NotFound("session"))?;
        self.end_session(who.realm.id, session.id).await?;
        Ok(())
    }
}
