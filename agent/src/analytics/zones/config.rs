//! Zones as configs write them. A zone is one of four kinds, each with its own geometry
//! ([`Shape`]): a field that belongs to another kind (`rows` on an area) is refused when the
//! config is read, like any unknown field; what the geometry must satisfy is checked by
//! [`ZoneConfig::problems`], with every other problem of the config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analytics::geometry::{Point, self_intersects};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// People per zone and a congestion level.
    Area,
    /// Directional in/out counts across a line.
    Line,
    /// A checkout queue: a queue area and a service line.
    Queue,
    /// A shelf face: its fill ratio and which of its cells are empty (`crate::shelf`).
    Shelf,
}

impl ZoneKind {
    /// The name configs and rules use (`queue`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Area => "area",
            Self::Line => "line",
            Self::Queue => "queue",
            Self::Shelf => "shelf",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        [Self::Area, Self::Line, Self::Queue, Self::Shelf]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// 0..1 of the frame's width and height: survives a camera resolution change.
    #[default]
    Normalized,
    Pixels,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Congestion {
    /// Occupancy at which the level becomes medium.
    pub medium: u32,
    /// Occupancy at which the level becomes high.
    pub high: u32,
    /// People below a threshold before the level drops back (so counts that flicker do not flap).
    #[serde(default = "one")]
    pub hysteresis: u32,
    /// Seconds a new level must hold before it is reported.
    #[serde(default = "ten")]
    pub min_duration_s: f64,
}

fn one() -> u32 {
    1
}
fn ten() -> f64 {
    10.0
}

/// Most levels or bays a shelf zone may have: a cell must stay large enough to read.
pub const MAX_SHELF_SPLIT: u32 = 16;

/// People per zone, and optionally a congestion level.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaShape {
    pub polygon: Vec<[f32; 2]>,
    pub congestion: Option<Congestion>,
}

/// Directional counts across a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct LineShape {
    /// `[A, B]`. "in" is a crossing to the right-hand side of A → B as drawn on the image.
    pub line: Vec<[f32; 2]>,
    /// Distance from the line within which a foot point does not change side; `None`: 1 % of
    /// the frame (normalized units) or 5 pixels.
    pub band: Option<f32>,
}

/// A checkout queue: who waits in the polygon, served when they cross the service line.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueShape {
    pub polygon: Vec<[f32; 2]>,
    pub service_line: Vec<[f32; 2]>,
}

/// A shelf face split into levels and bays.
#[derive(Debug, Clone, PartialEq)]
pub struct ShelfShape {
    /// Top-left, top-right, bottom-right, bottom-left, as the camera sees them.
    pub polygon: Vec<[f32; 2]>,
    pub rows: u32,
    pub bays: u32,
}

/// A zone's kind with the geometry only that kind has.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Area(AreaShape),
    Line(LineShape),
    Queue(QueueShape),
    Shelf(ShelfShape),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "RawZone", into = "RawZone")]
pub struct ZoneConfig {
    pub name: String,
    pub units: Units,
    pub shape: Shape,
}

/// A zone as written in TOML: every kind's fields side by side, so that a type error names its
/// field (`cameras[0].zones[2].polygon[0]`) before the kind sorts them out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: String,
    kind: ZoneKind,
    #[serde(default)]
    units: Units,
    /// Area, queue and shelf outline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    polygon: Vec<[f32; 2]>,
    /// Line zones: `[A, B]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    line: Vec<[f32; 2]>,
    /// Queue zones: crossing this segment from inside the queue means served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    service_line: Vec<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    band: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    congestion: Option<Congestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bays: Option<u32>,
}

impl TryFrom<RawZone> for ZoneConfig {
    type Error = String;

