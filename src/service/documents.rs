//! Documents attached to a request: the file goes to the document storage (an
//! `object_store::ObjectStore`: a local folder by configuration) under a generated key, its
//! metadata (original name, type, size, "shared with the customer") to the database. A name
//! from the browser never becomes a path.

use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use serde::Serialize;
use sqlx::FromRow;

use crate::access::Actor;
use crate::audit::{self, Audited, Change};
use crate::clock::Millis;
use crate::db::Db;
use crate::error::{Error, FieldErrors, Result};

/// The document storage.
#[derive(Clone)]
pub struct Storage(pub Arc<dyn ObjectStore>);

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.0)
    }
}

impl Storage {
    /// The storage of the configuration: the S3-compatible bucket of `documents_url` when set,
    /// else the local folder `documents_dir` (created if missing).
    pub fn from_config(c: &crate::config::Config) -> anyhow::Result<Storage> {
        if let Some(url) = c.documents_url.as_deref().filter(|u| !u.trim().is_empty()) {
            return Self::s3(url.trim());
        }
        std::fs::create_dir_all(&c.documents_dir)?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&c.documents_dir)?;
        Ok(Storage(Arc::new(fs)))
    }

    /// `s3://bucket[/prefix][?key=value&…]`: the settings come from the `AWS_*` environment
    /// variables, then from the query (`endpoint`, `region`, `allow_http`, `access_key_id`,
    /// `secret_access_key`, `virtual_hosted_style_request`…: `object_store`'s S3 keys), so that
    /// MinIO, Ceph, Garage or any S3-compatible service works with an endpoint.
    fn s3(url: &str) -> anyhow::Result<Storage> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let Some(rest) = base.strip_prefix("s3://").or_else(|| base.strip_prefix("s3a://")) else {
            anyhow::bail!("documents_url: expected s3://bucket[/prefix][?options], got {}", crate::config::mask_url_password(url));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            anyhow::bail!("documents_url: the bucket name is missing");
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let options: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| anyhow::anyhow!("documents_url: unreadable options: {e}"))?;
        for (k, v) in options {
            let key: AmazonS3ConfigKey =
                k.parse().map_err(|_| anyhow::anyhow!("documents_url: unknown S3 option {k:?} (see object_store's AmazonS3ConfigKey)"))?;
            builder = builder.with_config(key, v);
        }
        let s3 = builder.build()?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            Ok(Storage(Arc::new(s3)))
        } else {
            Ok(Storage(Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))))
        }
    }
}

/// The types accepted, by extension.
pub const TYPES: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("txt", "text/plain"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xls", "application/vnd.ms-excel"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("eml", "message/rfc822"),
    ("zip", "application/zip"),
];

/// A file name as shown and offered back on download: no path, no control characters, at
/// most 200 characters; its extension must be an accepted type. Returns the name and type.
pub fn check_name(raw: &str) -> std::result::Result<(String, &'static str), &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("error.required");
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) || name == "." || name == ".." || name.starts_with("..") {
        return Err("error.file_name");
    }
    if name.chars().count() > 200 {
        return Err("error.too_long");
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match TYPES.iter().find(|(e, _)| *e == ext) {
        Some((_, t)) => Ok((name.to_string(), t)),
        None => Err("error.file_type"),
    }
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Document {
    pub id: i64,
    pub request_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(skip)]
    pub storage_key: String,
    /// Shown to the customer in the portal.
    #[sqlx(try_from = "crate::db::Flag")]
    pub shared: bool,
    pub uploaded_by: Option<i64>,
    pub uploaded_by_name: String,
    pub created_at: i64,
    /// The portal account that uploaded it (a file from the customer), if any.
    pub portal_account_id: Option<i64>,
    /// The intervention it was taken at (a technician's photo or the customer's signature).
    pub intervention_id: Option<i64>,
}

impl Audited for Document {
    const ENTITY: &'static str = "document";
    fn audit_fields(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("filename", Some(self.filename.clone())),
            ("content_type", Some(self.content_type.clone())),
            ("size", Some(self.size.to_string())),
            ("shared", Some(self.shared.to_string())),
        ]
    }
}

