//! Search as you type, the same on both backends: each searchable record keeps its words in
//! `search_terms`, folded (lower case, accents removed: "Hélène" → "helene"), and a query
//! matches records having, for every word typed, a term starting with it. The primary key
//! (entity_type, term, entity_id) makes each word an index range scan.

use unicode_normalization::UnicodeNormalization;

use crate::db::page::Dir;
use crate::db::{Sql, Tx};
use crate::error::Result;

/// Lower case, accents and punctuation removed; words separated by single spaces.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.nfd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)) {
        let c = match c {
            'ß' => 's',
            'æ' | 'Æ' => 'a',
            'œ' | 'Œ' => 'o',
            'ø' | 'Ø' => 'o',
            'đ' | 'Đ' => 'd',
            'ł' | 'Ł' => 'l',
            c => c,
        };
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(c.to_lowercase());
        } else {
            space = true;
        }
    }
    out
}

/// The folding of names for sorting, applied character by character: accented Latin letters
/// to their base letters, combining accents removed, A–Z to lower case; anything else is kept.
/// Migration `0014_sold_and_sort_keys` backfilled existing rows with one SQL `REPLACE` per
/// entry, in this order: change the table and existing keys need the same change.
#[rustfmt::skip]
pub const SORT_FOLD: &[(char, &str)] = &[
    ('à', "a"), ('á', "a"), ('â', "a"), ('ã', "a"), ('ä', "a"), ('å', "a"), ('ā', "a"), ('À', "a"), ('Á', "a"),
    ('Â', "a"), ('Ã', "a"), ('Ä', "a"), ('Å', "a"), ('Ā', "a"), ('æ', "ae"), ('Æ', "ae"), ('ç', "c"), ('ć', "c"),
    ('č', "c"), ('Ç', "c"), ('Ć', "c"), ('Č', "c"), ('đ', "d"), ('Đ', "d"), ('è', "e"), ('é', "e"), ('ê', "e"),
    ('ë', "e"), ('ē', "e"), ('ę', "e"), ('ě', "e"), ('È', "e"), ('É', "e"), ('Ê', "e"), ('Ë', "e"), ('Ē', "e"),
    ('Ę', "e"), ('Ě', "e"), ('ğ', "g"), ('Ğ', "g"), ('ì', "i"), ('í', "i"), ('î', "i"), ('ï', "i"), ('ī', "i"),
    ('ı', "i"), ('Ì', "i"), ('Í', "i"), ('Î', "i"), ('Ï', "i"), ('Ī', "i"), ('İ', "i"), ('ł', "l"), ('Ł', "l"),
    ('ñ', "n"), ('ń', "n"), ('ň', "n"), ('Ñ', "n"), ('Ń', "n"), ('Ň', "n"), ('ò', "o"), ('ó', "o"), ('ô', "o"),
    ('õ', "o"), ('ö', "o"), ('ø', "o"), ('ō', "o"), ('Ò', "o"), ('Ó', "o"), ('Ô', "o"), ('Õ', "o"), ('Ö', "o"),
    ('Ø', "o"), ('Ō', "o"), ('œ', "oe"), ('Œ', "oe"), ('ř', "r"), ('Ř', "r"), ('ś', "s"), ('š', "s"), ('ş', "s"),
    ('Ś', "s"), ('Š', "s"), ('Ş', "s"), ('ß', "ss"), ('ť', "t"), ('Ť', "t"), ('ù', "u"), ('ú', "u"), ('û', "u"),
    ('ü', "u"), ('ū', "u"), ('ů', "u"), ('Ù', "u"), ('Ú', "u"), ('Û', "u"), ('Ü', "u"), ('Ū', "u"), ('Ů', "u"),
    ('ý', "y"), ('ÿ', "y"), ('Ý', "y"), ('Ÿ', "y"), ('ź', "z"), ('ż', "z"), ('ž', "z"), ('Ź', "z"), ('Ż', "z"),
    ('Ž', "z"), ('\u{0300}', ""), ('\u{0301}', ""), ('\u{0302}', ""), ('\u{0303}', ""), ('\u{0304}', ""),
    ('\u{0308}', ""), ('\u{030a}', ""), ('\u{030c}', ""), ('\u{0327}', ""), ('\u{0328}', ""), ('A', "a"), ('B', "b"),
    ('C', "c"), ('D', "d"), ('E', "e"), ('F', "f"), ('G', "g"), ('H', "h"), ('I', "i"), ('J', "j"), ('K', "k"),
    ('L', "l"), ('M', "m"), ('N', "n"), ('O', "o"), ('P', "p"), ('Q', "q"), ('R', "r"), ('S', "s"), ('T', "t"),
    ('U', "u"), ('V', "v"), ('W', "w"), ('X', "x"), ('Y', "y"), ('Z', "z"),
];

