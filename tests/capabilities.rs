//! Capabilities end to end: the filesystem cannot be escaped (`..`, absolute paths,
//! symbolic links), images cannot smuggle authority, network keys reach only their
//! endpoint, application-defined resources, deterministic mode, and replay from an
//! image's transcript is bit-identical — on every engine.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use rarvm::host::{
    Grant, HostKey, KeyError, KeyKind, Reply, Resource, ResourceCall, LIST_ENTRY_GAS,
};
use rarvm::os::{parse_grant, Capture, Console, Dir, Endpoint};
use rarvm::{image, EngineKind, Program, Status, Vm};

/// A granted directory.
fn directory(path: &Path, writable: bool) -> Grant {
    Grant::Resource(Box::new(Dir::open(path, writable).unwrap()))
}

/// A console writing into `out`, reading nothing.
fn console(out: &Capture) -> Grant {
    Grant::Resource(Box::new(Console::new(
        Box::new(out.clone()),
        Box::new(std::io::empty()),
    )))
}

/// A network endpoint.
fn net(host: &str, port: u16) -> Grant {
    Grant::Resource(Box::new(Endpoint::new(host, port)))
}

/// The transcript an image carries.
fn transcript_of(image: &[u8]) -> Vec<rarvm::host::Record> {
    Vm::from_image(image).unwrap().transcript().to_vec()
}

