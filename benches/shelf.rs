//! A shelf sample's own work besides the classifier: cutting a perspective-corrected cell out of a
//! frame (64×64 for the model, 32×32 for the reference) and comparing it with its reference. A
//! camera with a 3×4 shelf does this 12 times per sample; the classifier's time per cell is
//! measured by `aisle shelf eval` (models/shelf/README.md).

use criterion::{Criterion, criterion_group, criterion_main};

use aisle::detect::preprocess::FrameView;
use aisle::shelf::reference::{REF_SIDE, change};
use aisle::shelf::warp::{self, Homography};

fn bench(c: &mut Criterion) {
    // A 768x576 camera scaled to 416x312 before the appsink, as the pipeline delivers it.
    let (w, h) = (416usize, 312usize);
    let bgr: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let frame = FrameView {
        width: w as u32,
        height: h as u32,
        stride: w * 3,
        bgr: &bgr,
        source: (768, 576),
    };
    let face = [
        (150.0, 90.0),
        (650.0, 130.0),
        (650.0, 450.0),
        (150.0, 500.0),
    ];
    let cells = warp::cells(&Homography::unit_square_to(&face).expect("face"), 3, 4);
    let mut patch = vec![0u8; 64 * 64 * 3];
    c.bench_function("shelf cell 64x64 from a 768x576 camera", |b| {
        b.iter(|| warp::sample(&frame, std::hint::black_box(&cells[5]), 64, &mut patch))
    });
    let mut now = vec![0u8; REF_SIDE * REF_SIDE * 3];
    let mut reference = now.clone();
    warp::sample(&frame, &cells[4], REF_SIDE, &mut reference);
    c.bench_function("shelf cell reference 32x32 and change", |b| {
        b.iter(|| {
            warp::sample(&frame, &cells[5], REF_SIDE, &mut now);
            change(std::hint::black_box(&reference), &now)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
