//! The vendor's news for partners: staff with the right `news.publish` write items (title,
//! summary, body as safe formatted text, publication date, audience: every partner or some);
//! the partner portal lists those published for the user's organisation, shows one ("read
//! more") and marks it read for that user.
//!
//! The body is never HTML: [`render`] escapes everything and understands a small markup
//! (paragraphs, `- ` lists, `**bold**`, `*italic*`, `[text](https://…)` links).

use super::{Audience, NewsItem, PartnerUser};
use crate::audit::{self, Actor};
use crate::clock::Millis;
use crate::db::{Db, Sql, Tx};
use crate::error::{Error, FieldErrors, Result};

pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 600;
pub const BODY_MAX: usize = 20_000;

const SELECT: &str = "SELECT n.id, n.title, n.summary, n.body, CASE WHEN n.image_data IS NULL THEN 0 ELSE 1 END AS has_image, \
    n.published_at, n.audience, n.author_id, n.created_at, n.updated_at FROM news_items n";

/// A news item's fields, parsed.
#[derive(Debug, Clone)]
pub struct NewsInput {
    pub title: String,
    pub summary: String,
    pub body: String,
    pub published_at: Millis,
    pub audience: Audience,
    pub partner_ids: Vec<i64>,
}

impl NewsInput {
    /// Checks the fields; `published_at` is parsed by the caller (it needs the time zone).
    pub fn parse(
        title: &str,
        summary: &str,
        body: &str,
        published_at: Option<Millis>,
        audience: &str,
        partner_ids: Vec<i64>,
    ) -> Result<NewsInput> {
        let mut errs = FieldErrors::new();
        let mut field = |name: &str, v: &str, max: usize| {
            let v = v.trim().replace("\r\n", "\n");
            if v.is_empty() {
                errs.add(name, "error.required");
            } else if v.chars().count() > max {
                errs.add(name, "error.too_long");
            }
            v
        };
        let title = field("title", title, TITLE_MAX);
        let summary = field("summary", summary, SUMMARY_MAX);
        let body = field("body", body, BODY_MAX);
        if published_at.is_none() {
            errs.add("published_at", "error.invalid_datetime");
        }
        let audience = Audience::parse(audience);
        match audience {
            None => errs.add("audience", "error.invalid_choice"),
            Some(Audience::Some) if partner_ids.is_empty() => errs.add("partner_ids", "error.required"),
            _ => {}
        }
        errs.into_result()?;
        let audience = audience.unwrap_or(Audience::All);
        let mut partner_ids = if audience == Audience::Some { partner_ids } else { Vec::new() };
        partner_ids.sort_unstable();
        partner_ids.dedup();
        // To the minute, as the form shows it (a form posted back unchanged changes nothing).
        let published_at = published_at.unwrap_or_default();
        Ok(NewsInput { title, summary, body, published_at: published_at - published_at.rem_euclid(60_000), audience, partner_ids })
    }
}

async fn get_in(tx: &mut Tx, id: i64) -> Result<Option<NewsItem>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE n.id = $1")).bind(id).fetch_optional(&mut **tx).await?)
}

/// A news item (staff side: every item).
pub async fn get(db: &Db, id: i64) -> Result<Option<NewsItem>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE n.id = $1")).bind(id).fetch_optional(&db.pool).await?)
}

/// The partners an item is addressed to (audience `some`).
pub async fn audience_of(db: &Db, id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar("SELECT partner_id FROM news_item_partners WHERE news_item_id = $1 ORDER BY partner_id")
        .bind(id)
        .fetch_all(&db.pool)
        .await?)
}

