//! A real PostgreSQL for a test, on a free port, owned by the test: a fresh cluster made with
//! `initdb` in a temporary folder, started with `postgres`, killed and removed when dropped.
//! Debian's `postgresql` is installed with apt-get when it is missing and the tests run as
//! root (as CI does); as root, the server runs as the `postgres` user (it refuses root).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// Where Debian puts the server's programs.
const BIN_DIR: &str = "/usr/lib/postgresql";

/// A running PostgreSQL owned by one test.
#[derive(Debug)]
pub struct PostgresServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_root: bool,
    child: Option<Child>,
}

impl PostgresServer {
    /// Makes a new cluster (user `tickroom`, database `tickroom`, trust authentication on
    /// loopback) and starts it on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = ensure_installed()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("tickroom-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let as_root = is_root();
        if as_root {
            chown_postgres(&dir)?;
        }
        let data = dir.join("data");
        let out = as_user(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "tickroom", "-A", "trust", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .output()
            .await
            .context("run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut server = Self {
            port,
            dir,
            bin,
            as_root,
            child: None,
        };
        server.resume().await?;
        // Ready: now the database.
        let out = as_user(as_root, &server.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "tickroom"])
            .args(["-d", "postgres", "-tAc", "CREATE DATABASE tickroom"])
            .output()
            .await
            .context("run psql")?;
        if !out.status.success() {
            bail!(
                "CREATE DATABASE failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(server)
    }

    /// Stops it (a fast shutdown: connections are cut), keeping its data.
    pub async fn stop(&mut self) {
        // The server is the child of `runuser`, which does not pass signals on: signal the
        // server itself, by the pid it writes in its data folder.
        if let Some(pid) = self.postmaster() {
            signal(pid, "-INT");
            for _ in 0..200 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// The server's pid, from `postmaster.pid`.
    fn postmaster(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data").join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Starts it (again) on the same port and data, and waits until it answers.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        let port = self.port.to_string();
        let child = as_user(self.as_root, &self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port, "-k"])
            .arg(&self.dir)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start postgres")?;
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(out) = as_user(self.as_root, &self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port])
                .output()
                .await
                && out.status.success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("postgres did not start on port {port}")
    }

    /// `postgres://tickroom@127.0.0.1:<port>/tickroom`.
    pub fn url(&self) -> String {
        format!("postgres://tickroom@127.0.0.1:{}/tickroom", self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster() {
            // Immediate shutdown: the test is over.
            signal(pid, "-QUIT");
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn chown_postgres(dir: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("chown")
        .args(["postgres:postgres"])
        .arg(dir)
        .status()
        .context("chown")?;
    if !status.success() {
        bail!("chown postgres {} failed", dir.display());
    }
    Ok(())
}

/// `program`, run as the `postgres` user when the tests run as root.
fn as_user(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// The folder of the newest installed PostgreSQL's programs, installing Debian's
/// `postgresql` with apt-get (as root) if there is none; once per process.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    static DONE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DONE.get_or_init(|| install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn installed() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(BIN_DIR)
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn install() -> anyhow::Result<PathBuf> {
    crate::apt::install("postgresql", "the shared results tests", || {
        installed().is_some()
    })?;
    installed().context("postgresql installed, but no server programs under /usr/lib/postgresql")
}
