//! Registration of a new account.

use secrecy::ExposeSecret;

use super::{Accounts, NewAccount};
use crate::error::{Error, Result, StoreError};
use crate::model::{Email, Realm, User, new_id};
use crate::passwords::check_new_password;
use crate::realms::{ensure_enabled, parse_display_name};

pub(crate) fn parse_name(name: Option<&str>) -> Result<Option<String>, crate::FieldError> {
    name.map(|n| parse_display_name("name", n)).transpose()
}

impl Accounts<'_> {
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
        self.authz()
            .grant_default_role(realm.id, Some(user.id), user.id)
            .await?;
        crate::orgs::domains::auto_join(self.i, &user).await;
        // The account exists either way: a mail that cannot be queued now
        // can be asked for again (resend-verification, forgot-password).
        if let Err(e) = crate::recovery::send_verification(self.i, realm, &user).await {
            tracing::warn!(realm = %realm.name, user_id = %user.id, error = %e, "could not queue the verification mail");
        }
        Ok(user)
    }
}

pub(crate) fn conflict_email(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(_) => {
            Error::Conflict("an account with this email address already exists".into())
        }
        other => other.into(),
    }
}
