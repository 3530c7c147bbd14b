//! `carnet migrate-data`: copies every table of one database into another of the same
//! schema version (SQLite to PostgreSQL: a shop that grows keeps its data). Generic over the
//! schema: the tables and their foreign keys are read from the source's catalogue, the
//! columns and their types from the target's, so a new table needs nothing here.
//!
//! Tables are copied in dependency order (a table after those it references), rows in the
//! source's order, in batches, all in one target transaction: the copy is whole or absent.
//! A column referencing its own table (`org_units.parent_id`) is filled in a second pass, once
//! every row exists. Identity sequences then continue after the largest id copied or given, and the
//! row count of every table is compared before the commit.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::{Backend, Db};

/// Rows per statement, at most (and fewer for wide tables: PostgreSQL takes 65 535 parameters).
const BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("copy from SQLite to PostgreSQL only")]
    Backends,
    #[error("the source is at migration {source_version:?}, the target at {target_version:?}: both must be at this release's")]
    Versions { source_version: Option<i64>, target_version: Option<i64> },
    #[error("the target is not empty (table {0} has rows): copy into a fresh database or schema")]
    NotEmpty(String),
    #[error("table {0} has no counterpart in the target")]
    MissingTable(String),
    #[error("column {1} of table {0} has no counterpart in the target")]
    MissingColumn(String, String),
    #[error("the foreign keys of tables {0:?} form a cycle")]
    Cycle(Vec<String>),
    #[error("table {table}: {source_rows} rows in the source, {target_rows} copied")]
    Count { table: String, source_rows: i64, target_rows: i64 },
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

/// One table copied, with its row count (equal on both sides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: String,
    pub rows: i64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Real,
    Text,
    Bytes,
}

enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

struct Column {
    name: String,
    kind: Kind,
    /// References its own table: copied NULL, then set in a second pass.
    self_ref: bool,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The source's tables (application tables only), in an order where each comes after the
/// tables it references; and, per table, its columns referencing itself.
async fn tables_in_order(source: &Db) -> Result<(Vec<String>, BTreeMap<String, BTreeSet<String>>), CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name",
    )
    .fetch_all(&source.pool)
    .await?;
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut self_refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &names {
        let fks = sqlx::query("SELECT \"table\", \"from\" FROM pragma_foreign_key_list($1)").bind(t).fetch_all(&source.pool).await?;
        let entry = deps.entry(t.clone()).or_default();
        for fk in fks {
            let (other, column): (String, String) = (fk.try_get(0)?, fk.try_get(1)?);
            if other == *t {
                self_refs.entry(t.clone()).or_default().insert(column);
            } else if names.contains(&other) {
                entry.insert(other);
            }
        }
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while !deps.is_empty() {
        let ready: Vec<String> = deps.iter().filter(|(_, d)| d.is_subset(&done)).map(|(t, _)| t.clone()).collect();
        if ready.is_empty() {
            return Err(CopyError::Cycle(deps.keys().cloned().collect()));
        }
        for t in ready {
            deps.remove(&t);
            done.insert(t.clone());
            order.push(t);
        }
    }
    Ok((order, self_refs))
}

async fn version(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&db.pool).await
}

