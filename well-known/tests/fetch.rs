//! The fetcher against a real local HTTPS server with a self-signed certificate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use latchkey_well_known::{DocumentError, FetchError, Fetcher, FetcherConfig, Origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-answer HTTPS server: every request gets `response`, or nothing at all when `None`.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn serve(response: Option<Vec<u8>>) -> Server {
    let cert = rcgen::generate_simple_self_signed(vec!["site.test".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, response, counter) =
                (acceptor.clone(), response.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(request.starts_with(b"GET /.well-known/webauthn HTTP/1.1\r\n"));
                counter.fetch_add(1, Ordering::SeqCst);
                match response {
                    Some(bytes) => {
                        let _ = stream.write_all(&bytes).await;
                        let _ = stream.shutdown().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    Server { addr, hits }
}

fn http(status: &str, headers: &[(&str, &str)], body: &[u8], content_length: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if content_length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn json(body: &str) -> Vec<u8> {
    http(
        "200 OK",
        &[("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
        true,
    )
}

fn fetcher(server: &Server, timeout: Duration) -> Fetcher {
    Fetcher::new(FetcherConfig {
        timeout,
        danger_accept_invalid_certs: true,
        resolve: vec![("site.test".into(), server.addr)],
        ..FetcherConfig::default()
    })
    .unwrap()
}

fn origin(s: &str) -> Origin {
    Origin::parse(s).unwrap()
}

#[tokio::test]
async fn success_is_cached() {
    let server = serve(Some(json(
        r#"{"origins": ["https://broker.example", "junk"]}"#,
    )))
    .await;
    let f = fetcher(&server, Duration::from_secs(5));
    let doc = f.fetch("site.test").await.unwrap();
    assert_eq!(doc.origins, vec!["https://broker.example", "junk"]);
    assert_eq!(f.fetch("SITE.test").await.unwrap(), doc);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    f.fetch_fresh("site.test").await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    let check = f
        .check("site.test", &origin("https://broker.example"))
        .await;
    assert!(check.ok, "{check:?}");
    assert_eq!(check.url, "https://site.test/.well-known/webauthn");
    assert!(check.problem.unwrap().contains("junk"));
    assert_eq!(check.fetched.as_ref().map(|d| d.origins.len()), Some(2));

    let check = f.check("site.test", &origin("https://other.example")).await;
    assert!(!check.ok);
    assert!(
        check
            .problem
            .unwrap()
            .contains("does not list https://other.example")
    );
    let expected: serde_json::Value = serde_json::from_str(&check.expected).unwrap();
    assert_eq!(
        expected,
        serde_json::json!({"origins": ["https://broker.example", "https://other.example"]})
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn not_found_is_reported_and_cached() {
    let server = serve(Some(http(
        "404 Not Found",
        &[("Content-Type", "text/plain")],
        b"nope",
        true,
    )))
    .await;
    let f = fetcher(&server, Duration::from_secs(5));
    let err = f.fetch("site.test").await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 404, .. }));
    assert_eq!(
        err.to_string(),
        "https://site.test/.well-known/webauthn answered 404: publish the document there"
    );
    let check = f
        .check("site.test", &origin("https://broker.example"))
        .await;
    assert!(!check.ok && check.fetched.is_none());
    assert!(check.problem.unwrap().contains("answered 404"));
    assert!(check.expected.contains("https://broker.example"));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirect_is_refused() {
    let location = "https://www.site.test/.well-known/webauthn";
    let server = serve(Some(http(
        "301 Moved Permanently",
        &[("Location", location)],
        b"",
        true,
    )))
    .await;
    let err = fetcher(&server, Duration::from_secs(5))
        .fetch("site.test")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FetchError::Redirect {
            url: "https://site.test/.well-known/webauthn".into(),
            location: location.into()
        }
    );
    assert!(err.to_string().contains("without redirects"));
}

#[tokio::test]
async fn oversize_body_is_refused() {
    let mut body = br#"{"origins": [], "pad": ""#.to_vec();
    body.resize(70 * 1024, b'a');
    body.extend_from_slice(b"\"}");
    for declared in [false, true] {
        let response = http(
            "200 OK",
            &[("Content-Type", "application/json")],
            &body,
            declared,
        );
        let server = serve(Some(response)).await;
        let err = fetcher(&server, Duration::from_secs(5))
            .fetch("site.test")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::Document {
                    error: DocumentError::TooLarge,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("larger than 64 KiB"));
    }
}

#[tokio::test]
async fn wrong_content_type_is_refused() {
    let server = serve(Some(http(
        "200 OK",
        &[("Content-Type", "text/html")],
        br#"{"origins": []}"#,
        true,
    )))
    .await;
    let err = fetcher(&server, Duration::from_secs(5))
        .fetch("site.test")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::ContentType { content_type, .. } if content_type == "text/html")
    );
    assert!(err.to_string().contains("Content-Type: application/json"));
}

#[tokio::test]
async fn bad_json_is_reported() {
    let server = serve(Some(json(r#"{"origins": "https://broker.example"}"#))).await;
    let err = fetcher(&server, Duration::from_secs(5))
        .fetch("site.test")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        FetchError::Document {
            error: DocumentError::BadOrigins,
            ..
        }
    ));
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = serve(None).await;
    let f = fetcher(&server, Duration::from_millis(300));
    let start = Instant::now();
    let err = f.fetch("site.test").await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, FetchError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out after 300 ms"));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn only_https_to_a_bare_domain() {
    let server = serve(Some(json(r#"{"origins": []}"#))).await;
    let f = fetcher(&server, Duration::from_secs(5));
    for rp_id in [
        "http://site.test",
        "https://site.test",
        "site.test:443",
        "site.test/x",
        "127.0.0.1",
    ] {
        assert!(
            matches!(f.fetch(rp_id).await, Err(FetchError::InvalidRpId { .. })),
            "{rp_id}"
        );
    }
    let check = f
        .check("http://site.test", &origin("https://broker.example"))
        .await;
    assert!(!check.ok && check.problem.unwrap().contains("not a valid RP ID"));
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let f = Fetcher::new(FetcherConfig::default()).unwrap();
    let o = origin("https://broker.example");
    send(f.check("example.com", &o));
    send(f.fetch("example.com"));
}