/// The key names sort by, in byte order on both backends: accent- and case-free, so that
/// "Étienne" ("etienne") comes before "Zoé" ("zoe"). Stored beside the name (`sort_key`).
pub fn sort_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match SORT_FOLD.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// The terms of a record: each folded word, and each whole value folded without spaces (so
/// that "jean.dupont@" or "514 555" typed as one word still match).
pub fn terms(values: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let f = fold(v);
        out.extend(f.split(' ').filter(|w| !w.is_empty()).map(|w| w.chars().take(60).collect()));
        let joined: String = f.chars().filter(|c| *c != ' ').take(60).collect();
        if !joined.is_empty() {
            out.push(joined);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Replaces a record's terms (inside the transaction that changes it).
pub async fn index(tx: &mut Tx, entity: &str, id: i64, values: &[&str]) -> Result<()> {
    index_many(tx, entity, &[(id, values.to_vec())]).await
}

/// The words of a query: folded, digits typed in groups ("514 555 01") joined into one
/// number, at most six.
pub fn words(q: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in fold(q).split(' ').filter(|w| !w.is_empty()) {
        let digits = w.chars().all(|c| c.is_ascii_digit());
        match words.last_mut() {
            Some(last) if digits && last.chars().all(|c| c.is_ascii_digit()) => last.push_str(w),
            _ => words.push(w.to_string()),
        }
    }
    words.truncate(6);
    words
}

/// The end of the byte-order range of the terms starting with `w`.
fn upper(w: &str) -> String {
    format!("{w}\u{10FFFF}")
}

/// The condition "`id_col` is a record of `entity` matching every word of `q`", or `None`
/// when `q` has no word.
pub fn matching(entity: &str, id_col: &str, q: &str) -> Option<Sql> {
    let words = words(q);
    if words.is_empty() {
        return None;
    }
    let mut s = Sql::new("(");
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(" AND ");
        }
        // A prefix as a byte-order range: an index range scan on both backends (LIKE would
        // not use the index: SQLite's LIKE ignores case, PostgreSQL's needs the C collation).
        s.push(id_col)
            .push(" IN (SELECT entity_id FROM search_terms WHERE entity_type = ")
            .bind(entity)
            .push(" AND term >= ")
            .bind(w.clone())
            .push(" AND term < ")
            .bind(upper(w))
            .push(")");
    }
    s.push(")");
    Some(s)
}

/// [`matching`] as one `EXISTS` probe of the record's terms per word (the `(entity_type,
/// entity_id, term)` index): for a query that walks few records in its own order (a
/// representative's customers by name) and stops after a page.
pub fn probing(entity: &str, id_col: &str, q: &str) -> Option<Sql> {
    let words = words(q);
    if words.is_empty() {
        return None;
    }
    let mut s = Sql::new("(");
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(" AND ");
        }
        s.push("EXISTS (SELECT 1 FROM search_terms p WHERE p.entity_type = ")
            .bind(entity)
            .push(" AND p.entity_id = ")
            .push(id_col)
            .push(" AND p.term >= ")
            .bind(w.clone())
            .push(" AND p.term < ")
            .bind(upper(w))
            .push(")");
    }
    s.push(")");
    Some(s)
}

/// How many terms [`lead`] counts per word at most.
const LEAD_SAMPLE: i64 = 1000;

/// The word a [`ranked`] search walks: the one with the fewest terms (counted up to 1 000
/// each, in one query, when several words are typed), the longest on a tie; after a cursor,
/// the longest word its term starts with (the word of the first page: a longer prefix of the
/// same term never has more terms), so that every page walks the same range.
pub async fn lead(conn: &mut sqlx::AnyConnection, entity: &str, q: &str, after: Option<&str>) -> Result<Option<String>> {
    let words = words(q);
    let longest = |ws: &mut dyn Iterator<Item = &String>| ws.max_by_key(|w| w.chars().count()).cloned();
    if let Some(k) = after {
        if let Some(w) = longest(&mut words.iter().filter(|w| k.starts_with(w.as_str()))) {
            return Ok(Some(w));
        }
    }
    if words.len() < 2 {
        return Ok(words.into_iter().next());
    }
    let mut q = Sql::new("");
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("SELECT ")
            .bind(i as i64)
            .push(" AS i, COUNT(*) AS n FROM (SELECT 1 AS one FROM search_terms WHERE entity_type = ")
            .bind(entity)
            .push(" AND term >= ")
            .bind(w.clone())
            .push(" AND term < ")
            .bind(upper(w))
            .push(" LIMIT ")
            .bind(LEAD_SAMPLE)
            .push(&format!(") x{i}"));
    }
    let counts: Vec<(i64, i64)> = q.query_as().fetch_all(conn).await?;
    let best = counts
        .iter()
        .filter_map(|(i, n)| usize::try_from(*i).ok().and_then(|i| words.get(i)).map(|w| (*n, std::cmp::Reverse(w.chars().count()), w)))
        .min()
        .map(|(_, _, w)| w.clone());
    Ok(best.or_else(|| words.into_iter().next()))
}

