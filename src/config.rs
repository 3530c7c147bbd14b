//! Configuration: defaults that work with no file, then `carnet.toml` (or the file named by
//! `CARNET_CONFIG`), then `CARNET_*` environment variables (`DATABASE_URL` too), then the
//! command line. `carnet config check` prints the result with secrets masked.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// `sqlite://carnet.db` (embedded default) or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// PostgreSQL only: the schema Carnet's tables live in (default: the server's search path).
    pub database_schema: Option<String>,
    /// Maximum number of pooled database connections per process.
    pub database_max_connections: u32,
    /// Public base URL, used in links and to decide whether cookies are `Secure`.
    pub public_url: String,
    /// Force the `Secure` attribute on cookies (also on when `public_url` is https).
    pub secure_cookies: bool,
    /// Idle lifetime of a login session, in minutes.
    pub session_idle_minutes: i64,
    /// Absolute lifetime of a login session, in hours.
    pub session_max_hours: i64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Run the background job worker and scheduler in this process.
    pub run_jobs: bool,
    /// How often an idle worker looks for jobs, in milliseconds.
    pub job_poll_ms: u64,
    /// How long a claimed job stays its worker's without news from it, in milliseconds. A
    /// live worker renews the lease every third of it; a job whose worker died (killed,
    /// machine lost) runs again after at most this long. Every process should use the same.
    pub job_lease_ms: u64,
    /// Failed logins in a row on an account (or on one known device) before each further
    /// attempt waits, 30 s at first, doubling up to 15 minutes (`identity::throttle`).
    pub login_max_failures_per_account: i64,
    /// Failed logins in a row from one client address before each further attempt from it,
    /// except from known devices, waits (same backoff).
    pub login_max_failures_per_address: i64,
    /// Reverse proxies whose `X-Forwarded-For` header is believed, as addresses or networks
    /// (`["127.0.0.1", "10.0.0.0/8", "::1"]`). Empty (the default): the header is ignored and
    /// the client is the peer of the TCP connection.
    pub trusted_proxies: Vec<String>,
    /// Log filter, in `tracing` syntax.
    pub log: String,
    /// `text` (the default: human-readable lines) or `json` (one JSON object per line, for a
    /// log collector). Either way, one line per request (target `carnet::request`).
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at `/metrics` (off by default).
    pub metrics_enabled: bool,
    /// A separate address serving `/metrics` alone (e.g. `127.0.0.1:9464`); without it, the
    /// main listener serves it.
    pub metrics_listen: Option<SocketAddr>,
    /// A bearer token the scraper must send (`Authorization: Bearer …`).
    pub metrics_token: Option<String>,
    /// Addresses or networks allowed to scrape (`["127.0.0.1", "10.0.0.0/8"]`; the client
    /// address as worked out with `trusted_proxies`). With neither a token nor this list,
    /// only loopback addresses may scrape.
    pub metrics_allow: Vec<String>,
    /// Outgoing mail server, e.g. `smtp://user:pass@host:587?tls=required`,
    /// `smtps://user:pass@host:465`, or `smtp://127.0.0.1:2525` for a local relay. Without
    /// it, mail is written as `.eml` files to `mail_dir`.
    pub smtp_url: Option<String>,
    /// Folder for `.eml` files when no SMTP server is configured.
    pub mail_dir: std::path::PathBuf,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// Seconds before an SMTP conversation is abandoned (and retried later).
    pub smtp_timeout_secs: u64,
    /// Where documents attached to records are stored: a local folder (used when
    /// `documents_url` is not set).
    pub documents_dir: std::path::PathBuf,
    /// S3-compatible object storage for documents instead of the folder:
    /// `s3://bucket[/prefix][?endpoint=https://…&region=…&allow_http=true&…]`. Credentials
    /// and settings also come from the usual `AWS_*` environment variables.
    pub documents_url: Option<String>,
    /// Largest document accepted, in bytes.
    pub max_document_bytes: usize,
    /// Mailboxes read by IMAP for customers' emails (`[[inbound_mailboxes]]` tables), polled by
    /// the `inbound_mail` job (`service::inbound`).
    #[serde(default)]
    pub inbound_mailboxes: Vec<InboundMailbox>,
}

