//! Organizations' verified e-mail domains.
//!
//! An organization claims a domain; the claim answers with a DNS TXT
//! record to publish (`_portcullis-challenge.<domain>`, a random value).
//! The domain is verified when that record is found (the server looks it
//! up), or directly by an administrator holding the realm's permission
//! (`{"method": "admin"}`). A domain is verified by one organization of a
//! realm at most (409 for the others). A verified domain routes its
//! addresses to the organization (`GET /organizations?domain=`), and with
//! `auto_join` its users become members (with the domain's role) when
//! their address is verified. Changes are audited
//! (`organization.domain.add`, `.policy`, `.verify`, `.remove`,
//! `organization.member.auto_join`).

use portcullis_crypto::random_token;
use time::OffsetDateTime;

use super::{ADMIN, MEMBER, Membership, Organization, Organizations};
use crate::access::{Allowed, OrgAllowed, OrganizationsManage, OrganizationsRead};
use crate::app::Inner;
use crate::error::{Error, FieldError, Result, StoreError};
use crate::model::User;

/// The label under which the TXT record is published.
pub const CHALLENGE_LABEL: &str = "_portcullis-challenge";
/// The prefix of the TXT record's value.
pub const CHALLENGE_PREFIX: &str = "portcullis-domain-verification=";
/// Longest domain name, in characters (RFC 1035, without the root dot).
pub const MAX_DOMAIN: usize = 253;
/// Most domains of one organization.
pub const MAX_DOMAINS: usize = 100;

const PUBLIC_SUFFIXES: &str = include_str!("public_suffixes.txt");

/// An e-mail domain an organization claims.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgDomain {
    /// The realm.
    pub realm_id: uuid::Uuid,
    /// The organization.
    pub organization_id: uuid::Uuid,
    /// The domain: lower-case ASCII (IDNA).
    pub domain: String,
    /// The value the TXT record must hold.
    pub challenge: String,
    /// When it was verified.
    pub verified_at: Option<OffsetDateTime>,
    /// How: `dns` or `admin`.
    pub verified_by: Option<String>,
    /// Whether the domain's users join the organization when their address
    /// is verified.
    pub auto_join: bool,
    /// The role they get.
    pub join_role: String,
    /// When it was claimed.
    pub created_at: OffsetDateTime,
}

impl OrgDomain {
    /// The name of the TXT record that proves the domain.
    pub fn record_name(&self) -> String {
        format!("{CHALLENGE_LABEL}.{}", self.domain)
    }
}

/// How a domain is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyMethod {
    /// The server looks the TXT record up.
    Dns,
    /// An administrator with the realm's permission vouches for it.
    Admin,
}

impl VerifyMethod {
    /// `dns` or `admin`.
    pub fn parse(input: &str) -> std::result::Result<Self, FieldError> {
        match input {
            "dns" => Ok(Self::Dns),
            "admin" => Ok(Self::Admin),
            _ => Err(FieldError::new("method", "must be dns or admin")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Admin => "admin",
        }
    }
}

/// Validates a domain name: IDNA to lower-case ASCII, no wildcard, no
/// address, 2+ labels of 1-63 letters, digits and inner hyphens, at most
/// [`MAX_DOMAIN`] characters, not a public suffix (`com`, `co.uk`, ...).
pub fn parse_domain(field: &str, input: &str) -> std::result::Result<String, FieldError> {
    let bad = |reason: &str| FieldError::new(field, reason);
    let t = input.trim().trim_end_matches('.');
    if t.is_empty() {
        return Err(bad("must not be empty"));
    }
    if t.contains('*') {
        return Err(bad("must not be a wildcard"));
    }
    if t.chars().count() > MAX_DOMAIN {
        return Err(bad("must be at most 253 characters"));
    }
    let ascii = match url::Host::parse(t) {
        Ok(url::Host::Domain(d)) => d,
        Ok(_) => return Err(bad("must be a domain name, not an address")),
        Err(_) => return Err(bad("is not a valid domain name")),
    };
    if ascii.len() > MAX_DOMAIN {
        return Err(bad("must be at most 253 characters"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return Err(bad(
            "is not a valid domain name (labels of 1-63 letters, digits and inner hyphens)",
        ));
    }
    if labels.len() < 2 || is_public_suffix(&ascii) {
        return Err(bad(
            "is a public suffix: name a domain registered under it (example.com)",
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad("is not a valid domain name"));
    }
    Ok(ascii)
}

fn is_public_suffix(domain: &str) -> bool {
    PUBLIC_SUFFIXES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == domain)
}

/// The domain of an address, as [`parse_domain`] writes it.
pub(crate) fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    parse_domain("email", domain).ok()
}

impl Organizations<'_> {
    /// An organization's domains.
    pub async fn domains(&self, admin: &OrgAllowed<OrganizationsRead>) -> Result<Vec<OrgDomain>> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        Ok(self.i.store.list_org_domains(realm_id, org.id).await?)
    }

