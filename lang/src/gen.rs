//! A generator of random well-typed Entish programs, for differential fuzzing: the same
//! seed gives the same program, and every program compiles. Programs exercise
//! arithmetic of both signednesses, conditions, bounded loops, calls, arrays, records,
//! `match`, sandbox calls with tiny budgets, and children that yield, are saved to bytes
//! and loaded again; every loop is bounded and calls only go
//! to functions defined earlier, so programs terminate (children may run out of gas,
//! which is the point).
//!
//! ```
//! let src = rarvm_lang::gen::program(7);
//! assert_eq!(src, rarvm_lang::gen::program(7));
//! rarvm_lang::compile_str("gen.et", &src, &rarvm_lang::Options::default()).unwrap();
//! ```

use std::fmt::Write as _;

/// SplitMix64: the generator's source of choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Gen {
    rng: Rng,
    out: String,
    /// Variables of type u64 in scope, innermost block last.
    scopes: Vec<Vec<String>>,
    /// Loop variables in scope (readable, not assignable).
    fixed: Vec<String>,
    next_var: u32,
    /// Helpers defined so far (each takes two u64 and returns one).
    helpers: u32,
    indent: usize,
    /// How many more statements this function may have.
    budget: u32,
    /// Whether the record `r` exists yet.
    has_record: bool,
}

/// The Entish source of the program for `seed`.
pub fn program(seed: u64) -> String {
    let mut g = Gen {
        rng: Rng(seed),
        out: String::new(),
        scopes: Vec::new(),
        fixed: Vec::new(),
        next_var: 0,
        helpers: 0,
        indent: 0,
        budget: 0,
        has_record: false,
    };
    let _ = writeln!(g.out, "# generated from seed {seed}");
    g.out.push_str("typ R {u64 a, u64 b}\n\n");
    g.out
        .push_str("def spin(x) -> u64:\n    while True:\n        x += 1\n\n");
    g.out.push_str(
        "def steps(x) -> u64:\n    for i in range(3):\n        yield x + i\n    return x * 2\n\n",
    );
    let n = g.rng.below(4);
    for _ in 0..n {
        g.helper();
    }
    g.function("main", true);
    g.out
}

impl Gen {
    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn fresh(&mut self) -> String {
        self.next_var += 1;
        format!("v{}", self.next_var)
    }

    fn vars(&self) -> Vec<String> {
        self.scopes
            .iter()
            .flatten()
            .chain(&self.fixed)
            .cloned()
            .collect()
    }

    fn assignable(&self) -> Vec<String> {
        self.scopes.iter().flatten().cloned().collect()
    }

    fn helper(&mut self) {
        let name = format!("h{}", self.helpers);
        self.function(&name, false);
        self.helpers += 1;
    }

    /// A function of two u64 parameters returning a u64 (`main` returns two).
    fn function(&mut self, name: &str, main: bool) {
        let ret = if main { "(u64, u64)" } else { "u64" };
        let _ = writeln!(self.out, "def {name}(x, y) -> {ret}:");
        self.indent = 1;
        self.scopes = vec![vec!["x".into(), "y".into()]];
        self.fixed.clear();
        self.budget = 6 + self.rng.below(10) as u32;
        self.line("arr = new u64[8]");
        self.line("for i in range(len(arr)):");
        self.indent += 1;
        self.line("arr[i] = i * x + y");
        self.indent -= 1;
        self.has_record = false;
        let a = self.expr(2);
        let b = self.expr(2);
        self.line(&format!("r = R{{{a}, {b}}}"));
        self.has_record = true;
        let count = 2 + self.rng.below(5);
        for _ in 0..count {
            self.stmt(3);
        }
        let a = self.expr(3);
        if main {
            let b = self.expr(2);
            self.line(&format!("return {a} + r.a, {b} ^ arr[3]"));
        } else {
            self.line(&format!("return {a} ^ r.b"));
        }
        self.out.push('\n');
        self.indent = 0;
    }

