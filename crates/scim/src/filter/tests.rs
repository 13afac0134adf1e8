#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;

use super::*;
use crate::schema::ResourceSchema;

fn p(s: &str) -> Filter {
    Filter::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> FilterError {
    Filter::parse(s).expect_err(s)
}

fn attr(name: &str) -> AttrPath {
    AttrPath::new(name)
}

fn eq(name: &str, v: &str) -> Filter {
    Filter::compare(attr(name), CompareOp::Eq, v)
}

fn pr(name: &str) -> Filter {
    Filter::Present(attr(name))
}

#[test]
fn every_operator_case_insensitive() {
    for op in CompareOp::ALL {
        let upper = op.as_str().to_uppercase();
        let f = p(&format!("title {upper} \"x\""));
        assert_eq!(f, Filter::compare(attr("title"), op, "x"));
    }
    assert_eq!(p("title PR"), pr("title"));
    assert_eq!(p("title pr"), pr("title"));
}

#[test]
fn rfc_examples_parse() {
    for s in [
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ] {
        let f = p(s);
        // Printing and parsing back gives the same tree.
        assert_eq!(p(&f.to_string()), f, "{s}");
    }
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        p("a pr or b pr and c pr"),
        Filter::or(pr("a"), Filter::and(pr("b"), pr("c")))
    );
    assert_eq!(
        p("a pr and b pr or c pr"),
        Filter::or(Filter::and(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        p("(a pr or b pr) and c pr"),
        Filter::and(Filter::or(pr("a"), pr("b")), pr("c"))
    );
    // Left associative.
    assert_eq!(
        p("a pr or b pr or c pr"),
        Filter::or(Filter::or(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        p("a pr AND b pr OR NOT (c pr)"),
        Filter::or(Filter::and(pr("a"), pr("b")), Filter::not(pr("c")))
    );
}

#[test]
fn printing_keeps_the_shape() {
    let right_or = Filter::or(pr("a"), Filter::or(pr("b"), pr("c")));
    assert_eq!(right_or.to_string(), "a pr or (b pr or c pr)");
    let and_of_or = Filter::and(Filter::or(pr("a"), pr("b")), pr("c"));
    assert_eq!(and_of_or.to_string(), "(a pr or b pr) and c pr");
    let right_and = Filter::and(pr("a"), Filter::and(pr("b"), pr("c")));
    assert_eq!(right_and.to_string(), "a pr and (b pr and c pr)");
    for f in [right_or, and_of_or, right_and] {
        assert_eq!(p(&f.to_string()), f);
    }
}

#[test]
fn not_with_and_without_space() {
    assert_eq!(p("not(title pr)"), Filter::not(pr("title")));
    assert_eq!(p("NOT (title pr)"), Filter::not(pr("title")));
    assert_eq!(p("not  (title pr)"), Filter::not(pr("title")));
    // An attribute called `not`.
    assert_eq!(p(r#"not eq "x""#), eq("not", "x"));
}

#[test]
fn attribute_paths_with_urns_and_sub_attributes() {
    let f =
        p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "42""#);
    assert_eq!(
        f,
        Filter::compare(
            AttrPath::with_urn(crate::urn::ENTERPRISE_USER, "employeeNumber", None),
            CompareOp::Eq,
            "42"
        )
    );
    let f = p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#);
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(path.urn.as_deref(), Some(crate::urn::ENTERPRISE_USER));
    assert_eq!(
        (path.name.as_str(), path.sub.as_deref()),
        ("manager", Some("value"))
    );
    assert_eq!(
        p(r#"name.familyName eq "x""#),
        Filter::compare(AttrPath::with_sub("name", "familyName"), CompareOp::Eq, "x")
    );
    assert_eq!(
        p("members.$ref pr"),
        Filter::Present(AttrPath::with_sub("members", "$ref"))
    );
}

#[test]
fn value_paths() {
    let f = p(r#"emails[type eq "work" and value co "@example.com"]"#);
    assert_eq!(
        f,
        Filter::ValuePath {
            path: attr("emails"),
            filter: Box::new(Filter::and(
                eq("type", "work"),
                Filter::compare(attr("value"), CompareOp::Co, "@example.com")
            )),
        }
    );
    let f = p(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#);
    assert!(matches!(f, Filter::ValuePath { .. }));
    assert_eq!(
        p(r#"emails[not(type eq "home")]"#).to_string(),
        r#"emails[not (type eq "home")]"#
    );
}

#[test]
fn literals() {
    let v = |s: &str| match p(&format!("x eq {s}")) {
        Filter::Compare { value, .. } => value,
        _ => panic!(),
    };
    assert_eq!(
        v(r#""a\"b\\c\u00e9\n""#),
        CompValue::String("a\"b\\cé\n".into())
    );
    assert_eq!(v(r#""\ud83d\ude00""#), CompValue::String("😀".into()));
    assert_eq!(v("42"), CompValue::Number(42.into()));
    assert_eq!(v("-7"), CompValue::Number((-7).into()));
    assert_eq!(
        v("1.5e3"),
        CompValue::Number(serde_json::Number::from_f64(1500.0).unwrap())
    );
    assert_eq!(v("true"), CompValue::Bool(true));
    assert_eq!(v("FALSE"), CompValue::Bool(false));
    assert_eq!(v("Null"), CompValue::Null);
    assert_eq!(v(r#""""#), CompValue::String(String::new()));
}

#[test]
fn white_space_is_lenient_where_unambiguous() {
    assert_eq!(p(r#"  userName   eq   "x"  "#), eq("userName", "x"));
    assert_eq!(p("userName\teq\t\"x\""), eq("userName", "x"));
    assert_eq!(p(r#"userName eq"x""#), eq("userName", "x"));
    assert_eq!(p(r#"(a pr)and(b pr)"#), Filter::and(pr("a"), pr("b")));
}

#[test]
fn errors_say_what_and_where() {
    let e = err(r#"userName eqq "x""#);
    assert_eq!(e.kind, FilterErrorKind::UnknownOperator("eqq".into()));
    assert_eq!((e.offset, e.column), (9, 10));
    assert_eq!(
        e.to_string(),
        "unknown operator `eqq`: expected eq, ne, co, sw, ew, gt, ge, lt, le or pr (at character 10)"
    );
    assert_eq!(e.scim_type(), crate::ScimType::InvalidFilter);

    let e = err(r#"userName eq "x" and"#);
    assert!(
        matches!(e.kind, FilterErrorKind::Unexpected { ref found, .. } if found == "the end of the filter")
    );
    assert_eq!(e.offset, 19);

    let e = err(r#"userName eq 'x'"#);
    assert!(
        matches!(e.kind, FilterErrorKind::Unexpected { expected, .. } if expected.starts_with("a value"))
    );
    assert_eq!(e.offset, 12);

    let e = err(r#"userName eq "x"#);
    assert!(matches!(e.kind, FilterErrorKind::InvalidValue(_)));
    assert_eq!(e.offset, 12);

    let e = err("userName");
    assert!(
        matches!(e.kind, FilterErrorKind::Unexpected { expected, .. } if expected.starts_with("an operator"))
    );

    let e = err(r#"(userName eq "x""#);
    assert!(e.to_string().contains("`)`"), "{e}");

    let e = err(r#"userName eq "x")"#);
    assert!(e.to_string().contains("closes nothing"), "{e}");

    assert_eq!(err("   ").kind, FilterErrorKind::Empty);
    assert!(matches!(
        err("a.b.c pr").kind,
        FilterErrorKind::InvalidAttrPath { .. }
    ));
    assert!(matches!(
        err("1abc pr").kind,
        FilterErrorKind::Unexpected { .. }
    ));
    assert!(matches!(
        err("x eq 01").kind,
        FilterErrorKind::InvalidValue(_)
    ));
    assert!(matches!(
        err("x eq 1e400").kind,
        FilterErrorKind::InvalidValue(_)
    ));
    assert!(matches!(
        err("x eq 12abc").kind,
        FilterErrorKind::InvalidValue(_)
    ));
    assert!(matches!(
        err(r#"x eq "\q""#).kind,
        FilterErrorKind::InvalidValue(_)
    ));
    assert!(matches!(
        err("x eq \"a\u{1}\"").kind,
        FilterErrorKind::InvalidValue(_)
    ));
    assert!(matches!(
        err(":x pr").kind,
        FilterErrorKind::Unexpected { .. }
    ));
    assert!(matches!(
        err("urn:x: pr").kind,
        FilterErrorKind::InvalidAttrPath { .. }
    ));
    assert_eq!(
        err(r#"emails[type eq "work"].value eq "x""#).offset,
        22,
        "a filter has no `].sub`"
    );
}

#[test]
fn value_filters_name_sub_attributes_only() {
    assert_eq!(
        err(r#"emails[value[type eq "x"]]"#).kind,
        FilterErrorKind::NestedValuePath
    );
    assert!(matches!(
        err(r#"emails[value.x eq "x"]"#).kind,
        FilterErrorKind::InvalidAttrPath { .. }
    ));
    assert!(matches!(
        err(r#"emails[urn:a:value eq "x"]"#).kind,
        FilterErrorKind::InvalidAttrPath { .. }
    ));
    assert!(err(r#"emails[type eq "work""#).to_string().contains("`]`"));
}

#[test]
fn columns_count_characters_not_bytes() {
    let e = err(r#"x eq "é" zz"#);
    assert_eq!(e.offset, 10);
    assert_eq!(e.column, 10);
}

#[test]
fn limits() {
    let limits = FilterLimits::default();
    let long = format!(r#"x eq "{}""#, "a".repeat(5000));
    assert!(matches!(
        err(&long).kind,
        FilterErrorKind::TooLong {
            length: 5007,
            max: 4096
        }
    ));

    let deep = format!("{}a pr{}", "(".repeat(33), ")".repeat(33));
    assert_eq!(err(&deep).kind, FilterErrorKind::TooDeep { max: 32 });
    let ok = format!("{}a pr{}", "(".repeat(32), ")".repeat(32));
    assert_eq!(p(&ok), pr("a"));
    let deep_not = format!("{}a pr{}", "not (".repeat(40), ")".repeat(40));
    assert_eq!(err(&deep_not).kind, FilterErrorKind::TooDeep { max: 32 });

    let many = vec!["a pr"; 300].join(" or ");
    assert_eq!(err(&many).kind, FilterErrorKind::TooManyNodes { max: 512 });
    let fine = vec!["a pr"; 200].join(" or ");
    assert_eq!(p(&fine).node_count(), 399);

    let tight = FilterLimits {
        max_length: 10,
        max_depth: 1,
        max_nodes: 3,
    };
    assert!(Filter::parse_with_limits("a pr and b pr", &tight).is_err());
    assert!(Filter::parse_with_limits("((a pr))", &tight).is_err());
    assert!(Filter::parse_with_limits("(a pr)", &tight).is_ok());
    assert_eq!(limits.max_nodes, 512);
}

#[test]
fn deep_input_is_refused_not_overflowed() {
    for s in [
        "(".repeat(100_000),
        "not (".repeat(20_000),
        format!("a[{}", "(".repeat(50_000)),
    ] {
        let big = FilterLimits {
            max_length: usize::MAX,
            ..FilterLimits::default()
        };
        let e = Filter::parse_with_limits(&s, &big).unwrap_err();
        assert!(matches!(e.kind, FilterErrorKind::TooDeep { .. }), "{e}");
    }
}

#[test]
fn attr_path_parse() {
    assert_eq!(
        AttrPath::parse(" name.givenName ").unwrap(),
        AttrPath::with_sub("name", "givenName")
    );
    assert!(AttrPath::parse("name givenName").is_err());
    assert!(AttrPath::parse("").is_err());
    assert!(AttrPath::new("USERNAME").eq_ignore_case(&AttrPath::new("userName")));
    assert!(!AttrPath::new("userName").eq_ignore_case(&AttrPath::with_sub("userName", "x")));
}

// Evaluation.

fn user() -> serde_json::Value {
    json!({
        "schemas": [crate::urn::USER, crate::urn::ENTERPRISE_USER],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "BJensen",
        "userName": "BJensen@Example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "",
        "active": true,
        "title": null,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "meta": {"lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z"},
        "loginCount": 7,
        crate::urn::ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "26118915"}}
    })
}

fn m(s: &str) -> bool {
    p(s).matches(&user(), ResourceSchema::user())
}

#[test]
fn eval_strings_and_case() {
    assert!(
        m(r#"userName eq "bjensen@example.com""#),
        "userName is not caseExact"
    );
    assert!(
        m(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#),
        "attribute names ignore case"
    );
    assert!(!m(r#"externalId eq "bjensen""#), "externalId is caseExact");
    assert!(m(r#"externalId eq "BJensen""#));
    assert!(
        !m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#),
        "id is caseExact"
    );
    assert!(m(r#"userName sw "bjen""#));
    assert!(m(r#"userName ew "EXAMPLE.COM""#));
    assert!(m(r#"name.familyName co "ens""#));
    assert!(m(r#"userName ne "other""#));
    assert!(!m(r#"userName gt "c""#));
    assert!(m(r#"userName lt "c""#));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#
    ));
}

#[test]
fn eval_multi_valued_any() {
    assert!(m(r#"emails.value eq "babs@jensen.org""#));
    assert!(
        m(r#"emails co "jensen.org""#),
        "complex without sub compares value"
    );
    assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
    assert!(
        !m(r#"emails[type eq "home" and value co "@example.com"]"#),
        "same value"
    );
    assert!(
        m(r#"emails.type eq "home" and emails.value co "@example.com""#),
        "any value each"
    );
    assert!(m(r#"emails[primary eq true]"#));
    assert!(!m(r#"emails[type eq "other"]"#));
    // `ne`: some value differs; an absent attribute matches no `ne`.
    assert!(m(r#"emails.value ne "babs@jensen.org""#));
    assert!(!m(r#"nickName ne "x""#));
}

#[test]
fn eval_presence() {
    assert!(m("userName pr"));
    assert!(m("emails pr"));
    assert!(m("name pr"));
    assert!(!m("displayName pr"), "empty string");
    assert!(!m("title pr"), "null");
    assert!(!m("phoneNumbers pr"), "empty array");
    assert!(!m("nickName pr"), "absent");
    assert!(m("not (nickName pr)"));
}

#[test]
fn eval_numbers_booleans_null() {
    assert!(m("loginCount gt 5"));
    assert!(m("loginCount le 7"));
    assert!(!m("loginCount lt 7.0"));
    assert!(m("loginCount eq 7.0"));
    assert!(m("active eq true"));
    assert!(!m("active eq false"));
    assert!(m("active ne false"));
    assert!(!m("active gt false"), "booleans do not order");
    assert!(m("nickName eq null"));
    assert!(!m("userName eq null"));
    assert!(m("userName ne null"));
    assert!(!m(r#"loginCount eq "7""#), "types differ");
}

#[test]
fn eval_datetimes() {
    assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
    assert!(
        m(r#"meta.lastModified ge "2011-05-13T06:42:34+02:00""#),
        "instants, not text"
    );
    assert!(!m(r#"meta.lastModified gt "2011-05-13T06:42:34+02:00""#));
    assert!(m(r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#));
    assert!(m(r#"meta.created lt "2011-01-01T00:00:00Z""#));
}

#[test]
fn eval_extension_attributes() {
    assert!(m(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
    ));
    assert!(m(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager.value eq "26118915""#
    ));
    assert!(
        m(r#"employeeNumber eq "701984""#),
        "unqualified extension attribute, leniently"
    );
    assert!(!m(r#"urn:example:other:employeeNumber eq "701984""#));
}

#[test]
fn eval_group_members() {
    let group = json!({"displayName": "Admins", "members": [{"value": "a1", "type": "User"}, {"value": "g2", "type": "Group"}]});
    let schema = ResourceSchema::group();
    assert!(p(r#"members[value eq "g2"]"#).matches(&group, schema));
    assert!(p(r#"members.value eq "a1""#).matches(&group, schema));
    assert!(!p(r#"members[value eq "a1" and type eq "Group"]"#).matches(&group, schema));
    assert!(p(r#"displayName eq "admins""#).matches(&group, schema));
}

#[test]
fn eval_on_non_objects_is_false() {
    assert!(!p("a pr").matches(&json!([1, 2]), ResourceSchema::user()));
    assert!(!p(r#"a eq "x""#).matches(&json!("x"), ResourceSchema::user()));
}

// Translation.

#[test]
fn attribute_paths_are_full_and_unique() {
    let f = p(
        r#"userName eq "a" or (USERNAME sw "b" and emails[type eq "work" and value co "x"]) or not (urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr)"#,
    );
    let paths: Vec<String> = f
        .attribute_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        paths,
        [
            "userName",
            "emails.type",
            "emails.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        ]
    );
    let canonical: Vec<Option<String>> = f
        .attribute_paths()
        .iter()
        .map(|p| ResourceSchema::user().canonical_path(p))
        .collect();
    assert_eq!(canonical[0].as_deref(), Some("userName"));
    assert_eq!(canonical[2].as_deref(), Some("emails.value"));
    assert_eq!(
        canonical[3].as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
    );
}

/// Renders a readable condition language, to check the fold's shape.
struct Render;

impl FilterTranslator for Render {
    type Output = String;
    type Error = crate::ScimError;
    fn compare(
        &mut self,
        path: &AttrPath,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<String, Self::Error> {
        Ok(format!("{path}:{op}:{value}"))
    }
    fn present(&mut self, path: &AttrPath) -> Result<String, Self::Error> {
        if path.name == "password" {
            return Err(crate::ScimError::invalid_filter("password"));
        }
        Ok(format!("{path}?"))
    }
    fn and(&mut self, l: String, r: String) -> Result<String, Self::Error> {
        Ok(format!("&({l},{r})"))
    }
    fn or(&mut self, l: String, r: String) -> Result<String, Self::Error> {
        Ok(format!("|({l},{r})"))
    }
    fn not(&mut self, inner: String) -> Result<String, Self::Error> {
        Ok(format!("!({inner})"))
    }
}

#[test]
fn translate_folds_bottom_up() {
    let f = p(r#"a pr and not (b eq 1) or emails[type eq "work" or value pr]"#);
    assert_eq!(
        f.translate(&mut Render).unwrap(),
        r#"|(&(a?,!(b:eq:1)),|(emails.type:eq:"work",emails.value?))"#
    );
    let e = p("a pr and password pr")
        .translate(&mut Render)
        .unwrap_err();
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
}

#[test]
fn qualified_prefixes_the_parent() {
    let f = p(r#"type eq "work" and not (value pr)"#);
    let parent = AttrPath::with_urn(crate::urn::USER, "emails", None);
    assert_eq!(
        f.qualified(&parent).to_string(),
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails.type eq "work" and not (urn:ietf:params:scim:schemas:core:2.0:User:emails.value pr)"#
    );
}