    /// Claims a domain for an organization, with its policy (`auto_join`
    /// off and role `member` by default): the domain, unverified, with the
    /// TXT record to publish. 409 when the organization claims it already
    /// or another organization of the realm verified it.
    pub async fn add_domain(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        domain: &str,
        auto_join: Option<bool>,
        role: Option<&str>,
    ) -> Result<OrgDomain> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let mut errors = Vec::new();
        let domain = parse_domain("domain", domain)
            .map_err(|e| errors.push(e))
            .ok();
        let role = match self.join_role(admin, role).await {
            Ok(r) => Some(r),
            Err(Error::Validation(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        let (Some(domain), Some(role), true) = (domain, role, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        if let Some(owner) = self.i.store.verified_org_domain(realm_id, &domain).await?
            && owner.organization_id != org.id
        {
            return Err(taken(&domain));
        }
        if self.i.store.list_org_domains(realm_id, org.id).await?.len() >= MAX_DOMAINS {
            return Err(Error::Conflict(format!(
                "an organization claims at most {MAX_DOMAINS} domains"
            )));
        }
        let d = OrgDomain {
            realm_id,
            organization_id: org.id,
            challenge: format!("{CHALLENGE_PREFIX}{}", random_token()),
            domain,
            verified_at: None,
            verified_by: None,
            auto_join: auto_join.unwrap_or(false),
            join_role: role,
            created_at: self.i.clock.now(),
        };
        match self.i.store.create_org_domain(&d).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(Error::Conflict(format!(
                    "the organization claims {} already",
                    d.domain
                )));
            }
            Err(StoreError::NotFound) => return Err(Error::NotFound("organization")),
            Err(e) => return Err(e.into()),
        }
        self.domain_audit(admin, "organization.domain.add", &org, &d)
            .await;
        Ok(d)
    }

    /// Changes a domain's policy (the fields given).
    pub async fn set_domain_policy(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        domain: &str,
        auto_join: Option<bool>,
        role: Option<&str>,
    ) -> Result<OrgDomain> {
        let realm_id = admin.realm().id;
        let (org, mut d) = self.claimed(realm_id, admin.key(), domain).await?;
        if let Some(role) = role {
            d.join_role = self.join_role(admin, Some(role)).await?;
        }
        if let Some(a) = auto_join {
            d.auto_join = a;
        }
        if !self
            .i
            .store
            .set_org_domain_policy(realm_id, org.id, &d.domain, d.auto_join, &d.join_role)
            .await?
        {
            return Err(Error::NotFound("domain"));
        }
        self.domain_audit(admin, "organization.domain.policy", &org, &d)
            .await;
        Ok(d)
    }

    /// Stops claiming a domain.
    pub async fn remove_domain(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        domain: &str,
    ) -> Result<()> {
        let realm_id = admin.realm().id;
        let (org, d) = self.claimed(realm_id, admin.key(), domain).await?;
        if !self
            .i
            .store
            .delete_org_domain(realm_id, org.id, &d.domain)
            .await?
        {
            return Err(Error::NotFound("domain"));
        }
        self.domain_audit(admin, "organization.domain.remove", &org, &d)
            .await;
        Ok(())
    }

    /// Verifies a domain: by its TXT record, or (`Admin`) on the word of a
    /// caller holding the realm's permission (a delegated administrator:
    /// 403). 422 when the record is not found, 503 when DNS cannot
    /// answer, 409 when another organization verified the domain.
    pub async fn verify_domain(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        domain: &str,
        method: VerifyMethod,
    ) -> Result<OrgDomain> {
        let realm_id = admin.realm().id;
        if method == VerifyMethod::Admin && admin.is_delegated() {
            return Err(Error::Forbidden(
                "verifying a domain without DNS needs the realm's organizations:manage:all",
            ));
        }
        let (org, mut d) = self.claimed(realm_id, admin.key(), domain).await?;
        if d.verified_at.is_some() {
            return Ok(d);
        }
        if method == VerifyMethod::Dns {
            self.check_record(&d).await?;
        }
        let now = self.i.clock.now();
        match self
            .i
            .store
            .verify_org_domain(realm_id, org.id, &d.domain, method.as_str(), now)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(Error::NotFound("domain")),
            Err(StoreError::Conflict(_)) => return Err(taken(&d.domain)),
            Err(e) => return Err(e.into()),
        }
        d.verified_at = Some(now);
        d.verified_by = Some(method.as_str().to_owned());
        self.domain_audit(admin, "organization.domain.verify", &org, &d)
            .await;
        Ok(d)
    }

    /// The organization whose verified domain `domain` is, if any: where
    /// addresses of that domain are routed.
    pub async fn by_domain(
        &self,
        admin: &Allowed<OrganizationsRead>,
        domain: &str,
    ) -> Result<Option<Organization>> {
        let realm_id = admin.realm().id;
        let domain = parse_domain("domain", domain).map_err(|e| Error::Validation(vec![e]))?;
        let Some(d) = self.i.store.verified_org_domain(realm_id, &domain).await? else {
            return Ok(None);
        };
        Ok(self
            .i
            .store
            .get_organization(realm_id, d.organization_id)
            .await?)
    }

