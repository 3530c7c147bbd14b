//! No import circle among the modules of `src/`.
//!
//! **Granularity.** A node is a top-level module of the library (`customers`, `sales`, `jobs`,
//! `settings`, `wiring`…: the file `src/x.rs` or the folder `src/x/`), except the web layer,
//! whose parts are nodes of their own: `http` (`http/mod.rs`: `AppState`, the request id),
//! `http::api`, `http::pages`, `http::error`, `http::auth`, `http::json`, `http::router`,
//! `http::openapi`. A business module is one unit of design (its `mod.rs`, `store.rs` and
//! helpers call one another freely), so its files are not nodes; the web layer is layered
//! inside (handlers above the guard, the guard above the error responses), and its circles
//! are what this check must see there.
//!
//! **Edges.** `a → b` when a file of `a` names a path `crate::b…` (or `super::…` / `self::…`
//! reaching `b`), in a `use` declaration (grouped ones included: `use crate::{x, y::z}`) or
//! in code. Comments and string literals are ignored; `lib.rs` and `main.rs` only declare
//! modules and are not nodes. A path through a re-export counts for the module that
//! re-exports (`crate::db::is_unique_violation` is an edge to `db`).
//!
//! A circle is reported with one concrete cycle and the files behind each of its edges.
//! `CARNET_ARCH_SRC=/some/src cargo test --test architecture` checks another tree.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// node → node → files of the first node naming the second.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Known edges that close a circle, left out of the check. Each must still close a circle:
/// an exception that no longer does fails the test, so that it is removed.
/// Known edges allowed to close a circle, each with its reason (none today: keep it that way).
const ALLOWED: &[(&str, &str, &str)] = &[];

#[test]
fn no_import_circle_among_modules() {
    let graph = graph(&src_dir());
    let full = components(&graph);
    let mut problems = Vec::new();
    for (from, to, why) in ALLOWED {
        let closes_circle =
            graph.get(*from).is_some_and(|e| e.contains_key(*to)) && full.iter().any(|c| c.contains(*from) && c.contains(*to));
        if !closes_circle {
            problems.push(format!("the exception {from} → {to} ({why}) closes no circle any more: remove it from ALLOWED"));
        }
    }
    let mut checked = graph.clone();
    for (from, to, _) in ALLOWED {
        if let Some(e) = checked.get_mut(*from) {
            e.remove(*to);
        }
    }
    for component in components(&checked) {
        problems.push(describe(&checked, &component));
    }
    assert!(problems.is_empty(), "import circles among src/ modules:\n\n{}", problems.join("\n\n"));
}

/// The job queue knows nothing of the business: its handlers are registered in `wiring`.
#[test]
fn low_level_modules_know_nothing_of_the_business() {
    let graph = graph(&src_dir());
    let low: BTreeSet<&str> = ["access", "audit", "clock", "config", "db", "error", "i18n"].into();
    for node in ["jobs", "email", "error", "clock", "i18n"] {
        let extra: Vec<_> = graph.get(node).into_iter().flat_map(|e| e.keys()).filter(|t| !low.contains(t.as_str())).collect();
        assert!(extra.is_empty(), "{node} imports {extra:?}");
    }
    // Only the application's assembly and the web layer name `wiring`.
    for (from, edges) in &graph {
        if edges.contains_key("wiring") {
            assert!(from == "app" || from == "cli" || from.starts_with("http"), "{from} imports wiring");
        }
    }
}

