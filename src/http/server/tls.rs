//! Loading the operator's PEM certificate chain and private key into a rustls `ServerConfig`
//! (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`).
//!
//! Errors are one lowercase sentence naming the file, ready for `main` to print. This file
//! must not touch sockets; conn.rs drives the handshake.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Loads PEM cert chain + private key, checks the key matches the certificate, and returns a
/// ServerConfig that offers ALPN http/1.1.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| {
        format!(
            "cannot read TLS certificate {}: {}",
            cert.display(),
            io_words(&e)
        )
    })?;
    let key_pem = std::fs::read(key)
        .map_err(|e| format!("cannot read TLS key {}: {}", key.display(), io_words(&e)))?;

    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "cannot parse TLS certificate {}: {}",
                cert.display(),
                pem_words(&e)
            )
        })?;
    if chain.is_empty() {
        return Err(format!("no certificate found in {}", cert.display()));
    }
    let private_key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => {
            return Err(format!("no private key found in {}", key.display()));
        }
        Err(e) => {
            return Err(format!(
                "cannot parse TLS key {}: {}",
                key.display(),
                pem_words(&e)
            ));
        }
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_no_client_auth();
    let mut config = builder
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "TLS key {} does not match certificate {}",
                key.display(),
                cert.display()
            ),
            other => format!(
                "cannot use TLS key {} with certificate {}: {other}",
                key.display(),
                cert.display()
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// "No such file or directory (os error 2)" -> "No such file or directory".
fn io_words(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn pem_words(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => io_words(io),
        other => other.to_string(),
    }
}
