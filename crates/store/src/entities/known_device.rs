//! The `known_devices` table: the devices a user has signed in with.

use sea_orm::entity::prelude::*;

/// One device of a user.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "known_devices")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Device fingerprint.
    #[sea_orm(primary_key, auto_increment = false)]
    pub fingerprint: String,
    /// `Firefox on Linux (desktop)`.
    pub description: String,
    /// First sign-in, Unix microseconds.
    pub first_seen_at: i64,
    /// Last sign-in, Unix microseconds.
    pub last_seen_at: i64,
    /// IP network of the last sign-in.
    pub last_network: Option<String>,
    /// GeoIP country of the last sign-in.
    pub country: Option<String>,
    /// GeoIP latitude of the last sign-in.
    pub latitude: Option<f64>,
    /// GeoIP longitude of the last sign-in.
    pub longitude: Option<f64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
