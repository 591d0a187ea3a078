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
//! `cargo bench --bench e2e` (all 795 frames, 1 and 2 threads, one lane and one lane per thread,
//! 4 cameras × 5 and × 10 fps for 60 s each, in one lane and in two) or,
//! quick, `cargo bench --bench e2e -- --frames 100 --threads 2 --seconds 15`. `--rounds N`
//! (default 3) alternates bare and pipeline runs N times; `--fps F` runs only that camera rate.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use std::time::Duration;

use aisle::analytics::zones::percentile;
use aisle::detect::detector::run_bound;
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

/// ONNX Runtime alone, configured as the detector configures it (spinning and memory pattern
/// off, the threads shared out over the lanes), each lane a thread running its own binding on
/// one shared session with a fixed input: no decoding, preprocessing or box decoding.
fn bare_ort(model: &Path, threads: usize, lanes: usize, frames: usize) -> f64 {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let mut session = Session::builder(env)
        .expect("builder")
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .expect("optimization level")
        .with_intra_op_spinning(false)
        .expect("spinning")
        .with_inter_op_spinning(false)
        .expect("spinning")
        .with_memory_pattern(false)
        .expect("memory pattern")
        .with_intra_threads((threads / lanes).max(1))
        .expect("threads")
        .commit_from_file(model)
        .expect("model");
    let dims = [1usize, 3, 416, 416];
    let mut probe = Tensor::<f32>::new(session.allocator(), dims).expect("tensor");
    probe.extract_tensor_mut().1.fill(0.5);
    let shapes: Vec<Vec<usize>> = {
        let out = session.run(ort::inputs![&probe]).expect("warm-up");
        (0..out.len())
            .map(|i| {
                let (shape, _) = out[i].try_extract_tensor::<f32>().expect("f32 output");
                shape.iter().map(|&d| d as usize).collect()
            })
            .collect()
    };
    let mut bound = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let mut input = Tensor::<f32>::new(session.allocator(), dims).expect("tensor");
        input.extract_tensor_mut().1.fill(0.5);
        let mut binding = session.create_binding().expect("binding");
        binding
            .bind_input(session.inputs()[0].name(), &input)
            .expect("bind input");
        let mut outputs = Vec::with_capacity(shapes.len());
        for (outlet, shape) in session.outputs().iter().zip(&shapes) {
            let mut t = Tensor::<f32>::new(session.allocator(), shape.clone()).expect("tensor");
            binding
                .bind_output(outlet.name(), &mut t)
                .expect("bind output");
            outputs.push(t);
        }
        for _ in 0..5 {
            run_bound(&session, &mut binding).expect("warm-up");
        }
        bound.push((binding, input, outputs));
    }
    let session = &session;
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for (lane, (binding, _, _)) in bound.iter_mut().enumerate() {
            let n = frames / lanes + usize::from(lane < frames % lanes);
            scope.spawn(move || {
                for _ in 0..n {
                    run_bound(session, binding).expect("run");
                }
            });
        }
    });
    frames as f64 / t0.elapsed().as_secs_f64()
}

fn pipeline_fps(manifest: &Path, video: &Path, threads: usize, lanes: usize, frames: usize) -> f64 {
    let opts = DetectorOptions {
        threads,
        lanes,
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
    // Timed from the first frame out, as the bare runs are timed after their warm-up: the
    // pipeline's start (preroll, first decode) is paid once, not per frame.
    let mut seen = 0usize;
    let mut first = None;
    let mut rate = f64::NAN;
    pipeline::run(
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
            let t0 = *first.get_or_insert_with(Instant::now);
            if seen >= frames {
                rate = (seen - 1) as f64 / t0.elapsed().as_secs_f64();
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("pipeline");
    rate
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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

fn multi_camera(
    manifest: &Path,
    video: &Path,
    lanes: usize,
    cameras: usize,
    fps: u32,
    seconds: u64,
) {
    let opts = DetectorOptions {
        threads: 2,
        lanes,
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
        "{cameras} live cameras × {fps} fps for {seconds} s, 2 ORT threads in {lanes} lane(s): \
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
    let manifest = root.join("models/nanodet-m-416/manifest-int8.toml");
    let model = root.join("models/nanodet-m-416/nanodet-m-416-int8.onnx");
    let video = root.join(".deps/data/vtest.avi");
    let frames = arg("--frames").unwrap_or(795);
    let threads: Vec<usize> = arg("--threads").map_or(vec![1, 2], |t| vec![t]);
    println!(
        "e2e: NanoDet-m 416 int8 (the default) on vtest.avi (768x576), {frames} frames, spinning off"
    );
    // The machine's speed drifts between runs, so bare and pipeline alternate, round by round,
    // and each round's ratio compares runs made moments apart.
    let rounds = arg("--rounds").unwrap_or(3).max(1);
    println!("{rounds} rounds of bare ORT then pipeline; medians, and the range of the ratios");
    println!(
        "{:>8} {:>6} {:>14} {:>14} {:>7} {:>14} {:>14}",
        "threads", "lanes", "bare ORT fps", "pipeline fps", "ratio", "ratio range", "vs best bare"
    );
    for t in threads {
        // One lane with every thread, and (from 2 threads) one thread per lane.
        let configs: Vec<usize> = if t > 1 { vec![1, t] } else { vec![1] };
        let rows: Vec<(usize, f64, f64, Vec<f64>)> = configs
            .iter()
            .map(|&lanes| {
                let (mut bare, mut full, mut ratios) = (vec![], vec![], vec![]);
                for _ in 0..rounds {
                    let b = bare_ort(&model, t, lanes, frames);
                    let f = pipeline_fps(&manifest, &video, t, lanes, frames);
                    bare.push(b);
                    full.push(f);
                    ratios.push(f / b);
                }
                ratios.sort_by(f64::total_cmp);
                (lanes, median(&mut bare), median(&mut full), ratios)
            })
            .collect();
        let best = rows.iter().map(|r| r.1).fold(0.0, f64::max);
        // What an agent with this many threads and no `runtime.lanes` would run.
        let default = aisle::detect::lanes::auto(t, aisle::detect::lanes::memory_available());
        for (lanes, bare, full, ratios) in rows {
            let range = format!("{:.3}–{:.3}", ratios[0], ratios[ratios.len() - 1]);
            println!(
                "{t:>8} {lanes:>6} {bare:>14.1} {full:>14.1} {:>7.3} {range:>14} {:>14.3}{}",
                ratios[ratios.len() / 2],
                full / best,
                if lanes == default { "  (default)" } else { "" }
            );
        }
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
    // 5 fps: half of what the cores can infer; 10 fps: a little more than one lane can.
    let rates: Vec<u32> = arg("--fps").map_or(vec![5, 10], |f| vec![f as u32]);
    for fps in rates {
        for lanes in [1, 2] {
            multi_camera(&manifest, &video, lanes, 4, fps, seconds);
        }
    }
}
