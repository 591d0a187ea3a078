//! The person detector: one ONNX Runtime session per model, fed by the preprocessor and read by
//! the planned decoder. Input and output tensors, their I/O binding, the candidate list and the
//! decoder plan are built once at load, so a frame costs ONNX Runtime's work and nothing else.
//! Lanes (`fork`) share the session, so frames inferred side by side cost one copy of the
//! weights.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::AsPointer;
use ort::session::{IoBinding, Session, builder::GraphOptimizationLevel};
use ort::value::Tensor;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::boxes::{BBox, Detection, nms};
use super::calibration::ScoreMap;
use super::decode::{Decoder, DecoderError};
use super::manifest::{Manifest, ManifestError};
use super::preprocess::{FrameView, PreprocessError, Preprocessor};
use super::runtime::{self, RuntimeError};
use super::tiling::{SliceDetection, Tiling, merge_across_tiles};

/// How much of a box from one slice must lie inside a higher-scored box from another slice for
/// the two to be one person (intersection over the smaller box).
const TILE_MERGE_OVERLAP: f32 = 0.5;

/// Outputs a decoder may read; no supported head has more.
const MAX_OUTPUTS: usize = 16;

#[derive(Debug, Error)]
pub enum DetectorError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("cannot read model file {path}: {source}")]
    ReadModel {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model file {path} has sha256 {actual}, its manifest says {expected}")]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model file {path} is not a loadable ONNX model: {message}")]
    NotOnnx { path: PathBuf, message: String },
    #[error("model {path}: {message}")]
    Contract { path: PathBuf, message: String },
    #[error("model {path}: {source}")]
    Decoder { path: PathBuf, source: DecoderError },
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error(
        "model {name} gives non-finite outputs (NaN or infinity) on a reference frame: it would detect nobody, which looks like an empty store"
    )]
    NotFinite { name: String },
}

