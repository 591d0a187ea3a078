//! The simulated shoppers, frame by frame: arrivals through the door, stops on the floor, a lane
//! chosen by its length, a queue that moves up as the cashier serves, abandonment when patience
//! runs out, and the way out. Positions are in pixels; a person's box follows a simple
//! perspective (people lower in the frame are nearer and taller).

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};

use super::scenario::{Range, Scenario};
use crate::analytics::geometry::{Point, contains};
use crate::analytics::zones::ZoneConfig;
use crate::detect::BBox;

/// Box height as a share of the frame height, at the top and growing towards the bottom.
const HEIGHT_TOP: f32 = 0.10;
const HEIGHT_GROWTH: f32 = 0.08;
/// Width over height of a standing person's box.
const ASPECT: f32 = 0.42;

/// A person's box when standing at `foot` in a `w`×`h` frame, clipped to the frame.
pub fn person_box(foot: Point, w: u32, h: u32) -> BBox {
    let (fw, fh) = (w as f32, h as f32);
    let height = fh * (HEIGHT_TOP + HEIGHT_GROWTH * foot.1 / fh);
    let width = ASPECT * height;
    BBox::new(
        (foot.0 - width / 2.0).max(0.0),
        (foot.1 - height).max(0.0),
        (foot.0 + width / 2.0).min(fw),
        foot.1,
    )
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Walk(Point),
    Wait(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Shopping {
        buys: bool,
    },
    /// Assigned to a lane at `joined_s`; walks to its tail, then up the queue.
    Queueing {
        lane: usize,
        joined_s: f64,
        patience_s: f64,
        at_tail: bool,
    },
    Serving {
        lane: usize,
        until_s: f64,
    },
    Leaving,
}

#[derive(Debug, Clone)]
struct Person {
    id: u64,
    at: Point,
    speed: f32,
    route: VecDeque<Step>,
    phase: Phase,
}

/// A checkout lane resolved to pixels.
#[derive(Debug, Clone)]
struct LaneGeometry {
    /// Middle of the service line, and the unit direction from it into the queue.
    service_mid: Point,
    axis: Point,
    /// Where a shopper joins: just beyond the queue zone's far end.
    tail: Point,
    service_s: Range,
    open: bool,
    queue: Vec<u64>,
}

impl LaneGeometry {
    fn slot(&self, k: usize, spacing: f32) -> Point {
        let d = spacing * (0.6 + k as f32);
        (
            self.service_mid.0 + self.axis.0 * d,
            self.service_mid.1 + self.axis.1 * d,
        )
    }

    fn past_service(&self, spacing: f32) -> Point {
        (
            self.service_mid.0 - self.axis.0 * spacing,
            self.service_mid.1 - self.axis.1 * spacing,
        )
    }
}

/// The simulated scene; `step` advances it one frame.
pub struct World {
    width: u32,
    height: u32,
    dt: f64,
    spacing: f32,
    floor: Vec<Point>,
    door: (Point, Point),
    /// Unit normal of the door line pointing into the store.
    inward: Point,
    exit_path: Vec<Point>,
    lanes: Vec<LaneGeometry>,
    people: Vec<Person>,
    arrivals: VecDeque<f64>,
    next_id: u64,
    rng: StdRng,
    scenario: Scenario,
}

fn px(pts: &[[f32; 2]], w: u32, h: u32) -> Vec<Point> {
    pts.iter()
        .map(|&[x, y]| (x * w as f32, y * h as f32))
        .collect()
}

fn zone<'z>(zones: &'z [ZoneConfig], name: &str) -> &'z ZoneConfig {
    zones
        .iter()
        .find(|z| z.name == name)
        .unwrap_or_else(|| unreachable!("validated scenario names zone {name}"))
}

fn unit(v: Point) -> Point {
    let len = (v.0 * v.0 + v.1 * v.1).sqrt().max(1e-6);
    (v.0 / len, v.1 / len)
}

fn draw(rng: &mut StdRng, [lo, hi]: Range) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