/// The parser finds what the check relies on, and a circle is reported.
#[test]
fn parser_reads_grouped_uses_super_and_inline_modules() {
    let src = r#"
        use crate::{a::{self, b::C}, http::{api::x, AppState}};
        use super::super::z;
        // use crate::commented;
        fn f() { let s = "crate::in_a_string"; crate::q::r(); let c = '{'; }
        mod tests { use super::*; use self::inner::y; }
        macro_rules! m { () => { $crate::macro_path::x } }
    "#;
    let subs: BTreeSet<String> = ["api".to_string()].into();
    let refs = references(src, &["http".into(), "pages".into(), "sales".into()]);
    let nodes: BTreeSet<String> = refs.iter().filter_map(|p| node(p, &subs)).collect();
    let expected: BTreeSet<String> = ["a", "http", "http::api", "q"].iter().map(|s| s.to_string()).collect();
    assert_eq!(nodes, expected, "{refs:?}");
    assert!(refs.contains(&vec!["http".to_string(), "z".to_string()]), "{refs:?}");
    assert!(refs.contains(&vec!["http".into(), "pages".into(), "sales".into(), "tests".into(), "inner".into(), "y".into()]), "{refs:?}");

    let mut g = Graph::new();
    for (a, b) in [("jobs", "mail"), ("mail", "jobs"), ("mail", "db")] {
        g.entry(a.into()).or_default().entry(b.into()).or_default().insert(format!("{a}.rs"));
    }
    let found = components(&g);
    assert_eq!(found.len(), 1);
    let text = describe(&g, &found[0]);
    assert!(text.contains("jobs → mail → jobs") && text.contains("mail.rs"), "{text}");
}

fn src_dir() -> PathBuf {
    std::env::var_os("CARNET_ARCH_SRC").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// The module graph of the tree at `src`.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    let http_subs: BTreeSet<String> = std::fs::read_dir(src.join("http"))
        .expect("src/http")
        .map(|e| e.expect("entry").path())
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| s != "mod")
        .collect();
    let top: BTreeSet<String> = files.iter().filter_map(|f| module_path(src, f).first().cloned()).collect();
    let mut g = Graph::new();
    for file in &files {
        let me = module_path(src, file);
        let Some(from) = node(&me, &http_subs) else { continue };
        let rel = file.strip_prefix(src).unwrap_or(file).to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).expect("read file");
        for path in references(&text, &me) {
            let Some(to) = node(&path, &http_subs) else { continue };
            if to != from && top.contains(&path[0]) {
                g.entry(from.clone()).or_default().entry(to).or_default().insert(rel.clone());
            }
        }
    }
    g
}

/// `src/http/pages/mod.rs` → `["http", "pages"]`; `lib.rs` and `main.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The node a module path belongs to.
fn node(path: &[String], http_subs: &BTreeSet<String>) -> Option<String> {
    match path {
        [] => None,
        [http, sub, ..] if http == "http" && http_subs.contains(sub) => Some(format!("http::{sub}")),
        [first, ..] => Some(first.clone()),
    }
}

