//! Profile documents against a compiled schema: writes by a user or an
//! administrator, the view of a reader, the claims of granted scopes, and
//! the migration of stored documents across a schema change.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::schema::{
    ARCHIVE_KEY, Audience, ClaimScope, CompiledField, CompiledSchema, ProfileSchema,
};
use super::value::{bounded, normalise};
use crate::error::{Error, FieldError};

/// An input document holds at most this many keys (refused whole above).
pub const MAX_DOCUMENT_KEYS: usize = 200;

/// A profile document: field name to value.
pub type Document = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Replace,
    Merge,
}

fn who(a: Audience) -> &'static str {
    match a {
        Audience::User => "the user",
        Audience::Admin => "an administrator",
    }
}

impl CompiledSchema {
    /// A full replace (PUT) by `editor` of the fields it may edit: those of
    /// `input` are validated and normalised, those it leaves out are
    /// removed. Returns the whole document to store.
    ///
    /// - A key that is not a field, or a field `editor` may neither read nor
    ///   edit, is refused as unknown (`_archived` too).
    /// - A field `editor` may read but not edit is refused ("may not be
    ///   changed") unless its value equals the stored one, so a document
    ///   read, changed and written back passes.
    /// - `null`, an empty string, list or address removes a field.
    /// - Every required field that `editor` may edit must be set. (A
    ///   required field only another audience edits is not `editor`'s to
    ///   supply.)
    /// - What `editor` may not edit, values of fields the schema no longer
    ///   has, and [`ARCHIVE_KEY`] are carried over from `current` untouched.
    ///
    /// Every problem is named in one [`Error::Validation`].
    pub fn replace(
        &self,
        current: &Document,
        input: &Document,
        editor: Audience,
    ) -> Result<Document, Error> {
        self.write(current, input, editor, Write::Replace)
    }

    /// A merge (PATCH, RFC 7396 at the top level) by `editor`: only the
    /// fields given are checked and changed, as in [`CompiledSchema::replace`];
    /// `null` removes a field. A required field that is set stays set: its
    /// removal is refused. A required field that is not yet set (one a
    /// schema change added) does not block a merge that leaves it out.
    /// Returns the whole document to store.
    pub fn merge(
        &self,
        current: &Document,
        patch: &Document,
        editor: Audience,
    ) -> Result<Document, Error> {
        self.write(current, patch, editor, Write::Merge)
    }

