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
        // Values a browser would read as another address than the one registered.
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https://a.example/cb\r\nSet-Cookie: x=1"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https://a.example/c\tb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https://a.example/cb\u{0000}"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https:///cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": ["https://*.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "0x7f.1"}),
            "rp_id",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "related_origins": ["https://*.example.com"]}),
            "related_origins",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "related_origins": ["https://github.io"]}),
            "related_origins",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "name": "Shop\u{202E}gnp.exe"}),
            "name",
        ),
        (
            json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "name": "Shop\u{0007}"}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (s, got) = broker
            .admin(Method::POST, "/tenants", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {got}");
        assert_eq!(got["error"], "invalid_field", "{got}");
        assert_eq!(got["field"], field, "{body} → {got}");
        // PROTOCOL §7: "a message naming it".
        let message = got["message"].as_str().unwrap();
        assert!(message.contains(field), "{body} → {message}");
    }
    let (s, got) = broker
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"client_id": "ok-id", "redirect_uris": [REDIRECT], "name": "Tab\tname"})),
        )
        .await;
    assert_eq!(s, 422, "{got}");
    assert!(
        got["message"]
            .as_str()
            .unwrap()
            .contains("control characters"),
        "the message says what is wrong: {got}"
    );
    let (_, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(list["tenants"], json!([]), "nothing was created");
}

#[tokio::test]
async fn bad_query_values_are_422_naming_the_field_in_json() {
    let broker = Broker::start();
    broker.simple_tenant("acme").await;
    for path in [
        "/audit?limit=-1",
        "/audit?limit=many",
        "/audit?limit=0",
        "/audit?after=x",
        "/tenants/acme/users?limit=-5",
    ] {
        let (s, got) = broker.admin(Method::GET, path, None).await;
        assert_eq!(s, 422, "{path} → {got}");
        assert_eq!(got["error"], "invalid_field", "{path} → {got}");
        let field = got["field"].as_str().unwrap();
        assert!(path.contains(&format!("{field}=")), "{path} → {got}");
        assert!(got["message"].as_str().unwrap().contains(field), "{got}");
    }
    let (s, got) = broker.admin(Method::GET, "/audit?limit=2", None).await;
    assert_eq!(s, 200, "{got}");
}

