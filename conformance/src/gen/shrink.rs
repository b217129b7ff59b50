//! Shrinking generated programs for minimal reproducers.

use super::*;

impl Program {
    /// Every statement removal and expression simplification that keeps the program valid,
    /// for minimization: each candidate is the program with one change.
    pub fn shrink(&self) -> Vec<Program> {
        let mut out = Vec::new();
        for (fi, f) in self.funcs.iter().enumerate() {
            if let Some(cfg) = &f.cfg {
                for smaller in cfg::shrink(cfg) {
                    let mut p = self.clone();
                    p.funcs[fi].cfg = Some(smaller);
                    out.push(p);
                }
            }
            let mut paths = Vec::new();
            collect_paths(&f.body, &mut Vec::new(), &mut paths);
            for path in paths {
                let mut p = self.clone();
                remove_at(&mut p.funcs[fi].body, &path);
                out.push(p);
            }
            for (ri, e) in f.ret.iter().enumerate() {
                if !matches!(e, Expr::Const(_)) {
                    let mut p = self.clone();
                    p.funcs[fi].ret[ri] = Expr::Const(0);
                    out.push(p);
                }
            }
        }
        if !self.data.is_empty() {
            let mut p = self.clone();
            p.data.clear();
            out.push(p);
        }
        out
    }
}

/// Paths (indices through nested bodies) of every statement, innermost last.
fn collect_paths(body: &[Stmt], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, s) in body.iter().enumerate() {
        prefix.push(i);
        out.push(prefix.clone());
        let nested: Vec<&Vec<Stmt>> = match s {
            Stmt::If(_, t, e) => vec![t, e],
            Stmt::Loop(_, _, b) => vec![b],
            Stmt::Switch(_, cases) => cases.iter().collect(),
            _ => vec![],
        };
        for (k, b) in nested.into_iter().enumerate() {
            prefix.push(k);
            collect_paths(b, prefix, out);
            prefix.pop();
        }
        prefix.pop();
    }
}

fn remove_at(body: &mut Vec<Stmt>, path: &[usize]) {
    if path.len() == 1 {
        body.remove(path[0]);
        return;
    }
    let (i, k, rest) = (path[0], path[1], &path[2..]);
    let inner = match &mut body[i] {
        Stmt::If(_, t, e) => {
            if k == 0 {
                t
            } else {
                e
            }
        }
        Stmt::Loop(_, _, b) => b,
        Stmt::Switch(_, cases) => &mut cases[k],
        _ => unreachable!("paths only descend into nested bodies"),
    };
    remove_at(inner, rest);
}
