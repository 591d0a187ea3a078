//! The update thread (`ota::updater`): offers in from the broker, verdicts in from the health
//! gate, swaps out to the pipeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};

use super::StartModel;
use crate::config::Config;
use crate::mqtt;
use crate::ota::canary::RecentFrames;
use crate::ota::gate::Verdict;
use crate::ota::store::ModelStore;
use crate::ota::updater::{self, Channels};
use crate::ota::verify::Trust;
use crate::outbox::WriterHandle;
use crate::pipeline::Swap;

/// The update thread and what the vision loop needs to talk to it.
pub(super) struct Updates {
    thread: std::thread::JoinHandle<()>,
    quit: Arc<AtomicBool>,
}

/// Starts the update thread when the config takes updates over the network ([ota] and [mqtt]).
/// A problem here is logged and leaves the agent without updates: the store's analytics must
/// not stop over an update setting.
impl Updates {
    pub fn start(
        cfg: &Config,
        model: &StartModel,
        recent: &RecentFrames,
        events: &WriterHandle,
        offers: Receiver<mqtt::Command>,
        verdicts: Receiver<Verdict>,
        swaps: Sender<Swap>,
    ) -> Option<Updates> {
        let ota = cfg.ota.as_ref()?;
        let settings = (|| -> Result<updater::Settings, String> {
            Ok(updater::Settings {
                trust: Trust::new(
                    &ota.trusted_keys,
                    &ota.revoked_keys,
                    ota.required_signatures,
                )
                .map_err(|e| crate::ota::verify::describe(&e))?,
                store: ModelStore::open(&ota.state_dir).map_err(|e| e.to_string())?,
                tls: crate::mqtt::client_config(&ota.ca_file, None).map_err(|e| e.to_string())?,
                device: cfg.agent.device_id.clone(),
                site: cfg.agent.site.clone(),
                detector: model.options.clone(),
                configured: model.configured.clone(),
                current: model.path.clone(),
                recent: recent.clone(),
            })
        })();
        let settings = match settings {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "model updates are off");
                return None;
            }
        };
        let quit = Arc::new(AtomicBool::new(false));
        let channels = Channels {
            offers,
            verdicts,
            swaps,
            events: events.clone(),
            quit: quit.clone(),
        };
        match updater::spawn(settings, channels) {
            Ok(thread) => Some(Updates { thread, quit }),
            Err(e) => {
                tracing::error!(error = %e, "model updates are off: cannot start their thread");
                None
            }
        }
    }

    /// Stops the thread; before the outbox writer flushes, as the thread holds a writer handle.
    pub fn stop(self) {
        self.quit.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("update thread panicked");
        }
    }
}
