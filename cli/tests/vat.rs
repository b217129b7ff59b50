//! Vats as users run them: `rarvm vat` servers as real processes on loopback, killed with
//! SIGKILL at random moments and restarted (`docs/VATS.md`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rarvm_vat::{Message, SturdyRef, Vat};

const RARVM: &str = env!("CARGO_BIN_EXE_rarvm");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rarvm(args: &[&str]) -> String {
    let out = Command::new(RARVM)
        .args(args)
        .current_dir(root())
        .output()
        .expect("rarvm runs");
    assert!(
        out.status.success(),
        "rarvm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rarvm-vat-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A vat server process, killed on drop.
struct Server {
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut s = Server {
            dir: dir.to_path_buf(),
            child: None,
        };
        s.restart();
        s
    }

    fn restart(&mut self) {
        let child = Command::new(RARVM)
            .args(["vat", "start"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A vat in `dir` with a relay object; its reference.
fn vat_with_relay(dir: &Path) -> SturdyRef {
    let listen = format!("127.0.0.1:{}", free_port());
    rarvm(&["vat", "create", dir.to_str().unwrap(), "--listen", &listen]);
    let r = rarvm(&[
        "vat",
        "install",
        dir.to_str().unwrap(),
        "examples/vat/relay.et",
    ]);
    SturdyRef::parse(r.trim()).expect("install prints a reference")
}

fn report(dir: &Path) -> serde_json::Value {
    Vat::open(dir).expect("opens").inspect(5).expect("inspects")
}

/// xorshift64: the harness's seeded choices.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn two_vats_exchange_a_thousand_messages_exactly_once_through_twenty_kills() {
    let dir = scratch("crash");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let (ra, rb) = (vat_with_relay(&a), vat_with_relay(&b));
    rarvm(&["vat", "gossip", a.to_str().unwrap(), b.to_str().unwrap()]);
    // Introductions first: each relay keeps the other's reference.
    for (d, to, peer) in [(&a, &ra, &rb), (&b, &rb, &ra)] {
        rarvm(&[
            "vat",
            "send",
            d.to_str().unwrap(),
            &to.to_string(),
            "--ref",
            &peer.to_string(),
        ]);
    }
    let mut servers = [Server::start(&a), Server::start(&b)];
    let seed = std::env::var("RARVM_VAT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    println!("seed {seed} (set RARVM_VAT_SEED to choose another)");
    let mut rng = seed | 1;
    // 500 ids start at each relay, queued in rounds while the servers run and die: each
    // relay counts its own 500 and relays them to the other, which counts them too.
    const PER_VAT: u64 = 500;
    const ROUNDS: u64 = 25;
    let mut kills = 0;
    for round in 0..ROUNDS {
        let (lo, hi) = (round * PER_VAT / ROUNDS, (round + 1) * PER_VAT / ROUNDS);
        for (d, to, base) in [(&a, &ra, 0), (&b, &rb, PER_VAT)] {
            let mut vat = Vat::open(d).expect("opens while its server runs");
            for id in lo..hi {
                vat.send(to, Message::words(vec![1, base + id]))
                    .expect("queues");
            }
        }
        std::thread::sleep(Duration::from_millis(20 + next(&mut rng) % 180));
        let victim = (next(&mut rng) % 2) as usize;
        servers[victim].kill();
        kills += 1;
        if next(&mut rng) % 3 == 0 {
            // Down for a while: the other keeps resending into the void.
            std::thread::sleep(Duration::from_millis(next(&mut rng) % 300));
        }
        servers[victim].restart();
    }
    assert!(kills >= 20);
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = |r: &serde_json::Value| {
        r["objects"][0]["port"] == serde_json::json!([2 * PER_VAT, 0])
            && r["inbox"] == 0
            && r["peers"][0]["outbox"] == 0
    };
    let (mut last_a, mut last_b);
    loop {
        last_a = report(&a);
        last_b = report(&b);
        if done(&last_a) && done(&last_b) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not done after {kills} kills:\n{last_a:#}\n{last_b:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(servers);
    for r in [&last_a, &last_b] {
        // Every message was executed once: 1,000 counted, none twice; every turn ran
        // once: the construction, the introduction and 1,000 messages, all committed.
        assert_eq!(r["objects"][0]["port"], serde_json::json!([1000, 0]), "{r:#}");
        assert_eq!(r["turns"]["recorded"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["turns"]["yielded"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["turn"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["peers"][0]["next_out"], PER_VAT + 1, "{r:#}");
        assert_eq!(r["peers"][0]["next_in"], PER_VAT + 1, "{r:#}");
    }
    println!("{kills} kills; both relays counted 1000, none twice");
    let _ = std::fs::remove_dir_all(&dir);
}