/// A directory holding `root/` (what is granted) and `outside/` (what must stay out of
/// reach), removed when dropped.
struct Sandbox(PathBuf);

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("rarvm-caps-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/secret.txt"), "top secret").unwrap();
        std::fs::write(dir.join("root/inside.txt"), "inside").unwrap();
        Sandbox(dir)
    }

    fn root(&self) -> PathBuf {
        self.0.join("root")
    }

    fn outside(&self) -> PathBuf {
        self.0.join("outside")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program that narrows the root's key 0 to `path` (kept in memory at 0), invokes `op`
/// with `arg` on the range 1024..1024+len (holding `data`), and returns
/// `attenuate_err r err`, or `attenuate_err 0 0` if narrowing failed.
fn fs_program(path: &[u8], op: &str, arg: u64, data: &[u8], len: usize) -> Program {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let src = format!(
        ".memory 8192\n.data 0 x\"{}\"\n.data 1024 x\"{}\"\n\
         func main() -> 3 locals(k, e)\n\
         push 0\n push right.all\n push 0\n push {}\n key.attenuate\n local.set e\n local.set k\n\
         local.get e\n local.get e\n jnz failed\n\
         local.get k\n push {op}\n push {arg}\n push 1024\n push {len}\n key.invoke\n ret\n\
         failed:\n push 0\n push 0\n ret\nend\n",
        hex(path),
        hex(data),
        path.len(),
    );
    Program::from_source(&src, "fs_op.rasm").unwrap()
}

/// Runs `module` on `engine` with `dir` granted (read-write unless `ro`); returns the
/// results and the VM.
fn run_fs(module: &Program, dir: &Path, writable: bool, engine: EngineKind) -> (Vec<u64>, Vm) {
    let mut vm = Vm::new(module, &[]).unwrap();
    vm.set_engine(engine).unwrap();
    vm.grant(None, directory(dir, writable)).unwrap();
    let out = vm.run(1_000_000, 1 << 20);
    assert_eq!(out.status, Status::Returned, "{out:?}");
    (out.results, vm)
}

/// `attenuate_err r err` of `op` on `path`, the same on every engine (for an operation
/// that changes nothing; see [`fs_change`]).
fn fs_op(sb: &Sandbox, path: &str, op: &str, arg: u64, data: &[u8], len: usize) -> [u64; 3] {
    let m = fs_program(path.as_bytes(), op, arg, data, len);
    let mut seen: Option<(Vec<u64>, String)> = None;
    for engine in EngineKind::ALL {
        let (results, vm) = run_fs(&m, &sb.root(), true, engine);
        let hash = image::hash_hex(&vm.image());
        if let Some((r, h)) = &seen {
            assert_eq!((&results, &hash), (r, h), "{path} {op} on {engine:?}");
        }
        seen = Some((results, hash));
    }
    seen.unwrap().0.try_into().unwrap()
}

/// `attenuate_err r err` of an operation that changes the directory, run once.
fn fs_change(sb: &Sandbox, path: &str, op: &str) -> [u64; 3] {
    let m = fs_program(path.as_bytes(), op, 0, &[], 0);
    run_fs(&m, &sb.root(), true, EngineKind::Jit)
        .0
        .try_into()
        .unwrap()
}

const DENIED: u64 = KeyError::Denied as u64;
const BAD_PATH: u64 = KeyError::BadPath as u64;
const NOT_FOUND: u64 = KeyError::NotFound as u64;
const EXISTS: u64 = KeyError::Exists as u64;

#[test]
fn dot_dot_cannot_climb_out() {
    let sb = Sandbox::new("dotdot");
    for path in [
        "..",
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
        "sub/..",
        "./inside.txt",
        "sub//x",
        "sub/",
        "a\x1b[2Kb",
        "line\nbreak",
        "tab\there",
        "del\x7f",
    ] {
        assert_eq!(
            fs_op(&sb, path, "fs.read", 0, &[], 64),
            [BAD_PATH, 0, 0],
            "{path}"
        );
    }
    // A path that happens to contain dots is just a name.
    std::fs::write(sb.root().join("..."), "dots").unwrap();
    assert_eq!(fs_op(&sb, "...", "fs.read", 0, &[], 64), [0, 4, 0]);
}

#[test]
fn absolute_paths_are_not_paths() {
    let sb = Sandbox::new("absolute");
    let secret = sb.outside().join("secret.txt");
    for path in [secret.to_str().unwrap(), "/etc/passwd", "/", "/tmp"] {
        assert_eq!(
            fs_op(&sb, path, "fs.read", 0, &[], 64),
            [BAD_PATH, 0, 0],
            "{path}"
        );
    }
    assert_eq!(
        fs_op(&sb, "a\0b", "fs.read", 0, &[], 64),
        [BAD_PATH, 0, 0],
        "a NUL byte"
    );
}

#[test]
fn symlinks_are_never_followed() {
    let sb = Sandbox::new("symlinks");
    let root = sb.root();
    symlink(sb.outside().join("secret.txt"), root.join("to_secret")).unwrap();
    symlink(sb.outside(), root.join("to_outside")).unwrap();
    symlink(root.join("inside.txt"), root.join("to_inside")).unwrap();
    symlink(sb.outside().join("planted.txt"), root.join("dangling")).unwrap();
    symlink("../../outside", root.join("sub/up")).unwrap();

    // Reading, writing, sizing, truncating through a link: refused.
    for op in ["fs.read", "fs.size", "fs.truncate"] {
        assert_eq!(
            fs_op(&sb, "to_secret", op, 0, &[], 64),
            [0, 0, DENIED],
            "{op}"
        );
    }
    assert_eq!(
        fs_op(&sb, "to_secret", "fs.write", 0, b"pwned", 5),
        [0, 0, DENIED]
    );
    // A link as a directory on the path, however deep.
    for path in ["to_outside/secret.txt", "sub/up/secret.txt", "to_outside"] {
        assert_eq!(
            fs_op(&sb, path, "fs.read", 0, &[], 64),
            [0, 0, DENIED],
            "{path}"
        );
    }
    assert_eq!(
        fs_op(&sb, "to_outside", "fs.list", 0, &[], 64),
        [0, 0, DENIED]
    );
    assert_eq!(
        fs_op(&sb, "to_outside/new.txt", "fs.create", 0, &[], 0),
        [0, 0, DENIED]
    );
    assert_eq!(
        fs_op(&sb, "sub/up/new", "fs.mkdir", 0, &[], 0),
        [0, 0, DENIED]
    );
    // Even a link that stays inside is not followed.
    assert_eq!(
        fs_op(&sb, "to_inside", "fs.read", 0, &[], 64),
        [0, 0, DENIED]
    );
    // Creating over a dangling link does not create its target.
    assert_eq!(
        fs_op(&sb, "dangling", "fs.create", 0, &[], 0),
        [0, 0, EXISTS]
    );
    assert!(!sb.outside().join("planted.txt").exists());
    // Removing a link is using it: refused, and both the link and its target stay.
    assert_eq!(fs_change(&sb, "to_secret", "fs.remove"), [0, 0, DENIED]);
    assert!(root.join("to_secret").symlink_metadata().is_ok());
    // Creating or making a directory over a link: it exists (and is not followed).
    assert_eq!(fs_change(&sb, "to_outside", "fs.mkdir"), [0, 0, EXISTS]);
    // The outside is untouched.
    assert_eq!(
        std::fs::read_to_string(sb.outside().join("secret.txt")).unwrap(),
        "top secret"
    );
    let names: Vec<_> = std::fs::read_dir(sb.outside()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn special_files_are_not_read() {
    let sb = Sandbox::new("fifo");
    let fifo = sb.root().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // Opening a FIFO for reading would block; the host opens non-blocking and refuses it.
    assert_eq!(
        fs_op(&sb, "fifo", "fs.read", 0, &[], 64),
        [0, 0, KeyError::Io as u64]
    );
}

#[test]
fn read_only_grants_refuse_changes_and_keys_cannot_widen() {
    let sb = Sandbox::new("readonly");
    // The root key carries every right; the read-only grant allows only reading.
    let m = fs_program(b"inside.txt", "fs.write", 0, b"changed", 7);
    let (results, _) = run_fs(&m, &sb.root(), false, EngineKind::Jit);
    assert_eq!(results, vec![0, 0, DENIED]);
    let m = fs_program(b"new.txt", "fs.create", 0, &[], 0);
    let (results, _) = run_fs(&m, &sb.root(), false, EngineKind::Interp);
    assert_eq!(results, vec![0, 0, DENIED]);
    assert_eq!(
        std::fs::read_to_string(sb.root().join("inside.txt")).unwrap(),
        "inside"
    );
    assert!(!sb.root().join("new.txt").exists());
    let m = fs_program(b"inside.txt", "fs.read", 0, &[], 64);
    let (results, vm) = run_fs(&m, &sb.root(), false, EngineKind::Auto);
    assert_eq!(results, vec![0, 6, 0]);
    assert_eq!(&vm.root().memory()[1024..1030], b"inside");
    // Missing things are reported, not created.
    assert_eq!(
        fs_op(&sb, "sub/missing.txt", "fs.read", 0, &[], 8),
        [0, 0, NOT_FOUND]
    );
}

/// A root holding one key, as an image.
fn image_with_key(key: HostKey) -> Vec<u8> {
    let m = Program::from_source("func main() -> 0\n yield\n ret\nend\n", "k.rasm").unwrap();
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.run(100, 4096);
    let mut bytes = vm.image();
    // Splice the key in: the root's key count is the four bytes before the transcript.
    let at = bytes.len() - 8;
    assert_eq!(&bytes[at..], &[0u8; 8]);
    bytes.truncate(at);
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.push(key.kind.code());
    bytes.extend_from_slice(&key.rights.to_le_bytes());
    bytes.push(key.name.len() as u8);
    bytes.extend_from_slice(key.name.as_bytes());
    bytes.extend_from_slice(&(key.scope.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&key.scope);
    bytes.extend_from_slice(&key.state.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes
}

#[test]
fn images_cannot_smuggle_authority() {
    let fs = |scope: &[u8], rights: u64| HostKey {
        scope: scope.to_vec(),
        rights,
        ..HostKey::new(KeyKind::Fs, "fs", 0)
    };
    // A forged key with a scope that climbs, starts at the root, or with rights its kind
    // does not define is not an image at all.
    for (key, why) in [
        (fs(b"../outside", 7), "scope"),
        (fs(b"/etc", 7), "scope"),
        (fs(b"a//b", 7), "scope"),
        (fs(b"", 0xff), "rights"),
        (
            HostKey {
                scope: b"x".to_vec(),
                ..HostKey::new(KeyKind::Console, "console", 0)
            },
            "scope",
        ),
        (HostKey::new(KeyKind::Console, "bad name!", 0), "name"),
        (HostKey::new(KeyKind::Net, "net", 5), "state"),
    ] {
        let e = Vm::from_image(&image_with_key(key)).err().expect("refused");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    // A well-formed key binds only to what the resuming host grants under its name.
    let good = image_with_key(fs(b"inside.txt", 7));
    let vm = Vm::from_image(&good).unwrap();
    let keys: Vec<_> = vm.root().host_keys().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].name, keys[0].scope), ("fs", &b"inside.txt"[..]));
}

#[test]
fn resumed_keys_bind_by_name_and_kind_only() {
    let sb = Sandbox::new("rebind");
    let m = fs_program(b"inside.txt", "fs.read", 0, &[], 64);
    // Pause before the read.
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.grant(None, directory(&sb.root(), false)).unwrap();
    assert_eq!(vm.run(20, 1 << 20).status, Status::OutOfGas);
    let paused = vm.image();
    let resume = |grants: Vec<(Option<&str>, Grant)>| {
        let mut vm = Vm::from_image(&paused).unwrap();
        for (name, g) in grants {
            vm.grant(name, g).unwrap();
        }
        let out = vm.run(1_000_000, 0);
        assert_eq!(out.status, Status::Returned);
        (out.results, vm.root().key_slots())
    };
    let unbound = KeyError::Unbound as u64;
    // No grant: unbound, and resuming adds no keys.
    assert_eq!(resume(vec![]), (vec![0, 0, unbound], 2));
    // A grant of another name, or of another kind under the name: unbound.
    let other = directory(&sb.root(), true);
    assert_eq!(
        resume(vec![(Some("data"), other)]),
        (vec![0, 0, unbound], 2)
    );
    assert_eq!(
        resume(vec![(Some("fs"), console(&Capture::default()))]),
        (vec![0, 0, unbound], 2)
    );
    // The resuming host decides what `fs` is: here the outside directory, where
    // inside.txt does not exist.
    let elsewhere = directory(&sb.outside(), false);
    assert_eq!(resume(vec![(None, elsewhere)]), (vec![0, 0, NOT_FOUND], 2));
    let same = directory(&sb.root(), false);
    assert_eq!(resume(vec![(None, same)]), (vec![0, 6, 0], 2));
}

/// A program that connects its key 0, sends "ping", receives into 64.., closes, and
/// returns every `r err`; before connecting it tries to send (not connected).
fn net_program() -> Program {
    let src = r#"
.memory 128
.data 0 "ping"
func main() -> 10
    push 0
    push net.send
    push 0
    push 0
    push 4
    key.invoke
    push 0
    push net.connect
    push 0
    push 0
    push 0
    key.invoke
    push 0
    push net.send
    push 0
    push 0
    push 4
    key.invoke
    push 0
    push net.recv
    push 0
    push 64
    push 4
    key.invoke
    push 0
    push net.close
    push 0
    push 0
    push 0
    key.invoke
    ret
end
"#;
    Program::from_source(src, "net.rasm").unwrap()
}

#[test]
fn network_keys_reach_their_endpoint_and_replay_without_it() {
    let m = net_program();
    let mut recorded: Option<Vec<u8>> = None;
    for engine in EngineKind::ALL {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            s.write_all(b"pong").unwrap();
        });
        let mut vm = Vm::new(&m, &[]).unwrap();
        vm.set_engine(engine).unwrap();
        vm.grant(None, net("127.0.0.1", port)).unwrap();
        let out = vm.run(1_000_000, 1 << 20);
        server.join().unwrap();
        let nc = KeyError::NotConnected as u64;
        assert_eq!(
            out.results,
            vec![0, nc, 0, 0, 4, 0, 4, 0, 0, 0],
            "{engine:?}"
        );
        assert_eq!(&vm.root().memory()[64..68], b"pong");
        assert_eq!(vm.transcript().len(), 5);
        // The transcript depends on the port only through nothing: the same on all engines.
        let img = vm.image();
        if let Some(r) = &recorded {
            assert_eq!(&img, r, "{engine:?}");
        }
        recorded = Some(img);
    }
    // Replayed with no server listening at all: the same image, byte for byte.
    let recorded = recorded.unwrap();
    let transcript = transcript_of(&recorded);
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.grant(None, net("127.0.0.1", 9)).unwrap();
    vm.replay(transcript).unwrap();
    vm.run(1_000_000, 1 << 20);
    assert_eq!(vm.image(), recorded);
    assert_eq!(vm.replay_state().diverged_at, None);
    assert_eq!(vm.replay_state().replayed, 5);
}

/// The library example, run live, then replayed from its image's transcript with an
/// empty directory granted in place of the real one.
#[test]
fn replay_from_an_image_is_bit_identical() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/library");
    let src = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/library.rasm"),
    )
    .unwrap();
    let m = Program::from_source(&src, "library.rasm").unwrap();
    let setup = |dir: PathBuf, out: Capture| {
        let mut vm = Vm::new(&m, &[]).unwrap();
        vm.grant(None, directory(&dir, true)).unwrap();
        vm.grant(None, console(&out)).unwrap();
        vm
    };
    let live_console = Capture::default();
    let mut live = setup(dir.clone(), live_console.clone());
    live.run(1_000_000, 1 << 20);
    let recorded = live.image();
    assert!(String::from_utf8_lossy(&live_console.contents()).contains("Hello from"));
    let transcript = transcript_of(&recorded);

    let empty = Sandbox::new("replay");
    for engine in EngineKind::ALL {
        // From the start.
        let quiet = Capture::default();
        let mut vm = setup(empty.outside(), quiet.clone());
        vm.set_engine(engine).unwrap();
        vm.replay(transcript.clone()).unwrap();
        vm.run(1_000_000, 1 << 20);
        assert_eq!(vm.image(), recorded, "{engine:?}");
        assert!(
            quiet.contents().is_empty(),
            "a replay touches nothing outside"
        );
        // From a pause point partway, whose transcript is a prefix.
        for gas in [150, 600, 2_000] {
            let mut first = setup(dir.clone(), Capture::default());
            first.run(gas, 1 << 20);
            let mut vm = Vm::from_image(&first.image()).unwrap();
            vm.set_engine(engine).unwrap();
            vm.grant(None, directory(&empty.outside(), true)).unwrap();
            vm.grant(None, console(&Capture::default())).unwrap();
            vm.replay(transcript.clone()).unwrap();
            vm.run(1_000_000 - gas, 0);
            assert_eq!(vm.image(), recorded, "{engine:?} from {gas}");
        }
    }
    // A transcript that is not a continuation is refused.
    let mut other = setup(dir, Capture::default());
    other.run(1_000_000, 1 << 20);
    let mut wrong = transcript.clone();
    wrong[0].reply.r ^= 1;
    assert!(other.replay(wrong).is_err());
}

