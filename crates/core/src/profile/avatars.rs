//! Avatars through the profile service: uploads sanitised
//! ([`super::sanitize_avatar`]) off the async workers, at most
//! [`MAX_CONCURRENT_DECODES`] at a time, stored in the database and served
//! at a stable public URL.

use std::sync::Arc;

use uuid::Uuid;

use super::model::StoredAvatar;
use super::{AvatarError, AvatarLimits, Profiles, sanitize_avatar};
use crate::error::Error;
use crate::model::Realm;
use crate::tokens::Principal;
use crate::users::RealmAdmin;

/// Uploads decoded at once, in the whole process; one more is answered
/// 429 (retry in a second) rather than queued with its body in memory.
pub const MAX_CONCURRENT_DECODES: usize = 2;

/// The decode permits of a process.
pub(crate) fn decode_permits() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_DECODES))
}

/// Why an upload failed: the image itself (each variant's status in
/// [`AvatarError`]'s documentation), or anything else.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The upload was refused.
    #[error(transparent)]
    Image(#[from] AvatarError),
    /// Not about the image (404, 401, 429, 503, ...).
    #[error(transparent)]
    Other(#[from] Error),
}

/// A stored avatar, as an upload's answer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarInfo {
    /// Its stable public URL.
    pub url: String,
    /// Its entity tag.
    pub etag: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the PNG.
    pub bytes: usize,
}

fn outcome(e: &AvatarError) -> &'static str {
    match e {
        AvatarError::TooLarge { .. } => "too_large",
        AvatarError::UnsupportedType { .. } => "unsupported_type",
        AvatarError::DimensionsTooLarge { .. } => "dimensions",
        AvatarError::Corrupt => "corrupt",
        AvatarError::Internal => "error",
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("portcullis_avatar_uploads_total", "outcome" => outcome).increment(1);
}

impl Profiles<'_> {
    /// Stores a user's avatar, as an administrator.
    pub async fn upload_avatar_as_admin<B>(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
        upload: B,
    ) -> Result<AvatarInfo, UploadError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        admin.writable()?;
        let user = self.user_of_realm(admin.realm_id(), user_id).await?;
        self.store_avatar(user.realm_id, user.id, admin.actor(), upload)
            .await
    }

    /// Stores the caller's own avatar.
    pub async fn upload_own_avatar<B>(
        &self,
        who: &Principal,
        upload: B,
    ) -> Result<AvatarInfo, UploadError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let user = self.me(who).await?;
        let actor = crate::audit::Actor::from(Some(user.id));
        self.store_avatar(user.realm_id, user.id, actor, upload)
            .await
    }

    /// Removes a user's avatar, as an administrator; 404 without one.
    pub async fn delete_avatar_as_admin(
        &self,
        admin: &RealmAdmin,
        user_id: Uuid,
    ) -> Result<(), Error> {
        admin.writable()?;
        let user = self.user_of_realm(admin.realm_id(), user_id).await?;
        self.remove_avatar(user.realm_id, user.id, admin.actor())
            .await
    }

    /// Removes the caller's own avatar; 404 without one.
    pub async fn delete_own_avatar(&self, who: &Principal) -> Result<(), Error> {
        let user = self.me(who).await?;
        self.remove_avatar(user.realm_id, user.id, Some(user.id).into())
            .await
    }

    /// The avatar of a user of `realm`, for anyone (it is public, like the
    /// `picture` claim that points to it).
    pub async fn public_avatar(
        &self,
        realm: &Realm,
        user_id: Uuid,
    ) -> Result<Option<StoredAvatar>, Error> {
        Ok(self.i.store.get_avatar(realm.id, user_id).await?)
    }

    async fn store_avatar<B>(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        actor: crate::audit::Actor,
        upload: B,
    ) -> Result<AvatarInfo, UploadError>
    where
        B: AsRef<[u8]> + Send + 'static,
    {
        let limits = AvatarLimits::default();
        // Refused by size before it waits for a permit or a thread.
        let size = upload.as_ref().len();
        if size > limits.max_bytes {
            count("too_large");
            return Err(AvatarError::TooLarge {
                size,
                max: limits.max_bytes,
            }
            .into());
        }
        let Ok(permit) = self.i.avatar_decodes.clone().try_acquire_owned() else {
            count("busy");
            return Err(Error::RateLimited { retry_after: 1 }.into());
        };
        let sanitised = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            sanitize_avatar(upload.as_ref(), &limits)
        })
        .await
        .map_err(|_| {
            count("error");
            UploadError::Image(AvatarError::Internal)
        })?;
        let avatar = sanitised.inspect_err(|e| count(outcome(e)))?;
        let stored = StoredAvatar {
            realm_id,
            user_id,
            sha256: avatar.sha256,
            png: avatar.bytes,
            updated_at: self.i.clock.now(),
        };
        self.i.store.put_avatar(&stored).await.map_err(|e| {
            count("error");
            match e {
                crate::StoreError::NotFound => Error::NotFound("user"),
                other => other.into(),
            }
        })?;
        count("stored");
        let realm = self
            .i
            .store
            .get_realm(realm_id)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotFound("realm"))?;
        let etag = stored.etag();
        crate::audit::event(
            self.i,
            realm_id,
            actor,
            "avatar.update",
            format!("user:{user_id}"),
            serde_json::json!({
                "etag": etag,
                "width": avatar.width,
                "height": avatar.height,
                "source_type": avatar.source_type.content_type(),
            }),
        )
        .await;
        Ok(AvatarInfo {
            url: self.avatar_url(&realm.name, user_id),
            etag,
            width: avatar.width,
            height: avatar.height,
            bytes: stored.png.len(),
        })
    }

    async fn remove_avatar(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        actor: crate::audit::Actor,
    ) -> Result<(), Error> {
        if !self.i.store.delete_avatar(realm_id, user_id).await? {
            return Err(Error::NotFound("avatar"));
        }
        crate::audit::event(
            self.i,
            realm_id,
            actor,
            "avatar.delete",
            format!("user:{user_id}"),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }
}