const SELECT: &str =
    "SELECT id, request_id, filename, content_type, size, storage_key, shared, uploaded_by, uploaded_by_name, created_at, portal_account_id, \
     intervention_id FROM documents";

pub async fn get(db: &Db, id: i64) -> Result<Option<Document>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&db.pool).await?)
}

pub async fn for_request(db: &Db, request_id: i64) -> Result<Vec<Document>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE request_id = $1 ORDER BY id DESC")).bind(request_id).fetch_all(&db.pool).await?)
}

/// The files taken at an intervention (photos, signatures), newest first.
pub async fn for_intervention(db: &Db, intervention_id: i64) -> Result<Vec<Document>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE intervention_id = $1 ORDER BY id DESC")).bind(intervention_id).fetch_all(&db.pool).await?)
}

fn storage_err(e: object_store::Error) -> Error {
    Error::internal(format!("document storage: {e}"))
}

/// Stores a document for a request. The file is written under a generated key first, then
/// its row is committed (with the request's history); if the database refuses, the file is
/// removed again, so nothing is half-written.
#[allow(clippy::too_many_arguments)]
pub async fn upload(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    filename: &str,
    bytes: Vec<u8>,
    shared: bool,
    max: usize,
) -> Result<Document> {
    store_upload(db, storage, actor, now, request_id, filename, bytes, shared, None, max).await
}

/// The row of a file taken at an intervention (a photo, a signature: checked, re-encoded and
/// already stored under `key` by [`put_file`], outside the transaction), linked to the
/// intervention, with the request's history, in the caller's transaction. The caller removes
/// the file ([`remove_file`]) if its transaction does not commit.
#[allow(clippy::too_many_arguments)]
pub async fn attach_to_intervention(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    intervention_id: i64,
    name: &str,
    content_type: &str,
    size: i64,
    key: &str,
) -> Result<Document> {
    let row = Row {
        request_id,
        name,
        content_type,
        size,
        key,
        shared: false,
        portal_account: None,
        message_id: None,
        intervention_id: Some(intervention_id),
    };
    insert_with_history(tx, actor, now, row).await
}

/// [`upload`] by a portal user (`portal_account`): always shared with the customer.
#[allow(clippy::too_many_arguments)]
pub async fn upload_from_portal(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    filename: &str,
    bytes: Vec<u8>,
    portal_account: i64,
    max: usize,
) -> Result<Document> {
    store_upload(db, storage, actor, now, request_id, filename, bytes, true, Some(portal_account), max).await
}

#[allow(clippy::too_many_arguments)]
async fn store_upload(
    db: &Db,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    filename: &str,
    bytes: Vec<u8>,
    shared: bool,
    portal_account: Option<i64>,
    max: usize,
) -> Result<Document> {
    let mut errs = FieldErrors::new();
    let checked = check_name(filename);
    if let Err(r) = checked {
        errs.add("file", r);
    }
    if bytes.is_empty() {
        errs.add("file", "error.file_empty");
    } else if bytes.len() > max {
        errs.add("file", "error.too_large");
    }
    errs.into_result()?;
    let (name, content_type) = checked.map_err(|r| Error::validation("file", r))?;
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM service_requests WHERE id = $1").bind(request_id).fetch_one(&db.pool).await?;
    if exists == 0 {
        return Err(Error::NotFound);
    }
    let key = new_key(request_id);
    let path = StorePath::from(key.as_str());
    let size = bytes.len() as i64;
    storage.0.put(&path, PutPayload::from(bytes)).await.map_err(storage_err)?;
    let res = async {
        let mut tx = db.begin().await?;
        let row =
            Row { request_id, name: &name, content_type, size, key: &key, shared, portal_account, message_id: None, intervention_id: None };
        let d = insert(&mut tx, actor, now, row).await?;
        audit::record(
            &mut tx,
            actor,
            now,
            "service_request",
            request_id,
            "document",
            &[Change { field: "document".into(), old: None, new: Some(name.clone()) }],
        )
        .await?;
        tx.commit().await?;
        Ok::<Document, Error>(d)
    }
    .await;
    if res.is_err() {
        let _ = storage.0.delete(&path).await;
    }
    res
}

