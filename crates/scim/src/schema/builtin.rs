//! The RFC 7643 §8.7 schema definitions of User, Group and the Enterprise
//! User extension, and the common attributes of §3.1.

use super::{
    AttributeDef as A, AttributeType as T, Mutability as M, Returned as R, Schema, Uniqueness as U,
    schema_document_urn,
};
use crate::urn;

fn string(name: &str) -> A {
    A::new(name, T::String)
}

fn boolean(name: &str) -> A {
    A::new(name, T::Boolean)
}

fn reference(name: &str, types: &[&str]) -> A {
    A::new(name, T::Reference).refs(types)
}

fn complex(name: &str, subs: Vec<A>) -> A {
    A::new(name, T::Complex).subs(subs)
}

fn schema(id: &str, name: &str, description: &str, attributes: Vec<A>) -> Schema {
    Schema {
        schemas: vec![schema_document_urn()],
        id: id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        attributes,
        meta: None,
    }
}

/// The `value`/`display`/`type`/`primary` shape of the multi-valued
/// attributes of a User (emails, phoneNumbers, ims, photos, entitlements,
/// roles, x509Certificates).
fn multi(name: &str, description: &str, value: A, types: &[&str]) -> A {
    complex(
        name,
        vec![
            value,
            string("display")
                .describe("A human-readable name, primarily used for display purposes."),
            string("type")
                .canonical(types)
                .describe("A label indicating the attribute's function."),
            boolean("primary").describe("Whether this value is the primary or preferred one."),
        ],
    )
    .multi()
    .describe(description)
}

/// `id`, `externalId` and `meta` (RFC 7643 §3.1).
pub(super) fn common() -> Vec<A> {
    let read_only = |a: A| a.mutability(M::ReadOnly);
    vec![
        string("id")
            .case_exact()
            .mutability(M::ReadOnly)
            .returned(R::Always)
            .uniqueness(U::Server)
            .describe("Unique identifier of the resource, assigned by the service provider."),
        string("externalId")
            .case_exact()
            .describe("Identifier of the resource as defined by the provisioning client."),
        complex(
            "meta",
            vec![
                read_only(string("resourceType").case_exact()),
                read_only(A::new("created", T::DateTime)),
                read_only(A::new("lastModified", T::DateTime)),
                read_only(reference("location", &["uri"]).case_exact()),
                read_only(string("version").case_exact()),
            ],
        )
        .mutability(M::ReadOnly)
        .describe("Resource metadata."),
    ]
}

