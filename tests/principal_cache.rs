//! The authenticated principal is reused for a moment (issue 15, `access::cache`): a change
//! of token, session or right made through this process takes effect on the next request;
//! one made by another process (here: a second app on the same database, or a raw write)
//! within the cache's two seconds.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use carnet::access::roles::{self, RoleInput};
use carnet::access::{Actor, Right, RightSet};
use carnet::clock::SharedClock;
use common::{backends, TestApp};

/// Another process serving the same database: its own app state (pools, cache), its own port.
async fn other_process(app: &TestApp) -> (String, tokio::sync::oneshot::Sender<()>) {
    let clock: SharedClock = Arc::new(app.clock.clone());
    let state = carnet::app::prepare((*app.state.config).clone(), clock).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = carnet::http::serve(state, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    (url, tx)
}

async fn status(base: &str, path: &str, token: &str) -> u16 {
    reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// Asks until the answer is `expected`; how long it took.
async fn until(base: &str, path: &str, token: &str, expected: u16) -> Duration {
    let t0 = Instant::now();
    while status(base, path, token).await != expected {
        assert!(t0.elapsed() < Duration::from_secs(10), "{base}{path} never answered {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_changes_apply_at_once_in_this_process_and_within_the_ttl_in_others() {
    let ttl = carnet::access::cache::TTL;
    for b in backends() {
        let app = TestApp::start(b).await;
        let (other, stop) = other_process(&app).await;
        let uid = app.user("rep@t.fr", "representant", None).await;

        // Read once: both processes keep the principal. A write that does not go through
        // either (as by a third process) is seen when the kept principal is too old.
        let token = app.token_for(uid).await;
        assert_eq!(status(&app.url, "/api/v1/me", &token).await, 200);
        assert_eq!(status(&other, "/api/v1/me", &token).await, 200);
        let t0 = Instant::now();
        sqlx::query("UPDATE api_tokens SET revoked_at = 1 WHERE user_id = $1").bind(uid).execute(&app.state.db.pool).await.unwrap();
        assert_eq!(status(&app.url, "/api/v1/me", &token).await, 200, "{b:?}: the principal is reused (no read per request)");
        until(&app.url, "/api/v1/me", &token, 401).await;
        until(&other, "/api/v1/me", &token, 401).await;
        assert!(t0.elapsed() < ttl + Duration::from_millis(500), "{b:?}: stale for {:?}", t0.elapsed());

        // A token revoked here: refused here on the next request, there within the TTL.
        let token = app.token_for(uid).await;
        assert_eq!(status(&app.url, "/api/v1/me", &token).await, 200);
        assert_eq!(status(&other, "/api/v1/me", &token).await, 200);
        let id = carnet::identity::token::list_for(&app.state.db, uid).await.unwrap().iter().map(|t| t.id).max().unwrap();
        carnet::identity::token::revoke(&app.state.db, &Actor::system(), app.now(), uid, id).await.unwrap();
        assert_eq!(status(&app.url, "/api/v1/me", &token).await, 401, "{b:?}: revoked here, refused here at once");
        assert!(until(&other, "/api/v1/me", &token, 401).await < ttl + Duration::from_millis(500));

        // A right taken from the role: refused here at once, there within the TTL.
        let token = app.token_for(uid).await;
        assert_eq!(status(&app.url, "/api/v1/customers", &token).await, 200);
        assert_eq!(status(&other, "/api/v1/customers", &token).await, 200);
        let role_id = roles::id_by_code(&app.state.db, "representant").await.unwrap().unwrap();
        let role = roles::get(&app.state.db, role_id).await.unwrap().unwrap();
        let without: RightSet = [Right::CustomersRead].into_iter().collect();
        let input = RoleInput {
            code: role.code.clone(),
            name_fr: role.name_fr.clone(),
            name_en: role.name_en.clone(),
            scope: role.scope,
            rights: role.rights.minus(without),
            require_second_factor: role.require_second_factor,
        };
        roles::update(&app.state.db, &Actor::system(), app.now(), role_id, input).await.unwrap();
        assert_eq!(status(&app.url, "/api/v1/customers", &token).await, 403, "{b:?}: right removed here, refused here at once");
        assert!(until(&other, "/api/v1/customers", &token, 403).await < ttl + Duration::from_millis(500));

        // A session ended (logout) here: its cookie opens nothing here at once, nor there
        // within the TTL; and a session that expires is refused at once.
        let admin = app.user("admin@t.fr", "administrateur", None).await;
        let day = 86_400_000;
        let s = carnet::identity::session::create(&app.state.db, admin, app.now(), day, "127.0.0.1", "test").await.unwrap();
        let account = |base: String, secret: String| async move {
            let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let resp = c.get(format!("{base}/account")).header("Cookie", format!("carnet_session={secret}")).send().await.unwrap();
            resp.status().as_u16()
        };
        assert_eq!(account(app.url.clone(), s.secret.clone()).await, 200);
        assert_eq!(account(other.clone(), s.secret.clone()).await, 200);
        let logout = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let out = logout
            .post(format!("{}/logout", app.url))
            .header("Cookie", format!("carnet_session={}", s.secret))
            .form(&[("_csrf", s.csrf_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 303);
        assert_eq!(account(app.url.clone(), s.secret.clone()).await, 303, "{b:?}: logged out here, sent to the login page at once");
        let t0 = Instant::now();
        while account(other.clone(), s.secret.clone()).await != 303 {
            assert!(t0.elapsed() < ttl + Duration::from_millis(500), "{b:?}: the other process still opens the ended session");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s = carnet::identity::session::create(&app.state.db, admin, app.now(), 60_000, "127.0.0.1", "test").await.unwrap();
        assert_eq!(account(app.url.clone(), s.secret.clone()).await, 200);
        app.clock.advance(61_000);
        assert_eq!(account(app.url.clone(), s.secret.clone()).await, 303, "{b:?}: an expired session is refused at once");

        let _ = stop.send(());
        app.stop().await;
    }
}