/// A generated storage key for a file of the request (never a name from outside).
fn new_key(request_id: i64) -> String {
    format!(
        "requests/{request_id}/{}",
        crate::identity::session::new_secret().chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect::<String>()
    )
}

/// A document's row, its file already stored under `key`.
struct Row<'a> {
    request_id: i64,
    name: &'a str,
    content_type: &'a str,
    size: i64,
    key: &'a str,
    shared: bool,
    portal_account: Option<i64>,
    message_id: Option<i64>,
    intervention_id: Option<i64>,
}

/// Inserts a document's row and its audit entry, in the caller's transaction.
async fn insert(tx: &mut crate::db::Tx, actor: &Actor, now: Millis, r: Row<'_>) -> Result<Document> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO documents (request_id, filename, content_type, size, storage_key, shared, uploaded_by, uploaded_by_name, created_at, \
         portal_account_id, message_id, intervention_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(r.request_id)
    .bind(r.name)
    .bind(r.content_type)
    .bind(r.size)
    .bind(r.key)
    .bind(r.shared as i64)
    .bind(actor.id)
    .bind(&actor.name)
    .bind(now)
    .bind(r.portal_account)
    .bind(r.message_id)
    .bind(r.intervention_id)
    .fetch_one(&mut **tx)
    .await?;
    let d: Document = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_one(&mut **tx).await?;
    audit::created(tx, actor, now, id, &d).await?;
    Ok(d)
}

/// Stores a file that came with a conversation message (an email's attachments and its
/// original `.eml`) in the caller's transaction, linked to the message. The file is written
/// first; the caller deletes it ([`remove_file`]) if its transaction does not commit. A name
/// or type that is not accepted, or a file over `max`, is refused (`Err` with the reason's
/// key) and nothing is written.
#[allow(clippy::too_many_arguments)]
pub async fn store_for_message(
    tx: &mut crate::db::Tx,
    storage: &Storage,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    message_id: i64,
    filename: &str,
    bytes: Vec<u8>,
    shared: bool,
    max: usize,
) -> Result<std::result::Result<Document, &'static str>> {
    let (name, content_type) = match check_name(filename) {
        Ok(v) => v,
        Err(reason) => return Ok(Err(reason)),
    };
    if bytes.is_empty() {
        return Ok(Err("error.file_empty"));
    }
    if bytes.len() > max {
        return Ok(Err("error.too_large"));
    }
    let key = new_key(request_id);
    let size = bytes.len() as i64;
    storage.0.put(&StorePath::from(key.as_str()), PutPayload::from(bytes)).await.map_err(storage_err)?;
    let row = Row {
        request_id,
        name: &name,
        content_type,
        size,
        key: &key,
        shared,
        portal_account: None,
        message_id: Some(message_id),
        intervention_id: None,
    };
    let d = insert(tx, actor, now, row).await?;
    Ok(Ok(d))
}

/// Writes a file of the request to the storage under a new generated key (no row yet).
pub async fn put_file(storage: &Storage, request_id: i64, bytes: Vec<u8>) -> Result<String> {
    let key = new_key(request_id);
    storage.0.put(&StorePath::from(key.as_str()), PutPayload::from(bytes)).await.map_err(storage_err)?;
    Ok(key)
}

/// The row of a file sent with a message (already stored under `key` by [`put_file`]),
/// shared with the customer, with the request's history, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn attach_to_message(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    now: Millis,
    request_id: i64,
    message_id: i64,
    name: &str,
    content_type: &str,
    size: i64,
    key: &str,
    portal_account: Option<i64>,
) -> Result<Document> {
    let row = Row {
        request_id,
        name,
        content_type,
        size,
        key,
        shared: true,
        portal_account,
        message_id: Some(message_id),
        intervention_id: None,
    };
    insert_with_history(tx, actor, now, row).await
}

