//! The hosted page (PROTOCOL §2): headers, the flow cookie, Subresource Integrity of its
//! script and style sheet, the view that opens first, the pages `/authorize` answers
//! without a flow (errors, a finished sign-in sent again), and the icon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use latchkey_tests::authenticator::SoftAuthenticator;
use latchkey_tests::harness::{Broker, Flow, Pkce, REDIRECT};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest as _, Sha384};

fn attr<'a>(html: &'a str, tag_start: &str, name: &str) -> &'a str {
    let i = html
        .find(tag_start)
        .unwrap_or_else(|| panic!("{tag_start} in page"));
    let tag = &html[i..i + html[i..].find('>').unwrap()];
    let j = tag
        .find(&format!("{name}=\""))
        .unwrap_or_else(|| panic!("{name} in {tag}"));
    let rest = &tag[j + name.len() + 2..];
    &rest[..rest.find('"').unwrap()]
}

async fn page(broker: &Broker, extra: &[(&str, &str)]) -> reqwest::Response {
    let pkce = Pkce::new();
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", "pages"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ];
    q.extend_from_slice(extra);
    broker
        .browser()
        .get(broker.url("/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_hosted_page_has_strict_headers_a_bound_cookie_and_integrity_checked_assets() {
    let broker = Broker::start();
    broker.simple_tenant("pages").await;
    let res = page(&broker, &[]).await;
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("latchkey_flow="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(html.contains("name=\"latchkey-initial-view\" content=\"login\""));

    for (tag, attr_name, path) in [
        (
            "<script src=\"/static/webauthn.js",
            "src",
            "/static/webauthn.js",
        ),
        (
            "<script src=\"/static/latchkey.js",
            "src",
            "/static/latchkey.js",
        ),
        ("<link rel=\"stylesheet\"", "href", "/static/latchkey.css"),
    ] {
        let src = attr(&html, tag, attr_name);
        assert!(src.starts_with(path), "{src}");
        let integrity = attr(&html, tag, "integrity");
        let asset = broker.browser().get(broker.url(src)).send().await.unwrap();
        let ctype = asset.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            ctype.starts_with(if path.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            }),
            "{ctype}"
        );
        let bytes = asset.bytes().await.unwrap();
        let expected = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes))
        );
        assert_eq!(integrity, expected, "SRI of {path}");
    }

    let html = page(
        &broker,
        &[("prompt", "create"), ("login_hint", "ada@example.com")],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("name=\"latchkey-initial-view\" content=\"create\""));
    assert!(
        html.contains("value=\"ada@example.com\""),
        "the hint prefills the email"
    );
}

