//! The partner portal in headless Chromium, with the demo company: a reseller's user logs in,
//! sees the unread news on the home page, creates a "Primo" opportunity (eligible for a
//! pre-sales request), reads a news item ("read more") so that it is no longer unread, and
//! switches to English; the channel manager finds the new opportunity on the staff side.
//! Both databases.

mod common;

use common::browser::*;

const DEMO_PASSWORD: &str = carnet::demo::PASSWORD;
const PARTNER: &str = "paul.martin@infogest.example";
const CHANNEL_MANAGER: &str = "ines.lefebvre@carnet.demo";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_user_creates_a_primo_opportunity_and_reads_the_news() {
    with_demo(|b, app| Box::pin(journey(b, app))).await;
}

fn count(text: &str) -> i64 {
    text.trim().parse().unwrap_or(-1)
}

async fn journey(b: &Browser, app: &common::TestApp) {
    // Log in to the partner portal.
    b.goto("/partner/login").await;
    b.fill("#email", PARTNER).await;
    b.fill("#password", DEMO_PASSWORD).await;
    b.click_and_wait("#login-submit").await;
    assert_eq!(b.path_only().await, "/partner", "{}", b.text("main").await);
    assert!(b.text("main").await.contains("Infogest Conseil"));
    let unread = count(&b.text("#unread-news-count").await);
    assert_eq!(unread, 2, "two news items are unread for this partner");

    // A new Primo opportunity.
    b.click_and_wait("#new-opportunity").await;
    b.fill("#customer_name", "Fromagerie Vercors").await;
    b.exec("document.getElementById('opportunity_type').value = 'primo'; return true;").await;
    b.fill("#contact_name", "Lucie Arnaud").await;
    b.fill("#contact_email", "lucie@vercors.example").await;
    b.fill("#product_interest", "ERP Divalto infinity").await;
    b.fill("#amount", "36 000").await;
    b.exec("document.getElementById('expected_close_date').value = '2027-06-30'; return true;").await;
    b.click_and_wait("#save-opportunity").await;
    assert!(b.path_only().await.starts_with("/partner/opportunities/"), "{}", b.text("main").await);
    assert!(b.text("#notice").await.contains("Créé"));
    assert!(b.text("h1").await.contains("Fromagerie Vercors"));
    assert!(b.text("#opportunity-type").await.contains("Primo"));
    assert_eq!(b.text("#opportunity-amount").await, "36000.00");
    // The Actions menu holds the pre-sales place of an eligible opportunity.
    b.find("#actions-menu").await.click().await;
    assert!(b.find_now("#presales-request").await.is_some(), "{}", b.text("#opportunity-actions-menu").await);
    // It is in the list.
    b.goto("/partner/opportunities").await;
    assert!(b.text("#partner-opportunities").await.contains("Fromagerie Vercors"));

    // News: the list, then "read more".
    b.goto("/partner/news").await;
    let item: i64 = sqlx::query_scalar("SELECT id FROM news_items WHERE audience = 'all' ORDER BY id LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    b.click_and_wait(&format!("#read-more-{item}")).await;
    assert_eq!(b.path_only().await, format!("/partner/news/{item}"));
    assert!(b.text("#news-body").await.contains("tableaux de bord"));
    assert!(b.find_now("#news-body strong").await.is_some(), "formatted text is rendered");
    b.goto("/partner").await;
    assert_eq!(count(&b.text("#unread-news-count").await), unread - 1, "the news item read is no longer unread");

    // English.
    b.click_and_wait("#lang-switch").await;
    assert_eq!(b.html_lang().await, "en");
    assert!(b.text("main").await.contains("Unread news"));
    assert!(b.violations().await.is_empty(), "no CSP violation: {:?}", b.violations().await);
    b.click_and_wait("#logout").await;
    assert!(b.path_only().await.starts_with("/partner/login"));

    // The channel manager sees the new opportunity on the staff side.
    login(b, CHANNEL_MANAGER, DEMO_PASSWORD).await;
    b.goto("/partners/opportunities").await;
    assert!(b.text("#staff-partner-opportunities").await.contains("Fromagerie Vercors"), "{}", b.text("main").await);
}
