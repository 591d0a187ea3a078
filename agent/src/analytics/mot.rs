//! The MOTChallenge text format (`frame,id,left,top,width,height,conf,…`, 1-based frames, pixel
//! boxes): how detections and tracks go in and out of `aisle replay` and `aisle simulate`, so
//! every stage after the detector can be scored against ground truth with standard tools
//! (`py-motmetrics`). A local evaluation format only: tracks never leave the box.

use std::io::Write;

use thiserror::Error;

use crate::detect::{BBox, Detection};

#[derive(Debug, Error, PartialEq)]
pub enum MotError {
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
}

/// One box of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotRow {
    /// 1-based, as in MOTChallenge files.
    pub frame: u64,
    /// Track identity; -1 for detections, which have none.
    pub id: i64,
    pub bbox: BBox,
    /// Detection score; ground truth uses it as a "consider" flag (0 = ignore).
    pub conf: f32,
}

impl MotRow {
    /// The row as a person detection; a negative `conf` (MOT's "no score", as in ground truth
    /// fed in as perfect detections) scores 1.
    pub fn detection(&self) -> Detection {
        Detection {
            class: 0,
            score: if self.conf < 0.0 { 1.0 } else { self.conf },
            bbox: self.bbox,
        }
    }
}

/// The last frame number a file may name: 4.6 days at 25 fps. Frames between rows are replayed
/// as empty, so one absurd number (4294967295) would otherwise replay for days.
pub const MAX_FRAME: u64 = 10_000_000;

const FIELDS: [&str; 7] = ["frame", "id", "left", "top", "width", "height", "conf"];

/// Parses a MOT file. Blank lines are skipped; a row with fewer than six fields, a field that is
/// not a number, frame 0, or a negative size is an error naming the line and the field. A missing
/// `conf` reads as 1 (ground truth written without it).
pub fn parse(text: &str) -> Result<Vec<MotRow>, MotError> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let err = |problem: String| MotError::Line { line, problem };
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        if fields.len() < 6 {
            return Err(err(format!(
                "{} fields, need at least 6 (frame,id,left,top,width,height)",
                fields.len()
            )));
        }
        let mut v = [1.0f64; 7];
        for (k, slot) in v.iter_mut().enumerate().take(fields.len().min(7)) {
            *slot = fields[k]
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| err(format!("{} {:?} is not a number", FIELDS[k], fields[k])))?;
        }
        if v[0] < 1.0 || v[0].fract() != 0.0 || v[0] > MAX_FRAME as f64 {
            return Err(err(format!(
                "frame {} must be a whole number from 1 to {MAX_FRAME}",
                fields[0]
            )));
        }
        if v[1].fract() != 0.0 {
            return Err(err(format!("id {} must be a whole number", fields[1])));
        }
        if v[4] < 0.0 || v[5] < 0.0 {
            return Err(err("width and height must not be negative".into()));
        }
        let (x, y, w, h) = (v[2] as f32, v[3] as f32, v[4] as f32, v[5] as f32);
        rows.push(MotRow {
            frame: v[0] as u64,
            id: v[1] as i64,
            bbox: BBox::new(x, y, x + w, y + h),
            conf: v[6] as f32,
        });
    }
    rows.sort_by_key(|r| (r.frame, r.id));
    Ok(rows)
}

/// Rows grouped by frame, every frame from 1 to the last one that has a row (frames with no
/// box come out empty: time passes in them too).
pub fn frames(rows: &[MotRow]) -> impl Iterator<Item = (u64, &[MotRow])> {
    let last = rows.last().map_or(0, |r| r.frame);
    let mut rest = rows;
    (1..=last).map(move |frame| {
        let n = rest.iter().take_while(|r| r.frame == frame).count();
        let (now, later) = rest.split_at(n);
        rest = later;
        (frame, now)
    })
}

/// Writes one row: `frame,id,left,top,width,height,conf,-1,-1,-1`.
pub fn write_row(out: &mut dyn Write, row: &MotRow) -> std::io::Result<()> {
    let b = row.bbox;
    writeln!(
        out,
        "{},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
        row.frame,
        row.id,
        b.x0,
        b.y0,
        b.width(),
        b.height(),
        row.conf
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ground_truth_and_detections_and_sorts_by_frame() {
        let rows =
            parse("2,1,10,20,30,40,1,-1,-1\n\n1,-1,0.5,1.5,2,3,0.75\n1,7,0,0,1,1\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].frame, rows[0].id), (1, -1));
        assert_eq!(rows[0].bbox, BBox::new(0.5, 1.5, 2.5, 4.5));
        assert_eq!(rows[0].conf, 0.75);
        assert_eq!((rows[1].id, rows[1].conf), (7, 1.0));
        assert_eq!(rows[2].bbox, BBox::new(10.0, 20.0, 40.0, 60.0));
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            ("1,1,0,0,1\n", 1, "5 fields"),
            ("1,1,0,0,1,1\n1,x,0,0,1,1\n", 2, "id \"x\""),
            ("0,1,0,0,1,1\n", 1, "frame 0"),
            ("1.5,1,0,0,1,1\n", 1, "frame 1.5"),
            (
                "4294967295,1,0,0,1,1\n",
                1,
                "frame 4294967295 must be a whole number from 1 to",
            ),
            (
                "1,1,0,0,1,1\n99999999999999999999,1,0,0,1,1\n",
                2,
                "frame 99999999999999999999",
            ),
            ("1,1,0,0,-1,1\n", 1, "negative"),
            ("1,1,0,0,1,1,nan\n", 1, "conf \"nan\""),
        ];
        for (text, line, needle) in cases {
            let MotError::Line { line: got, problem } = parse(text).unwrap_err();
            assert_eq!(got, line, "{text:?}");
            assert!(problem.contains(needle), "{text:?}: {problem}");
        }
    }

    #[test]
    fn a_row_without_a_score_is_a_certain_detection() {
        let rows = parse("1,-1,0,0,1,1,-1\n1,-1,0,0,1,1,0.25\n").unwrap();
        let scores: Vec<f32> = rows.iter().map(|r| r.detection().score).collect();
        assert_eq!(scores, vec![1.0, 0.25]);
    }

    #[test]
    fn frames_include_the_empty_ones() {
        let rows = parse("1,1,0,0,1,1\n1,2,0,0,1,1\n3,1,0,0,1,1\n").unwrap();
        let counts: Vec<(u64, usize)> = frames(&rows).map(|(f, r)| (f, r.len())).collect();
        assert_eq!(counts, vec![(1, 2), (2, 0), (3, 1)]);
    }

    #[test]
    fn written_rows_read_back() {
        let row = MotRow {
            frame: 4,
            id: 9,
            bbox: BBox::new(1.25, 2.5, 11.25, 22.5),
            conf: 0.5,
        };
        let mut out = Vec::new();
        write_row(&mut out, &row).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "4,9,1.25,2.50,10.00,20.00,0.500,-1,-1,-1\n"
        );
        assert_eq!(
            parse(std::str::from_utf8(&out).unwrap()).unwrap(),
            vec![row]
        );
    }
}
