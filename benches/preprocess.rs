//! Preprocessing cost on the inference thread: a 768x576 frame (the demo video's size) that
//! GStreamer already scaled, and the in-process resize fallback at 768x576 and 1920x1080.

use criterion::{Criterion, criterion_group, criterion_main};

use aisle::detect::FrameView;
use aisle::detect::geometry::ResizeMode;
use aisle::detect::preprocess::{ColorOrder, InputSpec, Preprocessor};

fn spec(resize: ResizeMode) -> InputSpec {
    InputSpec {
        width: 416,
        height: 416,
        color: ColorOrder::Bgr,
        mean: [103.53, 116.28, 123.675],
        std: [57.375, 57.12, 58.395],
        resize,
        pad_value: 0,
    }
}

/// A frame with texture, so the resampler cannot take shortcuts on flat input.
fn frame(w: usize, h: usize) -> Vec<u8> {
    (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect()
}

fn bench(c: &mut Criterion) {
    // The agent's path: GStreamer scaled the 768x576 frame to 416x312 on the camera thread, so
    // the inference thread only normalises.
    let small = frame(416, 312);
    let mut pre = Preprocessor::new(spec(ResizeMode::Letterbox));
    let mut out = vec![0.0f32; pre.tensor_len()];
    let view = FrameView {
        source: (768, 576),
        ..FrameView::packed(416, 312, &small)
    };
    // The name starts with a letter: scripts/test.sh keeps only such lines of the output.
    c.bench_function("normalise 416x312 -> 416 (768x576 scaled upstream)", |b| {
        b.iter(|| {
            pre.run(std::hint::black_box(view), &mut out)
                .expect("preprocess")
        })
    });
    for (w, h) in [(768u32, 576u32), (1920, 1080)] {
        let bgr = frame(w as usize, h as usize);
        for (name, mode) in [
            ("letterbox", ResizeMode::Letterbox),
            ("stretch", ResizeMode::Stretch),
        ] {
            let mut pre = Preprocessor::new(spec(mode));
            let mut out = vec![0.0f32; pre.tensor_len()];
            let view = FrameView::packed(w, h, &bgr);
            // The fallback for sources that cannot scale (nokhwa).
            c.bench_function(&format!("resize+normalise {w}x{h} -> 416 {name}"), |b| {
                b.iter(|| {
                    pre.run(std::hint::black_box(view), &mut out)
                        .expect("preprocess")
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
