//! Sessions: starting one at login (API or browser), the client sessions
//! of authorizations, and ending them.

use portcullis_crypto::{random_token, sha256};
use secrecy::SecretString;
use uuid::Uuid;

use super::{Accounts, IssuedTokens, RequestMeta, count_login};
use crate::device::describe_user_agent;
use crate::error::Result;
use crate::model::{Realm, Session, User, new_id};
use crate::tokens::{LEEWAY, Principal};

/// How many 25 ms steps [`Accounts::end_grant`] waits for a racing
/// redemption to store its session (2 s).
const GRANT_WAIT_STEPS: u32 = 80;

impl Accounts<'_> {
    /// A new session of a user who just logged in (`amr`: how).
    pub(super) fn new_session(
        &self,
        realm: &Realm,
        user_id: Uuid,
        amr: Vec<String>,
        idp: Option<String>,
        meta: &RequestMeta,
    ) -> Session {
        let i = self.i;
        let now = i.clock.now();
        let user_agent = meta
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(512).collect::<String>());
        Session {
            id: new_id(),
            realm_id: realm.id,
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at: now + i.settings.session_ttl,
            revoked_at: None,
            ip: meta.ip.clone(),
            device: user_agent.as_deref().and_then(describe_user_agent),
            user_agent,
            auth_time: now,
            amr,
            secret_hash: None,
            client_id: None,
            parent_id: None,
            idp,
        }
    }

    pub(crate) async fn start_session(
        &self,
        realm: &Realm,
        user: User,
        amr: Vec<String>,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        self.start_session_via(realm, user, amr, None, meta).await
    }

    /// An API session of a user who just signed in, `idp` naming the
    /// upstream provider when the sign-in came through one.
    pub(crate) async fn start_session_via(
        &self,
        realm: &Realm,
        user: User,
        amr: Vec<String>,
        idp: Option<String>,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        let i = self.i;
        let session = self.new_session(realm, user.id, amr, idp, meta);
        i.store.create_session(&session).await?;
        // A canary for browsers: a cookie a refresh from another browser
        // gets wrong (checked only when presented).
        let canary = random_token();
        self.risk()
            .after_login(
                realm,
                &user,
                session.id,
                meta,
                Some(sha256(canary.as_bytes()).to_vec()),
            )
            .await?;
        self.remember_session(session.id, user.id, session.expires_at, meta);
        let (refresh, record) = self.new_refresh_token(realm, &user, session.id, new_id());
        i.store.insert_refresh_token(&record).await?;
        // The login answer shows the roles whether or not the token carries them.
        let roles = self.roles_of(realm, user.id).await?;
        let access_token = self
            .sign_access_token(realm, user.id, session.id, Some(&roles))
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token: refresh,
            expires_in: i.settings.access_token_ttl.whole_seconds().max(0) as u64,
            user: Some(crate::users::ManagedUser { user, roles }),
            amr: session.amr,
            canary: Some(SecretString::from(canary)),
        })
    }

    pub(crate) async fn start_browser_session(
        &self,
        realm: &Realm,
        user: &User,
        amr: Vec<String>,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        self.start_browser_session_via(realm, user, amr, None, meta)
            .await
    }

    /// A browser session of a user who just signed in, `idp` naming the
    /// upstream provider when the sign-in came through one.
    pub(crate) async fn start_browser_session_via(
        &self,
        realm: &Realm,
        user: &User,
        amr: Vec<String>,
        idp: Option<String>,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        let secret = random_token();
        let mut session = self.new_session(realm, user.id, amr, idp, meta);
        session.secret_hash = Some(sha256(secret.as_bytes()).to_vec());
        self.i.store.create_session(&session).await?;
        self.risk()
            .after_login(realm, user, session.id, meta, None)
            .await?;
        count_login("success");
        Ok((session, SecretString::from(secret)))
    }

    /// The live browser session whose cookie holds `secret`, if any.
    pub async fn browser_session(&self, realm: &Realm, secret: &str) -> Result<Option<Session>> {
        if secret.is_empty() || secret.len() > 128 {
            return Ok(None);
        }
        let now = self.i.clock.now();
        let found = self
            .i
            .store
            .get_session_by_secret(realm.id, &sha256(secret.as_bytes()))
            .await?;
        Ok(found.filter(|s| s.revoked_at.is_none() && s.expires_at > now && s.client_id.is_none()))
    }

    /// Starts the client session of one authorization: the parent of the
    /// refresh tokens and the `sid` of the access tokens a client gets from
    /// one code. It lives as long as the client's refresh tokens may
    /// (`lifetime`), keeps its browser session's `auth_time` and `amr`, and
    /// ends with it.
    pub async fn start_client_session(
        &self,
        id: Uuid,
        browser: &Session,
        client_id: &str,
        lifetime: time::Duration,
    ) -> Result<Session> {
        let now = self.i.clock.now();
        let session = Session {
            id,
            created_at: now,
            last_used_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            secret_hash: None,
            client_id: Some(client_id.to_owned()),
            parent_id: Some(browser.id),
            ..browser.clone()
        };
        self.i.store.create_session(&session).await?;
        Ok(session)
    }

    /// Ends the client session `sid` of an authorization whose code was
    /// presented twice. A racing first redemption may not have stored it
    /// yet: wait for it a little (it follows the code's redemption within
    /// milliseconds), so the first redemption still succeeds and what it
    /// issued is revoked.
    pub async fn end_grant(&self, realm_id: Uuid, sid: Uuid) -> Result<()> {
        for _ in 0..GRANT_WAIT_STEPS {
            if self.end_session(realm_id, sid).await?
                || self.i.store.get_session(realm_id, sid).await?.is_some()
            {
                return Ok(());
            }
            crate::clock::wait(std::time::Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Stores the client session `sid` as already ended: for a spent code
    /// whose redemption failed, so a later presentation of it finds the
    /// grant ended at once instead of waiting for it.
    pub async fn block_grant(
        &self,
        realm_id: Uuid,
        sid: Uuid,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<()> {
        let now = self.i.clock.now();
        let marker = Session {
            id: sid,
            realm_id,
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at: now,
            revoked_at: Some(now),
            ip: None,
            user_agent: None,
            device: None,
            auth_time: now,
            amr: Vec::new(),
            secret_hash: None,
            client_id: Some(client_id.to_owned()),
            parent_id: None,
            idp: None,
        };
        self.i.store.create_session(&marker).await?;
        Ok(())
    }

    /// Ends a session and the client sessions under it: their refresh tokens
    /// stop working and their access tokens are denied at once. Returns
    /// whether the session was live.
    pub async fn end_session(&self, realm_id: Uuid, sid: Uuid) -> Result<bool> {
        let ended = self
            .i
            .store
            .revoke_session(realm_id, sid, self.i.clock.now())
            .await?;
        for id in &ended {
            self.deny_session(*id);
            self.i.sessions.remove(*id);
        }
        Ok(!ended.is_empty())
    }

    pub(crate) fn deny_session(&self, sid: Uuid) {
        let until = self.i.clock.now() + self.i.settings.access_token_ttl + LEEWAY;
        self.i.denylist.deny_session(sid, until);
        // Recorded by the caller already: the others read it now.
        self.i.announce(crate::notices::Notice::Revoked);
    }

    /// Ends every session of a user (deactivation, deletion) and denies their tokens.
    pub(crate) async fn end_all_sessions(&self, realm_id: Uuid, user_id: Uuid) -> Result<()> {
        let ended = self
            .i
            .store
            .revoke_user_sessions(realm_id, user_id, None, self.i.clock.now())
            .await?;
        for sid in ended {
            self.deny_session(sid);
            self.i.sessions.remove(sid);
        }
        Ok(())
    }

    /// Ends the caller's session: its refresh tokens stop working and its access
    /// token is rejected at once.
    pub async fn logout(&self, who: &Principal) -> Result<()> {
        self.revoke_access_token(who.realm.id, &who.claims).await?;
        if let Some(sid) = who.session_id {
            self.end_session(who.realm.id, sid).await?;
        }
        Ok(())
    }
}
