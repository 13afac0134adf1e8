//! The `identity_documents` table.

use sea_orm::entity::prelude::*;

/// A submitted identity document; number and images sealed by core.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_documents")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// `passport`, `id_card`, ...
    pub doc_type: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The sealed number.
    pub number_sealed: Vec<u8>,
    /// `pending`, `verified`, `rejected`.
    pub status: String,
    /// The decision's reason.
    pub reason: Option<String>,
    /// `user:<id>` or `webhook`.
    pub decided_by: Option<String>,
    /// Unix microseconds.
    pub decided_at: Option<i64>,
    /// Media type of the first image.
    pub image1_type: Option<String>,
    /// The first image, sealed.
    pub image1: Option<Vec<u8>>,
    /// Media type of the second image.
    pub image2_type: Option<String>,
    /// The second image, sealed.
    pub image2: Option<Vec<u8>>,
    /// Images submitted.
    pub image_count: i32,
    /// Unix microseconds.
    pub images_deleted_at: Option<i64>,
    /// Unix microseconds.
    pub created_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
