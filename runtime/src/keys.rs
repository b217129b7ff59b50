//! Host keys: capabilities for resources outside the process tree (`docs/SPEC.md` §Keys).
//!
//! A key slot holds nothing, a child process, or a [`HostKey`]. A host key names a
//! resource kind, the rights it carries, the name of the host grant it was derived from,
//! a scope inside that grant (a path, for the filesystem) and a word of VM state (the
//! generator of a random key, the virtual flag of a clock). Host keys are plain data:
//! images carry them, and a host binds them again by grant name when it resumes one.
//!
//! The operations of the built-in kinds are one table, [`HOST_OPS`]; the engines, the
//! host, the assembler's predefined constants and the table in `docs/SPEC.md` all read it.

use std::any::Any;
use std::fmt;

/// Right to read: console input, files, directory listings, clocks, random words, receiving.
pub const RIGHT_READ: u64 = 1;
/// Right to write: console output, writing, truncating and removing files, sending.
pub const RIGHT_WRITE: u64 = 2;
/// Right to create: new files and directories, new network connections.
pub const RIGHT_CREATE: u64 = 4;
/// Every right a built-in kind defines.
pub const RIGHTS_ALL: u64 = RIGHT_READ | RIGHT_WRITE | RIGHT_CREATE;

/// Footprint of a host key's record, besides its slot, name and scope bytes.
pub const HOST_KEY_BYTES: u64 = 64;
/// Longest grant name, in bytes.
pub const MAX_GRANT_NAME: usize = 64;
/// Longest filesystem scope (a path below a grant's root), in bytes.
pub const MAX_SCOPE: usize = 1024;
/// Longest component of a filesystem scope, in bytes.
pub const MAX_PATH_COMPONENT: usize = 255;
/// Gas a call the host answers pays beyond `key.invoke`'s own, per step of the way to
/// its resource: one, and one per component of the key's scope (the host resolves a
/// scope one component at a time). A host call is system calls, microseconds where an
/// instruction is nanoseconds (`docs/SPEC.md` §7.1, §9.1).
pub const HOST_CALL_GAS: u64 = 2000;
/// Host work of `fs.list` per directory entry read, in gas (`docs/SPEC.md` §9).
pub const LIST_ENTRY_GAS: u64 = 200;
/// Lowest kind code an embedding application may use for its own resources.
pub const FIRST_CUSTOM_KIND: u8 = 16;

/// What kind of resource a host key reaches. `key.kind` pushes its [`code`](Self::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// The host's console: output and input bytes.
    Console,
    /// A clock: wall time recorded in the transcript, or virtual time (the root's gas used).
    Clock,
    /// A seeded random generator whose state lives in the key.
    Random,
    /// A file or directory confined beneath a granted directory.
    Fs,
    /// A network endpoint (one host and port) and, once connected, a connection.
    Net,
    /// A kind defined by the embedding application (codes 16–255).
    Custom(u8),
}

impl KeyKind {
    pub const BUILT_IN: [KeyKind; 5] = [
        KeyKind::Console,
        KeyKind::Clock,
        KeyKind::Random,
        KeyKind::Fs,
        KeyKind::Net,
    ];

    pub const fn code(self) -> u8 {
        match self {
            KeyKind::Console => 2,
            KeyKind::Clock => 3,
            KeyKind::Random => 4,
            KeyKind::Fs => 5,
            KeyKind::Net => 6,
            KeyKind::Custom(c) => c,
        }
    }

    /// The kind with key code `code`: 2–6 built in, 16–255 application-defined.
    pub fn from_code(code: u8) -> Option<KeyKind> {
        if code >= FIRST_CUSTOM_KIND {
            return Some(KeyKind::Custom(code));
        }
        KeyKind::BUILT_IN.into_iter().find(|k| k.code() == code)
    }

    pub fn name(self) -> String {
        match self {
            KeyKind::Console => "console".into(),
            KeyKind::Clock => "clock".into(),
            KeyKind::Random => "random".into(),
            KeyKind::Fs => "fs".into(),
            KeyKind::Net => "net".into(),
            KeyKind::Custom(c) => format!("custom{c}"),
        }
    }

