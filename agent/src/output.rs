//! The line formats the CLI prints. Numbers are rounded to fixed decimals so output is stable
//! across runs and readable by people and scripts alike.

use std::fmt::Write as _;

use crate::detect::Detection;

/// Formats one processed frame as the `aisle detect` JSON line (without the newline) into `line`.
pub fn detections_line(
    line: &mut String,
    frame: u64,
    pts_ms: u64,
    dets: &[Detection],
    labels: &[String],
) {
    line.clear();
    let _ = write!(
        line,
        r#"{{"frame":{frame},"pts_ms":{pts_ms},"detections":["#
    );
    for (i, d) in dets.iter().enumerate() {
        let b = d.bbox;
        let label = labels
            .get(d.class as usize)
            .map_or("unknown", String::as_str);
        let label = serde_json::to_string(label).unwrap_or_else(|_| "\"?\"".into());
        let _ = write!(
            line,
            r#"{}{{"label":{label},"score":{:.3},"box":[{:.1},{:.1},{:.1},{:.1}]}}"#,
            if i > 0 { "," } else { "" },
            d.score,
            b.x0,
            b.y0,
            b.x1,
            b.y1
        );
    }
    line.push_str("]}");
}