impl World {
    /// The scene of a validated scenario over the given camera zones.
    pub fn new(scenario: &Scenario, zones: &[ZoneConfig]) -> Self {
        let [w, h] = scenario.size;
        let fh = h as f32;
        let spacing = scenario.shoppers.spacing as f32 * fh;
        let door = px(zone(zones, &scenario.store.entrance).line(), w, h);
        let (a, b) = (door[0], door[1]);
        // "in" is the right-hand side of A → B on the image.
        let inward = unit((-(b.1 - a.1), b.0 - a.0));
        let lanes = scenario
            .lanes
            .iter()
            .map(|lane| {
                let z = zone(zones, &lane.zone);
                let poly = px(z.polygon(), w, h);
                let s = px(z.service_line(), w, h);
                let mid = ((s[0].0 + s[1].0) / 2.0, (s[0].1 + s[1].1) / 2.0);
                let n = poly.len() as f32;
                let centroid = poly
                    .iter()
                    .fold((0.0, 0.0), |c, p| (c.0 + p.0 / n, c.1 + p.1 / n));
                let axis = unit((centroid.0 - mid.0, centroid.1 - mid.1));
                let extent = poly
                    .iter()
                    .map(|p| (p.0 - mid.0) * axis.0 + (p.1 - mid.1) * axis.1)
                    .fold(0.0_f32, f32::max);
                let beyond = extent + spacing * 0.6;
                LaneGeometry {
                    service_mid: mid,
                    axis,
                    tail: (mid.0 + axis.0 * beyond, mid.1 + axis.1 * beyond),
                    service_s: lane.service_s,
                    open: lane.open,
                    queue: Vec::new(),
                }
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(scenario.seed);
        let arrivals = arrival_times(scenario, &mut rng);
        Self {
            width: w,
            height: h,
            dt: 1.0 / scenario.fps,
            spacing,
            floor: px(zone(zones, &scenario.store.floor).polygon(), w, h),
            door: (a, b),
            inward,
            exit_path: scenario
                .store
                .exit_path
                .iter()
                .map(|&[x, y]| (x as f32 * w as f32, y as f32 * fh))
                .collect(),
            lanes,
            people: Vec::new(),
            arrivals,
            next_id: 1,
            rng,
            scenario: scenario.clone(),
        }
    }

    /// Advances to frame `index` (0-based) and returns each person's id and box.
    pub fn step(&mut self, index: u64, out: &mut Vec<(u64, BBox)>) {
        let now = index as f64 * self.dt;
        while self.arrivals.front().is_some_and(|&t| t <= now) {
            self.arrivals.pop_front();
            self.arrive();
        }
        for i in 0..self.people.len() {
            self.decide(i, now);
            self.walk(i);
        }
        self.people
            .retain(|p| !(p.phase == Phase::Leaving && p.route.is_empty()));
        out.clear();
        out.extend(
            self.people
                .iter()
                .map(|p| (p.id, person_box(p.at, self.width, self.height))),
        );
    }

    fn door_point(&mut self, inside: bool) -> Point {
        let t = self.rng.random_range(0.2..0.8_f32);
        let (a, b) = self.door;
        // Outside, shoppers are seen walking up to the door for a couple of seconds.
        let off = self.spacing * if inside { 1.0 } else { -2.5 };
        self.clamp((
            a.0 + (b.0 - a.0) * t + self.inward.0 * off,
            a.1 + (b.1 - a.1) * t + self.inward.1 * off,
        ))
    }

    fn clamp(&self, p: Point) -> Point {
        (
            p.0.clamp(1.0, self.width as f32 - 1.0),
            p.1.clamp(1.0, self.height as f32 - 1.0),
        )
    }

    fn floor_point(&mut self) -> Point {
        let (lo, hi) = self.floor.iter().fold(
            ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN)),
            |(lo, hi), p| {
                (
                    (lo.0.min(p.0), lo.1.min(p.1)),
                    (hi.0.max(p.0), hi.1.max(p.1)),
                )
            },
        );
        // A valid polygon can still be flat (collinear points): give up on sampling after a while
        // and use a corner rather than loop for ever.
        for _ in 0..10_000 {
            let p = (
                self.rng.random_range(lo.0..=hi.0),
                self.rng.random_range(lo.1..=hi.1),
            );
            if contains(&self.floor, p) {
                return p;
            }
        }
        self.floor[0]
    }

    fn arrive(&mut self) {
        let s = self.scenario.shoppers.clone();
        let start = self.door_point(false);
        let mut route = VecDeque::from([Step::Walk(self.door_point(true))]);
        for _ in 0..self.rng.random_range(s.stops[0]..=s.stops[1]) {
            route.push_back(Step::Walk(self.floor_point()));
            route.push_back(Step::Wait(draw(&mut self.rng, s.stop_s)));
        }
        let buys = self.rng.random_bool(s.buy_share);
        let speed = draw(&mut self.rng, s.speed) as f32 * self.height as f32;
        self.people.push(Person {
            id: self.next_id,
            at: start,
            speed,
            route,
            phase: Phase::Shopping { buys },
        });
        self.next_id += 1;
    }