async fn write_audience(tx: &mut Tx, id: i64, input: &NewsInput) -> Result<()> {
    sqlx::query("DELETE FROM news_item_partners WHERE news_item_id = $1").bind(id).execute(&mut **tx).await?;
    for p in &input.partner_ids {
        let known: Option<i64> = sqlx::query_scalar("SELECT id FROM partners WHERE id = $1").bind(*p).fetch_optional(&mut **tx).await?;
        if known.is_none() {
            return Err(Error::validation("partner_ids", "error.invalid_choice"));
        }
        sqlx::query("INSERT INTO news_item_partners (news_item_id, partner_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*p)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn audience_change(old: &[i64], new: &[i64]) -> Option<audit::Change> {
    let text = |v: &[i64]| Some(v.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty());
    (old != new).then(|| audit::Change { field: "partners".into(), old: text(old), new: text(new) })
}

pub async fn create(db: &Db, actor: &Actor, now: Millis, input: &NewsInput) -> Result<NewsItem> {
    let mut tx = db.begin().await?;
    let id = sqlx::query_scalar::<_, i64>(
        "INSERT INTO news_items (title, summary, body, published_at, audience, author_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&input.title)
    .bind(&input.summary)
    .bind(&input.body)
    .bind(input.published_at)
    .bind(input.audience.code())
    .bind(actor.id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    write_audience(&mut tx, id, input).await?;
    let n = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::created(&mut tx, actor, now, id, &n).await?;
    if let Some(c) = audience_change(&[], &input.partner_ids) {
        audit::record(&mut tx, actor, now, "news_item", id, "updated", &[c]).await?;
    }
    tx.commit().await?;
    Ok(n)
}

pub async fn update(db: &Db, actor: &Actor, now: Millis, id: i64, input: &NewsInput) -> Result<NewsItem> {
    let old_partners = audience_of(db, id).await?;
    let mut tx = db.begin().await?;
    let old = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    let unchanged = old.title == input.title
        && old.summary == input.summary
        && old.body == input.body
        && old.published_at == input.published_at
        && old.audience == input.audience.code()
        && old_partners == input.partner_ids;
    if unchanged {
        // The form posted back as shown: nothing to write, nothing in the history.
        tx.rollback().await?;
        return Ok(old);
    }
    sqlx::query(
        "UPDATE news_items SET title = $1, summary = $2, body = $3, published_at = $4, audience = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&input.title)
    .bind(&input.summary)
    .bind(&input.body)
    .bind(input.published_at)
    .bind(input.audience.code())
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    write_audience(&mut tx, id, input).await?;
    let new = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    audit::updated(&mut tx, actor, now, id, &old, &new).await?;
    if let Some(c) = audience_change(&old_partners, &input.partner_ids) {
        audit::record(&mut tx, actor, now, "news_item", id, "updated", &[c]).await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Every item (staff list), newest publication first, `limit` after the cursor
/// `(published_at, id)`.
pub async fn all(db: &Db, after: Option<(Millis, i64)>, limit: i64) -> Result<(Vec<NewsItem>, bool)> {
    let mut s = Sql::new(SELECT);
    s.push(" WHERE 1 = 1");
    page(db, s, after, limit).await
}

async fn page(db: &Db, mut s: Sql, after: Option<(Millis, i64)>, limit: i64) -> Result<(Vec<NewsItem>, bool)> {
    if let Some((at, id)) = after {
        s.push(" AND (n.published_at < ").bind(at).push(" OR (n.published_at = ").bind(at).push(" AND n.id < ").bind(id).push("))");
    }
    s.push(&format!(" ORDER BY n.published_at DESC, n.id DESC LIMIT {}", limit + 1));
    let mut rows: Vec<NewsItem> = s.query_as().fetch_all(&db.pool).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    Ok((rows, more))
}

/// The condition "published for this partner by `now`" on `news_items n`.
fn for_partner(partner_id: i64, now: Millis) -> Sql {
    let mut s = Sql::new(" WHERE n.published_at <= ");
    s.bind(now)
        .push(" AND (n.audience = 'all' OR EXISTS (SELECT 1 FROM news_item_partners np WHERE np.news_item_id = n.id AND np.partner_id = ");
    s.bind(partner_id).push("))");
    s
}

/// A news item in the partner portal, with whether the user has read it.
#[derive(Debug, Clone)]
pub struct PartnerNews {
    pub item: NewsItem,
    pub unread: bool,
}

/// The news published for the user's organisation, newest first.
pub async fn for_user(db: &Db, u: &PartnerUser, now: Millis, after: Option<(Millis, i64)>, limit: i64) -> Result<(Vec<PartnerNews>, bool)> {
    let mut s = Sql::new(SELECT);
    s.append(for_partner(u.partner_id, now));
    let (items, more) = page(db, s, after, limit).await?;
    let read: Vec<i64> = if items.is_empty() {
        Vec::new()
    } else {
        let mut q = Sql::new("SELECT news_item_id FROM news_reads WHERE user_id = ");
        q.bind(u.user_id).push(" AND news_item_id IN (");
        for (i, n) in items.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(n.id);
        }
        q.push(")");
        q.query_scalar().fetch_all(&db.pool).await?
    };
    Ok((items.into_iter().map(|item| PartnerNews { unread: !read.contains(&item.id), item }).collect(), more))
}

/// One news item published for the user's organisation (None otherwise, as an unknown id).
pub async fn one_for_user(db: &Db, u: &PartnerUser, now: Millis, id: i64) -> Result<Option<NewsItem>> {
    let mut s = Sql::new(SELECT);
    s.append(for_partner(u.partner_id, now));
    s.push(" AND n.id = ").bind(id);
    Ok(s.query_as().fetch_optional(&db.pool).await?)
}

/// Marks an item read by the user (once; the first reading is kept).
pub async fn mark_read(db: &Db, u: &PartnerUser, now: Millis, id: i64) -> Result<()> {
    let done: Option<i64> = sqlx::query_scalar("SELECT news_item_id FROM news_reads WHERE user_id = $1 AND news_item_id = $2")
        .bind(u.user_id)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    if done.is_none() {
        let r = sqlx::query("INSERT INTO news_reads (user_id, news_item_id, read_at) VALUES ($1, $2, $3)")
            .bind(u.user_id)
            .bind(id)
            .bind(now)
            .execute(&db.pool)
            .await;
        match r {
            Ok(_) => {}
            // Two tabs read it at once: one mark is enough.
            Err(e) if crate::db::is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// How many items published for the user's organisation they have not read.
pub async fn unread_count(db: &Db, u: &PartnerUser, now: Millis) -> Result<i64> {
    let mut s = Sql::new("SELECT COUNT(*) FROM news_items n");
    s.append(for_partner(u.partner_id, now));
    s.push(" AND NOT EXISTS (SELECT 1 FROM news_reads r WHERE r.news_item_id = n.id AND r.user_id = ").bind(u.user_id).push(")");
    Ok(s.query_scalar().fetch_one(&db.pool).await?)
}

// ------------------------------------------------------------------ safe formatted text

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline markup of one line: `**bold**`, `*italic*`, `[text](https://…)` (http and https
/// links only, opened without referrer). Everything else is escaped text.
fn inline(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|e| *e > 0) {
                out.push_str("<strong>");
                out.push_str(&inline(&after[..end]));
                out.push_str("</strong>");
                rest = &after[end + 2..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('*') {
            if let Some(end) = after.find('*').filter(|e| *e > 0) {
                out.push_str("<em>");
                out.push_str(&escape(&after[..end]));
                out.push_str("</em>");
                rest = &after[end + 1..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some((text, tail)) = after.split_once("](") {
                if let Some((url, tail)) = tail.split_once(')') {
                    let ok = (url.starts_with("https://") || url.starts_with("http://"))
                        && !url.chars().any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>');
                    if ok && !text.is_empty() && !text.contains(']') {
                        out.push_str(&format!("<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>", escape(url), escape(text)));
                        rest = tail;
                        continue;
                    }
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push_str(&escape(&c.to_string()));
        }
        rest = chars.as_str();
    }
    out
}

/// Renders a body of safe formatted text to HTML: blank lines separate paragraphs, lines
/// starting with `- ` make a list, single line breaks are kept. Never raw HTML.
pub fn render(body: &str) -> String {
    let mut out = String::new();
    for block in body.replace("\r\n", "\n").split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let lines: Vec<&str> = block.lines().map(str::trim_end).collect();
        if lines.iter().all(|l| l.trim_start().starts_with("- ")) {
            out.push_str("<ul>");
            for l in lines {
                out.push_str("<li>");
                out.push_str(&inline(l.trim_start().trim_start_matches("- ")));
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        } else {
            out.push_str("<p>");
            out.push_str(&lines.iter().map(|l| inline(l)).collect::<Vec<_>>().join("<br>"));
            out.push_str("</p>");
        }
    }
    out
}

/// The largest image of a news item.
pub const IMAGE_MAX_BYTES: usize = 2 * 1024 * 1024;

/// The type of an image, from its first bytes (PNG, JPEG, WebP, GIF); anything else is refused.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// Sets (or, with `None`, removes) a news item's image, with its history.
pub async fn set_image(db: &Db, actor: &Actor, now: Millis, id: i64, image: Option<Vec<u8>>) -> Result<()> {
    let kind = match &image {
        Some(b) if b.is_empty() => return Err(Error::validation("image", "error.required")),
        Some(b) if b.len() > IMAGE_MAX_BYTES => return Err(Error::validation("image", "error.too_large")),
        Some(b) => Some(image_type(b).ok_or_else(|| Error::validation("image", "error.image_type"))?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let old = get_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
    sqlx::query("UPDATE news_items SET image_type = $1, image_data = $2, updated_at = $3 WHERE id = $4")
        .bind(kind)
        .bind(image)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let change =
        audit::Change { field: "image".into(), old: (old.has_image != 0).then(|| "image".to_string()), new: kind.map(str::to_string) };
    audit::record(&mut tx, actor, now, "news_item", id, "updated", &[change]).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_text_never_lets_html_through() {
        let html = render("<script>alert(1)</script>\n\n**Nouveau** *produit* [site](https://example.com/a?b=1&c=2)\n\n- un\n- deux");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<strong>Nouveau</strong> <em>produit</em>"));
        assert!(html.contains("<a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer\">site</a>"));
        assert!(html.contains("<ul><li>un</li><li>deux</li></ul>"));
        // Only http(s) links; quotes cannot leave the attribute.
        let bad = render("[x](javascript:alert(1)) [y](https://a.b/\"onmouseover=x)");
        assert!(!bad.contains("href=\"javascript"), "{bad}");
        assert!(!bad.contains("\"onmouseover"), "{bad}");
        assert_eq!(render("a *b"), "<p>a *b</p>");
    }

    #[test]
    fn news_input_requires_partners_for_a_limited_audience() {
        assert!(NewsInput::parse("T", "S", "B", Some(1), "some", vec![]).is_err());
        let n = NewsInput::parse(" T ", "S", "B", Some(1), "all", vec![3]).unwrap();
        assert_eq!((n.title.as_str(), n.partner_ids.len()), ("T", 0));
        assert!(NewsInput::parse("", "S", "B", None, "x", vec![]).is_err());
    }
}
