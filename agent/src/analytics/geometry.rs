//! Plane geometry for zones, in frame pixels.

pub type Point = (f32, f32);

/// Twice the signed area of triangle `a, b, p`: positive when `p` is on the right-hand side of
/// `a → b` as drawn on an image (y grows downwards).
pub fn cross(a: Point, b: Point, p: Point) -> f32 {
    (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
}

/// Signed distance of `p` from the line through `a` and `b` (positive on the right-hand side).
pub fn signed_distance(a: Point, b: Point, p: Point) -> f32 {
    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    if len == 0.0 {
        0.0
    } else {
        cross(a, b, p) / len
    }
}

/// Whether closed segments `p1p2` and `q1q2` intersect (touching counts).
pub fn segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = cross(q1, q2, p1);
    let d2 = cross(q1, q2, p2);
    let d3 = cross(p1, p2, q1);
    let d4 = cross(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    let on = |a: Point, b: Point, p: Point| {
        cross(a, b, p) == 0.0
            && p.0 >= a.0.min(b.0)
            && p.0 <= a.0.max(b.0)
            && p.1 >= a.1.min(b.1)
            && p.1 <= a.1.max(b.1)
    };
    on(q1, q2, p1) || on(q1, q2, p2) || on(p1, p2, q1) || on(p1, p2, q2)
}

/// Even-odd point-in-polygon test.
pub fn contains(poly: &[Point], p: Point) -> bool {
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
            inside = !inside;
        }
    }
    inside
}

/// Whether any two non-adjacent edges of the polygon cross.
pub fn self_intersects(poly: &[Point]) -> bool {
    let n = poly.len();
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if !adjacent
                && segments_intersect(poly[i], poly[(i + 1) % n], poly[j], poly[(j + 1) % n])
            {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [Point; 4] = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];

    #[test]
    fn containment_of_a_square() {
        assert!(contains(&SQUARE, (5.0, 5.0)));
        assert!(!contains(&SQUARE, (15.0, 5.0)));
        assert!(!contains(&SQUARE, (5.0, -1.0)));
    }

    #[test]
    fn bow_tie_self_intersects_square_does_not() {
        assert!(!self_intersects(&SQUARE));
        assert!(self_intersects(&[
            (0.0, 0.0),
            (10.0, 10.0),
            (10.0, 0.0),
            (0.0, 10.0)
        ]));
    }

    #[test]
    fn right_hand_side_is_below_a_left_to_right_line() {
        assert!(signed_distance((0.0, 5.0), (10.0, 5.0), (3.0, 7.0)) > 0.0);
        assert!((signed_distance((0.0, 5.0), (10.0, 5.0), (3.0, 2.0)) + 3.0).abs() < 1e-6);
    }

    #[test]
    fn segment_intersection_is_finite() {
        assert!(segments_intersect(
            (0.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (10.0, 0.0)
        ));
        assert!(!segments_intersect(
            (0.0, 0.0),
            (1.0, 1.0),
            (5.0, 0.0),
            (5.0, 10.0)
        ));
    }
}
