//! Where the agent's own files live: a source checkout (`.deps/`, `models/`) during development,
//! or a Debian-style installation (`/usr/lib/aisle`, `/usr/share/aisle`) on a gateway.

use std::path::{Path, PathBuf};

/// Folders that may hold the agent's files, most specific first: the executable's ancestors
/// (so `target/release/aisle` finds the checkout and `/usr/bin/aisle` finds `/usr`), then the
/// working directory.
pub fn roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    let mut seen = std::collections::HashSet::new();
    roots.retain(|r| seen.insert(r.clone()));
    roots
}

/// Every place `relatives` could be under any root, in search order.
pub fn candidates(relatives: &[&str]) -> Vec<PathBuf> {
    roots()
        .iter()
        .flat_map(|r| relatives.iter().map(move |rel| r.join(rel)))
        .collect()
}

/// A model the project ships, found by `bundled` when a config or command names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundled {
    /// The default person detector.
    Person,
    /// The shelf-cell classifier.
    Shelf,
}

impl Bundled {
    fn name(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Shelf => "shelf",
        }
    }

    /// The config setting that names this model instead.
    fn setting(self) -> &'static str {
        match self {
            Self::Person => "detector.model",
            Self::Shelf => "shelf.model",
        }
    }

    fn relatives(self) -> [&'static str; 2] {
        match self {
            Self::Person => [
                "models/nanodet-m-416/manifest-int8.toml",
                "share/aisle/models/nanodet-m-416/manifest-int8.toml",
            ],
            Self::Shelf => [
                "models/shelf/manifest.toml",
                "share/aisle/models/shelf/manifest.toml",
            ],
        }
    }
}

/// No bundled model where one was looked for: the error lists every place, so an installer
/// sees whether the package or the checkout is incomplete.
#[derive(Debug, thiserror::Error)]
#[error("no {} model: set {} (or --model), or install the bundled one (looked in: {})", .kind.name(), .kind.setting(), show(.tried))]
pub struct NotFound {
    pub kind: Bundled,
    pub tried: Vec<PathBuf>,
}

fn show(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// The manifest to load: the one configured, else the bundled `kind`. The one lookup every
/// command and the daemon share, so they never disagree on which model runs.
pub fn model(kind: Bundled, configured: Option<&Path>) -> Result<PathBuf, NotFound> {
    if let Some(path) = configured {
        return Ok(path.to_path_buf());
    }
    let tried = candidates(&kind.relatives());
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(NotFound { kind, tried })
}
