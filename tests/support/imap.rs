//! A real IMAP server for the tests: a private Dovecot (Debian's `dovecot-imapd`) started as a
//! child process with its own configuration in a temporary folder — plain IMAP on a free
//! loopback port, one user in a `passwd-file`, Maildir storage, its log in `dovecot.log`.
//! Included by `tests/common/mod.rs` with `#[path]`, like the SMTP server.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const IMAP_USER: &str = "support";
pub const IMAP_PASSWORD: &str = "imap-test-password";

/// Dovecot on 127.0.0.1; stopped on drop.
pub struct ImapServer {
    pub port: u16,
    /// With TLS ([`ImapServer::start_tls`]): the IMAPS port (the plain port then offers
    /// STARTTLS) and the private authority's certificate that signed the server's.
    pub tls_port: Option<u16>,
    pub ca: Option<PathBuf>,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

fn dovecot() -> Option<PathBuf> {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"].iter().map(PathBuf::from).find(|p| p.exists())
}

fn id(args: &[&str]) -> Option<String> {
    let o = std::process::Command::new("id").args(args).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

impl ImapServer {
    /// Starts Dovecot for a test, or returns `None` (with a message) when it is not installed;
    /// with `CARNET_REQUIRE_IMAP=1` a missing server fails the test instead.
    pub fn start() -> Option<ImapServer> {
        let Some(bin) = dovecot() else {
            assert!(std::env::var("CARNET_REQUIRE_IMAP").is_err(), "Dovecot is required (apt-get install dovecot-imapd)");
            eprintln!("Dovecot is not installed: IMAP tests skipped");
            return None;
        };
        match Self::launch(&bin, false, None) {
            Ok(s) => Some(s),
            Err(why) => panic!("{why}"),
        }
    }

    /// [`ImapServer::start`] with TLS: a certificate for 127.0.0.1 signed by a private authority
    /// made for the test (with `openssl`), IMAPS on `tls_port`, STARTTLS on `port`.
    pub fn start_tls() -> Option<ImapServer> {
        let Some(bin) = dovecot() else {
            assert!(std::env::var("CARNET_REQUIRE_IMAP").is_err(), "Dovecot is required (apt-get install dovecot-imapd)");
            eprintln!("Dovecot is not installed: IMAP tests skipped");
            return None;
        };
        match Self::launch(&bin, true, None) {
            Ok(s) => Some(s),
            Err(why) => panic!("{why}"),
        }
    }

    /// [`ImapServer::start`] also accepting `AUTHENTICATE XOAUTH2` (and OAUTHBEARER): Dovecot's
    /// `oauth2` password database checks each token at `tokeninfo_url` (the token appended),
    /// which answers the token's `username` (an identity provider's token info endpoint).
    pub fn start_oauth2(tokeninfo_url: &str) -> Option<ImapServer> {
        let Some(bin) = dovecot() else {
            assert!(std::env::var("CARNET_REQUIRE_IMAP").is_err(), "Dovecot is required (apt-get install dovecot-imapd)");
            eprintln!("Dovecot is not installed: IMAP tests skipped");
            return None;
        };
        match Self::launch(&bin, false, Some(tokeninfo_url)) {
            Ok(s) => Some(s),
            Err(why) => panic!("{why}"),
        }
    }

    /// A private authority and a server certificate for 127.0.0.1 in `t`.
    fn certificates(t: &Path) -> Result<(), String> {
        let run = |args: &[&str]| -> Result<(), String> {
            let o = std::process::Command::new("openssl").args(args).current_dir(t).output().map_err(|e| format!("openssl: {e}"))?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)))
            }
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        run(&[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Carnet test authority"]]
            .concat())?;
        run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat())?;
        std::fs::write(
            t.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ])
    }

    fn launch(bin: &Path, with_tls: bool, oauth2: Option<&str>) -> Result<ImapServer, String> {
        let free = || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| e.to_string());
        let port = free()?;
        let tls_port = if with_tls { Some(free()?) } else { None };
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let t = dir.path();
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(t.join(sub)).map_err(|e| e.to_string())?;
        }
        if with_tls {
            Self::certificates(t)?;
        }
        // Dovecot's own processes (auth, the mail user) read and write here.
        use std::os::unix::fs::PermissionsExt;
        let perm = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string());
        perm(t, 0o755)?;
        perm(&t.join("mail"), 0o777)?;
        perm(&t.join("home"), 0o777)?;
        std::fs::write(t.join("passwd"), format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n")).map_err(|e| e.to_string())?;
        perm(&t.join("passwd"), 0o644)?;
        // Root may not own mail: as root the mail user is Dovecot's own; otherwise ourselves.
        let root = id(&["-u"]).as_deref() == Some("0");
        let (uid, gid, users) = if root {
            (id(&["-u", "dovecot"]).unwrap_or_default(), id(&["-g", "dovecot"]).unwrap_or_default(), String::new())
        } else {
            let me = id(&["-un"]).unwrap_or_default();
            (
                id(&["-u"]).unwrap_or_default(),
                id(&["-g"]).unwrap_or_default(),
                format!("default_login_user = {me}\ndefault_internal_user = {me}\n"),
            )
        };
        let d = t.display();
        let ssl = match tls_port {
            Some(_) => format!("ssl = yes\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\n"),
            None => "ssl = no\n".to_string(),
        };
        let imaps = tls_port.unwrap_or(0);
        // Tokens: the oauth2 password database after the password file (a password is
        // checked by the file; a token, which the file refuses, by the provider).
        let (mechanisms, oauth_passdb) = match oauth2 {
            Some(url) => {
                std::fs::write(t.join("oauth2.conf"), format!("tokeninfo_url = {url}\nusername_attribute = username\n"))
                    .map_err(|e| e.to_string())?;
                perm(&t.join("oauth2.conf"), 0o644)?;
                ("plain login xoauth2 oauthbearer", format!("passdb {{\n  driver = oauth2\n  args = {d}/oauth2.conf\n}}\n"))
            }
            None => ("plain login", String::new()),
        };
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             {ssl}disable_plaintext_auth = no\nauth_mechanisms = {mechanisms}\nfirst_valid_uid = 0\n{users}\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n{oauth_passdb}\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n  }}\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = 50\n}}\n"
        );
        std::fs::write(t.join("dovecot.conf"), conf).map_err(|e| e.to_string())?;
        let child = std::process::Command::new(bin)
            .args(["-F", "-c"])
            .arg(t.join("dovecot.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start Dovecot: {e}"))?;
        let ca = tls_port.map(|_| t.join("ca.pem"));
        let mut server = ImapServer { port, tls_port, ca, dir, child };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("Dovecot exited at start ({status}): {}", server.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("Dovecot did not listen on port {port} within 15 s: {}", server.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// The mailbox configuration Carnet reads this server with.
    pub fn mailbox(&self, name: &str) -> carnet::config::InboundMailbox {
        carnet::config::InboundMailbox {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: self.port,
            tls: carnet::config::ImapTls::Plain,
            user: IMAP_USER.into(),
            password: Some(IMAP_PASSWORD.into()),
            oauth2_token: None,
            folder: "INBOX".into(),
            move_to: None,
            open_requests: false,
            max_per_sender_per_minute: 10,
            ca_file: None,
        }
    }

    async fn session(&self) -> carnet::inbound::imap::Session {
        carnet::inbound::imap::connect(&self.mailbox("test")).await.expect("IMAP login")
    }

    /// Delivers a message into `folder` by IMAP APPEND.
    pub async fn append(&self, folder: &str, raw: &[u8]) {
        let mut s = self.session().await;
        s.append(folder, None, None, raw).await.expect("APPEND");
        let _ = s.logout().await;
    }

    /// Creates a folder.
    pub async fn create_folder(&self, folder: &str) {
        let mut s = self.session().await;
        s.create(folder).await.expect("CREATE");
        let _ = s.logout().await;
    }

    /// The number of messages in `folder`, and of unseen ones.
    pub async fn counts(&self, folder: &str) -> (usize, usize) {
        let mut s = self.session().await;
        s.select(folder).await.expect("SELECT");
        let all = s.uid_search("ALL").await.expect("SEARCH").len();
        let unseen = s.uid_search("UNSEEN").await.expect("SEARCH").len();
        let _ = s.logout().await;
        (all, unseen)
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
