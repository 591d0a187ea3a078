//! The store's reference: a snapshot of each shelf zone fully stocked, taken by `aisle shelf
//! calibrate` at install time and kept on the box (never published). A cell that still looks
//! like its stocked reference is not reported empty, whatever the classifier says: the model
//! has only seen synthetic shelves, the reference has seen this one.
//!
//! The comparison is one minus the mean per-channel correlation of the two patches, so a
//! change of gain or offset in the lighting (lights dimmed, daylight) does not count as change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Side of a reference patch: coarse on purpose, so camera noise and a product turned a little
/// do not count as change.
pub const REF_SIDE: usize = 32;

#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error(
        "camera {camera:?} has shelf zones but no calibration at {}: run `aisle shelf calibrate` with the shelves fully stocked",
        path.display()
    )]
    Missing { camera: String, path: PathBuf },
    #[error("cannot read shelf calibration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("shelf calibration {} is invalid: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write shelf calibration {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "shelf calibration {} was taken at {}x{} but camera {camera:?} now sends {}x{}: run `aisle shelf calibrate` again",
        path.display(), taken.0, taken.1, now.0, now.1
    )]
    Resolution {
        path: PathBuf,
        camera: String,
        taken: (u32, u32),
        now: (u32, u32),
    },
    #[error(
        "shelf calibration {} does not match zone {zone:?} of camera {camera:?} ({why}): run `aisle shelf calibrate` again",
        path.display()
    )]
    Stale {
        path: PathBuf,
        camera: String,
        zone: String,
        why: String,
    },
}

/// One camera's reference, as stored in `{calibration_dir}/{camera}.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub camera: String,
    /// The camera image's size when taken: zones and cells are in its pixels.
    pub width: u32,
    pub height: u32,
    pub zones: Vec<ZoneReference>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneReference {
    pub zone: String,
    /// The face's corners in camera pixels when taken: a moved zone needs a new reference.
    pub corners: [[f32; 2]; 4],
    pub rows: u32,
    pub bays: u32,
    /// Per cell, row by row: an RGB `REF_SIDE`² patch as hex.
    pub cells: Vec<String>,
}

impl Snapshot {
    pub fn path(dir: &Path, camera: &str) -> PathBuf {
        dir.join(format!("{camera}.json"))
    }

    pub fn load(dir: &Path, camera: &str) -> Result<Self, ReferenceError> {
        let path = Self::path(dir, camera);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReferenceError::Missing {
                    camera: camera.to_string(),
                    path,
                });
            }
            Err(source) => return Err(ReferenceError::Read { path, source }),
        };
        let invalid = |message: String| ReferenceError::Invalid {
            path: path.clone(),
            message,
        };
        let snap: Snapshot = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if snap.camera != camera {
            return Err(invalid(format!("it is camera {:?}'s", snap.camera)));
        }
        for z in &snap.zones {
            if z.cells.len() != (z.rows * z.bays) as usize {
                return Err(invalid(format!(
                    "zone {:?}: {} cells for {}x{}",
                    z.zone,
                    z.cells.len(),
                    z.rows,
                    z.bays
                )));
            }
            if let Some(bad) = z
                .cells
                .iter()
                .position(|c| c.len() != REF_SIDE * REF_SIDE * 6)
            {
                return Err(invalid(format!(
                    "zone {:?}: cell {bad} is not a {REF_SIDE}x{REF_SIDE} RGB patch",
                    z.zone
                )));
            }
        }
        Ok(snap)
    }

    /// Written beside and renamed over, so an agent never reads half a reference.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ReferenceError> {
        let path = Self::path(dir, &self.camera);
        let write = |source| ReferenceError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write)?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| write(e.into()))?;
        let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            // A full disk must not leave a half-written file behind for the next try to trip on.
            let _ = std::fs::remove_file(&tmp);
            return Err(write(e));
        }
        Ok(path)
    }
}

