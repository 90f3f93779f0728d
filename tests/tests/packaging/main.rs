//! The library crates package: `cargo package` succeeds for each of them (every dependency has
//! a version, nothing needs a crate that is not packaged), and every file a crate compiles in
//! with `include_str!` / `include_bytes!` lies inside the crate and is in its package, so a
//! game that depends on the Tickroom crates from a registry or a vendored copy builds.

use std::path::{Path, PathBuf};

/// The crates a game or a client depends on, by name and folder.
const CRATES: &[(&str, &str)] = &[
    ("tickroom-derive", "shared/derive"),
    ("tickroom-shared", "shared"),
    ("tickroom-engine", "server/engine"),
    ("tickroom-games", "server/games"),
    ("tickroom-server", "server"),
    ("tickroom-client", "bots/client"),
    ("tickroom-bots", "bots"),
];

fn workspace() -> PathBuf {
    tickroom_tests::workspace_dir()
}

fn cargo(args: &[&str]) -> String {
    tickroom_tests::cargo("package-check", args)
}

#[test]
fn the_library_crates_package() {
    let mut args = vec!["package", "--no-verify", "--allow-dirty", "--quiet"];
    for (name, _) in CRATES {
        args.extend(["-p", name]);
    }
    cargo(&args);
    for (name, _) in CRATES {
        let file = workspace().join(format!("target/package-check/package/{name}-0.1.0.crate"));
        assert!(file.is_file(), "{} was not written", file.display());
    }
}

#[test]
fn every_included_file_is_inside_its_crate_and_packaged() {
    let mut included = 0;
    for (name, dir) in CRATES {
        let root = workspace().join(dir).canonicalize().expect("crate folder");
        let listed = cargo(&["package", "--list", "--allow-dirty", "-p", name]);
        let listed: Vec<&str> = listed.lines().collect();
        for source in rust_files(&root.join("src")) {
            let text = std::fs::read_to_string(&source).expect("read source");
            for path in included_paths(&text) {
                let target = source
                    .parent()
                    .expect("folder")
                    .join(path)
                    .canonicalize()
                    .unwrap_or_else(|e| panic!("{}: {path}: {e}", source.display()));
                let inside = target.strip_prefix(&root).unwrap_or_else(|_| {
                    panic!(
                        "{} includes {}, outside {name}: the packaged crate cannot build",
                        source.display(),
                        target.display()
                    )
                });
                let inside = inside.to_string_lossy().replace('\\', "/");
                assert!(
                    listed.contains(&inside.as_str()),
                    "{name}'s package lacks {inside}, which {} includes",
                    source.display()
                );
                included += 1;
            }
        }
    }
    // The server compiles in its pages (the demo, its client bundle, the dashboard).
    assert!(included >= 5, "only {included} included files found");
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("read folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The literal paths of `include_str!("…")` and `include_bytes!("…")` in `text`.
fn included_paths(text: &str) -> Vec<&str> {
    let mut paths = Vec::new();
    for mac in ["include_str!(\"", "include_bytes!(\""] {
        let mut rest = text;
        while let Some(at) = rest.find(mac) {
            rest = &rest[at + mac.len()..];
            let end = rest.find('"').expect("closing quote");
            paths.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    paths
}
