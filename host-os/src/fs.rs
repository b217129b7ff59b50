//! Directories: filesystem keys, operations on paths confined beneath a granted directory.
//!
//! A key's scope is a relative path of plain components (no `..`, no leading `/`; see
//! [`is_valid_path`](rarvm_runtime::keys::is_valid_path)). It is resolved one component
//! at a time with `openat(2)` from a descriptor of the grant's root opened when the grant
//! was made, with `O_NOFOLLOW` on every component: a symbolic link anywhere on the path is
//! refused (`denied`), so nothing outside the root is ever reached, whatever the tree
//! looks like or how it changes meanwhile. Only regular files are read or written; they
//! are opened non-blocking, so a FIFO or device cannot stall the host.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};

use rarvm_runtime::host::{Reply, Resource, ResourceCall};
use rarvm_runtime::keys::{
    is_valid_path, HostKey, KeyError, KeyKind, Operation, LIST_ENTRY_GAS, RIGHTS_ALL, RIGHT_READ,
};

/// A granted directory: its keys reach only entries beneath it.
#[derive(Debug)]
pub struct Dir {
    root: Root,
    path: PathBuf,
    writable: bool,
}

impl Dir {
    /// Opens `dir` for keys that read, or with `writable` also write and create.
    ///
    /// # Errors
    /// `dir` cannot be opened as a directory.
    pub fn open(dir: &Path, writable: bool) -> io::Result<Dir> {
        Ok(Dir {
            root: Root::open(dir)?,
            path: dir.to_path_buf(),
            writable,
        })
    }
}

impl Resource for Dir {
    fn kind(&self) -> KeyKind {
        KeyKind::Fs
    }

    fn rights(&self) -> u64 {
        if self.writable {
            RIGHTS_ALL
        } else {
            RIGHT_READ
        }
    }

    /// The path the key names, as text (bytes that are not UTF-8 become U+FFFD); a
    /// prompt shows it [quoted](rarvm_runtime::host::quote).
    fn describe(&self, key: &HostKey) -> String {
        let mut p = self.path.as_os_str().as_bytes().to_vec();
        if !key.scope.is_empty() {
            p.push(b'/');
            p.extend_from_slice(&key.scope);
        }
        String::from_utf8_lossy(&p).into_owned()
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        let Some(spec) = call.operation else {
            return Reply::error(KeyError::Unsupported);
        };
        self.root.invoke(
            &call.key.scope,
            spec.op,
            call.arg,
            call.data,
            call.out,
            call.work_limit,
        )
    }
}

