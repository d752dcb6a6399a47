//! The tenant part of the admin API (PROTOCOL §7), the broker's discovery documents, the
//! operations endpoints, and the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_tests::harness::{ADMIN_TOKEN, Broker, REDIRECT, binary, temp_dir};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn admin_calls_without_a_valid_token_are_401() {
    let broker = Broker::start();
    for token in [None, Some("wrong-token-wrong-token-wrong"), Some("")] {
        let mut req = broker.backend().get(broker.url("/api/v1/admin/tenants"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    let res = broker
        .backend()
        .post(broker.url("/api/v1/admin/tenants"))
        .json(&json!({"client_id": "x-site", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn tenants_are_created_read_changed_listed_and_removed_with_audit_entries() {
    let broker = Broker::start();
    let t = broker
        .create_tenant(json!({"client_id": "shop.example", "name": "Shop", "redirect_uris": [REDIRECT, "http://localhost:3000/cb"], "rp_mode": "broker", "related_origins": ["https://shop.example"]}))
        .await;
    assert_eq!(t["client_id"], "shop.example");
    assert_eq!(t["rp_mode"], "broker");
    assert_eq!(
        t["rp_id"], "localhost",
        "broker mode fills in the broker's RP ID"
    );
    assert_eq!(t["user_verification"], "required");
    assert_eq!(t["counter_policy"], "record");
    assert_eq!(t["confidential"], false);
    assert!(t.get("client_secret").is_none());
    assert!(t["created_at"].is_string());

    let (s, got) = broker
        .admin(Method::GET, "/tenants/shop.example", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        got["redirect_uris"],
        json!([REDIRECT, "http://localhost:3000/cb"])
    );

    let (s, changed) = broker
        .admin(
            Method::PATCH,
            "/tenants/shop.example",
            Some(
                json!({"name": "Shop 2", "user_verification": "preferred", "rotate_secret": true}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["name"], "Shop 2");
    assert_eq!(changed["user_verification"], "preferred");
    assert_eq!(changed["confidential"], true);
    assert!(changed["client_secret"].as_str().unwrap().len() >= 43);

    // The broker's /.well-known/webauthn lists the related origin.
    let doc: Value = broker
        .backend()
        .get(broker.url("/.well-known/webauthn"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc, json!({"origins": ["https://shop.example"]}));

    let (s, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1);

    let (s, _) = broker
        .admin(Method::DELETE, "/tenants/shop.example", None)
        .await;
    assert_eq!(s, 204);
    let (s, body) = broker
        .admin(Method::GET, "/tenants/shop.example", None)
        .await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));
    let (s, _) = broker
        .admin(Method::DELETE, "/tenants/shop.example", None)
        .await;
    assert_eq!(s, 404);

    let (_, audit) = broker.admin(Method::GET, "/audit", None).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["tenant.delete", "tenant.update", "tenant.create"],
        "newest first"
    );
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "admin:bootstrap")
    );
    let dump = audit.to_string();
    assert!(
        !dump.contains(changed["client_secret"].as_str().unwrap()),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn a_duplicate_client_id_is_409() {
    let broker = Broker::start();
    broker.simple_tenant("twice").await;
    let (s, body) = broker
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"client_id": "twice", "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(body["error"], "conflict");
}

#[tokio::test]
async fn each_invalid_field_is_422_naming_the_field() {
    let broker = Broker::start();
    let cases = [
        (
            json!({"client_id": "a b", "redirect_uris": [REDIRECT]}),
            "client_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": []}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["http://site.example/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https://site.example/cb#x"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "cloud"}),
            "rp_mode",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "site"}),
            "rp_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "https://example.com"}),
            "rp_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "co.uk"}),
            "rp_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "broker", "rp_id": "example.com"}),
            "rp_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "user_verification": "sometimes"}),
            "user_verification",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "counter_policy": "panic"}),
            "counter_policy",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "related_origins": ["not an origin"]}),
            "related_origins",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "example.com", "related_origins": ["https://a.example"]}),
            "related_origins",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "colour": "blue"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (s, got) = broker
            .admin(Method::POST, "/tenants", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {got}");
        assert_eq!(got["error"], "invalid_field", "{got}");
        assert_eq!(got["field"], field, "{body} → {got}");
        assert!(got["message"].as_str().unwrap().len() > 5);
    }
    let (_, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(list["tenants"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_sixth_related_origin_label_is_refused() {
    let broker = Broker::start();
    let origins: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|l| format!("https://login.{l}-shop.com"))
        .collect();
    broker
        .create_tenant(
            json!({"client_id": "five", "redirect_uris": [REDIRECT], "related_origins": origins}),
        )
        .await;
    // Another origin of a known label is fine; a sixth label is not, even in another tenant.
    broker
        .create_tenant(json!({"client_id": "same-label", "redirect_uris": [REDIRECT], "related_origins": ["https://www.a-shop.co.uk"]}))
        .await;
    let (s, got) = broker
        .admin(Method::POST, "/tenants", Some(json!({"client_id": "sixth", "redirect_uris": [REDIRECT], "related_origins": ["https://f-shop.com"]})))
        .await;
    assert_eq!(s, 422, "{got}");
    assert_eq!(got["field"], "related_origins");
    assert!(got["message"].as_str().unwrap().contains("5"), "{got}");
}

#[tokio::test]
async fn discovery_lists_what_oidc_libraries_need() {
    let broker = Broker::start();
    let d: Value = broker
        .backend()
        .get(broker.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], broker.issuer);
    assert_eq!(d["authorization_endpoint"], broker.url("/authorize"));
    assert_eq!(d["token_endpoint"], broker.url("/oauth/token"));
    assert_eq!(d["userinfo_endpoint"], broker.url("/oauth/userinfo"));
    assert_eq!(d["jwks_uri"], broker.url("/oauth/jwks"));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["grant_types_supported"], json!(["authorization_code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    for k in [
        "subject_types_supported",
        "scopes_supported",
        "claims_supported",
        "token_endpoint_auth_methods_supported",
    ] {
        assert!(d[k].is_array(), "{k}");
    }
    let jwks: Value = broker
        .backend()
        .get(broker.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "no private part in the JWKS");
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let broker = Broker::start();
    let c = broker.backend();
    assert_eq!(
        c.get(broker.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let ready: Value = c
        .get(broker.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let metrics = c
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("latchkey_http_requests_total{route=\"/healthz\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("latchkey_http_request_duration_seconds_bucket"));
    let res = c.get(broker.url("/no/such/thing")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
}

#[test]
fn a_bad_setting_stops_startup_with_one_line_naming_it() {
    let dir = temp_dir("latchkey-badcfg");
    for (var, value) in [
        ("LATCHKEY_CODE_TTL", "soon"),
        ("LATCHKEY_BIND", "nowhere"),
        ("LATCHKEY_ISSUER", "ftp://x"),
        ("LATCHKEY_RP_ID", "10.0.0.1"),
    ] {
        let out = std::process::Command::new(binary())
            .arg("serve")
            .env(var, value)
            .env("LATCHKEY_DATA_DIR", &dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[test]
fn the_cli_adds_lists_and_removes_tenants_in_the_same_database() {
    let dir = temp_dir("latchkey-cli");
    let run = |args: &[&str]| {
        std::process::Command::new(binary())
            .args(args)
            .env("LATCHKEY_DATA_DIR", &dir)
            .env("LATCHKEY_LOG", "error")
            .output()
            .unwrap()
    };
    let out = run(&[
        "tenant",
        "add",
        "--client-id",
        "cli-site",
        "--name",
        "CLI",
        "--redirect-uri",
        REDIRECT,
        "--confidential",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["client_id"], "cli-site");
    assert!(created["client_secret"].is_string());
    let out = run(&[
        "tenant",
        "add",
        "--client-id",
        "cli-site",
        "--redirect-uri",
        REDIRECT,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = run(&["tenant", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli-site"));
    let out = run(&["tenant", "remove", "cli-site"]);
    assert!(out.status.success());
    let out = run(&["tenant", "list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let _ = ADMIN_TOKEN;
}