/// Search as you type that can stop after one page. [`matching`] filters records, which
/// must then all be read and sorted; this one walks the index of the terms of one word,
/// `lead` (see [`lead`]), in (term, id) order, so that a query `FROM search_terms st JOIN
/// <table> ON <id> = st.entity_id WHERE <this> … ORDER BY st.term, st.entity_id LIMIT n`
/// reads about n matching rows. Each record comes once, at its first term starting with that
/// word (the smallest); the other words are `EXISTS` probes of the record's terms (the
/// `(entity_type, entity_id, term)` index). Results are therefore ordered by matched word,
/// then by id. `at` is the term of the cursor a page starts after or ends before: it
/// narrows the range walked, the caller adding the (term, id) keyset condition
/// ([`crate::db::page::keyset`] on `st.term`, `st.entity_id`). `None` when `q` has no word.
pub fn ranked(entity: &str, q: &str, lead: &str, at: Option<(&str, Dir)>) -> Option<Sql> {
    walk(entity, q, lead, at, true)
}

/// [`ranked`] for a first page, without its "once per record" probe: a walk from the first
/// term starting with `lead` meets a record's smaller terms before its others, so the caller
/// keeps each record's first row of the walk (and reads on when that leaves the page short)
/// and gets what [`ranked`] gives, without an index probe per row.
pub fn ranked_from_start(entity: &str, q: &str, lead: &str) -> Option<Sql> {
    walk(entity, q, lead, None, false)
}

fn walk(entity: &str, q: &str, lead: &str, at: Option<(&str, Dir)>, once: bool) -> Option<Sql> {
    let mut words = words(q);
    let lead = words.iter().position(|w| w == lead)?;
    let w = words.remove(lead);
    let w = &w;
    let mut s = Sql::new("(st.entity_type = ");
    s.bind(entity).push(" AND st.term >= ");
    match at {
        // The next page starts the range at the cursor's term.
        Some((term, Dir::After)) if term >= w.as_str() => s.bind(term.to_string()),
        _ => s.bind(w.clone()),
    };
    s.push(" AND st.term < ").bind(upper(w));
    if let Some((term, Dir::Before)) = at {
        // The previous page ends it at the cursor's term.
        s.push(" AND st.term <= ").bind(term.to_string());
    }
    if once {
        // Once per record: no smaller term of the same record starts with the word.
        s.push(" AND NOT EXISTS (SELECT 1 FROM search_terms d WHERE d.entity_type = ")
            .bind(entity)
            .push(" AND d.entity_id = st.entity_id AND d.term >= ")
            .bind(w.clone())
            .push(" AND d.term < st.term)");
    }
    for o in &words {
        s.push(" AND EXISTS (SELECT 1 FROM search_terms o WHERE o.entity_type = ")
            .bind(entity)
            .push(" AND o.entity_id = st.entity_id AND o.term >= ")
            .bind(o.clone())
            .push(" AND o.term < ")
            .bind(upper(o))
            .push(")");
    }
    s.push(")");
    Some(s)
}

/// How many terms one statement writes: they travel as one JSON parameter (sqlx looks each
/// SQLite parameter up by name, a cost that grows with the square of their number), so this
/// only bounds the statement's size.
const TERMS_PER_STATEMENT: usize = 20_000;

/// Replaces the terms of many records at once (inside the transaction that changes them):
/// one `DELETE` and one `INSERT … SELECT` over a JSON array per 20 000 terms, instead of a
/// statement per term. `records` holds each record's id and searchable values, as for
/// [`index`].
pub async fn index_many(tx: &mut Tx, entity: &str, records: &[(i64, Vec<&str>)]) -> Result<()> {
    let backend = crate::db::Backend::of(tx);
    for chunk in records.chunks(TERMS_PER_STATEMENT) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
        sqlx::query(&format!("DELETE FROM search_terms WHERE entity_type = $1 AND entity_id IN ({})", backend.json_ids("$2")))
            .bind(entity)
            .bind(ids)
            .execute(&mut **tx)
            .await?;
    }
    index_new(tx, entity, records).await
}

