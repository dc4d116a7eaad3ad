//! JSON files (`settings.json`, `opencode.json`, `auth.json`, …): kiln sets, removes or adds to
//! the values at its own paths; every other key keeps its value and its position. Written back
//! pretty-printed with two spaces; when the edits change nothing the original bytes stay as they
//! are, whatever their formatting.

use super::{FormatError, text};
use serde_json::{Map, Value};

/// One change kiln wants in a JSON document. Paths are object keys from the root.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonEdit {
    /// Set the value at `path`, creating objects on the way.
    Set(Vec<String>, Value),
    /// Remove the key at `path` if present.
    Remove(Vec<String>),
    /// Make sure the array at `path` contains each item (appended in order when missing).
    Include(Vec<String>, Vec<Value>),
    /// Remove the key at `path` only if it holds exactly this value (what kiln wrote in
    /// another mode), leaving a user's own value alone.
    RemoveIf(Vec<String>, Value),
}

impl JsonEdit {
    /// [`JsonEdit::Set`] from string keys.
    pub fn set(path: &[&str], value: impl Into<Value>) -> Self {
        JsonEdit::Set(owned(path), value.into())
    }

    /// [`JsonEdit::Remove`] from string keys.
    pub fn remove(path: &[&str]) -> Self {
        JsonEdit::Remove(owned(path))
    }

    /// [`JsonEdit::RemoveIf`] from string keys.
    pub fn remove_if(path: &[&str], value: impl Into<Value>) -> Self {
        JsonEdit::RemoveIf(owned(path), value.into())
    }

    /// [`JsonEdit::Include`] from string keys.
    pub fn include(path: &[&str], items: Vec<Value>) -> Self {
        JsonEdit::Include(owned(path), items)
    }
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

/// Applies `edits` to the document in `existing` (absent or blank: `{}`). `Ok(None)` when the
/// document already holds every value.
pub fn merge(existing: Option<&[u8]>, edits: &[JsonEdit]) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    let mut doc = if src.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str::<Value>(src).map_err(|e| FormatError::Parse(e.to_string()))?
    };
    if !doc.is_object() {
        return Err(FormatError::Shape("(top level)".into()));
    }
    let before = doc.clone();
    for edit in edits {
        apply(&mut doc, edit)?;
    }
    if doc == before && !src.trim().is_empty() {
        return Ok(None);
    }
    let mut out = serde_json::to_vec_pretty(&doc).map_err(|e| FormatError::Parse(e.to_string()))?;
    out.push(b'\n');
    if existing == Some(out.as_slice()) {
        return Ok(None);
    }
    Ok(Some(out))
}