    /// The rights a key of this kind can carry.
    pub const fn all_rights(self) -> u64 {
        match self {
            KeyKind::Custom(_) => u64::MAX,
            _ => RIGHTS_ALL,
        }
    }

    /// The built-in operation `op` of this kind, if it has one. Custom kinds define their
    /// operations in the host.
    pub fn op(self, op: u64) -> Option<&'static HostOp> {
        HOST_OPS.iter().find(|o| o.kind == self && o.code == op)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One operation of a built-in kind, invoked with `key.invoke slot op arg addr len`.
#[derive(Clone, Copy, Debug)]
pub struct HostOp {
    pub kind: KeyKind,
    pub code: u64,
    /// The operation, for exhaustive dispatch.
    pub op: Operation,
    pub name: &'static str,
    /// The right the key must carry (0: none).
    pub right: u64,
    pub doc: &'static str,
}

macro_rules! host_ops {
    ($($kind:ident $code:literal $op:ident $name:literal $right:expr, $doc:literal;)*) => {
        /// The operations of the built-in kinds. A host matches on it exhaustively, so a new
        /// operation does not compile until every host answers it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Operation { $($op,)* }

        /// The operations of the built-in kinds.
        pub const HOST_OPS: &[HostOp] = &[$(
            HostOp { kind: KeyKind::$kind, code: $code, op: Operation::$op, name: $name, right: $right, doc: $doc },
        )*];
    };
}

host_ops! {
    Console 0 ConsoleWrite "write" RIGHT_WRITE,
        "Writes the range to the console. `r`: bytes written.";
    Console 1 ConsoleRead "read" RIGHT_READ,
        "Reads at most `len` bytes of console input into the range. `r`: bytes read, 0 at the end of input; `io` if none arrives within the host's deadline.";
    Clock 0 ClockNow "now" RIGHT_READ,
        "`r`: nanoseconds since the Unix epoch (recorded); for a virtual clock, the root's gas used.";
    Random 0 RandomNext "next" RIGHT_READ,
        "`r`: the generator's next word.";
    Random 1 RandomFill "fill" RIGHT_READ,
        "Fills the range with the generator's next words (little-endian, the last one cut). `r`: `len`.";
    Fs 0 FsRead "read" RIGHT_READ,
        "Reads at most `len` bytes of the file at offset `arg` into the range. `r`: bytes read, 0 at or past its end (any offset).";
    Fs 1 FsWrite "write" RIGHT_WRITE,
        "Writes the range into the existing file at offset `arg`, extending it if needed. `r`: bytes written.";
    Fs 2 FsSize "size" RIGHT_READ,
        "`r`: the file's size in bytes.";
    Fs 3 FsCreate "create" RIGHT_CREATE,
        "Creates the file, empty. Error `exists` if the path names anything, a symbolic link included.";
    Fs 4 FsMkdir "mkdir" RIGHT_CREATE,
        "Creates the directory. Error `exists` if the path names anything, a symbolic link included.";
    Fs 5 FsList "list" RIGHT_READ,
        "Reads the whole directory, charging `LIST_ENTRY_GAS` of host work per entry read, and writes the names a path can hold (no control bytes) from name `arg` on, in bytewise order, each followed by a newline, as many whole names as fit in the range. `r`: names written. If the chain cannot pay for every entry, reads no further and answers `io`, the entries read charged.";
    Fs 6 FsRemove "remove" RIGHT_WRITE,
        "Removes the file or empty directory; `denied` if the path names a symbolic link (a link is never used, not even to remove it).";
    Fs 7 FsTruncate "truncate" RIGHT_WRITE,
        "Sets the file's length to `arg`.";
    Net 0 NetConnect "connect" RIGHT_CREATE,
        "Connects the key to its granted endpoint (closing a previous connection).";
    Net 1 NetSend "send" RIGHT_WRITE,
        "Sends the range. `r`: bytes sent (fewer than `len` if the peer took no more within the host's deadline).";
    Net 2 NetRecv "recv" RIGHT_READ,
        "Receives at most `len` bytes into the range. `r`: bytes received, 0 once the peer closed; `io` if nothing arrives within the host's deadline.";
    Net 3 NetClose "close" 0,
        "Closes the connection.";
}

crate::code_enum! {
    /// An error code `key.invoke` and `key.attenuate` push as `err` (0 is success).
    pub enum KeyError {
        /// The key lacks the operation's right, or the host refused it.
        Denied = 1 => "denied",
        /// The kind has no such operation, or cannot be narrowed.
        Unsupported = 2 => "unsupported",
        /// A path is not a relative path of plain components, or is too long.
        BadPath = 3 => "bad_path",
        NotFound = 4 => "not_found",
        Exists = 5 => "exists",
        /// No grant of this host binds the key's grant name.
        Unbound = 6 => "unbound",
        /// The host failed in another way (I/O error, not a file, …).
        Io = 7 => "io",
        /// A network key that is not connected.
        NotConnected = 8 => "not_connected",
    }
}

impl KeyError {
    /// The word `key.invoke` pushes as `err`.
    pub const fn code(self) -> u64 {
        self as u64
    }

