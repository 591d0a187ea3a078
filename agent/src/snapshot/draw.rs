//! What the agent sees, drawn on a frame: zones with their names and live values, the way a line
//! counts `in`, shelf cells coloured by their reading, the detector's boxes with their scores and
//! the tracker's ids. Pure: a [`Scene`] in, pixels out, so every overlay is unit-tested.

use font8x8::UnicodeFonts;
use image::{Rgba, RgbaImage};
use imageproc::drawing::{
    Blend, draw_filled_rect_mut, draw_hollow_rect_mut, draw_line_segment_mut, draw_polygon_mut,
};
use imageproc::point::Point;
use imageproc::rect::Rect;

use crate::analytics::zones::{CellState, ZoneKind};
use crate::detect::BBox;

type Pt = (f32, f32);

/// One zone as drawn, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneShape {
    pub name: String,
    pub kind: ZoneKind,
    /// Area, queue and shelf outline.
    pub polygon: Vec<Pt>,
    /// Line zones: A → B; `in` is to the right-hand side.
    pub line: Option<(Pt, Pt)>,
    /// Queue zones: crossing it from inside means served.
    pub service_line: Option<(Pt, Pt)>,
    /// The live value beside the name, e.g. `3 people`.
    pub value: String,
    /// Shelf zones: each cell's corners and its last reading (`None`: not read yet or hidden).
    pub cells: Vec<([Pt; 4], Option<CellState>)>,
}

/// Everything drawn over one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scene {
    pub zones: Vec<ZoneShape>,
    /// The detector's boxes and scores.
    pub detections: Vec<(BBox, f32)>,
    /// Confirmed tracks seen this frame: id and box.
    pub tracks: Vec<(u64, BBox)>,
    /// Alerts on screen, oldest first: raised ones, and cleared ones for a moment.
    pub banners: Vec<Banner>,
}

/// An alert as a banner across the top of an annotated frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub text: String,
    /// Raised (red) or just cleared (green).
    pub raised: bool,
}

pub const AREA: Rgba<u8> = Rgba([60, 140, 255, 255]);
pub const LINE: Rgba<u8> = Rgba([255, 220, 0, 255]);
pub const QUEUE: Rgba<u8> = Rgba([255, 110, 200, 255]);
pub const SERVICE: Rgba<u8> = Rgba([255, 255, 255, 255]);
pub const SHELF: Rgba<u8> = Rgba([230, 230, 230, 255]);
pub const STOCKED: Rgba<u8> = Rgba([40, 200, 80, 255]);
pub const LOW: Rgba<u8> = Rgba([255, 170, 0, 255]);
pub const EMPTY: Rgba<u8> = Rgba([235, 40, 40, 255]);
pub const UNREAD: Rgba<u8> = Rgba([128, 128, 128, 255]);
pub const DETECTION: Rgba<u8> = Rgba([0, 230, 230, 255]);
pub const TRACK: Rgba<u8> = Rgba([120, 255, 120, 255]);
const LABEL_BG: Rgba<u8> = Rgba([0, 0, 0, 190]);
const TEXT: Rgba<u8> = Rgba([255, 255, 255, 255]);

/// Opacity of zone and cell fills: the scene stays visible under them.
const FILL_ALPHA: u8 = 70;

pub fn cell_colour(state: Option<CellState>) -> Rgba<u8> {
    match state {
        Some(CellState::Stocked) => STOCKED,
        Some(CellState::Low) => LOW,
        Some(CellState::Empty) => EMPTY,
        None => UNREAD,
    }
}

fn kind_colour(kind: ZoneKind) -> Rgba<u8> {
    match kind {
        ZoneKind::Area => AREA,
        ZoneKind::Line => LINE,
        ZoneKind::Queue => QUEUE,
        ZoneKind::Shelf => SHELF,
    }
}

fn with_alpha(c: Rgba<u8>, a: u8) -> Rgba<u8> {
    Rgba([c[0], c[1], c[2], a])
}