/// An open directory a filesystem grant confines its keys beneath.
#[derive(Debug)]
struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens `dir`, which must be a directory.
    fn open(dir: &Path) -> io::Result<Root> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
        // SAFETY: `c` is a valid NUL-terminated string; `open` has no other preconditions.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        owned(fd).map(|fd| Root { fd })
    }

    /// Performs operation `op` on the path `scope` beneath the root.
    fn invoke(
        &self,
        scope: &[u8],
        op: Operation,
        arg: u64,
        data: &[u8],
        out: &mut Vec<u8>,
        work_limit: u64,
    ) -> Reply {
        let mut work = 0;
        let result = match op {
            Operation::FsRead => self.read(scope, arg, data.len(), out),
            Operation::FsWrite => self.write(scope, arg, data),
            Operation::FsSize => self.size(scope),
            Operation::FsCreate => self.create(scope),
            Operation::FsMkdir => self.mkdir(scope),
            Operation::FsList => self.list(scope, arg, data.len(), out, work_limit, &mut work),
            Operation::FsRemove => self.remove(scope),
            Operation::FsTruncate => self.truncate(scope, arg),
            // Operations of other kinds never reach a directory.
            Operation::ConsoleWrite
            | Operation::ConsoleRead
            | Operation::ClockNow
            | Operation::RandomNext
            | Operation::RandomFill
            | Operation::NetConnect
            | Operation::NetSend
            | Operation::NetRecv
            | Operation::NetClose => Err(KeyError::Unsupported),
        };
        match result {
            Ok(r) => Reply::ok(r),
            Err(e) => {
                out.clear();
                Reply::error(e)
            }
        }
        .with_work(work)
    }

    fn read(
        &self,
        scope: &[u8],
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<u64, KeyError> {
        let file = self.open_file(scope, libc::O_RDONLY)?;
        if offset > i64::MAX as u64 {
            return Ok(0); // beyond the end of any file
        }
        out.resize(len, 0);
        let mut n = 0;
        while n < len {
            let at = offset + n as u64;
            if at > i64::MAX as u64 {
                break;
            }
            match file.read_at(&mut out[n..], at) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&e)),
            }
        }
        out.truncate(n);
        Ok(n as u64)
    }

    fn write(&self, scope: &[u8], offset: u64, data: &[u8]) -> Result<u64, KeyError> {
        let file = self.open_file(scope, libc::O_WRONLY)?;
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > i64::MAX as u64)
        {
            return Err(KeyError::Io);
        }
        file.write_all_at(data, offset).map_err(|e| io_error(&e))?;
        Ok(data.len() as u64)
    }

    fn size(&self, scope: &[u8]) -> Result<u64, KeyError> {
        let file = self.open_file(scope, libc::O_RDONLY)?;
        Ok(file.metadata().map_err(|e| io_error(&e))?.len())
    }

    fn create(&self, scope: &[u8]) -> Result<u64, KeyError> {
        let (dir, name) = self.parent(scope)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
        let fd =
            unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, 0o644 as libc::c_uint) };
        owned(fd).map_err(|e| io_error(&e))?;
        Ok(0)
    }

    fn mkdir(&self, scope: &[u8]) -> Result<u64, KeyError> {
        let (dir, name) = self.parent(scope)?;
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
        let rc = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) };
        check(rc).map_err(|e| io_error(&e))?;
        Ok(0)
    }

    /// `fs.list`: reads the whole directory, at [`LIST_ENTRY_GAS`] of host work per entry
    /// read, sorts the names and writes those from index `from` on that fit in `cap`
    /// bytes. If reading every entry would cost more than `work_limit`, it stops there and
    /// answers `io`, having charged what it read. Names no key could name (holding control
    /// bytes) are read and charged, but not listed.
    fn list(
        &self,
        scope: &[u8],
        from: u64,
        cap: usize,
        out: &mut Vec<u8>,
        work_limit: u64,
        work: &mut u64,
    ) -> Result<u64, KeyError> {
        let dir = self.open_dir(scope)?;
        let affordable = usize::try_from(work_limit / LIST_ENTRY_GAS).unwrap_or(usize::MAX);
        let (mut names, read) = read_dir(dir, affordable).map_err(|e| io_error(&e))?;
        *work = read as u64 * LIST_ENTRY_GAS;
        if read > affordable {
            *work = affordable as u64 * LIST_ENTRY_GAS;
            return Err(KeyError::Io);
        }
        names.retain(|n| is_valid_path(n));
        names.sort_unstable();
        let mut count = 0u64;
        for name in names
            .iter()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
        {
            if out.len() + name.len() + 1 > cap {
                break;
            }
            out.extend_from_slice(name);
            out.push(b'\n');
            count += 1;
        }
        Ok(count)
    }

    /// `fs.remove`: a path that reaches a symbolic link is refused like any other use of
    /// one, the link itself included.
    fn remove(&self, scope: &[u8]) -> Result<u64, KeyError> {
        let (dir, name) = self.parent(scope)?;
        if is_link(&dir, &name) {
            return Err(KeyError::Denied);
        }
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
        let rc = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
        match check(rc) {
            Ok(()) => Ok(0),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EISDIR) | Some(libc::EPERM)) => {
                // SAFETY: as above.
                let rc =
                    unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
                check(rc).map_err(|e| io_error(&e))?;
                Ok(0)
            }
            Err(e) => Err(io_error(&e)),
        }
    }

    fn truncate(&self, scope: &[u8], len: u64) -> Result<u64, KeyError> {
        let file = self.open_file(scope, libc::O_WRONLY)?;
        if len > i64::MAX as u64 {
            return Err(KeyError::Io);
        }
        file.set_len(len).map_err(|e| io_error(&e))?;
        Ok(0)
    }

    /// Opens the directory holding the scope's last component, and that component. The
    /// root itself has no parent here: operations that need one are denied on it.
    fn parent(&self, scope: &[u8]) -> Result<(OwnedFd, CString), KeyError> {
        if scope.is_empty() {
            return Err(KeyError::Denied);
        }
        let (dirs, last) = match scope.iter().rposition(|b| *b == b'/') {
            Some(i) => (&scope[..i], &scope[i + 1..]),
            None => (&scope[..0], scope),
        };
        let dir = self.open_dir(dirs)?;
        let name = CString::new(last).map_err(|_| KeyError::BadPath)?;
        Ok((dir, name))
    }

    /// Opens the directory at `path` (empty: the root), refusing symbolic links.
    fn open_dir(&self, path: &[u8]) -> Result<OwnedFd, KeyError> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // A new open of the root (not a `dup`, whose directory position would be shared).
        // SAFETY: the root descriptor is open and the name a NUL-terminated string.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), c".".as_ptr(), flags) };
        let mut cur = owned(fd).map_err(|e| io_error(&e))?;
        if path.is_empty() {
            return Ok(cur);
        }
        for component in path.split(|b| *b == b'/') {
            let name = CString::new(component).map_err(|_| KeyError::BadPath)?;
            // SAFETY: `cur` is an open descriptor and `name` a NUL-terminated string.
            let fd = unsafe { libc::openat(cur.as_raw_fd(), name.as_ptr(), flags) };
            cur = owned(fd).map_err(|e| refusal(&cur, &name, &e))?;
        }
        Ok(cur)
    }

    /// Opens the regular file at `scope` with `access` (`O_RDONLY` or `O_WRONLY`).
    fn open_file(&self, scope: &[u8], access: libc::c_int) -> Result<File, KeyError> {
        if scope.is_empty() {
            return Err(KeyError::Io); // the root is a directory, not a file
        }
        let (dir, name) = self.parent(scope)?;
        let flags = access | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        let file = File::from(owned(fd).map_err(|e| refusal(&dir, &name, &e))?);
        let kind = file.metadata().map_err(|e| io_error(&e))?.file_type();
        if !kind.is_file() || kind.is_fifo() {
            return Err(KeyError::Io);
        }
        Ok(file)
    }
}

