//! `aisle model`: what fleet admins run to make, sign, check, offer and install model updates
//! (docs/ota.md); the gateway side of the same checks lives in `aisle::ota`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use aisle::config::Config;
use aisle::ota::{admin, bundle::Release};

use super::agent::detector_options;

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(subcommand)]
    action: ModelAction,
}

#[derive(Subcommand, Debug)]
enum ModelAction {
    /// A new Ed25519 key pair in minisign's format: DIR/NAME.pub and DIR/NAME.key (0600).
    /// Prints the key line to put in agents' `ota.trusted_keys`.
    Keygen {
        /// Folder for NAME.pub and NAME.key (created if missing; a key is never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// File name of the key pair: letters, digits, '-', '_' and '.', not a path.
        #[arg(long, default_value = "aisle-model")]
        name: String,
    },
    /// Sign a model into a bundle directory (update.toml, update.toml.minisig, model.onnx).
    Pack {
        /// The model file (ONNX) to ship.
        #[arg(long)]
        onnx: PathBuf,
        /// The model's manifest (input and decoder settings), e.g. models/*/manifest.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// Strictly above the version every target runs in the slot.
        #[arg(long)]
        version: u64,
        /// RFC 3339 time or days from now (`90d`).
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Secret key file from `aisle model keygen`.
        #[arg(long)]
        key: PathBuf,
        /// Directory for the bundle (created; update.toml, its signature and the model).
        #[arg(long)]
        out: PathBuf,
        /// The model slot it replaces on gateways (`person`: the person detector); versions rise
        /// per slot.
        #[arg(long, default_value = "person")]
        slot: String,
        /// Only these devices (repeatable; default: all).
        #[arg(long = "device")]
        devices: Vec<String>,
        /// Only these sites (repeatable; default: all).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Where gateways download the model (https://…); default: it travels with the manifest.
        #[arg(long)]
        url: Option<String>,
        /// Oldest agent that can run the model (default: this one).
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        min_agent_version: String,
    },
    /// Install a bundle on this gateway (offline, e.g. from a USB stick) after every check the
    /// agent runs on an update; the agent runs it from its next start.
    Install {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Add another admin's signature to a packed bundle, for gateways that require more than
    /// one (`ota.required_signatures`): check it with `aisle model verify` first.
    Cosign {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// Secret key file from `aisle model keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Offer a bundle to gateways over MQTT (retained, on SITE/DEVICE's cmd/model topic); they
    /// download the model from the manifest's url, check it and swap it in.
    Publish {
        /// The bundle directory from `aisle model pack`.
        #[arg(required_unless_present = "clear")]
        bundle: Option<PathBuf>,
        /// Remove the retained offer from the targets' topics instead, once the fleet has
        /// taken it (gateways ignore the empty message).
        #[arg(long, conflicts_with = "bundle")]
        clear: bool,
        /// The broker as HOST:PORT (TLS).
        #[arg(long)]
        broker: String,
        /// CA certificate (PEM) the broker's certificate is checked against.
        #[arg(long)]
        ca: PathBuf,
        /// Client certificate and key (PEM), for brokers that require one.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// The client certificate's private key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// The agents' `mqtt.topic_prefix`.
        #[arg(long, default_value = "aisle")]
        topic_prefix: String,
        /// SITE/DEVICE (repeatable).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
    },
    /// Run every check a gateway runs on a bundle, against a public key file.
    Verify {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// Public key file (NAME.pub from `aisle model keygen`).
        #[arg(long)]
        pubkey: PathBuf,
        /// Check the targets as this gateway's device id would (`any`: skip the device check).
        #[arg(long, default_value = "any")]
        device: String,
        /// Check the targets as this gateway's site would (`any`: skip the site check).
        #[arg(long, default_value = "any")]
        site: String,
        /// The slot and version the gateway runs now (the anti-rollback floor).
        #[arg(long, default_value = "person")]
        slot: String,
        /// The version the gateway runs in that slot: the bundle must be above it.
        #[arg(long, default_value_t = 0)]
        floor: u64,
    },
}

impl ModelArgs {
    pub fn execute(self) -> Result<()> {
        execute(self.action)
    }
}

fn execute(action: ModelAction) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match action {
        ModelAction::Keygen { out, name } => {
            let line = admin::keygen(&out, &name)?;
            out!("{line}")?;
        }
        ModelAction::Pack {
            onnx,
            manifest,
            version,
            expires,
            key,
            out,
            slot,
            devices,
            sites,
            url,
            min_agent_version,
        } => {
            let release = Release {
                slot,
                version,
                expires_unix_s: admin::parse_expiry(&expires, now)?,
                targets: admin::targets(devices, sites),
                url,
                min_agent_version,
            };
            let m = admin::pack(admin::PackOptions {
                onnx: &onnx,
                manifest: &manifest,
                key: &key,
                out: &out,
                release,
            })?;
            out!(
                "{} v{} ({} bytes, sha256 {}) → {}",
                m.name,
                m.version,
                m.size,
                m.sha256,
                out.display()
            )?;
        }
        ModelAction::Install { bundle, config } => {
            let cfg = Config::load(&config)?;
            let gateway = aisle::ota::offline::Gateway {
                ota: cfg.ota.as_ref(),
                device: &cfg.agent.device_id,
                site: &cfg.agent.site,
            };
            let state =
                aisle::ota::offline::install(&gateway, &bundle, now, &detector_options(&cfg))?;
            out!("{}", serde_json::to_string(&state)?)?;
        }
        ModelAction::Cosign { bundle, key } => {
            let secret = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let id = aisle::ota::bundle::cosign(&bundle, &secret)?;
            out!("co-signed by key {id} → {}", bundle.display())?;
        }
        ModelAction::Publish {
            bundle,
            clear,
            broker,
            ca,
            cert,
            key,
            topic_prefix,
            targets,
        } => {
            let (host, port) = broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .with_context(|| format!("--broker {broker:?}: expected HOST:PORT"))?;
            let topics = aisle::ota::publish::publish(&aisle::ota::publish::PublishOptions {
                bundle: bundle.as_deref().filter(|_| !clear),
                host,
                port,
                ca_file: &ca,
                client: cert.as_deref().zip(key.as_deref()),
                topic_prefix: &topic_prefix,
                targets: &targets,
            })?;
            let done = if clear { "cleared" } else { "offered on" };
            for t in topics {
                out!("{done} {t}")?;
            }
        }
        ModelAction::Verify {
            bundle,
            pubkey,
            device,
            site,
            slot,
            floor,
        } => {
            let m = admin::verify_bundle(&bundle, &pubkey, &device, &site, (&slot, floor), now)?;
            out!(
                "ok: {} v{} for slot {} ({} bytes, sha256 {})",
                m.name,
                m.version,
                m.slot,
                m.size,
                m.sha256
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn publish_needs_a_bundle_or_clear_and_a_target() {
        let base = ["model", "publish", "--broker", "h:8883", "--ca", "ca.pem"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(with(&["b", "--target", "s/d"]).is_ok());
        assert!(with(&["--clear", "--target", "s/d"]).is_ok());
        assert!(with(&["--target", "s/d"]).is_err());
        assert!(with(&["b"]).is_err());
        assert!(with(&["b", "--clear", "--target", "s/d"]).is_err());
        assert!(with(&["b", "--target", "s/d", "--cert", "c.pem"]).is_err());
    }

    #[test]
    fn pack_defaults_to_the_person_slot_for_90_days() {
        let args = [
            "model",
            "pack",
            "--onnx",
            "m.onnx",
            "--manifest",
            "m.toml",
            "--version",
            "2",
            "--key",
            "k.key",
            "--out",
            "b",
        ];
        match parse(&args).map(|c| c.command) {
            Ok(crate::cli::Command::Model(super::ModelArgs {
                action: super::ModelAction::Pack { slot, expires, .. },
            })) => assert_eq!((slot.as_str(), expires.as_str()), ("person", "90d")),
            _ => panic!("not model pack"),
        }
        assert!(parse(&args[..args.len() - 2]).is_err());
    }
}
