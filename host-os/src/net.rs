//! Network endpoints: TCP connections to one granted host and port.

use std::io::{Read, Write};
use std::net::TcpStream;

use rarvm_runtime::host::{Reply, Resource, ResourceCall};
use rarvm_runtime::keys::{HostKey, KeyError, KeyKind, Operation};

/// One endpoint; `net.connect` opens a connection to it, held by the key (host state: not
/// part of images, and a copy of the key is not connected).
pub struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    pub fn new(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
        }
    }
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
                match TcpStream::connect((self.host.as_str(), self.port)) {
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
                Some(s) => match s.write_all(call.data) {
                    Ok(()) => Reply::ok(call.data.len() as u64),
                    Err(_) => Reply::error(KeyError::Io),
                },
            },
            Operation::NetRecv => match stream(key) {
                None => Reply::error(KeyError::NotConnected),
                Some(s) => {
                    call.out.resize(call.data.len(), 0);
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
