//! Finding and loading the ONNX Runtime shared library (the `load-dynamic` build of `ort`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use thiserror::Error;

use crate::install;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library not found; looked in: {}. Run scripts/setup.sh, set runtime.ort_library in the config, or set ORT_DYLIB_PATH", show(.tried))]
    NotFound { tried: Vec<PathBuf> },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Load { path: PathBuf, message: String },
}

fn show(paths: &[PathBuf]) -> String {
    let parts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    parts.join(", ")
}

/// Where the library is looked for: the config key, then `ORT_DYLIB_PATH`, then the checkout's
/// `.deps/onnxruntime/` and an installation's `lib/aisle/`.
pub fn search_path(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(p) = configured {
        paths.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        paths.push(PathBuf::from(p));
    }
    paths.extend(install::candidates(&[
        ".deps/onnxruntime/libonnxruntime.so",
        "lib/aisle/libonnxruntime.so",
    ]));
    paths
}

static ENV: Mutex<Option<&'static Environment>> = Mutex::new(None);

/// The process-wide ONNX Runtime environment, loading the library on first use. ORT allows one
/// environment per process, so every session shares this one.
pub fn environment(configured: Option<&Path>) -> Result<&'static Environment, RuntimeError> {
    let mut slot = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = *slot {
        return Ok(env);
    }
    let tried = search_path(configured);
    let path =
        tried
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| RuntimeError::NotFound {
                tried: tried.clone(),
            })?;
    let load = |message: String| RuntimeError::Load {
        path: path.clone(),
        message,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load(e.to_string()))?
        .with_name("aisle")
        .build()
        .map_err(|e| load(e.to_string()))?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    let env: &'static Environment = Box::leak(Box::new(env));
    *slot = Some(env);
    Ok(env)
}
