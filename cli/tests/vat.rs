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
        if next(&mut rng).is_multiple_of(3) {
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
        assert_eq!(
            r["objects"][0]["port"],
            serde_json::json!([1000, 0]),
            "{r:#}"
        );
        assert_eq!(r["turns"]["recorded"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["turns"]["yielded"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["turn"], 2 * PER_VAT + 2, "{r:#}");
        assert_eq!(r["peers"][0]["next_out"], PER_VAT + 1, "{r:#}");
        assert_eq!(r["peers"][0]["next_in"], PER_VAT + 1, "{r:#}");
    }
    println!("{kills} kills; both relays counted 1000, none twice");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `src` compiled as an object's program.
fn object(name: &str, src: &str) -> rarvm::Program {
    let compiled = rarvm_lang::compile_str(name, src, &rarvm_lang::Options::default())
        .unwrap_or_else(|d| panic!("{name}: {}", d.render(false)));
    rarvm::Program::from_bytes(&compiled.bytes()).expect("verifies")
}

fn counter() -> rarvm::Program {
    let src = std::fs::read_to_string(root().join("examples/vat/counter.et")).expect("example");
    object("counter.et", &src)
}

fn new_vat(test: &str) -> (PathBuf, Vat) {
    let dir = scratch(test).join("v");
    let vat = Vat::create(&dir, &format!("127.0.0.1:{}", free_port())).expect("creates");
    (dir, vat)
}

fn turns(dir: &Path) -> usize {
    rarvm_vat::run_turns(dir, &rarvm_vat::ServeOptions::default()).expect("turns run")
}

/// The port of the object `r` as the vat holds it now, restored from its log.
fn port_of(dir: &Path, r: &SturdyRef) -> serde_json::Value {
    let report = report(dir);
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["ref"] == r.to_string())
        .map(|o| o["port"].clone())
        .expect("the object is listed")
}

fn statuses(dir: &Path, n: usize) -> Vec<String> {
    let r = Vat::open(dir).expect("opens").inspect(n).expect("inspects");
    r["turns"]["last"]
        .as_array()
        .expect("turns")
        .iter()
        .map(|t| t["status"].as_str().expect("a status").to_string())
        .collect()
}

fn introduce(vat: &mut Vat, to: &SturdyRef, peer: &SturdyRef) {
    vat.send(
        to,
        Message {
            refs: vec![*peer],
            ..Message::default()
        },
    )
    .expect("queues");
}

const FLAKY: &str = r#"
grant vat: custom16
import std.vat as v

def main():
    sink: u64 = 0
    count: u64 = 0
    while True:
        yield count
        n = port_in()
        if n == 0:
            sink, _ = v.in_ref(vat, 0)
        else:
            w = port_in()
            count += 1
            v.put(vat, w)
            v.send(vat, sink)
            if w == 1:
                trap()
            elif w == 2:
                while True:
                    pass
            elif w == 3:
                big = new u8[4 << 20]
                big[0] = 1
"#;

#[test]
fn a_turn_that_faults_or_runs_out_is_rolled_back_whole_and_the_next_message_runs() {
    let (dir, mut vat) = new_vat("rollback");
    let sink = vat
        .install(&counter(), &[], 1_000_000, 1 << 20)
        .expect("installs");
    let flaky = vat
        .install(&object("flaky.et", FLAKY), &[], 10_000_000, 1 << 20)
        .expect("installs");
    introduce(&mut vat, &flaky, &sink);
    for w in [5, 1, 2, 3, 7] {
        vat.send(&flaky, Message::words(vec![w])).expect("queues");
    }
    // Both constructions, the introduction, five messages, and the two sends that
    // committed.
    assert_eq!(turns(&dir), 10);
    // Only 5 and 7 counted, and only they reached the sink: the failed turns' state
    // changes and sends are gone.
    assert_eq!(port_of(&dir, &flaky), serde_json::json!([2]));
    assert_eq!(port_of(&dir, &sink), serde_json::json!([12, 2]));
    assert_eq!(
        statuses(&dir, 9),
        [
            "yielded",
            "yielded",
            "yielded",
            "yielded",
            "fault",
            "out_of_gas",
            "out_of_memory",
            "yielded",
            "yielded",
            "yielded"
        ][1..]
    );
    let r = Vat::open(&dir)
        .expect("opens")
        .inspect(9)
        .expect("inspects");
    assert_eq!(r["turns"]["last"][3]["fault"], "trap", "{r:#}");
    // Restoring after a rollback replayed the log: the commit snapshotted the object,
    // so failing again costs no replay.
    let o = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["ref"] == flaky.to_string())
        .unwrap();
    assert_eq!(o["log"], 0, "{o:#}");
}

