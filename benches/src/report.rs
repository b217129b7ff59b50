//! Writes `docs/BENCHMARKS.md` and `docs/benchmarks.svg` from criterion's estimates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Criterion's median estimate, in nanoseconds, of benchmark `id` (`group/function`).
pub fn median(dir: &Path, id: &str) -> Option<f64> {
    let path = dir.join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn ms(ns: Option<f64>) -> String {
    match ns {
        Some(t) if t >= 1e6 => format!("{:.1} ms", t / 1e6),
        Some(t) => format!("{:.1} µs", t / 1e3),
        None => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}"))
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What machine and toolchain measured the numbers.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{} ({cpu}, {cores} cores), {}, {}",
        std::env::consts::ARCH,
        command("uname", &["-sr"]),
        command("rustc", &["--version"])
    )
}

pub struct Inputs<'a> {
    pub criterion: &'a Path,
    pub kernels: &'a [&'a str],
    pub kernel_engines: &'a [&'a str],
    pub sandbox_ops: u64,
    pub sandbox_engines: &'a [&'a str],
    pub depths: &'a [u32],
    pub image_sizes: &'a [u64],
    pub compile_instructions: usize,
    /// The engines each kernel's Entish version runs on (`kernel-NAME/entish-ENGINE`).
    pub entish_engines: &'a [&'a str],
    /// Source lines of the generated program `compile-entish/generated` compiles.
    pub entish_lines: usize,
    /// Source lines of the Entish kernels (`compile-entish/kernels`).
    pub entish_kernel_lines: usize,
    /// Gas each costs-group run uses, by benchmark name.
    pub costs: &'a [(String, u64)],
    /// Messages per iteration of the vat group (`vat/turns-N`, `vat/messages-N`).
    pub vat_messages: u64,
}