#[test]
fn replay_reports_where_a_different_run_diverged() {
    let a = Program::from_source(
        ".data 0 \"a\"\nfunc main() -> 2\n push 0\n push console.write\n push 0\n push 0\n push 1\n key.invoke\n ret\nend\n",
        "a.rasm",
    )
    .unwrap();
    let b = Program::from_source(
        "func main() -> 2\n push 0\n push console.read\n push 0\n push 0\n push 0\n key.invoke\n ret\nend\n",
        "b.rasm",
    )
    .unwrap();
    let run = |m: &Program, replay: Option<Vec<rarvm::host::Record>>| {
        let mut vm = Vm::new(m, &[]).unwrap();
        vm.grant(None, console(&Capture::default())).unwrap();
        if let Some(t) = replay {
            vm.replay(t).unwrap();
        }
        vm.run(10_000, 4096);
        vm
    };
    let recorded = run(&a, None).transcript().to_vec();
    let vm = run(&b, Some(recorded));
    assert_eq!(vm.replay_state().diverged_at, Some(0));
    assert_eq!(vm.outcome().results, vec![0, 0]);
}

/// A key-value store the application exposes: op 0 puts (arg = key, the range = value),
/// op 1 gets into the range. Needs write to put and read to get.
#[derive(Default)]
struct Store(std::collections::BTreeMap<u64, Vec<u8>>);

