//! French and English. Messages live in `locales/fr.txt` and `locales/en.txt` as
//! `key = text` lines, compiled into the binary. A test proves both files have the same keys
//! and that every key used by the templates and the code exists.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }
}

pub const FR_SOURCE: &str = include_str!("../locales/fr.txt");
pub const EN_SOURCE: &str = include_str!("../locales/en.txt");

pub fn parse_messages(src: &str) -> HashMap<&str, &str> {
    src.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalog(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static FR: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    static EN: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    match lang {
        Lang::Fr => FR.get_or_init(|| parse_messages(FR_SOURCE)),
        Lang::En => EN.get_or_init(|| parse_messages(EN_SOURCE)),
    }
}

/// The message for `key`, or the key itself when missing (a test keeps that from happening).
pub fn t(lang: Lang, key: &str) -> String {
    catalog(lang).get(key).map(|s| s.to_string()).unwrap_or_else(|| key.to_string())
}

/// Translator handed to templates: `{{ tr.t("nav.admin") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn t(&self, key: &str) -> String {
        t(self.0, key)
    }
    /// A file size in the reader's units (`1.5 Mo` / `1.5 MB`).
    pub fn size(&self, bytes: &i64) -> String {
        let (unit_b, unit_k, unit_m) = match self.0 {
            Lang::Fr => ("o", "Ko", "Mo"),
            Lang::En => ("B", "KB", "MB"),
        };
        match *bytes {
            s if s >= 1024 * 1024 => format!("{:.1} {unit_m}", s as f64 / 1024.0 / 1024.0),
            s if s >= 1024 => format!("{} {unit_k}", s / 1024),
            s => format!("{s} {unit_b}"),
        }
    }
    pub fn lang(&self) -> &'static str {
        self.0.code()
    }
    /// Replaces `{n}` in the message: `tr.f(key, count)`.
    pub fn f(&self, key: &str, n: impl std::fmt::Display) -> String {
        t(self.0, key).replace("{n}", &n.to_string())
    }
    /// `{{ tr.tp("scope.", code) }}`: the message `scope.<code>`.
    pub fn tp(&self, prefix: &str, suffix: &str) -> String {
        t(self.0, &format!("{prefix}{suffix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let fr = parse_messages(FR_SOURCE);
        let en = parse_messages(EN_SOURCE);
        let missing_en: Vec<_> = fr.keys().filter(|k| !en.contains_key(*k)).collect();
        let missing_fr: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        assert!(missing_en.is_empty(), "missing in en.txt: {missing_en:?}");
        assert!(missing_fr.is_empty(), "missing in fr.txt: {missing_fr:?}");
    }

    #[test]
    fn every_key_used_in_templates_and_code_exists() {
        let fr = parse_messages(FR_SOURCE);
        let mut missing = Vec::new();
        let mut scan = |text: &str| {
            // Translator calls (`tr.t("…")`, `c.tr.f("…", n)`) and error/notice keys.
            for pat in [".t(\"", ".f(\"", "\"error.", "\"notice."] {
                for part in text.split(pat).skip(1) {
                    if let Some(end) = part.find('"') {
                        let key = match pat {
                            "\"error." => format!("error.{}", &part[..end]),
                            "\"notice." => format!("notice.{}", &part[..end]),
                            _ => part[..end].to_string(),
                        };
                        let is_key = key.contains('.')
                            && !key.ends_with('.')
                            && !key.ends_with(".html")
                            && key.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
                        if is_key && !fr.contains_key(key.as_str()) {
                            missing.push(key);
                        }
                    }
                }
            }
        };
        // Every template and source file, recursively.
        let mut dirs = vec![std::path::PathBuf::from("templates"), std::path::PathBuf::from("src")];
        while let Some(dir) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for entry in rd.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "html" || e == "rs") && !p.ends_with("i18n.rs") {
                    scan(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "message keys without a French text: {missing:?}");
    }
}
