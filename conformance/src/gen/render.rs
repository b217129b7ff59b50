//! Rendering generated programs as assembler text.

use std::fmt::Write as _;

use super::*;

/// Renders a program as assembler text.
pub fn render(p: &Program) -> String {
    let mut out = String::new();
    writeln!(out, ".memory {}", p.memory).unwrap();
    for (at, bytes) in &p.data {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(out, ".data {at} x\"{hex}\"").unwrap();
    }
    writeln!(out, ".entry f0").unwrap();
    let sigs: Vec<(u32, u32)> = p.funcs.iter().map(|f| (f.params, f.results)).collect();
    for (i, f) in p.funcs.iter().enumerate() {
        writeln!(
            out,
            "\nfunc f{i}({}) -> {} locals {}",
            f.params, f.results, f.locals
        )
        .unwrap();
        if let Some(cfg) = &f.cfg {
            let fuel = f.params + f.locals - 1;
            out.push_str(&cfg::render(cfg, &sigs, f.results, fuel, p.memory, ""));
            out.push_str("end\n");
            continue;
        }
        let mut r = Render {
            out: String::new(),
            label: 0,
            sigs: sigs.clone(),
            params: f.params,
        };
        for s in &f.body {
            r.stmt(s);
        }
        for e in &f.ret {
            r.expr(e);
        }
        out.push_str(&r.out);
        out.push_str("    ret\nend\n");
    }
    out
}

struct Render {
    out: String,
    label: u32,
    sigs: Vec<(u32, u32)>,
    params: u32,
}