    fn block(&mut self, depth: u32) {
        self.indent += 1;
        self.scopes.push(Vec::new());
        let n = 1 + self.rng.below(3);
        for _ in 0..n {
            self.stmt(depth);
        }
        self.scopes.pop();
        self.indent -= 1;
    }

    fn stmt(&mut self, depth: u32) {
        if self.budget == 0 {
            self.line("pass");
            return;
        }
        self.budget -= 1;
        let kind = if depth == 0 {
            self.rng.below(4)
        } else {
            self.rng.below(10)
        };
        match kind {
            0 => {
                let v = self.fresh();
                let e = self.expr(3);
                self.line(&format!("{v} = {e}"));
                if let Some(s) = self.scopes.last_mut() {
                    s.push(v);
                }
            }
            1 => {
                let vs = self.assignable();
                let v = &vs[self.rng.below(vs.len() as u64) as usize];
                let op = ["+=", "-=", "^=", "|=", "*="][self.rng.below(5) as usize];
                let e = self.expr(2);
                self.line(&format!("{v} {op} {e}"));
            }
            2 => {
                let i = self.expr(2);
                let e = self.expr(2);
                self.line(&format!("arr[({i}) % len(arr)] = {e}"));
            }
            3 => {
                let f = if self.rng.chance(50) { "a" } else { "b" };
                let e = self.expr(2);
                self.line(&format!("r.{f} = {e}"));
            }
            4 => {
                let c = self.cond(2);
                self.line(&format!("if {c}:"));
                self.block(depth - 1);
                if self.rng.chance(50) {
                    self.line("else:");
                    self.block(depth - 1);
                }
            }
            5 => {
                let i = format!("i{}", self.next_var);
                self.next_var += 1;
                let n = self.rng.below(6);
                let step = if self.rng.chance(30) { ", 2" } else { "" };
                self.line(&format!("for {i} in range({n}{step}):"));
                if step.is_empty() && self.rng.chance(30) {
                    // An affine access: the kind a loop checks once before it runs, in
                    // range or (now and then) past the end on its last iterations.
                    let (c0, c1) = (self.rng.below(4), self.rng.below(3));
                    let e = self.expr(1);
                    self.indent += 1;
                    self.line(&format!("arr[{c0} + {i} * {c1}] = {e}"));
                    self.indent -= 1;
                }
                self.fixed.push(i);
                self.block(depth - 1);
                self.fixed.pop();
            }
            6 => {
                let k = self.fresh();
                self.line(&format!("{k} = 0"));
                let c = self.cond(1);
                self.line(&format!("while {k} < 4 and {c}:"));
                self.indent += 1;
                self.line(&format!("{k} += 1"));
                self.indent -= 1;
                self.fixed.push(k.clone());
                self.block(depth - 1);
                self.fixed.pop();
                if let Some(s) = self.scopes.last_mut() {
                    s.push(k);
                }
            }
            7 => {
                let e = self.expr(2);
                self.line(&format!("match ({e}) % 4:"));
                self.indent += 1;
                for (i, pat) in ["0", "1 | 2", "_"].iter().enumerate() {
                    if i == 2 && self.rng.chance(40) {
                        break;
                    }
                    self.line(&format!("case {pat}:"));
                    self.block(depth - 1);
                }
                self.indent -= 1;
            }
            9 => {
                // A child that yields, is saved mid-way, loaded again, and both copies run on.
                let v = self.fresh();
                let c = self.fresh();
                let a = self.expr(1);
                let gas = 20 + self.rng.below(200);
                self.line(&format!("{c} = spawn steps({a})"));
                self.line(&format!("{v} = {c}.run({gas}, 4096) + {c}.port"));
                if self.rng.chance(50) {
                    self.line(&format!("img{v} = new u8[4096]"));
                    self.line(&format!("n{v} = {c}.save(img{v})"));
                    self.line(&format!("d{v}, e{v} = load(img{v}[:min(n{v}, 4096)])"));
                    self.line(&format!("if e{v} == 0:"));
                    self.indent += 1;
                    self.line(&format!("{v} += d{v}.run({gas}, 0) + d{v}.gas_used"));
                    self.line(&format!("d{v}.drop()"));
                    self.indent -= 1;
                }
                self.line(&format!("{v} += {c}.run({gas}, 0) * 7 + {c}.gas_used"));
                self.line(&format!("{c}.drop()"));
                if let Some(s) = self.scopes.last_mut() {
                    s.push(v);
                }
            }
            _ => {
                let v = self.fresh();
                let gas = self.rng.below(300);
                let mem = self.rng.below(64);
                let a = self.expr(1);
                let fb = self.expr(1);
                let call = if self.helpers > 0 && self.rng.chance(70) {
                    format!(
                        "h{}<{gas}, {mem}>({a}, {fb})",
                        self.rng.below(u64::from(self.helpers))
                    )
                } else {
                    format!("spin<{gas}, {mem}>({a})")
                };
                if self.rng.chance(50) {
                    self.line(&format!("{v} = {call} else {fb}"));
                } else {
                    self.line(&format!("o{v} = {call}"));
                    self.line(&format!("{v} = o{v}.gas_used + o{v}.status"));
                }
                if let Some(s) = self.scopes.last_mut() {
                    s.push(v);
                }
            }
        }
    }