const CALLER: &str = r#"
grant vat: custom16
import std.vat as v

def main():
    c: u64 = 0
    got: u64 = 0
    while True:
        yield got
        n = port_in()
        if n == 0:
            c, _ = v.in_ref(vat, 0)
        else:
            x = port_in()
            if x == 0:
                _, e = v.call(vat, v.SELF)
                got = e
            else:
                v.put(vat, x)
                k, e = v.call(vat, c)
                assert e == 0 and k == 2
                got = v.result(vat, 0)
                if x == 9:
                    trap()
"#;

#[test]
fn an_immediate_call_runs_the_callee_now_and_rolls_back_with_its_caller() {
    let (dir, mut vat) = new_vat("call");
    let callee = vat
        .install(&counter(), &[], 1_000_000, 1 << 20)
        .expect("installs");
    let caller = vat
        .install(&object("caller.et", CALLER), &[], 1_000_000, 1 << 20)
        .expect("installs");
    introduce(&mut vat, &caller, &callee);
    for x in [5, 6] {
        vat.send(&caller, Message::words(vec![x])).expect("queues");
    }
    turns(&dir);
    assert_eq!(port_of(&dir, &caller), serde_json::json!([11]));
    assert_eq!(port_of(&dir, &callee), serde_json::json!([11, 2]));
    // A caller that fails after its call takes the callee's turn with it.
    vat.send(&caller, Message::words(vec![9])).expect("queues");
    turns(&dir);
    assert_eq!(port_of(&dir, &callee), serde_json::json!([11, 2]));
    // Calling itself: it is in its turn already.
    vat.send(&caller, Message::words(vec![0])).expect("queues");
    turns(&dir);
    assert_eq!(
        port_of(&dir, &caller),
        serde_json::json!([rarvm_vat::power::errors::BUSY])
    );
}

const MAKER: &str = r#"
grant vat: custom16
import std.vat as v

def main():
    buf = new u8[65536]
    made: u64 = 0
    while True:
        yield made
        words = port_in()
        n = v.in_bytes(vat, buf)
        r, e = v.make(vat, buf[:n], 50000)
        if e == 0:
            v.put(vat, 4)
            v.send(vat, r)
            made += 1
"#;