/// One IMAP mailbox whose messages land on requests (`service::inbound`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InboundMailbox {
    /// A short name, recorded on each message taken from it.
    pub name: String,
    pub host: String,
    #[serde(default = "InboundMailbox::default_port")]
    pub port: u16,
    /// `imaps` (TLS from the start, port 993), `starttls` (port 143), or `plain` (no
    /// encryption: refused unless the host is a loopback address, for tests).
    #[serde(default)]
    pub tls: ImapTls,
    pub user: String,
    /// The password (`LOGIN`), or …
    #[serde(default)]
    pub password: Option<String>,
    /// … an OAuth2 access token (`AUTHENTICATE XOAUTH2`).
    #[serde(default)]
    pub oauth2_token: Option<String>,
    /// The folder read (default `INBOX`); only unseen messages are taken.
    #[serde(default = "InboundMailbox::default_folder")]
    pub folder: String,
    /// A folder each taken message is moved to; without it, taken messages are flagged `\Seen`.
    #[serde(default)]
    pub move_to: Option<String>,
    /// Whether a known contact's email that matches no request opens a new request (else it
    /// goes to quarantine).
    #[serde(default)]
    pub open_requests: bool,
    /// More messages than this from one sender within a minute are a mail loop: ignored.
    #[serde(default = "InboundMailbox::default_rate")]
    pub max_per_sender_per_minute: i64,
    /// A PEM file of certificates trusted for this server besides the public Web PKI roots
    /// (a server certified by a private authority).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl InboundMailbox {
    fn default_port() -> u16 {
        993
    }
    fn default_folder() -> String {
        "INBOX".into()
    }
    fn default_rate() -> i64 {
        10
    }

    /// The mailbox is usable: a credential, and no plain connection except to a loopback host.
    pub fn check(&self) -> Result<(), String> {
        if self.password.is_none() && self.oauth2_token.is_none() {
            return Err(format!("inbound mailbox {:?}: a password or an oauth2_token is required", self.name));
        }
        let loopback = self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if self.tls == ImapTls::Plain && !loopback {
            return Err(format!("inbound mailbox {:?}: tls = \"plain\" is only allowed to a loopback host", self.name));
        }
        if let Some(f) = &self.ca_file {
            if !f.is_file() {
                return Err(format!("inbound mailbox {:?}: ca_file {} is not a readable file", self.name, f.display()));
            }
        }
        Ok(())
    }
}

/// The shape of log lines (`log_format`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    #[default]
    Imaps,
    Starttls,
    Plain,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://carnet.db".into(),
            database_schema: None,
            database_max_connections: 10,
            public_url: "http://127.0.0.1:8080".into(),
            secure_cookies: false,
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            max_body_bytes: 1024 * 1024,
            run_jobs: true,
            job_poll_ms: 1000,
            job_lease_ms: 30_000,
            login_max_failures_per_account: 5,
            login_max_failures_per_address: 30,
            trusted_proxies: Vec::new(),
            log: "info,sqlx=warn".into(),
            log_format: LogFormat::Text,
            metrics_enabled: false,
            metrics_listen: None,
            metrics_token: None,
            metrics_allow: Vec::new(),
            smtp_url: None,
            mail_dir: std::path::PathBuf::from("outbox"),
            max_attachment_bytes: 10 * 1024 * 1024,
            smtp_timeout_secs: 30,
            documents_dir: std::path::PathBuf::from("documents"),
            documents_url: None,
            max_document_bytes: 20 * 1024 * 1024,
            inbound_mailboxes: Vec::new(),
        }
    }
}

/// Why the configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("the configuration file {0} is not a file")]
    NotAFile(PathBuf),
    #[error(transparent)]
    Invalid(#[from] Box<figment::Error>),
}

impl Config {
    /// Loads defaults, the TOML file and the environment. A file named by `--config` or
    /// `CARNET_CONFIG` must exist and be a file; the default `./carnet.toml` is read when present.
    pub fn load(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let named = file.or_else(|| std::env::var_os("CARNET_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from));
        let file = match named {
            Some(f) => match std::fs::metadata(&f) {
                Ok(m) if m.is_file() => f,
                Ok(_) => return Err(ConfigError::NotAFile(f)),
                Err(_) => return Err(ConfigError::Missing(f)),
            },
            None => {
                let f = PathBuf::from("carnet.toml");
                if f.exists() && !f.is_file() {
                    return Err(ConfigError::NotAFile(f));
                }
                f
            }
        };
        let mut fig = Figment::from(Serialized::defaults(Config::default())).merge(Toml::file(file));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            fig = fig.merge(("database_url", url));
        }
        // Only variables naming a configuration field: other CARNET_* variables (test and
        // tool settings such as CARNET_TEST_POSTGRES_URL) are not configuration.
        let known: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        fig = fig.merge(Env::prefixed("CARNET_").filter(move |k| known.iter().any(|f| k.as_str().eq_ignore_ascii_case(f))));
        Ok(fig.extract().map_err(Box::new)?)
    }

    /// Every check of values the types cannot express, run by `carnet serve` (and every
    /// command that opens the database) before anything starts, and by `carnet config check`:
    /// the database URL, the SMTP URL, the trusted proxies, the inbound mailboxes. The messages name the setting and
    /// never show a password.
    pub fn check(&self) -> Result<(), String> {
        check_database_url(&self.database_url)?;
        if let Some(url) = &self.smtp_url {
            SmtpUrl::parse(url)?;
        }
        self.trusted_proxy_nets()?;
        self.metrics_allow_nets()?;
        if self.metrics_token.as_deref().is_some_and(|t| t.trim().len() < 16) {
            return Err("metrics_token: use at least 16 characters".into());
        }
        for m in &self.inbound_mailboxes {
            m.check()?;
        }
        Ok(())
    }

    /// Served over https (the public URL says so): cookies are `Secure` and `__Host-`, and
    /// responses carry `Strict-Transport-Security` (`http::headers`).
    pub fn https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies || self.https()
    }

