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

/// The project's default person model manifest, if one is installed or checked out.
pub fn default_model() -> Result<PathBuf, Vec<PathBuf>> {
    let tried = candidates(&[
        "models/nanodet-m-416/manifest.toml",
        "share/aisle/models/nanodet-m-416/manifest.toml",
    ]);
    tried.iter().find(|p| p.is_file()).cloned().ok_or(tried)
}

/// The project's shelf-cell classifier manifest, if one is installed or checked out.
pub fn default_shelf_model() -> Result<PathBuf, Vec<PathBuf>> {
    let tried = candidates(&[
        "models/shelf/manifest.toml",
        "share/aisle/models/shelf/manifest.toml",
    ]);
    tried.iter().find(|p| p.is_file()).cloned().ok_or(tried)
}
