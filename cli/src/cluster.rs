//! The cluster's commands: `submit`, `worker` and `job`, over NATS JetStream.

use std::path::Path;

use rarvm::{EngineKind, Program, Vm};
use serde_json::{json, Value};

use crate::{
    at, configure_host, exit_code, load_root, print_outcome, usage, Common, Failure, GrantOrder,
    EXIT_IO, EXIT_USAGE,
};

#[derive(clap::Args)]
pub(crate) struct Nats {
    /// The NATS server with JetStream.
    #[arg(long = "nats", value_name = "URL", default_value = rarvm_cluster::DEFAULT_URL)]
    pub url: String,
}

/// A cluster error as a failure: the broker's with exit status 1, the rest as bad input.
fn cluster_failure(e: rarvm_cluster::Error) -> Failure {
    match e {
        rarvm_cluster::Error::Connect(_) | rarvm_cluster::Error::Broker(_) => {
            Failure(EXIT_IO, e.to_string())
        }
        _ => usage(e.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn submit(
    file: &Path,
    gas: u64,
    mem: Option<u64>,
    slice: Option<u64>,
    engine: Option<EngineKind>,
    grants: Vec<String>,
    nats: &Nats,
    args: &[String],
) -> Result<u8, Failure> {
    if slice == Some(0) {
        return Err(usage("--slice must be at least 1 gas"));
    }
    for spec in &grants {
        rarvm_cluster::job_grant(spec).map_err(cluster_failure)?;
    }
    let (mut vm, _, mem, compiled) = load_root(file, mem, args)?;
    let common = Common {
        engine: engine.unwrap_or_default(),
        jit_stats: false,
        snapshot: None,
        json: false,
        grants: grants.clone(),
        ask: false,
        no_ask: true,
        deterministic: true,
        replay: None,
    };
    let order = compiled
        .as_ref()
        .map(|compiled| GrantOrder { file, compiled });
    configure_host(&mut vm, &common, order)?;
    let spec = rarvm_cluster::JobSpec {
        program: file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        gas,
        mem,
        slice,
        engine: engine.map(|e| e.name().to_string()),
        grants,
    };
    let image = vm.image();
    let id = rarvm_cluster::block_on(async {
        let cluster = rarvm_cluster::Cluster::connect(&nats.url).await?;
        cluster.submit(&image, spec).await
    })
    .map_err(cluster_failure)?;
    println!("{id}");
    Ok(0)
}

pub(crate) fn worker(
    engine: EngineKind,
    slice: u64,
    name: Option<String>,
    quiet: bool,
    nats: &Nats,
) -> Result<u8, Failure> {
    if slice == 0 {
        return Err(usage("--slice must be at least 1 gas"));
    }
    if let Some(name) = &name {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(usage(
                "--name must be 1 to 128 characters, none of them control characters",
            ));
        }
    }
    // Fail early, here, if this host lacks the engine.
    Vm::new(
        &Program::from_source("func main() -> 0\n    ret\nend\n", "probe.rasm")
            .expect("the probe assembles"),
        &[],
    )
    .and_then(|mut vm| vm.set_engine(engine))
    .map_err(|e| usage(e.to_string()))?;
    let opts = rarvm_cluster::WorkerOptions {
        name: name.unwrap_or_else(rarvm_cluster::default_worker_name),
        engine,
        slice,
        verbose: !quiet,
    };
    rarvm_cluster::block_on(async {
        let config = rarvm_cluster::Config {
            retry_connect: true,
            ..Default::default()
        };
        let cluster = loop {
            match rarvm_cluster::Cluster::connect_with(&nats.url, config.clone()).await {
                Ok(c) => break c,
                Err(e) => {
                    eprintln!("{}: {e}; trying again", opts.name);
                    tokio_sleep().await;
                }
            }
        };
        if !quiet {
            println!("{}: working on {}", opts.name, nats.url);
        }
        cluster.work(&opts).await;
    });
    Ok(0)
}

/// A pause before trying the broker again.
async fn tokio_sleep() {
    rarvm_cluster::sleep(std::time::Duration::from_millis(500)).await;
}

pub(crate) fn job(id: &str, wait: bool, json: bool, nats: &Nats) -> Result<u8, Failure> {
    rarvm_cluster::check_id(id).map_err(cluster_failure)?;
    let (record, last) = rarvm_cluster::block_on(async {
        let cluster = rarvm_cluster::Cluster::connect(&nats.url).await?;
        let record = if wait {
            cluster.wait(id, None).await?
        } else {
            cluster.job(id).await?
        };
        let last = match &record.result {
            Some(r) => Some(cluster.image(&r.image.hash).await?),
            None => None,
        };
        Ok::<_, rarvm_cluster::Error>((record, last))
    })
    .map_err(cluster_failure)?;
    let vm = match &last {
        Some(bytes) => Some(
            Vm::from_image(bytes)
                .map_err(|e| usage(format!("the final image of job {id} does not decode: {e}")))?,
        ),
        None => None,
    };
    let slices: Vec<Value> = record
        .slices
        .iter()
        .map(|s| {
            json!({
                "worker": s.worker,
                "gas": s.gas,
                "status": s.status,
                "gas_used": s.gas_used,
                "image_hash": s.image.hash,
                "image_bytes": s.image.bytes,
            })
        })
        .collect();
    if json {
        let mut v = json!({
            "id": record.id,
            "state": record.state.name(),
            "program": record.spec.program,
            "gas_total": record.spec.gas,
            "slices": slices,
            "error": record.error,
        });
        if let (Some(vm), Some(r)) = (&vm, &record.result) {
            let out = vm.outcome();
            let obj = v.as_object_mut().expect("an object");
            obj.insert("status".into(), json!(out.status.name()));
            obj.insert("fault".into(), json!(out.fault.map(|f| f.name())));
            obj.insert("gas_used".into(), json!(out.gas_used));
            obj.insert("gas_left".into(), json!(out.gas_left));
            obj.insert("stack".into(), json!(out.results));
            obj.insert("image_hash".into(), json!(r.image.hash));
            obj.insert("transcript".into(), json!(vm.transcript().len()));
            obj.insert("at".into(), json!(at(&vm.root())));
        }
        println!("{v}");
    } else {
        println!("job:      {}", record.id);
        println!("program:  {}", record.spec.program);
        println!("state:    {}", record.state.name());
        println!(
            "slices:   {} ({} of {} gas given)",
            record.slices.len(),
            record.gas_given(),
            record.spec.gas
        );
        for (i, s) in record.slices.iter().enumerate() {
            println!("  {i:>4}  {:<24} {:>14} gas  {}", s.worker, s.gas, s.status);
        }
        if let Some(e) = &record.error {
            println!("error:    {e}");
        }
        if let (Some(vm), Some(r)) = (&vm, &record.result) {
            print_outcome(&vm.outcome(), at(&vm.root()));
            println!("image:    blake3 {}", r.image.hash);
        }
    }
    if record.error.is_some() {
        return Ok(EXIT_USAGE);
    }
    Ok(vm.map_or(0, |vm| exit_code(&vm.outcome())))
}