impl Resource for Store {
    fn kind(&self) -> KeyKind {
        KeyKind::Custom(40)
    }
    fn describe(&self, _: &HostKey) -> String {
        "the store".into()
    }
    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        match call.op {
            0 if call.rights & 2 != 0 => {
                self.0.insert(call.arg, call.data.to_vec());
                Reply::ok(call.data.len() as u64)
            }
            1 if call.rights & 1 != 0 => match self.0.get(&call.arg) {
                Some(v) => {
                    call.out.extend_from_slice(v);
                    Reply::ok(v.len() as u64)
                }
                None => Reply::error(KeyError::NotFound),
            },
            0 | 1 => Reply::error(KeyError::Denied),
            _ => Reply::error(KeyError::Unsupported),
        }
    }
}

#[test]
fn applications_define_their_own_kinds() {
    let src = r#"
.memory 64
.data 0 "value"
func main() -> 7
    push 0
    key.kind                ; 40
    push 0
    push 0                  ; put 7 = "value": 5 0
    push 7
    push 0
    push 5
    key.invoke
    push 0
    push 1                  ; a read-only copy, in slot 1
    push 0
    push 0
    key.attenuate
    drop
    push 0                  ; it cannot put: 0 denied
    push 8
    push 0
    push 5
    key.invoke
    push 0
    push 1                  ; get 7 into 32..: 5 0
    push 7
    push 32
    push 16
    key.invoke
    ret
end
"#;
    let m = Program::from_source(src, "store.rasm").unwrap();
    for engine in EngineKind::ALL {
        let mut vm = Vm::new(&m, &[]).unwrap();
        vm.set_engine(engine).unwrap();
        vm.grant(Some("store"), Grant::Resource(Box::new(Store::default())))
            .unwrap();
        let out = vm.run(100_000, 4096);
        assert_eq!(out.results, vec![40, 5, 0, 0, DENIED, 5, 0], "{engine:?}");
        assert_eq!(&vm.root().memory()[32..37], b"value");
        assert_eq!(vm.transcript().len(), 3);
    }
    // Kinds below 16 belong to the VM.
    struct Bad;
    impl Resource for Bad {
        fn kind(&self) -> KeyKind {
            KeyKind::Custom(5)
        }
        fn describe(&self, _: &HostKey) -> String {
            "nothing".into()
        }
        fn invoke(&mut self, _: ResourceCall<'_>) -> Reply {
            Reply::ok(0)
        }
    }
    let mut vm = Vm::new(&m, &[]).unwrap();
    assert!(vm.grant(None, Grant::Resource(Box::new(Bad))).is_err());
}

