//! Real-browser tests: Debian's chromium driven by playwright-core (`tests/browser/run.mjs`).
//! The tests install what they need themselves: the npm packages from the lock file, and
//! chromium with apt-get when it is missing and the tests run as root (as CI does).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

/// Where Debian's chromium package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where the scenarios leave their screenshots: `target/browser-artifacts`.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts")
}

/// Installs chromium (apt-get, as root) and the scenarios' npm packages, once per process.
pub fn ensure_browser() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        install_chromium()
            .and_then(|()| crate::npm::ci(&dir()))
            .map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

fn install_chromium() -> anyhow::Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    // One apt-get at a time across the test processes (redis-server may be installing too).
    let lock = std::fs::File::create(std::env::temp_dir().join("tickroom-apt.lock"))
        .context("create the install lock")?;
    lock.lock().context("take the install lock")?;
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .context("run apt-get (chromium is needed for the browser tests)")?;
        if !out.status.success() {
            bail!(
                "apt-get {} failed (the browser tests need Debian's chromium: run as root, or \
                 install it): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    apt(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
    ])?;
    Ok(())
}

/// Runs browser scenario `name` with `args`; returns the JSON line it printed.
pub async fn run(name: &str, args: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    ensure_browser()?;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg("run.mjs")
            .arg(name)
            .arg(args.to_string())
            .env("CHROMIUM", CHROMIUM)
            .env("ARTIFACTS", artifacts_dir())
            .current_dir(dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("browser scenario timed out")??;
    if !out.status.success() {
        bail!(
            "browser scenario {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("scenario {name} printed {stdout}"))
}
