//! `carnet backup` and `carnet restore` for SQLite: one `.tar.gz` archive holding a
//! consistent copy of the live database (`VACUUM INTO`, which reads one snapshot while the
//! server keeps writing), the local documents folder, and `manifest.json` (the release, the
//! schema version, every file with its size and SHA-256).
//!
//! Restore extracts into a temporary folder beside the database, checks every file against
//! the manifest (a missing, extra, truncated or altered file refuses the archive), refuses a
//! schema newer than this binary knows, refuses a database or documents folder that already
//! holds something unless forced, then puts the files in place (the database by rename, its
//! stale `-wal`/`-shm` removed first) and migrates forward. The server must be stopped.
//!
//! PostgreSQL and S3 documents are backed up with their own tools (`pg_dump`, bucket
//! versioning): see docs/operations.md.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::config::Config;
use crate::db::{Db, MIGRATIONS};

/// The archive's layout version (a later layout bumps it; restore refuses one it does not know).
pub const FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// The database's name inside the archive.
pub const DATABASE: &str = "carnet.db";
/// The documents' folder inside the archive.
pub const DOCUMENTS: &str = "documents";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    /// The release that made it (`carnet --version`).
    pub carnet_version: String,
    pub commit: String,
    /// The last migration applied to the database copied.
    pub schema_version: i64,
    /// When the copy was taken (ms since the epoch, UTC).
    pub created_at: i64,
    /// Whether the documents are in it (they are not when stored in S3).
    pub documents_included: bool,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the archive (`carnet.db`, `documents/…`).
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// What a backup or restore did, for the command's message.
#[derive(Debug)]
pub struct Summary {
    pub schema_version: i64,
    pub documents: usize,
    pub bytes: u64,
    /// Restore: migrations applied after the files were put in place.
    pub migrated: usize,
}

/// The file of a `sqlite://` URL (`None` for PostgreSQL or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//").split('?').next().unwrap_or("");
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

