//! Mail templates: a subject, a text part and an HTML part per kind, in the
//! Jinja syntax of [`minijinja`]. The HTML part is auto-escaped (a user's
//! name cannot inject markup); the subject and text are not. Rendering is
//! bounded (fuel), and a rendered subject is one line.
//!
//! Values every kind gets: `realm` (display name), `realm_name`, `email`
//! (the recipient), `name` (the user's display name, or none). Per kind:
//! `link` and `expires_in_minutes` (verify_email, password_reset,
//! magic_link, email_change, plus `new_email` for email_change), `code` and
//! `expires_in_minutes` (email_otp), `device`, `ip` and `time`
//! (new_device), `new_email` (email_change_notice, sent to the old address),
//! `link`, `expires_in_minutes`, `organization` and `role`
//! (organization_invitation).

pub use crate::model::mail::{Rendered, TemplateSource};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Value, json};

use super::MailKind;
use crate::error::FieldError;

/// Longest subject template, in bytes.
pub const MAX_SUBJECT_SOURCE: usize = 1_000;
/// Longest text or HTML template, in bytes.
pub const MAX_BODY_SOURCE: usize = 64 * 1024;
/// Longest rendered subject, in characters.
const MAX_SUBJECT: usize = 250;
/// Work one render may do (loops and calls), so a template cannot hang a worker.
const FUEL: u64 = 100_000;

const HTML_HEAD: &str = "<!doctype html>\n<html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24\">\n";
const HTML_FOOT: &str =
    "<p style=\"color:#57606a;font-size:.9em\">{{ realm }}</p>\n</body></html>\n";

fn html(body: &str) -> String {
    format!("{HTML_HEAD}{body}{HTML_FOOT}")
}

