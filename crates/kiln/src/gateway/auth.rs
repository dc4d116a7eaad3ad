//! The local key: 32 random bytes as hex in `<state dir>/gateway.key` (directory 0700, file
//! 0600), created once and reused by every later gateway, so agent configs written against it
//! stay valid. Requests present it as `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`
//! or `?key=`; it is compared in constant time and never forwarded upstream.

use crate::state;
use axum::http::HeaderMap;
use kiln_databricks::Secret;
use std::io;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq as _;

/// File name of the key inside the state directory.
pub const KEY_FILE: &str = "gateway.key";
/// Random bytes in a key (hex-encoded: 64 characters).
const KEY_BYTES: usize = 32;
/// Headers that may carry the local key (and are never forwarded).
pub const KEY_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];
/// The query parameter that may carry the local key (removed before forwarding).
pub const KEY_PARAM: &str = "key";

/// The gateway's local key.
#[derive(Clone, Debug)]
pub struct LocalKey {
    value: Secret,
    path: PathBuf,
}

impl LocalKey {
    /// Reads `<dir>/gateway.key`, or creates it (and `dir`, mode 0700) when missing or not a
    /// valid key. Two gateways starting at once end up with the same key.
    pub fn load_or_create(dir: &Path) -> io::Result<LocalKey> {
        state::ensure_private_dir(dir)?;
        let path = dir.join(KEY_FILE);
        if let Some(value) = read_key(&path)? {
            state::tighten_file(&path)?;
            return Ok(LocalKey { value, path });
        }
        let fresh = format!("{}\n", state::random_hex(KEY_BYTES)?);
        // A file that exists but is not a key is replaced; otherwise the key is only created
        // when missing, so a racing gateway's key wins and is read back.
        if path.exists() {
            state::write_private(&path, fresh.as_bytes())?;
        } else {
            state::create_private(&path, fresh.as_bytes())?;
        }
        let value = read_key(&path)?
            .ok_or_else(|| io::Error::other(format!("{} is not a valid key", path.display())))?;
        tracing::info!(path = %path.display(), "created the gateway's local key");
        Ok(LocalKey { value, path })
    }

    /// Reads an existing key from `<dir>/gateway.key` without creating one.
    pub fn read(dir: &Path) -> io::Result<Option<LocalKey>> {
        let path = dir.join(KEY_FILE);
        Ok(read_key(&path)?.map(|value| LocalKey { value, path }))
    }

    /// A key with a known value (tests, embedding).
    pub fn from_value(value: Secret, path: PathBuf) -> LocalKey {
        LocalKey { value, path }
    }

    /// Where the key is stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key (for agent configs written by kiln; never for logs).
    pub fn secret(&self) -> &Secret {
        &self.value
    }

    /// Constant-time comparison with one presented value.
    fn matches(&self, candidate: &str) -> bool {
        let expected = self.value.expose().as_bytes();
        expected.ct_eq(candidate.trim().as_bytes()).into()
    }

    /// True when any of the accepted places carries the key.
    pub fn accepts(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        let mut ok = false;
        for name in KEY_HEADERS {
            for value in headers.get_all(name) {
                let Ok(v) = value.to_str() else { continue };
                let v = if name == "authorization" {
                    match strip_bearer(v) {
                        Some(t) => t,
                        None => continue,
                    }
                } else {
                    v
                };
                // No early return: every candidate is compared.
                ok |= self.matches(v);
            }
        }
        for (k, v) in query_pairs(query.unwrap_or("")) {
            if k == KEY_PARAM {
                ok |= self.matches(&v);
            }
        }
        ok
    }
}

fn strip_bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

/// `k=v` pairs of a query string, percent-decoded (`+` as space).
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The query without the `key` parameter (`None` when nothing is left).
pub fn strip_key_param(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !query_pairs(p).any(|(k, _)| k == KEY_PARAM))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The key in the text of a key file (surrounding whitespace ignored): exactly 64 hex digits,
/// else `None`. The one rule for what a gateway key is; `kiln agents` checks key files with it.
pub fn parse_key(text: &str) -> Option<Secret> {
    let t = text.trim();
    let valid = t.len() == KEY_BYTES * 2 && t.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| Secret::new(t.to_owned()))
}

/// The key in `path`, if the file exists and holds one.
fn read_key(path: &Path) -> io::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = parse_key(&text);
            if key.is_none() {
                tracing::warn!(path = %path.display(), "the gateway key file does not hold a key; replacing it");
            }
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".kiln");
        let a = LocalKey::load_or_create(&state).unwrap();
        assert_eq!(a.secret().expose().len(), 64);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(a.path()), 0o600);
        let b = LocalKey::load_or_create(&state).unwrap();
        assert_eq!(a.secret(), b.secret());
        assert!(!format!("{a:?}").contains(a.secret().expose()));

        std::fs::set_permissions(a.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = LocalKey::load_or_create(&state).unwrap();
        assert_eq!(c.secret(), a.secret());
        assert_eq!(mode(a.path()), 0o600);

        std::fs::write(a.path(), "garbage").unwrap();
        let d = LocalKey::load_or_create(&state).unwrap();
        assert_ne!(d.secret(), a.secret());
        assert_eq!(mode(d.path()), 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn every_accepted_form() {
        let key = LocalKey::from_value(Secret::new("k".repeat(64)), PathBuf::from("/x"));
        let good = "k".repeat(64);
        let with = |name: &'static str, value: String| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(&value).unwrap());
            h
        };
        assert!(key.accepts(&with("authorization", format!("Bearer {good}")), None));
        assert!(key.accepts(&with("authorization", format!("bearer {good}")), None));
        assert!(key.accepts(&with("x-api-key", good.clone()), None));
        assert!(key.accepts(&with("x-goog-api-key", good.clone()), None));
        assert!(key.accepts(&HeaderMap::new(), Some(&format!("alt=sse&key={good}"))));
        assert!(!key.accepts(&HeaderMap::new(), None));
        assert!(!key.accepts(&with("authorization", good.clone()), None));
        assert!(!key.accepts(&with("authorization", "Bearer nope".into()), None));
        assert!(!key.accepts(&with("x-api-key", "k".repeat(63)), None));
        assert!(!key.accepts(&HeaderMap::new(), Some("key=wrong&alt=sse")));
        // A wrong value in one place and the right one in another is fine (Gemini sends two).
        let mut both = with("authorization", "Bearer wrong".into());
        both.insert("x-goog-api-key", HeaderValue::from_str(&good).unwrap());
        assert!(key.accepts(&both, None));
    }

    #[test]
    fn key_param_is_stripped() {
        assert_eq!(
            strip_key_param(Some("alt=sse&key=abc")).as_deref(),
            Some("alt=sse")
        );
        assert_eq!(strip_key_param(Some("key=abc")), None);
        assert_eq!(
            strip_key_param(Some("k%65y=abc&beta=true")).as_deref(),
            Some("beta=true")
        );
        assert_eq!(strip_key_param(None), None);
        let decoded: Vec<_> = query_pairs("a%2Fb+c%zz%=1&&x").collect();
        assert_eq!(
            decoded,
            [
                ("a/b c%zz%".into(), "1".into()),
                ("x".into(), String::new())
            ]
        );
    }
}