    /// The TXT record of `d`, looked up: `Ok` when it holds the challenge.
    async fn check_record(&self, d: &OrgDomain) -> Result<()> {
        let Some(dns) = &self.i.dns else {
            return Err(Error::Unavailable);
        };
        let name = d.record_name();
        let records = match dns.txt(&name).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(domain = %d.domain, error = %e, "TXT look-up failed");
                return Err(Error::Unavailable);
            }
        };
        if records.iter().any(|r| r.trim() == d.challenge) {
            Ok(())
        } else {
            Err(Error::input(
                "domain",
                format!("no TXT record {name} holds the expected value yet"),
            ))
        }
    }

    /// The organization `key` and its claim of `domain`, or 404.
    async fn claimed(
        &self,
        realm_id: uuid::Uuid,
        key: &str,
        domain: &str,
    ) -> Result<(Organization, OrgDomain)> {
        let org = self.find(realm_id, key).await?;
        let domain = parse_domain("domain", domain).map_err(|_| Error::NotFound("domain"))?;
        let d = self
            .i
            .store
            .get_org_domain(realm_id, org.id, &domain)
            .await?
            .ok_or(Error::NotFound("domain"))?;
        Ok((org, d))
    }

    /// The role auto-joined users get: `member` by default; a delegated
    /// administrator gives `member` or `admin` only.
    async fn join_role(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        role: Option<&str>,
    ) -> Result<String> {
        let role = self
            .check_role(admin.realm().id, role.unwrap_or(MEMBER))
            .await?;
        if admin.is_delegated() && role != MEMBER && role != ADMIN {
            return Err(Error::field(
                "role",
                "an organization's administrators give the roles member and admin only",
            ));
        }
        Ok(role)
    }

    async fn domain_audit(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        action: &str,
        org: &Organization,
        d: &OrgDomain,
    ) {
        count(action);
        crate::audit::event(
            self.i,
            org.realm_id,
            admin.caller(),
            action,
            format!("organization:{}", org.id),
            serde_json::json!({
                "domain": d.domain,
                "verified_by": d.verified_by,
                "auto_join": d.auto_join,
                "role": d.join_role,
            }),
        )
        .await;
    }
}

fn taken(domain: &str) -> Error {
    Error::Conflict(format!(
        "{domain} is verified by another organization of this realm"
    ))
}

/// Counts an organization change.
pub(crate) fn count(action: &str) {
    metrics::counter!("portcullis_organization_changes_total", "action" => action.to_owned())
        .increment(1);
}

/// Makes `user` a member of the organization whose verified domain is its
/// address's, when that domain has `auto_join` and the address is verified
/// (a member already keeps its role). Called where an address becomes
/// verified or an account is created with one; failures are logged, never
/// fail the flow that called.
pub(crate) async fn auto_join(i: &Inner, user: &User) {
    if let Err(e) = try_auto_join(i, user).await {
        tracing::warn!(user_id = %user.id, error = %e, "organization auto-join failed");
    }
}

async fn try_auto_join(i: &Inner, user: &User) -> Result<()> {
    if !user.email_verified || !user.active {
        return Ok(());
    }
    let Some(domain) = email_domain(user.email.as_str()) else {
        return Ok(());
    };
    let realm_id = user.realm_id;
    let Some(d) = i.store.verified_org_domain(realm_id, &domain).await? else {
        return Ok(());
    };
    if !d.auto_join
        || i.store
            .get_membership(realm_id, d.organization_id, user.id)
            .await?
            .is_some()
    {
        return Ok(());
    }
    let membership = Membership {
        realm_id,
        organization_id: d.organization_id,
        user_id: user.id,
        role: d.join_role.clone(),
        created_at: i.clock.now(),
    };
    i.store.put_membership(&membership).await?;
    Organizations::new(i).changed(realm_id);
    count("organization.member.auto_join");
    crate::audit::event(
        i,
        realm_id,
        Some(user.id),
        "organization.member.auto_join",
        format!("organization:{}", d.organization_id),
        serde_json::json!({ "user": user.id, "role": d.join_role, "domain": d.domain }),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_normalised() {
        assert_eq!(parse_domain("d", " Example.COM. ").unwrap(), "example.com");
        assert_eq!(
            parse_domain("d", "bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(parse_domain("d", "a-b.co.uk").unwrap(), "a-b.co.uk");
        for bad in [
            "",
            "com",
            "co.uk",
            "github.io",
            "*.example.com",
            "192.0.2.1",
            "[::1]",
            "-a.example.com",
            "a..example.com",
            "exa mple.com",
            "a_b.example.com",
        ] {
            let e = parse_domain("domain", bad).unwrap_err();
            assert_eq!(e.field, "domain", "{bad}");
        }
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert!(parse_domain("d", &long).is_err());
        assert!(parse_domain("d", &format!("{}.com", "a".repeat(64))).is_err());
        assert_eq!(
            email_domain("ann@Example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(email_domain("nobody"), None);
        assert_eq!(VerifyMethod::parse("admin").unwrap(), VerifyMethod::Admin);
        assert!(VerifyMethod::parse("x").is_err());
    }
}