/// Copies every table of `source` (SQLite) into `target` (PostgreSQL), both at this
/// release's schema; the target must hold no row. Returns each table's count.
pub async fn copy_all(source: &Db, target: &Db) -> Result<Vec<Copied>, CopyError> {
    if source.backend != Backend::Sqlite || target.backend != Backend::Postgres {
        return Err(CopyError::Backends);
    }
    let known = super::MIGRATIONS.last().map(|m| m.version);
    let (sv, tv) = (version(source).await?, version(target).await?);
    if sv != known || tv != known {
        return Err(CopyError::Versions { source_version: sv, target_version: tv });
    }
    let (tables, self_refs) = tables_in_order(source).await?;
    let mut tx = target.pool.begin().await?;
    for t in &tables {
        let any: Option<i64> =
            sqlx::query_scalar(&format!("SELECT 1 FROM {} LIMIT 1", quote(t))).fetch_optional(&mut *tx).await.map_err(|e| match &e {
                sqlx::Error::Database(_) => CopyError::MissingTable(t.clone()),
                _ => CopyError::Sqlx(e),
            })?;
        if any.is_some() {
            return Err(CopyError::NotEmpty(t.clone()));
        }
    }
    let mut copied = Vec::new();
    for t in &tables {
        let source_cols: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid").bind(t).fetch_all(&source.pool).await?;
        let target_cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        let refs = self_refs.get(t).cloned().unwrap_or_default();
        let mut cols = Vec::new();
        for name in &source_cols {
            let Some((_, data_type)) = target_cols.iter().find(|(c, _)| c == name) else {
                return Err(CopyError::MissingColumn(t.clone(), name.clone()));
            };
            let kind = match data_type.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Int,
                "double precision" | "real" | "numeric" => Kind::Real,
                "bytea" => Kind::Bytes,
                _ => Kind::Text,
            };
            cols.push(Column { name: name.clone(), kind, self_ref: refs.contains(name) });
        }
        let has_id = cols.iter().any(|c| c.name == "id" && matches!(c.kind, Kind::Int));
        let list = cols.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ");
        let per_batch = (60_000 / cols.len().max(1)).clamp(1, BATCH);
        let select = format!("SELECT rowid, {list} FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT {per_batch}", quote(t));
        let mut after = i64::MIN;
        let mut later: Vec<(i64, String, i64)> = Vec::new();
        let mut rows_copied = 0i64;
        loop {
            let rows = sqlx::query(&select).bind(after).fetch_all(&source.pool).await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get(0)?;
            let mut values: Vec<Value> = Vec::with_capacity(rows.len() * cols.len());
            for r in &rows {
                let id: Option<i64> = if has_id { r.try_get(cols.iter().position(|c| c.name == "id").map_or(0, |p| p + 1))? } else { None };
                for (i, c) in cols.iter().enumerate() {
                    let v = match c.kind {
                        Kind::Int => {
                            let v: Option<i64> = r.try_get(i + 1)?;
                            if c.self_ref {
                                if let (Some(v), Some(id)) = (v, id) {
                                    later.push((id, c.name.clone(), v));
                                }
                                Value::Int(None)
                            } else {
                                Value::Int(v)
                            }
                        }
                        Kind::Real => Value::Real(r.try_get(i + 1)?),
                        Kind::Text => Value::Text(r.try_get(i + 1)?),
                        Kind::Bytes => Value::Bytes(r.try_get(i + 1)?),
                    };
                    values.push(v);
                }
            }
            let mut sql = format!("INSERT INTO {} ({list}) VALUES ", quote(t));
            let mut n = 0;
            for row in 0..rows.len() {
                sql.push_str(if row > 0 { ", (" } else { "(" });
                for i in 0..cols.len() {
                    n += 1;
                    sql.push_str(&format!("{}${n}", if i > 0 { ", " } else { "" }));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for v in values {
                q = match v {
                    Value::Int(x) => q.bind(x),
                    Value::Real(x) => q.bind(x),
                    Value::Text(x) => q.bind(x),
                    Value::Bytes(x) => q.bind(x),
                };
            }
            rows_copied += q.execute(&mut *tx).await?.rows_affected() as i64;
        }
        for (id, column, value) in later {
            sqlx::query(&format!("UPDATE {} SET {} = $1 WHERE id = $2", quote(t), quote(&column)))
                .bind(value)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if has_id {
            // Identity columns go on after the largest id copied, or given: SQLite's
            // `AUTOINCREMENT` counter, which also covers the ids handed out from it to rows of
            // other tables (the expirations' history event ids, migration 38). A no-op for a
            // plain id column.
            let given: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = $1").bind(t).fetch_optional(&source.pool).await?;
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM {}), $2) + 1, false)",
                quote(t)
            ))
            .bind(quote(t))
            .bind(given.unwrap_or(0))
            .fetch_optional(&mut *tx)
            .await?;
        }
        let source_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(t))).fetch_one(&source.pool).await?;
        let target_rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quote(t))).fetch_one(&mut *tx).await?;
        if source_rows != target_rows || rows_copied != source_rows {
            return Err(CopyError::Count { table: t.clone(), source_rows, target_rows });
        }
        copied.push(Copied { table: t.clone(), rows: target_rows });
    }
    tx.commit().await?;
    super::analyze(target, &[]).await?;
    Ok(copied)
}
