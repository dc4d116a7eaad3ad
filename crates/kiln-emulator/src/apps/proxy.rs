//! The reverse proxy in front of each app (reference §5.4): one loopback listener per app, whose
//! address is the app's `url`. It signs the browser in as an emulator user (the
//! `kiln_emulator_session` cookie from `/__emulator/login`, or an OAuth bearer token, never a
//! PAT), refuses principals without `CAN_USE`, removes every incoming `X-Forwarded-*`,
//! `X-Real-Ip` and `X-Request-Id`, adds the identity headers, and forwards the request (WebSocket
//! upgrades included, both directions) to the app's process. `/logz` shows the app's logs to
//! principals with `CAN_MANAGE`, as on Databricks.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use super::acl;
use super::runtime::ProxyHandle;
use crate::auth::oauth_key;
use crate::ids;
use crate::principals::Principal;
use crate::world::Shared;

/// Name of the cookie that carries an emulator browser session.
pub const SESSION_COOKIE: &str = "kiln_emulator_session";

struct ProxyState {
    shared: Arc<Shared>,
    app: String,
    url: String,
    cancel: CancellationToken,
}

/// Opens the app's proxy on a free loopback port (once); returns its URL.
pub fn open(shared: &Arc<Shared>, app: &str) -> io::Result<String> {
    if let Some(url) = shared.runtime.proxy_url(app) {
        return Ok(url);
    }
    let std_listener = std::net::TcpListener::bind(SocketAddr::new(shared.runtime.bind, 0))?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let url = format!("http://{}", listener.local_addr()?);
    let cancel = shared.runtime.cancel.child_token();
    let state = Arc::new(ProxyState {
        shared: shared.clone(),
        app: app.to_string(),
        url: url.clone(),
        cancel: cancel.clone(),
    });
    let router = Router::new().fallback(handle).with_state(state);
    let stop = cancel.clone();
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "app proxy stopped");
        }
    });
    shared.runtime.set_proxy(
        app,
        ProxyHandle {
            url: url.clone(),
            cancel,
        },
    );
    tracing::info!(app, url = %url, "app proxy listening");
    Ok(url)
}

/// A page with a status (the proxy's own answers, never the app's).
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><title>{t}</title></head><body><h1>{t}</h1><p>{x}</p></body></html>\n",
        t = escape(title),
        x = escape(text)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Who is at the browser (and whether a bearer token said so): `Ok(None)` when nobody signed
/// in, `Err(reason)` for a credential the proxy refuses (401).
fn identify(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<Option<(Principal, bool)>, &'static str> {
    let w = shared.world();
    if let Some(sid) = session_cookie(headers)
        && let Some(p) = w
            .app_sessions
            .get(&ids::token_id(&sid))
            .and_then(|id| w.principals.get(id))
    {
        return Ok(Some((p.clone(), false)));
    }
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return Ok(None);
    };
    if w.pats.contains_key(&ids::token_id(token)) {
        return Err("Databricks Apps accept OAuth access tokens, not personal access tokens.");
    }
    let now = shared.now_ms();
    w.oauth
        .get(&oauth_key(token))
        .filter(|t| now < t.expiry_ms)
        .and_then(|t| w.principals.get(&t.owner))
        .map(|p| Some((p.clone(), true)))
        .ok_or("Invalid access token.")
}

