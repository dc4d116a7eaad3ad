//! Property-based tests (proptest, stable Rust) of every parser that takes outside input: query
//! offsets, upload names, gateway path mapping, the SSE splitter, the config-file writers of every
//! agent format (JSON, TOML, YAML, INI, dotenv, marked blocks) and `.databrickscfg` parsing.
//! Properties: garbage gives an error, never a panic; merges never lose a user's key and a
//! second merge changes nothing; the splitter's events do not depend on how bytes are chunked;
//! nothing but a model path leaves the gateway. 256 cases per property by default; the longer
//! run of `docs/security.md` sets `PROPTEST_CASES`. The terminal WebSocket's client frames are fuzzed
//! against a real server in `fuzz/ws.rs` (the module `ws` below).
#![allow(clippy::unwrap_used)]

use axum::http::Method;
use kiln::agents::formats::json::JsonEdit;
use kiln::agents::formats::toml::TomlEdit;
use kiln::agents::formats::yaml::YamlEdit;
use kiln::agents::formats::{block, dotenv, json, toml, yaml};
use kiln::gateway::paths::{Route, classify, valid_model_name};
use kiln::gateway::sse::Splitter;
use kiln::server::{parse_offset, sanitise};
use kiln_databricks::config::{Ini, remove_section, set_keys};
use proptest::prelude::*;

/// User keys: lowercase words that never collide with kiln's `kiln_*` keys.
fn user_key() -> impl Strategy<Value = String> {
    "[a-j][a-z0-9_]{0,8}"
}

/// Plain values (no quotes, newlines or comment characters).
fn plain_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9./:_-]{0,16}"
}

/// Values kiln writes (never empty).
fn kiln_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9./:_-]{1,16}"
}

