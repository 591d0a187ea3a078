//! The broker link's TLS: a private CA (stores run their own broker PKI, not the web's), an
//! optional client certificate for mutual TLS, and rustls's hostname verification, always on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("mqtt.ca_file {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("mqtt.client_cert {path}: {reason}")]
    ClientCert { path: PathBuf, reason: String },
    #[error("mqtt.client_key {path}: {reason}")]
    ClientKey { path: PathBuf, reason: String },
    #[error("mqtt: client certificate and key do not go together: {0}")]
    ClientAuth(rustls::Error),
    #[error("mqtt: {0}")]
    Setup(rustls::Error),
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

/// Builds the client's TLS configuration, failing with the file and the reason.
pub fn client_config(
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let ca_err = |reason: String| TlsError::Ca {
        path: ca_file.into(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_file).map_err(ca_err)? {
        roots
            .add(cert)
            .map_err(|e| ca_err(format!("not a usable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certs(cert).map_err(|reason| TlsError::ClientCert {
                path: cert.into(),
                reason,
            })?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::ClientKey {
                path: key.into(),
                reason: e.to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsError::ClientAuth)?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = client_config(&missing, None).unwrap_err().to_string();
        assert!(
            err.starts_with("mqtt.ca_file") && err.contains("missing.pem"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        let err = client_config(&junk, None).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