    pub fn from_code(code: u64) -> Option<KeyError> {
        u8::try_from(code).ok().and_then(KeyError::from_u8)
    }
}

/// A host resource's handle held by a key (an open connection). Never part of an image:
/// a key decoded from one, or copied, has none.
pub type Handle = Box<dyn Any + Send>;

/// A key to a host resource.
pub struct HostKey {
    pub kind: KeyKind,
    /// The rights the key carries; the host may allow less (see `docs/SPEC.md` §Keys).
    pub rights: u64,
    /// The grant the key derives from; a host binds the key to its grant of this name.
    pub name: String,
    /// For [`KeyKind::Fs`]: the path below the grant's root (empty: the root itself),
    /// components separated by `/`. Empty for other kinds.
    pub scope: Vec<u8>,
    /// For [`KeyKind::Random`]: the generator state. For [`KeyKind::Clock`]: 1 if virtual.
    /// 0 otherwise.
    pub state: u64,
    /// Host-side state (a connection), dropped with the key.
    pub handle: Option<Handle>,
}

impl HostKey {
    /// A key to all of grant `name`'s resource, of `kind`, with VM `state`.
    pub fn new(kind: KeyKind, name: &str, state: u64) -> HostKey {
        HostKey {
            kind,
            rights: kind.all_rights(),
            name: name.to_string(),
            scope: Vec::new(),
            state,
            handle: None,
        }
    }

    /// The footprint of this key's record, besides its slot's `KEY_BYTES`:
    /// `HOST_KEY_BYTES` plus its name and scope bytes.
    pub fn record_bytes(&self) -> u64 {
        HOST_KEY_BYTES + self.name.len() as u64 + self.scope.len() as u64
    }

    /// A copy with everything the VM sees and no host handle.
    pub fn copy(&self) -> HostKey {
        HostKey {
            kind: self.kind,
            rights: self.rights,
            name: self.name.clone(),
            scope: self.scope.clone(),
            state: self.state,
            handle: None,
        }
    }

    /// True for keys the VM answers itself, without a host: random generators and
    /// virtual clocks. They reach nothing outside the process tree.
    pub fn is_pure(&self) -> bool {
        match self.kind {
            KeyKind::Random => true,
            KeyKind::Clock => self.state == 1,
            _ => false,
        }
    }

    /// What a call of this key the host answers pays beyond `key.invoke`'s gas:
    /// [`HOST_CALL_GAS`] for the call and for each component of the scope.
    pub fn host_call_gas(&self) -> u64 {
        let components = if self.scope.is_empty() {
            0
        } else {
            self.scope.iter().filter(|&&b| b == b'/').count() as u64 + 1
        };
        HOST_CALL_GAS * (1 + components)
    }