/// The compiled-in template of a kind.
pub fn default_source(kind: MailKind) -> TemplateSource {
    let greeting = "Hello{% if name %} {{ name }}{% endif %},";
    match kind {
        MailKind::VerifyEmail => TemplateSource {
            subject: "Confirm your email address for {{ realm }}".into(),
            text: format!(
                "{greeting}\n\nPlease confirm that {{{{ email }}}} is your email address by opening this link:\n\n{{{{ link }}}}\n\nThe link works once and expires in {{{{ expires_in_minutes // 60 }}}} hours. If you did not create an account at {{{{ realm }}}}, ignore this message.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>Please confirm that <strong>{{{{ email }}}}</strong> is your email address.</p>\n<p><a href=\"{{{{ link }}}}\">Confirm my email address</a></p>\n<p>The link works once and expires in {{{{ expires_in_minutes // 60 }}}} hours. If you did not create an account at {{{{ realm }}}}, ignore this message.</p>\n"
            )),
        },
        MailKind::PasswordReset => TemplateSource {
            subject: "Reset your {{ realm }} password".into(),
            text: format!(
                "{greeting}\n\nSomeone asked to reset the password of the account {{{{ email }}}}. To choose a new password, open this link:\n\n{{{{ link }}}}\n\nThe link works once and expires in {{{{ expires_in_minutes }}}} minutes. Every session of the account ends when the password is reset. If you did not ask for this, ignore this message: your password stays as it is.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>Someone asked to reset the password of the account <strong>{{{{ email }}}}</strong>.</p>\n<p><a href=\"{{{{ link }}}}\">Choose a new password</a></p>\n<p>The link works once and expires in {{{{ expires_in_minutes }}}} minutes. Every session of the account ends when the password is reset. If you did not ask for this, ignore this message: your password stays as it is.</p>\n"
            )),
        },
        MailKind::MagicLink => TemplateSource {
            subject: "Sign in to {{ realm }}".into(),
            text: format!(
                "{greeting}\n\nOpen this link to sign in to {{{{ realm }}}}:\n\n{{{{ link }}}}\n\nIt works once, only in the browser that asked for it, and expires in {{{{ expires_in_minutes }}}} minutes. If you did not try to sign in, ignore this message.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p><a href=\"{{{{ link }}}}\">Sign in to {{{{ realm }}}}</a></p>\n<p>It works once, only in the browser that asked for it, and expires in {{{{ expires_in_minutes }}}} minutes. If you did not try to sign in, ignore this message.</p>\n"
            )),
        },
        MailKind::EmailOtp => TemplateSource {
            subject: "Your {{ realm }} sign-in code".into(),
            text: format!(
                "{greeting}\n\nYour sign-in code is {{{{ code }}}}. It expires in {{{{ expires_in_minutes }}}} minutes. Never share it with anyone.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>Your sign-in code is <strong style=\"font-size:1.4em;letter-spacing:.15em\">{{{{ code }}}}</strong>.</p>\n<p>It expires in {{{{ expires_in_minutes }}}} minutes. Never share it with anyone.</p>\n"
            )),
        },
        MailKind::EmailChange => TemplateSource {
            subject: "Confirm your new email address for {{ realm }}".into(),
            text: format!(
                "{greeting}\n\nTo use {{{{ new_email }}}} as the address of your {{{{ realm }}}} account, open this link:\n\n{{{{ link }}}}\n\nIt expires in {{{{ expires_in_minutes }}}} minutes. Until then the account keeps its current address.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>To use <strong>{{{{ new_email }}}}</strong> as the address of your {{{{ realm }}}} account, confirm it:</p>\n<p><a href=\"{{{{ link }}}}\">Confirm my new address</a></p>\n<p>It expires in {{{{ expires_in_minutes }}}} minutes. Until then the account keeps its current address.</p>\n"
            )),
        },
        MailKind::EmailChangeNotice => TemplateSource {
            subject: "Your {{ realm }} email address is being changed".into(),
            text: format!(
                "{greeting}\n\nSomeone signed in to your {{{{ realm }}}} account asked to change its email address from {{{{ email }}}} to {{{{ new_email }}}}. The change happens only once the new address is confirmed.\n\nIf this was not you, change your password now and end your other sessions.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>Someone signed in to your {{{{ realm }}}} account asked to change its email address from <strong>{{{{ email }}}}</strong> to <strong>{{{{ new_email }}}}</strong>. The change happens only once the new address is confirmed.</p>\n<p>If this was not you, change your password now and end your other sessions.</p>\n"
            )),
        },
        MailKind::LinkAccount => TemplateSource {
            subject: "Sign in to {{ realm }} with {{ provider }}".into(),
            text: format!(
                "{greeting}\n\nTo sign in to your {{{{ realm }}}} account with {{{{ provider }}}} from now on, open this link:\n\n{{{{ link }}}}\n\nIt works once, only in the browser that asked for it, and expires in {{{{ expires_in_minutes }}}} minutes. If you did not ask for this, ignore this message: nothing changes.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>To sign in to your {{{{ realm }}}} account with <strong>{{{{ provider }}}}</strong> from now on, confirm it:</p>\n<p><a href=\"{{{{ link }}}}\">Link {{{{ provider }}}} to my account</a></p>\n<p>It works once, only in the browser that asked for it, and expires in {{{{ expires_in_minutes }}}} minutes. If you did not ask for this, ignore this message: nothing changes.</p>\n"
            )),
        },
        MailKind::OrganizationInvitation => TemplateSource {
            subject: "You are invited to join {{ organization }} on {{ realm }}".into(),
            text: format!(
                "{greeting}\n\nYou are invited to join the organization {{{{ organization }}}} on {{{{ realm }}}} as {{{{ role }}}}. To accept, open this link and sign in (or create an account) with {{{{ email }}}}:\n\n{{{{ link }}}}\n\nThe link works once and expires in {{{{ expires_in_minutes // 60 }}}} hours. If you did not expect this, ignore this message.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>You are invited to join the organization <strong>{{{{ organization }}}}</strong> on {{{{ realm }}}} as {{{{ role }}}}.</p>\n<p><a href=\"{{{{ link }}}}\">Accept the invitation</a></p>\n<p>Sign in (or create an account) with <strong>{{{{ email }}}}</strong> to accept. The link works once and expires in {{{{ expires_in_minutes // 60 }}}} hours. If you did not expect this, ignore this message.</p>\n"
            )),
        },
        MailKind::NewDevice => TemplateSource {
            subject: "New sign-in to your {{ realm }} account".into(),
            text: format!(
                "{greeting}\n\nYour account {{{{ email }}}} was used to sign in from a new device: {{{{ device }}}} ({{{{ ip }}}}) at {{{{ time }}}}.\n\nIf this was not you, change your password now and end your other sessions.\n"
            ),
            html: html(&format!(
                "<p>{greeting}</p>\n<p>Your account <strong>{{{{ email }}}}</strong> was used to sign in from a new device: {{{{ device }}}} ({{{{ ip }}}}) at {{{{ time }}}}.</p>\n<p>If this was not you, change your password now and end your other sessions.</p>\n"
            )),
        },
    }
}

