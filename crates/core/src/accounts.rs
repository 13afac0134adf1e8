//! Accounts: registration, login with lockout, refresh-token rotation with
//! reuse detection, logout, password change, sessions, token validation.

use std::sync::Arc;

use portcullis_crypto::{Verification, random_token, sha256};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::app::Inner;
use crate::device::describe_user_agent;
use crate::error::{Error, Result, StoreError};
use crate::mfa::{ChallengePurpose, FirstStep, MfaRequired};
use crate::model::{Email, Realm, RefreshToken, RotateOutcome, Session, User, new_id};
use crate::passwords::check_new_password;
use crate::realms::{ensure_enabled, parse_display_name};
use crate::throttle;
use crate::tokens::{ACCESS_TOKEN_TYP, AccessClaims, LEEWAY, Principal};

/// How many 25 ms steps [`Accounts::end_grant`] waits for a racing
/// redemption to store its session (2 s).
const GRANT_WAIT_STEPS: u32 = 80;

/// RFC 8176 `amr` value of a password.
pub const AMR_PASSWORD: &str = "pwd";

/// The answer to a right password of an account whose address a realm
/// requires verified first.
pub const EMAIL_NOT_VERIFIED: &str = "this account's email address is not verified: open the link sent to it, or reset the password to get a new one";

/// The answer to a login the realm's risk policy blocks.
pub const RISK_BLOCKED: &str = "this sign-in was blocked by the realm's risk policy; try again later or contact your administrator";
/// The answer to a refresh the risk checks refused; the session is ended.
pub const RISK_SESSION_ENDED: &str =
    "this session was ended because its use looked unusual; log in again";

/// The one answer to a failed login, whatever failed.
pub const INVALID_CREDENTIALS: &str = "invalid email or password";

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client IP.
    pub ip: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Accept-Language header.
    pub accept_language: Option<String>,
    /// The `portcullis_canary` cookie, if the client sent one.
    pub canary: Option<String>,
}

/// A registration.
#[derive(Debug)]
pub struct NewAccount {
    /// Email as typed.
    pub email: String,
    /// Password.
    pub password: SecretString,
    /// Display name.
    pub name: Option<String>,
}

/// Tokens issued by login and refresh.
#[derive(Debug)]
pub struct IssuedTokens {
    /// Signed access token.
    pub access_token: String,
    /// Opaque refresh token (shown once; only its digest is stored).
    pub refresh_token: SecretString,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// The user with its roles, on login (a refresh does not read the
    /// account again).
    pub user: Option<crate::users::ManagedUser>,
    /// On login: how the user authenticated (RFC 8176: `pwd`, `otp`,
    /// `mfa`). Empty on refresh, which does not read the session.
    pub amr: Vec<String>,
    /// On login: the session's canary, for the `portcullis_canary` cookie.
    pub canary: Option<SecretString>,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The login is complete.
    Tokens(Box<IssuedTokens>),
    /// The user has a second factor: complete with
    /// [`Accounts::complete_login`].
    MfaRequired(MfaRequired),
}

/// What a correct password on the login page leads to.
#[derive(Debug)]
pub enum BrowserLogin {
    /// A single sign-on session and its cookie secret.
    Session(Box<Session>, SecretString),
    /// The user has a second factor: complete with
    /// [`Accounts::complete_browser_login`].
    MfaRequired(MfaRequired),
}

/// Result of token validation: the claims of an active token, or nothing.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The realm's name.
    pub realm: String,
    /// Claims (shared with the verified-token cache).
    pub claims: Arc<AccessClaims>,
}

/// Why a presented access token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a JWT of this realm's keys, or tampered.
    Invalid,
    /// Issued by another realm.
    WrongRealm,
    /// Expired.
    Expired,
    /// Revoked (logout, session ended).
    Revoked,
    /// The realm is disabled.
    RealmDisabled,
}

/// Account service.
pub struct Accounts<'a> {
    i: &'a Inner,
}

pub(crate) fn parse_name(name: Option<&str>) -> Result<Option<String>, crate::FieldError> {
    name.map(|n| parse_display_name("name", n)).transpose()
}