    /// Checks the fields an image or a host supplies: name, rights, scope and state
    /// consistent with the kind.
    pub fn validate(&self) -> Result<(), String> {
        if !is_valid_grant_name(&self.name) {
            return Err(format!("invalid grant name {:?}", self.name));
        }
        if self.rights & !self.kind.all_rights() != 0 {
            return Err(format!(
                "rights {:#x} include bits a {} key does not define",
                self.rights, self.kind
            ));
        }
        match self.kind {
            KeyKind::Fs if !self.scope.is_empty() && !is_valid_path(&self.scope) => {
                return Err("the scope is not a valid relative path".into());
            }
            KeyKind::Fs => {}
            _ if !self.scope.is_empty() => {
                return Err(format!("a {} key has no scope", self.kind));
            }
            _ => {}
        }
        let state_ok = match self.kind {
            KeyKind::Random => true,
            KeyKind::Clock => self.state <= 1,
            _ => self.state == 0,
        };
        if !state_ok {
            return Err(format!(
                "state {} is invalid for a {} key",
                self.state, self.kind
            ));
        }
        Ok(())
    }

    /// The key `key.attenuate` derives: rights `self.rights & rights`, and for a
    /// filesystem key with a non-empty `path`, the scope extended by `path`.
    pub fn attenuate(&self, rights: u64, path: &[u8]) -> Result<HostKey, KeyError> {
        let mut k = self.copy();
        k.rights &= rights;
        if path.is_empty() {
            return Ok(k);
        }
        if self.kind != KeyKind::Fs {
            return Err(KeyError::Unsupported);
        }
        if !is_valid_path(path) {
            return Err(KeyError::BadPath);
        }
        if !k.scope.is_empty() {
            k.scope.push(b'/');
        }
        k.scope.extend_from_slice(path);
        if k.scope.len() > MAX_SCOPE {
            return Err(KeyError::BadPath);
        }
        Ok(k)
    }