/// Values like those a real message of `kind` gets, to check a template.
pub fn sample_values(kind: MailKind) -> Value {
    let mut v = json!({
        "realm": "Example & Co",
        "realm_name": "example",
        "email": "ada@example.com",
        "name": "Ada <Lovelace>",
    });
    let extra = match kind {
        MailKind::VerifyEmail => json!({
            "link": "https://id.example.com/realms/example/verify-email?token=sample",
            "expires_in_minutes": 1440,
        }),
        MailKind::PasswordReset => json!({
            "link": "https://id.example.com/realms/example/reset-password?token=sample",
            "expires_in_minutes": 30,
        }),
        MailKind::MagicLink => json!({
            "link": "https://id.example.com/realms/example/magic-link?token=sample",
            "expires_in_minutes": 10,
        }),
        MailKind::EmailOtp => json!({ "code": "123456", "expires_in_minutes": 10 }),
        MailKind::EmailChange => json!({
            "link": "https://id.example.com/realms/example/confirm-email-change?token=sample",
            "expires_in_minutes": 60,
            "new_email": "ada.new@example.com",
        }),
        MailKind::EmailChangeNotice => json!({ "new_email": "ada.new@example.com" }),
        MailKind::LinkAccount => json!({
            "link": "https://id.example.com/realms/example/login/social/mailed?provider=google&token=sample",
            "expires_in_minutes": 10,
            "provider": "Google",
        }),
        MailKind::OrganizationInvitation => json!({
            "link": "https://id.example.com/realms/example/organization-invitation?token=sample",
            "expires_in_minutes": 10080,
            "organization": "Globex Corporation",
            "role": "member",
        }),
        MailKind::NewDevice => json!({
            "device": "Firefox 120 on Linux",
            "ip": "192.0.2.1",
            "time": "2026-11-23 12:00 UTC",
        }),
    };
    if let (Some(map), Value::Object(extra)) = (v.as_object_mut(), extra) {
        map.extend(extra);
    }
    v
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    // Printing an undefined value is an error (a typo shows when saving);
    // `{% if x %}` on one is allowed.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// Renders a template with values. The error names the part that failed.
pub fn render(source: &TemplateSource, values: &Value) -> Result<Rendered, FieldError> {
    let env = environment();
    let part = |field: &str, name: &str, text: &str| -> Result<String, FieldError> {
        let template = env
            .template_from_named_str(name, text)
            .map_err(|e| FieldError::new(field, format!("does not compile: {}", describe(&e))))?;
        template
            .render(values)
            .map_err(|e| FieldError::new(field, format!("does not render: {}", describe(&e))))
    };
    let subject = part("subject", "subject.txt", &source.subject)?;
    let subject = subject.trim().to_owned();
    if subject.is_empty() || subject.contains(['\r', '\n']) || subject.chars().count() > MAX_SUBJECT
    {
        return Err(FieldError::new(
            "subject",
            format!("must render to one non-empty line of at most {MAX_SUBJECT} characters"),
        ));
    }
    Ok(Rendered {
        subject,
        text: part("text", "body.txt", &source.text)?,
        html: part("html", "body.html", &source.html)?,
    })
}

/// An engine error in one line, without the template's source.
fn describe(e: &minijinja::Error) -> String {
    let mut text = e.kind().to_string();
    if let Some(detail) = e.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(line) = e.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// Checks an override: sizes, and that every part compiles and renders with
/// sample values of its kind.
pub fn validate(kind: MailKind, source: &TemplateSource) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if source.subject.len() > MAX_SUBJECT_SOURCE {
        errors.push(FieldError::new(
            "subject",
            format!("must be at most {MAX_SUBJECT_SOURCE} bytes"),
        ));
    }
    for (field, text) in [("text", &source.text), ("html", &source.html)] {
        if text.len() > MAX_BODY_SOURCE {
            errors.push(FieldError::new(
                field,
                format!("must be at most {MAX_BODY_SOURCE} bytes"),
            ));
        } else if text.trim().is_empty() {
            errors.push(FieldError::new(field, "must not be empty"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    render(source, &sample_values(kind))
        .map(|_| ())
        .map_err(|e| vec![e])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_with_its_samples() {
        for kind in MailKind::ALL {
            let source = default_source(kind);
            validate(kind, &source).unwrap();
            let r = render(&source, &sample_values(kind)).unwrap();
            assert!(!r.subject.contains('\n'), "{kind:?}");
            // HTML is escaped, text is not.
            assert!(r.html.contains("Ada &lt;Lovelace&gt;"), "{kind:?}");
            assert!(r.text.contains("Ada <Lovelace>"), "{kind:?}");
            assert!(!r.html.contains("<Lovelace>"), "{kind:?}");
        }
        let r = render(
            &default_source(MailKind::PasswordReset),
            &sample_values(MailKind::PasswordReset),
        )
        .unwrap();
        assert!(r.text.contains("reset-password?token=sample"));
        // Auto-escaping writes `/` as `&#x2f;` (valid in an attribute).
        assert!(
            r.html.contains("&#x2f;reset-password?token=sample\""),
            "{}",
            r.html
        );
        assert!(r.text.contains("30 minutes"));
    }

    #[test]
    fn bad_templates_are_refused_with_the_field() {
        let good = default_source(MailKind::VerifyEmail);
        let cases = [
            ("subject", TemplateSource { subject: "{{ realm ".into(), ..good.clone() }),
            ("text", TemplateSource { text: "{% for x in %}".into(), ..good.clone() }),
            ("html", TemplateSource { html: "{{ no_such_value }}".into(), ..good.clone() }),
            ("subject", TemplateSource { subject: "a\n{{ realm }}".into(), ..good.clone() }),
            ("subject", TemplateSource { subject: "  ".into(), ..good.clone() }),
            ("text", TemplateSource { text: "x".repeat(MAX_BODY_SOURCE + 1), ..good.clone() }),
            ("html", TemplateSource { html: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".into(), ..good.clone() }),
        ];
        for (field, source) in cases {
            let errors = validate(MailKind::VerifyEmail, &source).unwrap_err();
            assert_eq!(errors[0].field, field, "{source:?}: {errors:?}");
        }
    }
}
