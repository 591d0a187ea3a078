//! Optimal one-to-one assignment (Hungarian method with potentials, O(n²m)) over buffers that
//! live as long as the tracker, so matching a crowd allocates nothing per frame. `pathfinding`'s
//! Kuhn–Munkres gives the same optimum but builds its matrix and work vectors on every call (31
//! allocations a frame with 30 people); it stays as the oracle the tests compare against.

/// Reusable work space; one per tracker.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    /// Row-major weights, `rows × cols`, with `rows <= cols`.
    weights: Vec<i64>,
    u: Vec<i64>,
    v: Vec<i64>,
    /// `owner[j]`: the 1-based row matched to column `j` (0 = none); column 0 is the sentinel.
    owner: Vec<usize>,
    way: Vec<usize>,
    min_slack: Vec<i64>,
    used: Vec<bool>,
}

impl Assignment {
    /// Work space for up to `rows` × `cols` without growing.
    pub fn with_capacity(rows: usize, cols: usize) -> Self {
        let (n, m) = (rows.min(cols), rows.max(cols));
        Self {
            weights: Vec::with_capacity(n * m),
            u: Vec::with_capacity(n + 1),
            v: Vec::with_capacity(m + 1),
            owner: Vec::with_capacity(m + 1),
            way: Vec::with_capacity(m + 1),
            min_slack: Vec::with_capacity(m + 1),
            used: Vec::with_capacity(m + 1),
        }
    }

    /// Appends to `out` the (row, col) pairs of a matching of maximum total weight between
    /// `rows` and `cols` items; pairs of weight 0 are left out, so 0 means "may not match".
    pub fn solve(
        &mut self,
        rows: usize,
        cols: usize,
        weight: impl Fn(usize, usize) -> i64,
        out: &mut Vec<(usize, usize)>,
    ) {
        if rows == 0 || cols == 0 {
            return;
        }
        // The method needs no more rows than columns; transpose otherwise.
        let transpose = rows > cols;
        let (n, m) = if transpose {
            (cols, rows)
        } else {
            (rows, cols)
        };
        self.weights.clear();
        for r in 0..n {
            for c in 0..m {
                let w = if transpose {
                    weight(c, r)
                } else {
                    weight(r, c)
                };
                self.weights.push(w);
            }
        }
        self.minimise(n, m);
        for j in 1..=m {
            let i = self.owner[j];
            if i == 0 || self.weights[(i - 1) * m + (j - 1)] <= 0 {
                continue;
            }
            out.push(if transpose {
                (j - 1, i - 1)
            } else {
                (i - 1, j - 1)
            });
        }
    }

    /// Minimises the total of `-weight` over a full assignment of the n rows.
    fn minimise(&mut self, n: usize, m: usize) {
        let reset = |v: &mut Vec<i64>, len: usize| {
            v.clear();
            v.resize(len, 0);
        };
        reset(&mut self.u, n + 1);
        reset(&mut self.v, m + 1);
        self.owner.clear();
        self.owner.resize(m + 1, 0);
        self.way.clear();
        self.way.resize(m + 1, 0);
        let cost = |w: &[i64], i: usize, j: usize| -w[(i - 1) * m + (j - 1)];
        for i in 1..=n {
            self.owner[0] = i;
            let mut j0 = 0;
            self.min_slack.clear();
            self.min_slack.resize(m + 1, i64::MAX);
            self.used.clear();
            self.used.resize(m + 1, false);
            loop {
                self.used[j0] = true;
                let i0 = self.owner[j0];
                let mut delta = i64::MAX;
                let mut j1 = 0;
                for j in 1..=m {
                    if self.used[j] {
                        continue;
                    }
                    let slack = cost(&self.weights, i0, j) - self.u[i0] - self.v[j];
                    if slack < self.min_slack[j] {
                        self.min_slack[j] = slack;
                        self.way[j] = j0;
                    }
                    if self.min_slack[j] < delta {
                        delta = self.min_slack[j];
                        j1 = j;
                    }
                }
                for j in 0..=m {
                    if self.used[j] {
                        self.u[self.owner[j]] += delta;
                        self.v[j] -= delta;
                    } else {
                        self.min_slack[j] -= delta;
                    }
                }
                j0 = j1;
                if self.owner[j0] == 0 {
                    break;
                }
            }
            while j0 != 0 {
                let j1 = self.way[j0];
                self.owner[j0] = self.owner[j1];
                j0 = j1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathfinding::kuhn_munkres::kuhn_munkres;
    use pathfinding::matrix::Matrix;
    use proptest::prelude::*;

    fn total(w: &[Vec<i64>], pairs: &[(usize, usize)]) -> i64 {
        pairs.iter().map(|&(r, c)| w[r][c]).sum()
    }

    #[test]
    fn picks_the_optimum_not_the_greedy_choice() {
        // Greedy gives row 0 its best column (60) and leaves row 1 with 0; the optimum is 105.
        let w = [[60i64, 50], [55, 0]];
        let mut out = Vec::new();
        Assignment::default().solve(2, 2, |r, c| w[r][c], &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn zero_weight_pairs_and_empty_sides_give_no_match() {
        let mut a = Assignment::default();
        let mut out = Vec::new();
        a.solve(2, 3, |_, _| 0, &mut out);
        a.solve(0, 3, |_, _| 1, &mut out);
        a.solve(3, 0, |_, _| 1, &mut out);
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn matches_pathfinding_on_any_shape(
            rows in 1usize..7,
            cols in 1usize..7,
            seed in prop::collection::vec(0i64..1000, 49),
        ) {
            let w: Vec<Vec<i64>> = (0..rows)
                .map(|r| (0..cols).map(|c| seed[r * 7 + c]).collect())
                .collect();
            let mut out = Vec::new();
            Assignment::default().solve(rows, cols, |r, c| w[r][c], &mut out);
            // pathfinding needs rows <= cols.
            let oracle = if rows <= cols {
                let m = Matrix::from_rows(w.clone()).unwrap();
                kuhn_munkres(&m).0
            } else {
                let t: Vec<Vec<i64>> = (0..cols).map(|c| (0..rows).map(|r| w[r][c]).collect()).collect();
                kuhn_munkres(&Matrix::from_rows(t).unwrap()).0
            };
            prop_assert_eq!(total(&w, &out), oracle);
            let mut seen_r = std::collections::HashSet::new();
            let mut seen_c = std::collections::HashSet::new();
            for &(r, c) in &out {
                prop_assert!(seen_r.insert(r) && seen_c.insert(c), "one-to-one");
                prop_assert!(w[r][c] > 0);
            }
        }
    }
}