proptest! {
    #[test]
    fn offsets_parse_or_fail_cleanly(s in "\\PC{0,24}") {
        match parse_offset(Some(&s)) {
            Ok(Some(n)) => prop_assert_eq!(s.parse::<u64>().ok(), Some(n)),
            Ok(None) => prop_assert!(s.is_empty()),
            Err(_) => prop_assert!(s.parse::<u64>().is_err()),
        }
    }

    #[test]
    fn offsets_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_offset(Some(&n.to_string())).unwrap(), Some(n));
    }

    #[test]
    fn upload_names_stay_inside_the_directory(name in "\\PC{0,300}|[./\\\\a-z\\x00-\\x1f]{0,40}") {
        let s = sanitise(&name);
        prop_assert!(!s.is_empty());
        prop_assert!(!s.contains('/') && !s.contains('\\'), "{s:?}");
        prop_assert!(!s.chars().any(char::is_control), "{s:?}");
        prop_assert!(!s.starts_with('.') && !s.starts_with('-'), "{s:?}");
        prop_assert!(s.chars().count() <= 120);
        prop_assert!(s != "." && s != "..");
    }

    #[test]
    fn only_model_paths_leave_the_gateway(path in "/(claude|codex|gemini|opencode|hermes|x)(/[a-zA-Z0-9.:%\\\\_-]{0,12}){0,7}") {
        if let Route::Model(call) = classify(&Method::POST, &path) {
            let shown = call.upstream.display();
            let allowed = ["/v1/messages", "/v1/messages/count_tokens", "/responses", "/chat/completions"];
            let gemini = shown.strip_prefix("/v1beta/models/").and_then(|m| {
                m.strip_suffix(":generateContent").or_else(|| m.strip_suffix(":streamGenerateContent"))
            });
            prop_assert!(
                allowed.contains(&shown.as_str()) || gemini.is_some_and(valid_model_name),
                "{path} -> {shown}"
            );
            for seg in call.upstream.segments() {
                prop_assert!(!seg.contains('/') && !seg.contains('\\') && seg != ".." && seg != ".", "{seg:?}");
            }
        }
    }

    #[test]
    fn any_path_and_method_classify_without_panic(path in "\\PC{0,80}", post in any::<bool>()) {
        let m = if post { Method::POST } else { Method::GET };
        let _ = classify(&m, &path);
    }

    #[test]
    fn sse_events_do_not_depend_on_chunking(
        body in proptest::collection::vec(prop_oneof![
            Just(b"data: x\n".to_vec()), Just(b"\n".to_vec()), Just(b"\r\n".to_vec()),
            Just(b"\r".to_vec()), Just(b"event: e\r\n".to_vec()), Just(b"data: {\"a\":1}\n\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ], 0..40),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let bytes: Vec<u8> = body.concat();
        let mut whole = Splitter::new();
        let mut expected: Vec<Vec<u8>> = whole.push(&bytes).into_iter().map(|e| e.raw.to_vec()).collect();
        let rest = whole.take_pending().to_vec();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut split = Splitter::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain(std::iter::once(bytes.len())) {
            got.extend(split.push(&bytes[from..c]).into_iter().map(|e| e.raw.to_vec()));
            from = c;
        }
        let rest2 = split.take_pending().to_vec();
        // Nothing lost or repeated either way.
        let joined: Vec<u8> = got.iter().flatten().copied().chain(rest2.iter().copied()).collect();
        prop_assert_eq!(&joined, &bytes);
        expected.push(rest);
        got.push(rest2);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn dotenv_merge_keeps_user_lines_and_is_idempotent(
        user in proptest::collection::btree_map(user_key().prop_map(|k| k.to_uppercase()), plain_value(), 0..6),
        comment in "(# [a-z ]{0,10})?",
        value in kiln_value(),
    ) {
        let mut src = format!("{comment}\n");
        for (k, v) in &user {
            src.push_str(&format!("{k}={v}\n"));
        }
        let edits = [("KILN_GATEWAY_KEY", Some(value.as_str()))];
        let once = dotenv::merge(Some(src.as_bytes()), &edits).unwrap().unwrap_or(src.clone().into_bytes());
        let text = String::from_utf8(once.clone()).unwrap();
        for (k, v) in &user {
            let line = format!("{k}={v}");
            prop_assert!(text.lines().any(|l| l == line), "{line} lost: {text}");
        }
        let kiln_line = format!("KILN_GATEWAY_KEY={value}");
        prop_assert!(text.lines().any(|l| l == kiln_line), "{}", text);
        prop_assert_eq!(dotenv::merge(Some(&once), &edits).unwrap(), None);
    }

    #[test]
    fn json_merge_keeps_user_keys_and_garbage_is_an_error(
        user in proptest::collection::btree_map(user_key(), plain_value(), 0..6),
        value in kiln_value(),
        garbage in "\\PC{0,40}",
    ) {
        let doc: serde_json::Map<String, serde_json::Value> =
            user.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect();
        let src = serde_json::to_vec_pretty(&doc).unwrap();
        let edits = [JsonEdit::set(&["kiln_env", "BASE_URL"], value.clone())];
        let once = json::merge(Some(&src), &edits).unwrap().unwrap();
        let merged: serde_json::Value = serde_json::from_slice(&once).unwrap();
        for (k, v) in &user {
            prop_assert_eq!(&merged[k], &serde_json::Value::from(v.clone()));
        }
        prop_assert_eq!(&merged["kiln_env"]["BASE_URL"], &serde_json::Value::from(value));
        prop_assert_eq!(json::merge(Some(&once), &edits).unwrap(), None);
        if serde_json::from_str::<serde_json::Value>(&garbage).is_err() && !garbage.trim().is_empty() {
            prop_assert!(json::merge(Some(garbage.as_bytes()), &edits).is_err());
        }
    }

    #[test]
    fn toml_merge_keeps_user_keys_and_garbage_is_an_error(
        user in proptest::collection::btree_map(user_key(), plain_value(), 0..6),
        value in kiln_value(),
        garbage in "\\PC{0,40}",
    ) {
        let mut src = String::from("# mine\n");
        for (k, v) in &user {
            src.push_str(&format!("{k} = \"{v}\"\n"));
        }
        let edits = [TomlEdit::set(&["kiln_provider", "base_url"], value.as_str())];
        let once = toml::merge(Some(src.as_bytes()), &edits).unwrap().unwrap();
        let merged: toml_edit::DocumentMut = std::str::from_utf8(&once).unwrap().parse().unwrap();
        for (k, v) in &user {
            prop_assert_eq!(merged[k.as_str()].as_str(), Some(v.as_str()));
        }
        prop_assert_eq!(merged["kiln_provider"]["base_url"].as_str(), Some(value.as_str()));
        prop_assert!(std::str::from_utf8(&once).unwrap().contains("# mine\n"), "{:?}", std::str::from_utf8(&once));
        prop_assert_eq!(toml::merge(Some(&once), &edits).unwrap(), None);
        if garbage.parse::<toml_edit::DocumentMut>().is_err() {
            prop_assert!(toml::merge(Some(garbage.as_bytes()), &edits).is_err());
        }
    }

    #[test]
    fn yaml_merge_keeps_user_keys_and_never_panics(
        user in proptest::collection::btree_map(user_key(), plain_value(), 0..6),
        value in kiln_value(),
        garbage in "\\PC{0,60}",
    ) {
        let mut src = String::from("# mine\n");
        for (k, v) in &user {
            src.push_str(&format!("{k}: {}\n", yaml::quote(v)));
        }
        let edits = [YamlEdit::set("kiln_model", "base_url", value.clone())];
        let once = yaml::merge(Some(src.as_bytes()), &edits).unwrap().unwrap_or(src.clone().into_bytes());
        let text = String::from_utf8(once.clone()).unwrap();
        for (k, v) in &user {
            let line = format!("{k}: {}", yaml::quote(v));
            prop_assert!(text.lines().any(|l| l == line), "{line} lost: {text}");
        }
        let got = yaml::get(&text, "kiln_model", "base_url");
        prop_assert_eq!(got.as_deref(), Some(value.as_str()));
        prop_assert_eq!(yaml::merge(Some(&once), &edits).unwrap(), None);
        let _ = yaml::merge(Some(garbage.as_bytes()), &edits);
    }

    #[test]
    fn block_merge_keeps_user_text_and_is_idempotent(user in "([a-z #]{0,20}\n){0,6}", body in "[a-z ]{1,20}(\n[a-z ]{0,20}){0,3}") {
        let once = block::merge(Some(user.as_bytes()), &body).unwrap().unwrap_or(user.clone().into_bytes());
        let text = String::from_utf8(once.clone()).unwrap();
        for line in user.lines().filter(|l| !l.trim().is_empty()) {
            prop_assert!(text.lines().any(|l| l == line), "{line:?} lost: {text:?}");
        }
        prop_assert!(text.contains(body.trim_end()));
        prop_assert_eq!(block::merge(Some(&once), &body).unwrap(), None);
    }

    #[test]
    fn databrickscfg_parses_without_panic_and_edits_keep_other_profiles(
        garbage in "\\PC{0,120}",
        profiles in proptest::collection::btree_map("[a-j][a-z]{0,6}", proptest::collection::btree_map(user_key(), plain_value(), 1..4), 0..4),
        url in "http://127\\.0\\.0\\.1:[0-9]{1,5}/metadata/[0-9a-f]{8}",
    ) {
        let _ = Ini::parse(&garbage);
        let mut src = String::new();
        for (name, keys) in &profiles {
            src.push_str(&format!("[{name}]\n"));
            for (k, v) in keys {
                src.push_str(&format!("{k} = {v}\n"));
            }
            src.push('\n');
        }
        let edits = [("host", Some("https://h.example")), ("metadata_service_url", Some(url.as_str()))];
        let with = set_keys(&src, "kiln", &edits);
        let ini = Ini::parse(&with).unwrap();
        prop_assert_eq!(ini.section("kiln").unwrap().get("metadata_service_url"), Some(url.as_str()));
        for (name, keys) in &profiles {
            for (k, v) in keys {
                prop_assert_eq!(ini.section(name).unwrap().get(k), Some(v.as_str()));
            }
        }
        prop_assert_eq!(set_keys(&with, "kiln", &edits), with.clone());
        let removed = remove_section(&with, "kiln");
        prop_assert_eq!(removed.trim_end(), src.trim_end());
    }
}

/// What a viewer sends on a terminal WebSocket: control messages, frames on the wire, huge
/// messages, against a real server.
mod ws;
