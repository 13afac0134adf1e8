//! The `mail_templates` table: a realm's overrides of the default templates.

use sea_orm::entity::prelude::*;

/// One override.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_templates")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// Kind overridden.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// Subject template.
    pub subject: String,
    /// Text body template.
    pub text_body: String,
    /// HTML body template.
    pub html_body: String,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