    fn try_from(r: RawZone) -> Result<Self, String> {
        let kind = r.kind.name();
        let present = [
            (
                "polygon",
                !r.polygon.is_empty(),
                "area, queue and shelf zones",
            ),
            ("line", !r.line.is_empty(), "line zones"),
            ("service_line", !r.service_line.is_empty(), "queue zones"),
            ("band", r.band.is_some(), "line zones"),
            ("congestion", r.congestion.is_some(), "area zones"),
            ("rows", r.rows.is_some(), "shelf zones"),
            ("bays", r.bays.is_some(), "shelf zones"),
        ];
        let own: &[&str] = match r.kind {
            ZoneKind::Area => &["polygon", "congestion"],
            ZoneKind::Line => &["line", "band"],
            ZoneKind::Queue => &["polygon", "service_line"],
            ZoneKind::Shelf => &["polygon", "rows", "bays"],
        };
        let foreign: Vec<String> = present
            .iter()
            .filter(|(field, set, _)| *set && !own.contains(field))
            .map(|(field, _, whose)| format!("`{field}` (only {whose} have it)"))
            .collect();
        if !foreign.is_empty() {
            let article = if r.kind == ZoneKind::Area { "an" } else { "a" };
            return Err(format!(
                "zone {:?} is {article} {kind} zone and cannot have {}",
                r.name,
                foreign.join(", ")
            ));
        }
        let shape = match r.kind {
            ZoneKind::Area => Shape::Area(AreaShape {
                polygon: r.polygon,
                congestion: r.congestion,
            }),
            ZoneKind::Line => Shape::Line(LineShape {
                line: r.line,
                band: r.band,
            }),
            ZoneKind::Queue => Shape::Queue(QueueShape {
                polygon: r.polygon,
                service_line: r.service_line,
            }),
            ZoneKind::Shelf => Shape::Shelf(ShelfShape {
                polygon: r.polygon,
                rows: r.rows.unwrap_or(1),
                bays: r.bays.unwrap_or(1),
            }),
        };
        Ok(Self {
            name: r.name,
            units: r.units,
            shape,
        })
    }
}

impl From<ZoneConfig> for RawZone {
    fn from(z: ZoneConfig) -> Self {
        let mut r = RawZone {
            name: z.name,
            kind: ZoneKind::Area,
            units: z.units,
            polygon: Vec::new(),
            line: Vec::new(),
            service_line: Vec::new(),
            band: None,
            congestion: None,
            rows: None,
            bays: None,
        };
        match z.shape {
            Shape::Area(a) => (r.polygon, r.congestion) = (a.polygon, a.congestion),
            Shape::Line(l) => (r.kind, r.line, r.band) = (ZoneKind::Line, l.line, l.band),
            Shape::Queue(q) => {
                (r.kind, r.polygon, r.service_line) = (ZoneKind::Queue, q.polygon, q.service_line)
            }
            Shape::Shelf(s) => {
                (r.kind, r.polygon) = (ZoneKind::Shelf, s.polygon);
                (r.rows, r.bays) = (Some(s.rows), Some(s.bays));
            }
        }
        r
    }
}

impl ZoneConfig {
    pub fn kind(&self) -> ZoneKind {
        match self.shape {
            Shape::Area(_) => ZoneKind::Area,
            Shape::Line(_) => ZoneKind::Line,
            Shape::Queue(_) => ZoneKind::Queue,
            Shape::Shelf(_) => ZoneKind::Shelf,
        }
    }

    /// The outline of an area, queue or shelf zone; empty for a line.
    pub fn polygon(&self) -> &[[f32; 2]] {
        match &self.shape {
            Shape::Area(a) => &a.polygon,
            Shape::Queue(q) => &q.polygon,
            Shape::Shelf(s) => &s.polygon,
            Shape::Line(_) => &[],
        }
    }

    /// A line zone's segment; empty for other kinds.
    pub fn line(&self) -> &[[f32; 2]] {
        match &self.shape {
            Shape::Line(l) => &l.line,
            _ => &[],
        }
    }

    /// A queue zone's service line; empty for other kinds.
    pub fn service_line(&self) -> &[[f32; 2]] {
        match &self.shape {
            Shape::Queue(q) => &q.service_line,
            _ => &[],
        }
    }

