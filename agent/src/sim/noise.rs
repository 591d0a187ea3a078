//! Turns the true boxes of a frame into what a person detector would report: jittered boxes with
//! scores, random misses, occlusions that hide a person for a second or so, and false boxes.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, Poisson};

use super::scenario::Noise;
use super::world::person_box;
use crate::detect::{BBox, Detection};

pub struct Detector {
    noise: Noise,
    width: u32,
    height: u32,
    fps: f64,
    rng: StdRng,
    /// Frames each person stays hidden for.
    hidden: HashMap<u64, u32>,
}

impl Detector {
    /// Its own random stream (from `seed`), so changing the noise never changes the shoppers.
    pub fn new(noise: &Noise, seed: u64, width: u32, height: u32, fps: f64) -> Self {
        Self {
            noise: noise.clone(),
            width,
            height,
            fps,
            rng: StdRng::seed_from_u64(seed ^ 0x6e6f_6973_6500),
            hidden: HashMap::new(),
        }
    }

    /// The detections of one frame of true `(id, box)`es.
    pub fn detect(&mut self, truth: &[(u64, BBox)], out: &mut Vec<Detection>) {
        out.clear();
        let n = &self.noise;
        let occlusion_p = (n.occlusions_per_min / 60.0 / self.fps).clamp(0.0, 1.0);
        let [lo, hi] = n.score;
        for &(id, b) in truth {
            let hidden = self.hidden.get(&id).copied().unwrap_or(0);
            if hidden > 0 {
                self.hidden.insert(id, hidden - 1);
                continue;
            }
            if self.rng.random_bool(occlusion_p) {
                let [a, z] = n.occlusion_s;
                let secs = if z > a {
                    self.rng.random_range(a..z)
                } else {
                    a
                };
                self.hidden.insert(id, (secs * self.fps).round() as u32);
                continue;
            }
            if self.rng.random_bool(n.miss) {
                continue;
            }
            let sd = (n.jitter * b.height() as f64).max(1e-9);
            let jitter = Normal::new(0.0, sd).unwrap_or_else(|_| unreachable!("sd > 0"));
            let mut j = || jitter.sample(&mut self.rng) as f32;
            let bbox = BBox::new(b.x0 + j(), b.y0 + j(), b.x1 + j(), b.y1 + j());
            let score = if hi > lo {
                self.rng.random_range(lo..hi)
            } else {
                lo
            };
            out.push(Detection {
                class: 0,
                score: score as f32,
                bbox,
            });
        }
        self.hidden.retain(|id, _| truth.iter().any(|t| t.0 == *id));
        let false_boxes = Poisson::new(n.false_per_frame)
            .map(|p| p.sample(&mut self.rng) as u32)
            .unwrap_or(0);
        for _ in 0..false_boxes {
            let foot = (
                self.rng.random_range(0.0..self.width as f32),
                self.rng
                    .random_range(self.height as f32 * 0.2..self.height as f32),
            );
            let score = self.rng.random_range(lo * 0.5..(lo + hi) / 2.0 + 1e-6);
            out.push(Detection {
                class: 0,
                score: score as f32,
                bbox: person_box(foot, self.width, self.height),
            });
        }
    }
}