#[test]
fn deterministic_hosts_refuse_the_outside() {
    let m = Program::from_source(
        "func main() -> 0
 ret
end
",
        "d.rasm",
    )
    .unwrap();
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.set_deterministic().unwrap();
    let sb = Sandbox::new("deterministic");
    let refused = [
        directory(&sb.root(), false),
        net("127.0.0.1", 80),
        Grant::Resource(Box::new(Store::default())),
    ];
    for g in refused {
        let e = vm.grant(None, g).unwrap_err().to_string();
        assert!(e.contains("deterministic"), "{e}");
    }
    // The console it grants only writes; its clock is virtual: the VM answers it.
    for spec in ["console", "clock", "random:1"] {
        let (name, g) = parse_grant(spec, true).unwrap();
        vm.grant(name.as_deref(), g).unwrap();
    }
    let keys: Vec<_> = vm.root().host_keys().map(|k| (k.kind, k.pure)).collect();
    assert_eq!(
        keys,
        [
            (KeyKind::Console, false),
            (KeyKind::Clock, true),
            (KeyKind::Random, true)
        ]
    );
    let (_, live_console) = parse_grant("console", false).unwrap();
    assert!(vm.grant(Some("stdin"), live_console).is_err());
    // Deterministic mode is chosen before anything is granted.
    let mut late = Vm::new(&m, &[]).unwrap();
    late.grant(None, console(&Capture::default())).unwrap();
    assert!(late.set_deterministic().is_err());
}

