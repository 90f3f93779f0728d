//! Installs a Debian package a test needs, when the tests run as root (as CI does): once, under
//! a file lock shared by every test process, so parallel tests do not run apt-get together.

use anyhow::{Context, bail};

/// Installs `package` with apt-get unless `present()` already holds (checked again under the
/// lock); `needed_for` says which tests need it, for the error.
pub fn install(package: &str, needed_for: &str, present: impl Fn() -> bool) -> anyhow::Result<()> {
    if present() {
        return Ok(());
    }
    let lock = std::fs::File::create(std::env::temp_dir().join("tickroom-apt.lock"))
        .context("create the install lock")?;
    lock.lock().context("take the install lock")?;
    if present() {
        return Ok(());
    }
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "--no-install-recommends", package][..],
    ] {
        let out = std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .with_context(|| format!("run apt-get ({package} is needed for {needed_for})"))?;
        if !out.status.success() {
            bail!(
                "apt-get {} failed ({needed_for} need Debian's {package}: run as root, or \
                 install it): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}
