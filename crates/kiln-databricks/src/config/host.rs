//! Host normalisation as the SDKs do it: add `https://` when there is no scheme, keep only
//! scheme, host and a non-default port (path, trailing slash and query dropped), and lift
//! `?o=<workspace id>` / `?workspace_id=` / `?a=<account id>` from a pasted URL.

use reqwest::Url;

/// A normalised host and what its query string carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NormalizedHost {
    /// `scheme://host[:port]`, no trailing slash.
    pub host: String,
    /// From `?o=` or `?workspace_id=`.
    pub workspace_id: Option<String>,
    /// From `?a=`.
    pub account_id: Option<String>,
}

/// Normalises a host value; the error says why it is unusable.
pub(crate) fn normalize_host(raw: &str) -> Result<NormalizedHost, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty".to_owned());
    }
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    let Some(name) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("has no host name".to_owned());
    };
    let mut host = format!("{}://{}", url.scheme(), name);
    if let Some(port) = url.port() {
        host.push_str(&format!(":{port}"));
    }
    let mut workspace_id = None;
    let mut account_id = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "o" | "workspace_id" if !v.is_empty() => workspace_id = Some(v.into_owned()),
            "a" | "account_id" if !v.is_empty() => account_id = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(NormalizedHost {
        host,
        workspace_id,
        account_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(raw: &str) -> String {
        normalize_host(raw).unwrap().host
    }

    #[test]
    fn normalises_like_the_sdks() {
        assert_eq!(
            h("dbc-1.cloud.databricks.com"),
            "https://dbc-1.cloud.databricks.com"
        );
        assert_eq!(
            h("https://dbc-1.cloud.databricks.com/"),
            "https://dbc-1.cloud.databricks.com"
        );
        assert_eq!(
            h("  https://DBC-1.Cloud.Databricks.com:443/  "),
            "https://dbc-1.cloud.databricks.com"
        );
        assert_eq!(h("https://x.com/some/path?x=1#frag"), "https://x.com");
        assert_eq!(h("http://127.0.0.1:8787"), "http://127.0.0.1:8787");
        assert_eq!(h("http://127.0.0.1:80/"), "http://127.0.0.1");
        assert_eq!(h("127.0.0.1:8787"), "https://127.0.0.1:8787");
        assert_eq!(h("http://[::1]:9000/"), "http://[::1]:9000");
    }

    #[test]
    fn lifts_ids_from_the_query() {
        let n = normalize_host("https://adb-1.2.azuredatabricks.net/?o=1234567890#folder").unwrap();
        assert_eq!(n.host, "https://adb-1.2.azuredatabricks.net");
        assert_eq!(n.workspace_id.as_deref(), Some("1234567890"));
        let n = normalize_host("x.com/?workspace_id=77&a=acc").unwrap();
        assert_eq!(n.workspace_id.as_deref(), Some("77"));
        assert_eq!(n.account_id.as_deref(), Some("acc"));
    }

    #[test]
    fn rejects_unusable_values() {
        for bad in [
            "",
            "   ",
            "ftp://x.com",
            "https://user:pw@x.com",
            "https://",
            "http://exa mple.com",
        ] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
        let e = normalize_host("https://user:hunter2@x.com").unwrap_err();
        assert!(!e.contains("hunter2"));
    }
}
