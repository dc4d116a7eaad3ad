//! Tests of error-body parsing, status / code mapping and `Retry-After`.

use super::*;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use std::time::SystemTime;

fn err(status: u16, body: &str) -> Error {
    let status = StatusCode::from_u16(status).unwrap();
    error_from_response(status, &HeaderMap::new(), body.as_bytes(), "GET /x")
}

#[test]
fn standard_body_with_details() {
    let e = err(
        404,
        r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Path (/a) doesn't exist.",
           "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R1","domain":"d"},
                      {"@type":"type.googleapis.com/google.rpc.RequestInfo","request_id":"rq-1"}],
           "extra":{"ignored":true}}"#,
    );
    let Error::NotFound(api) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api.error_code.as_deref(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert_eq!(api.message, "Path (/a) doesn't exist.");
    assert_eq!(api.reason.as_deref(), Some("R1"));
    assert_eq!(api.request_id.as_deref(), Some("rq-1"));
    assert!(e.to_string().contains("doesn't exist"), "{e}");
    assert!(e.is_not_found());
}

#[test]
fn numeric_error_code() {
    let e = err(
        403,
        r#"{"error_code": 403, "message": "Invalid access token."}"#,
    );
    let Error::PermissionDenied(api) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api.error_code.as_deref(), Some("403"));
    assert_eq!(api.message, "Invalid access token.");
    assert!(e.is_auth_failure());
    assert_eq!(
        e.to_string(),
        "permission denied: Invalid access token. (HTTP 403, GET /x)"
    );
    let e = err(
        401,
        r#"{"error_code": 401, "message": "Credential was not sent"}"#,
    );
    assert!(matches!(e, Error::Unauthenticated(_)));
}

#[test]
fn code_takes_precedence_over_status() {
    assert!(matches!(
        err(
            400,
            r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"x"}"#
        ),
        Error::AlreadyExists(_)
    ));
    assert!(matches!(
        err(
            409,
            r#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"x"}"#
        ),
        Error::AlreadyExists(_)
    ));
    assert!(matches!(
        err(400, r#"{"error_code":"INVALID_STATE","message":"x"}"#),
        Error::InvalidState(_)
    ));
    assert!(matches!(
        err(400, r#"{"error_code":"DIRECTORY_NOT_EMPTY","message":"x"}"#),
        Error::InvalidParameter(_)
    ));
    assert!(matches!(
        err(409, r#"{"error_code":"ABORTED","message":"x"}"#),
        Error::ResourceConflict(_)
    ));
    assert!(matches!(
        err(500, r#"{"error_code":"INTERNAL_ERROR","message":"boom"}"#),
        Error::Other(_)
    ));
}

#[test]
fn missing_cluster_is_not_found() {
    let e = err(
        400,
        r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Cluster 0101-x does not exist"}"#,
    );
    assert!(e.is_not_found(), "{e:?}");
    let e = err(
        400,
        r#"{"error_code":"INVALID_PARAMETER_VALUE","message":"bad spark_version"}"#,
    );
    assert!(matches!(e, Error::InvalidParameter(_)));
}

#[test]
fn notebook_exists_with_empty_code() {
    let e = err(
        400,
        r#"{"error_code":"","message":"Path (/Users/a/nb) already exists."}"#,
    );
    assert!(e.is_already_exists(), "{e:?}");
}

#[test]
fn scim_body() {
    let e = err(
        404,
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"User not found","status":"404"}"#,
    );
    let Error::NotFound(api) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api.error_code.as_deref(), Some("SCIM_404"));
    assert_eq!(api.message, "User not found");
}

#[test]
fn api_12_and_oauth_bodies() {
    let e = err(400, r#"{"error": "something broke"}"#);
    assert_eq!(e.api_error().unwrap().message, "something broke");
    let e = err(
        401,
        r#"{"error":"invalid_client","error_description":"Client authentication failed","error_id":"u"}"#,
    );
    let api = e.api_error().unwrap();
    assert_eq!(api.error_code.as_deref(), Some("invalid_client"));
    assert_eq!(api.message, "Client authentication failed");
    assert!(matches!(e, Error::Unauthenticated(_)));
}

#[test]
fn text_html_and_empty_bodies() {
    let e = err(400, "INVALID_PARAMETER_VALUE: bad things");
    assert_eq!(e.error_code(), Some("INVALID_PARAMETER_VALUE"));
    assert_eq!(e.api_error().unwrap().message, "bad things");

    let e = err(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body><pre>upstream died</pre></body></html>",
    );
    assert_eq!(e.error_code(), Some("BAD_GATEWAY"));
    assert_eq!(e.api_error().unwrap().message, "upstream died");

    let e = err(500, "");
    assert_eq!(e.error_code(), Some("INTERNAL_SERVER_ERROR"));
    assert_eq!(e.api_error().unwrap().message, "Internal Server Error");

    let e = err(500, "plain words, no code");
    assert_eq!(e.error_code(), None);
    assert_eq!(e.api_error().unwrap().message, "plain words, no code");

    let e = err(418, &"x".repeat(5000));
    assert!(e.api_error().unwrap().message.chars().count() <= MAX_MESSAGE_CHARS + 1);
}

#[test]
fn rate_limit_and_unavailable_with_retry_after() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let e = error_from_response(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        br#"{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}"#,
        "GET /x",
    );
    let Error::RateLimited { retry_after, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(7)));

    let e = error_from_response(StatusCode::SERVICE_UNAVAILABLE, &headers, b"", "GET /x");
    assert!(matches!(
        e,
        Error::Unavailable {
            retry_after: Some(_),
            ..
        }
    ));

    // 429 without Retry-After, and a quota error that must not be retried.
    assert!(matches!(
        err(429, "{}"),
        Error::RateLimited {
            retry_after: None,
            ..
        }
    ));
    assert!(matches!(
        err(
            429,
            r#"{"error_code":"QUOTA_EXCEEDED","message":"600 tokens"}"#
        ),
        Error::Other(_)
    ));
}

#[test]
fn retry_after_forms() {
    let mut h = HeaderMap::new();
    assert_eq!(parse_retry_after(&h), None);
    h.insert(RETRY_AFTER, HeaderValue::from_static("garbage"));
    assert_eq!(parse_retry_after(&h), None);
    h.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
    assert_eq!(
        parse_retry_after(&h),
        Some(Duration::from_secs(MAX_RETRY_AFTER_SECS))
    );
    let future = SystemTime::now() + Duration::from_secs(30);
    let date = httpdate::fmt_http_date(future);
    h.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
    let d = parse_retry_after(&h).unwrap();
    assert!(
        d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
        "{d:?}"
    );
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
    h.insert(RETRY_AFTER, HeaderValue::from_str(&past).unwrap());
    assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
}

#[test]
fn reason_phrase_header_fills_an_empty_message() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-databricks-reason-phrase",
        HeaderValue::from_static("Workspace is being set up"),
    );
    let e = error_from_response(StatusCode::BAD_REQUEST, &headers, b"", "GET /x");
    assert_eq!(e.api_error().unwrap().message, "Workspace is being set up");
}
