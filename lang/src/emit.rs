//! Instruction lists with symbolic labels: the peephole rules of `docs/LANG.md`
//! §Lowering, label resolution, and one source span per instruction.

use rarvm_runtime::isa::{Flow, Instr};

use crate::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(u32);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ins {
    I(Instr),
    Jmp(Label),
    Jz(Label),
    Jnz(Label),
    /// Targets, the default last.
    Switch(Vec<Label>),
    Label(Label),
}

impl Ins {
    /// True when control never continues to the next instruction.
    fn ends_flow(&self) -> bool {
        match self {
            Ins::Jmp(_) | Ins::Switch(_) => true,
            Ins::I(i) => matches!(i.info().flow, Flow::Return | Flow::Stop | Flow::Jump),
            _ => false,
        }
    }

    fn targets(&self) -> Vec<Label> {
        match self {
            Ins::Jmp(l) | Ins::Jz(l) | Ins::Jnz(l) => vec![*l],
            Ins::Switch(ls) => ls.clone(),
            _ => vec![],
        }
    }
}

/// One function's code being built.
#[derive(Default)]
pub struct Asm {
    pub code: Vec<(Ins, Span)>,
    labels: u32,
    span: Option<Span>,
}

/// A finished function body.
pub struct Code {
    pub instrs: Vec<Instr>,
    pub tables: Vec<Vec<u32>>,
    pub spans: Vec<Span>,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Sets the span of the instructions that follow; returns the previous one.
    pub fn at(&mut self, span: Span) -> Option<Span> {
        self.span.replace(span)
    }

