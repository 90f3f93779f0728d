//! `GET /admin/stats`, what the dashboard reads: behind the admin key, totals with connections
//! by transport, and one sorted page of matches with each room's own measurements.

use tickroom_shared::{Role, event};
use tickroom_tests::{TestServer, next_named};

#[tokio::test]
async fn stats_page_through_matches_and_count_transports() {
    let server = TestServer::start().await;
    let busy = server.arena(4).await;
    for _ in 0..4 {
        server.arena(4).await;
    }
    let mut a = server.join(&busy, "a", Role::Player).await;
    let mut b = server.join(&busy, "b", Role::Player).await;
    next_named(&mut a, event::SNAPSHOT).await.unwrap();
    next_named(&mut b, event::SNAPSHOT).await.unwrap();
    let unauthorized = reqwest::get(format!("{}/admin/stats", server.url))
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    let stats = server.admin_get("/admin/stats?sort=players&limit=2").await;
    assert_eq!(stats["totals"]["matches"], 5);
    assert_eq!(stats["totals"]["connections"], 2);
    assert_eq!(stats["totals"]["transports"]["websocket"], 2);
    assert_eq!(stats["matches"]["total"], 5);
    let rows = stats["matches"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one page");
    assert_eq!(rows[0]["id"], busy.as_str(), "most players first");
    assert_eq!(rows[0]["players"], 2);
    assert_eq!(rows[0]["state"], "running");
    assert!(rows[0]["snapshot_bytes"].as_u64().unwrap() > 0);
    assert!(rows[0]["tick_us"].as_u64().unwrap() > 0);

    let last = server
        .admin_get("/admin/stats?sort=players&limit=2&offset=4")
        .await;
    assert_eq!(last["matches"]["rows"].as_array().unwrap().len(), 1);
    let bad = server.admin_get("/admin/stats?sort=nonsense").await;
    assert_eq!(bad["error"]["code"], "bad_request");
}
