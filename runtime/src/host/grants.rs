//! Named grants: the host most embedders want.
//!
//! A host holds grants, each with a name, a kind, the rights it allows and what answers it:
//! a [`Resource`], or nothing for the kinds the VM answers itself (random generators and
//! virtual clocks). A new root gets one key per grant, in the order granted; the keys of a
//! resumed image bind to the grant of the same name, kind and mode, and are answered only
//! within it (`docs/SPEC.md` §9.2): an image carries names, never authority.

use std::fmt;

use super::{Call, Decision, Host, Prompt, Reply, Request, Resource, ResourceCall};
use crate::keys::{is_valid_grant_name, HostKey, KeyError, KeyKind, FIRST_CUSTOM_KIND, RIGHT_READ};

/// What a host can grant.
pub enum Grant {
    /// A random generator seeded with `seed`; its state lives in the key, the VM answers it.
    Random { seed: u64 },
    /// A virtual clock: the root's gas used, answered by the VM.
    VirtualClock,
    /// A resource the host answers: the console, a directory, a network endpoint, a wall
    /// clock, or an application's own kind.
    Resource(Box<dyn Resource>),
}

impl Grant {
    /// The kind of the keys this grant backs.
    pub fn kind(&self) -> KeyKind {
        match self {
            Grant::Random { .. } => KeyKind::Random,
            Grant::VirtualClock => KeyKind::Clock,
            Grant::Resource(r) => r.kind(),
        }
    }
}

/// Why a grant was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The name is not 1 to 64 letters, digits, `_`, `-` or `.`.
    InvalidName(String),
    /// Another grant has this name.
    Taken { name: String, kind: KeyKind },
    /// A custom resource's kind is below 16.
    CustomKind { name: String, code: u8 },
    /// A deterministic host cannot grant a resource whose answers come from outside.
    NotDeterministic { name: String, kind: KeyKind },
    /// Deterministic mode is chosen before anything is granted.
    AlreadyGranted,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantError::InvalidName(name) => write!(
                f,
                "invalid grant name `{name}`: use 1 to 64 letters, digits, `_`, `-` or `.`"
            ),
            GrantError::Taken { name, kind } => {
                write!(f, "two grants are named `{name}`: name them, as NAME={kind}:…")
            }
            GrantError::CustomKind { name, code } => write!(
                f,
                "custom resource `{name}` has kind {code}; custom kinds are {FIRST_CUSTOM_KIND} to 255"
            ),
            GrantError::NotDeterministic { name, kind } => write!(
                f,
                "a deterministic run cannot be granted the {kind} resource `{name}`: its answers come from outside the image"
            ),
            GrantError::AlreadyGranted => {
                write!(f, "choose deterministic mode before granting anything")
            }
        }
    }
}

impl std::error::Error for GrantError {}

/// A grant as the host holds it.
struct Bound {
    name: String,
    kind: KeyKind,
    /// The key a new root gets.
    key: HostKey,
    /// What the host allows (asking may add to it).
    rights: u64,
    /// `None` for keys the VM answers (random, virtual clock).
    resource: Option<Box<dyn Resource>>,
}

/// A host of named grants (see the module documentation).
#[derive(Default)]
pub struct Grants {
    grants: Vec<Bound>,
    deterministic: bool,
    prompt: Option<Box<dyn Prompt>>,
}

impl Grants {
    pub fn new() -> Grants {
        Grants::default()
    }

    /// Makes this host deterministic (`docs/SPEC.md` §9.2): it grants only what answers
    /// from the image and the call alone, and never asks. Before anything is granted.
    ///
    /// # Errors
    /// Something was granted already.
    pub fn set_deterministic(&mut self) -> Result<(), GrantError> {
        if !self.grants.is_empty() {
            return Err(GrantError::AlreadyGranted);
        }
        self.deterministic = true;
        Ok(())
    }

    pub fn is_deterministic(&self) -> bool {
        self.deterministic
    }

    /// Who is asked when a process wants what its grant does not allow (default: nobody;
    /// the answer is deny).
    pub fn set_prompt(&mut self, prompt: Option<Box<dyn Prompt>>) {
        self.prompt = prompt;
    }

    /// Registers `grant` as `name` (default: its kind's name) and returns the key a new
    /// root gets for it.
    ///
    /// # Errors
    /// A taken or invalid name, a custom kind below 16, or a resource a deterministic host
    /// cannot answer.
    pub fn grant(&mut self, name: Option<&str>, grant: Grant) -> Result<HostKey, GrantError> {
        let kind = grant.kind();
        let name = name.map_or_else(|| kind.name(), str::to_string);
        if !is_valid_grant_name(&name) {
            return Err(GrantError::InvalidName(name));
        }
        if self.grants.iter().any(|g| g.name == name) {
            return Err(GrantError::Taken { name, kind });
        }
        if let KeyKind::Custom(code) = kind {
            if code < FIRST_CUSTOM_KIND {
                return Err(GrantError::CustomKind { name, code });
            }
        }
        let (state, rights, resource) = match grant {
            Grant::Random { seed } => (seed, RIGHT_READ, None),
            Grant::VirtualClock => (1, RIGHT_READ, None),
            Grant::Resource(r) if self.deterministic && !r.deterministic() => {
                return Err(GrantError::NotDeterministic { name, kind });
            }
            Grant::Resource(r) => (0, r.rights(), Some(r)),
        };
        let key = HostKey::new(kind, &name, state);
        self.grants.push(Bound {
            name,
            kind,
            key: key.copy(),
            rights,
            resource,
        });
        Ok(key)
    }

    /// The keys a new root gets: one per grant, in the order granted.
    pub fn root_keys(&self) -> impl Iterator<Item = HostKey> + '_ {
        self.grants.iter().map(|g| g.key.copy())
    }
}

impl Host for Grants {
    /// Answers from the world: binding, rights, asking, then the resource.
    fn invoke(&mut self, call: Call<'_>) -> Reply {
        let key = call.key;
        // A key binds to the grant of its name, kind and mode: a wall clock's key is not
        // answered by a virtual clock's grant, nor the other way round.
        let Some(i) = self.grants.iter().position(|g| {
            g.name == key.name && g.kind == key.kind && g.key.is_pure() == key.is_pure()
        }) else {
            return Reply::error(KeyError::Unbound);
        };
        if let Some(spec) = call.operation {
            let g = &self.grants[i];
            if g.rights & spec.right != spec.right {
                let decision = match (&mut self.prompt, &g.resource) {
                    (Some(p), Some(r)) if !self.deterministic => p.allow(&Request {
                        grant: &g.name,
                        kind: g.kind,
                        op: format!("{}.{}", g.kind, spec.name),
                        right: spec.right,
                        target: r.describe(key),
                    }),
                    _ => Decision::Deny,
                };
                match decision {
                    Decision::Once => {}
                    Decision::Always => self.grants[i].rights |= spec.right,
                    Decision::Deny => return Reply::error(KeyError::Denied),
                }
            }
        }
        let g = &mut self.grants[i];
        let rights = key.rights & g.rights;
        match &mut g.resource {
            Some(r) => r.invoke(ResourceCall {
                key,
                operation: call.operation,
                op: call.op,
                arg: call.arg,
                rights,
                data: call.data,
                out: call.out,
                work_limit: call.work_limit,
            }),
            // The VM answers pure keys; only a key of another mode can arrive here, and the
            // mode is part of the binding.
            None => Reply::error(KeyError::Unbound),
        }
    }
}
