//! Score calibration: one scale for every model's scores.
//!
//! The tracker's thresholds (a confident box, a weak box that only extends a track, a box that may
//! start a track) and the manifest's operating threshold are numbers. Models do not agree on what
//! a number means: MoveNet MultiPose rarely scores a person above 0.5, where NanoDet-m is already
//! sure, so under the tracker's defaults it would start no track at all. A manifest may therefore
//! carry a map from its model's raw scores onto the default model's scale, measured on annotated
//! footage (`scripts/eval-detect.sh --calibrate`), and every score leaves the detector on that
//! scale. An update to another model then keeps the store's tracking, not just its boxes.

/// A monotone piecewise-linear map from raw scores to calibrated ones, through `(0, 0)` and
/// `(1, 1)`. Empty is the identity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreMap {
    points: Vec<[f32; 2]>,
}

impl ScoreMap {
    /// The map through `points` (`[raw, calibrated]`), or what is wrong with them.
    pub fn new(points: &[[f32; 2]]) -> Result<Self, String> {
        if points.is_empty() {
            return Ok(Self::default());
        }
        if points.len() < 2 || points[0] != [0.0, 0.0] || points[points.len() - 1] != [1.0, 1.0] {
            return Err("needs at least [0.0, 0.0] and [1.0, 1.0], first and last".into());
        }
        for pair in points.windows(2) {
            let ([r0, c0], [r1, c1]) = (pair[0], pair[1]);
            if !(r0 < r1 && c0 < c1) {
                return Err(format!(
                    "[{r0}, {c0}] then [{r1}, {c1}]: raw and calibrated scores must both increase"
                ));
            }
        }
        Ok(Self {
            points: points.to_vec(),
        })
    }

    /// The calibrated score of a raw one; scores outside 0..=1 are clamped first.
    pub fn apply(&self, raw: f32) -> f32 {
        self.interpolate(raw, 0, 1)
    }

    /// The raw score that calibrates to `calibrated`: what the decoder compares with.
    pub fn invert(&self, calibrated: f32) -> f32 {
        self.interpolate(calibrated, 1, 0)
    }

    fn interpolate(&self, v: f32, from: usize, to: usize) -> f32 {
        if self.points.is_empty() || v.is_nan() {
            return v;
        }
        let v = v.clamp(0.0, 1.0);
        let upper = self
            .points
            .iter()
            .position(|p| p[from] >= v)
            .unwrap_or(self.points.len() - 1)
            .max(1);
        let (a, b) = (self.points[upper - 1], self.points[upper]);
        let t = (v - a[from]) / (b[from] - a[from]);
        a[to] + t * (b[to] - a[to])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_identity() {
        let m = ScoreMap::new(&[]).unwrap();
        assert_eq!(m.apply(0.37), 0.37);
        assert_eq!(m.invert(0.37), 0.37);
    }

    #[test]
    fn scores_are_interpolated_and_inverted() {
        let m = ScoreMap::new(&[[0.0, 0.0], [0.1, 0.35], [0.2, 0.6], [1.0, 1.0]]).unwrap();
        assert!((m.apply(0.1) - 0.35).abs() < 1e-6);
        assert!((m.apply(0.15) - 0.475).abs() < 1e-6);
        assert!((m.apply(0.6) - 0.8).abs() < 1e-6);
        assert!((m.invert(0.475) - 0.15).abs() < 1e-6);
        assert!((m.invert(0.35) - 0.1).abs() < 1e-6);
        assert_eq!(m.apply(-1.0), 0.0);
        assert_eq!(m.apply(2.0), 1.0);
        assert!(m.apply(f32::NAN).is_nan());
    }

    #[test]
    fn maps_that_are_not_total_or_not_increasing_are_refused() {
        for bad in [
            vec![[0.0, 0.0]],
            vec![[0.1, 0.0], [1.0, 1.0]],
            vec![[0.0, 0.0], [0.5, 0.5]],
            vec![[0.0, 0.0], [0.5, 0.6], [0.4, 0.7], [1.0, 1.0]],
            vec![[0.0, 0.0], [0.5, 0.6], [0.6, 0.6], [1.0, 1.0]],
        ] {
            assert!(ScoreMap::new(&bad).is_err(), "{bad:?}");
        }
    }
}