impl<'a> Accounts<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// Registers a new account.
    pub async fn register(&self, realm: &Realm, new: NewAccount) -> Result<User> {
        ensure_enabled(realm)?;
        let mut errors = Vec::new();
        let email = Email::parse(&new.email).map_err(|e| errors.push(e)).ok();
        if let Some(email) = &email
            && let Err(e) =
                crate::mail::signup::check(email, realm.check_email_mx, self.i.mx.as_deref()).await
        {
            errors.push(e);
        }
        let name = parse_name(new.name.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        if let Err(e) = check_new_password(
            "password",
            new.password.expose_secret(),
            realm.password_min_length,
            email.as_ref(),
        ) {
            errors.push(e);
        }
        let (Some(email), Some(name), true) = (email, name, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let hash = self.i.passwords.hash(new.password).await?;
        let now = self.i.clock.now();
        let user = User {
            id: new_id(),
            realm_id: realm.id,
            email,
            name,
            password_hash: Some(hash),
            active: true,
            email_verified: false,
            attributes: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.i
            .store
            .create_user(&user)
            .await
            .map_err(conflict_email)?;
        crate::authz::Authz::new(self.i)
            .grant_default_role(realm.id, Some(user.id), user.id)
            .await?;
        // The account exists either way: a mail that cannot be queued now
        // can be asked for again (resend-verification, forgot-password).
        if let Err(e) = crate::recovery::send_verification(self.i, realm, &user).await {
            tracing::warn!(realm = %realm.name, user_id = %user.id, error = %e, "could not queue the verification mail");
        }
        Ok(user)
    }

    /// Logs in with email and password: tokens, or, for a user with a
    /// second factor, a challenge to complete with [`Self::complete_login`].
    pub async fn login(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome> {
        let (user, failures) = self.check_password(realm, email, password, meta).await?;
        let mfa = crate::mfa::Mfa::new(self.i);
        let step_up = self.assess_login(realm, &user, failures, meta).await?;
        if let Some(required) = mfa
            .challenge_for(
                realm,
                &user,
                ChallengePurpose::Api,
                FirstStep::Password,
                step_up,
            )
            .await?
        {
            count_login("mfa_required");
            return Ok(LoginOutcome::MfaRequired(required));
        }
        if failures > 0 {
            self.clear_failures(realm, &user).await?;
        }
        let amr = vec![AMR_PASSWORD.to_owned()];
        let tokens = self.start_session(realm, user, amr, meta).await?;
        count_login("success");
        Ok(LoginOutcome::Tokens(Box::new(tokens)))
    }

    /// Completes a login's second step: the tokens, with `amr` naming both
    /// steps.
    pub async fn complete_login(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        ensure_enabled(realm)?;
        let step = crate::mfa::Mfa::new(self.i)
            .complete(realm, mfa_token, method, code, ChallengePurpose::Api, meta)
            .await?;
        let tokens = self.start_session(realm, step.user, step.amr, meta).await?;
        count_login("success");
        Ok(tokens)
    }

    /// Logs in with email and password in a browser: starts a single
    /// sign-on session whose secret goes into a cookie (only its digest is
    /// stored), or, for a user with a second factor, a challenge to
    /// complete with [`Self::complete_browser_login`]. No tokens: clients
    /// get theirs through the authorization endpoint.
    pub async fn login_browser(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<BrowserLogin> {
        let (user, failures) = self.check_password(realm, email, password, meta).await?;
        let mfa = crate::mfa::Mfa::new(self.i);
        let step_up = self.assess_login(realm, &user, failures, meta).await?;
        if let Some(required) = mfa
            .challenge_for(
                realm,
                &user,
                ChallengePurpose::Browser,
                FirstStep::Password,
                step_up,
            )
            .await?
        {
            count_login("mfa_required");
            return Ok(BrowserLogin::MfaRequired(required));
        }
        if failures > 0 {
            self.clear_failures(realm, &user).await?;
        }
        let (session, secret) = self
            .start_browser_session(realm, &user, vec![AMR_PASSWORD.to_owned()], meta)
            .await?;
        Ok(BrowserLogin::Session(Box::new(session), secret))
    }

    /// Completes a browser login's second step: the single sign-on session.
    pub async fn complete_browser_login(
        &self,
        realm: &Realm,
        mfa_token: &str,
        method: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        ensure_enabled(realm)?;
        let step = crate::mfa::Mfa::new(self.i)
            .complete(
                realm,
                mfa_token,
                method,
                code,
                ChallengePurpose::Browser,
                meta,
            )
            .await?;
        self.start_browser_session(realm, &step.user, step.amr, meta)
            .await
    }

    /// A passwordless login with a passkey: the answer to a ceremony from
    /// [`crate::mfa::Mfa::start_passkey_login`]. The tokens, `amr` `hwk`
    /// and `mfa` (the passkey verified its user).
    pub async fn login_with_passkey(
        &self,
        realm: &Realm,
        ceremony_id: Uuid,
        credential: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        ensure_enabled(realm)?;
        let step = crate::mfa::Mfa::new(self.i)
            .finish_passkey_login(realm, ceremony_id, credential)
            .await?;
        let tokens = self.start_session(realm, step.user, step.amr, meta).await?;
        count_login("success");
        Ok(tokens)
    }

    /// A passwordless login with a passkey on the login page: the single
    /// sign-on session.
    pub async fn browser_login_with_passkey(
        &self,
        realm: &Realm,
        ceremony_id: Uuid,
        credential: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        ensure_enabled(realm)?;
        let step = crate::mfa::Mfa::new(self.i)
            .finish_passkey_login(realm, ceremony_id, credential)
            .await?;
        self.start_browser_session(realm, &step.user, step.amr, meta)
            .await
    }

    /// The risk checks of a login whose password was right: a blocked
    /// login is refused; whether the realm asks for a second factor.
    pub(crate) async fn assess_login(
        &self,
        realm: &Realm,
        user: &User,
        failures: usize,
        meta: &RequestMeta,
    ) -> Result<bool> {
        let risk = crate::risk::Risk::new(self.i);
        let (assessment, _) = risk
            .assess_login(realm, user, failures as u64, meta)
            .await?;
        match assessment.decision {
            crate::risk::Decision::Allow => Ok(false),
            crate::risk::Decision::StepUp => Ok(true),
            crate::risk::Decision::Block => {
                count_login("risk_blocked");
                Err(Error::Forbidden(RISK_BLOCKED))
            }
        }
    }

    pub(crate) async fn start_browser_session(
        &self,
        realm: &Realm,
        user: &User,
        amr: Vec<String>,
        meta: &RequestMeta,
    ) -> Result<(Session, SecretString)> {
        let secret = random_token();
        let mut session = self.new_session(realm, user.id, amr, meta);
        session.secret_hash = Some(sha256(secret.as_bytes()).to_vec());
        self.i.store.create_session(&session).await?;
        crate::risk::Risk::new(self.i)
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
        };
        self.i.store.create_session(&marker).await?;
        Ok(())
    }

    /// Issues the first refresh token of a client session.
    pub async fn issue_client_refresh_token(
        &self,
        session: &Session,
        scope: &str,
        ttl: Option<time::Duration>,
    ) -> Result<SecretString> {
        let now = self.i.clock.now();
        let token = random_token();
        let record = RefreshToken {
            id: new_id(),
            realm_id: session.realm_id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id: session.id,
            session_id: session.id,
            user_id: session.user_id,
            client_id: session.client_id.clone(),
            scope: Some(scope.to_owned()),
            created_at: now,
            expires_at: (now + ttl.unwrap_or(self.i.settings.refresh_token_ttl))
                .min(session.expires_at),
            used_at: None,
            revoked_at: None,
        };
        self.i.store.insert_refresh_token(&record).await?;
        Ok(SecretString::from(token))
    }

    /// Checks an email and password, with the realm's lockout and rate
    /// limits, and records the login on the account. Returns the user and
    /// whether the account has failed logins on record, which a completed
    /// login clears (not a password alone: a second factor's failures count
    /// against the account too).
    async fn check_password(
        &self,
        realm: &Realm,
        email: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<(User, usize)> {
        ensure_enabled(realm)?;
        let i = self.i;
        let now = i.clock.now();
        let limits = &i.settings.login;
        let email = Email::parse(email).map_err(Error::from)?;
        let acct_key = throttle::account_key(&email.canonical());
        let ip_key = meta.ip.as_deref().map(throttle::ip_key);
        if let Some(k) = &ip_key {
            throttle::check(
                &*i.store,
                limits,
                realm.id,
                k,
                limits.max_failures_per_ip,
                now,
            )
            .await
            .inspect_err(|_| count_login("rate_limited"))?;
        }
        let recent_failures = throttle::check_account(&*i.store, limits, realm.id, &acct_key, now)
            .await
            .inspect_err(|_| count_login("locked"))?;

        let user = i.store.get_user_by_email(realm.id, &email).await?;
        let verified = match user.as_ref().and_then(|u| u.password_hash.clone()) {
            Some(phc) => i.passwords.verify(password.clone(), phc).await?,
            None => {
                i.passwords.dummy_verify(password.clone()).await?;
                Verification::Invalid
            }
        };
        let (Some(mut user), Verification::Valid { needs_rehash }) = (user, verified) else {
            i.store
                .record_login_failure(realm.id, &acct_key, now)
                .await?;
            if let Some(k) = &ip_key {
                i.store.record_login_failure(realm.id, k, now).await?;
            }
            count_login("failure");
            return Err(Error::NotAuthenticated(INVALID_CREDENTIALS));
        };
        if !user.active {
            count_login("inactive");
            return Err(Error::Forbidden("this account is deactivated"));
        }
        if realm.require_verified_email && !user.email_verified {
            count_login("unverified");
            return Err(Error::Forbidden(EMAIL_NOT_VERIFIED));
        }
        if needs_rehash {
            user.password_hash = Some(i.passwords.hash(password).await?);
        }
        user.last_login_at = Some(now);
        user.updated_at = if needs_rehash { now } else { user.updated_at };
        i.store.update_user(&user).await?;
        Ok((user, recent_failures))
    }

    /// Forgets an account's failed logins once a login is complete.
    pub(crate) async fn clear_failures(&self, realm: &Realm, user: &User) -> Result<()> {
        let key = throttle::account_key(&user.email.canonical());
        self.i.store.clear_login_failures(realm.id, &key).await?;
        Ok(())
    }

    /// A new session of a user who just logged in (`amr`: how).
    fn new_session(
        &self,
        realm: &Realm,
        user_id: Uuid,
        amr: Vec<String>,
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
        }
    }

    pub(crate) async fn start_session(
        &self,
        realm: &Realm,
        user: User,
        amr: Vec<String>,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        let i = self.i;
        let session = self.new_session(realm, user.id, amr, meta);
        i.store.create_session(&session).await?;
        // A canary for browsers: a cookie a refresh from another browser
        // gets wrong (checked only when presented).
        let canary = random_token();
        crate::risk::Risk::new(i)
            .after_login(
                realm,
                &user,
                session.id,
                meta,
                Some(sha256(canary.as_bytes()).to_vec()),
            )
            .await?;
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

    fn new_refresh_token(
        &self,
        realm: &Realm,
        user: &User,
        session_id: Uuid,
        family_id: Uuid,
    ) -> (SecretString, RefreshToken) {
        let now = self.i.clock.now();
        let token = random_token();
        let record = RefreshToken {
            id: new_id(),
            realm_id: realm.id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id,
            session_id,
            user_id: user.id,
            client_id: None,
            scope: None,
            created_at: now,
            expires_at: now + self.i.settings.refresh_token_ttl,
            used_at: None,
            revoked_at: None,
        };
        (SecretString::from(token), record)
    }

    /// The roles a user holds now.
    async fn roles_of(&self, realm: &Realm, user_id: Uuid) -> Result<Vec<String>> {
        crate::authz::Authz::new(self.i)
            .role_names(realm.id, user_id)
            .await
    }

    /// Signs an access token; `roles` go into the `roles` claim when the
    /// realm wants it.
    async fn sign_access_token(
        &self,
        realm: &Realm,
        user_id: Uuid,
        sid: Uuid,
        roles: Option<&[String]>,
    ) -> Result<String> {
        let i = self.i;
        let now = i.clock.now();
        let iss = i.settings.issuer(&realm.name);
        let claims = AccessClaims {
            aud: iss.clone(),
            iss,
            sub: user_id.to_string(),
            exp: (now + i.settings.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: new_id(),
            sid: Some(sid),
            scope: None,
            roles: roles.filter(|_| realm.roles_claim).map(<[String]>::to_vec),
            client_id: None,
        };
        let key = i.keys.signer(realm).await?;
        Ok(key.sign(&claims, ACCESS_TOKEN_TYP)?)
    }

    /// Exchanges a refresh token for a new pair. A token presented twice revokes
    /// its whole family and session.
    pub async fn refresh(
        &self,
        realm: &Realm,
        presented: SecretString,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        let (spent, refresh_token) = self.rotate(realm, None, None, &presented, meta).await?;
        // No need to read the account: deactivating or deleting a user ends
        // its sessions, and a token of an ended session never rotates.
        // Roles are looked up only for a realm whose tokens carry them.
        let roles = match realm.roles_claim {
            true => Some(self.roles_of(realm, spent.user_id).await?),
            false => None,
        };
        let access_token = self
            .sign_access_token(realm, spent.user_id, spent.session_id, roles.as_deref())
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.i.settings.access_token_ttl.whole_seconds().max(0) as u64,
            user: None,
            amr: Vec::new(),
            canary: None,
        })
    }

    /// Spends a refresh token issued to `client_id` (`None`: the first-party
    /// API) and returns its record with its replacement, in the same family
    /// and session. A token presented twice revokes its whole family and
    /// session; another client's token is invalid and left untouched. The
    /// replacement lives `ttl` (default: the realm's refresh-token lifetime),
    /// and never beyond its session.
    pub async fn rotate(
        &self,
        realm: &Realm,
        client_id: Option<&str>,
        ttl: Option<time::Duration>,
        presented: &SecretString,
        meta: &RequestMeta,
    ) -> Result<(RefreshToken, SecretString)> {
        ensure_enabled(realm)?;
        let i = self.i;
        let now = i.clock.now();
        let presented_hash = sha256(presented.expose_secret().as_bytes());
        let token = random_token();
        let replacement = RefreshToken {
            id: new_id(),
            realm_id: realm.id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id: Uuid::nil(),
            session_id: Uuid::nil(),
            user_id: Uuid::nil(),
            client_id: None,
            scope: None,
            created_at: now,
            expires_at: now + ttl.unwrap_or(i.settings.refresh_token_ttl),
            used_at: None,
            revoked_at: None,
        };
        let outcome = i
            .store
            .rotate_refresh_token(
                realm.id,
                client_id,
                &presented_hash,
                &replacement,
                now,
                meta.ip.as_deref(),
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated(spent) => {
                let assessment = crate::risk::Risk::new(i)
                    .check_refresh(realm, spent.user_id, spent.session_id, meta)
                    .await?;
                if assessment.decision != crate::risk::Decision::Allow {
                    tracing::warn!(
                        realm = %realm.name,
                        session_id = %spent.session_id,
                        checks = ?assessment.names(),
                        "refresh refused by the risk checks: ending the session"
                    );
                    self.end_session(realm.id, spent.session_id).await?;
                    return Err(Error::NotAuthenticated(RISK_SESSION_ENDED));
                }
                Ok((spent, SecretString::from(token)))
            }
            RotateOutcome::Reused(spent) => {
                metrics::counter!("portcullis_refresh_token_reuse_total").increment(1);
                tracing::warn!(
                    realm = %realm.name,
                    user_id = %spent.user_id,
                    session_id = %spent.session_id,
                    client_id = spent.client_id.as_deref().unwrap_or(""),
                    "refresh token reused: revoking its family and session"
                );
                i.store
                    .revoke_refresh_family(realm.id, spent.family_id, now)
                    .await?;
                self.end_session(realm.id, spent.session_id).await?;
                Err(Error::NotAuthenticated("invalid refresh token"))
            }
            RotateOutcome::Invalid => Err(Error::NotAuthenticated("invalid refresh token")),
        }
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
        }
        Ok(!ended.is_empty())
    }

    pub(crate) fn deny_session(&self, sid: Uuid) {
        let until = self.i.clock.now() + self.i.settings.access_token_ttl + LEEWAY;
        self.i.denylist.deny_session(sid, until);
    }

    /// Verifies an access token presented to a realm's API.
    pub async fn verify_access_token(
        &self,
        realm: &Arc<Realm>,
        token: &str,
    ) -> Result<Arc<AccessClaims>, TokenRejection> {
        let i = self.i;
        let claims = match i.verified.get(realm.id, token) {
            Some(claims) => claims,
            None => {
                let header =
                    portcullis_crypto::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
                if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
                    return Err(TokenRejection::Invalid);
                }
                let kid = header.kid.ok_or(TokenRejection::Invalid)?;
                let key = i
                    .keys
                    .verifier(realm, &kid)
                    .await
                    .map_err(|_| TokenRejection::Invalid)?
                    .ok_or(TokenRejection::Invalid)?;
                let claims: Arc<AccessClaims> = Arc::new(
                    portcullis_crypto::verify(token, &key).map_err(|_| TokenRejection::Invalid)?,
                );
                i.verified.insert(
                    realm.id,
                    token,
                    claims.clone(),
                    i.clock.now().unix_timestamp(),
                );
                claims
            }
        };
        if !is_issuer_of(&claims.iss, &i.settings.public_url, realm.name.as_str()) {
            return Err(TokenRejection::WrongRealm);
        }
        let now = i.clock.now().unix_timestamp();
        if claims.exp <= now {
            return Err(TokenRejection::Expired);
        }
        if claims.iat > now + LEEWAY.whole_seconds() {
            return Err(TokenRejection::Invalid);
        }
        if i.denylist.is_denied(claims.jti, claims.sid) {
            return Err(TokenRejection::Revoked);
        }
        if !realm.enabled {
            return Err(TokenRejection::RealmDisabled);
        }
        Ok(claims)
    }

    /// Authenticates a bearer token for a realm's API.
    pub async fn authenticate(&self, realm: Arc<Realm>, token: &str) -> Result<Principal> {
        let claims = self.verify_access_token(&realm, token).await.map_err(|r| {
            Error::NotAuthenticated(match r {
                TokenRejection::Expired => "access token expired",
                TokenRejection::Revoked => "access token revoked",
                TokenRejection::WrongRealm => "access token issued by another realm",
                TokenRejection::RealmDisabled => "this realm is disabled",
                TokenRejection::Invalid => "invalid access token",
            })
        })?;
        // A token an OAuth client got for a user is for that client's
        // audience; one for this API names it (RFC 8707 `resource`). A
        // client acting as itself (its service account) may also use a token
        // for itself, but not one it got for another resource server.
        let for_us = claims.aud == claims.iss
            || (claims.is_client_own() && Some(&claims.aud) == claims.client_id.as_ref());
        if claims.client_id.is_some() && !for_us {
            return Err(Error::NotAuthenticated(
                "this access token is for another audience",
            ));
        }
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| Error::NotAuthenticated("invalid access token"))?;
        Ok(Principal {
            realm,
            user_id,
            session_id: claims.sid,
            claims,
        })
    }

    /// `validate`: the claims of an active token of this realm, or `None`.
    pub async fn validate(&self, realm: &Arc<Realm>, token: &str) -> Option<Validation> {
        let claims = self.verify_access_token(realm, token).await.ok()?;
        Some(Validation {
            realm: realm.name.to_string(),
            claims,
        })
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

    /// Revokes one access token at once (until it would have expired): on
    /// this instance now, on every instance through the stored denylist.
    pub async fn revoke_access_token(&self, realm_id: Uuid, claims: &AccessClaims) -> Result<()> {
        let exp = claims.expires_at();
        self.i.denylist.deny_token(claims.jti, exp);
        self.i
            .store
            .insert_revoked_token(realm_id, claims.jti, exp)
            .await?;
        Ok(())
    }

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

    /// Ends every session of a user (deactivation, deletion) and denies their tokens.
    pub(crate) async fn end_all_sessions(&self, realm_id: Uuid, user_id: Uuid) -> Result<()> {
        let ended = self
            .i
            .store
            .revoke_user_sessions(realm_id, user_id, None, self.i.clock.now())
            .await?;
        for sid in ended {
            self.deny_session(sid);
        }
        Ok(())
    }
}

fn count_login(result: &'static str) {
    metrics::counter!("portcullis_logins_total", "result" => result).increment(1);
}

pub(crate) fn conflict_email(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(_) => {
            Error::Conflict("an account with this email address already exists".into())
        }
        other => other.into(),
    }
}

/// Whether `iss` is `{public_url}/realms/{realm}`, without allocating.
fn is_issuer_of(iss: &str, public_url: &str, realm: &str) -> bool {
    iss.strip_prefix(public_url)
        .and_then(|rest| rest.strip_prefix("/realms/"))
        .is_some_and(|r| r == realm)
}

#[cfg(test)]
mod tests {
    use super::is_issuer_of;

    #[test]
    fn issuer_matching_is_exact() {
        let base = "https://id.example.com";
        assert!(is_issuer_of(
            "https://id.example.com/realms/main",
            base,
            "main"
        ));
        assert!(!is_issuer_of(
            "https://id.example.com/realms/main2",
            base,
            "main"
        ));
        assert!(!is_issuer_of(
            "https://id.example.com/realms/mai",
            base,
            "main"
        ));
        assert!(!is_issuer_of(
            "https://evil.example.com/realms/main",
            base,
            "main"
        ));
        assert!(!is_issuer_of(
            "https://id.example.com.evil/realms/main",
            base,
            "main"
        ));
        assert!(!is_issuer_of(
            "https://id.example.com/realms/main/x",
            base,
            "main"
        ));
    }
}
