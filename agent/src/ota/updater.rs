//! The update thread of a running agent: takes offers from the command topic and walks each one
//! through the steps of docs/ota.md — verify the signed manifest, download the artifact
//! (resuming), check it, stage it, run the canary, activate it on trial and hand it to the
//! pipeline — then waits for the health gate's verdict and commits or rolls back. Every step is
//! an event through the outbox. The decisions are the pure parts (`verify`, `gate`, `recover`);
//! this module only sequences them and does the IO, off the inference thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use sha2::{Digest, Sha256};

use super::canary::{self, RecentFrames};
use super::download::{self, DownloadError};
use super::flood::{OfferFilter, Report};
use super::gate::Verdict;
use super::manifest::UpdateManifest;
use super::offer::{MAX_OFFER_BYTES, Offer, PAUSE_AFTER_OVERSIZED};
use super::store::ModelStore;
use super::verify::{self, Context, Rejection, Trust};
use crate::clock::{Clock, SystemClock};
use crate::detect::{Detector, DetectorOptions};
use crate::events::{Payload, UpdateEvent, UpdateStep};
use crate::fault;
use crate::mqtt::Command;
use crate::outbox::{Incoming, WriterHandle};
use crate::pipeline::Swap;

/// The one slot a running agent fills today: its person detector.
pub const SLOT: &str = "person";
/// Download attempts per offer, with doubling pauses from `RETRY_FIRST` between them.
const ATTEMPTS: u32 = 5;
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// How often a waiting updater looks at the quit flag.
const POLL: Duration = Duration::from_millis(200);

/// What the updater needs to know and own.
pub struct Settings {
    pub trust: Trust,
    pub store: ModelStore,
    /// Trust anchors for HTTPS downloads.
    pub tls: Arc<rustls::ClientConfig>,
    pub device: String,
    pub site: String,
    pub detector: DetectorOptions,
    /// The configured model, which serves again when the first update is rolled back.
    pub configured: PathBuf,
    /// The model serving when the agent started.
    pub current: PathBuf,
    /// The cameras' latest frames, for the canary.
    pub recent: RecentFrames,
}

/// How the updater talks to the rest of the agent.
pub struct Channels {
    /// Raw offers from the command topic.
    pub offers: Receiver<Command>,
    /// The health gate's verdicts on a model on trial.
    pub verdicts: Receiver<Verdict>,
    pub swaps: Sender<Swap>,
    pub events: WriterHandle,
    /// Set when the agent stops.
    pub quit: Arc<AtomicBool>,
}

pub fn spawn(
    settings: Settings,
    channels: Channels,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ota-update".into())
        .spawn(move || {
            Updater {
                current: settings.current.clone(),
                s: settings,
                c: channels,
                flood: OfferFilter::default(),
            }
            .run()
        })
}

/// Why an update stopped, with the step it stopped at.
struct Stop {
    step: UpdateStep,
    reason: &'static str,
    detail: String,
}

impl Stop {
    fn rejected(reason: &'static str, detail: impl ToString) -> Self {
        Self {
            step: UpdateStep::Rejected,
            reason,
            detail: detail.to_string(),
        }
    }
}

impl From<Rejection> for Stop {
    fn from(r: Rejection) -> Self {
        Stop::rejected(r.reason(), &r)
    }
}

struct Updater {
    s: Settings,
    c: Channels,
    current: PathBuf,
    /// Offers already handled in this run (a retained offer comes again on every reconnect and
    /// is not worth a second event), and how often unsigned junk is reported.
    flood: OfferFilter,
}

fn now_unix_s() -> u64 {
    SystemClock.now_ms() / 1000
}

impl Updater {
    fn quitting(&self) -> bool {
        self.c.quit.load(Ordering::Relaxed)
    }

    fn run(mut self) {
        while !self.quitting() {
            let bytes = match self.c.offers.recv_timeout(POLL) {
                Ok(Command::Message(bytes)) => bytes,
                Ok(Command::Oversized { bytes }) => {
                    let detail = format!(
                        "a {bytes}-byte message on the command topic, over the {MAX_OFFER_BYTES} bytes an offer may have; offers are ignored for {} s so that delivery goes on",
                        PAUSE_AFTER_OVERSIZED.as_secs()
                    );
                    self.emit(
                        UpdateStep::Rejected,
                        None,
                        Some(("offer_too_large", &detail)),
                    );
                    continue;
                }
                Err(_) => continue,
            };
            // An admin clearing the retained offer (`aisle model publish --clear`).
            if bytes.is_empty() {
                continue;
            }
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            if self.flood.first_time(digest) {
                self.offer(&bytes);
            }
        }
    }