fn apply(doc: &mut Value, edit: &JsonEdit) -> Result<(), FormatError> {
    match edit {
        JsonEdit::Set(path, value) => {
            let (parent, key) = parent_of(doc, path, true)?;
            if let Some(obj) = parent
                && obj.get(key) != Some(value)
            {
                obj.insert(key.to_owned(), value.clone());
            }
        }
        JsonEdit::Remove(path) => {
            if let (Some(obj), key) = parent_of(doc, path, false)? {
                obj.shift_remove(key);
            }
        }
        JsonEdit::RemoveIf(path, value) => {
            if let (Some(obj), key) = parent_of(doc, path, false)?
                && obj.get(key) == Some(value)
            {
                obj.shift_remove(key);
            }
        }
        JsonEdit::Include(path, items) => {
            let (parent, key) = parent_of(doc, path, true)?;
            if let Some(obj) = parent {
                let slot = obj
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(arr) = slot else {
                    return Err(FormatError::Shape(path.join(".")));
                };
                for item in items {
                    if !arr.contains(item) {
                        arr.push(item.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// An object (if present) and the key in it.
type Parent<'a, 'p> = (Option<&'a mut Map<String, Value>>, &'p str);

/// The object holding the last key of `path`, creating objects when `create` (else `None` when
/// a step is missing).
fn parent_of<'a, 'p>(
    doc: &'a mut Value,
    path: &'p [String],
    create: bool,
) -> Result<Parent<'a, 'p>, FormatError> {
    let Some((last, steps)) = path.split_last() else {
        return Err(FormatError::Shape("(empty path)".into()));
    };
    let mut cur = doc;
    for (i, step) in steps.iter().enumerate() {
        let Value::Object(obj) = cur else {
            return Err(FormatError::Shape(path[..i].join(".")));
        };
        if !obj.contains_key(step.as_str()) {
            if !create {
                return Ok((None, last));
            }
            obj.insert(step.clone(), Value::Object(Map::new()));
        }
        cur = match obj.get_mut(step.as_str()) {
            Some(v) => v,
            None => return Ok((None, last)),
        };
    }
    match cur {
        Value::Object(obj) => Ok((Some(obj), last)),
        _ => Err(FormatError::Shape(steps.join("."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(src: Option<&str>, edits: &[JsonEdit]) -> Result<Option<String>, FormatError> {
        merge(src.map(str::as_bytes), edits)
            .map(|o| o.map(|b| String::from_utf8(b).expect("utf-8")))
    }

    #[test]
    fn fresh_file_and_nested_set() {
        let out = run(None, &[JsonEdit::set(&["env", "A"], "1")])
            .unwrap()
            .unwrap();
        assert_eq!(out, "{\n  \"env\": {\n    \"A\": \"1\"\n  }\n}\n");
        let again = run(Some(&out), &[JsonEdit::set(&["env", "A"], "1")]).unwrap();
        assert_eq!(again, None);
    }

    #[test]
    fn user_keys_keep_their_place_and_values() {
        let src = r#"{"z": 1, "env": {"USER_VAR": "x", "A": "old"}, "a": [1]}"#;
        let out = run(Some(src), &[JsonEdit::set(&["env", "A"], "new")])
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!({"z": 1, "env": {"USER_VAR": "x", "A": "new"}, "a": [1]})
        );
        assert!(out.find("\"z\"").unwrap() < out.find("\"env\"").unwrap());
        assert!(out.find("USER_VAR").unwrap() < out.find("\"A\"").unwrap());
    }

    #[test]
    fn unchanged_document_keeps_its_bytes_whatever_the_formatting() {
        let src = "{\"env\":{\"A\":\"1\"},   \"x\":true}";
        assert_eq!(
            run(Some(src), &[JsonEdit::set(&["env", "A"], "1")]).unwrap(),
            None
        );
    }

    #[test]
    fn include_and_remove() {
        let src = r#"{"permissions": {"deny": ["Bash(rm:*)"]}, "apiKeyHelper": "x"}"#;
        let edits = [
            JsonEdit::include(&["permissions", "deny"], vec![json!("WebSearch")]),
            JsonEdit::remove(&["apiKeyHelper"]),
            JsonEdit::remove(&["missing", "deep"]),
            JsonEdit::remove_if(&["permissions", "deny"], json!("other")),
        ];
        let out = run(Some(src), &edits).unwrap().unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!({"permissions": {"deny": ["Bash(rm:*)", "WebSearch"]}})
        );
        assert_eq!(run(Some(&out), &edits).unwrap(), None);
    }

    #[test]
    fn refuses_what_it_cannot_merge() {
        assert!(matches!(
            run(Some("{ // comment\n}"), &[JsonEdit::set(&["a"], 1)]),
            Err(FormatError::Parse(_))
        ));
        assert!(matches!(
            run(Some("[1]"), &[JsonEdit::set(&["a"], 1)]),
            Err(FormatError::Shape(_))
        ));
        assert_eq!(
            run(Some(r#"{"env": "x"}"#), &[JsonEdit::set(&["env", "A"], 1)]),
            Err(FormatError::Shape("env".into()))
        );
        assert!(matches!(
            merge(Some(&[0xff, 0xfe]), &[JsonEdit::set(&["a"], 1)]),
            Err(FormatError::NotText)
        ));
    }

    #[test]
    fn blank_file_counts_as_empty_object() {
        let out = run(Some("  \n"), &[JsonEdit::set(&["a"], true)])
            .unwrap()
            .unwrap();
        assert_eq!(out, "{\n  \"a\": true\n}\n");
    }
}
