//! The provider registry: list, read, create, replace and delete a realm's
//! identity providers, by alias. Reads need `identity-providers:read:all`,
//! changes `identity-providers:manage:all`. Secrets are write-only: sealed
//! with the master key (the provider's id as associated data) and never
//! returned; a replacement without one keeps the stored one.

use secrecy::{ExposeSecret as _, SecretString};

use super::{Federation, IdentityProvider, Mapper, ProviderConfig, ProviderKind, validate};
use crate::access::{Allowed, ProvidersManage, ProvidersRead};
use crate::error::{Error, FieldError, Result, StoreError};
use crate::model::new_id;

/// A provider as an administrator writes it (create, or replace by alias).
#[derive(Debug)]
pub struct NewProvider {
    /// The alias (ignored on replace: the path names it).
    pub alias: String,
    /// What it speaks.
    pub kind: ProviderKind,
    /// The button's label.
    pub display_name: Option<String>,
    /// Offered and usable.
    pub enabled: bool,
    /// Settings.
    pub config: ProviderConfig,
    /// The client secret (or Apple's PEM key); on replace, `None` keeps
    /// the stored one.
    pub client_secret: Option<SecretString>,
}

impl Federation<'_> {
    /// The realm's providers, by alias.
    pub async fn list(&self, admin: &Allowed<ProvidersRead>) -> Result<Vec<IdentityProvider>> {
        Ok(self.i.store.list_providers(admin.realm().id).await?)
    }

    /// One provider by alias.
    pub async fn get(
        &self,
        admin: &Allowed<ProvidersRead>,
        alias: &str,
    ) -> Result<IdentityProvider> {
        self.find(admin.realm().id, alias).await
    }

    async fn find(&self, realm_id: uuid::Uuid, alias: &str) -> Result<IdentityProvider> {
        if alias.len() > validate::MAX_ALIAS {
            return Err(Error::NotFound("identity provider"));
        }
        self.i
            .store
            .get_provider(realm_id, alias)
            .await?
            .ok_or(Error::NotFound("identity provider"))
    }

    /// Adds a provider.
    pub async fn create(
        &self,
        admin: &Allowed<ProvidersManage>,
        new: NewProvider,
    ) -> Result<IdentityProvider> {
        let realm_id = admin.realm().id;
        let mut errors = Vec::new();
        validate::alias(&mut errors, &new.alias);
        self.check(&mut errors, realm_id, &new, false).await?;
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.i.clock.now();
        let id = new_id();
        let provider = IdentityProvider {
            id,
            realm_id,
            alias: new.alias,
            kind: new.kind,
            display_name: new.display_name,
            enabled: new.enabled,
            config: new.config,
            secret: self.seal(id, new.client_secret.as_ref())?,
            created_at: now,
            updated_at: now,
        };
        self.i
            .store
            .create_provider(&provider)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Conflict(format!(
                    "the realm has an identity provider with the alias '{}' already",
                    provider.alias
                )),
                other => other.into(),
            })?;
        self.audit(admin, "identity_provider.create", &provider)
            .await;
        super::count("provider_created", provider.kind);
        Ok(provider)
    }

    /// Replaces a provider's settings (the alias stays); a missing secret
    /// keeps the stored one.
    pub async fn replace(
        &self,
        admin: &Allowed<ProvidersManage>,
        alias: &str,
        new: NewProvider,
    ) -> Result<IdentityProvider> {
        let old = self.find(admin.realm().id, alias).await?;
        let mut errors = Vec::new();
        let keeps_secret = old.secret.is_some() && new.kind == old.kind;
        self.check(&mut errors, old.realm_id, &new, keeps_secret)
            .await?;
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let secret = match &new.client_secret {
            Some(s) => self.seal(old.id, Some(s))?,
            None if new.config.client_auth.needs_secret() => old.secret.clone(),
            None => None,
        };
        let provider = IdentityProvider {
            kind: new.kind,
            display_name: new.display_name,
            enabled: new.enabled,
            config: new.config,
            secret,
            updated_at: self.i.clock.now(),
            ..old
        };
        self.i.store.update_provider(&provider).await?;
        self.audit(admin, "identity_provider.update", &provider)
            .await;
        Ok(provider)
    }

    /// Deletes a provider and every link to it: users who signed in only
    /// through it keep their accounts but need another way in.
    pub async fn delete(&self, admin: &Allowed<ProvidersManage>, alias: &str) -> Result<()> {
        let old = self.find(admin.realm().id, alias).await?;
        if !self.i.store.delete_provider(old.realm_id, alias).await? {
            return Err(Error::NotFound("identity provider"));
        }
        self.audit(admin, "identity_provider.delete", &old).await;
        Ok(())
    }

    /// Checks a provider's fields, and that the roles and groups its
    /// settings name exist.
    async fn check(
        &self,
        errors: &mut Vec<FieldError>,
        realm_id: uuid::Uuid,
        new: &NewProvider,
        stored_secret: bool,
    ) -> Result<()> {
        if let Some(name) = &new.display_name {
            validate::display_name(errors, name);
        }
        if let Some(secret) = &new.client_secret {
            validate::secret(errors, new.config.client_auth, secret.expose_secret());
        }
        let has_secret = new.client_secret.is_some() || stored_secret;
        validate::config(errors, new.kind, &new.config, has_secret);
        let view = self.authz().view(realm_id, None).await?;
        let roles = new
            .config
            .default_roles
            .iter()
            .map(|r| ("default_roles".to_owned(), r))
            .chain(
                new.config
                    .mappers
                    .iter()
                    .enumerate()
                    .filter_map(|(n, m)| match m {
                        Mapper::Role { role, .. } | Mapper::HardcodedRole { role } => {
                            Some((format!("mappers[{n}].role"), role))
                        }
                        _ => None,
                    }),
            );
        for (field, role) in roles {
            if view.compiled.role_id(role).is_none() {
                errors.push(FieldError::new(field, format!("no role named '{role}'")));
            }
        }
        for (n, m) in new.config.mappers.iter().enumerate() {
            if let Mapper::Group { group, .. } = m
                && view.compiled.group_id(group).is_none()
            {
                errors.push(FieldError::new(
                    format!("mappers[{n}].group"),
                    format!("no group named '{group}'"),
                ));
            }
        }
        Ok(())
    }

    fn seal(&self, id: uuid::Uuid, secret: Option<&SecretString>) -> Result<Option<Vec<u8>>> {
        secret
            .map(|s| {
                self.i
                    .master
                    .encrypt(s.expose_secret().as_bytes(), id.as_bytes())
                    .map_err(|_| Error::Internal("idp-seal"))
            })
            .transpose()
    }

    async fn audit<R: crate::access::Right>(
        &self,
        admin: &Allowed<R>,
        action: &str,
        p: &IdentityProvider,
    ) {
        let detail = serde_json::json!({
            "alias": p.alias,
            "kind": p.kind.as_str(),
            "enabled": p.enabled,
            "client_id": p.config.client_id,
        });
        crate::audit::event(
            self.i,
            p.realm_id,
            admin.caller(),
            action,
            format!("identity_provider:{}", p.id),
            detail,
        )
        .await;
    }
}
