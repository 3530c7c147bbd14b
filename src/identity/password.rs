//! Password hashing with argon2id (PHC strings in the database).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

/// The longest password, in bytes.
pub const MAX_BYTES: usize = 1024;

pub const MIN_LENGTH: usize = 10;

/// The most common passwords, lowercase, one a line: the 10,000 first of the `passwords`
/// frequency list of zxcvbn 4.5.0 (MIT licence; ranked from Mark Burnett's public 10-million
/// password corpus), plus the list's other entries of `MIN_LENGTH` characters or more (shorter
/// ones are refused by length anyway). Rebuilt with:
/// `pip download zxcvbn==4.5.0 --no-deps`, unzip, then in Python
/// `p = zxcvbn.frequency_lists.FREQUENCY_LISTS["passwords"]` and keep `p[i]` when
/// `i < 10000 or len(p[i]) >= 10`, in order, without duplicates.
const COMMON: &str = include_str!("common_passwords.txt");

/// Whether `password` is one of the most common passwords (whatever its case).
pub fn is_common(password: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON.lines().filter(|l| !l.is_empty()).collect()).contains(password.to_lowercase().as_str())
}

/// A new password for the account `email`: long enough, not too long, not one of the most
/// common passwords, and not the email address itself.
pub fn validate(password: &str, email: &str) -> Result<()> {
    if password.chars().count() < MIN_LENGTH {
        return Err(Error::validation("password", "error.password_too_short"));
    }
    if password.len() > MAX_BYTES {
        return Err(Error::validation("password", "error.too_long"));
    }
    if password.trim().to_lowercase() == email.trim().to_lowercase() {
        return Err(Error::validation("password", "error.password_is_email"));
    }
    if is_common(password) {
        return Err(Error::validation("password", "error.password_common"));
    }
    Ok(())
}

pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

/// Verifies a password against a stored hash. A malformed stored hash is an error, not a
/// wrong password.
pub fn verify(password: &str, stored: &str) -> Result<bool> {
    let parsed = PasswordHash::new(stored).map_err(Error::internal)?;
    Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Runs an argon2id computation on the blocking thread pool (it takes tens of milliseconds
/// of CPU and must not stall the async workers serving other requests), at most one per core
/// at a time: 32 logins at once would otherwise share the cores, each with its own 19 MiB,
/// costing more CPU each (cache and memory-bandwidth contention) and finishing all late. The
/// semaphore is fair, so logins are served in arrival order. The permit goes with the
/// computation, not with the caller: a request dropped meanwhile (the client hung up) does
/// not free a core that is still busy.
async fn on_a_core<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    static CORES: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    let cores = CORES.get_or_init(|| {
        std::sync::Arc::new(tokio::sync::Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)))
    });
    let permit = cores.clone().acquire_owned().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(Error::internal)?
}

/// [`hash`] on a core of its own (see [`on_a_core`]).
pub async fn hash_blocking(password: String) -> Result<String> {
    on_a_core(move || hash(&password)).await
}

/// [`verify`] on a core of its own (see [`on_a_core`]).
pub async fn verify_blocking(password: String, stored: String) -> Result<bool> {
    on_a_core(move || verify(&password, &stored)).await
}

/// A hash to verify against when the account does not exist, so that timing does not
/// reveal which emails have accounts.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("carnet-dummy-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    /// Many verifications at once all finish, each with the right answer (the permits are
    /// given back, including after a failed verification).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_verifications_all_finish() {
        let h = super::hash("correct horse battery").unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let (h, pw) = (h.clone(), if i % 3 == 0 { "wrong".to_string() } else { "correct horse battery".to_string() });
            tasks.push(tokio::spawn(async move { (i, super::verify_blocking(pw, h).await) }));
        }
        for t in tasks {
            let (i, ok) = tokio::time::timeout(std::time::Duration::from_secs(60), t).await.unwrap().unwrap();
            assert_eq!(ok.unwrap(), i % 3 != 0);
        }
        assert!(super::verify_blocking("x".into(), "not a hash".into()).await.is_err());
        assert!(super::verify_blocking("wrong".into(), h).await.is_ok());
    }

    #[test]
    fn common_passwords_and_the_email_are_refused() {
        use crate::error::Error;
        let reason = |pw: &str, email: &str| match super::validate(pw, email) {
            Ok(()) => None,
            Err(Error::Validation(f)) => f.0.first().map(|e| format!("{}:{}", e.field, e.reason)),
            Err(e) => panic!("{e:?}"),
        };
        assert!(super::COMMON.lines().count() >= 10_000);
        assert!(super::is_common("password") && super::is_common("1234567890") && super::is_common("QWERTYUIOP"));
        assert_eq!(reason("1234567890", "a@b.c").as_deref(), Some("password:error.password_common"));
        assert_eq!(reason("Password123", "a@b.c").as_deref(), Some("password:error.password_common"));
        assert_eq!(reason("Jean.Tremblay@Example.com", "jean.tremblay@example.com").as_deref(), Some("password:error.password_is_email"));
        assert_eq!(reason("short", "a@b.c").as_deref(), Some("password:error.password_too_short"));
        assert_eq!(reason("correct horse battery", "a@b.c"), None);
    }

    #[test]
    fn hash_and_verify() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", &h).unwrap());
        assert!(!super::verify("wrong", &h).unwrap());
        assert!(super::verify("x", "not a hash").is_err());
    }
}