    /// Served over https: the session cookie takes the `__Host-` prefix (Secure, the whole
    /// site, this host only).
    pub fn host_cookies(&self) -> bool {
        self.https()
    }

    /// The trusted proxies, parsed; an entry that is not an address or a network is an error
    /// (checked at start-up and by `carnet config check`).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<Net>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| Net::parse(s).ok_or_else(|| format!("trusted_proxies: {s:?} is not an IP address or network")))
            .collect()
    }

    /// The addresses allowed to scrape `/metrics`, parsed (checked at start-up).
    pub fn metrics_allow_nets(&self) -> Result<Vec<Net>, String> {
        self.metrics_allow
            .iter()
            .map(|s| Net::parse(s).ok_or_else(|| format!("metrics_allow: {s:?} is not an IP address or network")))
            .collect()
    }

    /// The configuration as TOML with passwords in URLs masked.
    pub fn masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = mask_url_password(&shown.database_url);
        shown.smtp_url = shown.smtp_url.as_deref().map(mask_url_password);
        shown.documents_url = shown.documents_url.as_deref().map(mask_url_password);
        shown.metrics_token = shown.metrics_token.as_ref().map(|_| "****".into());
        for m in &mut shown.inbound_mailboxes {
            m.password = m.password.as_ref().map(|_| "****".into());
            m.oauth2_token = m.oauth2_token.as_ref().map(|_| "****".into());
        }
        toml_string(&shown)
    }
}

/// A checked `smtp_url`: `smtp://` or `smtps://`, a host, a port from 1 to 65535 when given,
/// and a `tls` option lettre knows (`required` or `opportunistic`, for `smtp://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: Option<u16>,
}

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<SmtpUrl, String> {
        const FORMS: &str =
            "expected smtp://[user:password@]host[:port][?tls=required|opportunistic] or smtps://[user:password@]host[:port]";
        let bad = |why: &str| format!("smtp_url {:?} is invalid: {why}; {FORMS}", mask_url_password(raw));
        let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(bad(&format!("unknown scheme {:?}", url.scheme())));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?.to_string();
        if url.port() == Some(0) {
            return Err(bad("port 0"));
        }
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref(), url.scheme()) {
                ("tls", "required" | "opportunistic", "smtp") => {}
                ("tls", _, "smtps") => {}
                ("tls", other, _) => return Err(bad(&format!("tls={other:?} (required or opportunistic)"))),
                (other, _, _) => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        Ok(SmtpUrl { host, port: url.port() })
    }
}

/// The database URL names a backend Carnet knows, and SQLite a file.
fn check_database_url(url: &str) -> Result<(), String> {
    let shown = mask_url_password(url);
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//").split('?').next().unwrap_or("");
        if path.trim().is_empty() {
            return Err(format!("database_url {shown:?} names no database file (e.g. sqlite://carnet.db)"));
        }
        Ok(())
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err(format!("database_url {shown:?}: unsupported database URL, expected sqlite://FILE or postgres://…"))
    }
}

/// An IP network (`10.0.0.0/8`, `fd00::/8`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn toml_string(c: &Config) -> String {
    // figment's toml dependency is re-exported through its provider; serialise by hand to
    // stay independent of its version.
    let value = serde_json::to_value(c).unwrap_or_default();
    let mut out = String::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let rendered = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            out.push_str(&format!("{k} = {rendered}\n"));
        }
    }
    out
}

/// Query options whose value is a secret (S3's `secret_access_key`, `session_token`,
/// `sse_customer_key_base64`…).
const SECRET_OPTIONS: &[&str] = &["secret", "token", "password", "customer_key"];