/// [`insert`], and the request's history says a document came.
async fn insert_with_history(tx: &mut crate::db::Tx, actor: &Actor, now: Millis, r: Row<'_>) -> Result<Document> {
    let (request_id, name) = (r.request_id, r.name.to_string());
    let d = insert(tx, actor, now, r).await?;
    audit::record(
        tx,
        actor,
        now,
        "service_request",
        request_id,
        "document",
        &[Change { field: "document".into(), old: None, new: Some(name) }],
    )
    .await?;
    Ok(d)
}

/// Removes a stored file whose row was not committed.
pub async fn remove_file(storage: &Storage, key: &str) {
    if let Err(e) = storage.0.delete(&StorePath::from(key)).await {
        tracing::warn!(error = %e, key, "document file left behind");
    }
}

/// The bytes of a document.
pub async fn content(storage: &Storage, d: &Document) -> Result<Vec<u8>> {
    let got = storage.0.get(&StorePath::from(d.storage_key.as_str())).await.map_err(storage_err)?;
    Ok(got.bytes().await.map_err(storage_err)?.to_vec())
}

/// Shares a document with the customer, or stops sharing it.
pub async fn set_shared(db: &Db, actor: &Actor, now: Millis, id: i64, shared: bool) -> Result<Document> {
    let mut tx = db.begin().await?;
    let old: Document =
        sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&mut *tx).await?.ok_or(Error::NotFound)?;
    sqlx::query("UPDATE documents SET shared = $1 WHERE id = $2").bind(shared as i64).bind(id).execute(&mut *tx).await?;
    let new: Document = sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    tx.commit().await?;
    Ok(new)
}

/// Deletes a document: the row (and history) first, then the file.
pub async fn delete(db: &Db, storage: &Storage, actor: &Actor, now: Millis, id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let old: Document =
        sqlx::query_as(&format!("{SELECT} WHERE id = $1")).bind(id).fetch_optional(&mut *tx).await?.ok_or(Error::NotFound)?;
    // A customer's signature stays with its intervention (the summary draws it).
    let signs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM interventions WHERE signature_document_id = $1").bind(id).fetch_one(&mut *tx).await?;
    if signs > 0 {
        return Err(Error::InvalidState { reason: "error.signature_kept" });
    }
    sqlx::query("DELETE FROM documents WHERE id = $1").bind(id).execute(&mut *tx).await?;
    audit::deleted(&mut tx, actor, now, id, &old).await?;
    audit::record(
        &mut tx,
        actor,
        now,
        "service_request",
        old.request_id,
        "document",
        &[Change { field: "document".into(), old: Some(old.filename.clone()), new: None }],
    )
    .await?;
    tx.commit().await?;
    if let Err(e) = storage.0.delete(&StorePath::from(old.storage_key.as_str())).await {
        tracing::warn!(error = %e, key = %old.storage_key, "document file left behind");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_become_paths() {
        assert_eq!(check_name("Rapport final.PDF").unwrap(), ("Rapport final.PDF".to_string(), "application/pdf"));
        assert_eq!(check_name("../../etc/passwd"), Err("error.file_name"));
        assert_eq!(check_name("..\\boot.ini"), Err("error.file_name"));
        assert_eq!(check_name("a/b.pdf"), Err("error.file_name"));
        assert_eq!(check_name("virus.exe"), Err("error.file_type"));
        assert_eq!(check_name("sans-extension"), Err("error.file_type"));
        assert_eq!(check_name("nul\u{0}.pdf"), Err("error.file_name"));
        assert_eq!(check_name("  "), Err("error.required"));
    }

    #[test]
    fn a_bad_storage_url_is_a_clear_startup_error() {
        let with = |url: &str| crate::config::Config { documents_url: Some(url.into()), ..Default::default() };
        let err = |url: &str| Storage::from_config(&with(url)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("ftp://user:pw@host/x").contains("expected s3://bucket"), "{}", err("ftp://user:pw@host/x"));
        assert!(!err("ftp://user:pw@host/x").contains("pw"), "no secret in the message");
        assert!(err("s3:///prefix").contains("bucket name is missing"));
        assert!(err("s3://docs?colour=blue").contains("unknown S3 option \"colour\""));
        let ok = Storage::from_config(&with("s3://docs/a/b?endpoint=http://127.0.0.1:9&region=us-east-1&allow_http=true"));
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
}