/// Writes the report; returns the paths written.
pub fn write(inp: &Inputs<'_>, docs: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let d = inp.criterion;
    let get = |id: String| median(d, &id);
    let mut md = String::new();
    let date = command("date", &["-u", "+%Y-%m-%d"]);
    let commit = match command("git", &["rev-parse", "--short", "HEAD"]) {
        c if c.is_empty() => "an unknown commit".to_string(),
        c if command("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() => c,
        c => format!("{c} with uncommitted changes"),
    };
    writeln!(md, "# rarvm benchmarks\n").unwrap();
    writeln!(
        md,
        "Measured by `cargo bench -p rarvm-benches` on {date} at {commit}, on {}. Every number is the median of \
         criterion's samples; every ratio divides two medians from the same run. rarvm runs metered \
         (exact gas per basic block, checked once per acyclic region) unless marked unmetered; Wasmtime 48 and wasmi 2 run with \
         `consume_fuel(true)`. All engines compute the same answer, asserted before timing.\n",
        machine()
    )
    .unwrap();

    // Kernels.
    writeln!(md, "## Kernels\n").unwrap();
    write!(md, "| kernel |").unwrap();
    for e in inp.kernel_engines {
        write!(md, " {e} |").unwrap();
    }
    writeln!(
        md,
        " jit/interp | jit/native | jit/wasmtime | interp/wasmi | metering cost |"
    )
    .unwrap();
    writeln!(md, "|{}", "---|".repeat(inp.kernel_engines.len() + 6)).unwrap();
    let mut plot: Vec<(String, [Option<f64>; 4])> = Vec::new();
    for k in inp.kernels {
        let t = |e: &str| get(format!("kernel-{k}/{e}"));
        write!(md, "| {k} |").unwrap();
        for e in inp.kernel_engines {
            write!(md, " {} |", ms(t(e))).unwrap();
        }
        let jit_interp = ratio(t("jit"), t("interp"));
        let jit_native = ratio(t("jit"), t("native"));
        let jit_wasmtime = ratio(t("jit"), t("wasmtime"));
        let interp_wasmi = ratio(t("interp"), t("wasmi"));
        let metering = ratio(t("jit"), t("jit-unmetered"));
        writeln!(
            md,
            " {} | {} | {} | {} | {} |",
            fmt_ratio(jit_interp),
            fmt_ratio(jit_native),
            fmt_ratio(jit_wasmtime),
            fmt_ratio(interp_wasmi),
            fmt_ratio(metering)
        )
        .unwrap();
        plot.push((
            k.to_string(),
            [
                jit_interp.map(|r| 1.0 / r),
                jit_native,
                jit_wasmtime,
                interp_wasmi,
            ],
        ));
    }
    writeln!(
        md,
        "\nRatios are time ratios (lower is faster for the first engine): jit/interp below 0.1 means \
         the JIT is more than 10x faster than the interpreter; metering cost is metered jit / unmetered \
         jit.\n"
    )
    .unwrap();

    interp_before_after(&mut md, inp);
    entish(&mut md, inp);

    // Sandbox cost.
    writeln!(md, "## Sandbox cost\n").unwrap();
    writeln!(
        md,
        "Creating, running and dropping a tiny sandbox ({} per sample): rarvm's `spawn`, `recurse` with \
         50 gas and 50 bytes, `child.pop`, `key.drop`; Wasmtime instantiating from its pooling allocator \
         and calling; wasmi instantiating and calling.\n",
        inp.sandbox_ops
    )
    .unwrap();
    writeln!(
        md,
        "| engine | per sandbox | sandboxes per second |\n|---|---|---|"
    )
    .unwrap();
    for e in inp.sandbox_engines {
        let per = get(format!("sandbox/{e}")).map(|t| t / inp.sandbox_ops as f64);
        writeln!(
            md,
            "| {e} | {} | {} |",
            ms(per),
            per.map_or("–".into(), |p| format!("{:.0}", 1e9 / p))
        )
        .unwrap();
    }

    // Nesting.
    writeln!(md, "\n## Nesting\n").unwrap();
    writeln!(md, "The hash kernel run inside nested sandboxes, each intending all gas and memory for its child.\n").unwrap();
    write!(md, "| engine |").unwrap();
    for depth in inp.depths {
        write!(md, " depth {depth} |").unwrap();
    }
    writeln!(md, " depth-{}/depth-1 |", inp.depths.last().unwrap_or(&1)).unwrap();
    writeln!(md, "|{}", "---|".repeat(inp.depths.len() + 2)).unwrap();
    for e in ["interp", "jit"] {
        write!(md, "| {e} |").unwrap();
        for depth in inp.depths {
            write!(md, " {} |", ms(get(format!("nesting/{e}-depth-{depth}")))).unwrap();
        }
        let last = inp.depths.last().copied().unwrap_or(1);
        writeln!(
            md,
            " {} |",
            fmt_ratio(ratio(
                get(format!("nesting/{e}-depth-{last}")),
                get(format!("nesting/{e}-depth-1"))
            ))
        )
        .unwrap();
    }

    // Images.
    writeln!(md, "\n## Images\n").unwrap();
    writeln!(md, "Writing (encoding) and reading (decoding and validating) the image of a process with this much memory; \
        `write` into a fresh buffer (`Vm::image`), `write into` reusing one (`Vm::image_into`); `read` into fresh memory \
        (`Vm::from_image`), `read into` a VM reusing the memory its last root handed back (`Vm::load_image_reusing`).\n").unwrap();
    writeln!(
        md,
        "| memory | write | write MB/s | write into | write into MB/s | read | read MB/s | read into | read into MB/s |\n|---|---|---|---|---|---|---|---|---|"
    )
    .unwrap();
    for mib in inp.image_sizes {
        let w = get(format!("images/write-{mib}MiB"));
        let wi = get(format!("images/write-into-{mib}MiB"));
        let r = get(format!("images/read-{mib}MiB"));
        let ri = get(format!("images/read-into-{mib}MiB"));
        let mbs = |t: Option<f64>| {
            t.map_or("–".into(), |t| {
                format!("{:.0}", (*mib as f64 * 1048576.0 / 1e6) / (t / 1e9))
            })
        };
        writeln!(
            md,
            "| {mib} MiB | {} | {} | {} | {} | {} | {} | {} | {} |",
            ms(w),
            mbs(w),
            ms(wi),
            mbs(wi),
            ms(r),
            mbs(r),
            ms(ri),
            mbs(ri)
        )
        .unwrap();
    }

    // JIT.
    writeln!(md, "\n## JIT\n").unwrap();
    let compile = get("compile/jit".into());
    writeln!(
        md,
        "- Compile throughput: {} bytecode instructions in {} ({} instructions per second, verification included).",
        inp.compile_instructions,
        ms(compile),
        compile.map_or("–".into(), |t| format!("{:.0}", inp.compile_instructions as f64 / (t / 1e9)))
    )
    .unwrap();
    let tier = |e: &str| get(format!("tierup/{e}"));
    writeln!(
        md,
        "- Time to tier up: a fresh engine running the hash kernel (32 Ki words, 4 rounds) takes {} on `auto`, \
         {} on `jit` and {} on `interp`; auto's extra time over jit, {}, is what interpreting until the \
         loop is hot and then compiling costs.",
        ms(tier("auto")),
        ms(tier("jit")),
        ms(tier("interp")),
        ms(tier("auto").zip(tier("jit")).map(|(a, j)| a - j))
    )
    .unwrap();
    costs(&mut md, inp);
    let per_second = |id: &str| {
        get(format!("vat/{id}-{}", inp.vat_messages)).map_or("–".into(), |t| {
            format!("{:.0}", inp.vat_messages as f64 / (t / 1e9))
        })
    };
    writeln!(
        md,
        "\n## Vats\n\nOne vat running {n} queued messages on a counter, 64 turns per durable commit (WAL, \
         `synchronous=FULL`): **{} turns per second** (goal: at least 5,000). Two vat servers on loopback, \
         {n} messages queued at one's relay, each run as a turn there, boxed, posted, acknowledged and run \
         as a turn at the other: **{} messages per second** (goal: at least 1,000). See \
         [VATS.md](VATS.md).",
        per_second("turns"),
        per_second("messages"),
        n = inp.vat_messages
    )
    .unwrap();
    writeln!(
        md,
        "\n## Cluster\n\nJobs per second for tiny jobs and the cost of slicing a 10⁹-gas job across three \
         workers need a broker, so they are measured apart, by `cluster/examples/figures.rs` against a real \
         `nats-server`: see [CLUSTER.md](CLUSTER.md#figures)."
    )
    .unwrap();
    writeln!(md, "\n![Ratios](benchmarks.svg)\n").unwrap();
    writeln!(
        md,
        "The plot shows, per kernel: the JIT's speedup over the interpreter (goal: at least 10), and the \
         time ratios jit/native (goal: at most 2), jit/wasmtime and interp/wasmi (goal: about 1)."
    )
    .unwrap();

    std::fs::create_dir_all(docs)?;
    let md_path = docs.join("BENCHMARKS.md");
    std::fs::write(&md_path, md)?;
    let svg_path = docs.join("benchmarks.svg");
    draw(&plot, &svg_path).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok((md_path, svg_path))
}

/// Goal for the Entish kernels: at most this much slower than the hand-written assembler on
/// the JIT.
pub const ENTISH_GOAL: f64 = 1.15;

/// The Entish section: each kernel compiled from `benches/programs/NAME.et` against its
/// hand-written `.rasm` twin on the same engines, and the compiler's speed.
/// interp/wasmi as first measured, each from one criterion run of this group: the six first
/// kernels on 2026-11-21, when the interpreter was a plain stack-machine loop, and the three
/// added on 2026-12-03 (at d37b1b7, with the first fused ops) in that day's run.
const INTERP_BEFORE: [(&str, &str, f64); 9] = [
    ("fib", "2026-11-21", 1.46),
    ("sieve", "2026-11-21", 5.84),
    ("matmul", "2026-11-21", 5.27),
    ("hash", "2026-11-21", 4.95),
    ("sort", "2026-11-21", 1.35),
    ("bf", "2026-11-21", 4.90),
    ("fannkuch", "2026-12-03", 2.70),
    ("crc32", "2026-12-03", 3.19),
    ("list", "2026-12-03", 2.77),
];

/// The interpreter against wasmi: as first measured, and in this run, with the reference
/// interpreter (one op per instruction) of this run beside it.
fn interp_before_after(md: &mut String, inp: &Inputs<'_>) {
    let get = |k: &str, e: &str| median(inp.criterion, &format!("kernel-{k}/{e}"));
    writeln!(
        md,
        "### The interpreter against wasmi, before and after
"
    )
    .unwrap();
    writeln!(
        md,
        "interp/wasmi (goal: at most 1.0 on every kernel) as first measured, recorded from the \
         report of that day's run, and in this run; reference/wasmi is this run's reference \
         interpreter, the oracle that runs one op per instruction.\n"
    )
    .unwrap();
    writeln!(
        md,
        "| kernel | first measured | interp/wasmi then | interp/wasmi now | reference/wasmi now |\n|---|---|---|---|---|"
    )
    .unwrap();
    let mut worst: Option<(&str, f64)> = None;
    for k in inp.kernels {
        let before = INTERP_BEFORE.iter().find(|(name, ..)| name == k);
        let now = ratio(get(k, "interp"), get(k, "wasmi"));
        if let Some(r) = now {
            if worst.is_none_or(|(_, w)| r > w) {
                worst = Some((k, r));
            }
        }
        writeln!(
            md,
            "| {k} | {} | {} | {} | {} |",
            before.map_or("–", |(_, date, _)| date),
            before.map_or("–".into(), |(.., r)| format!("{r:.2}")),
            fmt_ratio(now),
            fmt_ratio(ratio(get(k, "reference"), get(k, "wasmi"))),
        )
        .unwrap();
    }
    if let Some((k, r)) = worst {
        writeln!(md, "\nWorst now: `{k}` at {r:.2}.\n").unwrap();
    }
}

fn entish(md: &mut String, inp: &Inputs<'_>) {
    let get = |id: String| median(inp.criterion, &id);
    writeln!(md, "## Entish\n").unwrap();
    writeln!(
        md,
        "The same kernels written in Entish (`benches/programs/*.et`) and compiled by `rarvm-lang`, \
         against the hand-written assembler on the same engine: entish/rasm is the time ratio (goal on \
         the JIT: at most {ENTISH_GOAL:.2}).\n"
    )
    .unwrap();
    write!(md, "| kernel |").unwrap();
    for e in inp.entish_engines {
        write!(md, " rasm {e} | entish {e} | entish/rasm {e} |").unwrap();
    }
    writeln!(md).unwrap();
    writeln!(md, "|{}", "---|".repeat(1 + 3 * inp.entish_engines.len())).unwrap();
    let mut worst: Option<(String, f64)> = None;
    for k in inp.kernels {
        write!(md, "| {k} |").unwrap();
        for e in inp.entish_engines {
            let rasm = get(format!("kernel-{k}/{e}"));
            let et = get(format!("kernel-{k}/entish-{e}"));
            let r = ratio(et, rasm);
            if *e == "jit" {
                if let Some(r) = r {
                    if worst.as_ref().is_none_or(|(_, w)| r > *w) {
                        worst = Some((k.to_string(), r));
                    }
                }
            }
            write!(md, " {} | {} | {} |", ms(rasm), ms(et), fmt_ratio(r)).unwrap();
        }
        writeln!(md).unwrap();
    }
    if let Some((k, w)) = worst {
        writeln!(
            md,
            "\nWorst on the JIT: `{k}` at {w:.2} (goal: at most {ENTISH_GOAL:.2})."
        )
        .unwrap();
    }
    let speed = |id: &str, lines: usize| {
        let t = get(format!("compile-entish/{id}"));
        (
            ms(t),
            t.map_or("–".into(), |t| format!("{:.0}", lines as f64 / (t / 1e9))),
        )
    };
    let (gen_t, gen_speed) = speed("generated", inp.entish_lines);
    let (k_t, k_speed) = speed("kernels", inp.entish_kernel_lines);
    writeln!(
        md,
        "\n- Compile speed: a generated program of {} lines in {gen_t} ({gen_speed} lines per second); \
         the {} kernels, {} lines, in {k_t} ({k_speed} \
         lines per second). Both include parsing, type checking, lowering, the debug section and \
         verification.\n",
        inp.entish_lines,
        inp.kernels.len(),
        inp.entish_kernel_lines
    )
    .unwrap();
}

/// The costs section: host ns per gas of every adversarial class on every engine.
fn costs(md: &mut String, inp: &Inputs<'_>) {
    use rarvm_conformance::adversarial::{cases, GOAL};
    let per_gas = |id: &str| -> Option<f64> {
        let gas = inp.costs.iter().find(|(n, _)| n == id)?.1;
        Some(median(inp.criterion, &format!("costs/{id}"))? / gas.max(1) as f64)
    };
    let Some(yardstick) = per_gas("arith-interp") else {
        return;
    };
    writeln!(md, "\n## Costs\n").unwrap();
    writeln!(
        md,
        "Host nanoseconds per unit of gas for every class of instruction, in the shapes an attacker would \
         pick, each a program repeating its operation until it runs out of gas \
         (`conformance/src/adversarial.rs`). Gas is calibrated on the interpreter: the yardstick is its \
         `arith` case, {yardstick:.2} ns per gas. The promise (`docs/SPEC.md` §7.1) is that no class costs \
         the host more than {GOAL:.0} yardsticks on any engine.\n"
    )
    .unwrap();
    writeln!(
        md,
        "| class | what | interp | jit | auto | worst / yardstick |\n|---|---|---|---|---|---|"
    )
    .unwrap();
    let mut worst: Option<(String, f64)> = None;
    for case in cases() {
        let cell = |e: &str| per_gas(&format!("{}-{e}", case.name));
        let values: Vec<Option<f64>> = ["interp", "jit", "auto"].iter().map(|e| cell(e)).collect();
        let high = values.iter().flatten().fold(0f64, |a, b| a.max(*b)) / yardstick;
        if worst.as_ref().is_none_or(|(_, w)| high > *w) {
            worst = Some((case.name.to_string(), high));
        }
        let show = |v: &Option<f64>| v.map_or("–".into(), |v| format!("{v:.2} ns"));
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {high:.1} |",
            case.name,
            case.what,
            show(&values[0]),
            show(&values[1]),
            show(&values[2])
        )
        .unwrap();
    }
    if let Some((name, w)) = worst {
        writeln!(
            md,
            "\nWorst class: `{name}` at {w:.1} yardsticks (goal: at most {GOAL:.0})."
        )
        .unwrap();
    }
}

fn draw(
    rows: &[(String, [Option<f64>; 4])],
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let labels = [
        "jit speedup over interp",
        "jit/native",
        "jit/wasmtime",
        "interp/wasmi",
    ];
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
    ];
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = rows.len().max(1);
    let top = rows
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(1.0f64, |a, b| a.max(*b))
        * 1.3;
    let mut chart = ChartBuilder::on(&root)
        .caption("rarvm: ratios per kernel (log scale)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..n as f64, (0.05f64..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            rows.get(x.floor() as usize)
                .map(|r| r.0.clone())
                .unwrap_or_default()
        })
        .y_desc("ratio")
        .draw()?;
    for (s, label) in labels.iter().enumerate() {
        let color = colors[s];
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, (_, v))| {
                let y = v[s]?;
                let x0 = i as f64 + 0.1 + 0.2 * s as f64;
                Some(Rectangle::new([(x0, 0.05), (x0 + 0.18, y)], color.filled()))
            }))?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 1.0), (n as f64, 1.0)],
        BLACK,
    )))?;
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
