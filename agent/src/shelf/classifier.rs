//! The shelf models. The bundled one is a cell classifier: an ONNX model that reads a
//! perspective-corrected cell as stocked, low or empty. Its manifest (TOML beside the `.onnx`)
//! names the input, the patch size and the output's labels; the labels are matched by name, so a
//! customer's classifier may order them as it likes, but it must have all three. A customer's gap
//! detector comes through the person detector's manifest instead (`gaps`); which one a manifest
//! is, its `output.decoder` says.

use std::path::{Path, PathBuf};

use ort::session::{Session, builder::GraphOptimizationLevel};
use ort::value::Tensor;
use serde::{Deserialize, Serialize};

use super::read::{Face, ReadShelf};
pub use super::read::{ShelfModelError, argmax};
use super::warp;
use crate::detect::preprocess::FrameView;
use crate::detect::runtime;

/// The classifier's labels for the three states, in `CellState` order.
pub const LABELS: [&str; 3] = ["stocked", "low", "empty"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CellManifest {
    pub name: String,
    pub version: u64,
    /// Model file, relative to the manifest's folder.
    pub onnx: PathBuf,
    /// Lower-case hex SHA-256 of the model file.
    pub sha256: String,
    pub input: CellInput,
    pub output: CellOutput,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CellInput {
    pub name: String,
    /// Side of the square RGB patch, NCHW, values 0..255.
    pub size: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CellOutput {
    /// One per output column (probabilities): must include stocked, low and empty.
    pub labels: Vec<String>,
}

/// Either kind of shelf model, chosen by its manifest.
pub struct ShelfModel {
    name: String,
    version: u64,
    reader: Box<dyn ReadShelf>,
}

impl ShelfModel {
    /// A manifest with an `output.decoder` is a detector (it must have a gap label); one without
    /// is a cell classifier.
    pub fn load(
        path: &Path,
        threads: usize,
        ort_library: Option<&Path>,
    ) -> Result<Self, ShelfModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ShelfModelError::Read {
            path: path.into(),
            source,
        })?;
        let detector = toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|t| t.get("output").and_then(|o| o.get("decoder")).cloned())
            .is_some();
        if detector {
            let opts = crate::detect::DetectorOptions {
                threads,
                lanes: 1,
                score: None,
                ort_library: ort_library.map(Path::to_path_buf),
            };
            let m = super::gaps::GapModel::load(path, &opts)?;
            Ok(Self {
                name: m.name().to_string(),
                version: m.version(),
                reader: Box::new(m),
            })
        } else {
            let m = CellModel::load(path, threads, ort_library)?;
            Ok(Self {
                name: m.manifest.name.clone(),
                version: m.manifest.version,
                reader: Box::new(m),
            })
        }
    }

    /// Name and version, for the log.
    pub fn describe(&self) -> (&str, u64) {
        (&self.name, self.version)
    }
}

impl ReadShelf for ShelfModel {
    fn read(
        &mut self,
        frame: &FrameView<'_>,
        face: &Face<'_>,
        visible: &[bool],
        out: &mut Vec<[f32; 3]>,
    ) -> Result<(), ShelfModelError> {
        self.reader.read(frame, face, visible, out)
    }
}

impl ReadShelf for CellModel {
    fn read(
        &mut self,
        frame: &FrameView<'_>,
        face: &Face<'_>,
        visible: &[bool],
        out: &mut Vec<[f32; 3]>,
    ) -> Result<(), ShelfModelError> {
        let size = self.side() * self.side() * 3;
        let mut patches = std::mem::take(&mut self.patches);
        patches.clear();
        for (cell, _) in face.cells.iter().zip(visible).filter(|(_, v)| **v) {
            let at = patches.len();
            patches.resize(at + size, 0);
            warp::sample(frame, cell, self.side(), &mut patches[at..]);
        }
        let result = self.classify(&patches, out);
        self.patches = patches;
        result
    }
}

impl CellManifest {
    pub fn load(path: &Path) -> Result<Self, ShelfModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ShelfModelError::Read {
            path: path.into(),
            source,
        })?;
        let invalid = |message: String| ShelfModelError::Manifest {
            path: path.into(),
            message,
        };
        let m: CellManifest = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut problems = Vec::new();
        if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push("sha256: must be 64 hex digits".to_string());
        }
        if !(16..=256).contains(&m.input.size) {
            problems.push(format!(
                "input.size: {} must be within 16..=256",
                m.input.size
            ));
        }
        let missing: Vec<&str> = LABELS
            .into_iter()
            .filter(|l| !m.output.labels.iter().any(|x| x == l))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "output.labels {:?} lack {missing:?}: a shelf model must classify cells as stocked, low and empty",
                m.output.labels
            ));
        }
        if problems.is_empty() {
            Ok(m)
        } else {
            Err(invalid(problems.join("; ")))
        }
    }
}