#[test]
fn grant_specs_parse_or_say_why_not() {
    // A directory whose name holds a colon: the mode is after the last one.
    let sb = Sandbox::new("specs");
    let colon = sb.root().join("a:b");
    std::fs::create_dir(&colon).unwrap();
    std::fs::write(colon.join("inside.txt"), "in a:b").unwrap();
    let root = sb.root();
    let ok = [
        ("console".to_string(), None, KeyKind::Console),
        ("clock".into(), None, KeyKind::Clock),
        ("clock:virtual".into(), None, KeyKind::Clock),
        ("random:42".into(), None, KeyKind::Random),
        ("random:0xff".into(), None, KeyKind::Random),
        (format!("fs:{}:ro", root.display()), None, KeyKind::Fs),
        (
            format!("data=fs:{}:rw", colon.display()),
            Some("data"),
            KeyKind::Fs,
        ),
        ("net:127.0.0.1:8080".into(), None, KeyKind::Net),
        ("web=net:[::1]:443".into(), Some("web"), KeyKind::Net),
    ];
    for (spec, name, kind) in ok {
        let (n, g) = parse_grant(&spec, false).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!((n.as_deref(), g.kind()), (name, kind), "{spec}");
    }
    let (_, g) = parse_grant(&format!("fs:{}:rw", colon.display()), false).unwrap();
    let m = fs_program(b"inside.txt", "fs.read", 0, &[], 64);
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.grant(None, g).unwrap();
    assert_eq!(vm.run(1_000_000, 1 << 20).results, vec![0, 6, 0]);
    assert_eq!(&vm.root().memory()[1024..1030], b"in a:b");
    for bad in [
        "",
        "fs",
        "fs:/tmp",
        "fs:/tmp:rx",
        "fs::ro",
        "net:host",
        "net:host:99999",
        "net::80",
        "random",
        "random:x",
        "console:1",
        "clock:wall",
        "disk:/",
    ] {
        let e = parse_grant(bad, false)
            .err()
            .unwrap_or_else(|| panic!("{bad} parsed"));
        assert!(e.contains("invalid grant"), "{bad}: {e}");
    }
    let e = parse_grant("x=fs:/nonexistent/rarvm:ro", false)
        .err()
        .expect("a missing directory is refused");
    assert!(e.contains("/nonexistent/rarvm"), "{e}");
    let m = Program::from_source("func main() -> 0\n ret\nend\n", "d.rasm").unwrap();
    let mut vm = Vm::new(&m, &[]).unwrap();
    vm.grant(None, console(&Capture::default())).unwrap();
    let e = vm.grant(None, console(&Capture::default())).unwrap_err();
    assert!(e.to_string().contains("two grants"), "{e}");
    let e = vm.grant(Some("bad name"), Grant::VirtualClock).unwrap_err();
    assert!(e.to_string().contains("invalid grant name"), "{e}");
}

