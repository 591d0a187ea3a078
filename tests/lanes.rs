//! Lanes (`runtime.lanes`): frames inferred side by side on one shared ONNX Runtime session are
//! handed to the sink in the order they were taken, with the detections one lane finds, through
//! model swaps that change the number of lanes. The real pipeline on the demo video.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use aisle::detect::tiling::Tiling;
use aisle::detect::{Detector, DetectorOptions};
use aisle::pipeline::{self, CameraInput, Event, Swap};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};

const FRAMES: u64 = 90;

fn detector(lanes: usize) -> Detector {
    let opts = DetectorOptions {
        threads: 2,
        lanes,
        ..DetectorOptions::default()
    };
    Detector::load(&common::default_manifest(), &opts).expect("model")
}

/// Each frame's index and its boxes and scores, and the lanes serving after each swap.
type Seen = (Vec<(u64, Vec<[f32; 5]>)>, Vec<usize>);

/// Runs the demo video with `lanes`, swapping in a model with `swaps[i].1` lanes once frame
/// `swaps[i].0` has been seen.
fn run(lanes: usize, swaps: &[(u64, usize)]) -> Seen {
    let input = CameraInput {
        spec: SourceSpec::parse(&common::vtest().display().to_string()).expect("video"),
        settings: CameraSettings::ad_hoc("cam", false),
        gst: GstOptions::default(),
        tiling: Tiling::WHOLE,
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let stop = Arc::new(AtomicBool::new(false));
    let health = [Arc::default()];
    let mut main = detector(lanes);
    let (mut frames, mut swapped) = (Vec::new(), Vec::new());
    pipeline::run(
        std::slice::from_ref(&input),
        &mut main,
        &rx,
        2,
        &stop,
        &health,
        |e| {
            match e {
                Event::Frame(p) => {
                    let boxes = p
                        .detections
                        .iter()
                        .map(|d| [d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1, d.score])
                        .collect();
                    frames.push((p.frame.index, boxes));
                    if let Some(&(_, lanes)) = swaps.iter().find(|s| s.0 == p.frame.index) {
                        tx.send(Swap {
                            detector: detector(lanes),
                            trial: false,
                        })
                        .expect("swap channel");
                    }
                }
                Event::Swapped { .. } => swapped.push(frames.len()),
                Event::DetectorFailed(e) => panic!("detector failed: {e}"),
                Event::Idle => {}
            }
            if frames.len() as u64 >= FRAMES {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("pipeline");
    (frames, swapped)
}

#[test]
fn lanes_keep_frame_order_and_results_through_swaps() {
    let (one, none) = run(1, &[]);
    assert!(none.is_empty());
    let (two, swapped) = run(2, &[(30, 1), (60, 3)]);
    assert_eq!(swapped.len(), 2, "both swaps served");
    let indices: Vec<u64> = two.iter().map(|f| f.0).collect();
    assert_eq!(
        indices,
        (0..FRAMES).collect::<Vec<_>>(),
        "every frame, in order"
    );
    assert!(
        one.iter().map(|f| f.1.len()).sum::<usize>() > 300,
        "people were found"
    );
    assert_eq!(one, two, "the same detections, frame by frame");
}