/// Draws `scene` over `frame`; text is scaled with the frame so it stays readable on 4K.
pub fn draw(frame: &mut RgbaImage, scene: &Scene) {
    let scale = (frame.width().max(frame.height()) / 640).clamp(1, 4) + 1;
    let mut canvas = Blend(std::mem::take(frame));
    for z in &scene.zones {
        let colour = kind_colour(z.kind);
        for (quad, state) in &z.cells {
            fill(
                &mut canvas,
                quad,
                with_alpha(cell_colour(*state), FILL_ALPHA + 40),
            );
            outline(&mut canvas, quad, cell_colour(*state), 1);
        }
        if z.kind != ZoneKind::Shelf && z.polygon.len() >= 3 {
            fill(&mut canvas, &z.polygon, with_alpha(colour, FILL_ALPHA));
        }
        outline(&mut canvas, &z.polygon, colour, scale);
        if let Some((a, b)) = z.line {
            thick_segment(&mut canvas, a, b, colour, scale + 1);
            in_arrow(&mut canvas, a, b, colour, scale);
        }
        if let Some((a, b)) = z.service_line {
            thick_segment(&mut canvas, a, b, SERVICE, scale);
        }
    }
    for (b, score) in &scene.detections {
        rect(&mut canvas, b, DETECTION, 1);
        label(
            &mut canvas,
            (b.x0, b.y1),
            &format!("{score:.2}"),
            DETECTION,
            scale.saturating_sub(1).max(1),
        );
    }
    for (id, b) in &scene.tracks {
        rect(&mut canvas, b, TRACK, 2);
        label(&mut canvas, (b.x0, b.y0), &format!("#{id}"), TRACK, scale);
    }
    // Alerts along the bottom edge, newest lowest, clear of the zone labels at the top.
    let line_height = (8 * scale + 8) as f32;
    let bottom = canvas.0.height() as f32;
    for (i, b) in scene.banners.iter().rev().enumerate() {
        let colour = if b.raised { EMPTY } else { STOCKED };
        label(
            &mut canvas,
            (0.0, bottom - line_height * i as f32),
            &b.text,
            colour,
            scale,
        );
    }
    for z in &scene.zones {
        let at = anchor(z);
        label(
            &mut canvas,
            at,
            &format!("{}: {}", z.name, z.value),
            kind_colour(z.kind),
            scale,
        );
    }
    *frame = canvas.0;
}

/// Where a zone's label goes: its first corner or line end, so labels of neighbours differ.
fn anchor(z: &ZoneShape) -> Pt {
    z.line
        .map(|(a, b)| if a.1 <= b.1 { a } else { b })
        .or_else(|| {
            z.polygon
                .iter()
                .copied()
                .min_by(|p, q| (p.1 + p.0 * 0.01).total_cmp(&(q.1 + q.0 * 0.01)))
        })
        .unwrap_or((0.0, 0.0))
}

fn fill(canvas: &mut Blend<RgbaImage>, poly: &[Pt], colour: Rgba<u8>) {
    let mut pts: Vec<Point<i32>> = poly
        .iter()
        .map(|&(x, y)| Point::new(x.round() as i32, y.round() as i32))
        .collect();
    pts.dedup();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() >= 3 {
        draw_polygon_mut(canvas, &pts, colour);
    }
}

fn outline(canvas: &mut Blend<RgbaImage>, poly: &[Pt], colour: Rgba<u8>, width: u32) {
    for (i, &a) in poly.iter().enumerate() {
        if poly.len() < 2 {
            break;
        }
        let b = poly[(i + 1) % poly.len()];
        thick_segment(canvas, a, b, colour, width);
    }
}

fn thick_segment(canvas: &mut Blend<RgbaImage>, a: Pt, b: Pt, colour: Rgba<u8>, width: u32) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-6);
    let (nx, ny) = (-dy / len, dx / len);
    let half = (width as f32 - 1.0) / 2.0;
    let steps = width.max(1);
    for i in 0..steps {
        let o = if steps == 1 {
            0.0
        } else {
            -half + i as f32 * (2.0 * half) / (steps - 1) as f32
        };
        draw_line_segment_mut(
            canvas,
            (a.0 + nx * o, a.1 + ny * o),
            (b.0 + nx * o, b.1 + ny * o),
            colour,
        );
    }
}

