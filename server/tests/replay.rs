//! The real `tickroom-server` binary records a match played over real sockets, keeps its
//! command log with the result (`GET /admin/results/{id}/recording`), and
//! `tickroom-server replay FILE` re-runs it bit-exact — and refuses a log that was changed.

use std::time::Duration;

use tickroom_client::Client;
use tickroom_client::admin::AdminClient;
use tickroom_games::arena::ArenaInput;
use tickroom_shared::{AuthPayload, InputMsg, Role, event};
use tokio::process::Command;

mod common;

use common::WAIT;

/// `tickroom-server replay FILE --json`: its exit status, stdout and stderr.
async fn replay(file: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickroom-server"))
        .args(["replay", "--json"])
        .arg(file)
        .output()
        .await
        .expect("run tickroom-server replay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_played_match_is_recorded_and_replays_bit_exact() {
    let server = common::start(&[("TICKROOM_RESULTS_DB", ":memory:")]).await;
    let url = server.url.clone();
    let admin = AdminClient::new(&url, "dev-admin-key");
    let m = admin.create_match("arena", None, Some(4)).await.unwrap().id;
    let mut players = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let token = admin.mint(&m, name, Role::Player).await.unwrap().token;
        let auth = AuthPayload {
            token,
            match_id: None,
            protocol: Some(tickroom_shared::PROTOCOL_VERSION),
        };
        players.push(Client::connect(&url, &auth, WAIT).await.unwrap());
    }
    // 45 inputs each, turning as they go, paced by the snapshots.
    for seq in 1..=45u32 {
        for (i, c) in players.iter_mut().enumerate() {
            let angle = seq as f32 * 0.2 + i as f32;
            let input = ArenaInput {
                dir: [angle.cos(), angle.sin()],
                buttons: u8::from(seq % 10 == 0),
            };
            c.emit(event::INPUT, &InputMsg { seq, input })
                .await
                .unwrap();
        }
        for c in &mut players {
            while c.next_event(WAIT).await.unwrap().name != event::SNAPSHOT {}
        }
    }
    players.pop().unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin.end_match(&m).await.unwrap();

    let http = reqwest::Client::new();
    let path = format!("{url}/admin/results/{m}/recording");
    let deadline = tokio::time::Instant::now() + WAIT;
    let res = loop {
        let res = http
            .get(&path)
            .bearer_auth("dev-admin-key")
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break res;
        }
        assert_eq!(res.status(), 404, "until the match's result is saved");
        assert!(tokio::time::Instant::now() < deadline, "no recording");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    assert_eq!(res.headers()["x-tickroom-recording-complete"], "true");
    let log = res.bytes().await.unwrap().to_vec();

    let dir = std::env::temp_dir().join(format!("tickroom-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("match.log");
    std::fs::write(&file, &log).unwrap();
    let (ok, stdout, stderr) = replay(&file).await;
    assert!(ok, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["match_id"], m.as_str());
    assert_eq!(report["game"], "arena");
    assert_eq!(report["end"], "admin");
    assert_eq!(report["joins"], 3);
    assert!(report["inputs"].as_u64().unwrap() >= 3 * 45, "{report}");
    let ticks = report["ticks"].as_u64().unwrap();
    assert!(ticks >= 45, "{report}");
    assert_eq!(report["checksums"].as_u64().unwrap(), ticks / 30);

    // The same log with another seed: the room's randomness differs from the first checksum.
    let header = tickroom_engine::replay::read_header(&log).unwrap();
    let seed = rmp_serde::to_vec(&header.config.seed).unwrap();
    let at = log[..128]
        .windows(seed.len())
        .position(|w| w == seed.as_slice())
        .expect("the seed in the header")
        + seed.len()
        - 1;
    let mut changed = log.clone();
    changed[at] ^= 1;
    std::fs::write(&file, &changed).unwrap();
    let (ok, stdout, stderr) = replay(&file).await;
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("diverged at tick 30"), "{stderr}");

    // A match that was never recorded, and one that does not exist: 404 with a code.
    let res = http
        .get(format!("{url}/admin/results/nope/recording"))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "recording_not_found");
    std::fs::write(&file, b"garbage").unwrap();
    let (ok, _, stderr) = replay(&file).await;
    assert!(!ok);
    assert!(stderr.contains("not a Tickroom command log"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
