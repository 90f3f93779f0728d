//! Browser origins over HTTP, as a browser's requests look: CORS headers for the origins that
//! may connect (polling requests, preflights), a readable refusal for the others, and the
//! default policy with the development keys and with production keys.

use reqwest::header::HeaderMap;
use tickroom_tests::{TestServer, test_config};

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// An Engine.IO polling handshake as a page of `origin` sends it.
async fn poll(server: &TestServer, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/socket.io/?EIO=4&transport=polling", server.url))
        .header("origin", origin)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn with_the_development_keys_any_origin_gets_cors_headers() {
    let server = TestServer::start().await;
    let r = poll(&server, "http://127.0.0.1:8080").await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(
        header(h, "access-control-allow-origin"),
        Some("http://127.0.0.1:8080")
    );
    assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
    assert!(header(h, "vary").is_some_and(|v| v.contains("Origin")));
    let body = r.text().await.unwrap();
    assert!(body.starts_with("0{"), "an Engine.IO open packet: {body}");

    // A preflight (a client sending extra headers) is answered for the same origin.
    let pre = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/socket.io/?EIO=4&transport=polling", server.url),
        )
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let h = pre.headers();
    assert_eq!(
        header(h, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        header(h, "access-control-allow-headers"),
        Some("content-type,x-custom")
    );
    assert!(header(h, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    // Native clients send no Origin and get no CORS headers.
    let native = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert!(
        native
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_refused_origin_can_read_why() {
    let mut config = test_config();
    config.net.allowed_origins = vec!["https://game.example".into()];
    let server = TestServer::start_with(config).await;
    let ok = poll(&server, "https://game.example").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(ok.headers(), "access-control-allow-origin"),
        Some("https://game.example")
    );
    let refused = poll(&server, "https://evil.example").await;
    assert_eq!(refused.status(), 403);
    // The page's own origin is echoed on the refusal, so socket.io-client's polling error
    // (`err.context.responseText`) carries the code.
    assert_eq!(
        header(refused.headers(), "access-control-allow-origin"),
        Some("https://evil.example")
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "origin_not_allowed");
    assert_eq!(server.metric("tickroom_origins_refused_total").await, 1);
}

#[tokio::test]
async fn with_production_keys_only_listed_origins_and_the_servers_own_pages_connect() {
    let config = tickroom_tests::production_config();
    let server = TestServer::start_with(config).await;
    assert_eq!(poll(&server, "http://127.0.0.1:8080").await.status(), 403);
    let own = format!("http://{}", server.addr);
    let r = poll(&server, &own).await;
    assert_eq!(r.status(), 200, "a page the server serves itself");
    assert_eq!(
        header(r.headers(), "access-control-allow-origin"),
        Some(own.as_str())
    );
    let mut config = tickroom_tests::production_config();
    config.net.allowed_origins = vec!["*".into()];
    let server = TestServer::start_with(config).await;
    assert_eq!(poll(&server, "http://127.0.0.1:8080").await.status(), 200);
}