/// `urn:ietf:params:scim:schemas:core:2.0:User` (RFC 7643 §4.1, §8.7.1).
pub(super) fn user() -> Schema {
    let name = complex(
        "name",
        vec![
            string("formatted").describe("The full name, formatted for display."),
            string("familyName").describe("The family name, or last name."),
            string("givenName").describe("The given name, or first name."),
            string("middleName").describe("The middle name(s)."),
            string("honorificPrefix").describe("The honorific prefix(es), e.g. 'Ms.'."),
            string("honorificSuffix").describe("The honorific suffix(es), e.g. 'III'."),
        ],
    )
    .describe("The components of the user's real name.");
    let address = complex(
        "addresses",
        vec![
            string("formatted").describe("The full mailing address, formatted for display."),
            string("streetAddress").describe("The full street address."),
            string("locality").describe("The city or locality."),
            string("region").describe("The state or region."),
            string("postalCode").describe("The zip code or postal code."),
            string("country").describe("The country name, ISO 3166-1 alpha-2 code."),
            string("type")
                .canonical(&["work", "home", "other"])
                .describe("A label indicating the attribute's function."),
            boolean("primary").describe("Whether this is the primary address."),
        ],
    )
    .multi()
    .describe("A physical mailing address for this user.");
    let groups = complex(
        "groups",
        vec![
            string("value")
                .mutability(M::ReadOnly)
                .describe("The identifier of the group."),
            reference("$ref", &["User", "Group"])
                .mutability(M::ReadOnly)
                .describe("The URI of the group."),
            string("display")
                .mutability(M::ReadOnly)
                .describe("The group's display name."),
            string("type")
                .canonical(&["direct", "indirect"])
                .mutability(M::ReadOnly)
                .describe("Whether membership is direct or indirect."),
        ],
    )
    .multi()
    .mutability(M::ReadOnly)
    .describe("The groups the user belongs to, directly or indirectly.");
    schema(
        urn::USER,
        "User",
        "User Account",
        vec![
            string("userName")
                .required()
                .uniqueness(U::Server)
                .describe("Unique identifier for the user, used to authenticate."),
            name,
            string("displayName").describe("The name of the user, suitable for display."),
            string("nickName").describe("The casual way to address the user."),
            reference("profileUrl", &["external"]).describe("A URI to the user's online profile."),
            string("title").describe("The user's title, such as 'Vice President'."),
            string("userType").describe("The relationship between the organization and the user."),
            string("preferredLanguage").describe("The user's preferred language (RFC 7231)."),
            string("locale").describe("The user's default location (language tag)."),
            string("timezone").describe("The user's time zone (IANA name)."),
            boolean("active").describe("The user's administrative status."),
            string("password")
                .mutability(M::WriteOnly)
                .returned(R::Never)
                .describe("The user's cleartext password, to set or compare."),
            multi(
                "emails",
                "Email addresses for the user.",
                string("value").describe("Email address for the user."),
                &["work", "home", "other"],
            ),
            multi(
                "phoneNumbers",
                "Phone numbers for the user.",
                string("value").describe("Phone number of the user."),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            multi(
                "ims",
                "Instant messaging addresses for the user.",
                string("value").describe("Instant messaging address for the user."),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
            multi(
                "photos",
                "URLs of photos of the user.",
                reference("value", &["external"]).describe("URL of a photo of the user."),
                &["photo", "thumbnail"],
            ),
            address,
            groups,
            multi(
                "entitlements",
                "A list of entitlements for the user.",
                string("value").describe("The value of an entitlement."),
                &[],
            ),
            multi(
                "roles",
                "A list of roles for the user.",
                string("value").describe("The value of a role."),
                &[],
            ),
            multi(
                "x509Certificates",
                "A list of certificates issued to the user.",
                A::new("value", T::Binary).describe("The DER-encoded certificate, base64."),
                &[],
            ),
        ],
    )
}

/// `urn:ietf:params:scim:schemas:core:2.0:Group` (RFC 7643 §4.2, §8.7.1).
pub(super) fn group() -> Schema {
    schema(
        urn::GROUP,
        "Group",
        "Group",
        vec![
            string("displayName")
                .required()
                .uniqueness(U::Server)
                .describe("A human-readable name for the group."),
            complex(
                "members",
                vec![
                    string("value")
                        .mutability(M::Immutable)
                        .describe("Identifier of the member of this group."),
                    reference("$ref", &["User", "Group"])
                        .mutability(M::Immutable)
                        .describe("The URI of the member."),
                    string("display")
                        .mutability(M::ReadOnly)
                        .describe("The member's display name, set by the server."),
                    string("type")
                        .canonical(&["User", "Group"])
                        .mutability(M::Immutable)
                        .describe("The type of the member: User or Group."),
                ],
            )
            .multi()
            .describe("A list of members of the group."),
        ],
    )
}

/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`
/// (RFC 7643 §4.3).
pub(super) fn enterprise_user() -> Schema {
    schema(
        urn::ENTERPRISE_USER,
        "EnterpriseUser",
        "Enterprise User",
        vec![
            string("employeeNumber")
                .describe("Numeric or alphanumeric identifier assigned to a person."),
            string("costCenter").describe("Identifies the name of a cost center."),
            string("organization").describe("Identifies the name of an organization."),
            string("division").describe("Identifies the name of a division."),
            string("department").describe("Identifies the name of a department."),
            complex(
                "manager",
                vec![
                    string("value").describe("The id of the SCIM resource of the user's manager."),
                    reference("$ref", &["User"]).describe("The URI of the manager's resource."),
                    string("displayName")
                        .mutability(M::ReadOnly)
                        .describe("The displayName of the user's manager."),
                ],
            )
            .describe("The user's manager."),
        ],
    )
}
