//! The cluster against a real NATS JetStream server (`docs/CLUSTER.md`): each test starts
//! its own `nats-server` on a free loopback port with a temporary store directory, and
//! kills it when done. Without the binary a test prints `SKIPPED` and passes — unless
//! `RARVM_REQUIRE_SERVICES=1`, when it fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rarvm::{image, EngineKind, Program, Vm};
use rarvm_cluster::{Cluster, Config, JobSpec, State};

const RARVM: &str = env!("CARGO_BIN_EXE_rarvm");

fn nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([
            "/usr/sbin".into(),
            "/usr/bin".into(),
            "/usr/local/bin".into(),
        ])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// A broker on a free port, killed on drop.
struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(test: &str) -> Option<Broker> {
        let Some(bin) = nats_server() else {
            if std::env::var("RARVM_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("nats-server not found (RARVM_REQUIRE_SERVICES=1)");
            }
            println!("SKIPPED: nats-server not found (set NATS_SERVER or install nats-server)");
            return None;
        };
        // A port found free can be taken again before the broker binds it (tests run in
        // parallel): then the broker exits, and another port is tried.
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .expect("a free port")
                .local_addr()
                .expect("an address")
                .port();
            let dir =
                std::env::temp_dir().join(format!("rarvm-{test}-{}-{port}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a store directory");
            let mut b = Broker {
                bin: bin.clone(),
                dir,
                port,
                child: None,
            };
            if b.try_up() {
                return Some(b);
            }
        }
        panic!("nats-server found no free port in 20 tries");
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        assert!(self.try_up(), "nats-server listens on port {}", self.port);
    }

    /// Starts the broker on its port; false if it exited instead (the port was taken).
    fn try_up(&mut self) -> bool {
        let mut child = Command::new(&self.bin)
            .args(["-js", "-sd"])
            .arg(&self.dir)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let start = Instant::now();
        loop {
            if child.try_wait().expect("nats-server's status").is_some() {
                return false;
            }
            // Something listens there; if it is another test's broker, this one fails to bind
            // and exits at once, so it is ours if it still runs a moment later.
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
                if child.try_wait().expect("nats-server's status").is_some() {
                    return false;
                }
                self.child = Some(child);
                return true;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server listens"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A worker process, killed on drop.
struct Worker(Child);

impl Worker {
    fn start(url: &str, name: &str, slice: u64) -> Worker {
        let child = Command::new(RARVM)
            .args(["worker", "--quiet", "--nats", url, "--name", name])
            .args(["--slice", &slice.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rarvm worker starts");
        Worker(child)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn program(file: &str) -> Program {
    let path = root().join(file);
    let src = std::fs::read_to_string(&path).expect("the example reads");
    Program::from_source(&src, file).expect("the example assembles")
}

/// A job: program, argument, total gas, slice.
struct Case {
    file: &'static str,
    arg: u64,
    gas: u64,
    slice: u64,
}

/// What one local run in one go ends with: status, results, gas used, image hash.
fn local(c: &Case) -> (String, Vec<u64>, u64, String) {
    let mut vm = Vm::new(&program(c.file), &[c.arg]).expect("a root");
    rarvm_cluster::grant_job(&mut vm, &[]).expect("deterministic");
    vm.set_engine(EngineKind::Auto).expect("auto");
    let out = vm.run(c.gas, rarvm_cluster::DEFAULT_MEM);
    (
        out.status.name().to_string(),
        out.results,
        out.gas_used,
        image::hash_hex(&vm.image()),
    )
}

fn spec(c: &Case) -> JobSpec {
    JobSpec {
        program: c.file.into(),
        gas: c.gas,
        mem: rarvm_cluster::DEFAULT_MEM,
        slice: Some(c.slice),
        engine: None,
        grants: vec![],
    }
}

/// A runtime and a client whose consumer (created here, on a fresh broker) redelivers a
/// task not acknowledged within `ack_wait`, at most `max_deliver` times.
fn connect(url: &str, ack_wait: Duration, max_deliver: i64) -> (tokio::runtime::Runtime, Cluster) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let config = Config {
        ack_wait,
        max_deliver,
        retry_connect: false,
    };
    let cluster = rt
        .block_on(Cluster::connect_with(url, config))
        .expect("the broker answers");
    (rt, cluster)
}

fn first_image(c: &Case) -> Vec<u8> {
    let mut vm = Vm::new(&program(c.file), &[c.arg]).expect("a root");
    rarvm_cluster::grant_job(&mut vm, &[]).expect("deterministic");
    vm.image()
}

/// xorshift64*: a seeded, deterministic choice of moments and victims.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for i in 0..20 {
        cases.push(Case {
            file: "examples/fib.rasm",
            arg: 12 + i % 10,
            gas: 10_000_000,
            slice: 150_000,
        });
    }
    for i in 0..15 {
        cases.push(Case {
            file: "examples/sieve.rasm",
            arg: 1_000 + 4_000 * i,
            gas: 10_000_000,
            slice: 200_000,
        });
    }
    for i in 0..12 {
        cases.push(Case {
            file: "examples/nested.rasm",
            arg: 1 + i % 4,
            gas: 3_000_000,
            slice: 250_000,
        });
    }
    // A job whose total runs out: it ends out of gas, exactly there.
    cases.push(Case {
        file: "examples/fib.rasm",
        arg: 25,
        gas: 1_000_000,
        slice: 300_000,
    });
    cases.push(Case {
        file: "examples/sieve.rasm",
        arg: 50_000,
        gas: 10_000_000,
        slice: 10_000_000,
    });
    // 20 MiB of memory: its images go through the object store.
    cases.push(Case {
        file: "examples/sieve.rasm",
        arg: 20 << 20,
        gas: 3_000_000,
        slice: 1_000_000,
    });
    cases
}

#[test]
fn fifty_jobs_survive_killed_workers_and_a_broker_restart() {
    let Some(mut broker) = Broker::start("chaos") else {
        return;
    };
    let url = broker.url();
    let cases = cases();
    assert_eq!(cases.len(), 50);
    let (rt, cluster) = connect(&url, Duration::from_secs(2), 100);
    let mut ids = Vec::new();
    for c in &cases {
        let id = rt
            .block_on(cluster.submit(&first_image(c), spec(c)))
            .expect("submitted");
        ids.push(id);
    }
    let want: Vec<_> = cases.iter().map(local).collect();

    let mut rng = Rng(0x5eed_1234_abcd_0017);
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| Worker::start(&url, &format!("w{i}"), 100_000_000))
        .collect();
    let start = Instant::now();
    let mut restarted_broker = false;
    let mut kills = 0;
    loop {
        let done = ids
            .iter()
            .filter(|id| {
                rt.block_on(cluster.job(id))
                    .map(|r| r.is_finished())
                    .unwrap_or(false)
            })
            .count();
        if done == ids.len() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "{done} of {} jobs finished in time",
            ids.len()
        );
        std::thread::sleep(Duration::from_millis(100 + rng.below(400)));
        if !restarted_broker && done >= ids.len() / 3 {
            broker.kill();
            std::thread::sleep(Duration::from_millis(300));
            broker.up();
            restarted_broker = true;
        } else if kills < 12 {
            let i = rng.below(3) as usize;
            // Dropping the old worker SIGKILLs it.
            workers[i] = Worker::start(&url, &format!("w{i}r{kills}"), 100_000_000);
            kills += 1;
        }
    }
    drop(workers);
    assert!(restarted_broker, "the broker was restarted once");
    for ((c, id), want) in cases.iter().zip(&ids).zip(&want) {
        let r = rt.block_on(cluster.job(id)).expect("the record");
        assert_eq!(r.state, State::Done, "{} {}: {:?}", c.file, c.arg, r.error);
        let got = r.result.clone().expect("a result");
        assert_eq!(
            (&got.status, &got.results, got.gas_used, &got.image.hash),
            (&want.0, &want.1, want.2, &want.3),
            "{} {} ended differently from one local run",
            c.file,
            c.arg
        );
        assert!(r.gas_given() <= c.gas, "gas within the total");
        let bytes = rt
            .block_on(cluster.image(&got.image.hash))
            .expect("the final image");
        assert_eq!(image::hash_hex(&bytes), want.3);
    }
    let big = ids.last().expect("the 20 MiB job");
    let r = rt.block_on(cluster.job(big)).expect("its record");
    assert!(r.slices.len() >= 3, "the 20 MiB job hopped");
    assert!(r
        .slices
        .iter()
        .all(|s| s.image.stored && s.image.bytes > 20 << 20));
}

fn rarvm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(RARVM).args(args).output().expect("rarvm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_submit_work_and_show_a_job_and_refuse_bad_input() {
    let Some(broker) = Broker::start("cli") else {
        return;
    };
    let url = broker.url();
    let fib = root().join("examples/fib.rasm");
    let fib = fib.to_str().expect("a UTF-8 path");
    let (code, id, err) = rarvm(&[
        "submit", fib, "--gas", "1000000", "--slice", "100000", "--grant", "clock", "--nats", &url,
        "--", "20",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = id.trim().to_string();
    let _worker = Worker::start(&url, "solo", 100_000_000);
    let (code, out, err) = rarvm(&["job", &id, "--wait", "--nats", &url]);
    assert_eq!(code, 0, "{err}");
    let (_, local, _) = rarvm(&["run", fib, "--gas", "1000000", "--", "20"]);
    assert!(out.contains(&local), "{out}\nshould contain\n{local}");
    assert!(out.contains("state:    done"), "{out}");
    assert!(out.contains("solo"), "{out}");
    let (code, json, _) = rarvm(&["job", &id, "--json", "--nats", &url]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["stack"][0], 6765);
    assert_eq!(v["slices"].as_array().map(Vec::len), Some(4));

    for (args, says) in [
        (vec!["job", "no such!", "--nats", &url], "is not a job id"),
        (
            vec!["job", "nosuchjob", "--nats", &url],
            "no job `nosuchjob`",
        ),
        (
            vec![
                "submit", fib, "--grant", "console", "--nats", &url, "--", "3",
            ],
            "a job cannot be granted `console`",
        ),
        (
            vec![
                "submit",
                fib,
                "--grant",
                "fs:/tmp:ro",
                "--nats",
                &url,
                "--",
                "3",
            ],
            "a job cannot be granted `fs:/tmp:ro`",
        ),
        (
            vec!["submit", fib, "--slice", "0", "--nats", &url, "--", "3"],
            "--slice must be at least 1",
        ),
    ] {
        let (code, _, err) = rarvm(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, _, err) = rarvm(&["job", "abc", "--nats", "nats://127.0.0.1:1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach the broker"), "{err}");
}

#[test]
fn forged_tasks_fail_their_job_or_are_dropped_and_workers_go_on() {
    let Some(broker) = Broker::start("forged") else {
        return;
    };
    let url = broker.url();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let cluster = rt
        .block_on(Cluster::connect(&url))
        .expect("the broker answers");
    let c = Case {
        file: "examples/fib.rasm",
        arg: 10,
        gas: 1_000_000,
        slice: 1_000_000,
    };
    let img = first_image(&c);
    // A job whose first task is followed by a forgery of its slice 1 and garbage.
    let id = rt
        .block_on(cluster.submit(&img, spec(&c)))
        .expect("submitted");
    let victim = rt
        .block_on(cluster.submit(&img, spec(&c)))
        .expect("submitted");
    rt.block_on(async {
        let client = async_nats::connect(url.as_str()).await.expect("a client");
        let js = async_nats::jetstream::new(client);
        // No headers at all.
        js.publish(rarvm_cluster::SUBJECT, "garbage".into())
            .await
            .expect("published")
            .await
            .expect("stored");
        // The victim's slice 0 again, under a new message id, with bytes that are not
        // its image: the hash check catches it (or it is a stale duplicate by then).
        let mut h = async_nats::HeaderMap::new();
        h.insert("Rarvm-Job", victim.as_str());
        h.insert("Rarvm-Slice", "0");
        h.insert("Rarvm-Image", image::hash_hex(&img).as_str());
        h.insert("Nats-Msg-Id", "forged");
        js.publish_with_headers(rarvm_cluster::SUBJECT, h, "not an image".into())
            .await
            .expect("published")
            .await
            .expect("stored");
        // A bad job id.
        let mut h = async_nats::HeaderMap::new();
        h.insert("Rarvm-Job", "../../etc");
        h.insert("Rarvm-Slice", "x");
        h.insert("Rarvm-Image", "00");
        js.publish_with_headers(rarvm_cluster::SUBJECT, h, "".into())
            .await
            .expect("published")
            .await
            .expect("stored");
    });
    let after = rt
        .block_on(cluster.submit(&img, spec(&c)))
        .expect("submitted");
    let _worker = Worker::start(&url, "solo", 100_000_000);
    let want = local(&c);
    for job in [&id, &after] {
        let r = rt
            .block_on(cluster.wait(job, Some(Duration::from_secs(30))))
            .expect("it finishes");
        assert_eq!(r.state, State::Done, "{:?}", r.error);
        assert_eq!(r.result.expect("a result").image.hash, want.3);
    }
    let r = rt
        .block_on(cluster.wait(&victim, Some(Duration::from_secs(30))))
        .expect("it finishes");
    match r.state {
        // The genuine task came first; the forgery was a stale duplicate.
        State::Done => assert_eq!(r.result.expect("a result").image.hash, want.3),
        State::Failed => panic!("the genuine task runs before the forgery: {:?}", r.error),
        s => panic!("unexpected state {s:?}"),
    }
}

#[test]
fn a_task_that_reaches_the_delivery_cap_fails_its_job() {
    let Some(broker) = Broker::start("cap") else {
        return;
    };
    let url = broker.url();
    let (rt, cluster) = connect(&url, Duration::from_secs(1), 3);
    let c = Case {
        file: "examples/fib.rasm",
        arg: 10,
        gas: 1_000_000,
        slice: 1_000_000,
    };
    let id = rt
        .block_on(cluster.submit(&first_image(&c), spec(&c)))
        .expect("submitted");
    // Two deliveries taken by a "worker" that dies before acknowledging: pulled from the
    // shared consumer and never acked, so the broker delivers them again after ack_wait.
    rt.block_on(async {
        use futures_util::StreamExt;
        let client = async_nats::connect(url.as_str()).await.expect("a client");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .get_stream(rarvm_cluster::STREAM)
            .await
            .expect("the stream");
        let consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_consumer(rarvm_cluster::CONSUMER)
            .await
            .expect("the consumer");
        for _ in 0..2 {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(Duration::from_secs(5))
                .messages()
                .await
                .expect("a fetch");
            let msg = batch.next().await.expect("the task").expect("a message");
            assert_eq!(
                msg.headers
                    .as_ref()
                    .unwrap()
                    .get("Rarvm-Job")
                    .unwrap()
                    .as_str(),
                id
            );
        }
    });
    // The third and last delivery goes to a real worker, which fails the job instead of
    // leaving it running for ever.
    let options = rarvm_cluster::WorkerOptions {
        name: "last".into(),
        engine: EngineKind::Interp,
        slice: 1_000_000,
        verbose: false,
    };
    let handled = rt
        .block_on(cluster.work_one(&options, Duration::from_secs(5)))
        .expect("a task");
    assert!(
        matches!(&handled, rarvm_cluster::Handled::Dropped(why) if why.contains("delivered 3 times")),
        "{handled:?}"
    );
    let record = rt.block_on(cluster.job(&id)).expect("the record");
    assert_eq!(record.state, State::Failed);
    assert!(record.error.unwrap().contains("never completed"));
}