/// What the host reads into a process is recorded in the root's transcript, and the
/// transcript is the root's memory: however much gas it has, a loop of reads stops out of
/// memory within the root's allowance instead of growing the host without bound.
#[test]
fn transcripts_are_bounded_by_the_roots_memory() {
    let sb = Sandbox::new("transcript-bound");
    std::fs::write(sb.root().join("big"), vec![7u8; 1 << 16]).unwrap();
    let src = ".memory 65536\n.data 0 \"big\"\n\
               func main() -> 0 locals(k)\n\
               push 0\n push right.all\n push 0\n push 3\n key.attenuate\n drop\n local.set k\n\
               again:\n local.get k\n push fs.read\n push 0\n push 0\n push 65536\n key.invoke\n\
               drop\n drop\n jmp again\nend\n";
    let m = Program::from_source(src, "reader.rasm").unwrap();
    for engine in EngineKind::ALL {
        let mut vm = Vm::new(&m, &[]).unwrap();
        vm.set_engine(engine).unwrap();
        vm.grant(None, directory(&sb.root(), false)).unwrap();
        let allowance = 1 << 20;
        let out = vm.run(u64::MAX / 2, allowance);
        assert_eq!(out.status, Status::OutOfMemory, "{engine:?}");
        let recorded: u64 = vm.transcript().iter().map(|r| r.footprint()).sum();
        // Fifteen records of 32 + 65,536 bytes fit in 1 MiB; the sixteenth read was not made.
        assert_eq!(vm.transcript().len(), 15, "{engine:?}");
        assert!(recorded <= allowance, "{engine:?}: {recorded}");
        assert!(vm.root().mem_left() < 32 + (1 << 16), "{engine:?}");
        // Given room for one more read, it makes exactly one more.
        let out = vm.run(1_000_000, 1 << 16);
        assert_eq!(out.status, Status::OutOfMemory, "{engine:?}");
        assert_eq!(vm.transcript().len(), 16, "{engine:?}");
    }
}

/// `fs.list` pays for every entry it reads, listed or not; one that cannot pay for the whole
/// directory answers `io` with the gas it read with spent, and names no key could name
/// (holding control bytes) are not listed.
#[test]
fn listing_pays_per_entry_read() {
    let sb = Sandbox::new("list");
    let list = |entries: usize, gas: u64| {
        let dir = sb.root().join(format!("d{entries}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..entries {
            std::fs::write(dir.join(format!("f{i:03}")), "").unwrap();
        }
        let m = fs_program(format!("d{entries}").as_bytes(), "fs.list", 0, &[], 64);
        let mut seen = None;
        for engine in EngineKind::ALL {
            let mut vm = Vm::new(&m, &[]).unwrap();
            vm.set_engine(engine).unwrap();
            vm.grant(None, directory(&sb.root(), false)).unwrap();
            let out = vm.run(gas, 1 << 20);
            let got = (out.status, out.results.clone(), out.gas_used);
            if let Some(s) = &seen {
                assert_eq!(&got, s, "{engine:?}");
            }
            seen = Some(got);
        }
        seen.unwrap()
    };
    let (_, r0, base) = list(0, 1_000_000);
    assert_eq!(r0, [0, 0, 0]);
    let (_, r, gas) = list(50, 1_000_000);
    assert_eq!(
        r,
        [0, 12, 0],
        "twelve names of 4 bytes and a newline fit in 64"
    );
    assert_eq!(gas - base, 50 * LIST_ENTRY_GAS);
    // Gas for the price and ten entries: io, and every unit of gas is spent.
    let (status, r, gas) = list(50, base + 10 * LIST_ENTRY_GAS + 5);
    assert_eq!(r, [0, 0, KeyError::Io as u64]);
    assert_eq!(status, Status::Returned);
    assert!(gas > base + 10 * LIST_ENTRY_GAS - 20, "{gas}");
    // A name with a newline cannot be faked into two names: it is not listed at all.
    let odd = sb.root().join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("a\nb"), "").unwrap();
    std::fs::write(odd.join("c"), "").unwrap();
    let m = fs_program(b"odd", "fs.list", 0, &[], 64);
    let (results, vm) = run_fs(&m, &sb.root(), false, EngineKind::Interp);
    assert_eq!(results, vec![0, 1, 0]);
    assert_eq!(&vm.root().memory()[1024..1026], b"c\n");
}