    /// A shelf zone's levels and bays; 1 × 1 for other kinds.
    pub fn split(&self) -> (u32, u32) {
        self.shelf().map_or((1, 1), |s| (s.rows, s.bays))
    }

    pub fn shelf(&self) -> Option<&ShelfShape> {
        match &self.shape {
            Shape::Shelf(s) => Some(s),
            _ => None,
        }
    }

    /// The factors from the zone's units to pixels of a `w`×`h` frame.
    pub fn scale(&self, w: u32, h: u32) -> (f32, f32) {
        match self.units {
            Units::Normalized => (w as f32, h as f32),
            Units::Pixels => (1.0, 1.0),
        }
    }

    /// `pts` (one of the zone's point lists) in pixels of a `w`×`h` frame.
    pub fn to_pixels(&self, pts: &[[f32; 2]], w: u32, h: u32) -> Vec<Point> {
        let (sx, sy) = self.scale(w, h);
        pts.iter().map(|&[x, y]| (x * sx, y * sy)).collect()
    }

    /// Every problem of the zone's geometry, each as (field suffix, reason).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut bad = |f: &str, r: String| p.push((f.to_string(), r));
        let outside = |pts: &[[f32; 2]]| {
            self.units == Units::Normalized
                && pts
                    .iter()
                    .any(|[x, y]| !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y))
        };
        let within = "lies outside the frame (normalized coordinates must be within 0..1)";
        let polygon = self.polygon();
        if self.kind() != ZoneKind::Line {
            let pts: Vec<Point> = polygon.iter().map(|&[x, y]| (x, y)).collect();
            if pts.len() < 3 {
                bad(
                    "polygon",
                    format!(
                        "a {} zone needs a polygon of at least 3 points",
                        self.kind().name()
                    ),
                );
            } else if self_intersects(&pts) {
                bad("polygon", "is self-intersecting".into());
            }
            if outside(polygon) {
                bad("polygon", within.into());
            }
        }
        let mut segment = |f: &str, pts: &[[f32; 2]]| {
            if pts.len() != 2 || pts[0] == pts[1] {
                bad(f, "needs exactly two distinct points".into());
            } else if outside(pts) {
                bad(f, within.into());
            }
        };
        match &self.shape {
            Shape::Line(l) => {
                segment("line", &l.line);
                if let Some(b) = l.band
                    && (b.is_nan() || b < 0.0)
                {
                    p.push(("band".into(), format!("{b} must be 0 or more")));
                }
            }
            Shape::Queue(q) => segment("service_line", &q.service_line),
            Shape::Shelf(s) => {
                if s.polygon.len() != 4 {
                    p.push((
                        "polygon".into(),
                        format!(
                            "a shelf zone needs exactly 4 corners (top-left, top-right, bottom-right, bottom-left), found {}",
                            s.polygon.len()
                        ),
                    ));
                }
                for (f, n) in [("rows", s.rows), ("bays", s.bays)] {
                    if !(1..=MAX_SHELF_SPLIT).contains(&n) {
                        p.push((
                            f.into(),
                            format!("{n} must be within 1..={MAX_SHELF_SPLIT}"),
                        ));
                    }
                }
            }
            Shape::Area(a) => {
                if let Some(c) = &a.congestion {
                    p.extend(congestion_problems(c));
                }
            }
        }
        p
    }
}

fn congestion_problems(c: &Congestion) -> Vec<(String, String)> {
    let mut p = Vec::new();
    if c.medium == 0 || c.medium >= c.high {
        p.push((
            "congestion".into(),
            format!("need 0 < medium ({}) < high ({})", c.medium, c.high),
        ));
    }
    if c.hysteresis >= c.medium.max(1) {
        p.push((
            "congestion.hysteresis".into(),
            format!("{} must be below medium ({})", c.hysteresis, c.medium),
        ));
    }
    if c.min_duration_s.is_nan() || c.min_duration_s < 0.0 {
        p.push((
            "congestion.min_duration_s".into(),
            "must be 0 or more".into(),
        ));
    }
    p
}