    fn write(
        &self,
        current: &Document,
        input: &Document,
        editor: Audience,
        mode: Write,
    ) -> Result<Document, Error> {
        if input.len() > MAX_DOCUMENT_KEYS {
            return Err(Error::field(
                "",
                format!("a profile holds at most {MAX_DOCUMENT_KEYS} fields"),
            ));
        }
        let mut out = current.clone();
        if mode == Write::Replace {
            for cf in self.fields.values() {
                if cf.field.editable_by.contains(&editor) {
                    out.remove(&cf.field.name);
                }
            }
        }
        let mut errors: Vec<FieldError> = Vec::new();
        let mut named: BTreeSet<&str> = BTreeSet::new();
        for (key, value) in input {
            let known = self.fields.get(key).filter(|cf| {
                cf.field.readable_by.contains(&editor) || cf.field.editable_by.contains(&editor)
            });
            let Some(cf) = known else {
                errors.push(FieldError::new(
                    bounded(key),
                    "is not a field of this realm's profile",
                ));
                continue;
            };
            named.insert(key);
            let editable = cf.field.editable_by.contains(&editor);
            match normalise(cf, value) {
                Ok(v) if !editable => {
                    if v.as_ref() != current.get(key) {
                        errors.push(FieldError::new(
                            key,
                            format!("may not be changed by {}", who(editor)),
                        ));
                    }
                }
                Ok(Some(v)) => {
                    out.insert(key.clone(), v);
                }
                Ok(None) => {
                    out.remove(key);
                }
                Err(_) if !editable => {
                    errors.push(FieldError::new(
                        key,
                        format!("may not be changed by {}", who(editor)),
                    ));
                }
                Err(e) => errors.extend(e),
            }
        }
        for cf in self.fields.values() {
            let field = &cf.field;
            let name = field.name.as_str();
            if !field.required || !field.editable_by.contains(&editor) || out.contains_key(name) {
                continue;
            }
            if errors.iter().any(|e| {
                e.field == name
                    || e.field.starts_with(&format!("{name}["))
                    || e.field.starts_with(&format!("{name}."))
            }) {
                continue;
            }
            match mode {
                Write::Replace => errors.push(FieldError::new(name, "is required")),
                Write::Merge if current.contains_key(name) && named.contains(name) => {
                    errors.push(FieldError::new(name, "is required: it cannot be removed"));
                }
                Write::Merge => {}
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// What `reader` sees of `doc`: the fields it may read, as stored.
    /// Values of fields the schema no longer has and the archive are left
    /// out ([`ProfileSchema::archived`] reads the archive).
    pub fn view(&self, doc: &Document, reader: Audience) -> Document {
        self.fields
            .values()
            .filter(|cf| cf.field.readable_by.contains(&reader))
            .filter_map(|cf| {
                doc.get(&cf.field.name)
                    .map(|v| (cf.field.name.clone(), v.clone()))
            })
            .collect()
    }

    /// The claims `doc` releases to a token or UserInfo answer for the
    /// granted `scopes`: claim name to value, for each field with a claim
    /// whose scope is granted. With `phone_number`, its
    /// `phone_number_verified` (which the profile does not hold: the
    /// caller knows whether the number was proved).
    pub fn claims(&self, doc: &Document, scopes: &[&str], phone_number_verified: bool) -> Document {
        let mut out = Document::new();
        for cf in self.fields.values() {
            let (Some(claim), Some(scope)) = (&cf.field.claim, &cf.scope) else {
                continue;
            };
            if !scopes.contains(&scope.as_str()) {
                continue;
            }
            let Some(value) = doc.get(&cf.field.name) else {
                continue;
            };
            out.insert(claim.clone(), value.clone());
            if cf.field.name == "phone_number" && *scope == ClaimScope::Phone {
                out.insert(
                    "phone_number_verified".to_owned(),
                    Value::Bool(phone_number_verified),
                );
            }
        }
        out
    }
}

impl ProfileSchema {
    /// Carries a document stored under `old` to `new`, losing no value.
    ///
    /// Each value of a field `new` still has is checked and normalised
    /// against it, and kept if it passes. A single value becomes a list of
    /// one when the field turned multivalued, a list of one becomes its
    /// value when it turned single. Every other value (a field `new` no
    /// longer has, a value the new kind or limits refuse) is moved to the
    /// archive: `doc["_archived"][old.version]` is an object of field name
    /// to the value exactly as it was stored (a value that would normalise
    /// to nothing, such as a blank string, is archived too; `null` is
    /// dropped). Archives of earlier versions are carried over. Archived values are never shown to readers nor
    /// released as claims, and are not restored by a later schema on their
    /// own: an administrator reads them with [`ProfileSchema::archived`].
    ///
    /// Required fields that `new` adds are not invented: a later
    /// [`CompiledSchema::replace`] asks for them.
    ///
    /// Refused: a `new` schema that does not compile ([`Error::Validation`]),
    /// or whose version is not greater than `old`'s (archives are keyed by
    /// version); a document whose archive already holds an entry for
    /// `old.version` when values are to be archived ([`Error::Conflict`]:
    /// it was migrated from `old` before, so `old` is not its schema).
    pub fn migrate(
        stored: &Document,
        old: &ProfileSchema,
        new: &ProfileSchema,
    ) -> Result<Document, Error> {
        if new.version <= old.version {
            return Err(Error::field(
                "version",
                format!("must be greater than the previous version, {}", old.version),
            ));
        }
        let compiled = new.compile()?;
        let mut out = Document::new();
        let mut archived = Document::new();
        for (key, value) in stored {
            if key == ARCHIVE_KEY {
                continue;
            }
            if value.is_null() {
                continue;
            }
            match compiled.fields.get(key).and_then(|cf| coerce(cf, value)) {
                Some(v) => {
                    out.insert(key.clone(), v);
                }
                None => {
                    archived.insert(key.clone(), value.clone());
                }
            }
        }
        let mut archive = match stored.get(ARCHIVE_KEY) {
            Some(Value::Object(a)) => a.clone(),
            Some(other) => {
                // Not an object: never ours, but never dropped either.
                archived
                    .entry(ARCHIVE_KEY.to_owned())
                    .or_insert_with(|| other.clone());
                Document::new()
            }
            None => Document::new(),
        };
        if !archived.is_empty() {
            let version = old.version.to_string();
            if archive.contains_key(&version) {
                return Err(Error::Conflict(format!(
                    "the profile was already migrated from schema version {version}"
                )));
            }
            archive.insert(version, Value::Object(archived));
        }
        if !archive.is_empty() {
            out.insert(ARCHIVE_KEY.to_owned(), Value::Object(archive));
        }
        Ok(out)
    }

    /// The archive of a stored document: schema version (as a string) to
    /// the values that schema change could not keep.
    pub fn archived(doc: &Document) -> Option<&Document> {
        doc.get(ARCHIVE_KEY).and_then(Value::as_object)
    }
}

/// `value` as `cf` keeps it, or `None` if it no longer fits (or would
/// normalise to nothing: an empty string is archived rather than dropped).
fn coerce(cf: &CompiledField, value: &Value) -> Option<Value> {
    if let Ok(v) = normalise(cf, value) {
        return v;
    }
    let reshaped = match value {
        Value::Array(items) if !cf.field.multivalued && items.len() == 1 => items.first().cloned(),
        Value::Array(_) => None,
        single if cf.field.multivalued => Some(Value::Array(vec![single.clone()])),
        _ => None,
    }?;
    normalise(cf, &reshaped).ok().flatten()
}
