//! A small deterministic generator (SplitMix64): the same seed gives the same programs on
//! every machine.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator for item `index` of a run seeded with `seed`.
    pub fn for_item(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A word that is often an edge case.
    pub fn word(&mut self) -> u64 {
        const EDGES: [u64; 14] = [
            0,
            1,
            2,
            u64::MAX,
            i64::MIN as u64,
            i64::MAX as u64,
            63,
            64,
            65,
            1 << 32,
            (1 << 32) - 1,
            255,
            256,
            0x8000_0000,
        ];
        match self.below(4) {
            0 => self.pick(&EDGES),
            1 => self.below(16),
            2 => self.below(4096),
            _ => self.next_u64(),
        }
    }
}
