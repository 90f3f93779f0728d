//! A real `redis-server` for a test, on a free port, owned by the test: started, stopped and
//! started again on the same port, killed when dropped. Debian's `redis-server` is installed
//! with apt-get when it is missing and the tests run as root (as CI does).

use std::path::Path;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

const BINARY: &str = "/usr/bin/redis-server";

/// A running (or stopped) `redis-server` owned by one test.
#[derive(Debug)]
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port, keeping nothing on disk.
    pub async fn start() -> anyhow::Result<Self> {
        ensure_installed()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut server = Self { port, child: None };
        server.resume().await?;
        Ok(server)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs one command and returns Redis's raw first reply line (`+OK`, `:1`, …).
    pub async fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).await?;
        Ok(line.trim_end().to_owned())
    }

    /// Kills it (as if Redis crashed or the network to it went).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let child = Command::new(BINARY)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start redis-server")?;
        self.child = Some(child);
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = s.write_all(b"PING\r\n").await;
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).await.is_ok() && &buf == b"+PONG\r\n" {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("redis-server did not answer on port {}", self.port)
    }
}

/// Installs redis-server with apt-get (as root) if it is missing, once per process.
pub fn ensure_installed() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install() -> anyhow::Result<()> {
    crate::apt::install("redis-server", "the cluster tests", || {
        Path::new(BINARY).exists()
    })
}
