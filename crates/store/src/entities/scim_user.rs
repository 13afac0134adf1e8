//! The `scim_users` table.

use sea_orm::entity::prelude::*;

/// What SCIM says about an account beyond the account itself.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_users")]
pub struct Model {
    /// Owning realm.
    pub realm_id: Uuid,
    /// The account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Enterprise User `employeeNumber`.
    pub employee_number: Option<String>,
    /// Enterprise User `department`.
    pub department: Option<String>,
    /// Enterprise User `manager.value`: an account of the same realm.
    pub manager_id: Option<Uuid>,
    /// Every other attribute: a JSON object as text.
    pub document: String,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