    /// Moves a person's plan on when its route has run out or its queue has moved.
    fn decide(&mut self, i: usize, now: f64) {
        let person = &self.people[i];
        let id = person.id;
        match person.phase {
            Phase::Shopping { buys } if person.route.is_empty() => {
                let lane = self
                    .lanes
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.open)
                    .min_by_key(|(_, l)| l.queue.len())
                    .map(|(k, _)| k);
                match lane {
                    Some(lane) if buys => {
                        let patience_s = draw(&mut self.rng, self.scenario.shoppers.patience_s);
                        self.lanes[lane].queue.push(id);
                        let tail = self.lanes[lane].tail;
                        let p = &mut self.people[i];
                        p.route.push_back(Step::Walk(tail));
                        p.phase = Phase::Queueing {
                            lane,
                            joined_s: now,
                            patience_s,
                            at_tail: false,
                        };
                    }
                    _ => self.leave(i, Vec::new()),
                }
            }
            Phase::Queueing {
                lane,
                joined_s,
                patience_s,
                at_tail,
            } => {
                let place = self.lanes[lane].queue.iter().position(|&q| q == id);
                let Some(place) = place else { return };
                if !at_tail && person.route.is_empty() {
                    self.people[i].phase = Phase::Queueing {
                        lane,
                        joined_s,
                        patience_s,
                        at_tail: true,
                    };
                }
                if !self.people[i].route.is_empty() {
                    return;
                }
                let slot = self.lanes[lane].slot(place, self.spacing);
                let arrived = dist(self.people[i].at, slot) < 0.5;
                if place == 0 && arrived {
                    let until_s = now + draw(&mut self.rng, self.lanes[lane].service_s);
                    self.people[i].phase = Phase::Serving { lane, until_s };
                } else if place > 0 && now - joined_s > patience_s {
                    self.lanes[lane].queue.remove(place);
                    let tail = self.lanes[lane].tail;
                    self.leave(i, vec![tail]);
                } else if !arrived {
                    self.people[i].route.push_back(Step::Walk(slot));
                }
            }
            Phase::Serving { lane, until_s } if now >= until_s => {
                self.lanes[lane].queue.retain(|&q| q != id);
                let mut way = vec![self.lanes[lane].past_service(self.spacing)];
                way.extend(self.exit_path.iter().copied());
                self.leave(i, way);
            }
            _ => {}
        }
    }

    fn leave(&mut self, i: usize, mut way: Vec<Point>) {
        way.push(self.door_point(true));
        way.push(self.door_point(false));
        let p = &mut self.people[i];
        p.route.clear();
        p.route.extend(way.into_iter().map(Step::Walk));
        p.phase = Phase::Leaving;
    }

    fn walk(&mut self, i: usize) {
        let dt = self.dt;
        let p = &mut self.people[i];
        let mut budget = p.speed * dt as f32;
        while let Some(step) = p.route.front_mut() {
            match step {
                Step::Wait(s) => {
                    *s -= dt;
                    if *s <= 0.0 {
                        p.route.pop_front();
                    }
                    return;
                }
                Step::Walk(to) => {
                    let d = dist(p.at, *to);
                    if d <= budget {
                        p.at = *to;
                        budget -= d;
                        p.route.pop_front();
                        if budget <= 0.0 {
                            return;
                        }
                    } else {
                        let u = unit((to.0 - p.at.0, to.1 - p.at.1));
                        p.at = (p.at.0 + u.0 * budget, p.at.1 + u.1 * budget);
                        return;
                    }
                }
            }
        }
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// Poisson arrivals with a rate that changes over the day, by thinning: candidates at the peak
/// rate, each kept with the share of the peak the rate is at then.
fn arrival_times(s: &Scenario, rng: &mut StdRng) -> VecDeque<f64> {
    let peak = s.arrivals.iter().map(|a| a[1] / 60.0).fold(0.0, f64::max);
    let mut times = VecDeque::new();
    let Ok(gap) = Exp::new(peak) else {
        return times;
    };
    let mut t = 0.0;
    loop {
        t += gap.sample(rng);
        if t >= s.duration_s {
            return times;
        }
        if rng.random_bool((s.rate_at(t) / peak).clamp(0.0, 1.0)) {
            times.push_back(t);
        }
    }
}
