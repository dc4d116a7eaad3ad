//! Local-mode security of `kiln serve` (design.md §5): the access key, the same-origin rule,
//! security headers, bad input, and uploads that cannot escape `~/uploads`.

use crate::support::{KEY, TestServer, WAIT};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn error_json(r: reqwest::Response) -> Value {
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].is_string() && v["message"].is_string(),
        "error shape: {v}"
    );
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_key_is_401_and_health_is_public() {
    let srv = TestServer::start().await;
    let health = srv.http.get(srv.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(!body.to_string().contains(KEY));

    for path in ["/api/status", "/api/sessions", "/api/login-links"] {
        let r = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without a key");
        let r = srv
            .http
            .get(srv.url(path))
            .bearer_auth("wrong-key-0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong key"
        );
        let text = r.text().await.unwrap();
        assert!(
            !text.contains(KEY),
            "the real key never appears in a refusal"
        );
    }
    let r = srv.http.get(srv.url("/api/sessions")).send().await.unwrap();
    error_json(r).await;
    let r = srv
        .http
        .get(srv.url("/api/sessions?key=nope-nope-nope-nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = srv
        .http
        .get(srv.url("/api/sessions"))
        .header("cookie", "kiln_key=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The UI's static files are public (they hold nothing secret): the page signs in itself.
    let page = srv.http.get(srv.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(!page.text().await.unwrap().contains(KEY));
    // A WebSocket upgrade without the key is refused before any session is touched.
    let id = srv.create_id().await;
    let req = crate::support::ws_request_with(srv.addr, &id, None, &[]);
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("401"), "refused with 401: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_code_signs_in_and_no_cookie_is_ever_set() {
    let srv = TestServer::start().await;
    // A program with the key asks for a one-time link (kiln serve prints the first one).
    let link: Value = srv
        .req(Method::POST, "/api/login-links")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = link["code"].as_str().unwrap().to_owned();
    assert_eq!(link["path"], format!("/#code={code}"));
    assert!(!link.to_string().contains(KEY));
    // The page trades it for the key, once.
    let login = |code: String| {
        srv.http
            .post(srv.url("/api/login"))
            .header("origin", format!("http://{}", srv.addr))
            .json(&json!({ "code": code }))
            .send()
    };
    let r = login(code.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none(), "no cookie, ever");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["key"], KEY);
    let again = login(code).await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "a code works once"
    );
    let v = error_json(again).await;
    assert!(!v.to_string().contains(KEY));
    let r = login("0".repeat(64)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A sign-in from another site is refused like any state change.
    let r = srv
        .req(Method::POST, "/api/login-links")
        .send()
        .await
        .unwrap();
    let code = r.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = srv
        .http
        .post(srv.url("/api/login"))
        .header("origin", "http://127.0.0.1:1")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Neither the page nor the old `?key=` URL nor a cookie sets or accepts a cookie.
    let page = srv
        .http
        .get(srv.url(&format!("/?key={KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get("set-cookie").is_none());
    for (name, value) in [("cookie", format!("kiln_key={KEY}"))] {
        let r = srv
            .http
            .get(srv.url("/api/sessions"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a cookie is no key");
    }
    let r = srv
        .http
        .get(srv.url(&format!("/api/sessions?key={KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a query is no key");
    // A WebSocket carries the key as a subprotocol; kiln answers with `kiln`, not the key.
    let id = srv.create_id().await;
    let req = crate::support::ws_request_with(
        srv.addr,
        &id,
        None,
        &[("sec-websocket-protocol", &format!("kiln, kiln.key.{KEY}"))],
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "kiln");
    let req = crate::support::ws_request_with(
        srv.addr,
        &id,
        None,
        &[(
            "sec-websocket-protocol",
            "kiln, kiln.key.wrong-key-0123456789",
        )],
    );
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("401"), "refused with 401: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origin_is_403_on_post_and_websocket() {
    let srv = TestServer::start().await;
    let r = srv
        .req(Method::POST, "/api/sessions")
        .header("origin", "https://evil.example")
        .json(&json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    error_json(r).await;
    let r = srv
        .req(Method::POST, "/api/sessions")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(srv.session_count().await, 0, "nothing was created");

    // The same request from the page's own origin works.
    let r = srv
        .req(Method::POST, "/api/sessions")
        .header("origin", format!("http://{}", srv.addr))
        .json(&json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut req = crate::support::ws_request(srv.addr, &id, None);
    req.headers_mut()
        .insert("origin", HeaderValue::from_static("https://evil.example"));
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(
        err.to_string().contains("403"),
        "cross-origin upgrade refused: {err}"
    );
    let mut req = crate::support::ws_request(srv.addr, &id, None);
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{}", srv.addr)).unwrap(),
    );
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    drop(ws);

    // DELETE from a foreign origin does not end the session.
    let r = srv
        .req(Method::DELETE, &format!("/api/sessions/{id}"))
        .header("origin", "http://127.0.0.1.evil:1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(srv.session(&id).await["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_a_csp_without_unsafe_inline() {
    let srv = TestServer::start().await;
    for path in ["/", "/api/status", "/health", "/nope"] {
        let r = srv.req(Method::GET, path).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert!(h.contains_key("x-frame-options"), "{path}");
    }
    let r = srv.req(Method::GET, "/api/status").send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_a_400_with_a_message_and_changes_nothing() {
    let srv = TestServer::start().await;
    let cases: Vec<(&str, &str)> = vec![
        ("/api/sessions", "{not json"),
        ("/api/sessions", "[1,2,3]"),
        ("/api/sessions", r#"{"cols": "eighty", "rows": 24}"#),
        ("/api/sessions", r#"{"cols": 0, "rows": 24}"#),
        ("/api/sessions", r#"{"cols": 80, "rows": 100000}"#),
        ("/api/sessions", r#"{"cols": 80, "rows": 24, "label": 7}"#),
    ];
    for (path, body) in cases {
        let r = srv
            .req(Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let v = error_json(r).await;
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    // A body far over the limit is refused, not buffered.
    let huge = format!(
        r#"{{"cols":80,"rows":24,"label":"{}"}}"#,
        "x".repeat(8 << 20)
    );
    match srv
        .req(Method::POST, "/api/sessions")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        // The server may answer and close while the client is still sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(srv.session_count().await, 0, "nothing was created");

    // Bad ids, bad offsets, bad resize bodies.
    let r = srv
        .req(Method::GET, "/api/sessions/../../etc/passwd")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let id = srv.create_id().await;
    let r = srv
        .req(
            Method::GET,
            &format!("/api/sessions/{id}/output?offset=abc"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    error_json(r).await;
    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/resize"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(
        r.status() == StatusCode::BAD_REQUEST || r.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.status()
    );
    let r = srv
        .req(Method::GET, "/api/sessions/s-0000000000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    error_json(r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_sanitised_unique_and_limited() {
    let srv = TestServer::with(|o| o.upload_limit = 1 << 20).await;
    let uploads = srv.home.path().join("uploads");
    let up = |name: &str, body: Vec<u8>| {
        srv.req(
            Method::POST,
            &format!("/api/uploads?name={}", urlencode(name)),
        )
        .body(body)
        .send()
    };
    let r = up("../../etc/passwd", b"one".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let p1 = std::path::PathBuf::from(v["path"].as_str().unwrap());
    assert_eq!(p1, uploads.join("passwd"));
    assert_eq!(std::fs::read(&p1).unwrap(), b"one");
    assert_eq!(v["size"], 3);

    let r = up("passwd", b"two".to_vec()).await.unwrap();
    let p2 = std::path::PathBuf::from(r.json::<Value>().await.unwrap()["path"].as_str().unwrap());
    assert_eq!(p2, uploads.join("passwd-1"), "never over an existing file");
    assert_eq!(std::fs::read(&p1).unwrap(), b"one");

    let r = up("..", b"x".to_vec()).await.unwrap();
    let p3 = std::path::PathBuf::from(r.json::<Value>().await.unwrap()["path"].as_str().unwrap());
    assert_eq!(p3.parent().unwrap(), uploads);

    // Over the limit: 413, and no file is left behind.
    let before = std::fs::read_dir(&uploads).unwrap().count();
    let r = up("big.bin", vec![7u8; (1 << 20) + 1]).await;
    match r {
        Ok(r) => {
            assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
            error_json(r).await;
        }
        // The server may close the connection while the client is still sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(
        std::fs::read_dir(&uploads).unwrap().count(),
        before,
        "no partial file left"
    );
    assert!(!uploads.join("big.bin").exists());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads from `tcp` until the server closes the connection (EOF or reset), waiting up to
/// [`WAIT`]; returns what arrived. Panics when the connection is still open after that.
async fn until_closed(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open: {}",
        String::from_utf8_lossy(&got)
    );
    String::from_utf8_lossy(&got).into_owned()
}

async fn raw(srv: &TestServer, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    tcp
}

/// Issue 8, finding 6: half-sent heads, idle keep-alive connections and stalled bodies are
/// closed; long-polls longer than those timeouts and WebSockets keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_idle_connections_and_stalled_bodies_are_closed() {
    let srv = TestServer::with(|o| {
        o.limits.header_timeout = std::time::Duration::from_secs(1);
        o.limits.body_idle_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    // A head that never ends.
    let mut tcp = raw(&srv, b"GET /health HTTP/1.1\r\nHost: kiln\r\nX-Slow: 1").await;
    let answer = until_closed(&mut tcp).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A kept-alive connection that sends nothing after its answer.
    let mut tcp = raw(&srv, b"GET /health HTTP/1.1\r\nHost: kiln\r\n\r\n").await;
    let answer = until_closed(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A body that stops half-way: the request fails and the connection closes.
    let head = format!(
        "POST /api/sessions HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"cols\": 80,"
    );
    let mut tcp = raw(&srv, head.as_bytes()).await;
    let answer = until_closed(&mut tcp).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    assert_eq!(srv.session_count().await, 0, "nothing was created");

    // A WebSocket and a long-poll outlast both timeouts.
    let id = srv.create_id().await;
    let mut ws = srv.ws(&id, Some(0)).await;
    ws.read_until(crate::support::PROMPT).await;
    let (_, h, _) = srv.poll(&id, Some(0), 0).await;
    let end: u64 = h["x-kiln-next-offset"].to_str().unwrap().parse().unwrap();
    let (status, _, _) = srv.poll(&id, Some(end), 3).await;
    assert_eq!(status, 204, "a 3 s long-poll is answered, not cut");
    ws.send(b"echo still-$((40+2))\r").await;
    ws.read_until("still-42").await;
}

/// Issue 8, finding 6: at the connection cap one more connection is answered 503 at once and
/// closed; a freed slot is usable again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_refuses_fast() {
    let srv = TestServer::with(|o| o.limits.max_connections = 2).await;
    // One slot: reqwest's kept-alive connection; the other: a connection that sends nothing.
    assert_eq!(srv.session_count().await, 0);
    let first = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut over = raw(&srv, b"GET /health HTTP/1.1\r\nHost: kiln\r\n\r\n").await;
    let answer = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many open connections"), "{answer}");
    drop(first);
    // Slots come back as connections close.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut tcp = raw(
            &srv,
            b"GET /health HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n",
        )
        .await;
        let answer = until_closed(&mut tcp).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no slot came back: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
