//! A min segment tree with range add, used for per-link gas and memory headroom.
//!
//! Positions are chain links. The machine adds a charge to the active prefix of the
//! chain in O(log n) and leaves parked links untouched, so a suffix of the chain can be
//! frozen and later resumed without visiting it.

/// Value of positions never set.
const UNSET: i128 = i128::MAX / 4;

/// Values at positions `0..capacity` supporting point get/set, prefix add, prefix min and
/// "first position below a bound": a plain array while the chain is short (most are a
/// root and a child or two), where each operation is a short loop, and a segment tree
/// beyond [`FLAT_MAX`] positions, where each is O(log n).
pub(super) enum MinTree {
    Flat(Vec<i128>),
    Tree(Segments),
}

/// The most positions [`MinTree::Flat`] holds.
const FLAT_MAX: usize = 16;

impl MinTree {
    pub(super) fn new() -> MinTree {
        MinTree::Flat(vec![UNSET; 1])
    }

    /// Makes room for position `pos`.
    pub(super) fn reserve(&mut self, pos: usize) {
        match self {
            MinTree::Flat(v) if pos < v.len() => {}
            MinTree::Flat(v) if pos < FLAT_MAX => v.resize((pos + 1).next_power_of_two(), UNSET),
            MinTree::Flat(v) => {
                let mut t = Segments::new();
                t.reserve(pos);
                for (p, x) in v.iter().enumerate() {
                    t.set(p, *x);
                }
                *self = MinTree::Tree(t);
            }
            MinTree::Tree(t) => t.reserve(pos),
        }
    }

    pub(super) fn get(&self, pos: usize) -> i128 {
        match self {
            MinTree::Flat(v) => v[pos],
            MinTree::Tree(t) => t.get(pos),
        }
    }

    pub(super) fn set(&mut self, pos: usize, value: i128) {
        match self {
            MinTree::Flat(v) => v[pos] = value,
            MinTree::Tree(t) => t.set(pos, value),
        }
    }

    /// Adds `x` to every position in `0..=last`.
    pub(super) fn add_prefix(&mut self, last: usize, x: i128) {
        match self {
            MinTree::Flat(v) => {
                let end = upto(v, last);
                v[..end].iter_mut().for_each(|p| *p += x);
            }
            MinTree::Tree(t) => t.add_prefix(last, x),
        }
    }

    /// The least value in `0..=last`.
    pub(super) fn min_prefix(&self, last: usize) -> i128 {
        match self {
            MinTree::Flat(v) => v[..upto(v, last)].iter().copied().min().unwrap_or(UNSET),
            MinTree::Tree(t) => t.min_prefix(last),
        }
    }

    /// The first position in `0..=last` whose value is below `bound`.
    pub(super) fn first_below(&self, last: usize, bound: i128) -> Option<usize> {
        match self {
            MinTree::Flat(v) => v[..upto(v, last)].iter().position(|p| *p < bound),
            MinTree::Tree(t) => t.first_below(last, bound),
        }
    }
}

/// The end of positions `0..=last` in `v`, as far as it reaches (as the segment tree,
/// which covers its whole capacity when `last` is past it).
fn upto(v: &[i128], last: usize) -> usize {
    v.len().min(last.saturating_add(1))
}

/// The segment tree: values at positions `0..capacity`, each operation in O(log n).
pub(super) struct Segments {
    /// Number of leaves, a power of two.
    size: usize,
    /// `min[n]`: the least value in node `n`'s subtree, including `add[n]` but not the
    /// adds of its ancestors. Leaves are at `size..2 * size`.
    min: Vec<i128>,
    /// Pending add of each internal node, applying to its whole subtree.
    add: Vec<i128>,
}

impl Segments {
    fn new() -> Segments {
        Segments {
            size: 1,
            min: vec![UNSET; 2],
            add: vec![0; 1],
        }
    }

    /// Makes room for position `pos`, doubling the capacity as needed.
    fn reserve(&mut self, pos: usize) {
        if pos < self.size {
            return;
        }
        let old: Vec<i128> = (0..self.size).map(|p| self.get(p)).collect();
        let mut size = self.size;
        while size <= pos {
            size *= 2;
        }
        *self = Segments {
            size,
            min: vec![UNSET; 2 * size],
            add: vec![0; size],
        };
        for (p, v) in old.into_iter().enumerate() {
            self.set(p, v);
        }
    }

