//! Games outside the workspace, built and run as a user would build theirs:
//! - the example game (`server/examples/shooter`), a crate that depends on the Tickroom crates
//!   by path: its own tests (a room stepped without sockets) pass, its own server binary takes
//!   the stock flags, and it serves its three replicated kinds to `@tickroom/client` on the
//!   official socket.io-client, and its page to a browser;
//! - the template (`server/template`), copied to a fresh folder with its placeholders filled
//!   in as `cargo generate` fills them: it builds, its tests pass, and its server serves its
//!   page; docs/YOUR_GAME.md quotes its files exactly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tickroom_client::admin::AdminClient;
use tickroom_shared::Role;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

fn workspace() -> PathBuf {
    tickroom_tests::workspace_dir()
}

/// Runs cargo for the crate at `dir` (its own workspace and lock file) in the examples'
/// target folder, with its lock file as it is.
fn cargo(dir: &Path, args: &[&str]) {
    let manifest = dir.join("Cargo.toml");
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.extend([
        "--locked".as_ref(),
        "--manifest-path".as_ref(),
        manifest.as_os_str(),
    ]);
    tickroom_tests::cargo("examples", &all);
}

/// Waits until the server at `url` is ready.
async fn wait_ready(url: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !reqwest::get(format!("{url}/readyz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(tokio::time::Instant::now() < deadline, "did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the server binary `bin` on a free port of loopback; killed when dropped.
fn start(bin: &Path, port: u16) -> tokio::process::Child {
    Command::new(bin)
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
        .expect("start the server")
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
    let _child = start(&bin, port);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).await;

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
    // The input type, written once in Rust, as the clients get it: TypeScript that a typed
    // client compiles against (strict, and refusing a wrong input), and JSON for a page.
    let schemas = typed_inputs(&bin);
    let out = tickroom_tests::run_js_script("shooter.mjs", &[&url, &ann, &bob, &schemas])
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
    assert_eq!(
        seen["refusedLocally"],
        "invalid_input: aim: numbers must be finite"
    );

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

/// Runs `input-types` of the game server `bin`: type-checks `tests/js/typed-input.ts`
/// against the TypeScript it prints (with `tsc --strict`, `@tickroom/client` from source)
/// and returns the path of the JSON schemas it prints with `--json`.
fn typed_inputs(bin: &Path) -> String {
    let dir = workspace().join("target/examples/typed-input");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("run input-types");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    std::fs::write(dir.join("inputs.ts"), run(&["input-types"])).unwrap();
    let json = dir.join("inputs.json");
    std::fs::write(&json, run(&["input-types", "--json"])).unwrap();
    std::fs::copy(
        workspace().join("tests/js/typed-input.ts"),
        dir.join("typed-input.ts"),
    )
    .unwrap();
    let package = tickroom_tests::client_package_dir();
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "strict": true,
            "noEmit": true,
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "skipLibCheck": true,
            "types": [],
            "paths": { "@tickroom/client": [package.join("src/index.ts")] },
        },
        "files": ["typed-input.ts"],
    });
    std::fs::write(dir.join("tsconfig.json"), tsconfig.to_string()).unwrap();
    std::fs::write(dir.join("package.json"), r#"{ "type": "module" }"#).unwrap();
    let tsc = std::process::Command::new("node")
        .arg(package.join("node_modules/typescript/bin/tsc"))
        .arg("-p")
        .arg(dir.join("tsconfig.json"))
        .output()
        .expect("run tsc");
    assert!(
        tsc.status.success(),
        "typed-input.ts does not type-check against the generated inputs:\n{}{}",
        String::from_utf8_lossy(&tsc.stdout),
        String::from_utf8_lossy(&tsc.stderr)
    );
    json.to_string_lossy().into_owned()
}

#[tokio::test]
async fn the_template_builds_from_a_clean_copy() {
    let template = workspace().join("server/template");
    let copy = std::env::temp_dir().join(format!("tickroom-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(&template, &copy);
    // What `cargo generate --path server/template` asks for, filled in.
    let tickroom = workspace().canonicalize().expect("workspace");
    let manifest = copy.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("{{project-name}}", "my-game")
        .replace("{{tickroom_path}}", &tickroom.to_string_lossy());
    assert!(!text.contains("{{"), "a placeholder left: {text}");
    std::fs::write(&manifest, text).unwrap();
    std::fs::remove_file(copy.join("cargo-generate.toml")).unwrap();
    // Tickroom's own lock file pins the same dependency versions (a fresh resolve would do
    // as well; this keeps the build the one CI has compiled before).
    std::fs::copy(workspace().join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();
    // No --locked: the copy's lock file is Tickroom's, which cargo trims to the template's.
    let _ = tickroom_tests::cargo(
        "examples",
        &[
            "test".as_ref(),
            "--quiet".as_ref(),
            "--manifest-path".as_ref(),
            manifest.as_os_str(),
        ],
    );
    cargo(&copy, &["build", "--quiet"]);
    let bin = workspace().join("target/examples/debug/my-game");
    let port = free_port();
    let _child = start(&bin, port);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).await;
    let page = reqwest::get(format!("{url}/game/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("rowsOf(\"coin\")"));
    let bundle = reqwest::get(format!("{url}/client/tickroom.js"))
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let admin = AdminClient::new(&url, "dev-admin-key");
    assert_eq!(
        admin
            .create_match("coins", None, Some(2))
            .await
            .unwrap()
            .game,
        "coins"
    );
    let _ = std::fs::remove_dir_all(&copy);
}

/// Code blocks of the guides that name a file on their first line (`// src/lib.rs`,
/// `# Cargo.toml`) are that file's text, word for word: YOUR_GAME.md quotes the template that
/// the test above builds, GAME_API.md the demo games (its other blocks are doctests of
/// `tickroom-tests`). The guides cannot drift from code that compiles.
#[test]
fn the_guides_quote_their_files() {
    let root = workspace();
    let quoted = quotes("docs/YOUR_GAME.md", &root.join("server/template"));
    assert!(
        quoted >= 5,
        "YOUR_GAME.md quotes the template {quoted} times"
    );
    let quoted = quotes("docs/GAME_API.md", &root);
    assert!(quoted >= 4, "GAME_API.md quotes the games {quoted} times");
}

/// Checks the blocks of `doc` that quote a file under `base`; returns how many there are.
fn quotes(doc: &str, base: &Path) -> usize {
    let text = std::fs::read_to_string(workspace().join(doc)).unwrap();
    let mut quoted = 0;
    for block in text.split("```").skip(1).step_by(2) {
        let Some((_lang, body)) = block.split_once('\n') else {
            continue;
        };
        let Some((first, rest)) = body.split_once('\n') else {
            continue;
        };
        let Some(file) = first
            .strip_prefix("// ")
            .or_else(|| first.strip_prefix("# "))
            .filter(|f| base.join(f).is_file())
        else {
            continue;
        };
        let source = std::fs::read_to_string(base.join(file)).unwrap();
        assert!(
            source.contains(rest),
            "{doc} quotes {file}, but this block is not in it:\n{rest}"
        );
        quoted += 1;
    }
    quoted
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}
