//! Inbound email benchmark: `cargo bench --bench inbound`.
//!
//! Generates a service desk (`CARNET_BENCH_REQUESTS` open requests, default 2000, each of a
//! company with two contacts), sends from each request the staff message that emails its
//! customer (the real code: a reply address with its token, a Message-ID, the thread), then
//! delivers `CARNET_BENCH_MESSAGES` emails (default 10000) to a private Dovecot by IMAP
//! APPEND and measures the `inbound_mail` poll taking them all — fetched by IMAP, parsed,
//! stripped, matched, stored with their `.eml` and attachments as documents, the message
//! flagged `\Seen` — as messages per second. The mix, by message number modulo 20:
//!
//! - 8 in 20: replies to the reply address, quoted as Gmail does (1 in 10 of them with a
//!   20 KB PDF attachment);
//! - 6 in 20: replies found by `In-Reply-To` (Outlook's quoting), sent to the general address;
//! - 3 in 20: the request number in the subject, from a contact of that customer;
//! - 2 in 20: unknown senders (quarantine);
//! - 1 in 20: auto-replies (`Auto-Submitted`, ignored).
//!
//! Then every message is marked unseen again and polled a second time: each is recognised as
//! already taken (the idempotency check), and that rate is reported too.
//!
//! Options: `CARNET_BENCH_BACKEND` (`sqlite` or `postgres` with `CARNET_TEST_POSTGRES_URL`),
//! `CARNET_BENCH_REQUESTS`, `CARNET_BENCH_MESSAGES`. Needs Dovecot (`dovecot-imapd`). The
//! results are written into `docs/benchmarks.md` between `<!-- bench:inbound:BACKEND:… -->`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use carnet::access::Actor;
use carnet::service::messages::{self, Author};
use futures_util::TryStreamExt;

#[path = "support/mod.rs"]
mod support;

#[path = "../tests/support/imap.rs"]
mod imap;

use support::{exec, fmt_n, insert_customers, insert_ids, lit, Common, CustomerRow, Team, ADMIN_EMAIL};

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// What each request offers a reply: its number, contacts, reply address and notification id.
struct Thread {
    number: String,
    contacts: [String; 2],
    reply_to: String,
    message_id: String,
}

async fn run() -> Result<()> {
    let c = Common::from_env("1")?;
    let requests: usize = support::env_num("CARNET_BENCH_REQUESTS", 2000)?;
    let count: usize = support::env_num("CARNET_BENCH_MESSAGES", 10_000)?;
    let Some(server) = imap::ImapServer::start() else { bail!("Dovecot is required (apt-get install dovecot-imapd)") };
    let (mut config, place) = support::configure(&c)?;
    let docs = tempfile::tempdir()?;
    config.documents_dir = docs.path().to_path_buf();
    let pg_url = c.pg_url.clone();
    let outcome = async {
        let teams = [Team { team: None, role: "agent_support", members: 1, login: false }];
        let run = support::prepare(&config, &teams).await?;
        let threads = generate(&run, requests).await.context("generating the service desk")?;
        let mailbox = carnet::config::InboundMailbox { name: "support".into(), ..server.mailbox("support") };
        deliver(&mailbox, &threads, count).await.context("delivering the messages")?;
        let st = &run.state;
        let ctx = st.job_context();
        let started = Instant::now();
        let summary = carnet::inbound::imap::poll(&ctx.db, &st.storage, &ctx.clock, &mailbox, config.max_document_bytes).await?;
        let first = started.elapsed().as_secs_f64();
        let stored = count_rows(st, "SELECT COUNT(*) FROM inbound_emails").await?;
        if stored != count as i64 {
            bail!("{stored} messages recorded for {count} delivered ({summary})");
        }
        let landed = count_rows(st, "SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await?;
        let documents = count_rows(st, "SELECT COUNT(*) FROM documents").await?;
        // Every message unseen again: the second poll finds each already taken.
        let mut s = carnet::inbound::imap::connect(&mailbox).await?;
        s.select("INBOX").await?;
        s.uid_store("1:*", "-FLAGS (\\Seen)").await?.try_collect::<Vec<_>>().await?;
        let _ = s.logout().await;
        let started = Instant::now();
        let again = carnet::inbound::imap::poll(&ctx.db, &st.storage, &ctx.clock, &mailbox, config.max_document_bytes).await?;
        let second = started.elapsed().as_secs_f64();
        if count_rows(st, "SELECT COUNT(*) FROM request_messages WHERE author_kind = 'email'").await? != landed {
            bail!("the second poll landed messages again: {again}");
        }
        let mut section = String::new();
        let machine = format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let _ = writeln!(
            section,
            "{} requests, {} messages delivered to Dovecot on loopback ({machine}, {}):\n",
            fmt_n(requests),
            fmt_n(count),
            c.backend.name()
        );
        let _ = writeln!(section, "| poll | messages | seconds | messages/s | outcome |");
        let _ = writeln!(section, "| --- | ---: | ---: | ---: | --- |");
        let _ = writeln!(
            section,
            "| first (all new) | {} | {first:.1} | {:.0} | {summary}; {documents} documents |",
            fmt_n(count),
            count as f64 / first
        );
        let _ =
            writeln!(section, "| second (all already taken) | {} | {second:.1} | {:.0} | {again} |", fmt_n(count), count as f64 / second);
        support::publish("inbound", "Inbound email", c.backend, &section)?;
        Ok(())
    }
    .await;
    drop(docs);
    place.close(pg_url.as_deref(), outcome).await
}

async fn count_rows(st: &carnet::http::AppState, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&st.db.pool).await?)
}

