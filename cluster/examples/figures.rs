//! The figures of `docs/CLUSTER.md`: jobs per second for tiny jobs, and the cost of
//! slicing a 10⁹-gas job into slices of 10⁷ across three workers against one local run.
//! Needs a running JetStream server:
//!
//!     nats-server -js -sd /tmp/nats -a 127.0.0.1 -p 4222 &
//!     cargo run --release -p rarvm-cluster --example figures -- nats://127.0.0.1:4222

use std::time::{Duration, Instant};

use rarvm::{EngineKind, Program, Vm};
use rarvm_cluster::{grant_job, Cluster, JobSpec, WorkerOptions, DEFAULT_MEM};

fn fib() -> Program {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fib.rasm"))
        .expect("examples/fib.rasm");
    Program::from_source(&src, "fib.rasm").expect("it assembles")
}

fn image(p: &Program, arg: u64) -> Vec<u8> {
    let mut vm = Vm::new(p, &[arg]).expect("a root");
    grant_job(&mut vm, &[]).expect("deterministic");
    vm.image()
}

fn spec(gas: u64, slice: u64) -> JobSpec {
    JobSpec {
        program: "fib.rasm".into(),
        gas,
        mem: DEFAULT_MEM,
        slice: Some(slice),
        engine: None,
        grants: vec![],
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| rarvm_cluster::DEFAULT_URL.into());
    let p = fib();
    let client = Cluster::connect(&url).await.expect("the broker");
    for i in 0..3 {
        let url = url.clone();
        tokio::spawn(async move {
            let c = Cluster::connect(&url).await.expect("the broker");
            let w = WorkerOptions {
                name: format!("w{i}"),
                engine: EngineKind::Auto,
                slice: 10_000_000,
                verbose: false,
            };
            c.work(&w).await;
        });
    }

    let n = 300;
    let t = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            client
                .submit(&image(&p, 10), spec(1_000_000, 1_000_000))
                .await
                .expect("submit"),
        );
    }
    for id in &ids {
        client
            .wait(id, Some(Duration::from_secs(120)))
            .await
            .expect("done");
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "tiny jobs (fib 10, one slice): {n} in {s:.2} s = {:.0} jobs/s",
        n as f64 / s
    );

    let gas = 1_000_000_000;
    let t = Instant::now();
    let mut vm = Vm::new(&p, &[40]).expect("a root");
    grant_job(&mut vm, &[]).expect("deterministic");
    let out = vm.run(gas, DEFAULT_MEM);
    let local = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let id = client
        .submit(&image(&p, 40), spec(gas, 10_000_000))
        .await
        .expect("submit");
    let r = client
        .wait(&id, Some(Duration::from_secs(600)))
        .await
        .expect("done");
    let sliced = t.elapsed().as_secs_f64();
    let res = r.result.expect("a result");
    assert_eq!(res.gas_used, out.gas_used);
    assert_eq!(res.image.hash, rarvm::image::hash_hex(&vm.image()));
    println!(
        "10^9 gas (fib 40): one local run {local:.2} s; {} slices of 10^7 on three workers {sliced:.2} s ({:.1} ms per slice of overhead); same image",
        r.slices.len(),
        (sliced - local) * 1000.0 / r.slices.len() as f64
    );
}