    /// The sum of the pending adds above leaf `pos`.
    fn adds_above(&self, pos: usize) -> i128 {
        let mut n = (pos + self.size) / 2;
        let mut sum = 0;
        while n >= 1 {
            sum += self.add[n];
            n /= 2;
        }
        sum
    }

    fn get(&self, pos: usize) -> i128 {
        self.min[pos + self.size] + self.adds_above(pos)
    }

    fn set(&mut self, pos: usize, value: i128) {
        let leaf = pos + self.size;
        self.min[leaf] = value - self.adds_above(pos);
        let mut n = leaf / 2;
        while n >= 1 {
            self.min[n] = self.min[2 * n].min(self.min[2 * n + 1]) + self.add[n];
            n /= 2;
        }
    }

    /// Adds `x` to every position in `0..=last`.
    fn add_prefix(&mut self, last: usize, x: i128) {
        if x != 0 {
            self.add_range(1, 0, self.size - 1, last, x);
        }
    }

    fn add_range(&mut self, n: usize, lo: usize, hi: usize, last: usize, x: i128) {
        if lo > last {
            return;
        }
        if hi <= last {
            if n < self.size {
                self.add[n] += x;
            }
            self.min[n] += x;
            return;
        }
        let mid = (lo + hi) / 2;
        self.add_range(2 * n, lo, mid, last, x);
        self.add_range(2 * n + 1, mid + 1, hi, last, x);
        self.min[n] = self.min[2 * n].min(self.min[2 * n + 1]) + self.add[n];
    }

    /// The least value in `0..=last`.
    fn min_prefix(&self, last: usize) -> i128 {
        self.min_range(1, 0, self.size - 1, last)
    }

    fn min_range(&self, n: usize, lo: usize, hi: usize, last: usize) -> i128 {
        if lo > last {
            return UNSET;
        }
        if hi <= last {
            return self.min[n];
        }
        let mid = (lo + hi) / 2;
        self.min_range(2 * n, lo, mid, last)
            .min(self.min_range(2 * n + 1, mid + 1, hi, last))
            + self.add[n]
    }

    /// The first position in `0..=last` whose value is below `bound`.
    fn first_below(&self, last: usize, bound: i128) -> Option<usize> {
        self.search(1, 0, self.size - 1, last, bound, 0)
    }

    fn search(
        &self,
        n: usize,
        lo: usize,
        hi: usize,
        last: usize,
        bound: i128,
        above: i128,
    ) -> Option<usize> {
        if lo > last || self.min[n] + above >= bound {
            return None;
        }
        if n >= self.size {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        let above = above + self.add[n];
        self.search(2 * n, lo, mid, last, bound, above)
            .or_else(|| self.search(2 * n + 1, mid + 1, hi, last, bound, above))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compares the tree with a plain vector under a seeded mix of operations, on chains
    /// that stay short (flat) and chains that grow long (a segment tree after a while).
    #[test]
    fn matches_a_naive_model() {
        for max in [FLAT_MAX, usize::MAX] {
            against_a_model(max);
        }
    }

    fn against_a_model(max: usize) {
        let mut t = MinTree::new();
        let mut model: Vec<i128> = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            match rand(5) {
                0 | 1 => {
                    let pos = (rand(model.len() as u64 + 1) as usize).min(max - 1);
                    let v = rand(1000) as i128;
                    t.reserve(pos);
                    if pos >= model.len() {
                        model.push(v);
                    } else {
                        model[pos] = v;
                    }
                    t.set(pos, v);
                }
                2 if !model.is_empty() => {
                    let last = rand(model.len() as u64) as usize;
                    let x = rand(100) as i128 - 60;
                    t.add_prefix(last, x);
                    for v in &mut model[..=last] {
                        *v += x;
                    }
                }
                3 if !model.is_empty() => {
                    let last = rand(model.len() as u64) as usize;
                    assert_eq!(t.min_prefix(last), *model[..=last].iter().min().unwrap());
                    let bound = rand(1200) as i128 - 100;
                    assert_eq!(
                        t.first_below(last, bound),
                        model[..=last].iter().position(|v| *v < bound)
                    );
                }
                _ => {
                    for (p, v) in model.iter().enumerate() {
                        assert_eq!(t.get(p), *v);
                    }
                }
            }
        }
    }
}
