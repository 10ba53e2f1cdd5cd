//! Exact size-constrained assignment: successive shortest paths over the cluster graph.
//!
//! # Problem
//!
//! Assign each of `n` points to one of `k` clusters, point `i` to cluster `j` costing
//! `c[i][j]`, minimising the total cost subject to `min <= |cluster j| <= max`. This is a
//! transportation problem (points supply one unit each, clusters are sinks with bounded
//! intake), so its LP relaxation is integral and min-cost flow solves it exactly.
//!
//! # Lower bounds
//!
//! Each cluster's intake arc to the super sink `T` gets a convex piecewise-linear cost: the
//! first `min` units cost `-BIG`, the next `max - min` units cost 0, beyond `max` is
//! forbidden. With `BIG` larger than the spread of the costs, an optimal flow fills every
//! cluster to `min` whenever that is feasible (moving one point from an over-`min` cluster
//! to an under-`min` one would gain `BIG` and lose at most the spread), and among such
//! flows the `-BIG` terms are a constant, so it is optimal for the original problem. This
//! is the "required sink / optional sink" split, folded into one node per cluster because
//! the two sinks of a cluster have the same costs up to that constant.
//!
//! # Algorithm
//!
//! Points are added one at a time, as in the row-by-row Hungarian algorithm. The residual
//! graph needs only `k + 1` nodes: an arc `s -> j` means "move some point `y` from cluster
//! `s` to cluster `j`" and costs `min_{y in s} c[y][j] - c[y][s]`; an arc `j -> T` costs the
//! cluster's marginal intake cost. A new point `x` reaches cluster `j` directly at cost
//! `c[x][j]`. The shortest path from `x` to `T` (Dijkstra on reduced costs
//! `w + pi(u) - pi(v)`, kept non-negative by node potentials `pi`) is the cheapest way to
//! fit `x` in, possibly by pushing a chain of points one cluster further each. Augmenting
//! along a shortest path keeps the flow optimal for the points placed so far (no negative
//! cycle appears in the residual graph), so after the last point the assignment is optimal:
//! exactly, up to floating-point rounding in the cost sums.
//!
//! # Cost
//!
//! Most points go straight to their cheapest cluster in reduced cost; that case is detected
//! in `O(k)` without Dijkstra. The arc weights live in a dense `k x k` table: a point
//! joining a cluster updates its row in `O(k)`; a point leaving only marks the entries it
//! was the minimum of, which are recomputed from the cluster's members when Dijkstra next
//! reads that row. A Dijkstra run is `O(k^2)`. Memory is `O(n + k^2)`.

use std::cmp::Ordering;

const UNASSIGNED: u32 = u32::MAX;
/// Marker for "reached directly from the new point" in the Dijkstra predecessor array.
const FROM_SOURCE: usize = usize::MAX;

/// Solves the bounded assignment exactly. The caller has validated: `costs` is `n x k`
/// finite, `1 <= k <= n < u32::MAX`, `min <= max`, `k * min <= n <= k * max`, and the cost
/// spread stays finite when doubled.
pub(crate) fn solve(costs: &[f64], n: usize, k: usize, min: usize, max: usize) -> Vec<usize> {
    let (lo, hi) = costs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &c| {
            (lo.min(c), hi.max(c))
        });
    // Strictly larger than any cost difference; see the module docs.
    let big = 2.0 * (hi - lo) + 1.0;
    let mut pi = vec![0.0; k + 1];
    // Node k is the super sink T. Its potential must make every j -> T arc non-negative at
    // the start: reduced cost m+(j) + pi(j) - pi(T) >= 0 with m+(j) = -BIG if min > 0.
    pi[k] = if min > 0 { -big } else { 0.0 };
    let mut s = Solver {
        costs,
        k,
        min,
        max,
        big,
        assign: vec![UNASSIGNED; n],
        pos: vec![0; n],
        members: vec![Vec::new(); k],
        pi,
        arc_key: vec![f64::INFINITY; k * k],
        arc_point: vec![UNASSIGNED; k * k],
        stale: vec![false; k * k],
        row_stale: vec![false; k],
        dist: vec![0.0; k + 1],
        done: vec![false; k + 1],
        prev: vec![FROM_SOURCE; k + 1],
        via: vec![0; k + 1],
    };
    for x in 0..n {
        s.insert(x);
    }
    s.assign.iter().map(|&a| a as usize).collect()
}

/// Total order on candidate moves: smaller cost change first, then smaller point index, so
/// that the arc table is a function of the cluster contents only (determinism).
fn better(key: f64, point: u32, than_key: f64, than_point: u32) -> bool {
    match key.total_cmp(&than_key) {
        Ordering::Less => true,
        Ordering::Equal => point < than_point,
        Ordering::Greater => false,
    }
}

struct Solver<'a> {
    costs: &'a [f64],
    k: usize,
    min: usize,
    max: usize,
    big: f64,
    assign: Vec<u32>,
    /// Index of each assigned point in `members[assign[point]]`.
    pos: Vec<u32>,
    members: Vec<Vec<u32>>,
    pi: Vec<f64>,
    /// `arc_key[s * k + j]`: cheapest `c[y][j] - c[y][s]` over `y` in cluster `s` (+inf on
    /// the diagonal and for empty clusters), realised by point `arc_point[s * k + j]`.
    arc_key: Vec<f64>,
    arc_point: Vec<u32>,
    /// Entries whose minimiser left the cluster; recomputed on the next read.
    stale: Vec<bool>,
    row_stale: Vec<bool>,
    dist: Vec<f64>,
    done: Vec<bool>,
    prev: Vec<usize>,
    via: Vec<u32>,
}