/// Companies with two contacts and an open request each, and the staff message that emailed
/// each customer from its request's reply address.
async fn generate(run: &support::Run, requests: usize) -> Result<Vec<Thread>> {
    let st = &run.state;
    let now = run.now;
    let actor = Actor::system();
    let defs = ["mail.reply_domain", "service.messages_enabled"]
        .map(|k| carnet::settings::def(k).ok_or_else(|| anyhow!("setting {k}")))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    carnet::settings::set_many(&st.db, &actor, now, &[(defs[0], "carnet.bench".into()), (defs[1], "true".into())]).await?;
    let started = Instant::now();
    let mut tx = st.db.begin().await?;
    let names: Vec<String> = (0..requests).map(|i| format!("Client {i:05}")).collect();
    let mut ids = Vec::with_capacity(requests);
    for (k, chunk) in names.chunks(500).enumerate() {
        let rows: Vec<CustomerRow> = chunk
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let branch = &run.branches[(k * 500 + j) % run.branches.len()];
                CustomerRow {
                    company: true,
                    civility: None,
                    first: "",
                    last: "",
                    company_name: name,
                    display: name,
                    email: None,
                    phone: None,
                    mobile: None,
                    address: "",
                    language: "fr",
                    branch: branch.id,
                    owner: None,
                    notes: "",
                    particularities: "",
                    created_at: now,
                }
            })
            .collect();
        ids.extend(insert_customers(&mut tx, &rows).await?);
    }
    let mut threads = Vec::with_capacity(requests);
    let mut requests_ids = Vec::with_capacity(requests);
    for (k, chunk) in ids.chunks(500).enumerate() {
        let mut contacts = String::from(
            "INSERT INTO contacts (customer_id, first_name, last_name, email, particularities, notes, created_at, updated_at) VALUES ",
        );
        for (j, id) in chunk.iter().enumerate() {
            let i = k * 500 + j;
            for (n, first) in ["Anne", "Marc"].iter().enumerate() {
                let _ = write!(contacts, "{}({id}, '{first}', 'Client{i}', ", if j + n > 0 { ", " } else { "" });
                lit(&mut contacts, Some(&format!("{}.{i}@client{i}.bench", first.to_lowercase())));
                let _ = write!(contacts, ", '', '', {now}, {now})");
            }
        }
        let contact_ids = insert_ids(&mut tx, contacts, chunk.len() * 2, "contact").await?;
        let mut sql = String::from(
            "INSERT INTO service_requests (number, customer_id, requester_contact_id, request_type, source, description, status, owner_id, \
             branch_id, created_at, updated_at) VALUES ",
        );
        for (j, id) in chunk.iter().enumerate() {
            let i = k * 500 + j;
            let branch = &run.branches[i % run.branches.len()];
            let owner = branch.staff.first().and_then(|s| s.first()).copied().ok_or_else(|| anyhow!("no agent"))?;
            let number = carnet::service::number("DEM", 2026, i as i64 + 1);
            let _ = write!(
                sql,
                "{}('{number}', {id}, {}, 'panne', 'phone', 'Le four ne chauffe plus', 'en_cours', {owner}, {}, {now}, {now})",
                if j > 0 { ", " } else { "" },
                contact_ids[2 * j],
                branch.id
            );
            threads.push(Thread {
                number,
                contacts: [format!("anne.{i}@client{i}.bench"), format!("marc.{i}@client{i}.bench")],
                reply_to: String::new(),
                message_id: String::new(),
            });
        }
        requests_ids.extend(insert_ids(&mut tx, sql, chunk.len(), "request").await?);
    }
    exec(&mut tx, &format!("INSERT INTO number_counters (name, year, last) VALUES ('DEM', 2026, {requests})")).await?;
    tx.commit().await?;
    carnet::db::analyze(&st.db, &["customers", "contacts", "service_requests"]).await?;
    let admin: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1").bind(ADMIN_EMAIL).fetch_one(&st.db.pool).await?;
    let agent = Author::Staff { user_id: admin, name: "Agent".into() };
    for (t, id) in threads.iter_mut().zip(&requests_ids) {
        messages::post(&st.db, &actor, now, *id, &agent, "Le technicien passe demain entre 8 h et 10 h.", true).await?;
        let (mid, reply): (String, Option<String>) = sqlx::query_as(
            "SELECT message_id, reply_to FROM emails WHERE entity_type = 'service_request' AND entity_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_one(&st.db.pool)
        .await?;
        let reply: serde_json::Value = serde_json::from_str(&reply.ok_or_else(|| anyhow!("no reply address"))?)?;
        t.reply_to = reply["email"].as_str().ok_or_else(|| anyhow!("reply address"))?.to_string();
        t.message_id = mid;
    }
    eprintln!("  {requests} requests with their notification in {:.1} s", started.elapsed().as_secs_f64());
    Ok(threads)
}

