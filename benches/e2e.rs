//! End to end: the agent's full pipeline (GStreamer decode of the demo video, preprocessing,
//! inference, decoding, NMS) against bare ONNX Runtime on the same model with the same threads,
//! in the same run. Prints both rates and their ratio; asserts nothing.
//!
//! `cargo bench --bench e2e` (all 795 frames, 1 and 2 threads) or, quick,
//! `cargo bench --bench e2e -- --frames 100 --threads 2`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use aisle::detect::{Detector, DetectorOptions, runtime};
use aisle::pipeline::{self, CameraInput, Event};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn bare_ort(model: &Path, threads: usize, frames: usize) -> f64 {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let mut session = Session::builder(env)
        .expect("builder")
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .expect("optimization level")
        .with_intra_op_spinning(false)
        .expect("spinning")
        .with_intra_threads(threads)
        .expect("threads")
        .commit_from_file(model)
        .expect("model");
    let mut input = Tensor::<f32>::new(session.allocator(), [1usize, 3, 416, 416]).expect("tensor");
    input.extract_tensor_mut().1.fill(0.5);
    for _ in 0..5 {
        session.run(ort::inputs![&input]).expect("warm-up");
    }
    let t0 = Instant::now();
    for _ in 0..frames {
        session.run(ort::inputs![&input]).expect("run");
    }
    frames as f64 / t0.elapsed().as_secs_f64()
}

fn pipeline_fps(manifest: &Path, video: &Path, threads: usize, frames: usize) -> f64 {
    let opts = DetectorOptions {
        threads,
        score: None,
        ort_library: None,
    };
    let mut detector = Detector::load(manifest, &opts).expect("detector");
    let input = CameraInput {
        spec: SourceSpec::parse(&video.display().to_string()).expect("video"),
        settings: CameraSettings::ad_hoc("bench", false),
        gst: GstOptions::default(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let health = [Arc::default()];
    let mut seen = 0usize;
    let report = pipeline::run(
        std::slice::from_ref(&input),
        &mut detector,
        2,
        &stop,
        &health,
        |e| {
            if let Event::Frame(_) = e {
                seen += 1;
            }
            if seen >= frames {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("pipeline");
    report.frames as f64 / report.elapsed.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let manifest = root.join("models/nanodet-m-416/manifest.toml");
    let model = root.join("models/nanodet-m-416/nanodet-m-416.onnx");
    let video = root.join(".deps/data/vtest.avi");
    let frames = arg("--frames").unwrap_or(795);
    let threads: Vec<usize> = arg("--threads").map_or(vec![1, 2], |t| vec![t]);
    println!("e2e: NanoDet-m 416 on vtest.avi (768x576), {frames} frames, spinning off");
    println!(
        "{:>8} {:>14} {:>14} {:>7}",
        "threads", "bare ORT fps", "pipeline fps", "ratio"
    );
    for t in threads {
        let bare = bare_ort(&model, t, frames);
        let full = pipeline_fps(&manifest, &video, t, frames);
        println!("{t:>8} {bare:>14.1} {full:>14.1} {:>7.3}", full / bare);
    }
}