fn sqlite_only(config: &Config, what: &str) -> anyhow::Result<PathBuf> {
    sqlite_file(&config.database_url).ok_or_else(|| {
        anyhow!(
            "carnet {what} is for SQLite; for PostgreSQL use pg_dump/pg_restore and, for documents in S3, bucket versioning \
             (see docs/operations.md)"
        )
    })
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads through to a SHA-256 and a byte count.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Every file under `dir`, as paths relative to it (sorted; symbolic links are not followed).
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel)).with_context(|| format!("reading {}", dir.join(&rel).display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Adds the file `src` as `name`, hashing what is written.
fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, src: &Path) -> anyhow::Result<FileEntry> {
    let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let len = file.metadata()?.len();
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut reader = Hashing { inner: file.take(len), hash: Sha256::new(), size: 0 };
    tar.append_data(&mut header, name, &mut reader).with_context(|| format!("archiving {}", src.display()))?;
    if reader.size != len {
        bail!("{} changed while it was archived", src.display());
    }
    Ok(FileEntry { path: name.to_string(), size: len, sha256: hex(&reader.hash.finalize()) })
}

/// `carnet backup --to FILE`: the archive of the configured SQLite database (live: other
/// processes may keep writing) and the documents folder. Written to `FILE.partial`, then
/// renamed, so that `FILE` is whole or absent.
pub async fn backup(config: &Config, to: &Path, now: i64) -> anyhow::Result<Summary> {
    let db_file = sqlite_only(config, "backup")?;
    if !db_file.is_file() {
        bail!("no database at {}", db_file.display());
    }
    let work = tempfile::Builder::new().prefix(".carnet-backup").tempdir_in(parent_of(to)).context("creating a temporary folder")?;
    let copy = work.path().join(DATABASE);
    // A consistent snapshot of the live database (one read transaction: writers go on),
    // compacted, without its WAL.
    let mut live = open(&db_file, false).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(copy.to_string_lossy().to_string())
        .execute(&mut live)
        .await
        .context("copying the database (VACUUM INTO)")?;
    live.close().await?;
    let schema_version = {
        let mut snap = open(&copy, true).await?;
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut snap).await?;
        snap.close().await?;
        v.unwrap_or(0)
    };
    // The documents folder, unless documents are in S3 (then the bucket is backed up apart).
    let documents_included = config.documents_url.is_none();
    let docs = if documents_included { files_under(&config.documents_dir)? } else { Vec::new() };
    let partial = to.with_extension("partial");
    let out = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(out), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut files = vec![append(&mut tar, DATABASE, &copy)?];
    for rel in &docs {
        let name = format!("{DOCUMENTS}/{}", rel.to_string_lossy().replace('\\', "/"));
        files.push(append(&mut tar, &name, &config.documents_dir.join(rel))?);
    }
    let manifest = Manifest {
        format: FORMAT,
        carnet_version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("CARNET_GIT_COMMIT").into(),
        schema_version,
        created_at: now,
        documents_included,
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, MANIFEST, json.as_slice())?;
    let gz = tar.into_inner()?;
    let mut buf = gz.finish()?;
    buf.flush()?;
    buf.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, to).with_context(|| format!("renaming {} to {}", partial.display(), to.display()))?;
    let bytes = std::fs::metadata(to)?.len();
    Ok(Summary { schema_version, documents: docs.len(), bytes, migrated: 0 })
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A path inside the archive that stays inside the folder it is extracted to.
fn safe_relative(p: &Path) -> bool {
    !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Extracts `from` into `dir` and checks it against its manifest: every listed file present
/// with its size and checksum, nothing unlisted, a format and a schema this binary knows.
pub fn unpack_and_verify(from: &Path, dir: &Path) -> anyhow::Result<Manifest> {
    let file = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut seen: Vec<(String, u64, String)> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    for entry in archive.entries().context("the archive is not a Carnet backup (unreadable)")? {
        let mut entry = entry.context("the archive is damaged (unreadable entry)")?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive holds something other than files");
        }
        let path = entry.path()?.into_owned();
        if !safe_relative(&path) {
            bail!("the archive holds an unsafe path: {}", path.display());
        }
        let name = path.to_string_lossy().replace('\\', "/");
        if name == MANIFEST {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).context("the archive is damaged (manifest)")?;
            manifest = Some(serde_json::from_slice(&text).context("the archive's manifest is not valid")?);
            continue;
        }
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = File::create(&target)?;
        let mut reader = Hashing { inner: &mut entry, hash: Sha256::new(), size: 0 };
        std::io::copy(&mut reader, &mut out).with_context(|| format!("the archive is damaged ({name})"))?;
        out.sync_all()?;
        let (size, sha) = (reader.size, hex(&reader.hash.finalize()));
        seen.push((name, size, sha));
    }
    let manifest = manifest.ok_or_else(|| anyhow!("the archive has no {MANIFEST}: not a Carnet backup"))?;
    if manifest.format != FORMAT {
        bail!("the archive's format {} is not one this binary knows ({FORMAT})", manifest.format);
    }
    for f in &manifest.files {
        match seen.iter().find(|(n, _, _)| *n == f.path) {
            None => bail!("the archive is incomplete: {} is missing", f.path),
            Some((_, size, sha)) if *size != f.size || *sha != f.sha256 => {
                bail!("checksum mismatch for {}: the archive is damaged", f.path)
            }
            Some(_) => {}
        }
    }
    if let Some((n, _, _)) = seen.iter().find(|(n, _, _)| !manifest.files.iter().any(|f| f.path == *n)) {
        bail!("the archive holds {n}, which its manifest does not list");
    }
    if !manifest.files.iter().any(|f| f.path == DATABASE) {
        bail!("the archive holds no database");
    }
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if manifest.schema_version > known {
        bail!(
            "the backup's schema (migration {}) is newer than this binary knows ({known}): restore it with carnet {} or later",
            manifest.schema_version,
            manifest.carnet_version
        );
    }
    Ok(manifest)
}

