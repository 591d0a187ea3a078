//! Decoding NanoDet-m 416 outputs and NMS: realistic output tensors (most cells below threshold,
//! a crowd of people above it) through the planned decoder and class-aware NMS.

use criterion::{Criterion, criterion_group, criterion_main};

use aisle::detect::boxes::nms;
use aisle::detect::decode::{DecodeParams, Decoder, DecoderKind};
use aisle::detect::geometry::{Geometry, ResizeMode};

const CLASSES: usize = 80;
const BINS: usize = 11;

/// Score and distance maps for strides 8/16/32 with `people` confident cells spread over the image
/// (each with a few overlapping neighbours, as real heads produce).
fn outputs(people: usize) -> (Vec<Vec<i64>>, Vec<Vec<f32>>) {
    let mut shapes = Vec::new();
    let mut data = Vec::new();
    for (level, cols) in [52usize, 26, 13].into_iter().enumerate() {
        let cells = cols * cols;
        let mut scores = vec![0.01f32; cells * CLASSES];
        let mut dists: Vec<f32> = (0..cells * 4 * BINS)
            .map(|i| ((i * 31) % 17) as f32 / 8.0)
            .collect();
        if level == 0 {
            for p in 0..people {
                let base = (p * 97) % (cells - 3);
                for k in 0..3 {
                    scores[(base + k) * CLASSES] = 0.9 - 0.1 * k as f32;
                }
            }
        }
        dists.iter_mut().step_by(BINS).for_each(|v| *v += 2.0);
        shapes.push(vec![1, cells as i64, CLASSES as i64]);
        shapes.push(vec![1, cells as i64, (4 * BINS) as i64]);
        data.push(scores);
        data.push(dists);
    }
    (shapes, data)
}

fn bench(c: &mut Criterion) {
    let params = DecodeParams {
        kind: DecoderKind::NanodetGfl,
        num_classes: CLASSES,
        keep: vec![0],
        strides: vec![8, 16, 32],
        reg_max: BINS - 1,
        input_w: 416,
        input_h: 416,
    };
    let geo = Geometry::new(ResizeMode::Letterbox, 768, 576, 416, 416);
    for people in [5usize, 30] {
        let (shapes, data) = outputs(people);
        let decoder = Decoder::new(params.clone(), &shapes).expect("plan");
        let slices: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
        let mut dets = Vec::with_capacity(256);
        c.bench_function(&format!("decode+nms nanodet-m-416, {people} people"), |b| {
            b.iter(|| {
                dets.clear();
                decoder.decode(std::hint::black_box(&slices), &geo, 0.35, &mut dets);
                nms(&mut dets, 0.6, 100);
                dets.len()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