    fn cond(&mut self, depth: u32) -> String {
        match self.rng.below(if depth == 0 { 1 } else { 4 }) {
            0 => {
                let a = self.expr(1);
                let b = self.expr(1);
                let op = ["<", "<=", ">", ">=", "==", "!="][self.rng.below(6) as usize];
                if self.rng.chance(30) {
                    format!("({a}) as i64 {op} ({b}) as i64")
                } else {
                    format!("{a} {op} {b}")
                }
            }
            1 => format!("{} and {}", self.cond(depth - 1), self.cond(depth - 1)),
            2 => format!("({} or {})", self.cond(depth - 1), self.cond(depth - 1)),
            _ => format!("not ({})", self.cond(depth - 1)),
        }
    }

    fn expr(&mut self, depth: u32) -> String {
        let leaf = depth == 0 || self.rng.chance(30);
        if leaf {
            let vs = self.vars();
            return if self.rng.chance(70) && !vs.is_empty() {
                vs[self.rng.below(vs.len() as u64) as usize].clone()
            } else if self.rng.chance(80) {
                format!("({} as u64)", self.rng.below(100))
            } else {
                format!("({} as u64)", self.rng.next())
            };
        }
        match self.rng.below(10) {
            0..=3 => {
                let op = ["+", "-", "*", "&", "|", "^", "<<", ">>"][self.rng.below(8) as usize];
                format!("({} {op} {})", self.expr(depth - 1), self.expr(depth - 1))
            }
            4 => format!(
                "({} / ({} | 1))",
                self.expr(depth - 1),
                self.expr(depth - 1)
            ),
            5 => format!(
                "((({}) as i64 % (({}) as i64 | 1)) as u64)",
                self.expr(depth - 1),
                self.expr(depth - 1)
            ),
            6 => format!("arr[({}) % len(arr)]", self.expr(depth - 1)),
            7 if self.helpers > 0 => {
                let h = self.rng.below(u64::from(self.helpers));
                format!("h{h}({}, {})", self.expr(depth - 1), self.expr(depth - 1))
            }
            8 => format!(
                "({} if {} else {})",
                self.expr(depth - 1),
                self.cond(1),
                self.expr(depth - 1)
            ),
            _ if self.has_record => {
                let f = if self.rng.chance(50) { "r.a" } else { "r.b" };
                format!("({f} + {})", self.expr(depth - 1))
            }
            _ => format!("({} + (1 as u64))", self.expr(depth - 1)),
        }
    }
}
