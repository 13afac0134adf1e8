//! SeaORM entities, one module per table. Times are stored as `i64` Unix
//! microseconds (see [`crate::convert`]), UUIDs natively (PostgreSQL `uuid`,
//! SQLite 16-byte blob), digests and ciphertexts as bytes.

pub mod audit_event;
pub mod deleted_user;
pub mod email_token;
pub mod federation_attempt;
pub mod group;
pub mod group_member;
pub mod identity_provider;
pub mod known_device;
pub mod login_failure;
pub mod mail_outbox;
pub mod mail_template;
pub mod mfa_backup_code;
pub mod mfa_challenge;
pub mod mfa_factor;
pub mod oauth_client;
pub mod oauth_code;
pub mod oauth_consent;
pub mod organization;
pub mod organization_domain;
pub mod organization_invitation;
pub mod organization_member;
pub mod permission_definition;
pub mod permission_grant;
pub mod policy;
pub mod profile_schema;
pub mod rate_limit_policy;
pub mod realm;
pub mod refresh_token;
pub mod revoked_token;
pub mod risk_policy;
pub mod role;
pub mod role_grant;
pub mod role_include;
pub mod role_permission;
pub mod service_key;
pub mod session;
pub mod session_baseline;
pub mod signing_key;
pub mod social_account;
pub mod user;
pub mod user_avatar;
pub mod user_preference;
pub mod user_profile;
pub mod webauthn_ceremony;
