//! Reading a mailbox by IMAP (async-imap over tokio; TLS with rustls and the Web PKI roots):
//! IMAPS or STARTTLS, `LOGIN` or `AUTHENTICATE XOAUTH2`. Each unseen message of the folder is
//! fetched without marking it (`BODY.PEEK[]`), taken ([`super::take`]), then moved to the
//! configured folder or flagged `\Seen` — only once taken, so a crash leaves it for the next
//! poll, where its unique key makes it land once.

use std::sync::Arc;

use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{take, Outcome, Policy};
use crate::clock::SharedClock;
use crate::config::{ImapTls, InboundMailbox};
use crate::db::Db;
use crate::service::documents::Storage;

/// The connection, whatever its encryption.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

pub type Session = async_imap::Session<Box<dyn Io>>;

struct XOAuth2 {
    user: String,
    token: String,
}

impl async_imap::Authenticator for &XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

async fn tls(m: &InboundMailbox, stream: Box<dyn Io>) -> anyhow::Result<Box<dyn Io>> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let host = m.host.as_str();
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(file) = &m.ca_file {
        let certs = CertificateDer::pem_file_iter(file)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", file.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!("ca_file {}: no certificate", file.display());
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream).await?;
    Ok(Box::new(stream))
}

/// Connects and logs in (30 s at most for the connection).
pub async fn connect(m: &InboundMailbox) -> anyhow::Result<Session> {
    m.check().map_err(anyhow::Error::msg)?;
    let tcp = tokio::time::timeout(std::time::Duration::from_secs(30), tokio::net::TcpStream::connect((m.host.as_str(), m.port)))
        .await
        .map_err(|_| anyhow::anyhow!("IMAP connection to {}:{} timed out", m.host, m.port))??;
    let stream: Box<dyn Io> = match m.tls {
        ImapTls::Imaps => tls(m, Box::new(tcp)).await?,
        ImapTls::Plain | ImapTls::Starttls => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    client.read_response().await?.ok_or_else(|| anyhow::anyhow!("the IMAP server closed the connection before its greeting"))?;
    if m.tls == ImapTls::Starttls {
        client.run_command_and_check_ok("STARTTLS", None).await?;
        client = async_imap::Client::new(tls(m, client.into_inner()).await?);
    }
    let session = match (&m.oauth2_token, &m.password) {
        (Some(token), _) => {
            let auth = XOAuth2 { user: m.user.clone(), token: token.clone() };
            client.authenticate("XOAUTH2", &auth).await.map_err(|(e, _)| e)?
        }
        (None, Some(password)) => client.login(&m.user, password).await.map_err(|(e, _)| e)?,
        (None, None) => anyhow::bail!("no credential"),
    };
    Ok(session)
}

/// Polls one mailbox: takes every unseen message of its folder. Returns a summary.
pub async fn poll(
    db: &Db,
    storage: &Storage,
    clock: &SharedClock,
    m: &InboundMailbox,
    max_document_bytes: usize,
) -> anyhow::Result<String> {
    let policy = Policy::of(m, max_document_bytes);
    let mut session = connect(m).await?;
    session.select(&m.folder).await?;
    let mut uids: Vec<u32> = session.uid_search("UNSEEN").await?.into_iter().collect();
    uids.sort_unstable();
    let (mut landed, mut held, mut ignored, mut duplicate, mut failed) = (0, 0, 0, 0, 0);
    for uid in uids {
        let fetched: Vec<async_imap::types::Fetch> = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?.try_collect().await?;
        let Some(raw) = fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)) else {
            continue;
        };
        match take(db, storage, clock.now_ms(), &policy, &raw).await {
            Ok(Outcome::Landed { .. } | Outcome::LandedPresales { .. }) => landed += 1,
            Ok(Outcome::Quarantined(_)) => held += 1,
            Ok(Outcome::Ignored(_)) => ignored += 1,
            Ok(Outcome::Duplicate) => duplicate += 1,
            // Left unseen for the next poll; the others are still taken.
            Err(e) => {
                tracing::warn!(mailbox = %m.name, uid, error = %e, "inbound message not taken");
                failed += 1;
                continue;
            }
        }
        // Taken: out of the way of the next poll. Another process may have moved it already.
        let done = match &m.move_to {
            Some(folder) => session.uid_mv(uid.to_string(), folder).await,
            None => match session.uid_store(uid.to_string(), "+FLAGS (\\Seen)").await {
                Ok(s) => s.try_collect::<Vec<_>>().await.map(|_| ()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = done {
            tracing::warn!(mailbox = %m.name, uid, error = %e, "taken message not moved or flagged");
        }
    }
    let _ = session.logout().await;
    let summary = format!("{landed} landed, {held} quarantined, {ignored} ignored, {duplicate} already taken");
    if failed > 0 {
        anyhow::bail!("{summary}; {failed} not taken (left for the next poll, see the log)");
    }
    Ok(summary)
}
