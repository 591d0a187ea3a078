//! End to end, three measures in one run; asserts nothing.
//!
//! 1. The agent's full pipeline (GStreamer decode and scaling of the demo video, preprocessing,
//!    inference, decoding, NMS) against bare ONNX Runtime on the same model with the same
//!    threads: both rates and their ratio.
//! 2. The camera thread's cost per frame: decode and convert at the camera's size, against
//!    decode, scale and convert to the model's input (what the agent does).
//! 3. Several live cameras sharing the cores: frames each delivered and dropped, and the latency
//!    from a frame leaving its source to its detections reaching the sink (p50, p99).
//!
//! `cargo bench --bench e2e` (all 795 frames, 1 and 2 threads, 4 cameras × 5 fps for 60 s) or,
//! quick, `cargo bench --bench e2e -- --frames 100 --threads 2 --seconds 15`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use std::time::Duration;

use aisle::analytics::zones::percentile;
use aisle::detect::geometry::ResizeMode;
use aisle::detect::tiling::Tiling;
use aisle::detect::{Detector, DetectorOptions, runtime};
use aisle::pipeline::{self, CameraInput, Event};
use aisle::source::{CameraHealth, CameraSettings, Fit, GstOptions, GstSource, Pulled, SourceSpec};
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
        tiling: Tiling::WHOLE,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let health = [Arc::default()];
    let mut seen = 0usize;
    let report = pipeline::run(
        std::slice::from_ref(&input),
        &mut detector,
        &crossbeam_channel::never(),
        2,
        &stop,
        &health,
        |e| {
            match e {
                Event::Frame(_) => seen += 1,
                Event::DetectorFailed(_) => return ControlFlow::Break(()),
                _ => {}
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

/// Milliseconds per frame the camera thread spends delivering the whole video.
fn source_ms_per_frame(video: &Path, fit: Option<Fit>) -> f64 {
    let spec = SourceSpec::parse(&video.display().to_string()).expect("video");
    let opts = GstOptions { max_fps: None, fit };
    let mut src = GstSource::open("bench", &spec, &opts).expect("source");
    let t0 = Instant::now();
    let mut n = 0u32;
    loop {
        match src.pull(Duration::from_secs(10)).expect("pull") {
            Pulled::Frame(_) => n += 1,
            Pulled::Eos => break,
            Pulled::Timeout => panic!("source stalled"),
        }
    }
    t0.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
}

/// The demo video as a live camera, paced in real time at `fps`; its 80 s outlast any run here.
fn live_camera(video: &Path, fps: u32, id: usize) -> CameraInput {
    let uri = format!(
        "pipeline:filesrc location={} ! decodebin ! videorate ! video/x-raw,framerate={fps}/1 ! identity sync=true",
        video.display()
    );
    CameraInput {
        spec: SourceSpec::parse(&uri).expect("pipeline"),
        settings: CameraSettings::ad_hoc(&format!("cam{id}"), true),
        gst: GstOptions::default(),
        tiling: Tiling::WHOLE,
    }
}

fn multi_camera(manifest: &Path, video: &Path, cameras: usize, fps: u32, seconds: u64) {
    let opts = DetectorOptions {
        threads: 2,
        score: None,
        ort_library: None,
    };
    let mut detector = Detector::load(manifest, &opts).expect("detector");
    let inputs: Vec<CameraInput> = (0..cameras).map(|i| live_camera(video, fps, i)).collect();
    let health: Vec<Arc<CameraHealth>> = (0..cameras).map(|_| Arc::default()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut delivered = vec![0u64; cameras];
    let mut latency_ms = Vec::with_capacity(cameras * fps as usize * seconds as usize);
    let started = Instant::now();
    let window = Duration::from_secs(seconds);
    // The first seconds (model warm-up, preroll) are left out of the figures.
    let settle = Duration::from_secs(3);
    pipeline::run(
        &inputs,
        &mut detector,
        &crossbeam_channel::never(),
        2,
        &stop,
        &health,
        |e| {
            let elapsed = started.elapsed();
            if let Event::Frame(p) = e
                && elapsed >= settle
            {
                delivered[p.camera] += 1;
                latency_ms.push(p.frame.pulled_at.elapsed().as_secs_f64() * 1000.0);
            }
            if elapsed >= settle + window {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("pipeline");
    latency_ms.sort_by(f64::total_cmp);
    let offered = u64::from(fps) * seconds;
    println!(
        "{cameras} live cameras × {fps} fps for {seconds} s, 2 ORT threads: \
         latency frame→detections p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latency_ms, 0.5).unwrap_or(f64::NAN),
        percentile(&latency_ms, 0.99).unwrap_or(f64::NAN)
    );
    println!(
        "{:>8} {:>10} {:>10} {:>9}",
        "camera", "offered", "processed", "dropped"
    );
    for (i, n) in delivered.iter().enumerate() {
        println!(
            "{:>8} {offered:>10} {n:>10} {:>9}",
            format!("cam{i}"),
            offered.saturating_sub(*n)
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    aisle::heap::limit_fragmentation();
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
    let fit = Fit {
        width: 416,
        height: 416,
        resize: ResizeMode::Letterbox,
    };
    println!(
        "camera thread per frame: decode+convert 768x576 {:.2} ms, decode+scale+convert to \
         416x312 {:.2} ms",
        source_ms_per_frame(&video, None),
        source_ms_per_frame(&video, Some(fit))
    );
    let seconds = arg("--seconds").unwrap_or(60) as u64;
    multi_camera(&manifest, &video, 4, 5, seconds);
}