#[test]
fn reads_past_any_file_end_read_nothing() {
    let sb = Sandbox::new("offsets");
    for offset in [1 << 62, 1 << 63, u64::MAX - 3, u64::MAX] {
        assert_eq!(
            fs_op(&sb, "inside.txt", "fs.read", offset, &[], 16),
            [0, 0, 0],
            "{offset}"
        );
    }
}

/// A wall clock's key is answered only by a wall-clock grant: an image's key binds by
/// name, kind and mode, and a virtual grant never answers with the host's time.
#[test]
fn clock_keys_bind_by_mode() {
    let src = "func main() -> 2\n yield\n push 0\n push clock.now\n push 0\n push 0\n push 0\n key.invoke\n ret\nend\n";
    let m = Program::from_source(src, "clock.rasm").unwrap();
    let paused = |spec: &str| {
        let mut vm = Vm::new(&m, &[]).unwrap();
        let (name, g) = parse_grant(spec, false).unwrap();
        vm.grant(name.as_deref(), g).unwrap();
        assert_eq!(vm.run(10_000, 4096).status, Status::Yielded);
        vm.image()
    };
    let resumed = |image: &[u8], spec: &str| {
        let mut vm = Vm::from_image(image).unwrap();
        let (name, g) = parse_grant(spec, false).unwrap();
        vm.grant(name.as_deref(), g).unwrap();
        let out = vm.run(10_000, 0);
        (out.results, vm.transcript().len())
    };
    // (The host's `unbound` is its answer, recorded like any.)
    let unbound = KeyError::Unbound as u64;
    let wall = paused("clock");
    assert_eq!(resumed(&wall, "clock:virtual"), (vec![0, unbound], 1));
    let (r, records) = resumed(&wall, "clock");
    assert!(
        r[0] > 1_600_000_000_000_000_000 && r[1] == 0 && records == 1,
        "{r:?}"
    );
    // A virtual clock's key is VM state, like a random generator's: it answers the root's
    // gas used whatever is granted, and never reaches the host.
    let virt = paused("clock:virtual");
    for spec in ["clock", "clock:virtual"] {
        let (r, records) = resumed(&virt, spec);
        assert!(r[0] < 10_000 && r[1] == 0 && records == 0, "{spec}: {r:?}");
    }
}

/// A tampered transcript is not trusted: a record no host could have given (here 2⁴⁰ bytes
/// read into a 16-byte range) is a mismatch, and the run answers live from there.
#[test]
fn tampered_transcripts_are_mismatches() {
    let sb = Sandbox::new("tamper");
    let m = fs_program(b"inside.txt", "fs.read", 0, &[], 16);
    let mut live = Vm::new(&m, &[]).unwrap();
    live.grant(None, directory(&sb.root(), false)).unwrap();
    live.run(1_000_000, 1 << 20);
    let honest = live.transcript().to_vec();
    assert_eq!(honest.len(), 1);
    for tamper in [
        |r: &mut rarvm::host::Record| r.reply.r = 1 << 40,
        |r: &mut rarvm::host::Record| r.reply.err = 99,
        |r: &mut rarvm::host::Record| r.out = vec![0; 17],
        |r: &mut rarvm::host::Record| r.reply.work = 5,
    ] {
        let mut forged = honest.clone();
        tamper(&mut forged[0]);
        let mut vm = Vm::new(&m, &[]).unwrap();
        vm.grant(None, directory(&sb.root(), false)).unwrap();
        vm.replay(forged).unwrap();
        let out = vm.run(1_000_000, 1 << 20);
        assert_eq!(vm.replay_state().diverged_at, Some(0));
        assert_eq!(out.results, vec![0, 6, 0], "answered live");
    }
}

/// No network operation holds the host past its endpoint's deadline: a peer that never
/// answers makes `net.recv` answer `io`.
#[test]
fn network_operations_have_a_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(2));
        drop(s);
    });
    let src = ".memory 64\nfunc main() -> 4\n push 0\n push net.connect\n push 0\n push 0\n push 0\n key.invoke\n push 0\n push net.recv\n push 0\n push 0\n push 16\n key.invoke\n ret\nend\n";
    let m = Program::from_source(src, "silent.rasm").unwrap();
    let mut vm = Vm::new(&m, &[]).unwrap();
    let endpoint =
        Endpoint::new("127.0.0.1", port).with_deadline(std::time::Duration::from_millis(200));
    vm.grant(None, Grant::Resource(Box::new(endpoint))).unwrap();
    let out = vm.run(1_000_000, 1 << 20);
    assert_eq!(out.results, vec![0, 0, 0, KeyError::Io as u64]);
    silent.join().unwrap();
}