/// Message `i` of the mix (see the module's documentation).
fn message(i: usize, threads: &[Thread]) -> Vec<u8> {
    let t = &threads[(i * 7919) % threads.len()];
    let date = "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n";
    let id = format!("<bench.{i}@client.bench>");
    match i % 20 {
        0..=7 => {
            let body = format!(
                "Merci, c'est noté pour le passage ({i}).\r\n\r\nLe lun. 23 nov. 2026 à 09:12, Agent <{}> a écrit :\r\n> Le technicien passe demain entre 8 h et 10 h.\r\n>\r\n> Cordialement\r\n",
                t.reply_to
            );
            let head = format!("From: Anne <{}>\r\nTo: {}\r\nSubject: Re: Message sur votre demande {}\r\nMessage-ID: {id}\r\n{date}MIME-Version: 1.0\r\n", t.contacts[0], t.reply_to, t.number);
            if i % 80 == 0 {
                let pdf = "JVBERi0xLjQK".repeat(20 * 1024 / 12);
                format!(
                    "{head}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"photo-{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--b--\r\n"
                )
                .into_bytes()
            } else {
                format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").into_bytes()
            }
        }
        8..=13 => format!(
            "From: Marc <{}>\r\nTo: support@carnet.bench\r\nSubject: RE: Message sur votre demande {}\r\nMessage-ID: {id}\r\nIn-Reply-To: {}\r\nReferences: {}\r\n{date}\r\nBien reçu, merci ({i}).\r\n\r\n-----Original Message-----\r\nFrom: Agent\r\nSent: Monday, November 23, 2026 9:12 AM\r\nSubject: Message sur votre demande\r\n\r\nLe technicien passe demain.\r\n",
            t.contacts[1], t.number, t.message_id, t.message_id
        )
        .into_bytes(),
        14..=16 => format!(
            "From: {}\r\nTo: support@carnet.bench\r\nSubject: Re: [{}] suivi\r\nMessage-ID: {id}\r\n{date}\r\nLe four refonctionne, vous pouvez fermer ({i}).\r\n",
            t.contacts[0], t.number
        )
        .into_bytes(),
        17 | 18 => format!(
            "From: Inconnu <inconnu.{i}@ailleurs.bench>\r\nTo: support@carnet.bench\r\nSubject: Offre de partenariat\r\nMessage-ID: {id}\r\n{date}\r\nBonjour, nous proposons nos services ({i}).\r\n"
        )
        .into_bytes(),
        _ => format!(
            "From: {}\r\nTo: {}\r\nSubject: Absence du bureau\r\nMessage-ID: {id}\r\nAuto-Submitted: auto-replied\r\n{date}\r\nJe suis absente jusqu'au 30 novembre.\r\n",
            t.contacts[1], t.reply_to
        )
        .into_bytes(),
    }
}

/// Appends the messages to the mailbox's INBOX over one IMAP session.
async fn deliver(mailbox: &carnet::config::InboundMailbox, threads: &[Thread], count: usize) -> Result<()> {
    let started = Instant::now();
    let mut s = carnet::inbound::imap::connect(mailbox).await?;
    for i in 0..count {
        s.append("INBOX", None, None, &message(i, threads)).await?;
    }
    let _ = s.logout().await;
    eprintln!("  {count} messages appended in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