/// Writes the terms of records that have none yet (just created, in the same transaction):
/// [`index_many`] without its `DELETE`.
pub async fn index_new(tx: &mut Tx, entity: &str, records: &[(i64, Vec<&str>)]) -> Result<()> {
    let mut rows: Vec<(i64, String)> = Vec::new();
    for (id, values) in records {
        rows.extend(terms(values).into_iter().map(|t| (*id, t)));
    }
    // A record listed twice keeps its terms once.
    rows.sort();
    rows.dedup();
    let backend = crate::db::Backend::of(tx);
    let select = backend.json_rows("$2", &[("id", crate::db::JsonCol::Int), ("term", crate::db::JsonCol::Text)]);
    let sql = format!("INSERT INTO search_terms (entity_type, entity_id, term) SELECT $1, j.id, j.term FROM ({select}) j");
    for chunk in rows.chunks(TERMS_PER_STATEMENT) {
        let json = serde_json::to_string(chunk).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
        sqlx::query(&sql).bind(entity).bind(json).execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_without_accents_or_case() {
        assert_eq!(sort_key("Étienne Gagnon"), "etienne gagnon");
        assert_eq!(sort_key("ZOÉ"), "zoe");
        assert_eq!(sort_key("Œuvres Côté"), "oeuvres cote");
        assert_eq!(sort_key("E\u{301}mile"), "emile", "decomposed accents too");
        let mut names = vec!["Zoé", "Étienne", "emma", "Éric", "Adèle", "zacharie"];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(names, vec!["Adèle", "emma", "Éric", "Étienne", "zacharie", "Zoé"]);
        // Every replacement is lower-case ASCII: the SQL chain of REPLACEs gives the same key.
        assert!(SORT_FOLD.iter().all(|(_, to)| to.bytes().all(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn folding_and_terms() {
        assert_eq!(fold("  Hélène CÔTÉ-Tremblay "), "helene cote tremblay");
        assert_eq!(fold("Œuvre Ærø ß"), "ouvre aro s");
        let t = terms(&["Hélène Côté", "helene.cote@exemple.fr"]);
        for w in ["helene", "cote", "helenecote", "exemple", "fr", "helenecoteexemplefr"] {
            assert!(t.contains(&w.to_string()), "{w} in {t:?}");
        }
        assert!(matching("user", "u.id", "  ,; ").is_none());
        let m = matching("user", "u.id", "Hél cô").unwrap();
        assert_eq!(m.text().matches("term >= ").count(), 2);
        let m = matching("customer", "c.id", "514 555-01").unwrap();
        assert_eq!(m.text().matches("term >= ").count(), 1, "digit groups are one number");
    }

    #[test]
    fn ranked_walks_the_longest_word() {
        assert!(ranked("customer", " ;, ", "", None).is_none());
        assert!(ranked("customer", "jean trem", "dupont", None).is_none(), "the lead is one of the words");
        let r = ranked("customer", "jean trem", "trem", None).unwrap();
        // Driven by "trem", "jean" is an EXISTS probe.
        assert!(r.text().starts_with("(st.entity_type = $1 AND st.term >= $2 AND st.term < $3"), "{}", r.text());
        assert_eq!(r.text().matches("EXISTS (SELECT 1 FROM search_terms o").count(), 1);
        let after = ranked("customer", "trem", "trem", Some(("tremblay", Dir::After))).unwrap();
        assert!(after.text().starts_with("(st.entity_type = $1 AND st.term >= $2 AND st.term < $3 AND NOT"), "{}", after.text());
        assert_eq!(after.args()[1], crate::db::sql::Arg::Text(Some("tremblay".into())));
        let before = ranked("customer", "trem", "trem", Some(("tremblay", Dir::Before))).unwrap();
        assert!(
            before.text().starts_with("(st.entity_type = $1 AND st.term >= $2 AND st.term < $3 AND st.term <= $4"),
            "{}",
            before.text()
        );
        let start = ranked_from_start("customer", "jean trem", "trem").unwrap();
        assert!(!start.text().contains("NOT EXISTS"), "{}", start.text());
        assert_eq!(start.text().matches("EXISTS (SELECT 1 FROM search_terms o").count(), 1);
        assert_eq!(words("Hél 514 555-01"), vec!["hel", "51455501"]);
    }
}
