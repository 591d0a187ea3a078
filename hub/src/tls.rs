//! The hub's TLS clients: to the broker (mutual TLS: the fleet's private CA, the hub's own
//! certificate) and to PostgreSQL (the database's CA). Hostname verification always on.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The client configuration for the config's `section` (`mqtt`, `database`), or the field and
/// file that could not be used.
pub fn client_config(
    section: &str,
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, String> {
    let read_certs = |field: &str, path: &Path| {
        CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{section}.{field} {}: {e}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in read_certs("ca_file", ca_file)? {
        roots
            .add(cert)
            .map_err(|e| format!("{section}.ca_file {}: {e}", ca_file.display()))?;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("{section}: {e}"))?
            .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certs("client_cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("{section}.client_key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{section}.client_cert and client_key: {e}"))?
        }
    };
    Ok(Arc::new(config))
}