    /// The span of the instructions that follow.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    pub fn restore(&mut self, span: Option<Span>) {
        self.span = span;
    }

    fn cur(&self) -> Span {
        self.span.unwrap_or_else(|| crate::span(0, 0, 0))
    }

    pub fn emit(&mut self, i: Instr) {
        let s = self.cur();
        self.code.push((Ins::I(i), s));
    }

    pub fn ins(&mut self, i: Ins) {
        let s = self.cur();
        self.code.push((i, s));
    }

    pub fn place(&mut self, l: Label) {
        let s = self.cur();
        self.code.push((Ins::Label(l), s));
    }

    /// False right after an instruction control cannot pass (until the next label).
    pub fn reachable(&self) -> bool {
        match self.code.last() {
            None => true,
            Some((i, _)) => !i.ends_flow(),
        }
    }

    /// Applies the peephole rules (when `optimize`) and resolves labels.
    pub fn finish(mut self, optimize: bool) -> Code {
        if optimize {
            for _ in 0..8 {
                if !self.peephole() {
                    break;
                }
            }
        }
        let mut at = std::collections::HashMap::new();
        let mut n = 0u32;
        for (i, _) in &self.code {
            match i {
                Ins::Label(l) => {
                    at.insert(*l, n);
                }
                _ => n += 1,
            }
        }
        let target = |l: &Label| at.get(l).copied().unwrap_or(0);
        let mut instrs = Vec::new();
        let mut tables = Vec::new();
        let mut spans = Vec::new();
        for (i, s) in self.code {
            let ins = match i {
                Ins::Label(_) => continue,
                Ins::I(i) => i,
                Ins::Jmp(l) => Instr::Jmp(target(&l)),
                Ins::Jz(l) => Instr::Jz(target(&l)),
                Ins::Jnz(l) => Instr::Jnz(target(&l)),
                Ins::Switch(ls) => {
                    tables.push(ls.iter().map(target).collect());
                    Instr::Switch(tables.len() as u32 - 1)
                }
            };
            instrs.push(ins);
            spans.push(s);
        }
        Code {
            instrs,
            tables,
            spans,
        }
    }

    /// One round of rewrites; true if anything changed.
    fn peephole(&mut self) -> bool {
        let mut changed = false;
        // Where each label is, and the first instruction at or after it.
        let mut label_at = std::collections::HashMap::new();
        for (k, (i, _)) in self.code.iter().enumerate() {
            if let Ins::Label(l) = i {
                label_at.insert(*l, k);
            }
        }
        let resolve = |l: Label, code: &[(Ins, Span)]| -> Label {
            // Follow chains of `jmp` (bounded, in case of a cycle).
            let mut l = l;
            for _ in 0..16 {
                let Some(&k) = label_at.get(&l) else { break };
                let mut j = k;
                while matches!(code.get(j), Some((Ins::Label(_), _))) {
                    j += 1;
                }
                match code.get(j) {
                    Some((Ins::Jmp(m), _)) if *m != l => l = *m,
                    _ => break,
                }
            }
            l
        };
        let snapshot = self.code.clone();
        for (i, _) in self.code.iter_mut() {
            let new = match &*i {
                Ins::Jmp(l) => Ins::Jmp(resolve(*l, &snapshot)),
                Ins::Jz(l) => Ins::Jz(resolve(*l, &snapshot)),
                Ins::Jnz(l) => Ins::Jnz(resolve(*l, &snapshot)),
                Ins::Switch(ls) => Ins::Switch(ls.iter().map(|l| resolve(*l, &snapshot)).collect()),
                other => (*other).clone(),
            };
            if *i != new {
                *i = new;
                changed = true;
            }
        }
        let used: std::collections::HashSet<Label> =
            self.code.iter().flat_map(|(i, _)| i.targets()).collect();
        let mut out: Vec<(Ins, Span)> = Vec::with_capacity(self.code.len());
        let mut dead = false;
        for (i, s) in std::mem::take(&mut self.code) {
            if let Ins::Label(l) = &i {
                if !used.contains(l) {
                    changed = true;
                    continue;
                }
                dead = false;
            }
            if dead {
                changed = true;
                continue;
            }
            // Local rewrites against the previous instruction.
            if let Some((prev, _)) = out.last() {
                let rewrite: Option<Option<Ins>> = match (prev, &i) {
                    (Ins::I(Instr::LocalSet(a)), Ins::I(Instr::LocalGet(b))) if a == b => {
                        Some(Some(Ins::I(Instr::LocalTee(*a))))
                    }
                    (Ins::I(Instr::LocalTee(a)), Ins::I(Instr::Drop)) => {
                        Some(Some(Ins::I(Instr::LocalSet(*a))))
                    }
                    (Ins::I(Instr::Push(_) | Instr::LocalGet(_)), Ins::I(Instr::Drop)) => {
                        Some(None)
                    }
                    (Ins::I(Instr::Eqz), Ins::Jz(l)) => Some(Some(Ins::Jnz(*l))),
                    (Ins::I(Instr::Eqz), Ins::Jnz(l)) => Some(Some(Ins::Jz(*l))),
                    (Ins::I(Instr::Push(v)), Ins::Jz(l)) => {
                        Some(if *v == 0 { Some(Ins::Jmp(*l)) } else { None })
                    }
                    (Ins::I(Instr::Push(v)), Ins::Jnz(l)) => {
                        Some(if *v != 0 { Some(Ins::Jmp(*l)) } else { None })
                    }
                    _ => None,
                };
                if let Some(r) = rewrite {
                    let (_, ps) = out.pop().expect("there is a previous instruction");
                    if let Some(r) = r {
                        dead = r.ends_flow();
                        out.push((r, ps));
                    }
                    changed = true;
                    continue;
                }
            }
            // A jump to the very next instruction.
            dead = i.ends_flow();
            out.push((i, s));
        }
        // Drop `jmp L` that is directly followed by `L:` (possibly among other labels).
        let mut k = 0;
        while k < out.len() {
            if let Ins::Jmp(l) = out[k].0 {
                let mut j = k + 1;
                let mut found = false;
                while let Some((Ins::Label(m), _)) = out.get(j) {
                    if *m == l {
                        found = true;
                    }
                    j += 1;
                }
                if found {
                    out.remove(k);
                    changed = true;
                    continue;
                }
            }
            k += 1;
        }
        self.code = out;
        changed
    }
}