pub struct CellModel {
    manifest: CellManifest,
    session: Session,
    /// Output column of stocked, low and empty.
    columns: [usize; 3],
    input: Vec<f32>,
    /// The visible cells of a face, sampled for one run.
    patches: Vec<u8>,
}

impl CellModel {
    /// Loads and checks the model: manifest, checksum, input and output shapes.
    pub fn load(
        manifest_path: &Path,
        threads: usize,
        ort_library: Option<&Path>,
    ) -> Result<Self, ShelfModelError> {
        let manifest = CellManifest::load(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let path = dir.join(&manifest.onnx);
        let bytes = std::fs::read(&path).map_err(|source| ShelfModelError::Read {
            path: path.clone(),
            source,
        })?;
        let actual = crate::detect::detector::sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(ShelfModelError::Checksum {
                path,
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        let env = runtime::environment(ort_library)?;
        let contract = |message: String| ShelfModelError::Contract {
            path: path.clone(),
            message,
        };
        let setup = |e: ort::Error<_>| contract(e.to_string());
        let session = Session::builder(env)
            .map_err(|e| contract(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(setup)?
            .with_intra_op_spinning(false)
            .map_err(setup)?
            // The batch is the cells no one hides, so its size changes from sample to sample,
            // and the memory pattern would plan (and keep) a block for every size it meets.
            .with_memory_pattern(false)
            .map_err(setup)?
            .with_intra_threads(threads)
            .map_err(setup)?
            .commit_from_memory(&bytes)
            .map_err(|e| contract(e.to_string()))?;
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        if inputs != [manifest.input.name.clone()] {
            return Err(contract(format!(
                "manifest input.name is {:?}, the model's inputs are {inputs:?}",
                manifest.input.name
            )));
        }
        let columns = LABELS.map(|l| {
            manifest
                .output
                .labels
                .iter()
                .position(|x| x == l)
                .unwrap_or_default()
        });
        let mut model = Self {
            manifest,
            session,
            columns,
            input: Vec::new(),
            patches: Vec::new(),
        };
        // A warm-up cell checks the output's shape against the labels.
        let side = model.side();
        let mut probs = Vec::new();
        model
            .classify(&vec![128; side * side * 3], &mut probs)
            .map_err(|e| contract(format!("warm-up run failed: {e}")))?;
        Ok(model)
    }

    pub fn manifest(&self) -> &CellManifest {
        &self.manifest
    }

    /// Side of the patches the model reads.
    pub fn side(&self) -> usize {
        self.manifest.input.size as usize
    }

    /// Classifies RGB patches (`side`² × 3 bytes each, back to back) in one run; `out` gets
    /// each patch's probabilities for stocked, low and empty.
    pub fn classify(
        &mut self,
        patches: &[u8],
        out: &mut Vec<[f32; 3]>,
    ) -> Result<(), ShelfModelError> {
        let side = self.side();
        let n = patches.len() / (side * side * 3);
        out.clear();
        if n == 0 {
            return Ok(());
        }
        // Interleaved RGB to planar NCHW.
        self.input.clear();
        self.input.resize(n * 3 * side * side, 0.0);
        for (k, patch) in patches.chunks_exact(side * side * 3).enumerate() {
            let base = k * 3 * side * side;
            for (p, px) in patch.chunks_exact(3).enumerate() {
                for (c, &v) in px.iter().enumerate() {
                    self.input[base + c * side * side + p] = f32::from(v);
                }
            }
        }
        let fail = |e: ort::Error| ShelfModelError::Inference(e.to_string());
        let tensor = Tensor::from_array(([n, 3, side, side], self.input.clone())).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs![self.manifest.input.name.as_str() => tensor])
            .map_err(fail)?;
        let (shape, probs) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
        let labels = self.manifest.output.labels.len();
        if shape.to_vec() != [n as i64, labels as i64] {
            return Err(ShelfModelError::Inference(format!(
                "output shape {:?}, expected [{n}, {labels}] (one column per label)",
                shape.to_vec()
            )));
        }
        out.extend(
            probs
                .chunks_exact(labels)
                .map(|row| self.columns.map(|c| row[c])),
        );
        Ok(())
    }
}
