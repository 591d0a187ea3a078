//! `aisle model publish`: hands a signed bundle's manifest to gateways over the broker, one
//! retained QoS 1 message per target on `{topic_prefix}/{site}/{device}/cmd/model`. Retained, so
//! a gateway that is offline now takes the update when it reconnects. Only the manifest and its
//! signature travel; gateways fetch the model from the manifest's signed `url`. The broker is
//! not trusted with anything: a gateway checks the signature before it reads the manifest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};
use thiserror::Error;

use super::bundle::MANIFEST_FILE;
use super::manifest::UpdateManifest;
use super::offer::Offer;
use crate::mqtt::{TlsError, client_config};

/// How long the broker has to acknowledge every message.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("target {0:?}: expected SITE/DEVICE")]
    Target(String),
    #[error("{0}: the manifest has no url, and gateways fetch models from it")]
    NoUrl(PathBuf),
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("broker: {0}")]
    Broker(String),
}

pub struct PublishOptions<'a> {
    /// `None` clears the retained offer (an empty retained message).
    pub bundle: Option<&'a Path>,
    pub host: &'a str,
    pub port: u16,
    pub ca_file: &'a Path,
    pub client: Option<(&'a Path, &'a Path)>,
    pub topic_prefix: &'a str,
    /// `SITE/DEVICE` each.
    pub targets: &'a [String],
}

fn read(path: &Path) -> Result<String, PublishError> {
    std::fs::read_to_string(path).map_err(|source| PublishError::Io {
        path: path.into(),
        source,
    })
}

/// The topics a bundle goes to.
fn topics(prefix: &str, targets: &[String]) -> Result<Vec<String>, PublishError> {
    targets
        .iter()
        .map(|t| match t.split_once('/') {
            Some((site, device))
                if !site.is_empty()
                    && !device.is_empty()
                    && !t.contains(['+', '#'])
                    && !device.contains('/') =>
            {
                Ok(aisle_proto::topic::offer(prefix, site, device))
            }
            _ => Err(PublishError::Target(t.clone())),
        })
        .collect()
}

/// The bundle's offer: its manifest, byte for byte, and every signature.
fn offer_bytes(bundle: &Path) -> Result<Vec<u8>, PublishError> {
    let manifest_path = bundle.join(MANIFEST_FILE);
    let manifest = read(&manifest_path)?;
    let parsed: UpdateManifest =
        toml::from_str(&manifest).map_err(|e: toml::de::Error| PublishError::Manifest {
            path: manifest_path.clone(),
            message: e.message().to_string(),
        })?;
    if parsed.url.is_none() {
        return Err(PublishError::NoUrl(manifest_path));
    }
    let mut signatures = super::bundle::read(bundle)
        .map_err(|e| PublishError::Manifest {
            path: bundle.into(),
            message: e.to_string(),
        })?
        .signatures
        .into_iter();
    Ok(Offer {
        manifest,
        signature: signatures.next().unwrap_or_default(),
        cosignatures: signatures.collect(),
    }
    .to_json())
}

/// Publishes the bundle's offer to every target; returns the topics once the broker has
/// acknowledged each message.
pub fn publish(o: &PublishOptions<'_>) -> Result<Vec<String>, PublishError> {
    let topics = topics(o.topic_prefix, o.targets)?;
    let offer = match o.bundle {
        Some(bundle) => offer_bytes(bundle)?,
        None => Vec::new(),
    };
    let id = format!("aisle-publish-{}", uuid::Uuid::new_v4().simple());
    let mut options = MqttOptions::new(id, o.host, o.port);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        client_config(o.ca_file, o.client)?,
    )));
    options.set_max_packet_size(10 * 1024, offer.len() + 1024);
    let (client, mut connection) = Client::new(options, topics.len() + 4);
    for topic in &topics {
        client
            .publish(topic.as_str(), QoS::AtLeastOnce, true, offer.clone())
            .map_err(|e| PublishError::Broker(e.to_string()))?;
    }
    let deadline = Instant::now() + ACK_TIMEOUT;
    let mut acked = 0;
    while acked < topics.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match connection.recv_timeout(left) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(PublishError::Broker(e.to_string())),
            Err(_) => {
                return Err(PublishError::Broker(format!(
                    "{acked} of {} messages acknowledged within {ACK_TIMEOUT:?}",
                    topics.len()
                )));
            }
        }
    }
    let _ = client.disconnect();
    // Let the DISCONNECT go out before the connection is dropped.
    while let Ok(Ok(event)) = connection.recv_timeout(Duration::from_secs(1)) {
        if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
            break;
        }
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_site_slash_device_without_wildcards() {
        let ok = topics("aisle", &["s1/gw-1".into()]).unwrap();
        assert_eq!(ok, ["aisle/s1/gw-1/cmd/model"]);
        for bad in ["s1", "s1/", "/gw", "s1/+", "#/gw", "s1/gw/x"] {
            assert!(
                matches!(topics("aisle", &[bad.into()]), Err(PublishError::Target(_))),
                "{bad}"
            );
        }
    }
}
