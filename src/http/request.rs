//! What a request says about itself, below every other part of the web layer: its id and
//! the language cookie. Used by the guard, the extractors and the error rendering alike.

use axum::http::{header, HeaderMap};

use crate::i18n::Lang;

/// The id of the current request: returned as `x-request-id`, in every log line, on error
/// pages and in API error bodies.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub const LANG_COOKIE: &str = "carnet_lang";

/// Who made the request, for its log line: set by the guard that authenticated it (staff
/// `12`, customer portal `portal:5`, partner `partner:3`), read by `http::request_id` once the
/// response is ready. Ids only: never a name or an address.
#[derive(Debug, Clone, Default)]
pub struct LoggedUser(std::sync::Arc<std::sync::OnceLock<String>>);

impl LoggedUser {
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Records the authenticated user of `req` for its log line (the first guard to know wins).
pub fn log_user(req: &axum::extract::Request, who: impl FnOnce() -> String) {
    if let Some(slot) = req.extensions().get::<LoggedUser>() {
        let _ = slot.0.set(who());
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Language for anonymous pages: the cookie, else French.
pub fn cookie_lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)).unwrap_or_default()
}

/// The client's address, as the guard worked it out ([`client_addr`]).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

/// The client's address: the TCP peer, unless the peer is one of the trusted proxies
/// (`trusted_proxies`), in which case `X-Forwarded-For` is read from the right, skipping the
/// trusted proxies, and the first other address is the client. A client cannot forge its
/// address by sending the header itself: entries left of the first untrusted one are never
/// read, and without trusted proxies the header is ignored.
pub fn client_addr(peer: Option<std::net::IpAddr>, headers: &HeaderMap, trusted: &[crate::config::Net]) -> String {
    let Some(peer) = peer else { return "unknown".into() };
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // A malformed entry: stop at the last address known good.
            Err(_) => break,
        }
    }
    client.to_string()
}

/// Control characters other than tab, line feed and carriage return: refused in text input
/// (forms in the guard, JSON in `json::decode`), identically on both databases.
pub fn has_control_char(v: &str) -> bool {
    v.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let nets = |v: &[&str]| v.iter().map(|s| crate::config::Net::parse(s).unwrap()).collect::<Vec<_>>();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2".parse().unwrap());
        let peer = Some("10.0.0.1".parse().unwrap());
        assert_eq!(client_addr(peer, &h, &[]), "10.0.0.1", "no trusted proxy: the header is ignored");
        assert_eq!(client_addr(peer, &h, &nets(&["10.0.0.0/8"])), "203.0.113.7", "the first untrusted address from the right");
        assert_eq!(client_addr(Some("198.51.100.1".parse().unwrap()), &h, &nets(&["10.0.0.0/8"])), "198.51.100.1");
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_addr(peer, &h, &nets(&["10.0.0.0/8"])), "10.0.0.1");
        assert_eq!(client_addr(None, &h, &[]), "unknown");
    }
}