    /// The next word of a random key's generator (SplitMix64), advancing its state.
    pub fn next_random(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostKey")
            .field("kind", &self.kind)
            .field("rights", &self.rights)
            .field("name", &self.name)
            .field("scope", &String::from_utf8_lossy(&self.scope))
            .field("state", &self.state)
            .field("handle", &self.handle.is_some())
            .finish()
    }
}

/// A grant name: 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
pub fn is_valid_grant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_GRANT_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A relative path of plain components: non-empty, at most [`MAX_SCOPE`] bytes, split by
/// single `/` into components that are neither empty, `.` nor `..`, hold no control byte
/// (below 0x20, or 0x7f: no NUL, newline or terminal escape can be part of a name) and
/// are at most [`MAX_PATH_COMPONENT`] bytes. Such a path can only name something beneath
/// the directory it is taken from (symlinks aside, which hosts refuse to follow).
pub fn is_valid_path(path: &[u8]) -> bool {
    !path.is_empty()
        && path.len() <= MAX_SCOPE
        && path.split(|b| *b == b'/').all(|c| {
            !c.is_empty()
                && c != b"."
                && c != b".."
                && c.len() <= MAX_PATH_COMPONENT
                && !c.iter().any(|b| *b < 0x20 || *b == 0x7f)
        })
}

/// Names the assembler predefines for `push`: `<kind>.<op>` for every operation (e.g.
/// `fs.read`), `kind.<kind>`, `right.read|write|create|all`, and `err.<error>`.
pub fn predefined_constant(name: &str) -> Option<u64> {
    let (prefix, rest) = name.split_once('.')?;
    match prefix {
        "kind" => KeyKind::BUILT_IN
            .into_iter()
            .find(|k| k.name() == rest)
            .map(|k| u64::from(k.code())),
        "right" => match rest {
            "read" => Some(RIGHT_READ),
            "write" => Some(RIGHT_WRITE),
            "create" => Some(RIGHT_CREATE),
            "all" => Some(RIGHTS_ALL),
            _ => None,
        },
        "err" => KeyError::ALL
            .into_iter()
            .find(|e| e.name() == rest)
            .map(KeyError::code),
        kind => HOST_OPS
            .iter()
            .find(|o| o.kind.name() == kind && o.name == rest)
            .map(|o| o.code),
    }
}

/// Renders [`HOST_OPS`] as the Markdown table embedded in `docs/SPEC.md`.
pub fn markdown_table() -> String {
    let mut out = String::from("| kind | code | op | right | semantics |\n|---|---|---|---|---|\n");
    for op in HOST_OPS {
        let right = match op.right {
            RIGHT_READ => "read",
            RIGHT_WRITE => "write",
            RIGHT_CREATE => "create",
            _ => "—",
        };
        out.push_str(&format!(
            "| {} ({}) | {} | `{}.{}` | {} | {} |\n",
            op.kind,
            op.kind.code(),
            op.code,
            op.kind,
            op.name,
            right,
            op.doc.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_unique_per_kind_and_need_known_rights() {
        for (i, a) in HOST_OPS.iter().enumerate() {
            assert!(a.right & !RIGHTS_ALL == 0);
            for b in &HOST_OPS[i + 1..] {
                assert!(
                    a.kind != b.kind || (a.code != b.code && a.name != b.name),
                    "{}.{}",
                    a.kind,
                    a.name
                );
            }
        }
        for k in KeyKind::BUILT_IN {
            assert_eq!(KeyKind::from_code(k.code()), Some(k));
        }
        assert_eq!(KeyKind::from_code(1), None);
        assert_eq!(KeyKind::from_code(7), None);
        assert_eq!(KeyKind::from_code(200), Some(KeyKind::Custom(200)));
    }

    #[test]
    fn paths_cannot_climb_or_start_at_the_root() {
        for good in [&b"a"[..], b"a/b", b"x.txt", b"...", b"a/.b/c", b"-"] {
            assert!(is_valid_path(good), "{:?}", String::from_utf8_lossy(good));
        }
        let long = vec![b'a'; MAX_PATH_COMPONENT + 1];
        let nested = [&b"a/"[..]; 600].concat();
        for bad in [
            &b""[..],
            b"/",
            b"/etc/passwd",
            b"..",
            b"a/..",
            b"a/../b",
            b".",
            b"./a",
            b"a//b",
            b"a/",
            b"a\0b",
            &long,
            &nested,
        ] {
            assert!(!is_valid_path(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn attenuation_only_narrows() {
        let root = HostKey::new(KeyKind::Fs, "data", 0);
        let ro = root.attenuate(RIGHT_READ, b"").unwrap();
        assert_eq!(ro.rights, RIGHT_READ);
        let sub = ro.attenuate(RIGHTS_ALL, b"a/b").unwrap();
        assert_eq!((sub.rights, &sub.scope[..]), (RIGHT_READ, &b"a/b"[..]));
        let deeper = sub.attenuate(RIGHTS_ALL, b"c").unwrap();
        assert_eq!(&deeper.scope[..], b"a/b/c");
        assert_eq!(
            sub.attenuate(RIGHTS_ALL, b"../x").unwrap_err(),
            KeyError::BadPath
        );
        let console = HostKey::new(KeyKind::Console, "console", 0);
        assert_eq!(
            console.attenuate(RIGHTS_ALL, b"x").unwrap_err(),
            KeyError::Unsupported
        );
        assert!(deeper.validate().is_ok());
    }

    #[test]
    fn random_keys_are_splitmix64() {
        let mut k = HostKey::new(KeyKind::Random, "random", 0);
        // SplitMix64's reference output for seed 0.
        assert_eq!(k.next_random(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(k.next_random(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn predefined_constants_name_ops_rights_and_errors() {
        assert_eq!(predefined_constant("fs.list"), Some(5));
        assert_eq!(predefined_constant("console.write"), Some(0));
        assert_eq!(predefined_constant("kind.net"), Some(6));
        assert_eq!(predefined_constant("right.all"), Some(7));
        assert_eq!(predefined_constant("err.unbound"), Some(6));
        assert_eq!(predefined_constant("fs.nope"), None);
        assert_eq!(predefined_constant("nodot"), None);
    }

    /// `docs/SPEC.md` embeds [`markdown_table`]; regenerate with
    /// `UPDATE_SPEC=1 cargo test -p rarvm-runtime spec_table`.
    #[test]
    fn spec_table_of_host_ops_is_current() {
        crate::isa::check_spec_section(
            "HOST OPERATION TABLE",
            "runtime/src/keys.rs",
            &markdown_table(),
        );
    }
}