#[tokio::test]
async fn over_https_the_flow_cookie_is_host_prefixed_and_secure_with_hsts() {
    let broker = Broker::start_tls("broker.test", &[]);
    broker.simple_tenant("pages").await;
    let res = page(&broker, &[]).await;
    assert_eq!(res.status().as_u16(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-latchkey_flow=") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn the_landing_page_offers_the_demo_only_when_it_is_on() {
    for (demo, expect) in [("false", false), ("true", true)] {
        let broker = Broker::start_with(&[("LATCHKEY_DEMO", demo)]);
        let res = broker.browser().get(broker.url("/")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let html = res.text().await.unwrap();
        assert!(html.contains("<h1 class=\"title\">Latchkey</h1>"));
        assert_eq!(html.contains("href=\"/demo\""), expect, "demo={demo}");
        let demo_page = broker
            .browser()
            .get(broker.url("/demo"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            demo_page.status().as_u16() == 200,
            expect,
            "/demo with demo={demo}"
        );
    }
}

/// The query of `flow`'s authorize request, to send it again as the browser's history
/// does.
fn same_request(flow: &Flow, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", flow.client_id.as_str()),
        ("redirect_uri", flow.redirect_uri.as_str()),
        ("code_challenge", flow.pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", flow.state.as_str()),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    q.dedup();
    q
}

async fn users(broker: &Broker, client_id: &str) -> usize {
    let (status, body) = broker
        .admin(Method::GET, &format!("/tenants/{client_id}/users"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["users"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("a list of users: {body}"))
}

#[tokio::test]
async fn a_finished_authorization_request_sent_again_says_so_and_opens_no_flow() {
    let broker = Broker::start();
    broker
        .create_tenant(json!({"client_id": "shop", "name": "Northwind Books", "redirect_uris": [REDIRECT], "rp_mode": "broker"}))
        .await;
    broker.simple_tenant("other").await;

    // A reload before the sign-in finished: the same request opens a flow again.
    let flow = Flow::open(&broker, "shop").await;
    let again = flow
        .browser
        .get(broker.url("/authorize"))
        .query(&same_request(&flow, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert!(
        latchkey_tests::harness::flow_id_from_html(&again.text().await.unwrap()).is_some(),
        "an unfinished request still opens a flow"
    );

    // The sign-in finishes: a new account, a code.
    let mut auth = SoftAuthenticator::new();
    let (status, done) = flow
        .register(&mut auth, json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(users(&broker, "shop").await, 1);

    // The Back button sends the same request again: a page that says the sign-in is
    // finished and links to the site, no flow, no cookie.
    let res = flow
        .browser
        .get(broker.url("/authorize"))
        .query(&same_request(&flow, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let h = res.headers().clone();
    assert!(h.get("set-cookie").is_none(), "no flow cookie");
    assert!(h.get("location").is_none(), "never a redirect");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(
        latchkey_tests::harness::flow_id_from_html(&html).is_none(),
        "no flow: {html}"
    );
    assert!(html.contains("This sign-in is already finished"), "{html}");
    assert!(
        html.contains("You already signed in to Northwind Books from this page."),
        "{html}"
    );
    assert_eq!(
        attr(
            &html,
            "<a class=\"button primary\" id=\"back-to-site\"",
            "href"
        ),
        "https://site.example/",
        "the origin of the registered redirect URI"
    );
    assert!(html.contains(">Back to Northwind Books</a>"), "{html}");
    assert!(!html.contains("create-button") && !html.contains("signin-button"));

    // In the person's language.
    let ja = flow
        .browser
        .get(broker.url("/authorize"))
        .query(&same_request(&flow, &[("ui_locales", "ja")]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ja.contains("<html lang=\"ja\">"), "{ja}");
    assert!(ja.contains("このサインインは既に完了しています"), "{ja}");
    assert!(ja.contains(">Northwind Books に戻る</a>"), "{ja}");

    // The finished flow's own calls say it is finished, not merely expired.
    let (status, body) = flow.post("registration/options", &json!({})).await;
    assert_eq!(
        (status, &body["error"], &body["finished"]),
        (410, &json!("flow_expired"), &json!(true)),
        "{body}"
    );

    // The challenge is the client's: another client's request with it opens a flow.
    let other: Vec<(String, String)> = same_request(&flow, &[])
        .into_iter()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, "other".into())
            } else {
                (k, v)
            }
        })
        .collect();
    let res = flow
        .browser
        .get(broker.url("/authorize"))
        .query(&other)
        .send()
        .await
        .unwrap();
    assert!(
        latchkey_tests::harness::flow_id_from_html(&res.text().await.unwrap()).is_some(),
        "another client's request is not stale"
    );
    assert_eq!(users(&broker, "shop").await, 1, "no second account");
}

#[tokio::test]
async fn authorize_error_pages_tell_the_person_and_the_sites_developer_what_each_can_do() {
    let broker = Broker::start();
    broker.simple_tenant("pages").await;
    let c = Pkce::new().challenge;
    let get = |q: Vec<(&'static str, String)>, lang: &'static str| {
        let client = broker.browser();
        let url = broker.url("/authorize");
        async move {
            let res = client
                .get(url)
                .query(&q)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 400, "{q:?}");
            assert!(res.headers().get("location").is_none());
            res.text().await.unwrap().replace("&#39;", "'")
        }
    };
    let base = |client: &str, redirect: &str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", client.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("code_challenge", c.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("state", "s".to_owned()),
        ]
    };
    let cases = [
        (
            base("nobody", REDIRECT),
            "not registered with this sign-in service",
            "No tenant on this broker has the client_id",
        ),
        (
            base("pages", "https://evil.example/cb"),
            "not registered for this site",
            "registered for client_id “pages”",
        ),
        (
            base("pages", REDIRECT)
                .into_iter()
                .filter(|(k, _)| *k != "client_id")
                .collect(),
            "does not say which site",
            "has no client_id parameter",
        ),
        (
            base("pages", REDIRECT)
                .into_iter()
                .filter(|(k, _)| *k != "redirect_uri")
                .collect(),
            "does not say where to return you",
            "has no redirect_uri parameter",
        ),
    ];
    for (q, person, developer) in cases {
        let html = get(q, "en").await;
        assert!(html.contains(person), "{person}: {html}");
        // The person is told what to do themselves, not to find the site's owner.
        assert!(
            html.contains("Go back to the site and start again"),
            "{html}"
        );
        assert!(!html.contains("Contact the site"), "{html}");
        // The developer's box says what to change.
        let i = html.find("id=\"developer\"").expect("a developer's box");
        assert!(html[i..].contains("For the site's developer"), "{html}");
        assert!(html[i..].contains(developer), "{developer}: {html}");
        assert!(html.contains("nothing was sent to the site"));
    }
    let html = get(base("pages", "https://evil.example/cb"), "ja,en;q=0.5").await;
    assert!(html.contains("<html lang=\"ja\">"), "{html}");
    assert!(html.contains("サイトの開発者の方へ"), "{html}");
    assert!(html.contains("PATCH /api/v1/admin/tenants/pages"), "{html}");
}

#[tokio::test]
async fn every_page_names_the_icon_the_broker_serves() {
    let broker = Broker::start_with(&[("LATCHKEY_DEMO", "true")]);
    broker.simple_tenant("pages").await;
    let icon = broker
        .browser()
        .get(broker.url("/favicon.ico"))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status().as_u16(), 200);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    assert_eq!(icon.headers()["x-content-type-options"], "nosniff");
    let bytes = icon.bytes().await.unwrap();
    assert_eq!(&bytes[..4], &[0, 0, 1, 0], "an ICO file");

    let hosted = page(&broker, &[]).await.text().await.unwrap();
    let error = broker
        .browser()
        .get(broker.url("/authorize?client_id=nobody"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut pages = vec![hosted, error];
    // The landing page, the built-in demo site, the dashboard's sign-in page.
    for path in ["/", "/demo", "/admin"] {
        let res = broker.browser().get(broker.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        pages.push(res.text().await.unwrap());
    }
    for html in pages {
        assert_eq!(
            attr(&html, "<link rel=\"icon\"", "href"),
            "/favicon.ico",
            "{html}"
        );
    }
    // The pages' policy lets the icon load from the broker itself.
    let res = page(&broker, &[]).await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self'"), "{csp}");
}

#[tokio::test]
async fn the_account_page_has_the_same_headers_integrity_checked_scripts_and_its_words() {
    let broker = Broker::start();
    broker.simple_tenant("pages").await;
    for (lang, words) in [
        ("en", "Sign in with a passkey"),
        ("ja", "パスキーでサインイン"),
    ] {
        let res = broker
            .browser()
            .get(broker.url("/account"))
            .query(&[("client_id", "pages"), ("return_to", REDIRECT)])
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let h = res.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>"), "no inline script");
        assert!(html.contains(&format!("<html lang=\"{lang}\"")), "{lang}");
        assert!(html.contains(words), "{lang} words");
        assert!(html.contains("data-word=\"err-last_passkey\""));
        assert!(
            html.contains(&format!("href=\"{REDIRECT}\"")),
            "the link back"
        );
        for path in ["/static/webauthn.js", "/static/account.js"] {
            let tag = format!("<script src=\"{path}");
            let src = attr(&html, &tag, "src");
            let integrity = attr(&html, &tag, "integrity");
            let bytes = broker
                .browser()
                .get(broker.url(src))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let expected = format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes))
            );
            assert_eq!(integrity, expected, "SRI of {path}");
        }
    }
}

#[tokio::test]
async fn the_sign_in_pages_script_carries_no_words_and_the_page_hands_it_every_one() {
    let broker = Broker::start();
    broker.simple_tenant("pages").await;
    let script = broker
        .browser()
        .get(broker.url("/static/latchkey.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !script
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "no Japanese in the script: its words come from the page"
    );
    assert!(!script.contains("Too many attempts"), "no English either");
    let html = page(&broker, &[("ui_locales", "ja")])
        .await
        .text()
        .await
        .unwrap();
    for (key, words) in [
        ("api-rate_limited", "試行回数が多すぎます"),
        ("wait-seconds", "{n} 秒待って"),
        ("reason-synced_passkey", "{site} では"),
        ("ror-refused", "{rp}"),
    ] {
        let tag = format!("<p data-word=\"{key}\">");
        let at = html
            .find(&tag)
            .unwrap_or_else(|| panic!("{key} in the page"));
        let text = &html[at + tag.len()..];
        assert!(text[..text.find("</p>").unwrap()].contains(words), "{key}");
    }
}

#[test]
fn every_page_shares_one_head() {
    // The hosted pages and the dashboard extend one layout: the head's meta tags (no
    // referrer, no indexing, the icon) are written once.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
    let mut with_head = Vec::new();
    for dir in [root.clone(), root.join("admin")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html")
                && std::fs::read_to_string(&path).unwrap().contains("<head>")
            {
                with_head.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(with_head, vec!["page.html".to_owned()]);
}