/// A `side`² RGB patch halved to `side/2`² by 2×2 averaging.
pub fn halve(patch: &[u8], side: usize, out: &mut Vec<u8>) {
    let half = side / 2;
    out.clear();
    for j in 0..half {
        for i in 0..half {
            for c in 0..3 {
                let px = |x: usize, y: usize| u16::from(patch[(y * side + x) * 3 + c]);
                let sum = px(2 * i, 2 * j)
                    + px(2 * i + 1, 2 * j)
                    + px(2 * i, 2 * j + 1)
                    + px(2 * i + 1, 2 * j + 1);
                out.push(((sum + 2) / 4) as u8);
            }
        }
    }
}

/// How far a cell has moved from its reference: one minus the mean per-channel Pearson
/// correlation of two equal-sized RGB patches. 0 for the same picture under any gain and offset,
/// about 1 for unrelated ones. A flat channel (no texture) correlates with nothing, so two flat
/// patches count as unchanged only when their mean colours agree.
pub fn change(reference: &[u8], now: &[u8]) -> f32 {
    debug_assert_eq!(reference.len(), now.len());
    let n = (reference.len() / 3) as f64;
    let mut total = 0.0;
    for c in 0..3 {
        // One channel's values, read in place: the comparison allocates nothing.
        fn channel(p: &[u8], c: usize) -> impl Iterator<Item = f64> + '_ {
            p.iter().skip(c).step_by(3).map(|&v| f64::from(v))
        }
        let ma = channel(reference, c).sum::<f64>() / n;
        let mb = channel(now, c).sum::<f64>() / n;
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (x, y) in channel(reference, c).zip(channel(now, c)) {
            sab += (x - ma) * (y - mb);
            saa += (x - ma) * (x - ma);
            sbb += (y - mb) * (y - mb);
        }
        // Texture below a standard deviation of 2 grey levels is noise.
        let flat = 4.0 * n;
        total += if saa < flat && sbb < flat {
            if (ma - mb).abs() < 24.0 { 1.0 } else { 0.0 }
        } else if saa < flat || sbb < flat {
            0.0
        } else {
            sab / (saa * sbb).sqrt()
        };
    }
    (1.0 - total / 3.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(seed: u32) -> Vec<u8> {
        (0..REF_SIDE * REF_SIDE * 3)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 24) as u8 / 2 + 40
            })
            .collect()
    }

    #[test]
    fn lighting_is_not_change() {
        let a = textured(1);
        let dimmer: Vec<u8> = a
            .iter()
            .map(|&v| (f32::from(v) * 0.6 + 10.0) as u8)
            .collect();
        assert!(change(&a, &a) < 1e-6);
        assert!(change(&a, &dimmer) < 0.05, "{}", change(&a, &dimmer));
    }

    #[test]
    fn another_picture_is_change() {
        let (a, b) = (textured(1), textured(0x8000_0000));
        assert!(change(&a, &b) > 0.5, "{}", change(&a, &b));
        let flat = vec![90u8; a.len()];
        assert!((change(&a, &flat) - 1.0).abs() < 1e-6, "texture gone");
    }

    #[test]
    fn halving_averages_blocks() {
        let mut patch = vec![0u8; 4 * 4 * 3];
        patch[..3].copy_from_slice(&[100, 100, 100]);
        let mut out = Vec::new();
        halve(&patch, 4, &mut out);
        assert_eq!(out.len(), 2 * 2 * 3);
        assert_eq!(&out[..3], &[25, 25, 25]);
    }

    #[test]
    fn a_missing_or_foreign_calibration_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = Snapshot::load(dir.path(), "aisle-4")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("aisle-4") && e.contains("aisle shelf calibrate"),
            "{e}"
        );
        let snap = Snapshot {
            camera: "aisle-5".into(),
            width: 640,
            height: 480,
            zones: vec![],
        };
        let saved = snap.save(dir.path()).unwrap();
        std::fs::rename(saved, Snapshot::path(dir.path(), "aisle-4")).unwrap();
        let e = Snapshot::load(dir.path(), "aisle-4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("camera \"aisle-5\"'s"), "{e}");
    }
}
