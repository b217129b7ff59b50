//! Network endpoints: TCP connections to one granted host and port.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rarvm_runtime::host::{Reply, Resource, ResourceCall};
use rarvm_runtime::keys::{HostKey, KeyError, KeyKind, Operation};

/// One endpoint; `net.connect` opens a connection to it, held by the key (host state: not
/// part of images, and a copy of the key is not connected). No operation holds the host
/// longer than the endpoint's deadline: one that would answers `io` (or, for a send that
/// got some bytes out, how many).
pub struct Endpoint {
    host: String,
    port: u16,
    deadline: Duration,
}

/// How long one network operation may hold the host, unless the grant says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

impl Endpoint {
    pub fn new(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// The same endpoint, whose operations each hold the host at most `deadline`.
    pub fn with_deadline(self, deadline: Duration) -> Endpoint {
        Endpoint {
            deadline: deadline.max(Duration::from_millis(1)),
            ..self
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let start = Instant::now();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            let Some(left) = self.deadline.checked_sub(start.elapsed()) else {
                break;
            };
            match TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1))) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.deadline))?;
                    s.set_write_timeout(Some(self.deadline))?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Sends `data` until it is all out or the deadline passes; how many bytes went out.
fn send(s: &mut TcpStream, data: &[u8], deadline: Duration) -> io::Result<usize> {
    let start = Instant::now();
    let mut sent = 0;
    while sent < data.len() {
        let Some(left) = deadline.checked_sub(start.elapsed()) else {
            break;
        };
        s.set_write_timeout(Some(left.max(Duration::from_millis(1))))?;
        match s.write(&data[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if sent > 0 && is_timeout(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Resource for Endpoint {
    fn kind(&self) -> KeyKind {
        KeyKind::Net
    }

    fn describe(&self, _key: &HostKey) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn invoke(&mut self, call: ResourceCall<'_>) -> Reply {
        let Some(spec) = call.operation else {
            return Reply::error(KeyError::Unsupported);
        };
        let key = call.key;
        match spec.op {
            Operation::NetConnect => {
                key.handle = None;
                match self.connect() {
                    Ok(s) => {
                        key.handle = Some(Box::new(s));
                        Reply::ok(0)
                    }
                    Err(_) => Reply::error(KeyError::Io),
                }
            }
            Operation::NetClose => {
                key.handle = None;
                Reply::ok(0)
            }
            Operation::NetSend => match stream(key) {
                None => Reply::error(KeyError::NotConnected),
                Some(s) => match send(s, call.data, self.deadline) {
                    Ok(n) => Reply::ok(n as u64),
                    Err(_) => Reply::error(KeyError::Io),
                },
            },
            Operation::NetRecv => match stream(key) {
                None => Reply::error(KeyError::NotConnected),
                Some(s) => {
                    call.out.resize(call.data.len(), 0);
                    let _ = s.set_read_timeout(Some(self.deadline));
                    match s.read(call.out) {
                        Ok(n) => {
                            call.out.truncate(n);
                            Reply::ok(n as u64)
                        }
                        Err(_) => Reply::error(KeyError::Io),
                    }
                }
            },
            // Operations of other kinds never reach an endpoint.
            Operation::ConsoleWrite
            | Operation::ConsoleRead
            | Operation::ClockNow
            | Operation::RandomNext
            | Operation::RandomFill
            | Operation::FsRead
            | Operation::FsWrite
            | Operation::FsSize
            | Operation::FsCreate
            | Operation::FsMkdir
            | Operation::FsList
            | Operation::FsRemove
            | Operation::FsTruncate => Reply::error(KeyError::Unsupported),
        }
    }
}

/// The connection `key` holds, if any.
fn stream(key: &mut HostKey) -> Option<&mut TcpStream> {
    key.handle
        .as_mut()
        .and_then(|h| h.downcast_mut::<TcpStream>())
}
