//! TOML files (`~/.codex/config.toml`), edited with `toml_edit` so comments, formatting, key
//! order and every key kiln does not manage survive. A value kiln changes keeps the comment on
//! its line; new tables go at the end of the document.

use super::{FormatError, text};
use toml_edit::{DocumentMut, Item, Table, Value};

/// A scalar kiln writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for Scalar {
    fn from(s: &str) -> Self {
        Scalar::Str(s.to_owned())
    }
}

impl From<String> for Scalar {
    fn from(s: String) -> Self {
        Scalar::Str(s)
    }
}

impl From<bool> for Scalar {
    fn from(b: bool) -> Self {
        Scalar::Bool(b)
    }
}

/// One change in a TOML document; paths are keys from the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TomlEdit {
    /// Set a scalar, creating tables on the way (`[a.b]` headers; outer tables implicit).
    Set(Vec<String>, Scalar),
    /// Remove a key if present.
    Remove(Vec<String>),
}

impl TomlEdit {
    /// [`TomlEdit::Set`] from string keys.
    pub fn set(path: &[&str], value: impl Into<Scalar>) -> Self {
        TomlEdit::Set(path.iter().map(|s| (*s).to_owned()).collect(), value.into())
    }

    /// [`TomlEdit::Remove`] from string keys.
    pub fn remove(path: &[&str]) -> Self {
        TomlEdit::Remove(path.iter().map(|s| (*s).to_owned()).collect())
    }
}

/// Applies `edits`; `Ok(None)` when the document already holds every value.
pub fn merge(existing: Option<&[u8]>, edits: &[TomlEdit]) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    let mut doc: DocumentMut = src
        .parse()
        .map_err(|e: toml_edit::TomlError| FormatError::Parse(e.message().to_owned()))?;
    let mut changed = false;
    for edit in edits {
        changed |= match edit {
            TomlEdit::Set(path, v) => set(&mut doc, path, v)?,
            TomlEdit::Remove(path) => remove(&mut doc, path),
        };
    }
    if !changed {
        return Ok(None);
    }
    let mut out = doc.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if out == src {
        return Ok(None);
    }
    Ok(Some(out.into_bytes()))
}

fn to_value(v: &Scalar) -> Value {
    match v {
        Scalar::Str(s) => Value::from(s.as_str()),
        Scalar::Bool(b) => Value::from(*b),
    }
}

fn same(old: &Value, v: &Scalar) -> bool {
    match v {
        Scalar::Str(s) => old.as_str() == Some(s.as_str()),
        Scalar::Bool(b) => old.as_bool() == Some(*b),
    }
}

fn set(doc: &mut DocumentMut, path: &[String], v: &Scalar) -> Result<bool, FormatError> {
    let Some((last, steps)) = path.split_last() else {
        return Err(FormatError::Shape("(empty path)".into()));
    };
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for (i, step) in steps.iter().enumerate() {
        let implicit = i + 1 < steps.len();
        let item = table.entry(step).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(implicit);
            Item::Table(t)
        });
        table = item
            .as_table_like_mut()
            .ok_or_else(|| FormatError::Shape(path[..=i].join(".")))?;
    }
    match table.get_mut(last) {
        Some(item) => {
            let Some(old) = item.as_value_mut() else {
                return Err(FormatError::Shape(path.join(".")));
            };
            if same(old, v) {
                return Ok(false);
            }
            let mut new = to_value(v);
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        None => {
            table.insert(last, Item::Value(to_value(v)));
        }
    }
    Ok(true)
}

fn remove(doc: &mut DocumentMut, path: &[String]) -> bool {
    let Some((last, steps)) = path.split_last() else {
        return false;
    };
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for step in steps {
        match table.get_mut(step).and_then(Item::as_table_like_mut) {
            Some(t) => table = t,
            None => return false,
        }
    }
    table.remove(last).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: Option<&str>, edits: &[TomlEdit]) -> Result<Option<String>, FormatError> {
        merge(src.map(str::as_bytes), edits).map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    fn codex_edits() -> Vec<TomlEdit> {
        vec![
            TomlEdit::set(&["model"], "m1"),
            TomlEdit::set(
                &["model_providers", "databricks", "base_url"],
                "http://x/codex",
            ),
            TomlEdit::set(&["analytics", "enabled"], false),
            TomlEdit::set(&["projects", "/h/projects", "trust_level"], "trusted"),
        ]
    }

    #[test]
    fn fresh_document() {
        let out = run(None, &codex_edits()).unwrap().unwrap();
        assert_eq!(
            out,
            "model = \"m1\"\n\n[model_providers.databricks]\nbase_url = \"http://x/codex\"\n\n\
             [analytics]\nenabled = false\n\n[projects.\"/h/projects\"]\ntrust_level = \"trusted\"\n"
        );
        assert_eq!(run(Some(&out), &codex_edits()).unwrap(), None);
    }

    #[test]
    fn comments_and_user_keys_survive() {
        let src = "# my codex\nmodel = \"old\" # pinned by me\napproval_policy = \"never\"\n\n\
                   [model_providers.databricks]\n# provider comment\nname = \"mine\"\n\n\
                   [mcp_servers.x]\ncommand = \"y\"\n";
        let out = run(Some(src), &codex_edits()).unwrap().unwrap();
        assert!(out.starts_with(
            "# my codex\nmodel = \"m1\" # pinned by me\napproval_policy = \"never\"\n"
        ));
        assert!(
            out.contains("# provider comment\nname = \"mine\"\nbase_url = \"http://x/codex\"\n")
        );
        assert!(out.contains("[mcp_servers.x]\ncommand = \"y\"\n"));
        assert_eq!(run(Some(&out), &codex_edits()).unwrap(), None);
    }

    #[test]
    fn dotted_and_inline_tables_are_edited_in_place() {
        let src = "model_providers.databricks.base_url = \"a\"\nanalytics = { enabled = true }\n";
        let out = run(Some(src), &codex_edits()[1..3]).unwrap().unwrap();
        assert!(out.starts_with(
            "model_providers.databricks.base_url = \"http://x/codex\"\nanalytics = { enabled = false }\n"
        ));
    }

    #[test]
    fn refusals_and_removal() {
        assert!(matches!(
            run(Some("model = [\n"), &codex_edits()),
            Err(FormatError::Parse(_))
        ));
        assert_eq!(
            run(Some("model_providers = \"x\"\n"), &codex_edits()[1..2]),
            Err(FormatError::Shape("model_providers".into()))
        );
        let out = run(
            Some("a = 1\nb = 2\n"),
            &[TomlEdit::remove(&["a"]), TomlEdit::remove(&["z", "q"])],
        )
        .unwrap()
        .unwrap();
        assert_eq!(out, "b = 2\n");
    }
}