    fn emit(&self, step: UpdateStep, m: Option<&UpdateManifest>, failure: Option<(&str, &str)>) {
        tracing::info!(
            step = ?step,
            version = m.map(|m| m.version),
            reason = failure.map(|f| f.0),
            detail = failure.map(|f| f.1),
            "model update"
        );
        self.c.events.send(Incoming {
            camera: None,
            ts_ms: SystemClock.now_ms(),
            payload: Payload::Update(UpdateEvent {
                step,
                slot: m.map(|m| m.slot.clone()),
                model: m.map(|m| m.name.clone()),
                version: m.map(|m| m.version),
                reason: failure.map(|f| f.0.to_string()),
                detail: failure.map(|f| f.1.to_string()),
            }),
        });
    }

    fn offer(&mut self, bytes: &[u8]) {
        let m = match self.verified(bytes) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err((stop, None)) => {
                match self.flood.report_unsigned(Instant::now()) {
                    Report::Yes {
                        unreported_before: 0,
                    } => {
                        self.emit(stop.step, None, Some((stop.reason, &stop.detail)));
                    }
                    Report::Yes { unreported_before } => {
                        let detail = format!(
                            "{} ({unreported_before} more unsigned offers before it were not reported)",
                            stop.detail
                        );
                        self.emit(stop.step, None, Some((stop.reason, &detail)));
                    }
                    Report::No => {
                        tracing::warn!(
                            reason = stop.reason,
                            "unsigned offer refused; not reported: too many this hour"
                        );
                    }
                }
                return;
            }
            Err((stop, signed)) => {
                let failure = Some((stop.reason, stop.detail.as_str()));
                self.emit(stop.step, signed.as_deref(), failure);
                return;
            }
        };
        if let Err(stop) = self.install(&m) {
            self.emit(stop.step, Some(&m), Some((stop.reason, &stop.detail)));
        }
    }

    /// The signed manifest, checked against this device; `None` for the active model's own
    /// offer arriving again (a retained message after a restart). A refusal comes with the
    /// manifest when its signature had verified, so the event can name the version.
    fn verified(
        &self,
        bytes: &[u8],
    ) -> Result<Option<UpdateManifest>, (Stop, Option<Box<UpdateManifest>>)> {
        let offer = Offer::parse(bytes).map_err(|e| (Stop::rejected("bad_offer", e), None))?;
        let state = self
            .s
            .store
            .state()
            .map_err(|e| (Stop::rejected("store", e), None))?;
        let floors = state.floors();
        let ctx = Context {
            device: &self.s.device,
            site: &self.s.site,
            agent_version: env!("CARGO_PKG_VERSION"),
            now_unix_s: now_unix_s(),
            floors: &floors,
        };
        let manifest = offer.manifest.as_bytes();
        let signatures = offer.signatures();
        let r = match verify::verify_manifest(manifest, &signatures, &self.s.trust, &ctx) {
            Ok(m) if m.slot != SLOT => {
                let stop = Stop::rejected(
                    "unknown_slot",
                    format!("this agent runs slot {SLOT:?}, not {:?}", m.slot),
                );
                return Err((stop, Some(Box::new(m))));
            }
            Ok(m) => return Ok(Some(m)),
            Err(r) => r,
        };
        let signed = r
            .after_signature()
            .then(|| toml::from_str::<UpdateManifest>(&offer.manifest).ok())
            .flatten()
            .map(Box::new);
        let active = state.slots.get(SLOT).and_then(|s| s.active.as_ref());
        if let (Rejection::Replay { version }, Some(m), Some(a)) = (&r, &signed, active)
            && a.version == *version
            && a.sha256 == m.sha256
        {
            tracing::debug!(version, "offer of the active model; nothing to do");
            return Ok(None);
        }
        Err((r.into(), signed))
    }

    fn install(&mut self, m: &UpdateManifest) -> Result<(), Stop> {
        self.emit(UpdateStep::Downloading, Some(m), None);
        let downloads = self.s.store.dir().join("downloads");
        std::fs::create_dir_all(&downloads).map_err(|e| Stop::rejected("store", e))?;
        let part = download::part_path(&downloads, m);
        let fetched = self.fetch(m, &part);
        let bytes = match fetched {
            Ok(b) => b,
            Err(e) => {
                if !e.transient() {
                    let _ = std::fs::remove_file(&part);
                }
                let reason = match e {
                    DownloadError::TooLarge { .. } => "artifact_too_large",
                    _ => "download",
                };
                return Err(Stop::rejected(reason, e));
            }
        };
        fault::crash_point("downloaded");
        let checked = verify::check_artifact(m, &bytes);
        let _ = std::fs::remove_file(&part);
        checked?;
        self.emit(UpdateStep::Verified, Some(m), None);

        let staged = self
            .s
            .store
            .stage(m, &bytes)
            .map_err(|e| Stop::rejected("store", e))?;
        drop(bytes);
        fault::crash_point("staged");
        let recent = self.s.recent.lock().map(|f| f.clone()).unwrap_or_default();
        let tried = canary::run(&staged, Some(&self.current), &self.s.detector, &recent);
        drop(recent);
        let detector = match tried {
            Ok((report, detector)) => {
                tracing::info!(
                    new_ms = report.new_ms,
                    current_ms = report.current_ms,
                    recent_frames = report.recent_frames,
                    "canary passed"
                );
                detector
            }
            Err(e) => {
                let discarded = self.s.store.discard(&m.slot, m.version, true);
                if let Err(d) = discarded {
                    tracing::error!(error = %d, "cannot discard a model that failed its canary");
                }
                return Err(Stop::rejected("canary", format!("the new model {e}")));
            }
        };
        fault::crash_point("canary_passed");
        self.s
            .store
            .activate(m, true)
            .map_err(|e| Stop::rejected("store", e))?;
        fault::crash_point("activated");
        let trial = Swap {
            detector,
            trial: true,
        };
        if self.c.swaps.send(trial).is_err() {
            return Ok(());
        }
        self.emit(UpdateStep::Active, Some(m), None);
        fault::crash_point("on_trial");
        match self.verdict() {
            None => Ok(()),
            Some(Verdict::Pass) => {
                self.s
                    .store
                    .commit_trial(&m.slot)
                    .map_err(|e| Stop::rejected("store", e))?;
                self.current = staged;
                self.emit(UpdateStep::Committed, Some(m), None);
                Ok(())
            }
            Some(Verdict::Fail { reason, detail }) => {
                self.roll_back(&m.slot)?;
                Err(Stop {
                    step: UpdateStep::RolledBack,
                    reason,
                    detail,
                })
            }
        }
    }

    /// Downloads with retries; each attempt resumes from what the last one kept.
    fn fetch(&self, m: &UpdateManifest, part: &Path) -> Result<Vec<u8>, DownloadError> {
        let mut pause = RETRY_FIRST;
        let mut attempt = 1;
        loop {
            match download::fetch(m, part, &self.s.tls) {
                Err(e) if e.transient() && attempt < ATTEMPTS && !self.quitting() => {
                    tracing::warn!(attempt, error = %e, retry_in_s = pause.as_secs_f64(), "model download failed; retrying");
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits for the gate; `None` when the agent stops first (the next start rolls back).
    fn verdict(&self) -> Option<Verdict> {
        let started = Instant::now();
        loop {
            if self.quitting() {
                tracing::warn!(
                    waited_s = started.elapsed().as_secs_f64(),
                    "stopping with a model on trial"
                );
                return None;
            }
            if let Ok(v) = self.c.verdicts.recv_timeout(POLL) {
                return Some(v);
            }
        }
    }

    /// Restores the previous model in the store and hands it to the pipeline.
    fn roll_back(&mut self, slot: &str) -> Result<(), Stop> {
        let state = self
            .s
            .store
            .rollback(slot)
            .map_err(|e| Stop::rejected("store", e))?;
        let path = self
            .s
            .store
            .active_manifest(slot)
            .map_err(|e| Stop::rejected("store", e))?
            .unwrap_or_else(|| self.s.configured.clone());
        let previous = state.slots.get(slot).and_then(|s| s.active.as_ref());
        tracing::warn!(slot, to_version = previous.map(|p| p.version), model = %path.display(), "rolling back");
        match Detector::load(&path, &self.s.detector) {
            Ok(detector) => {
                let _ = self.c.swaps.send(Swap {
                    detector,
                    trial: false,
                });
                self.current = path;
            }
            Err(e) => {
                tracing::error!(error = %e, model = %path.display(), "the previous model does not load; restart the agent");
            }
        }
        Ok(())
    }
}