/// Every absolute path (`crate::…`, `super::…`, `self::…`) named by a file whose module is
/// `me`, expanded through `use` groups.
fn references(text: &str, me: &[String]) -> Vec<Vec<String>> {
    let toks = tokens(&strip(text));
    let mut out = Vec::new();
    // Inline modules (`mod tests { … }`): their name and the depth of their body.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if toks.get(i + 2).is_some_and(|x| x == "{") && toks.get(i + 1).is_some_and(|x| is_ident(x)) => {
                inline.push((toks[i + 1].clone(), depth + 1));
            }
            "crate" | "super" | "self" if toks.get(i + 1).is_some_and(|x| x == "::") && (i == 0 || toks[i - 1] != "::") => {
                let mut here: Vec<String> = me.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let mut j = i + 2;
                let mut base = match t {
                    "crate" => Vec::new(),
                    "self" => here,
                    _ => {
                        let mut b = here;
                        b.pop();
                        while toks.get(j).is_some_and(|x| x == "super") && toks.get(j + 1).is_some_and(|x| x == "::") {
                            b.pop();
                            j += 2;
                        }
                        b
                    }
                };
                let (paths, next) = use_tree(&toks, j, &mut base);
                out.extend(paths);
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads a path or `use` tree at `toks[j]` under `prefix`; returns the leaf paths and the
/// index after the tree.
fn use_tree(toks: &[String], mut j: usize, prefix: &mut Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut out = Vec::new();
    match toks.get(j).map(String::as_str) {
        Some("{") => {
            j += 1;
            loop {
                match toks.get(j).map(String::as_str) {
                    None => break,
                    Some("}") => {
                        j += 1;
                        break;
                    }
                    Some(",") => j += 1,
                    // `x as y`: the alias names nothing.
                    Some("as") => j += 2,
                    Some(_) => {
                        let (p, next) = use_tree(toks, j, prefix);
                        out.extend(p);
                        j = next.max(j + 1);
                    }
                }
            }
        }
        Some(name) if is_ident(name) && name != "self" => {
            prefix.push(name.to_string());
            if toks.get(j + 1).is_some_and(|x| x == "::") {
                let (p, next) = use_tree(toks, j + 2, prefix);
                out.extend(p);
                j = next;
            } else {
                out.push(prefix.clone());
                j += 1;
            }
            prefix.pop();
        }
        // `*`, `self` inside a group, or the end of a path.
        _ => {
            out.push(prefix.clone());
            j += 1;
        }
    }
    (out, j)
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers (`$crate` as one), `::`, and single punctuation characters.
fn tokens(s: &str) -> Vec<String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_alphanumeric() || c[i] == '_' || (c[i] == '$' && c.get(i + 1).is_some_and(|x| x.is_alphabetic())) {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// The text without comments, and with string and character literals emptied.
fn strip(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let at = |i: usize, p: &str| p.chars().enumerate().all(|(k, x)| c.get(i + k) == Some(&x));
    while i < c.len() {
        let prev_ident = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if at(i, "//") {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut d = 0;
            while i < c.len() {
                if at(i, "/*") {
                    d += 1;
                    i += 2;
                } else if at(i, "*/") {
                    d -= 1;
                    i += 2;
                    if d == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if !prev_ident && (at(i, "r#") || at(i, "r\"") || at(i, "br#") || at(i, "br\"")) {
            // Raw string: r#"…"#.
            let mut k = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while c.get(k) == Some(&'#') {
                hashes += 1;
                k += 1;
            }
            if c.get(k) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            k += 1;
            while k < c.len() && !at(k, &close) {
                k += 1;
            }
            i = k + close.chars().count();
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // '\n', '\'', '\u{..}'
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The strongly connected components of more than one node (Tarjan).
fn components(g: &Graph) -> Vec<BTreeSet<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(edges) = s.g.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("low");
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("low");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), out: Vec::new() };
    let nodes: BTreeSet<&str> = g.iter().flat_map(|(a, e)| std::iter::once(a.as_str()).chain(e.keys().map(String::as_str))).collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// One shortest cycle through the component's first node, then every edge inside the
/// component with its files.
fn describe(g: &Graph, comp: &BTreeSet<String>) -> String {
    let inside = |a: &str| g.get(a).into_iter().flat_map(|e| e.iter()).filter(|(b, _)| comp.contains(b.as_str()));
    let start = comp.iter().next().expect("non-empty component");
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start.as_str()]);
    let mut closing = None;
    while let Some(a) = queue.pop_front() {
        for (b, _) in inside(a) {
            if b == start {
                closing = Some(a);
                break;
            }
            if !prev.contains_key(b.as_str()) {
                prev.insert(b, a);
                queue.push_back(b);
            }
        }
        if closing.is_some() {
            break;
        }
    }
    let mut back = Vec::new();
    let mut at = closing.unwrap_or(start.as_str());
    while at != start {
        back.push(at);
        at = prev.get(at).copied().unwrap_or(start.as_str());
    }
    back.reverse();
    let cycle: Vec<&str> = std::iter::once(start.as_str()).chain(back).chain(std::iter::once(start.as_str())).collect();
    let mut text = format!("circle: {}", cycle.join(" → "));
    for a in comp {
        for (b, files) in inside(a) {
            text.push_str(&format!("\n  {a} → {b}: {}", files.iter().cloned().collect::<Vec<_>>().join(", ")));
        }
    }
    text
}
