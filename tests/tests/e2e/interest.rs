//! Interest management on a real server with real clients: three `@tickroom/client` clients
//! (the official socket.io-client underneath) in an `arena_large` match each see only the
//! discs near their own.

use tickroom_shared::Role;
use tickroom_tests::{TestServer, run_js_script};

/// The walker comes up to the watcher and goes away again; the loner stands far from both.
/// `tests/js/interest.mjs` checks every tick each client saw against where each disc said it
/// was: a disc in view is within 50 of the viewer and where it is; one within 40 is in view.
/// The ids spawn apart: the walker over 60 from the watcher, the loner over 100 from both.
#[tokio::test]
async fn each_client_sees_only_the_discs_near_its_own() {
    tickroom_tests::ensure_client_package_built().unwrap_or_else(|e| panic!("{e:#}"));
    let server = TestServer::start().await;
    let m = server.arena_large(400).await;
    let mut tokens = Vec::new();
    for player in ["p10", "p20", "p0"] {
        tokens.push(server.token(&m, player, Role::Player).await);
    }
    let mut args = vec![server.url.as_str()];
    args.extend(tokens.iter().map(String::as_str));
    let out = run_js_script("interest.mjs", &args)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(seen["ok"], true, "{seen}");
    assert!(
        seen["start"]["watcherWalker"].as_f64().unwrap() > 60.0,
        "{seen}"
    );
    assert!(
        seen["start"]["watcherLoner"].as_f64().unwrap() > 100.0,
        "{seen}"
    );
    assert_eq!(seen["violations"], serde_json::json!([]), "{seen}");
    assert!(seen["checked"].as_u64().unwrap() > 100, "{seen}");
    assert_eq!(seen["lonerSeen"], false, "{seen}");
    assert_eq!(seen["arrivals"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen["whole"], serde_json::json!([true]), "{seen}");
    assert_eq!(seen["removals"], 1, "{seen}");
    assert_eq!(
        seen["otherAcks"], 0,
        "each client is sent its own ack alone: {seen}"
    );
}