/// `postgres://user:secret@host/db` → `postgres://user:****@host/db`; secret query options
/// ([`SECRET_OPTIONS`]) are masked too.
pub fn mask_url_password(url: &str) -> String {
    if let Some((base, query)) = url.split_once('?') {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_OPTIONS.iter().any(|w| k.to_ascii_lowercase().contains(w)) => format!("{k}=****"),
                _ => pair.to_string(),
            })
            .collect();
        return format!("{}?{}", mask_url_password(base), masked.join("&"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:****@{host}");
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(mask_url_password("postgres://u:s3cret@h:5432/d"), "postgres://u:****@h:5432/d");
        assert_eq!(mask_url_password("sqlite://carnet.db"), "sqlite://carnet.db");
        assert_eq!(
            mask_url_password("s3://docs/p?endpoint=http://h:9000&secret_access_key=abc&aws_session_token=t"),
            "s3://docs/p?endpoint=http://h:9000&secret_access_key=****&aws_session_token=****"
        );
        assert_eq!(mask_url_password("s3://d?aws_sse_customer_key_base64=k"), "s3://d?aws_sse_customer_key_base64=****");
        let c = Config { database_url: "postgres://u:s3cret@h/d".into(), ..Default::default() };
        assert!(!c.masked_toml().contains("s3cret"));
        let mailbox = InboundMailbox {
            name: "support".into(),
            host: "imap.example.org".into(),
            port: 993,
            tls: ImapTls::Imaps,
            user: "u".into(),
            password: Some("imap-s3cret".into()),
            oauth2_token: Some("tok-s3cret".into()),
            folder: "INBOX".into(),
            move_to: None,
            open_requests: false,
            max_per_sender_per_minute: 10,
            ca_file: None,
        };
        let c = Config { inbound_mailboxes: vec![mailbox.clone()], ..Default::default() };
        assert!(!c.masked_toml().contains("s3cret"), "{}", c.masked_toml());
        assert!(mailbox.check().is_ok());
        assert!(InboundMailbox { tls: ImapTls::Plain, ..mailbox.clone() }.check().is_err(), "plain only to loopback");
        assert!(InboundMailbox { tls: ImapTls::Plain, host: "127.0.0.1".into(), ..mailbox.clone() }.check().is_ok());
        assert!(InboundMailbox { password: None, oauth2_token: None, ..mailbox }.check().is_err());
    }

    #[test]
    fn smtp_urls_are_checked() {
        for good in
            ["smtp://127.0.0.1:2525", "smtp://u:p@mail.example:587?tls=required", "smtps://mail.example", "smtp://h?tls=opportunistic"]
        {
            assert!(SmtpUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "smtp//oops",
            "http://mail.example",
            "smtp://",
            "smtp://h:99999",
            "smtp://h:0",
            "smtp://h?tls=none",
            "smtp://h?x=1",
            "mail.example",
        ] {
            let e = SmtpUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("smtp_url"), "{bad}: {e}");
        }
        let e = SmtpUrl::parse("smtp://u:s3cret@h:99999").unwrap_err();
        assert!(!e.contains("s3cret") && e.contains("****"), "{e}");
        let c = Config { smtp_url: Some("smtp//oops".into()), ..Default::default() };
        assert!(c.check().unwrap_err().contains("smtp_url"));
        for bad in ["sqlite://", "sqlite:", "sqlite://?mode=rwc", "mysql://x"] {
            let c = Config { database_url: bad.into(), ..Default::default() };
            assert!(c.check().unwrap_err().contains("database_url"), "{bad}");
        }
        assert!(Config::default().check().is_ok());
    }

    #[test]
    fn networks_of_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let n = Net::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.1.2.3")) && !n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped addresses are IPv4");
        assert!(Net::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Net::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Net::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Net::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "host.example", "10.0.0/8", "::/129"] {
            assert!(Net::parse(bad).is_none(), "{bad:?}");
        }
        let c = Config { trusted_proxies: vec!["127.0.0.1".into(), "nope".into()], ..Default::default() };
        assert!(c.trusted_proxy_nets().is_err());
    }

    #[test]
    fn metrics_settings_are_checked_and_the_token_masked() {
        let c = Config { metrics_allow: vec!["10.0.0.0/8".into(), "intranet".into()], ..Default::default() };
        assert!(c.check().unwrap_err().contains("metrics_allow"));
        let c = Config { metrics_token: Some("short".into()), ..Default::default() };
        assert!(c.check().unwrap_err().contains("metrics_token"));
        let c = Config { metrics_enabled: true, metrics_token: Some("a-long-metrics-s3cret".into()), ..Default::default() };
        assert!(c.check().is_ok());
        assert!(!c.masked_toml().contains("s3cret"), "{}", c.masked_toml());
        assert!(c.masked_toml().contains("log_format = \"text\""));
    }
}
