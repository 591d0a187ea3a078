//! The hot path allocates nothing per frame. A counting global allocator watches the inference
//! thread while the real pipeline runs the demo video: GStreamer decoding and scaling on the
//! camera thread, then, on the counted thread, preprocessing, ONNX Runtime through its I/O
//! binding, decoding, NMS, tracking, zones and rules. Only a frame that produces an event (an
//! alert, a summary) may allocate, for the event itself. Allocations on other threads (the
//! camera's, ONNX Runtime's pool) and inside C libraries are not counted.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aisle::analytics::camera::{AnalyticsConfig, CameraAnalytics};
use aisle::analytics::rules::{Rule, RuleConfig, Severity};
use aisle::detect::tiling::Tiling;
use aisle::detect::{Detector, DetectorOptions};
use aisle::events::CameraHealth;
use aisle::pipeline::{self, CameraInput};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTED.with(Cell::get) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u64 = 100;
const COUNTED_FRAMES: u64 = 300;

fn rule(name: &str, zone: &str, when: &str) -> Rule {
    let cfg = RuleConfig {
        name: name.into(),
        zone: zone.into(),
        camera: None,
        when: when.into(),
        clear: None,
        cooldown_s: 0.0,
        severity: Severity::Warning,
    };
    Rule::new(cfg, "cam").expect("rule")
}

#[test]
fn inference_thread_allocates_nothing_per_frame() {
    count_frames(1);
    // With two lanes the counted thread also hands frames to the other lane and takes its
    // results back; that lane's own thread is not counted.
    count_frames(2);
}

fn count_frames(lanes: usize) {
    ALLOCS.store(0, Ordering::Relaxed);
    let zones = [
        "name = \"floor\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\ncongestion = { medium = 4, high = 8 }",
        "name = \"door\"\nkind = \"line\"\nline = [[0.5, 0.0], [0.5, 1.0]]",
        "name = \"till\"\nkind = \"queue\"\npolygon = [[0.0, 0.3], [1.0, 0.3], [1.0, 0.7], [0.0, 0.7]]\nservice_line = [[0.0, 0.7], [1.0, 0.7]]",
    ]
    .iter()
    .map(|t| toml::from_str(t).expect("zone"))
    .collect();
    let rules = vec![
        rule("busy", "floor", "area.occupancy >= 3 for 2s"),
        rule("slow", "till", "queue.wait_p90 > 1s"),
        rule("long", "till", "queue.length >= 2 for 1s"),
    ];
    let config = AnalyticsConfig {
        summary_interval_s: 3600.0,
        ..AnalyticsConfig::default()
    };
    let mut analytics = CameraAnalytics::new("cam", zones, rules, &config);
    let mut detector = Detector::load(
        &common::default_manifest(),
        &DetectorOptions {
            threads: 2,
            lanes,
            ..DetectorOptions::default()
        },
    )
    .expect("model");
    let input = CameraInput {
        spec: SourceSpec::parse(&common::vtest().display().to_string()).expect("video"),
        settings: CameraSettings::ad_hoc("cam", false),
        gst: GstOptions::default(),
        tiling: Tiling::WHOLE,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let health = [Arc::new(aisle::source::CameraHealth::default())];
    let snapshot = CameraHealth::default();
    let mut out = Vec::with_capacity(64);
    let (mut frames, mut people, mut events) = (0u64, 0usize, 0usize);
    let (mut seen, mut quiet_allocs) = (0u64, Vec::new());
    pipeline::run(
        &[input],
        &mut detector,
        &crossbeam_channel::never(),
        2,
        &stop,
        &health,
        |e| {
            let p = match e.into_frame() {
                Ok(p) => p,
                Err(flow) => return flow,
            };
            let t_ms = p.frame.pts_ms;
            analytics
                .on_frame(t_ms, p.frame.width, p.frame.height, p.detections, &mut out)
                .expect("zones fit");
            analytics.on_tick(t_ms, true, &snapshot, &mut out);
            people += p.detections.len();
            events += out.len();
            let total = ALLOCS.load(Ordering::Relaxed);
            if total > seen && out.is_empty() {
                quiet_allocs.push((frames, total - seen));
            }
            seen = total;
            out.clear();
            frames += 1;
            // Counting covers everything the thread does between these two frames.
            COUNTED.with(|c| c.set((WARM_UP..WARM_UP + COUNTED_FRAMES).contains(&frames)));
            if frames == WARM_UP + COUNTED_FRAMES {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("pipeline");
    let allocs = ALLOCS.load(Ordering::Relaxed);
    println!(
        "{lanes} lane(s): {frames} frames, {people} detections, {events} events; {allocs} \
         allocations in {COUNTED_FRAMES} counted frames, all in frames with events"
    );
    assert_eq!(frames, WARM_UP + COUNTED_FRAMES);
    assert!(people > 1000, "the video has people in it: {people}");
    assert!(events > 0, "rules fired: the analytics did real work");
    assert!(
        quiet_allocs.is_empty(),
        "(frame, allocations) on frames without events: {quiet_allocs:?}"
    );
}