/// An arrow from the line's middle towards the side a crossing counts as `in`.
fn in_arrow(canvas: &mut Blend<RgbaImage>, a: Pt, b: Pt, colour: Rgba<u8>, scale: u32) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return;
    }
    // The right-hand side of A → B in image coordinates (y down): where `in` crossings go.
    let (nx, ny) = (-dy / len, dx / len);
    let size = (len * 0.15).clamp(12.0, 60.0) + 4.0 * scale as f32;
    let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let tip = (mid.0 + nx * size, mid.1 + ny * size);
    thick_segment(canvas, mid, tip, colour, scale + 1);
    let (ux, uy) = (dx / len, dy / len);
    let head = size * 0.4;
    let back = (tip.0 - nx * head, tip.1 - ny * head);
    fill(
        canvas,
        &[
            tip,
            (back.0 + ux * head * 0.6, back.1 + uy * head * 0.6),
            (back.0 - ux * head * 0.6, back.1 - uy * head * 0.6),
        ],
        colour,
    );
    label(canvas, (tip.0 + 4.0, tip.1 - 4.0), "in", colour, scale);
}

fn rect(canvas: &mut Blend<RgbaImage>, b: &BBox, colour: Rgba<u8>, width: u32) {
    for i in 0..width as i32 {
        let (x0, y0) = (b.x0.round() as i32 - i, b.y0.round() as i32 - i);
        let w = (b.x1 - b.x0).round().max(1.0) as u32 + 2 * i as u32;
        let h = (b.y1 - b.y0).round().max(1.0) as u32 + 2 * i as u32;
        draw_hollow_rect_mut(canvas, Rect::at(x0, y0).of_size(w, h), colour);
    }
}

