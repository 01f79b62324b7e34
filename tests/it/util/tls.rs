//! TLS for the tests: a self-signed certificate written to a temporary directory for a server
//! to load, and a client connection that trusts only that certificate, so tests see the bytes
//! a real HTTPS client would. Certificate checks are never switched off here.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use super::client::{IO_TIMEOUT, Response, read_response, render_request};

/// A certificate for `localhost` and `127.0.0.1` and its key, as files that live as long as
/// this value.
pub struct Tls {
    _dir: tempfile::TempDir,
    pub cert: rcgen::CertifiedKey<rcgen::KeyPair>,
    pub cert_path: String,
    pub key_path: String,
}

/// A fresh self-signed certificate and key (each call makes another key pair).
pub fn self_signed() -> Tls {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("cert");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let text = |p: &Path| p.to_str().expect("path").to_string();
    Tls {
        cert_path: text(&cert_path),
        key_path: text(&key_path),
        _dir: dir,
        cert,
    }
}

/// A TLS connection to `addr` that trusts only `cert` and verifies the name `server_name`;
/// requests are written to it with [`render_request`] and read with [`read_response`].
pub fn connect(
    addr: SocketAddr,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    server_name: &str,
) -> BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).expect("name");
    let session = rustls::ClientConnection::new(Arc::new(config), name).expect("session");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    BufReader::new(rustls::StreamOwned::new(session, tcp))
}

/// One request over a fresh TLS connection to `addr`, trusting only `cert`, verifying the name
/// `server_name`.
pub fn tls_request(
    addr: SocketAddr,
    cert: &rcgen::CertifiedKey<rcgen::KeyPair>,
    server_name: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut tls = connect(addr, cert, server_name);
    let request = render_request(server_name, method, path, headers, body);
    tls.get_mut().write_all(&request).expect("request over TLS");
    read_response(&mut tls, method == "HEAD").expect("response over TLS")
}
