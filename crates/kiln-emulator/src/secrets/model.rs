//! The secret scopes and their values, and the resolution of `{{secrets/<scope>/<key>}}`
//! references that clusters use.

use std::collections::BTreeMap;

/// One stored secret.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: String,
    /// Last update (ms).
    pub updated_ms: i64,
}

/// Scopes by name, keys by name.
#[derive(Debug, Default)]
pub struct Secrets {
    /// Scope -> key -> entry.
    pub scopes: BTreeMap<String, BTreeMap<String, Entry>>,
}

impl Secrets {
    /// The value of `scope`/`key`.
    pub fn get(&self, scope: &str, key: &str) -> Option<&str> {
        self.scopes.get(scope)?.get(key).map(|e| e.value.as_str())
    }

    /// Replaces every `{{secrets/<scope>/<key>}}` in `text`; `Err` names the first reference
    /// that does not resolve.
    pub fn resolve(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("{{secrets/") {
            out.push_str(&rest[..i]);
            let after = &rest[i + "{{secrets/".len()..];
            let Some(j) = after.find("}}") else {
                out.push_str(&rest[i..]);
                return Ok(out);
            };
            let reference = &after[..j];
            let value = reference
                .split_once('/')
                .and_then(|(s, k)| self.get(s, k))
                .ok_or_else(|| format!("secrets/{reference}"))?;
            out.push_str(value);
            rest = &after[j + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve() {
        let mut s = Secrets::default();
        s.scopes.entry("kiln".into()).or_default().insert(
            "tok".into(),
            Entry {
                value: "v1".into(),
                updated_ms: 0,
            },
        );
        assert_eq!(s.resolve("a{{secrets/kiln/tok}}b").unwrap(), "av1b");
        assert_eq!(s.resolve("plain").unwrap(), "plain");
        assert_eq!(
            s.resolve("{{secrets/kiln/nope}}").unwrap_err(),
            "secrets/kiln/nope"
        );
    }
}