impl Render {
    fn ins(&mut self, s: &str) {
        self.out.push_str("    ");
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn fresh(&mut self) -> String {
        self.label += 1;
        format!("L{}", self.label)
    }

    fn place(&mut self, l: &str) {
        self.out.push_str(l);
        self.out.push_str(":\n");
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Const(v) => self.ins(&format!("push {v}")),
            Expr::Local(i) => self.ins(&format!("local.get {i}")),
            Expr::Bin(op, a, b) => {
                self.expr(a);
                self.expr(b);
                self.ins(op);
            }
            Expr::Un(op, a) => {
                self.expr(a);
                self.ins(op);
            }
            Expr::Load(op, off, a) => {
                self.expr(a);
                self.ins(&format!("{op} {off}"));
            }
            Expr::Call(c, args) => {
                for a in args {
                    self.expr(a);
                }
                self.ins(&format!("call f{c}"));
            }
            Expr::Select(a, b, c) => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
                self.ins("select");
            }
            Expr::Nullary(op) => self.ins(op),
        }
    }

    fn block(&mut self, b: &[Stmt]) {
        for s in b {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let slot = self.params + GENERAL + COUNTERS;
        let (status, scratch) = (slot + 1, slot + 2);
        match s {
            Stmt::Set(i, e) => {
                self.expr(e);
                self.ins(&format!("local.set {i}"));
            }
            Stmt::Store(op, off, a, v) => {
                self.expr(a);
                self.expr(v);
                self.ins(&format!("{op} {off}"));
            }
            Stmt::If(c, t, e) => {
                let (l_else, l_end) = (self.fresh(), self.fresh());
                self.expr(c);
                self.ins(&format!("jz {l_else}"));
                self.block(t);
                self.ins(&format!("jmp {l_end}"));
                self.place(&l_else);
                self.block(e);
                self.place(&l_end);
            }
            Stmt::Loop(counter, count, body) => {
                let (l_top, l_end) = (self.fresh(), self.fresh());
                self.ins(&format!("push {count}"));
                self.ins(&format!("local.set {counter}"));
                self.place(&l_top);
                self.ins(&format!("local.get {counter}"));
                self.ins(&format!("jz {l_end}"));
                self.block(body);
                self.ins(&format!("local.get {counter}"));
                self.ins("push 1");
                self.ins("sub");
                self.ins(&format!("local.set {counter}"));
                self.ins(&format!("jmp {l_top}"));
                self.place(&l_end);
            }
            Stmt::Switch(e, cases) => {
                let labels: Vec<String> = cases.iter().map(|_| self.fresh()).collect();
                let l_end = self.fresh();
                self.expr(e);
                let (default, rest) = labels.split_last().expect("a switch has a default");
                self.ins(&format!("switch {} else {default}", rest.join(" ")));
                for (l, body) in labels.iter().zip(cases) {
                    self.place(l);
                    self.block(body);
                    self.ins(&format!("jmp {l_end}"));
                }
                self.place(&l_end);
            }
            Stmt::CallDrop(c, args) => {
                for a in args {
                    self.expr(a);
                }
                self.ins(&format!("call f{c}"));
                for _ in 0..self.sigs[*c as usize].1 {
                    self.ins("drop");
                }
            }
            Stmt::Grow(n) => {
                self.expr(n);
                self.ins("mem.grow");
                self.ins("drop");
            }
            Stmt::Bulk(op, a, b, c) => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
                self.ins(op);
            }
            Stmt::Out(e) => {
                self.expr(e);
                self.ins("out");
            }
            Stmt::In => {
                self.ins("in");
                self.ins("drop");
            }
            Stmt::Yield => self.ins("yield"),
            Stmt::Trap => self.ins("trap"),
            Stmt::Halt => self.ins("halt"),
            Stmt::Child(c) => {
                self.ins(&format!("spawn f{}", c.func));
                self.ins(&format!("local.set {slot}"));
                for g in &c.gives {
                    self.ins(&format!("push {g}"));
                    self.ins(&format!("local.get {slot}"));
                    self.ins("key.give");
                    self.ins("drop");
                }
                for a in &c.args {
                    self.ins(&format!("local.get {slot}"));
                    self.expr(a);
                    self.ins("child.push");
                }
                // Run it `rounds` times: each recurse refuels it (a finished child just
                // reports its status again).
                let l_top = self.fresh();
                self.ins(&format!("push {}", c.rounds));
                self.ins(&format!("local.set {scratch}"));
                self.place(&l_top);
                self.ins(&format!("local.get {slot}"));
                self.expr(&c.gas);
                self.ins(&format!("push {}", c.mem));
                self.ins("recurse");
                self.ins(&format!("local.set {status}"));
                self.ins(&format!("local.get {scratch}"));
                self.ins("push 1");
                self.ins("sub");
                self.ins(&format!("local.tee {scratch}"));
                self.ins(&format!("jnz {l_top}"));
                self.ins(&format!("local.get {slot}"));
                self.ins(&format!("child.info {}", c.field));
                self.ins(&format!("local.set {}", self.params));
                if c.pop {
                    let l_skip = self.fresh();
                    self.ins(&format!("local.get {slot}"));
                    self.ins("child.info port");
                    self.ins(&format!("jz {l_skip}"));
                    self.ins(&format!("local.get {slot}"));
                    self.ins("child.pop");
                    self.ins(&format!("local.set {}", self.params + 1));
                    self.place(&l_skip);
                }
                if let Some(at) = c.save_at {
                    // Save the child into memory, load the image as a new child, run that too.
                    self.ins(&format!("local.get {slot}"));
                    self.ins(&format!("push {at}"));
                    self.ins("mem.size");
                    self.ins(&format!("push {at}"));
                    self.ins("sub");
                    self.ins("child.save");
                    self.ins(&format!("local.set {scratch}"));
                    // Load only what was written (a longer image did not fit).
                    let l_none = self.fresh();
                    self.ins(&format!("local.get {scratch}"));
                    self.ins("mem.size");
                    self.ins(&format!("push {at}"));
                    self.ins("sub");
                    self.ins("gt_u");
                    self.ins(&format!("jnz {l_none}"));
                    self.ins(&format!("push {at}"));
                    self.ins(&format!("local.get {scratch}"));
                    self.ins("child.load");
                    self.ins(&format!("local.set {status}"));
                    self.ins(&format!("local.set {scratch}"));
                    let l_skip = self.fresh();
                    self.ins(&format!("local.get {status}"));
                    self.ins(&format!("jnz {l_skip}"));
                    self.ins(&format!("local.get {scratch}"));
                    self.ins("push 500");
                    self.ins("push 4096");
                    self.ins("recurse");
                    self.ins("drop");
                    self.ins(&format!("local.get {scratch}"));
                    self.ins("key.drop");
                    self.place(&l_skip);
                    self.place(&l_none);
                }
                self.ins(&format!("local.get {slot}"));
                self.ins("key.drop");
            }
            Stmt::SpawnBytes {
                offset,
                len,
                gas,
                mem,
            } => {
                let l_skip = self.fresh();
                self.ins(&format!("push {offset}"));
                self.ins(&format!("push {len}"));
                self.ins("spawn.bytes");
                self.ins(&format!("local.set {status}"));
                self.ins(&format!("local.set {slot}"));
                self.ins(&format!("local.get {status}"));
                self.ins(&format!("jnz {l_skip}"));
                self.ins(&format!("local.get {slot}"));
                self.ins(&format!("push {gas}"));
                self.ins(&format!("push {mem}"));
                self.ins("recurse");
                self.ins(&format!("local.set {}", self.params));
                self.ins(&format!("local.get {slot}"));
                self.ins("key.drop");
                self.place(&l_skip);
            }
            Stmt::Invoke {
                slot,
                op,
                arg,
                addr,
                len,
                into,
            } => {
                self.expr(slot);
                self.ins(&format!("push {op}"));
                self.expr(arg);
                self.expr(addr);
                self.expr(len);
                self.ins("key.invoke");
                self.ins(&format!("local.set {status}"));
                self.ins(&format!("local.set {into}"));
            }
            Stmt::Attenuate {
                slot,
                rights,
                path: (at, len),
                into,
            } => {
                self.expr(slot);
                self.ins(&format!("push {rights}"));
                self.ins(&format!("push {at}"));
                self.ins(&format!("push {len}"));
                self.ins("key.attenuate");
                self.ins(&format!("local.set {status}"));
                self.ins(&format!("local.set {into}"));
            }
            Stmt::KeyDrop(slot) => {
                self.expr(slot);
                self.ins("key.drop");
            }
        }
    }
}
