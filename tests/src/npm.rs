//! npm for the tests: installing a package's dependencies from its lock file (the tests install
//! what they need themselves) and running its scripts.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// `npm ci` in `dir`, unless `node_modules` is already newer than the lock file. A file lock
/// keeps parallel test processes from installing at the same time.
pub fn ci(dir: &Path) -> anyhow::Result<()> {
    let lock = std::fs::File::create(dir.join(".install.lock")).context("create install lock")?;
    lock.lock().context("take install lock")?;
    let marker = dir.join("node_modules").join(".package-lock.json");
    let fresh = match (
        std::fs::metadata(&marker),
        std::fs::metadata(dir.join("package-lock.json")),
    ) {
        (Ok(m), Ok(l)) => m.modified()? >= l.modified()?,
        _ => false,
    };
    if !fresh {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .output()
            .context("run npm (is Node.js installed?)")?;
        if !out.status.success() {
            bail!("npm ci failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(())
}

/// `npm run <script>` in `dir`; fails with its output when the script does.
pub fn run(dir: &Path, script: &str) -> anyhow::Result<String> {
    let out = Command::new("npm")
        .args(["run", "--silent", script])
        .current_dir(dir)
        .output()
        .with_context(|| format!("run npm run {script}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "npm run {script} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}
