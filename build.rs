//! Build script: records the git commit the binary is built from, for `carnet --version`.
//! No network and no failure: without git, or outside a checkout (a source archive), the
//! commit is "unknown"; a packager may set `CARNET_GIT_COMMIT` to say it.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARNET_GIT_COMMIT");
    let given = std::env::var("CARNET_GIT_COMMIT").ok().filter(|s| !s.trim().is_empty());
    let in_checkout = Path::new(".git").exists();
    let commit = given.or_else(|| if in_checkout { git(&["rev-parse", "--short=12", "HEAD"]) } else { None });
    if in_checkout {
        // Rebuild when the checked-out commit changes (HEAD moves, or the branch it names does).
        // Only existing files: a missing one would make cargo rerun this script every build.
        let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(r);
        }
        for w in watched {
            if let Some(p) = git(&["rev-parse", "--git-path", &w]) {
                if Path::new(&p).exists() {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
        }
    }
    let commit: String = commit.unwrap_or_else(|| "unknown".into()).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let commit = if commit.is_empty() { "unknown".to_string() } else { commit };
    println!("cargo:rustc-env=CARNET_GIT_COMMIT={commit}");
}
