//! Notebooks: languages, the `Databricks notebook source` header that turns an uploaded
//! `.py`/`.sql`/`.scala`/`.r` file into a notebook, `.ipynb` handling, and export shapes.

use serde_json::{Value, json};

/// A notebook language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Python.
    Python,
    /// SQL.
    Sql,
    /// Scala.
    Scala,
    /// R.
    R,
}

impl Language {
    /// Parses the API spelling (`PYTHON`, `SQL`, `SCALA`, `R`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PYTHON" => Some(Self::Python),
            "SQL" => Some(Self::Sql),
            "SCALA" => Some(Self::Scala),
            "R" => Some(Self::R),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "PYTHON",
            Self::Sql => "SQL",
            Self::Scala => "SCALA",
            Self::R => "R",
        }
    }

    /// File extension used in exports (`file_type`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::Sql => "sql",
            Self::Scala => "scala",
            Self::R => "r",
        }
    }

    /// The first line of a notebook exported in `SOURCE` format.
    pub fn header(self) -> &'static str {
        match self {
            Self::Python | Self::R => "# Databricks notebook source",
            Self::Sql => "-- Databricks notebook source",
            Self::Scala => "// Databricks notebook source",
        }
    }

    /// The cell separator in `SOURCE` format.
    fn separator(self) -> &'static str {
        match self {
            Self::Python | Self::R => "# COMMAND ----------",
            Self::Sql => "-- COMMAND ----------",
            Self::Scala => "// COMMAND ----------",
        }
    }
}

/// What an upload at `path` with `content` becomes under `AUTO` / import-file rules:
/// `Some((path without extension, language, is_jupyter))` for a notebook, `None` for a file.
pub fn detect(path: &str, content: &[u8]) -> Option<(String, Language, bool)> {
    let (stem, ext) = path.rsplit_once('.')?;
    if stem.is_empty() || stem.ends_with('/') {
        return None;
    }
    if ext.eq_ignore_ascii_case("ipynb") {
        return Some((stem.to_string(), Language::Python, true));
    }
    let lang = match ext {
        "py" => Language::Python,
        "sql" => Language::Sql,
        "scala" => Language::Scala,
        "r" | "R" => Language::R,
        _ => return None,
    };
    let text = std::str::from_utf8(content).ok()?;
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()?
        .trim_end();
    (first == lang.header()).then(|| (stem.to_string(), lang, false))
}

/// A notebook's `SOURCE` export: the stored source with the header line ensured.
pub fn to_source(language: Language, jupyter: bool, stored: &[u8]) -> Vec<u8> {
    let body = if jupyter {
        jupyter_to_source(language, stored)
    } else {
        String::from_utf8_lossy(stored).into_owned()
    };
    if body.trim_start().starts_with(language.header()) {
        body.into_bytes()
    } else {
        format!("{}\n{}", language.header(), body).into_bytes()
    }
}

/// A notebook's `JUPYTER` export.
pub fn to_jupyter(language: Language, jupyter: bool, stored: &[u8]) -> Vec<u8> {
    if jupyter {
        return stored.to_vec();
    }
    let text = String::from_utf8_lossy(stored);
    let body = text
        .strip_prefix(language.header())
        .unwrap_or(&text)
        .trim_start_matches('\n');
    let cells: Vec<Value> = body
        .split(language.separator())
        .map(|cell| {
            json!({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,
                   "source": cell.trim_matches('\n')})
        })
        .collect();
    json!({"cells": cells, "metadata": {"language_info": {"name": language.extension()}},
           "nbformat": 4, "nbformat_minor": 5})
    .to_string()
    .into_bytes()
}

fn jupyter_to_source(language: Language, stored: &[u8]) -> String {
    let Ok(doc) = serde_json::from_slice::<Value>(stored) else {
        return String::new();
    };
    let cells = doc["cells"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = cells
        .iter()
        .map(|c| match &c["source"] {
            Value::String(s) => s.clone(),
            Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
            _ => String::new(),
        })
        .collect();
    format!(
        "{}\n{}",
        language.header(),
        parts.join(&format!("\n\n{}\n\n", language.separator()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_notebooks_by_header_and_extension() {
        let nb = detect("/a/b.py", b"# Databricks notebook source\nprint(1)\n");
        assert_eq!(nb, Some(("/a/b".to_string(), Language::Python, false)));
        assert_eq!(detect("/a/b.py", b"print(1)\n"), None);
        assert_eq!(
            detect("/a/q.sql", b"-- Databricks notebook source\nselect 1"),
            Some(("/a/q".to_string(), Language::Sql, false))
        );
        assert_eq!(
            detect("/a/n.ipynb", b"{}"),
            Some(("/a/n".to_string(), Language::Python, true))
        );
        assert_eq!(detect("/a/.py", b"# Databricks notebook source"), None);
        assert_eq!(detect("/a/readme", b"# Databricks notebook source"), None);
    }

    #[test]
    fn source_export_adds_header_once() {
        assert_eq!(
            to_source(Language::Python, false, b"print(1)"),
            b"# Databricks notebook source\nprint(1)".to_vec()
        );
        let with = b"# Databricks notebook source\nx = 1".to_vec();
        assert_eq!(to_source(Language::Python, false, &with), with);
    }
}