/// Takes ownership of a descriptor a libc call returned, or its error.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned open by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The names in an open directory, `.` and `..` excluded, and how many entries were read:
/// at most `limit + 1`, so a directory with more than `limit` entries is not read whole.
fn read_dir(dir: OwnedFd, limit: usize) -> io::Result<(Vec<Vec<u8>>, usize)> {
    use std::os::fd::IntoRawFd;
    let raw = dir.into_raw_fd();
    // SAFETY: `raw` is an open directory descriptor whose ownership passes to the stream.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: `fdopendir` failed, so `raw` is still ours to close.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut names = Vec::new();
    let mut read = 0;
    while read <= limit {
        // SAFETY: `stream` is a valid directory stream used by this thread only.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: `readdir` returned a valid entry whose `d_name` is NUL-terminated and
        // stays valid until the next `readdir` on this stream.
        let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
            read += 1;
        }
    }
    // SAFETY: `stream` is valid and closed exactly once; it closes `raw`.
    unsafe { libc::closedir(stream) };
    Ok((names, read))
}

/// True if `name` in `dir` is a symbolic link.
fn is_link(dir: &OwnedFd, name: &CString) -> bool {
    // SAFETY: an all-zero `stat` is a valid value for `fstatat` to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is open, `name` NUL-terminated and `st` a valid `stat` to write.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

/// The error code for failing to open `name` in `dir`: `denied` if it is a symbolic link
/// (which `O_NOFOLLOW` reports as `ELOOP`, or `ENOTDIR` with `O_DIRECTORY`).
fn refusal(dir: &OwnedFd, name: &CString, e: &io::Error) -> KeyError {
    if is_link(dir, name) {
        KeyError::Denied
    } else {
        io_error(e)
    }
}

/// The error code for a failed host call.
fn io_error(e: &io::Error) -> KeyError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => KeyError::NotFound,
        Some(libc::EEXIST) => KeyError::Exists,
        Some(libc::ELOOP) | Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
            KeyError::Denied
        }
        _ => KeyError::Io,
    }
}
