//! `aisle shelf eval --photos`: the cell classifier scored on real shelf photos whose empty slots
//! are outlined (YOLO polygons, as public retail datasets ship them). Each photo is cut into a
//! grid of levels × bays; a cell's truth is how much of its width the outlined gaps cover, by the
//! same rule the gap-detector path reads cells with (`gaps::coverage`): empty from 70 %, low from
//! 35 %. Photos are held out by *source* photo, since datasets export each photo several times
//! with augmentations and a frame-level split would test on training images.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::classifier::{CellModel, LABELS, ShelfModelError, argmax};
use super::eval::{CellScores, index, share};
use super::gaps::{coverage, from_coverage};
use super::warp::{self, Homography};
use crate::detect::BBox;
use crate::detect::preprocess::FrameView;

#[derive(Debug, Error)]
pub enum PhotoError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot decode image {}: {message}", path.display())]
    Decode { path: PathBuf, message: String },
    #[error("{}: line {line}: {problem}", path.display())]
    Label {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{}: no images/*.jpg or *.png with labels/*.txt beside them", dir.display())]
    Empty { dir: PathBuf },
    #[error(transparent)]
    Model(#[from] ShelfModelError),
}

/// Which photos to score: training and held-out photos never share a source photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// About a fifth of the source photos, never trained on.
    HeldOut,
    /// The rest, which `models/shelf/train.py` may learn from.
    Train,
    All,
}

impl std::str::FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "held-out" => Ok(Self::HeldOut),
            "train" => Ok(Self::Train),
            "all" => Ok(Self::All),
            _ => Err(format!("{s:?} is not held-out, train or all")),
        }
    }
}

/// One in five source photos is held out, chosen by a hash of the source's name so that the
/// split is the same on every machine and in `models/shelf/train.py`.
pub fn held_out(source: &str) -> bool {
    Sha256::digest(source.as_bytes())[0] % 5 == 0
}

/// The source photo an exported image came from: the part of the file name before Roboflow's
/// `_jpg.rf.` (or `_png.rf.`) export suffix, else the file stem.
pub fn source_of(file_name: &str) -> &str {
    ["_jpg.rf.", "_jpeg.rf.", "_png.rf."]
        .iter()
        .find_map(|s| file_name.find(s).map(|i| &file_name[..i]))
        .unwrap_or_else(|| {
            file_name
                .rsplit_once('.')
                .map_or(file_name, |(stem, _)| stem)
        })
}

/// Gap outlines of one label file, as pixel bounding boxes. A row is `class x1 y1 x2 y2 …`
/// (a polygon, normalised) or `class cx cy w h` (a box).
pub fn parse_labels(text: &str, width: u32, height: u32) -> Result<Vec<BBox>, (usize, String)> {
    let (w, h) = (width as f32, height as f32);
    let mut gaps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let v: Vec<f32> = fields[1..]
            .iter()
            .map(|f| f.parse::<f32>().ok().filter(|x| x.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| (line, format!("{raw:?} holds a value that is not a number")))?;
        let b = match v.len() {
            4 => BBox::from_center(v[0] * w, v[1] * h, v[2] * w, v[3] * h),
            n if n >= 6 && n % 2 == 0 => {
                let (xs, ys): (Vec<f32>, Vec<f32>) = v.chunks(2).map(|p| (p[0], p[1])).unzip();
                let lo = |a: &[f32]| a.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = |a: &[f32]| a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                BBox::new(lo(&xs) * w, lo(&ys) * h, hi(&xs) * w, hi(&ys) * h)
            }
            n => {
                return Err((
                    line,
                    format!("{n} coordinates: a box has 4, a polygon an even number from 6"),
                ));
            }
        };
        gaps.push(b);
    }
    Ok(gaps)
}

/// A labelled photo: its pixels (BGR) and its gaps.
pub struct Photo {
    pub width: u32,
    pub height: u32,
    pub bgr: Vec<u8>,
    pub gaps: Vec<BBox>,
}

/// The image files of `dir/images` that have a label file in `dir/labels`, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, PhotoError> {
    let images = dir.join("images");
    let read = |path: &Path| {
        std::fs::read_dir(path).map_err(|source| PhotoError::Read {
            path: path.into(),
            source,
        })
    };
    let mut out = Vec::new();
    for entry in read(&images)? {
        let path = entry
            .map_err(|source| PhotoError::Read {
                path: images.clone(),
                source,
            })?
            .path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["jpg", "jpeg", "png"].contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let label = dir.join("labels").join(format!("{stem}.txt"));
        if label.is_file() {
            out.push((path, label));
        }
    }
    if out.is_empty() {
        return Err(PhotoError::Empty { dir: dir.into() });
    }
    out.sort();
    Ok(out)
}

/// Decodes one photo and its labels.
pub fn load(image: &Path, label: &Path) -> Result<Photo, PhotoError> {
    let decoded = image::open(image)
        .map_err(|e| PhotoError::Decode {
            path: image.into(),
            message: e.to_string(),
        })?
        .into_rgb8();
    let (width, height) = decoded.dimensions();
    let mut bgr = decoded.into_raw();
    bgr.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
    let text = std::fs::read_to_string(label).map_err(|source| PhotoError::Read {
        path: label.into(),
        source,
    })?;
    let gaps = parse_labels(&text, width, height).map_err(|(line, problem)| PhotoError::Label {
        path: label.into(),
        line,
        problem,
    })?;
    Ok(Photo {
        width,
        height,
        bgr,
        gaps,
    })
}

/// Cuts `photo` into `rows` × `bays` cells over the whole image: each cell as a `side`² RGB patch
/// appended to `patches`, and its truth (stocked, low, empty as 0, 1, 2) appended to `truth`.
pub fn cut(
    photo: &Photo,
    (rows, bays): (u32, u32),
    side: usize,
    patches: &mut Vec<u8>,
    truth: &mut Vec<usize>,
) {
    let (w, h) = (photo.width as f32, photo.height as f32);
    let Some(face) = Homography::unit_square_to(&[(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]) else {
        return;
    };
    let view = FrameView::packed(photo.width, photo.height, &photo.bgr);
    for cell in warp::cells(&face, rows, bays) {
        let start = patches.len();
        patches.resize(start + side * side * 3, 0);
        warp::sample(&view, &cell, side, &mut patches[start..]);
        let (l, t, r, b) = warp::bounds(&cell);
        let read = from_coverage(coverage(&BBox::new(l, t, r, b), &photo.gaps));
        truth.push(index(argmax(read)));
    }
}

#[derive(Debug, Serialize)]
pub struct PhotoReport {
    pub model: String,
    pub split: Split,
    /// Levels × bays over the whole photo.
    pub grid: [u32; 2],
    pub photos: usize,
    pub sources: usize,
    #[serde(flatten)]
    pub scores: CellScores,
    /// Photo level: a photo has a gap when one of its cells is empty; read so when one of its
    /// cells is read empty.
    pub photos_with_gap: usize,
    pub image_accuracy: f64,
    pub ms_per_photo: f64,
}

/// Scores `model` on the photos of `dir` in `split`, cut into `grid` cells. With `export`, also
/// writes the cut cells as `cells.rgb`, `labels.txt` and `sources.txt` (one line per cell), the
/// format `models/shelf/train.py` and `aisle shelf eval --cells` read.
pub fn evaluate(
    model: &mut CellModel,
    dir: &Path,
    split: Split,
    grid: (u32, u32),
    export: Option<&Path>,
) -> Result<PhotoReport, PhotoError> {
    let side = model.side();
    let mut confusion = [[0usize; 3]; 3];
    let (mut photos, mut with_gap, mut photos_right) = (0usize, 0usize, 0usize);
    let mut sources = std::collections::BTreeSet::new();
    let (mut patches, mut truth, mut probs) = (Vec::new(), Vec::new(), Vec::new());
    let mut exported = Exported::default();
    let t0 = Instant::now();
    for (image, label) in list(dir)? {
        let name = image.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let source = source_of(name).to_string();
        let keep = match split {
            Split::HeldOut => held_out(&source),
            Split::Train => !held_out(&source),
            Split::All => true,
        };
        if !keep {
            continue;
        }
        let photo = load(&image, &label)?;
        patches.clear();
        truth.clear();
        cut(&photo, grid, side, &mut patches, &mut truth);
        model.classify(&patches, &mut probs)?;
        let read: Vec<usize> = probs.iter().map(|p| index(argmax(*p))).collect();
        for (&t, &r) in truth.iter().zip(&read) {
            confusion[t][r] += 1;
        }
        let (has, seen) = (truth.contains(&2), read.contains(&2));
        with_gap += usize::from(has);
        photos_right += usize::from(has == seen);
        photos += 1;
        if export.is_some() {
            exported.add(&patches, &truth, &source);
        }
        sources.insert(source);
    }
    if let Some(out) = export {
        exported.write(out)?;
    }
    Ok(PhotoReport {
        model: model.manifest().name.clone(),
        split,
        grid: [grid.0, grid.1],
        photos,
        sources: sources.len(),
        scores: CellScores::from_confusion(confusion),
        photos_with_gap: with_gap,
        image_accuracy: share(photos_right, photos),
        ms_per_photo: t0.elapsed().as_secs_f64() * 1e3 / photos.max(1) as f64,
    })
}

/// Cells cut for training, kept until written.
#[derive(Default)]
struct Exported {
    cells: Vec<u8>,
    labels: String,
    sources: String,
}

impl Exported {
    fn add(&mut self, patches: &[u8], truth: &[usize], source: &str) {
        self.cells.extend_from_slice(patches);
        for &t in truth {
            self.labels.push_str(LABELS[t]);
            self.labels.push('\n');
            self.sources.push_str(source);
            self.sources.push('\n');
        }
    }

    fn write(&self, dir: &Path) -> Result<(), PhotoError> {
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| PhotoError::Write { path, source })
        };
        std::fs::create_dir_all(dir).map_err(|source| PhotoError::Write {
            path: dir.into(),
            source,
        })?;
        write("cells.rgb", &self.cells)?;
        write("labels.txt", self.labels.as_bytes())?;
        write("sources.txt", self.sources.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_the_name_before_the_export_suffix() {
        assert_eq!(source_of("1-100_jpg.rf.2006a7d9abf5.jpg"), "1-100");
        assert_eq!(source_of("shelf_7.png"), "shelf_7");
    }

    #[test]
    fn every_export_of_a_photo_lands_on_the_same_side_of_the_split() {
        let a = held_out(source_of("31-100_jpg.rf.1795b376a0e8.jpg"));
        let b = held_out(source_of("31-100_jpg.rf.ffffffffffff.jpg"));
        assert_eq!(a, b);
        let out = (0..1000).filter(|i| held_out(&format!("{i}-1"))).count();
        assert!((150..250).contains(&out), "{out} of 1000 held out");
    }

    #[test]
    fn polygons_and_boxes_become_pixel_boxes_and_bad_rows_are_named() {
        let gaps = parse_labels(
            "0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n0 0.5 0.5 0.2 0.4\n",
            100,
            200,
        )
        .unwrap();
        let near = |a: BBox, b: BBox| {
            [(a.x0, b.x0), (a.y0, b.y0), (a.x1, b.x1), (a.y1, b.y1)]
                .iter()
                .all(|(p, q)| (p - q).abs() < 1e-3)
        };
        assert!(
            near(gaps[0], BBox::new(10.0, 40.0, 30.0, 120.0)),
            "{gaps:?}"
        );
        assert!(
            near(gaps[1], BBox::new(40.0, 60.0, 60.0, 140.0)),
            "{gaps:?}"
        );
        assert_eq!(parse_labels("0 0.1 x 0.3 0.4", 10, 10).unwrap_err().0, 1);
        assert!(
            parse_labels("\n0 0.1 0.2 0.3", 10, 10)
                .unwrap_err()
                .1
                .contains("3 coordinates")
        );
    }

    #[test]
    fn a_cell_is_empty_when_gaps_cover_most_of_its_width() {
        let photo = Photo {
            width: 40,
            height: 20,
            bgr: vec![0; 40 * 20 * 3],
            // The left half of the top row entirely, the top right cell for a quarter.
            gaps: vec![
                BBox::new(0.0, 0.0, 20.0, 10.0),
                BBox::new(20.0, 0.0, 25.0, 10.0),
            ],
        };
        let (mut patches, mut truth) = (Vec::new(), Vec::new());
        cut(&photo, (2, 2), 8, &mut patches, &mut truth);
        assert_eq!(truth, vec![2, 0, 0, 0]);
        assert_eq!(patches.len(), 4 * 8 * 8 * 3);
    }
}
