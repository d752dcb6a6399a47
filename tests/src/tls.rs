//! TLS for tests: self-signed certificates and a small HTTPS server that plays a site
//! publishing `/.well-known/webauthn`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed certificate for `host`: (certificate PEM, private key PEM).
pub fn self_signed(host: &str) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

/// An HTTPS server on 127.0.0.1 that answers `GET /.well-known/webauthn` with the
/// current document and any other `GET` with a blank page, and counts requests.
pub struct SiteServer {
    /// Where it listens.
    pub addr: SocketAddr,
    document: Arc<Mutex<String>>,
    hits: Arc<Mutex<u32>>,
}

impl SiteServer {
    /// Starts serving `document` for `host`.
    pub async fn start(host: &str, document: &str) -> SiteServer {
        let cert = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
        let certs = vec![CertificateDer::from(cert.cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let config = ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let document = Arc::new(Mutex::new(document.to_owned()));
        let hits = Arc::new(Mutex::new(0));
        let (doc, count) = (document.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let (doc, count) = (doc.clone(), count.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 8192];
                    let n = tls.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    *count.lock().unwrap() += 1;
                    let (ctype, body) = if request.starts_with("GET /.well-known/webauthn ") {
                        ("application/json", doc.lock().unwrap().clone())
                    } else {
                        // Any other path (a redirect URI, say) is a blank page.
                        ("text/html", "<!doctype html><html lang=\"en\"><title>Test site</title><p>Test site</p></html>".to_owned())
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        SiteServer {
            addr,
            document,
            hits,
        }
    }

    /// Replaces the published document.
    pub fn publish(&self, document: &str) {
        *self.document.lock().unwrap() = document.to_owned();
    }

    /// How many requests were served.
    pub fn hits(&self) -> u32 {
        *self.hits.lock().unwrap()
    }
}

/// A test attestation root and a `packed` attestation identity under it for the AAGUID
/// `aaguid` (WebAuthn §8.2.1: C, O, OU "Authenticator Attestation", CN; not a CA; the
/// FIDO AAGUID extension 1.3.6.1.4.1.45724.1.1.4). Returns the root as PEM and what the
/// soft authenticator signs with.
pub fn attestation_root(aaguid: [u8; 16]) -> (String, crate::authenticator::PackedAttestation) {
    use p256::pkcs8::DecodePrivateKey as _;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "Latchkey test attestation root");
    let root = ca.self_signed(&ca_key).unwrap();

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.distinguished_name.push(DnType::CountryName, "JP");
    leaf.distinguished_name
        .push(DnType::OrganizationName, "Latchkey Tests");
    leaf.distinguished_name
        .push(DnType::OrganizationalUnitName, "Authenticator Attestation");
    leaf.distinguished_name
        .push(DnType::CommonName, "Test security key");
    let mut octets = vec![0x04, 0x10];
    octets.extend_from_slice(&aaguid);
    leaf.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 45724, 1, 1, 4],
        octets,
    )];
    let issuer = Issuer::new(ca, ca_key);
    let cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap();
    (
        root.pem(),
        crate::authenticator::PackedAttestation {
            key,
            chain: vec![cert.der().to_vec()],
        },
    )
}