/// The emulator session id from the `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Removes the emulator's session cookie from what the app sees.
fn strip_session_cookie(headers: &mut HeaderMap) {
    let rest: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| !kv.is_empty() && !kv.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !rest.is_empty()
        && let Ok(v) = HeaderValue::from_str(&rest.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

async fn handle(
    State(st): State<Arc<ProxyState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let (who, by_token) = match identify(&st.shared, req.headers()) {
        Ok(Some(x)) => x,
        Ok(None) => return sign_in(&st, &req),
        Err(why) => return page(StatusCode::UNAUTHORIZED, "Unauthorized", why),
    };
    let level = {
        let w = st.shared.world();
        w.apps.by_name.get(&st.app).map(|a| a.level_of(&who))
    };
    if req.uri().path() == "/logz" && level == Some(Some(acl::Level::CanManage)) {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            st.shared.runtime.logs(&st.app).unwrap_or_default(),
        )
            .into_response();
    }
    match level.map(|l| l.is_some()) {
        None => {
            return page(
                StatusCode::NOT_FOUND,
                "App Not Found",
                &format!("App {} does not exist or is deleted.", st.app),
            );
        }
        Some(false) => {
            tracing::info!(app = %st.app, user = %who.user_name, "proxy refused: no CAN_USE");
            return page(
                StatusCode::FORBIDDEN,
                "Access denied",
                &format!(
                    "User {} does not have CAN_USE permission on app {}. Ask the app's owner for access.",
                    who.user_name, st.app
                ),
            );
        }
        Some(true) => {}
    }
    let Some(port) = st.shared.runtime.upstream(&st.app) else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "App Not Available",
            &format!("App {} is not running.", st.app),
        );
    };
    let headers = req.headers_mut();
    let host = headers
        .get(header::HOST)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("localhost"));
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            n.starts_with("x-forwarded-")
                || n == "x-real-ip"
                || n == "x-request-id"
                || n == "forwarded"
        })
        .cloned()
        .collect();
    for n in forged {
        headers.remove(n);
    }
    strip_session_cookie(headers);
    if by_token {
        headers.remove(header::AUTHORIZATION);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-forwarded-email", &who.user_name);
    set(
        "x-forwarded-user",
        &format!("{}@{}", who.id, st.shared.workspace_id),
    );
    set("x-forwarded-preferred-username", &who.display_name);
    set("x-real-ip", &peer.ip().to_string());
    set("x-request-id", &ids::uuid4());
    headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    match forward(req, port, st.cancel.clone()).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(app = %st.app, error = %e, "proxy could not reach the app");
            page(
                StatusCode::BAD_GATEWAY,
                "App Not Available",
                &format!("App {} did not answer.", st.app),
            )
        }
    }
}

/// No session: browsers go to the emulator's sign-in page, other clients get 401.
fn sign_in(st: &ProxyState, req: &Request) -> Response {
    let html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if html && (req.method() == Method::GET || req.method() == Method::HEAD) {
        let next = format!(
            "{}{}",
            st.url,
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let to = format!(
            "{}/__emulator/login?next={}",
            st.shared.base_url,
            encode(&next)
        );
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    page(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Sign in first: open the emulator's /__emulator/login page, or send an OAuth bearer token.",
    )
}

/// Hop-by-hop headers that do not cross a proxy (`connection`/`upgrade` stay for upgrades).
const HOP_BY_HOP: [&str; 5] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    for h in HOP_BY_HOP {
        headers.remove(h);
    }
    if !keep_upgrade {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

/// Sends the request to `127.0.0.1:port` on a fresh connection; on `101 Switching Protocols`
/// joins the two upgraded connections until either side closes or the emulator stops.
async fn forward(
    mut req: Request,
    port: u16,
    cancel: CancellationToken,
) -> anyhow::Result<Response> {
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = if upgrade {
        req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };
    strip_hop_by_hop(req.headers_mut(), upgrade);
    let path: Uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .parse()?;
    *req.uri_mut() = path;
    let stream =
        tokio::net::TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut resp = sender.send_request(req).await?;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream = hyper::upgrade::on(&mut resp);
        if let Some(client) = client_upgrade {
            tokio::spawn(async move {
                let (Ok(c), Ok(u)) = tokio::join!(client, upstream) else {
                    return;
                };
                let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut c, &mut u) => {}
                    _ = cancel.cancelled() => {}
                }
            });
        }
        return Ok(resp.map(|_| Body::empty()));
    }
    strip_hop_by_hop(resp.headers_mut(), false);
    Ok(resp.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_encoding() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kiln_emulator_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        strip_session_cookie(&mut h);
        assert_eq!(
            h.get(header::COOKIE).map(|v| v.to_str().ok()),
            Some(Some("a=1; b=2"))
        );
        let mut only = HeaderMap::new();
        only.insert(
            header::COOKIE,
            HeaderValue::from_static("kiln_emulator_session=x"),
        );
        strip_session_cookie(&mut only);
        assert!(only.get(header::COOKIE).is_none());
        assert_eq!(encode("http://a/b?c=d e"), "http%3A%2F%2Fa%2Fb%3Fc%3Dd%20e");
        assert_eq!(escape("<a&\">"), "&lt;a&amp;&quot;&gt;");
    }
}
