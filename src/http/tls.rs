//! HTTPS: a rustls acceptor built from the configured PEM certificate chain and key.
//!
//! TLS 1.2 and 1.3 only, on the ring provider (the same stack mysql_async uses, so there is one
//! TLS implementation in the binary). ring's suites are all AEAD (AES-GCM, ChaCha20-Poly1305)
//! with ECDHE key exchange, so nothing weaker can be negotiated. ALPN offers HTTP/2 first, then
//! HTTP/1.1; hyper's auto builder then serves whichever the client picked.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Builds the acceptor; the error names the file at fault.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("server.tls_cert {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("server.tls_cert {}: no certificate in the file", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("server.tls_key {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("server.tls_cert/tls_key do not form a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