#[tokio::test]
async fn admin_tokens_are_accepted_whatever_the_case_of_the_bearer_scheme() {
    // RFC 7235 §2.1: the authentication scheme is case-insensitive.
    let broker = Broker::start();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let res = broker
            .backend()
            .get(broker.url("/api/v1/admin/tenants"))
            .header("authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{scheme}");
    }
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
        ("LATCHKEY_ADMIN_SESSION_IDLE", "0"),
        ("LATCHKEY_ADMIN_SESSION_MAX", "forever"),
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
    // `migrate` makes the database (as `serve` would); the other commands need one.
    let out = run(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// Every command that works on a broker's data, as typed after `latchkey`.
const DATA_COMMANDS: &[&[&str]] = &[
    &["admin", "invite"],
    &["admin", "token", "create", "--name", "ci"],
    &["admin", "token", "list"],
    &["admin", "token", "revoke", "tok-1"],
    &[
        "tenant",
        "add",
        "--client-id",
        "shop",
        "--redirect-uri",
        REDIRECT,
    ],
    &["tenant", "list"],
    &["tenant", "remove", "shop"],
    &["keys", "rotate"],
    &["keys", "list"],
];

/// The CLI run from `dir` with only `env` (and PATH) set.
fn cli_in(dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCHKEY_LOG", "error")
        .output()
        .unwrap()
}

/// Whether the PostgreSQL schema `schema` of `url` exists (asks `psql`).
fn postgres_schema_exists(url: &str, schema: &str) -> bool {
    let out = std::process::Command::new("psql")
        .args([
            url,
            "-tAc",
            &format!(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{schema}'"
            ),
        ])
        .output()
        .expect("psql, to look at the PostgreSQL schemas");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

#[tokio::test]
async fn cli_commands_on_a_brokers_data_create_no_database_and_say_where_they_looked() {
    let broker = Broker::start();
    // Another directory, as an operator's shell would be in, with the settings a test
    // broker on this backend would get (none on SQLite: the default ./latchkey-data).
    let elsewhere = temp_dir("latchkey-elsewhere").canonicalize().unwrap();
    let env = latchkey_tests::harness::database_env();
    let var = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let looked_at = match var("LATCHKEY_DATABASE_SCHEMA") {
        Some(schema) => schema,
        None => elsewhere
            .join("latchkey-data")
            .join("latchkey.db")
            .display()
            .to_string(),
    };
    for args in DATA_COMMANDS {
        let out = cli_in(&elsewhere, &env, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed a result: {err}");
        assert!(
            err.contains("no Latchkey database at") && err.contains(&looked_at),
            "{args:?} does not say where it looked ({looked_at}): {err}"
        );
        for way in [
            "--data-dir",
            "LATCHKEY_DATA_DIR",
            "LATCHKEY_DATABASE_URL",
            "--config",
        ] {
            assert!(err.contains(way), "{args:?} does not mention {way}: {err}");
        }
        assert!(
            err.contains(&format!("latchkey {}", args[..2].join(" "))),
            "{args:?} is not named: {err}"
        );
        assert!(
            !elsewhere.join("latchkey-data").exists(),
            "{args:?} created a data directory"
        );
        assert_eq!(
            std::fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "{args:?} left something behind"
        );
        if let (Some(url), Some(schema)) = (
            var("LATCHKEY_DATABASE_URL"),
            var("LATCHKEY_DATABASE_SCHEMA"),
        ) {
            assert!(
                !postgres_schema_exists(&url, &schema),
                "{args:?} created the schema {schema}"
            );
        }
    }

    // A --data-dir that does not exist is named and left alone.
    let missing = elsewhere.join("not-the-server");
    let mut args = vec!["--data-dir", missing.to_str().unwrap(), "admin", "invite"];
    let out = cli_in(&elsewhere, &[], &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&missing.join("latchkey.db").display().to_string()),
        "{err}"
    );
    assert!(!missing.exists(), "the directory was created");

    // Pointed at the server's data, from the same directory: a link the server accepts.
    let dir = broker.dir.display().to_string();
    args.splice(1..2, [dir.as_str()]);
    let mut env = broker.env().to_vec();
    env.push(("LATCHKEY_ISSUER".into(), broker.issuer.clone()));
    let out = cli_in(&elsewhere, &env, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let res = broker
        .browser()
        .get(broker.url(&link[broker.issuer.len()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "the server accepts {link}");
    assert!(
        res.text().await.unwrap().contains("You are invited"),
        "{link}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    // On SQLite the master key is the data directory's too: a database named by URL
    // without it gets no new key that the server could not open.
    if var("LATCHKEY_DATABASE_URL").is_none() {
        let url = format!("sqlite://{}/latchkey.db", broker.dir.display());
        let env = [("LATCHKEY_DATABASE_URL".to_owned(), url)];
        let out = cli_in(&elsewhere, &env, &["keys", "rotate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("no master key") && err.contains("--data-dir"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}

/// Runs the CLI on the database of a running broker, under its issuer.
fn cli(broker: &Broker, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .args(args)
        .envs(broker.env().iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("LATCHKEY_DATA_DIR", &broker.dir)
        .env("LATCHKEY_ISSUER", &broker.issuer)
        .env("LATCHKEY_LOG", "error")
        .output()
        .unwrap()
}

async fn call(
    broker: &Broker,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = broker
        .backend()
        .request(method, broker.url(&format!("/api/v1/admin{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn minted_tokens_work_until_revoked_and_the_audit_log_names_them() {
    let broker = Broker::start();
    let (s, minted) = broker
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "deploy pipeline"})),
        )
        .await;
    assert_eq!(s, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lkadm_") && token.len() > 40, "{token}");
    let id = minted["id"].as_str().unwrap().to_owned();
    assert_eq!(minted["name"], "deploy pipeline");
    assert_eq!(minted["last_used_at"], Value::Null);

    // The token works, and what it changes is recorded under its id.
    let (s, _) = call(
        &broker,
        Method::POST,
        "/tenants",
        &token,
        Some(json!({"client_id": "by-token", "redirect_uris": [REDIRECT]})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, audit) = broker
        .admin(Method::GET, "/audit?action=tenant.create", None)
        .await;
    assert_eq!(
        audit["events"][0]["actor"],
        format!("token:{id}"),
        "{audit}"
    );
    assert_eq!(audit["events"][0]["subject"], "by-token");

    // The list shows its name and last use, never the token or its hash.
    let (s, list) = broker.admin(Method::GET, "/tokens", None).await;
    assert_eq!(s, 200);
    let listed = &list["tokens"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(listed["last_used_at"].is_string(), "{list}");
    assert!(listed.get("token").is_none() && listed.get("token_hash").is_none());
    assert!(!list.to_string().contains(&token));

    // Revoked: 401 at once; revoking an unknown id is 404.
    let (s, _) = broker
        .admin(Method::DELETE, &format!("/tokens/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, body) = call(&broker, Method::GET, "/tenants", &token, None).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("unauthorized")));
    let (s, body) = broker.admin(Method::DELETE, "/tokens/nope", None).await;
    assert_eq!((s, body["error"].as_str()), (404, Some("not_found")));

    // A near miss of a real token is refused too.
    let mut near = token.clone();
    near.pop();
    near.push('A');
    let (s, _) = call(&broker, Method::GET, "/tenants", &near, None).await;
    assert_eq!(s, 401);

    let (_, audit) = broker
        .admin(Method::GET, "/audit?action=token.*", None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["token.revoke", "token.create"]);
    assert!(
        !audit.to_string().contains(&token),
        "no token in the audit log"
    );
}

#[tokio::test]
async fn a_token_without_a_good_name_is_422_naming_the_field() {
    let broker = Broker::start();
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": 7}),
    ] {
        let (s, got) = broker
            .admin(Method::POST, "/tokens", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {got}");
        assert_eq!(got["error"], "invalid_field");
        assert_eq!(got["field"], "name", "{got}");
    }
    let (s, body) = broker
        .admin(
            Method::POST,
            "/tokens",
            Some(json!({"name": "a", "colour": "blue"})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let (_, list) = broker.admin(Method::GET, "/tokens", None).await;
    assert_eq!(list["tokens"], json!([]), "nothing was minted");
}

#[tokio::test]
async fn every_admin_endpoint_is_401_without_a_valid_token() {
    let broker = Broker::start();
    let endpoints = [
        (Method::GET, "/tenants"),
        (Method::POST, "/tenants"),
        (Method::GET, "/tenants/x"),
        (Method::PATCH, "/tenants/x"),
        (Method::DELETE, "/tenants/x"),
        (Method::POST, "/tenants/x/well-known-check"),
        (Method::GET, "/tenants/x/users"),
        (Method::DELETE, "/tenants/x/users/u"),
        (Method::DELETE, "/credentials/c"),
        (Method::GET, "/audit"),
        (Method::GET, "/tokens"),
        (Method::POST, "/tokens"),
        (Method::DELETE, "/tokens/t"),
        (Method::GET, "/invites"),
        (Method::POST, "/invites"),
    ];
    for (method, path) in endpoints {
        for token in [
            None,
            Some("lkadm_not-a-real-token-not-a-real-token-xx"),
            Some("Basic abc"),
        ] {
            let mut req = broker
                .backend()
                .request(method.clone(), broker.url(&format!("/api/v1/admin{path}")))
                .json(&json!({"name": "x"}));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status().as_u16(), 401, "{method} {path} {token:?}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }
    }
    let (_, audit) = broker.admin(Method::GET, "/audit", None).await;
    assert_eq!(audit["events"], json!([]), "nothing was changed");
}

#[tokio::test]
async fn unknown_objects_are_404_and_the_dashboard_tenant_is_not_in_the_tenant_api() {
    let broker = Broker::start();
    broker.simple_tenant("known").await;
    for (method, path) in [
        (Method::GET, "/tenants/missing"),
        (Method::PATCH, "/tenants/missing"),
        (Method::DELETE, "/tenants/missing"),
        (Method::POST, "/tenants/missing/well-known-check"),
        (Method::GET, "/tenants/missing/users"),
        (Method::DELETE, "/tenants/known/users/no-such-user"),
        (Method::DELETE, "/tenants/missing/users/no-such-user"),
        (Method::DELETE, "/credentials/no-such-passkey"),
        (Method::DELETE, "/tokens/no-such-token"),
        (Method::GET, "/tenants/latchkey-admin"),
        (Method::PATCH, "/tenants/latchkey-admin"),
        (Method::DELETE, "/tenants/latchkey-admin"),
        (Method::GET, "/tenants/latchkey-admin/users"),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
        let (s, got) = broker.admin(method.clone(), path, body).await;
        assert_eq!(s, 404, "{method} {path} → {got}");
        assert_eq!(got["error"], "not_found");
    }
    let (s, got) = broker
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"client_id": "latchkey-admin", "redirect_uris": [REDIRECT]})),
        )
        .await;
    assert_eq!((s, got["error"].as_str()), (409, Some("conflict")), "{got}");
    let (_, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(list["tenants"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn a_patch_with_a_bad_field_is_422_naming_it_and_changes_nothing() {
    let broker = Broker::start();
    broker.simple_tenant("patched").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (
            json!({"redirect_uris": "https://site.example/cb"}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["ftp://x.example/cb"]}),
            "redirect_uris",
        ),
        (json!({"user_verification": "never"}), "user_verification"),
        (json!({"client_id": "renamed"}), "client_id"),
        (json!({"confidential": true}), "confidential"),
        (
            json!({"related_origins": ["http://shop.example"]}),
            "related_origins",
        ),
        (json!({"rotate_secret": "yes"}), "rotate_secret"),
        (json!({"favourite": 1}), "favourite"),
    ] {
        let (s, got) = broker
            .admin(Method::PATCH, "/tenants/patched", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {got}");
        assert_eq!(got["error"], "invalid_field");
        assert_eq!(got["field"], field, "{body} → {got}");
    }
    let (_, t) = broker.admin(Method::GET, "/tenants/patched", None).await;
    assert_eq!(t["name"], "Test site");
    assert_eq!(t["redirect_uris"], json!([REDIRECT]));
    let (_, audit) = broker
        .admin(Method::GET, "/audit?action=tenant.update", None)
        .await;
    assert_eq!(audit["events"], json!([]), "no change, no audit entry");
}

#[tokio::test]
async fn users_are_searched_and_deleted_with_their_passkeys_and_audited() {
    use latchkey_tests::authenticator::SoftAuthenticator;
    use latchkey_tests::harness::Flow;
    let broker = Broker::start();
    broker.simple_tenant("people").await;
    let mut auth = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "people").await;
    let (s, _) = flow
        .register(
            &mut auth,
            json!({"email": "ada@example.com", "display_name": "Ada"}),
        )
        .await;
    assert_eq!(s, 200);
    let mut other = SoftAuthenticator::new();
    let flow = Flow::open(&broker, "people").await;
    let (s, _) = flow
        .register(&mut other, json!({"email": "bob@example.com"}))
        .await;
    assert_eq!(s, 200);

    let (_, all) = broker
        .admin(Method::GET, "/tenants/people/users", None)
        .await;
    assert_eq!(all["users"].as_array().unwrap().len(), 2);
    let (_, found) = broker
        .admin(Method::GET, "/tenants/people/users?q=ada%40", None)
        .await;
    let users = found["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{found}");
    assert_eq!(users[0]["email"], "ada@example.com");
    let passkey = &users[0]["passkeys"][0];
    for key in [
        "id",
        "aaguid",
        "backed_up",
        "backup_eligible",
        "user_verified",
        "created_at",
        "last_used_at",
    ] {
        assert!(passkey.get(key).is_some(), "{key} in {passkey}");
    }
    // By passkey id too.
    let pid = passkey["passkey_id"].as_str().unwrap();
    let (_, by_passkey) = broker
        .admin(Method::GET, &format!("/tenants/people/users?q={pid}"), None)
        .await;
    assert_eq!(by_passkey["users"][0]["user_id"], users[0]["user_id"]);

    let uid = users[0]["user_id"].as_str().unwrap();
    let (s, _) = broker
        .admin(
            Method::DELETE,
            &format!("/tenants/people/users/{uid}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = broker
        .admin(
            Method::DELETE,
            &format!("/tenants/people/users/{uid}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    // Her passkey is gone with her: its next use answers unknown_credential.
    let flow = Flow::open(&broker, "people").await;
    let (s, body) = flow.sign_in(&mut auth).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (404, Some("unknown_credential")),
        "{body}"
    );
    let (_, audit) = broker
        .admin(
            Method::GET,
            "/audit?action=user.delete&tenant=people&actor=admin:bootstrap",
            None,
        )
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["events"][0]["subject"], uid);
    assert_eq!(audit["events"][0]["detail"]["passkeys"], 1);
}

#[tokio::test]
async fn the_audit_log_filters_by_action_tenant_and_actor_and_pages_with_after() {
    let broker = Broker::start();
    for id in ["one", "two", "three"] {
        broker.simple_tenant(id).await;
    }
    let (s, token) = broker
        .admin(Method::POST, "/tokens", Some(json!({"name": "ci"})))
        .await;
    assert_eq!(s, 201);
    let (s, _) = call(
        &broker,
        Method::PATCH,
        "/tenants/two",
        token["token"].as_str().unwrap(),
        Some(json!({"name": "Two"})),
    )
    .await;
    assert_eq!(s, 200);
    let actions = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["action"].as_str().unwrap(),
                    e["subject"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    let (_, by_action) = broker
        .admin(Method::GET, "/audit?action=tenant.create", None)
        .await;
    assert_eq!(
        actions(&by_action),
        [
            "tenant.create three",
            "tenant.create two",
            "tenant.create one"
        ]
    );
    let (_, by_prefix) = broker
        .admin(Method::GET, "/audit?action=tenant.*&tenant=two", None)
        .await;
    assert_eq!(
        actions(&by_prefix),
        ["tenant.update two", "tenant.create two"]
    );
    let actor = format!("token:{}", token["id"].as_str().unwrap());
    let (_, by_actor) = broker
        .admin(Method::GET, &format!("/audit?actor={actor}"), None)
        .await;
    assert_eq!(actions(&by_actor), ["tenant.update two"]);

    // Paging: `after` is the last id of the previous page.
    let (_, page1) = broker
        .admin(Method::GET, "/audit?action=tenant.create&limit=2", None)
        .await;
    assert_eq!(
        actions(&page1),
        ["tenant.create three", "tenant.create two"]
    );
    let after = page1["next_after"].as_i64().unwrap();
    let (_, page2) = broker
        .admin(
            Method::GET,
            &format!("/audit?action=tenant.create&limit=2&after={after}"),
            None,
        )
        .await;
    assert_eq!(actions(&page2), ["tenant.create one"]);
    assert_eq!(page2["next_after"], Value::Null);
}

#[tokio::test]
async fn invitations_are_made_by_the_api_and_the_cli_and_tokens_by_the_cli() {
    let broker = Broker::start();
    let (s, invite) = broker.admin(Method::POST, "/invites", None).await;
    assert_eq!(s, 201, "{invite}");
    let url = invite["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/admin/invite/", broker.issuer)),
        "{url}"
    );
    let (_, list) = broker.admin(Method::GET, "/invites", None).await;
    assert_eq!(list["invites"].as_array().unwrap().len(), 1);
    assert!(
        list["invites"][0].get("url").is_none(),
        "the link is shown once"
    );
    assert!(!list.to_string().contains(url.rsplit('/').next().unwrap()));

    let out = cli(&broker, &["admin", "invite"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/admin/invite/", broker.issuer)),
        "{link}"
    );
    // The link opens a page that says it is an invitation to become an admin, from
    // whom, until when; its button opens a sign-in on the broker's own page, in create
    // mode.
    let browser = broker.browser();
    let res = browser
        .get(broker.url(&link[broker.issuer.len()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    for said in [
        "You are invited to be an admin",
        "An operator on the server invited you",
        "works once, until",
        "Create your admin passkey",
    ] {
        assert!(html.contains(said), "{said}: {html}");
    }
    let start = format!("{}/start", &link[broker.issuer.len()..]);
    assert!(html.contains(&format!("href=\"{start}\"")), "{html}");
    let res = browser.get(broker.url(&start)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let to = res.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with("/authorize?")
            && to.contains("client_id=latchkey-admin")
            && to.contains("prompt=create"),
        "{to}"
    );
    // A made-up link is refused.
    let res = broker
        .browser()
        .get(broker.url("/admin/invite/not-an-invitation"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 410);

    let out = cli(&broker, &["admin", "token", "create", "--name", "nightly"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (s, _) = call(&broker, Method::GET, "/tenants", &token, None).await;
    assert_eq!(s, 200);
    let out = cli(&broker, &["admin", "token", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["name"], "nightly");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));
    let out = cli(&broker, &["admin", "token", "revoke", &id]);
    assert!(out.status.success());
    let (s, _) = call(&broker, Method::GET, "/tenants", &token, None).await;
    assert_eq!(s, 401);
    let out = cli(&broker, &["admin", "token", "revoke", "nope"]);
    assert!(!out.status.success());
    let out = cli(&broker, &["admin", "token", "create", "--name", ""]);
    assert!(!out.status.success());

    let (_, audit) = broker.admin(Method::GET, "/audit?actor=cli", None).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.revoke", "token.create", "admin.invite"]);
}

/// A dashboard session opened the way a new admin does: an invitation link, the hosted
/// page's registration (with the software authenticator), the callback.
struct AdminSession {
    client: reqwest::Client,
    csrf: String,
    user_id: String,
    auth: latchkey_tests::authenticator::SoftAuthenticator,
    callback_cookie: String,
}

/// Follows `/admin/...` to `/authorize` and opens the flow there, in `client`.
async fn admin_flow(
    broker: &Broker,
    client: &reqwest::Client,
    path: &str,
) -> latchkey_tests::harness::Flow {
    // An invitation link opens its landing page first, whose button starts the sign-in.
    let path = if path.starts_with("/admin/invite/") && !path.ends_with("/start") {
        let res = client.get(broker.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        format!("{path}/start")
    } else {
        path.to_owned()
    };
    let path = path.as_str();
    let res = client.get(broker.url(path)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "{path}");
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let html = client
        .get(broker.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let q: std::collections::HashMap<String, String> = url::Url::parse(&broker.url(&to))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    latchkey_tests::harness::Flow {
        browser: client.clone(),
        id: latchkey_tests::harness::flow_id_from_html(&html).expect("flow id"),
        pkce: latchkey_tests::harness::Pkce::new(),
        state: q["state"].clone(),
        client_id: "latchkey-admin".into(),
        redirect_uri: format!("{}/admin/callback", broker.issuer),
        issuer: broker.issuer.clone(),
        base: broker.base.clone(),
    }
}

/// Goes to the callback of a ceremony's answer; returns the answer to it.
async fn finish(broker: &Broker, client: &reqwest::Client, answer: &Value) -> reqwest::Response {
    let to = answer["redirect_to"].as_str().expect("redirect_to");
    client
        .get(broker.url(&to[broker.issuer.len()..]))
        .send()
        .await
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("a CSRF field");
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn admin_session(broker: &Broker) -> AdminSession {
    let (s, invite) = broker.admin(Method::POST, "/invites", None).await;
    assert_eq!(s, 201);
    let link = invite["url"].as_str().unwrap();
    let client = broker.browser();
    let flow = admin_flow(broker, &client, &link[broker.issuer.len()..]).await;
    let mut auth = latchkey_tests::authenticator::SoftAuthenticator::new();
    let (s, answer) = flow
        .register(
            &mut auth,
            json!({"email": "root@example.com", "display_name": "Root"}),
        )
        .await;
    assert_eq!(s, 200, "{answer}");
    let res = finish(broker, &client, &answer).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/admin/tenants");
    let callback_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("latchkey_admin="))
        .expect("a session cookie");
    let html = client
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    AdminSession {
        csrf: csrf_of(&html),
        user_id: answer["signals"]["user_id"].as_str().unwrap().to_owned(),
        client,
        auth,
        callback_cookie,
    }
}

#[tokio::test]
async fn a_dashboard_passkey_picked_at_a_tenant_page_is_not_signalled_unknown() {
    // The dashboard is a tenant under the broker's RP ID: a tenant's page offers the
    // admin's passkey, and must not make the authenticator delete it.
    let broker = Broker::start();
    let mut admin = admin_session(&broker).await;
    broker.simple_tenant("acme").await;
    let flow = latchkey_tests::harness::Flow::open(&broker, "acme").await;
    let (s, body) = flow.sign_in(&mut admin.auth).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (404, Some("unknown_credential")),
        "{body}"
    );
    assert!(
        body.get("credential_id").is_none(),
        "nothing to signal: {body}"
    );
    assert_eq!(body["reason"], "another_site", "{body}");
    // And a tenant's passkey picked at the dashboard's sign-in is not signalled either.
    let mut person = latchkey_tests::authenticator::SoftAuthenticator::new();
    let (s, v) = flow.register(&mut person, json!({})).await;
    assert_eq!(s, 200, "{v}");
    let dashboard = admin_flow(&broker, &broker.browser(), "/admin/login").await;
    let (s, body) = dashboard.sign_in(&mut person).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (404, Some("unknown_credential")),
        "{body}"
    );
    assert!(
        body.get("credential_id").is_none(),
        "nothing to signal: {body}"
    );
}

#[tokio::test]
async fn the_last_admin_and_the_last_admin_passkey_cannot_be_removed() {
    let broker = Broker::start();
    let first = admin_session(&broker).await;
    let first_passkey = first_passkey_of(&first);
    // The API: revoking the only passkey any admin can sign in with is 409.
    let (s, body) = revoke_passkey(&broker, &first_passkey).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert_eq!(body["reason"], "last_admin", "{body}");
    assert!(body["message"].as_str().unwrap().contains("lock"), "{body}");
    // The dashboard: removing the only admin is refused with the reason, and nothing
    // changed: the admin is still signed in.
    let res = remove_admin(&broker, &first, &first.user_id).await;
    assert_eq!(res.status().as_u16(), 409);
    let page = res.text().await.unwrap();
    assert!(page.contains("Invite another admin first"), "{page}");
    let res = first
        .client
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "still signed in");
    let (_, audit) = broker
        .admin(Method::GET, "/audit?action=credential.revoke", None)
        .await;
    assert_eq!(audit["events"], json!([]), "nothing was revoked");

    // With a second admin, the first one's passkey may go, and then the first admin;
    // the second admin's last passkey may not.
    let second = admin_session(&broker).await;
    let (s, body) = revoke_passkey(&broker, &first_passkey).await;
    assert_eq!(s, 204, "{body}");
    let (s, body) = revoke_passkey(&broker, &first_passkey_of(&second)).await;
    assert_eq!(
        (s, body["reason"].as_str()),
        (409, Some("last_admin")),
        "{body}"
    );
    let res = remove_admin(&broker, &second, &first.user_id).await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
}

/// The credential id of an admin's (first) passkey.
fn first_passkey_of(admin: &AdminSession) -> String {
    latchkey_tests::authenticator::b64(&admin.auth.credentials()[0].credential_id)
}

/// `DELETE /api/v1/admin/credentials/{id}` with the bootstrap token.
async fn revoke_passkey(broker: &Broker, credential_id: &str) -> (u16, Value) {
    broker
        .admin(
            Method::DELETE,
            &format!("/credentials/{credential_id}"),
            None,
        )
        .await
}

/// Posts the dashboard's "remove admin" form for `user_id` in `session`.
async fn remove_admin(broker: &Broker, session: &AdminSession, user_id: &str) -> reqwest::Response {
    session
        .client
        .post(broker.url(&format!("/admin/admins/{user_id}/delete")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(format!("csrf={}", session.csrf))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invitation_registers_an_admin_passkey_once_and_opens_a_strict_session() {
    let broker = Broker::start();
    let (s, invite) = broker.admin(Method::POST, "/invites", None).await;
    assert_eq!(s, 201);
    let link = invite["url"].as_str().unwrap().to_owned();
    let client = broker.browser();
    let flow = admin_flow(&broker, &client, &link[broker.issuer.len()..]).await;
    let mut auth = latchkey_tests::authenticator::SoftAuthenticator::new();
    let (s, answer) = flow
        .register(&mut auth, json!({"email": "root@example.com"}))
        .await;
    assert_eq!(s, 200, "{answer}");
    let res = finish(&broker, &client, &answer).await;
    assert_eq!(res.status().as_u16(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("latchkey_admin="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let page = client
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Sign out") && html.contains("root@example.com"),
        "{html}"
    );
    assert!(!html.contains("<script"), "the dashboard runs no script");

    // The invitation is spent: another browser cannot use it again.
    let other = broker.browser();
    let res = other
        .get(broker.url(&link[broker.issuer.len()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 410);
    let (_, list) = broker.admin(Method::GET, "/invites", None).await;
    assert!(list["invites"][0]["used_at"].is_string(), "{list}");
    assert_eq!(list["invites"][0]["used_by"], answer["signals"]["user_id"]);

    let uid = answer["signals"]["user_id"].as_str().unwrap();
    let (_, audit) = broker
        .admin(Method::GET, &format!("/audit?actor=admin:{uid}"), None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["admin.sign_in", "admin.invite.accept"], "{audit}");
}

#[tokio::test]
async fn without_an_invitation_no_admin_passkey_can_be_created_but_admins_sign_in_again() {
    let broker = Broker::start();
    // A stranger opens the dashboard's sign-in and tries to create a passkey.
    let stranger = broker.browser();
    let flow = admin_flow(&broker, &stranger, "/admin/login").await;
    let (s, body) = flow
        .post("registration/options", &json!({"email": "eve@example.com"}))
        .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (403, Some("registration_closed")),
        "{body}"
    );
    // A flow opened by hand for the dashboard's tenant cannot either.
    let forged = latchkey_tests::harness::Flow::open_with(
        &broker,
        broker.browser(),
        "latchkey-admin",
        &format!("{}/admin/callback", broker.issuer),
        &[("prompt", "create")],
    )
    .await;
    let (s, body) = forged.post("registration/options", &json!({})).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (403, Some("registration_closed")),
        "{body}"
    );

    // An admin signs in again with the passkey made from an invitation.
    let mut admin = admin_session(&broker).await;
    let again = broker.browser();
    let flow = admin_flow(&broker, &again, "/admin/login").await;
    let (s, answer) = flow.sign_in(&mut admin.auth).await;
    assert_eq!(s, 200, "{answer}");
    let res = finish(&broker, &again, &answer).await;
    assert_eq!(res.headers()["location"], "/admin/tenants");
    let res = again
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    // The callback is single use, and bound to the browser that started it.
    let res = finish(&broker, &again, &answer).await;
    assert_eq!(res.status().as_u16(), 400);
    let thief = broker.browser();
    let flow = admin_flow(&broker, &again, "/admin/login").await;
    let (_, answer) = flow.sign_in(&mut admin.auth).await;
    let res = finish(&broker, &thief, &answer).await;
    assert_eq!(res.status().as_u16(), 403);
    // Without a session, pages send to the sign-in page.
    let res = broker
        .browser()
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/admin");
    let _ = &admin.callback_cookie;
}

#[tokio::test]
async fn forms_and_session_api_calls_need_their_csrf_token_and_the_same_site() {
    let broker = Broker::start();
    let admin = admin_session(&broker).await;
    let form = |csrf: Option<&str>| {
        let mut pairs = vec![
            ("client_id", "shop"),
            ("name", "Shop"),
            ("redirect_uris", "https://shop.example/cb"),
            ("rp_mode", "broker"),
            ("user_verification", "required"),
            ("counter_policy", "record"),
        ];
        if let Some(c) = csrf {
            pairs.push(("csrf", c));
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let post = |body: String, site: Option<&'static str>| {
        let mut req = admin
            .client
            .post(broker.url("/admin/tenants"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        req.send()
    };
    for (body, site) in [
        (form(None), Some("same-origin")),
        (form(Some("wrong-token")), Some("same-origin")),
        (form(Some(&admin.csrf)), Some("cross-site")),
        (form(Some(&admin.csrf)), Some("same-site")),
    ] {
        let res = post(body, site).await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{site:?}");
        assert!(res.text().await.unwrap().contains("Nothing was changed"));
    }
    let (_, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(list["tenants"], json!([]), "nothing was created");

    // A bad field is shown beside the field, and nothing is created.
    let bad = form(Some(&admin.csrf)).replace("https%3A%2F%2Fshop", "http%3A%2F%2Fshop");
    let res = post(bad, Some("same-origin")).await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"redirect_uris-error\""), "{html}");
    assert!(html.contains("value=\"shop\""), "what was typed is kept");

    // Created: the answer is a redirect to the tenant's page (POST-redirect-GET), which
    // says so once; reloading that page posts nothing again.
    let res = post(form(Some(&admin.csrf)), Some("same-origin"))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "/admin/tenants/shop");
    let page = |path: &'static str| admin.client.get(broker.url(path)).send();
    let html = page("/admin/tenants/shop")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("The tenant was created"), "{html}");
    let html = page("/admin/tenants/shop")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("The tenant was created"),
        "said once: {html}"
    );
    assert!(!html.contains("already exists"), "{html}");
    let (s, _) = broker.admin(Method::GET, "/tenants/shop", None).await;
    assert_eq!(s, 200);

    // The admin API with the session cookie: reads need nothing more, changes need the
    // token in X-CSRF-Token and no other site.
    let api = |m: reqwest::Method, path: &str| {
        admin
            .client
            .request(m, broker.url(&format!("/api/v1/admin{path}")))
    };
    let res = api(Method::GET, "/tenants").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = api(Method::DELETE, "/tenants/shop").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "csrf_failed");
    let res = api(Method::DELETE, "/tenants/shop")
        .header("x-csrf-token", &admin.csrf)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let (s, _) = broker.admin(Method::GET, "/tenants/shop", None).await;
    assert_eq!(s, 200, "still there");
    let res = api(Method::DELETE, "/tenants/shop")
        .header("x-csrf-token", &admin.csrf)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    let (_, audit) = broker
        .admin(Method::GET, "/audit?action=tenant.*", None)
        .await;
    let actors: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    let me = format!("admin:{}", admin.user_id);
    assert_eq!(actors, [me.as_str(), me.as_str()], "{audit}");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_every_instance() {
    let broker = Broker::start();
    let admin = admin_session(&broker).await;
    let sibling = broker.sibling();
    // The session lives in the database: the other instance knows it.
    let cookie = admin.callback_cookie.split(';').next().unwrap().to_owned();
    let on_sibling = |path: &str| {
        sibling
            .backend()
            .get(sibling.url(path))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(
        on_sibling("/admin/tenants")
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let res = admin
        .client
        .post(broker.url("/admin/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", admin.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let res = admin
        .client
        .get(broker.url("/admin/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/admin");
    assert_eq!(
        on_sibling("/admin/tenants")
            .await
            .unwrap()
            .status()
            .as_u16(),
        303
    );
    let res = sibling
        .backend()
        .get(sibling.url("/api/v1/admin/tenants"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn the_dashboard_shows_the_site_check_and_the_related_origin_labels() {
    // shop.test resolves to a closed port: the check fails, and says what to publish.
    let broker = Broker::start_with(&[("LATCHKEY_WELL_KNOWN_RESOLVE", "shop.test=127.0.0.1:9")]);
    let admin = admin_session(&broker).await;
    broker
        .create_tenant(json!({"client_id": "site-shop", "name": "Site shop", "redirect_uris": [REDIRECT], "rp_mode": "site", "rp_id": "shop.test"}))
        .await;
    let res = admin
        .client
        .post(broker.url("/admin/tenants/site-shop/check"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", admin.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/admin/tenants/site-shop#check-result");
    let html = admin
        .client
        .get(broker.url("/admin/tenants/site-shop"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Not ready"), "{html}");
    assert!(
        html.contains("https://shop.test/.well-known/webauthn"),
        "{html}"
    );
    let i = html
        .find("id=\"check-expected\">")
        .expect("the JSON to publish");
    let expected = &html[i..html[i..].find("</pre>").unwrap() + i];
    assert!(expected.contains(&broker.issuer), "{expected}");

    // Broker mode: the labels in use, of five.
    let origins: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|l| format!("https://login.{l}-shop.com"))
        .collect();
    broker
        .create_tenant(
            json!({"client_id": "five", "redirect_uris": [REDIRECT], "related_origins": origins}),
        )
        .await;
    let html = admin
        .client
        .get(broker.url("/admin/tenants/five"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"label-count\">5 of 5"), "{html}");
    assert!(html.contains("No room is left"));
    // A sixth label through the form is refused beside the field.
    let six = format!("{}\nhttps://f-shop.com", origins.join("\n"));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("csrf", admin.csrf.as_str()),
            ("name", "Five"),
            ("redirect_uris", REDIRECT),
            ("rp_mode", "broker"),
            ("user_verification", "required"),
            ("counter_policy", "record"),
            ("related_origins", six.as_str()),
        ])
        .finish();
    let res = admin
        .client
        .post(broker.url("/admin/tenants/five"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"related_origins-error\""), "{html}");
    let (_, five) = broker.admin(Method::GET, "/tenants/five", None).await;
    assert_eq!(
        five["related_origins"].as_array().unwrap().len(),
        5,
        "nothing changed"
    );
}

/// `html` without its `<script>` and `<style>` elements: what a page shows or says.
fn without_scripts_and_styles(html: &str) -> String {
    let mut out = html.to_owned();
    for tag in ["script", "style"] {
        while let Some(start) = out.find(&format!("<{tag}")) {
            let close = format!("</{tag}>");
            let end = out[start..]
                .find(&close)
                .map_or(out.len(), |i| start + i + close.len());
            out.replace_range(start..end, "");
        }
    }
    out
}

#[tokio::test]
async fn pages_and_the_messages_they_show_spell_commands_as_code_not_markdown() {
    let broker = Broker::start();
    broker.simple_tenant("shop").await;
    let session = admin_session(&broker).await;
    let pkce = latchkey_tests::harness::Pkce::new();
    let authorize = format!(
        "/authorize?response_type=code&client_id=shop&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        pkce.challenge
    );
    let (_, invite) = broker.admin(Method::POST, "/invites", None).await;
    let landing = invite["url"].as_str().unwrap()[broker.issuer.len()..].to_owned();
    let pages = [
        ("/", None),
        ("/admin", None),
        ("/admin/invite/not-an-invitation", None),
        (landing.as_str(), None),
        (authorize.as_str(), None),
        ("/authorize?client_id=nobody", None),
        ("/email/verify?token=not-a-token", None),
        ("/recover?token=not-a-token", None),
        ("/admin/tenants", Some(&session.client)),
        ("/admin/tenants/new", Some(&session.client)),
        ("/admin/tenants/shop", Some(&session.client)),
        ("/admin/tenants/shop/users", Some(&session.client)),
        ("/admin/audit", Some(&session.client)),
        ("/admin/tokens", Some(&session.client)),
        ("/admin/admins", Some(&session.client)),
    ];
    for (path, client) in pages {
        let res = client
            .cloned()
            .unwrap_or_else(|| broker.browser())
            .get(broker.url(path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let html = res.text().await.unwrap();
        assert!(
            html.contains("<html"),
            "{path} ({status}) is a page: {html}"
        );
        let shown = without_scripts_and_styles(&html);
        assert!(
            !shown.contains('`'),
            "{path} ({status}) shows a Markdown backtick: {}",
            shown
                .lines()
                .filter(|l| l.contains('`'))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Nor does a form's error, and actions are capitalised the one way.
    let res = post_form(&broker, &session, "/admin/tenants", &[("client_id", "")]).await;
    let html = res.text().await.unwrap();
    assert!(!without_scripts_and_styles(&html).contains('`'), "{html}");
    let html = page_of(&broker, &session, "/admin/admins").await;
    assert!(html.contains(">Revoke…</a>"), "{html}");
    assert!(!html.contains(">revoke…<"), "{html}");

    // The expired-invitation page shows the command that makes a new link, as code.
    let html = broker
        .browser()
        .get(broker.url("/admin/invite/not-an-invitation"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<code id=\"message-command\">latchkey admin invite</code>"),
        "{html}"
    );

    // Messages of the ceremony API that the hosted page shows as they are.
    let stranger = broker.browser();
    let flow = admin_flow(&broker, &stranger, "/admin/login").await;
    let (s, body) = flow.post("registration/options", &json!({})).await;
    assert_eq!(s, 403, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("latchkey admin invite"), "{message}");
    assert!(!message.contains('`'), "{message}");
    // And the demo's answer when it is off, which a browser shows.
    let res = broker
        .browser()
        .get(broker.url("/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let body: Value = res.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("--demo") && !message.contains('`'),
        "{message}"
    );
}

/// Posts a dashboard form of `session` at `path` with `fields` (and its CSRF token).
async fn post_form(
    broker: &Broker,
    session: &AdminSession,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &session.csrf)
        .extend_pairs(fields)
        .finish();
    session
        .client
        .post(broker.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A dashboard page of `session`, as HTML.
async fn page_of(broker: &Broker, session: &AdminSession, path: &str) -> String {
    let res = session.client.get(broker.url(path)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200, "{path}");
    res.text().await.unwrap()
}

/// The text of the element `id="{id}"` of `html` (its first text, up to the next tag).
fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].to_owned())
}

#[tokio::test]
async fn an_empty_tenant_form_shows_every_fields_error_at_once_in_plain_words() {
    let broker = Broker::start();
    let admin = admin_session(&broker).await;
    let res = post_form(
        &broker,
        &admin,
        "/admin/tenants",
        &[
            ("client_id", ""),
            ("name", ""),
            ("redirect_uris", ""),
            ("rp_mode", "site"),
            ("rp_id", ""),
            ("user_verification", "required"),
            ("counter_policy", "record"),
            ("aaguid_allow", "not-an-aaguid"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("correct the 5 fields marked below"), "{html}");
    for field in [
        "client_id",
        "name",
        "redirect_uris",
        "rp_id",
        "aaguid_allow",
    ] {
        let error = element_text(&html, &format!("{field}-error"))
            .unwrap_or_else(|| panic!("no error beside {field}: {html}"));
        for api_word in [
            "client_id",
            "redirect_uris",
            "rp_id",
            "aaguid_allow",
            "must be 3 to 64 characters of",
            "`",
        ] {
            assert!(!error.contains(api_word), "{field}: {error}");
        }
        assert!(error.ends_with('.'), "a sentence: {error}");
    }
    assert_eq!(
        element_text(&html, "redirect_uris-error").unwrap(),
        "Enter at least one redirect URI, one per line."
    );
    let (_, list) = broker.admin(Method::GET, "/tenants", None).await;
    assert_eq!(list["tenants"], json!([]), "nothing was created");

    // Bad values are named in plain words too; a sixth related-origin site says so once.
    let origins: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|l| format!("https://login.{l}-shop.com"))
        .collect();
    broker
        .create_tenant(
            json!({"client_id": "five", "redirect_uris": [REDIRECT], "related_origins": origins}),
        )
        .await;
    let res = post_form(
        &broker,
        &admin,
        "/admin/tenants",
        &[
            ("client_id", "a b"),
            ("name", "Shop"),
            ("redirect_uris", "http://shop.example/cb"),
            ("rp_mode", "broker"),
            ("related_origins", "https://www.f-shop.com"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    let redirect = element_text(&html, "redirect_uris-error").unwrap();
    assert!(
        redirect.starts_with("“http://shop.example/cb” must use https://"),
        "{redirect}"
    );
    let sixth = element_text(&html, "related_origins-error").unwrap();
    assert_eq!(
        sixth.matches("https://www.f-shop.com").count(),
        1,
        "{sixth}"
    );
    assert_eq!(sixth.matches("6th").count(), 1, "{sixth}");
    assert!(element_text(&html, "client_id-error").is_some(), "{html}");
}

#[tokio::test]
async fn the_tenant_form_sets_every_policy_the_api_sets() {
    const YUBIKEY: &str = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    const GPM: &str = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";
    let (root, _) = latchkey_tests::tls::attestation_root([0xcb; 16]);
    let dir = temp_dir("latchkey-roots");
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, root).unwrap();
    let smtp = latchkey_tests::smtp::SmtpSink::start().await;
    let smtp_url = smtp.url();
    let broker = Broker::start_with(&[
        ("LATCHKEY_ATTESTATION_ROOTS", roots.to_str().unwrap()),
        ("LATCHKEY_SMTP_URL", smtp_url.as_str()),
        ("LATCHKEY_SMTP_FROM", "Latchkey <no-reply@example.com>"),
    ]);
    let admin = admin_session(&broker).await;
    let allow = format!("{YUBIKEY}  YubiKey 5 Series");
    let mut fields = vec![
        ("client_id", "vault"),
        ("name", "Vault"),
        ("redirect_uris", REDIRECT),
        ("rp_mode", "broker"),
        ("user_verification", "preferred"),
        ("counter_policy", "reject"),
        ("prf", "on"),
        ("aaguid_allow", allow.as_str()),
        ("aaguid_deny", GPM),
        ("synced_passkeys", "refuse"),
        ("attestation", "direct"),
        ("email_recovery", "on"),
    ];
    let res = post_form(&broker, &admin, "/admin/tenants", &fields).await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let (_, t) = broker.admin(Method::GET, "/tenants/vault", None).await;
    assert_eq!(t["user_verification"], "preferred", "{t}");
    assert_eq!(t["counter_policy"], "reject", "{t}");
    assert_eq!(t["prf"], true, "{t}");
    assert_eq!(t["prf_rotating"], false, "{t}");
    assert_eq!(t["aaguid_allow"], json!([YUBIKEY]), "{t}");
    assert_eq!(t["aaguid_deny"], json!([GPM]), "{t}");
    assert_eq!(t["synced_passkeys"], "refuse", "{t}");
    assert_eq!(t["attestation"], "direct", "{t}");
    assert_eq!(t["email_recovery"], true, "{t}");

    // The form shows the lists with the authenticators' names, and offers the rotation.
    let html = page_of(&broker, &admin, "/admin/tenants/vault").await;
    assert!(
        html.contains(&format!("{GPM}  Google Password Manager")),
        "{html}"
    );
    assert!(html.contains("YubiKey 5 Series"), "{html}");
    assert!(html.contains("id=\"prf_rotation\""), "{html}");

    // A PRF salt rotation starts, then finishes, from the form.
    fields.retain(|(k, _)| *k != "client_id");
    let mut start = fields.clone();
    start.push(("prf_rotation", "start"));
    let res = post_form(&broker, &admin, "/admin/tenants/vault", &start).await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let (_, t) = broker.admin(Method::GET, "/tenants/vault", None).await;
    assert_eq!(t["prf_rotating"], true, "{t}");
    let mut finish = fields.clone();
    finish.push(("prf_rotation", "finish"));
    let res = post_form(&broker, &admin, "/admin/tenants/vault", &finish).await;
    assert_eq!(res.status().as_u16(), 303);
    let (_, t) = broker.admin(Method::GET, "/tenants/vault", None).await;
    assert_eq!(
        (t["prf"].clone(), t["prf_rotating"].clone()),
        (json!(true), json!(false))
    );

    // And each is turned off again: unticked boxes, empty lists, the defaults.
    let res = post_form(
        &broker,
        &admin,
        "/admin/tenants/vault",
        &[
            ("name", "Vault"),
            ("redirect_uris", REDIRECT),
            ("rp_mode", "broker"),
            ("user_verification", "required"),
            ("counter_policy", "record"),
            ("aaguid_allow", ""),
            ("aaguid_deny", ""),
            ("synced_passkeys", "allow"),
            ("attestation", "none"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303, "{}", res.text().await.unwrap());
    let (_, t) = broker.admin(Method::GET, "/tenants/vault", None).await;
    assert_eq!(t["prf"], false, "{t}");
    assert_eq!(t["aaguid_allow"], json!([]), "{t}");
    assert_eq!(t["aaguid_deny"], json!([]), "{t}");
    assert_eq!(t["synced_passkeys"], "allow", "{t}");
    assert_eq!(t["attestation"], "none", "{t}");
    assert_eq!(t["email_recovery"], false, "{t}");
}

#[tokio::test]
async fn the_audit_log_says_what_happened_in_sentences_with_the_details_behind_a_disclosure() {
    let broker = Broker::start();
    let admin = admin_session(&broker).await;
    let res = post_form(
        &broker,
        &admin,
        "/admin/tenants",
        &[
            ("client_id", "blog"),
            ("name", "Blog"),
            (
                "redirect_uris",
                "https://blog.example/cb\nhttps://blog.example/cb2",
            ),
            ("rp_mode", "broker"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    let flow = latchkey_tests::harness::Flow::open_with(
        &broker,
        broker.browser(),
        "blog",
        "https://blog.example/cb",
        &[("prompt", "create")],
    )
    .await;
    let mut auth = latchkey_tests::authenticator::SoftAuthenticator::new();
    let (s, v) = flow.register(&mut auth, json!({})).await;
    assert_eq!(s, 200, "{v}");
    let credential = latchkey_tests::authenticator::b64(&auth.credentials()[0].credential_id);

    let html = page_of(&broker, &admin, "/admin/audit").await;
    assert!(
        html.contains("<p class=\"sentence\">Created tenant blog with 2 redirect URIs</p>"),
        "{html}"
    );
    let short = format!("{}…", &credential[..10]);
    assert!(
        html.contains(&format!("Signed up with a new passkey {short}")),
        "{html}"
    );
    // The object column names the passkey the same way, the whole id in its title.
    assert!(
        html.contains(&format!("<code title=\"{credential}\">{short}</code>")),
        "{html}"
    );
    // The recorded JSON is there, folded away.
    let at = html.find("Created tenant blog").unwrap();
    let rest = &html[at..];
    let details = rest.find("<details>").expect("a disclosure");
    assert!(
        rest[details..].find("&#34;redirect_uris&#34;").is_some(),
        "{rest}"
    );
}

#[tokio::test]
async fn users_with_one_email_are_told_apart_and_the_search_is_kept_after_a_change() {
    let broker = Broker::start();
    broker.simple_tenant("shop").await;
    let admin = admin_session(&broker).await;
    let mut credentials = Vec::new();
    for _ in 0..3 {
        let flow = latchkey_tests::harness::Flow::open(&broker, "shop").await;
        let mut auth = latchkey_tests::authenticator::SoftAuthenticator::new();
        let (s, v) = flow
            .register(&mut auth, json!({"email": "same@example.com"}))
            .await;
        assert_eq!(s, 200, "{v}");
        credentials.push(latchkey_tests::authenticator::b64(
            &auth.credentials()[0].credential_id,
        ));
    }
    let search = "/admin/tenants/shop/users?q=same%40example.com";
    let html = page_of(&broker, &admin, search).await;
    assert_eq!(html.matches("class=\"panel user\"").count(), 3, "{html}");
    assert_eq!(
        html.matches("2 other accounts here use this email address")
            .count(),
        3,
        "{html}"
    );
    assert_eq!(html.matches("<span>Created ").count(), 3, "{html}");
    assert_eq!(html.matches(">1 passkey</span>").count(), 3, "{html}");
    // Passkeys are named by their credential id, shortened the one way.
    for c in &credentials {
        assert!(
            html.contains(&format!(
                "<code class=\"passkey-id\" title=\"{c}\">{}…</code>",
                &c[..10]
            )),
            "{html}"
        );
    }

    // Revoking a passkey from the search comes back to the same search.
    let confirm = page_of(
        &broker,
        &admin,
        &format!(
            "/admin/credentials/{}/revoke?q=same%40example.com",
            credentials[0]
        ),
    )
    .await;
    assert!(
        confirm.contains("name=\"q\" value=\"same@example.com\""),
        "{confirm}"
    );
    let res = post_form(
        &broker,
        &admin,
        &format!("/admin/credentials/{}/revoke", credentials[0]),
        &[("q", "same@example.com")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], search);
    let html = page_of(&broker, &admin, search).await;
    assert!(html.contains("The passkey was revoked"), "{html}");
    assert!(html.contains("value=\"same@example.com\""), "{html}");

    // And so does deleting a user.
    let (_, users) = broker
        .admin(Method::GET, "/tenants/shop/users?q=same@example.com", None)
        .await;
    let user = users["users"][1]["user_id"].as_str().unwrap().to_owned();
    let res = post_form(
        &broker,
        &admin,
        &format!("/admin/tenants/shop/users/{user}/delete"),
        &[("q", "same@example.com")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], search);
    let html = page_of(&broker, &admin, search).await;
    assert!(
        html.contains("The user and their passkeys were deleted"),
        "{html}"
    );
    assert_eq!(html.matches("class=\"panel user\"").count(), 2, "{html}");
    assert!(
        html.contains("One other account here uses this email address"),
        "{html}"
    );
}

#[tokio::test]
async fn the_dashboards_sign_in_offers_no_new_passkey_but_an_invitation_does() {
    let broker = Broker::start();
    // The hosted page of the dashboard's own sign-in hides "New here? Create a passkey".
    let client = broker.browser();
    let res = client.get(broker.url("/admin/login")).send().await.unwrap();
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let html = client
        .get(broker.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<p class=\"switch\" hidden>New here?"),
        "{html}"
    );
    assert!(
        html.contains("class=\"error registration-closed\""),
        "{html}"
    );
    // An invitation opens the hosted page ready to create the passkey.
    let (_, invite) = broker.admin(Method::POST, "/invites", None).await;
    let link = invite["url"].as_str().unwrap();
    let landing = client
        .get(broker.url(&link[broker.issuer.len()..]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        landing.contains("An operator using the bootstrap admin token invited you"),
        "{landing}"
    );
    let res = client
        .get(broker.url(&format!("{}/start", &link[broker.issuer.len()..])))
        .send()
        .await
        .unwrap();
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let html = client
        .get(broker.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<p class=\"switch\">New here?"), "{html}");
    assert!(html.contains("content=\"create\""), "{html}");
    // A tenant's page offers it as before.
    broker.simple_tenant("shop").await;
    let pkce = latchkey_tests::harness::Pkce::new();
    let html = broker
        .browser()
        .get(broker.url(&format!(
            "/authorize?response_type=code&client_id=shop&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            pkce.challenge
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<p class=\"switch\">New here?"), "{html}");
    assert!(html.contains("<div id=\"error\" class=\"error\""), "{html}");
}