/// `text` in an 8×8 bitmap font scaled by `scale`, on a dark box, with a coloured mark.
fn label(canvas: &mut Blend<RgbaImage>, at: Pt, text: &str, colour: Rgba<u8>, scale: u32) {
    let (w, h) = (canvas.0.width() as i32, canvas.0.height() as i32);
    let glyph = 8 * scale as i32;
    let width = glyph * (text.chars().count() as i32 + 1) + 4;
    let height = glyph + 4;
    let x = (at.0.round() as i32).clamp(0, (w - width).max(0));
    let y = (at.1.round() as i32 - height).clamp(0, (h - height).max(0));
    draw_filled_rect_mut(
        canvas,
        Rect::at(x, y).of_size(width as u32, height as u32),
        LABEL_BG,
    );
    draw_filled_rect_mut(
        canvas,
        Rect::at(x + 2, y + 2).of_size((glyph / 2).max(2) as u32, glyph as u32),
        colour,
    );
    for (i, c) in text.chars().enumerate() {
        let Some(rows) = font8x8::BASIC_FONTS.get(c) else {
            continue;
        };
        let gx = x + 2 + glyph * (i as i32 + 1);
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 1 {
                    draw_filled_rect_mut(
                        canvas,
                        Rect::at(gx + col * scale as i32, y + 2 + row as i32 * scale as i32)
                            .of_size(scale, scale),
                        TEXT,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_pixel(w, h, Rgba([50, 50, 50, 255]))
    }

    /// Whether `px`, drawn over the grey background, moved towards `colour` in every channel.
    fn tinted(px: Rgba<u8>, colour: Rgba<u8>) -> bool {
        px != Rgba([50, 50, 50, 255])
            && (0..3).all(|i| (px[i] as i32 - 50).signum() == (colour[i] as i32 - 50).signum())
    }

    fn area(name: &str, poly: Vec<Pt>) -> ZoneShape {
        ZoneShape {
            name: name.into(),
            kind: ZoneKind::Area,
            polygon: poly,
            line: None,
            service_line: None,
            value: "2 people".into(),
            cells: Vec::new(),
        }
    }

    #[test]
    fn an_area_is_tinted_inside_and_not_outside() {
        let mut img = grey(320, 240);
        let scene = Scene {
            zones: vec![area(
                "door",
                vec![
                    (100.0, 100.0),
                    (300.0, 100.0),
                    (300.0, 230.0),
                    (100.0, 230.0),
                ],
            )],
            ..Scene::default()
        };
        draw(&mut img, &scene);
        assert!(
            tinted(*img.get_pixel(200, 180), AREA),
            "inside: {:?}",
            img.get_pixel(200, 180)
        );
        assert_eq!(
            *img.get_pixel(50, 200),
            Rgba([50, 50, 50, 255]),
            "outside untouched"
        );
    }

    #[test]
    fn a_line_points_in_to_its_right_hand_side() {
        // Drawn left to right: `in` is walking down the image.
        let mut img = grey(400, 300);
        let scene = Scene {
            zones: vec![ZoneShape {
                name: "door".into(),
                kind: ZoneKind::Line,
                polygon: Vec::new(),
                line: Some(((50.0, 150.0), (350.0, 150.0))),
                service_line: None,
                value: "in 1 / out 0".into(),
                cells: Vec::new(),
            }],
            ..Scene::default()
        };
        draw(&mut img, &scene);
        let below = (160..200)
            .filter(|&y| *img.get_pixel(200, y) == LINE)
            .count();
        let above = (100..140)
            .filter(|&y| *img.get_pixel(200, y) == LINE)
            .count();
        assert!(
            below > 10 && above == 0,
            "arrow below {below}, above {above}"
        );
    }

    #[test]
    fn shelf_cells_take_the_colour_of_their_reading() {
        let mut img = grey(200, 100);
        let cell = |x0: f32, x1: f32| [(x0, 10.0), (x1, 10.0), (x1, 90.0), (x0, 90.0)];
        let scene = Scene {
            zones: vec![ZoneShape {
                name: "milk".into(),
                kind: ZoneKind::Shelf,
                polygon: vec![(0.0, 10.0), (200.0, 10.0), (200.0, 90.0), (0.0, 90.0)],
                line: None,
                service_line: None,
                value: "fill 50%".into(),
                cells: vec![
                    (cell(0.0, 100.0), Some(CellState::Stocked)),
                    (cell(100.0, 200.0), Some(CellState::Empty)),
                ],
            }],
            ..Scene::default()
        };
        draw(&mut img, &scene);
        let (l, r) = (*img.get_pixel(50, 70), *img.get_pixel(150, 70));
        assert!(l[1] > l[0] && l[1] > 100, "stocked is green: {l:?}");
        assert!(r[0] > r[1] && r[0] > 100, "empty is red: {r:?}");
    }

    #[test]
    fn boxes_and_ids_are_drawn_and_labels_stay_in_the_frame() {
        let mut img = grey(160, 120);
        let scene = Scene {
            zones: vec![area(
                "a-very-long-zone-name-at-the-edge",
                vec![(150.0, 0.0), (160.0, 0.0), (160.0, 10.0)],
            )],
            detections: vec![(BBox::new(20.0, 30.0, 60.0, 110.0), 0.87)],
            tracks: vec![(7, BBox::new(20.0, 30.0, 60.0, 110.0))],
            banners: Vec::new(),
        };
        draw(&mut img, &scene);
        assert_eq!(*img.get_pixel(20, 70), TRACK, "the track's box");
        let mut with_banner = grey(160, 120);
        let banner = Scene {
            banners: vec![Banner {
                text: "RAISED crowded".into(),
                raised: true,
            }],
            ..Scene::default()
        };
        draw(&mut with_banner, &banner);
        assert_eq!(
            *with_banner.get_pixel(3, 110),
            EMPTY,
            "a raised alert's red mark"
        );
        assert_eq!((img.width(), img.height()), (160, 120));
    }
}