impl Solver<'_> {
    fn cost_row(&self, i: usize) -> &[f64] {
        &self.costs[i * self.k..(i + 1) * self.k]
    }

    /// Marginal cost of one more point in cluster `j`; `None` when it is full.
    fn intake_cost(&self, j: usize) -> Option<f64> {
        let l = self.members[j].len();
        if l >= self.max {
            None
        } else if l < self.min {
            Some(-self.big)
        } else {
            Some(0.0)
        }
    }

    /// Brings row `s` of the arc table up to date.
    fn refresh_row(&mut self, s: usize) {
        if !self.row_stale[s] {
            return;
        }
        let k = self.k;
        for j in 0..k {
            let idx = s * k + j;
            if !self.stale[idx] {
                continue;
            }
            let (mut key, mut point) = (f64::INFINITY, UNASSIGNED);
            for &y in &self.members[s] {
                let c = self.cost_row(y as usize);
                let kk = c[j] - c[s];
                if better(kk, y, key, point) {
                    (key, point) = (kk, y);
                }
            }
            self.arc_key[idx] = key;
            self.arc_point[idx] = point;
            self.stale[idx] = false;
        }
        self.row_stale[s] = false;
    }

    /// Moves point `y` into cluster `j` (out of its current cluster, if any), keeping the
    /// member lists and the arc table consistent.
    fn place(&mut self, y: usize, j: usize) {
        let k = self.k;
        let yp = y as u32;
        if self.assign[y] != UNASSIGNED {
            let from = self.assign[y] as usize;
            let p = self.pos[y] as usize;
            self.members[from].swap_remove(p);
            if let Some(&moved) = self.members[from].get(p) {
                self.pos[moved as usize] = p as u32;
            }
            let row = from * k..(from + 1) * k;
            for (st, &pt) in self.stale[row.clone()].iter_mut().zip(&self.arc_point[row]) {
                if pt == yp {
                    *st = true;
                    self.row_stale[from] = true;
                }
            }
        }
        self.assign[y] = j as u32;
        self.pos[y] = self.members[j].len() as u32;
        self.members[j].push(yp);

        let c = &self.costs[y * k..(y + 1) * k];
        let base = c[j];
        let row = j * k..(j + 1) * k;
        for (t, ((key, point), &ct)) in self.arc_key[row.clone()]
            .iter_mut()
            .zip(&mut self.arc_point[row])
            .zip(c)
            .enumerate()
        {
            // A stale entry is recomputed from all members (y included) when read.
            if t != j && better(ct - base, yp, *key, *point) {
                *key = ct - base;
                *point = yp;
            }
        }
    }

    fn insert(&mut self, x: usize) {
        let k = self.k;
        let sink = k;
        // Labels reached directly from x: reduced cost of arc x -> j. They may be negative;
        // Dijkstra only needs the arcs *between* nodes to be non-negative.
        let mut best = 0;
        for j in 0..k {
            self.dist[j] = self.costs[x * k + j] - self.pi[j];
            self.prev[j] = FROM_SOURCE;
            self.done[j] = false;
            if self.dist[j] < self.dist[best] {
                best = j;
            }
        }
        // Fast path: if x's cheapest cluster takes it at zero reduced intake cost, the
        // path x -> best -> T is shortest (every other path starts no lower and only adds
        // non-negative arcs), and all potentials would move by the same constant.
        if let Some(m) = self.intake_cost(best) {
            if m + self.pi[best] - self.pi[sink] <= 0.0 {
                self.place(x, best);
                return;
            }
        }

        self.dist[sink] = f64::INFINITY;
        self.done[sink] = false;
        self.prev[sink] = FROM_SOURCE;
        loop {
            // Select the unfinished node with the smallest label; T wins ties so we stop
            // as early as possible.
            let mut s = sink;
            for j in 0..k {
                if !self.done[j] && self.dist[j] < self.dist[s] {
                    s = j;
                }
            }
            if s == sink {
                break;
            }
            self.done[s] = true;
            let ds = self.dist[s];
            let pis = self.pi[s];
            if let Some(m) = self.intake_cost(s) {
                let cand = ds + m + pis - self.pi[sink];
                if cand < self.dist[sink] {
                    self.dist[sink] = cand;
                    self.prev[sink] = s;
                }
            }
            self.refresh_row(s);
            let row = s * k..(s + 1) * k;
            for (j, (&key, &point)) in self.arc_key[row.clone()]
                .iter()
                .zip(&self.arc_point[row])
                .enumerate()
            {
                // The diagonal and moves out of an empty cluster have key +inf.
                let cand = ds + key + pis - self.pi[j];
                if !self.done[j] && cand < self.dist[j] {
                    self.dist[j] = cand;
                    self.prev[j] = s;
                    self.via[j] = point;
                }
            }
        }

        // Potentials: pi(v) += min(d(v), D) - D keeps every reduced cost non-negative
        // (nodes not finished have d >= D and are left alone; T itself never moves, which
        // keeps the potentials bounded).
        let d_sink = self.dist[sink];
        for j in 0..k {
            self.pi[j] += self.dist[j].min(d_sink) - d_sink;
        }

        // Augment: the last cluster on the path gains one point; every earlier hop moves
        // its recorded point one cluster further along the path. The recorded points are
        // distinct (one per cluster on a simple path), so the order of the moves is free.
        let mut j = self.prev[sink];
        while self.prev[j] != FROM_SOURCE {
            let y = self.via[j] as usize;
            let from = self.prev[j];
            self.place(y, j);
            j = from;
        }
        self.place(x, j);
    }
}