#[test]
fn an_object_makes_objects_from_module_bytes_and_sends_to_them() {
    let (dir, mut vat) = new_vat("make");
    let maker = vat
        .install(&object("maker.et", MAKER), &[], 1_000_000, 1 << 20)
        .expect("installs");
    for bytes in [counter().to_bytes(), b"not a module".to_vec()] {
        vat.send(
            &maker,
            Message {
                bytes,
                ..Message::default()
            },
        )
        .expect("queues");
    }
    turns(&dir);
    assert_eq!(port_of(&dir, &maker), serde_json::json!([1]));
    let r = report(&dir);
    let objects = r["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 2, "{r:#}");
    assert_eq!(objects[1]["port"], serde_json::json!([4, 1]), "{r:#}");
    assert_eq!(objects[1]["gas_per_turn"], 50000);
}

const BIG: &str = r#"
grant vat: custom16

def main():
    mem = new u8[64 << 20]
    turns: u64 = 0
    while True:
        yield turns, mem[0]
        n = port_in()
        mem[turns % 4096 * 16384] = 7
        turns += 1
"#;

#[test]
fn a_commit_costs_what_the_turn_changed_not_the_size_of_a_64_mib_object() {
    let (dir, mut vat) = new_vat("big");
    let big = vat
        .install(&object("big.et", BIG), &[], 100_000_000, 80 << 20)
        .expect("installs");
    turns(&dir);
    let db = dir.join("vat.db");
    let wal = dir.join("vat.db-wal");
    let size = || {
        std::fs::metadata(&db).map_or(0, |m| m.len())
            + std::fs::metadata(&wal).map_or(0, |m| m.len())
    };
    let before = size();
    for _ in 0..200 {
        vat.send(&big, Message::words(vec![])).expect("queues");
        // One turn per commit, as a server under light load runs them.
        rarvm_vat::run_turns(
            &dir,
            &rarvm_vat::ServeOptions {
                batch: 1,
                ..rarvm_vat::ServeOptions::default()
            },
        )
        .expect("turns");
    }
    let grown = size() - before;
    let r = report(&dir);
    let o = &r["objects"][0];
    assert_eq!(o["port"], serde_json::json!([200, 7]), "{r:#}");
    assert!(o["memory"].as_u64().unwrap() >= 64 << 20, "{o:#}");
    assert!(
        o["image_bytes"].as_u64().unwrap() < 4096,
        "no snapshot of 64 MiB: {o:#}"
    );
    // 200 commits wrote a few hundred bytes each (pages of the log, the turn records
    // and the WAL's frames), never the object.
    assert!(
        grown < 8 << 20,
        "200 commits grew the database by {grown} bytes"
    );
    println!(
        "200 turns of a 64 MiB object, one commit each: database and WAL +{grown} bytes, log {} B",
        o["log_bytes"]
    );
}

/// The shell blocks of `examples/vat/README.md`, run as one script in a scratch
/// directory on free ports: each prints exactly the lines its `# prints:` comments say.
#[test]
fn the_walk_through_in_examples_vat_does_what_it_says() {
    let text = std::fs::read_to_string(root().join("examples/vat/README.md")).expect("README");
    let mut script = String::new();
    let mut inside = false;
    for line in text.lines() {
        match (inside, line) {
            (false, "```sh") => inside = true,
            (true, "```") => inside = false,
            (true, l) => {
                script.push_str(l);
                script.push('\n');
            }
            (false, _) => {}
        }
    }
    let expected: Vec<&str> = script
        .lines()
        .filter_map(|l| l.split_once("# prints: ").map(|(_, p)| p.trim_end()))
        .collect();
    assert!(expected.len() >= 8, "the walk-through says what it prints");
    let dir = scratch("walk");
    let mut script = script.replace("/tmp/vat-demo", dir.to_str().expect("UTF-8"));
    for port in 7701..=7704 {
        script = script.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    }
    let bin = Path::new(RARVM).parent().expect("a directory");
    let script = script.replace("$PWD/target/release", bin.to_str().expect("UTF-8"));
    let out = Command::new("bash")
        .args(["-euc", &script])
        .current_dir(root())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

const BURNER: &str = r#"
grant vat: custom16

def main():
    total: u64 = 0
    turns: u64 = 0
    while True:
        yield turns, total
        n = port_in()
        for i in range(100000):
            total += i
        turns += 1
"#;

#[test]
fn a_long_log_becomes_a_snapshot_and_restores_to_the_same_state() {
    let (dir, mut vat) = new_vat("snapshot");
    let burner = vat
        .install(&object("burner.et", BURNER), &[], 10_000_000, 1 << 20)
        .expect("installs");
    turns(&dir);
    let fresh = report(&dir)["objects"][0]["image_bytes"].clone();
    for _ in 0..30 {
        vat.send(&burner, Message::words(vec![])).expect("queues");
        turns(&dir);
    }
    let r = report(&dir);
    let o = &r["objects"][0];
    let sum: u64 = (0..100_000).sum();
    assert_eq!(o["port"], serde_json::json!([30, 30 * sum]), "{o:#}");
    assert!(
        o["log"].as_u64().unwrap() < 30,
        "a snapshot was written: {o:#}"
    );
    assert_ne!(o["image_bytes"], fresh, "{o:#}");
}

#[test]
fn the_private_key_is_the_owners_alone_and_never_in_the_database() {
    let (dir, mut vat) = new_vat("key");
    let c = vat
        .install(&counter(), &[], 100_000, 1 << 16)
        .expect("installs");
    vat.send(&c, Message::words(vec![1])).expect("queues");
    turns(&dir);
    let key = std::fs::read(dir.join("vat.key")).expect("the key file");
    assert_eq!(key.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("vat.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    for file in ["vat.db", "vat.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            assert!(
                !bytes.windows(32).any(|w| w == key),
                "{file} holds the private key"
            );
        }
    }
    let printed = rarvm(&["vat", "inspect", dir.to_str().unwrap(), "--json"]);
    assert!(!printed.contains(&rarvm_vat::wire::hex(&key)));
}

#[test]
fn hostile_command_lines_get_one_line_naming_the_problem() {
    let (dir, _vat) = new_vat("cli");
    let d = dir.to_str().unwrap();
    let fails = |args: &[&str], says: &str| {
        let out = Command::new(RARVM)
            .args(args)
            .current_dir(root())
            .output()
            .expect("rarvm runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    let nowhere = dir.join("nothing-here");
    fails(
        &["vat", "inspect", nowhere.to_str().unwrap()],
        "holds no vat",
    );
    fails(&["vat", "create", d], "holds a vat already");
    fails(&["vat", "send", d, "rarvm-vat://zz/yy", "1"], "hex digits");
    fails(
        &["vat", "send", d, "http://example.com", "1"],
        "starts with `rarvm-vat://`",
    );
    fails(
        &["vat", "install", d, "examples/library.et"],
        "an object holds one key",
    );
    fails(
        &["vat", "install", d, "examples/vat/counter.et", "--", "1"],
        "argument",
    );
    let r = rarvm(&["vat", "install", d, "examples/vat/counter.et"]);
    let many: Vec<String> = (0..63).map(|i| i.to_string()).collect();
    let mut args = vec!["vat", "send", d, r.trim()];
    args.extend(many.iter().map(String::as_str));
    fails(&args, "63 words");
}

#[test]
fn a_message_to_a_peer_that_is_down_arrives_once_it_is_up_and_sigterm_stops_cleanly() {
    let dir = scratch("down");
    let (a, b) = (dir.join("a"), dir.join("b"));
    let (ra, rb) = (vat_with_relay(&a), vat_with_relay(&b));
    rarvm(&["vat", "gossip", a.to_str().unwrap(), b.to_str().unwrap()]);
    let mut va = Vat::open(&a).expect("opens");
    introduce(&mut va, &ra, &rb);
    let mut vb = Vat::open(&b).expect("opens");
    introduce(&mut vb, &rb, &ra);
    turns(&b);
    let mut sa = Server::start(&a);
    va.send(&ra, Message::words(vec![1, 7])).expect("queues");
    // b is down: a's relay ran the message, and a resends the relayed one, backing off.
    std::thread::sleep(Duration::from_millis(1500));
    let r = report(&a);
    assert_eq!(r["objects"][0]["port"], serde_json::json!([1, 0]), "{r:#}");
    assert_eq!(r["peers"][0]["outbox"], 1, "{r:#}");
    let mut sb = Server::start(&b);
    let deadline = Instant::now() + Duration::from_secs(30);
    while report(&b)["objects"][0]["port"] != serde_json::json!([1, 0]) {
        assert!(Instant::now() < deadline, "the message never arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    while report(&a)["peers"][0]["outbox"] != 0 {
        assert!(Instant::now() < deadline, "the ACK never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: the server finishes its batch and exits 0.
    for s in [&mut sa, &mut sb] {
        let mut child = s.child.take().expect("running");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = child.try_wait().expect("waits") {
                break st;
            }
            assert!(Instant::now() < deadline, "SIGTERM did not stop the server");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
