//! A real SMTP server for the tests and the mail bench: Python's aiosmtpd with
//! `tests/support/carnet_smtp.py` on a loopback port, storing the messages it accepts in a
//! Maildir. Included by both with `#[path]` (`tests/common/mod.rs`, `benches/mail.rs`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// aiosmtpd on 127.0.0.1, its Maildir in `<maildir>/box`; stopped on drop.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    /// Starts the server for a test, or returns `None` (with a message) when aiosmtpd is not
    /// installed; with `CARNET_REQUIRE_SMTP=1` a missing server fails the test instead.
    pub fn start() -> Option<SmtpServer> {
        let port = free_port().ok()?;
        Self::start_on(port)
    }

    /// [`SmtpServer::start`] on a given port.
    pub fn start_on(port: u16) -> Option<SmtpServer> {
        if let Err(why) = available() {
            assert!(std::env::var("CARNET_REQUIRE_SMTP").is_err(), "aiosmtpd is required (pip install aiosmtpd): {why}");
            eprintln!("{why}: SMTP tests skipped");
            return None;
        }
        match Self::launch(port) {
            Ok(server) => Some(server),
            Err(why) => panic!("{why}"),
        }
    }

    /// Starts the server on a free port, or says why it cannot (python3 or aiosmtpd missing,
    /// the server not listening).
    pub fn try_start() -> Result<SmtpServer, String> {
        available()?;
        Self::launch(free_port()?)
    }

    fn launch(port: u16) -> Result<SmtpServer, String> {
        let maildir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let support = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "carnet_smtp.Handler"])
            // A path that does not exist yet: Maildir creates its cur/new/tmp only then.
            .arg(maildir.path().join("box"))
            .env("PYTHONPATH", support)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start aiosmtpd: {e}"))?;
        let mut server = SmtpServer { port, maildir, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("aiosmtpd exited at start ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("aiosmtpd did not start on port {port} within 15 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The server's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Maildir folder of the messages received.
    pub fn new_dir(&self) -> PathBuf {
        self.maildir.path().join("box").join("new")
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<_> = std::fs::read_dir(self.new_dir()).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        // In delivery order: Maildir names do not sort chronologically within a second
        // (their microseconds are not zero-padded), so sort by modification time first.
        files.sort_by_key(|p| (std::fs::metadata(p).and_then(|m| m.modified()).ok(), p.clone()));
        files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether python3 with aiosmtpd can be run.
fn available() -> Result<(), String> {
    match std::process::Command::new("python3").args(["-c", "import aiosmtpd"]).output() {
        Err(e) => Err(format!("python3 cannot be run ({e})")),
        Ok(o) if !o.status.success() => Err("aiosmtpd is not installed (pip install aiosmtpd)".into()),
        Ok(_) => Ok(()),
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}