/// A 768x576 BGR frame with gradients and edges, so convolutions see varied input: what a model
/// is tried on before it serves (at start, and as the update canary).
pub fn reference_frame() -> Vec<u8> {
    let (w, h) = (768usize, 576usize);
    (0..w * h * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (x, y) = (p % w, p / w);
            ((x * (c + 1) + y * 2 + ((x / 32 + y / 32) % 2) * 96) % 256) as u8
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct DetectorOptions {
    /// ONNX Runtime threads in all; 0 lets ORT choose.
    pub threads: usize,
    /// Frames inferred side by side, each with `threads / lanes` intra-op threads (0 and 1 both
    /// mean one). Why: a run split over two cores waits at every operator for its slower half,
    /// and the decoders pre-empt one half or the other; two one-thread runs never wait for each
    /// other (docs/performance.md).
    pub lanes: usize,
    /// Overrides the manifest's score threshold.
    pub score: Option<f32>,
    /// Overrides where the ONNX Runtime library is looked for first.
    pub ort_library: Option<PathBuf>,
}

pub struct Detector {
    manifest: Manifest,
    model_path: PathBuf,
    /// Shared by the lanes: ONNX Runtime allows concurrent runs of one session, each through
    /// its own binding.
    session: Arc<Session>,
    lanes: usize,
    /// Bound to the session: written in place by the preprocessor for every frame.
    input: Tensor<f32>,
    /// Bound to the session: ONNX Runtime writes the decoder's outputs into these.
    outputs: Vec<Tensor<f32>>,
    binding: IoBinding,
    pre: Preprocessor,
    decoder: Decoder,
    /// Raw scores onto the common scale; `raw_threshold` is the operating threshold before it.
    scores: ScoreMap,
    raw_threshold: f32,
    /// One slice's detections, then every slice's with its slice index: reused frame to frame.
    slice: Vec<Detection>,
    tiled: Vec<SliceDetection>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Detector {
    /// Loads and checks a model: manifest, checksum, ONNX validity, input and output shapes.
    pub fn load(manifest_path: &Path, opts: &DetectorOptions) -> Result<Self, DetectorError> {
        let manifest = Manifest::load(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let model_path = dir.join(&manifest.onnx);
        let bytes = std::fs::read(&model_path).map_err(|source| DetectorError::ReadModel {
            path: model_path.clone(),
            source,
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(DetectorError::Checksum {
                path: model_path,
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        let env = runtime::environment(opts.ort_library.as_deref())?;
        let not_onnx = |message: String| DetectorError::NotOnnx {
            path: model_path.clone(),
            message,
        };
        let setup = |e: ort::Error<_>| not_onnx(e.to_string());
        // Spinning off: idle ORT threads would otherwise burn the cores the decoders need.
        let mut builder = Session::builder(env)
            .map_err(|e| not_onnx(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(setup)?
            .with_intra_op_spinning(false)
            .map_err(setup)?
            .with_inter_op_spinning(false)
            .map_err(setup)?
            // The memory pattern preplans one block for every activation: 27 MB more resident
            // per session for NanoDet-m 416 and no speed measurable here (docs/performance.md).
            .with_memory_pattern(false)
            .map_err(setup)?
            .with_intra_threads(lane_threads(opts.threads, opts.lanes))
            .map_err(setup)?;
        let session = builder
            .commit_from_memory(&bytes)
            .map_err(|e| not_onnx(e.to_string()))?;

        let contract = |message: String| DetectorError::Contract {
            path: model_path.clone(),
            message,
        };
        let spec = manifest.input_spec();
        let want = [1i64, 3, spec.height as i64, spec.width as i64];
        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        if inputs.len() != 1 || inputs[0] != manifest.input.name {
            return Err(contract(format!(
                "manifest input.name is {:?}, the model's inputs are {inputs:?}",
                manifest.input.name
            )));
        }
        let declared: Vec<i64> = session.inputs()[0]
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let fits = declared.len() == 4 && declared.iter().zip(want).all(|(&d, w)| d < 0 || d == w);
        if !fits {
            return Err(contract(format!(
                "manifest input is {want:?} (NCHW), the model declares {declared:?}"
            )));
        }
        if session.outputs().len() > MAX_OUTPUTS {
            return Err(contract(format!(
                "{} outputs, at most {MAX_OUTPUTS} are supported",
                session.outputs().len()
            )));
        }
        let input = zeroed_input(&session, &want).map_err(|e| contract(e.to_string()))?;
        let mut session = session;
        let shapes = output_shapes(&mut session, &input)
            .map_err(|e| contract(format!("warm-up run failed: {e}")))?;
        let decoder = Decoder::new(manifest.decode_params(), &shapes).map_err(|source| {
            DetectorError::Decoder {
                path: model_path.clone(),
                source,
            }
        })?;
        let (binding, outputs) = bind(&session, &input, &shapes[..decoder.outputs_used()])
            .map_err(|e| contract(format!("cannot bind inputs and outputs: {e}")))?;
        let scores = ScoreMap::new(&manifest.output.score_map)
            .map_err(|e| contract(format!("output.score_map: {e}")))?;
        Ok(Self {
            raw_threshold: scores.invert(opts.score.unwrap_or(manifest.output.score_threshold)),
            scores,
            pre: Preprocessor::new(spec),
            session: Arc::new(session),
            lanes: opts.lanes.max(1),
            input,
            outputs,
            binding,
            decoder,
            manifest,
            model_path,
            slice: Vec::with_capacity(128),
            tiled: Vec::with_capacity(256),
        })
    }

    /// Frames this model is meant to infer side by side (`DetectorOptions::lanes`).
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Another lane on the same session: its own bound tensors and scratch, so it can detect on
    /// another thread while this one does.
    pub fn fork(&self) -> Result<Self, DetectorError> {
        let contract = |e: ort::Error| DetectorError::Contract {
            path: self.model_path.clone(),
            message: format!("cannot bind another lane: {e}"),
        };
        let spec = self.manifest.input_spec();
        let input = zeroed_input(&self.session, self.input.shape()).map_err(contract)?;
        let shapes: Vec<Vec<i64>> = self.outputs.iter().map(|t| t.shape().to_vec()).collect();
        let (binding, outputs) = bind(&self.session, &input, &shapes).map_err(contract)?;
        Ok(Self {
            manifest: self.manifest.clone(),
            model_path: self.model_path.clone(),
            session: Arc::clone(&self.session),
            lanes: self.lanes,
            input,
            outputs,
            binding,
            pre: Preprocessor::new(spec),
            decoder: self.decoder.clone(),
            scores: self.scores.clone(),
            raw_threshold: self.raw_threshold,
            slice: Vec::with_capacity(128),
            tiled: Vec::with_capacity(256),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether every raw output of the last run is a finite number: a model with a NaN in its
    /// weights decodes to no detections at all, which looks like an empty store, not a fault.
    pub fn outputs_finite(&self) -> bool {
        self.outputs
            .iter()
            .all(|t| t.extract_tensor().1.iter().all(|v| v.is_finite()))
    }

    /// Runs the model once on the [`reference_frame`]: a model whose outputs are NaN (broken
    /// weights, a bad export) is refused before it serves instead of reporting an empty store.
    pub fn check_outputs(&mut self) -> Result<(), DetectorError> {
        let frame = reference_frame();
        let mut out = Vec::new();
        self.detect(FrameView::packed(768, 576, &frame), &mut out)?;
        if self.outputs_finite() {
            Ok(())
        } else {
            Err(DetectorError::NotFinite {
                name: self.manifest().name.clone(),
            })
        }
    }

    /// Detects objects in one frame; `out` is cleared and refilled (its capacity is reused).
    pub fn detect(
        &mut self,
        frame: FrameView<'_>,
        out: &mut Vec<Detection>,
    ) -> Result<(), DetectorError> {
        out.clear();
        self.infer(frame, out)?;
        self.prune(out);
        Ok(())
    }

    /// Detects objects slice by slice (see `tiling`): one inference per slice, then the halves of
    /// people cut at slice edges are merged and the whole frame is pruned once more.
    pub fn detect_tiled(
        &mut self,
        frame: FrameView<'_>,
        tiling: &Tiling,
        out: &mut Vec<Detection>,
    ) -> Result<(), DetectorError> {
        let tiles = tiling.grid.count();
        if tiles == 1 {
            return self.detect(frame, out);
        }
        let mut slice = std::mem::take(&mut self.slice);
        let mut tiled = std::mem::take(&mut self.tiled);
        tiled.clear();
        let mut result = Ok(());
        let pixels = (frame.width, frame.height);
        let scale = (
            frame.source.0 as f32 / frame.width as f32,
            frame.source.1 as f32 / frame.height as f32,
        );
        for i in 0..tiles {
            let rect = tiling.tile(i, frame.width, frame.height);
            let (view, (ox, oy)) = frame.crop(rect);
            slice.clear();
            result = self.infer(view, &mut slice);
            if result.is_err() {
                break;
            }
            self.prune(&mut slice);
            tiled.extend(slice.iter().map(|d| {
                let b = d.bbox;
                let bbox = BBox::new(b.x0 + ox, b.y0 + oy, b.x1 + ox, b.y1 + oy);
                SliceDetection {
                    det: Detection { bbox, ..*d },
                    slice: i as u16,
                    cut: rect.cuts(&bbox, pixels, scale),
                }
            }));
        }
        if result.is_ok() {
            merge_across_tiles(&mut tiled, TILE_MERGE_OVERLAP);
            out.clear();
            out.extend(tiled.iter().map(|t| t.det));
            self.prune(out);
        }
        self.slice = slice;
        self.tiled = tiled;
        result
    }

    /// Preprocesses, runs the model and appends the decoded candidates to `out`, with calibrated
    /// scores.
    fn infer(
        &mut self,
        frame: FrameView<'_>,
        out: &mut Vec<Detection>,
    ) -> Result<(), DetectorError> {
        let geo = self.pre.run(frame, self.input.extract_tensor_mut().1)?;
        run_bound(&self.session, &mut self.binding)?;
        let mut slices: [&[f32]; MAX_OUTPUTS] = [&[]; MAX_OUTPUTS];
        for (slot, tensor) in slices.iter_mut().zip(&self.outputs) {
            *slot = tensor.extract_tensor().1;
        }
        let first = out.len();
        self.decoder
            .decode(&slices[..self.outputs.len()], &geo, self.raw_threshold, out);
        for d in &mut out[first..] {
            d.score = self.scores.apply(d.score);
        }
        Ok(())
    }

    fn prune(&self, dets: &mut Vec<Detection>) {
        let o = &self.manifest.output;
        nms(dets, o.nms_iou, o.max_detections);
    }
}

/// Binds `input` and one preallocated tensor per output the decoder reads (the first
/// `shapes.len()`, in graph order), so every run reuses the same memory.
fn bind(
    session: &Session,
    input: &Tensor<f32>,
    shapes: &[Vec<i64>],
) -> Result<(IoBinding, Vec<Tensor<f32>>), ort::Error> {
    let mut binding = session.create_binding()?;
    binding.bind_input(session.inputs()[0].name(), input)?;
    let mut outputs = Vec::with_capacity(shapes.len());
    for (outlet, shape) in session.outputs().iter().zip(shapes) {
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(1) as usize).collect();
        let mut tensor = Tensor::<f32>::new(session.allocator(), dims)?;
        binding.bind_output(outlet.name(), &mut tensor)?;
        outputs.push(tensor);
    }
    Ok((binding, outputs))
}

/// The input tensor a binding is made with, NCHW, zeroed so a run before the first frame is
/// defined.
fn zeroed_input(session: &Session, dims: &[i64]) -> Result<Tensor<f32>, ort::Error> {
    let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
    let mut input = Tensor::<f32>::new(session.allocator(), dims)?;
    input.extract_tensor_mut().1.fill(0.0);
    Ok(input)
}

/// Intra-op threads for each lane's runs: the threads shared out, at least one each.
fn lane_threads(threads: usize, lanes: usize) -> usize {
    match threads {
        0 => 0,
        t => (t / lanes.max(1)).max(1),
    }
}

/// One inference through the binding, called through the C API: the `ort` wrappers around a run
/// build name strings and output handles on the heap for every call, and this is the only
/// per-frame work they would add. Public for the end-to-end benchmark's bare runs.
pub fn run_bound(session: &Session, binding: &mut IoBinding) -> Result<(), DetectorError> {
    let api = ort::api();
    // SAFETY: both pointers come from live wrappers borrowed for the whole call and the binding
    // was created from this session. ONNX Runtime allows concurrent runs of one session; a
    // binding must not be shared between them, which the exclusive borrow guarantees.
    let status =
        unsafe { (api.RunWithBinding)(session.ptr().cast_mut(), std::ptr::null(), binding.ptr()) };
    if status.0.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null status is an error owned by us until released; its message is a valid
    // C string for as long as the status lives, and it is copied before the release.
    let message = unsafe {
        let text = CStr::from_ptr((api.GetErrorMessage)(status.0))
            .to_string_lossy()
            .into_owned();
        (api.ReleaseStatus)(status.0);
        text
    };
    Err(DetectorError::Inference(message))
}

/// Runs the model once on `input` and returns the shape of every output, in graph order.
fn output_shapes(session: &mut Session, input: &Tensor<f32>) -> Result<Vec<Vec<i64>>, ort::Error> {
    let outputs = session.run(ort::inputs![input])?;
    let mut shapes = Vec::with_capacity(outputs.len());
    for i in 0..outputs.len() {
        shapes.push(outputs[i].try_extract_tensor::<f32>()?.0.to_vec());
    }
    Ok(shapes)
}
