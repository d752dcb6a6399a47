//! The hosted page (PROTOCOL §2): headers, the flow cookie, Subresource Integrity of its
//! script and style sheet, the view that opens first, the error pages of `/authorize`,
//! and the icon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use latchkey_tests::harness::{Broker, Pkce, REDIRECT};
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
        ("<script", "src", "/static/latchkey.js"),
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
