//! Compatibility filters: small functions, each fixing one thing Databricks refuses, applied
//! only to the flavour (and model family) that needs it, and never changing a valid request.
//! A cheap scan of the raw body decides whether a filter could apply at all, so most requests
//! are forwarded without being parsed twice or re-serialized.

pub mod anthropic;
pub mod chat;
pub mod chat_response;

use super::paths::Flavour;
use serde_json::Value;

/// A request filter: its name (for logs) and the function.
type Filter = (&'static str, fn(&mut Value) -> bool);

/// Model families that need filters of their own.
fn is_claude(model: &str) -> bool {
    model.to_ascii_lowercase().contains("claude")
}

fn is_gemini(model: &str) -> bool {
    model.to_ascii_lowercase().contains("gemini")
}

/// The filters that may apply to a request of `flavour` for `model`, given its raw body.
pub fn request_filters(flavour: Flavour, model: &str, raw: &[u8]) -> Vec<Filter> {
    let text = String::from_utf8_lossy(raw);
    let has = |needle: &str| text.contains(needle);
    let mut out: Vec<Filter> = Vec::new();
    match flavour {
        Flavour::Anthropic => {
            out.push(("anthropic_empty_text", anthropic::drop_empty_text_blocks));
            if has("tool_result") {
                out.push((
                    "anthropic_orphan_tool_results",
                    anthropic::drop_orphan_tool_results,
                ));
            }
        }
        Flavour::Chat => {
            if is_claude(model) {
                out.push(("chat_empty_text", chat::fix_empty_text));
            }
            if has("tool_call_id") {
                out.push(("chat_orphan_tool_messages", chat::drop_orphan_tool_messages));
            }
            if is_gemini(model) {
                if chat::GEMINI_SCHEMA_KEYS.iter().any(|k| has(k)) {
                    out.push(("gemini_schema_keys", chat::strip_gemini_schema_keys));
                }
                if has("stream_options") {
                    out.push(("gemini_stream_options", chat::drop_gemini_stream_options));
                }
            }
        }
        Flavour::Responses | Flavour::Gemini => {}
    }
    out
}

/// Runs `filters` on `body`; returns the names of those that changed it.
pub fn apply(filters: &[Filter], body: &mut Value) -> Vec<&'static str> {
    filters
        .iter()
        .filter_map(|(name, f)| f(body).then_some(*name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_chosen_by_flavour_and_model() {
        let body = br#"{"messages":[{"role":"tool","tool_call_id":"x","content":""}],"stream_options":{},"tools":[{"function":{"parameters":{"$schema":"x"}}}]}"#;
        let names = |f: Flavour, m: &str| -> Vec<&str> {
            request_filters(f, m, body)
                .iter()
                .map(|(n, _)| *n)
                .collect()
        };
        assert_eq!(
            names(Flavour::Chat, "databricks-gpt-5"),
            ["chat_orphan_tool_messages"]
        );
        assert_eq!(
            names(Flavour::Chat, "databricks-claude-sonnet-4-5"),
            ["chat_empty_text", "chat_orphan_tool_messages"]
        );
        assert_eq!(
            names(Flavour::Chat, "databricks-gemini-2-5-pro"),
            [
                "chat_orphan_tool_messages",
                "gemini_schema_keys",
                "gemini_stream_options"
            ]
        );
        assert!(names(Flavour::Responses, "databricks-gemini-2-5-pro").is_empty());
        assert!(names(Flavour::Gemini, "databricks-gemini-2-5-pro").is_empty());
        assert_eq!(names(Flavour::Anthropic, "c"), ["anthropic_empty_text"]);
    }
}
