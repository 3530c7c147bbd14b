//! Search as you type, the same on both backends: each searchable record keeps its words in
//! `search_terms`, folded (lower case, accents removed: "Hélène" → "helene"), and a query
//! matches records having, for every word typed, a term starting with it. The primary key
//! (entity_type, term, entity_id) makes each word an index range scan.

use unicode_normalization::UnicodeNormalization;

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
    sqlx::query("DELETE FROM search_terms WHERE entity_type = $1 AND entity_id = $2").bind(entity).bind(id).execute(&mut **tx).await?;
    for t in terms(values) {
        sqlx::query("INSERT INTO search_terms (entity_type, entity_id, term) VALUES ($1, $2, $3)")
            .bind(entity)
            .bind(id)
            .bind(t)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The condition "`id_col` is a record of `entity` matching every word of `q`", or `None`
/// when `q` has no word.
pub fn matching(entity: &str, id_col: &str, q: &str) -> Option<Sql> {
    // Digits typed in groups ("514 555 01") are one phone number.
    let mut words: Vec<String> = Vec::new();
    for w in fold(q).split(' ').filter(|w| !w.is_empty()) {
        let digits = w.chars().all(|c| c.is_ascii_digit());
        match words.last_mut() {
            Some(last) if digits && last.chars().all(|c| c.is_ascii_digit()) => last.push_str(w),
            _ => words.push(w.to_string()),
        }
    }
    words.truncate(6);
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
            .bind(format!("{w}\u{10FFFF}"))
            .push(")");
    }
    s.push(")");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
