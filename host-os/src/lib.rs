//! rarvm's resources from the operating system, behind the host contract of
//! `rarvm_runtime::host`: the console ([`Console`]), the wall clock ([`WallClock`]),
//! directories ([`Dir`]) and network endpoints ([`Endpoint`]), a [`TtyPrompt`] that asks
//! on the terminal, and [`parse_grant`], the `--grant` syntax that names them.
//!
//! Each is a [`Resource`] a [`Grants`](rarvm_runtime::host::Grants) host grants under a
//! name; nothing here knows a command line.
//!
//! ```
//! use rarvm_host_os::{parse_grant, Capture, Console};
//! use rarvm_runtime::host::{Grant, Grants};
//!
//! let mut host = Grants::new();
//! let (name, grant) = parse_grant("rng=random:7", false)?;
//! host.grant(name.as_deref(), grant)?;
//! let out = Capture::default();
//! host.grant(None, Grant::Resource(Box::new(Console::new(Box::new(out.clone()), Box::new(std::io::empty())))))?;
//! assert_eq!(host.root_keys().count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod clock;
mod console;
mod fs;
mod net;
mod spec;
pub mod tty;

pub use clock::WallClock;
pub use console::{Capture, Console};
pub use fs::Dir;
pub use net::{Endpoint, DEFAULT_DEADLINE};
pub use spec::parse_grant;
pub use tty::TtyPrompt;
