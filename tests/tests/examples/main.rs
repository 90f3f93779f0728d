//! The example game (`server/examples/shooter`), a crate outside the workspace that depends on
//! the Tickroom crates by path, built and run as a user would: its own tests (a room stepped
//! without sockets) pass, its own server binary takes the stock flags, and it serves its three
//! replicated kinds to `@tickroom/client` on the official socket.io-client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tickroom_client::admin::AdminClient;
use tickroom_shared::Role;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs cargo for the crate at `dir` (its own workspace and lock file) in a target folder of
/// its own, so it never waits on the build running this test.
fn cargo(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO"))
        .args(args)
        .arg("--locked")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target/examples"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {} in {}:\n{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn the_shooter_builds_its_own_server_and_serves_three_kinds() {
    let dir = workspace().join("server/examples/shooter");
    cargo(&dir, &["test", "--quiet"]);
    cargo(&dir, &["build", "--quiet"]);
    let bin = workspace().join("target/examples/debug/shooter-server");

    // The stock command line: --help names this binary and has the stock flags.
    let help = std::process::Command::new(&bin)
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: shooter-server"), "{help}");
    for flag in ["--addr", "--max-rooms", "--redis-url", "--results-db"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }

    let port = free_port();
    let _child = Command::new(&bin)
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start shooter-server");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !reqwest::get(format!("{url}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(tokio::time::Instant::now() < deadline, "did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // It offers its game and nothing else: no demo games, no demo page.
    let games: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/admin/games"))
        .bearer_auth("dev-admin-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(games["games"], serde_json::json!(["shooter"]));
    let demo = reqwest::get(format!("{url}/demo/")).await.unwrap();
    assert_eq!(demo.status(), 404);
    let home = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(!home.contains("/demo/"), "{home}");

    let admin = AdminClient::new(&url, "dev-admin-key");
    let m = admin
        .create_match("shooter", None, Some(4))
        .await
        .unwrap()
        .id;
    let ann = admin.mint(&m, "ann", Role::Player).await.unwrap().token;
    let bob = admin.mint(&m, "bob", Role::Player).await.unwrap().token;
    tickroom_tests::ensure_client_package_built().unwrap();
    let out = tickroom_tests::run_js_script("shooter.mjs", &[&url, &ann, &bob])
        .await
        .unwrap();
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(
        seen["kinds"],
        serde_json::json!(["ship", "bullet", "pickup"])
    );
    assert_eq!(seen["ships"], 2);
    assert_eq!(seen["pickups"], 4);
    assert!(seen["bulletsAdded"].as_u64() >= Some(1), "{seen}");
    assert!(seen["bulletsRemoved"].as_u64() >= Some(1), "{seen}");
    assert!(seen["bobHp"].as_u64() < Some(100), "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]));

    // Its own page (served through `cli::run_with`), in a real browser: the three kinds
    // rebuilt by the client bundle the server serves at /client/tickroom.js.
    tickroom_tests::browser::ensure_browser().unwrap();
    let page = tickroom_tests::browser::run("shooter", serde_json::json!({ "server": url }))
        .await
        .unwrap();
    assert_eq!(page["ships"], 1, "{page}");
    assert_eq!(page["pickups"], 4, "{page}");
    assert!(page["bullets"].as_u64() >= Some(1), "{page}");
}
