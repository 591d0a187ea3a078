//! Preprocessing cost: a 768x576 BGR frame (the demo video's size) into the 416x416 NCHW input,
//! letterboxed and stretched, and a 1920x1080 frame as a typical IP camera delivers.

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
    // A frame already at the letterboxed size skips the resampler: the normalise pass alone.
    let small = frame(416, 312);
    let mut pre = Preprocessor::new(spec(ResizeMode::Letterbox));
    let mut out = vec![0.0f32; pre.tensor_len()];
    let view = FrameView {
        width: 416,
        height: 312,
        stride: 416 * 3,
        bgr: &small,
    };
    c.bench_function("normalise only 416x312 -> 416 letterbox", |b| {
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
            let view = FrameView {
                width: w,
                height: h,
                stride: w as usize * 3,
                bgr: &bgr,
            };
            c.bench_function(&format!("preprocess {w}x{h} -> 416 {name}"), |b| {
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