/// Whether the SQLite file holds any table.
async fn has_tables(file: &Path) -> anyhow::Result<bool> {
    if !file.exists() || std::fs::metadata(file)?.len() == 0 {
        return Ok(false);
    }
    let mut db = open(file, true).await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetch_one(&mut db).await?;
    db.close().await?;
    Ok(n > 0)
}

/// One plain SQLite connection to `file` (not the application's pool and writer).
async fn open(file: &Path, read_only: bool) -> anyhow::Result<sqlx::SqliteConnection> {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("opening {}", file.display()))
}

/// `carnet restore --from FILE [--force]` into the configured SQLite database and documents
/// folder (the server stopped), then migrates forward.
pub async fn restore(config: &Config, from: &Path, force: bool, now: i64) -> anyhow::Result<Summary> {
    let db_file = sqlite_only(config, "restore")?;
    let folder = parent_of(&db_file);
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let work = tempfile::Builder::new().prefix(".carnet-restore").tempdir_in(&folder).context("creating a temporary folder")?;
    let manifest = unpack_and_verify(from, work.path())?;
    // The copy itself says the same schema as the manifest.
    let staged = work.path().join(DATABASE);
    {
        let mut snap = open(&staged, true).await?;
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut snap).await?;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut snap).await?;
        snap.close().await?;
        if v.unwrap_or(0) != manifest.schema_version {
            bail!("the archive's database is at migration {:?}, its manifest says {}", v, manifest.schema_version);
        }
        if check != "ok" {
            bail!("the archive's database fails its integrity check: {check}");
        }
    }
    let docs: Vec<&FileEntry> = manifest.files.iter().filter(|f| f.path != DATABASE).collect();
    if !force {
        if has_tables(&db_file).await? {
            bail!("the database {} is not empty: stop Carnet and add --force to replace it", db_file.display());
        }
        if !docs.is_empty() && !files_under(&config.documents_dir)?.is_empty() {
            bail!("the documents folder {} is not empty: add --force to restore into it", config.documents_dir.display());
        }
    }
    if !manifest.documents_included && config.documents_url.is_none() {
        tracing::warn!("this backup holds no documents (they were in S3): restore the bucket apart");
    }
    // Documents first (a database never points at a file not yet there), then the database.
    for f in &docs {
        let rel = Path::new(f.path.strip_prefix(&format!("{DOCUMENTS}/")).unwrap_or(&f.path));
        let target = config.documents_dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(work.path().join(&f.path), &target).with_context(|| format!("restoring {}", target.display()))?;
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = PathBuf::from(format!("{}{suffix}", db_file.display()));
        if side.exists() {
            std::fs::remove_file(&side).with_context(|| format!("removing {}", side.display()))?;
        }
    }
    std::fs::rename(&staged, &db_file).with_context(|| format!("putting the database at {}", db_file.display()))?;
    let db = Db::connect(&config.database_url, None, 1).await?;
    let migrated = crate::db::migrate(&db, now).await;
    db.close().await;
    let migrated = migrated?;
    let bytes = manifest.files.iter().map(|f| f.size).sum();
    Ok(Summary { schema_version: manifest.schema_version, documents: docs.len(), bytes, migrated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_and_safe_paths() {
        assert_eq!(sqlite_file("sqlite://carnet.db"), Some(PathBuf::from("carnet.db")));
        assert_eq!(sqlite_file("sqlite:///var/lib/carnet/c.db?mode=rwc"), Some(PathBuf::from("/var/lib/carnet/c.db")));
        assert_eq!(sqlite_file("postgres://u@h/d"), None);
        assert!(safe_relative(Path::new("documents/ab/cd")));
        assert!(!safe_relative(Path::new("../etc/passwd")));
        assert!(!safe_relative(Path::new("/etc/passwd")));
        assert!(!safe_relative(Path::new("documents/../../x")));
    }
}
