//! Vats under load: turns per second on one vat with durable commits, and messages per
//! second between two vat servers on loopback (`docs/VATS.md`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rarvm::Program;
use rarvm_vat::{Message, ServeOptions, SturdyRef, Vat};

fn example(name: &str) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/vat")
        .join(name);
    let src = std::fs::read_to_string(&path).expect("the example");
    let compiled = rarvm_lang::compile_str(name, &src, &rarvm_lang::Options::default())
        .expect("the example compiles");
    Program::from_bytes(&compiled.bytes()).expect("verifies")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rarvm-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("an address").to_string()
}

/// One vat with a counter, turning messages queued before each measurement.
pub struct Turns {
    dir: PathBuf,
    vat: Vat,
    counter: SturdyRef,
}

impl Turns {
    pub fn start() -> Turns {
        let dir = scratch("turns").join("v");
        let mut vat = Vat::create(&dir, &free_addr()).expect("creates");
        let counter = vat
            .install(&example("counter.et"), &[], 100_000, 1 << 20)
            .expect("installs");
        rarvm_vat::run_turns(&dir, &ServeOptions::default()).expect("constructs");
        Turns { dir, vat, counter }
    }

    /// Queues `n` messages (not timed), then times running and committing them.
    pub fn run(&mut self, n: u64) -> Duration {
        let c = self.counter;
        self.vat
            .send_all((0..n).map(|i| (c, Message::words(vec![i]))))
            .expect("queues");
        let start = Instant::now();
        let ran = rarvm_vat::run_turns(&self.dir, &ServeOptions::default()).expect("turns");
        let took = start.elapsed();
        assert_eq!(ran as u64, n);
        took
    }
}

impl Drop for Turns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir.parent().expect("scratch"));
    }
}

/// Two vat servers with a relay each: messages queued at one cross to the other.
pub struct Messages {
    root: PathBuf,
    a: Vat,
    b: Vat,
    relay: SturdyRef,
    stop: Arc<AtomicBool>,
    servers: Vec<std::thread::JoinHandle<()>>,
    next_id: u64,
}

impl Messages {
    pub fn start() -> Messages {
        let root = scratch("messages");
        let (da, db) = (root.join("a"), root.join("b"));
        let mut a = Vat::create(&da, &free_addr()).expect("creates");
        let mut b = Vat::create(&db, &free_addr()).expect("creates");
        let relay = example("relay.et");
        let ra = a.install(&relay, &[], 100_000, 1 << 20).expect("installs");
        let rb = b.install(&relay, &[], 100_000, 1 << 20).expect("installs");
        a.add_peer(&b.id(), &b.listen().expect("listens"))
            .expect("gossips");
        b.add_peer(&a.id(), &a.listen().expect("listens"))
            .expect("gossips");
        let intro = |r: SturdyRef| Message {
            refs: vec![r],
            ..Message::default()
        };
        a.send(&ra, intro(rb)).expect("queues");
        b.send(&rb, intro(ra)).expect("queues");
        let stop = Arc::new(AtomicBool::new(false));
        let servers = [da, db]
            .into_iter()
            .map(|d| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    rarvm_vat::serve(&d, &ServeOptions::default(), stop).expect("serves");
                })
            })
            .collect();
        let m = Messages {
            root,
            a,
            b,
            relay: ra,
            stop,
            servers,
            next_id: 0,
        };
        m.wait_for(2);
        m
    }

    /// Waits until `b` has committed `turns` turns.
    fn wait_for(&self, turns: u64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.b.turn_counts().expect("counts").1 < turns {
            assert!(Instant::now() < deadline, "messages stopped crossing");
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Queues `n` messages at `a` and times until `b` has executed every one: `a` runs
    /// each as a turn and sends it on, boxed, to `b`, which runs it as a turn.
    pub fn run(&mut self, n: u64) -> Duration {
        let (done, _) = self.b.turn_counts().expect("counts");
        let start = Instant::now();
        let (relay, first) = (self.relay, self.next_id);
        self.next_id += n;
        self.a
            .send_all((first..first + n).map(|id| (relay, Message::words(vec![1, id % 60_000]))))
            .expect("queues");
        self.wait_for(done + n);
        start.elapsed()
    }
}

impl Drop for Messages {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
