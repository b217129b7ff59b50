//! Vats: a server that runs other people's code safely, after Q-Runtime (`docs/VATS.md`).
//!
//! A vat holds **objects**: rarvm processes that live across turns, each with one key,
//! `vat` ([`power`]), as all its power. A **turn** delivers one message to an object's
//! port, resumes it to its next `yield` under its per-turn gas and its memory limit, and
//! commits — the object's log entry, the messages it sent, the objects it made, the
//! consumed message and the turn's record — in one SQLite transaction. A turn that ends
//! any other way is rolled back whole and recorded. Objects are kept as a snapshot image
//! and a log of their turns since (message, host answers, references kept): restoring one
//! replays its log, so a commit costs what the turn changed, not the object's size.
//!
//! Vats talk through messages boxed with NaCl `crypto_box`, numbered per pair, resent
//! until a boxed ACK arrives ([`net`](crate::net)).

mod net;
pub mod power;
mod store;
mod turn;
pub mod wire;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rarvm::{EngineKind, Program};
use rusqlite::Connection;
use serde_json::json;

pub use turn::TurnRecord;
pub use wire::{Message, SturdyRef, VatId};

/// Anything that can go wrong with a vat.
#[derive(Debug)]
pub enum Error {
    /// The directory holds no vat.
    NotAVat(PathBuf),
    /// The directory holds a vat already.
    Exists(PathBuf),
    Io(PathBuf, std::io::Error),
    Sql(rusqlite::Error),
    /// The database or key file holds something no vat wrote.
    Corrupt(String),
    /// Code that cannot become an object.
    Program(String),
    /// A message over the limits, or to a reference that cannot take it.
    Message(String),
    /// An object asked to run while it runs (an immediate call back into a caller).
    Busy,
    /// The server could not start or run.
    Server(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAVat(d) => write!(
                f,
                "{} holds no vat (create one with `rarvm vat create`)",
                d.display()
            ),
            Error::Exists(d) => write!(f, "{} holds a vat already", d.display()),
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Sql(e) => write!(f, "database: {e}"),
            Error::Corrupt(e) => write!(f, "corrupt vat: {e}"),
            Error::Program(e) => write!(f, "cannot make an object: {e}"),
            Error::Message(e) => write!(f, "cannot send: {e}"),
            Error::Busy => write!(f, "the object is in a turn already"),
            Error::Server(e) => write!(f, "server: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Sql(e)
    }
}

/// Wakes the turn loop when messages arrive.
pub(crate) struct Bell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Bell {
    fn new() -> Bell {
        Bell {
            rung: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    pub(crate) fn ring(&self) {
        *self.rung.lock().expect("no panics") = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let guard = self.rung.lock().expect("no panics");
        let (mut rung, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |r| !*r)
            .expect("no panics");
        *rung = false;
    }
}

/// A vat's directory, opened: what the command line does to it, with or without its
/// server running.
pub struct Vat {
    dir: PathBuf,
    conn: Connection,
    me: VatId,
}

/// Per-turn gas of an object unless told otherwise.
pub const DEFAULT_GAS: u64 = 10_000_000;
/// Memory limit of an object unless told otherwise.
pub const DEFAULT_MEM: u64 = 16 << 20;

impl Vat {
    /// Creates a vat in `dir` that will listen on `listen` (`127.0.0.1:PORT`).
    ///
    /// # Errors
    /// [`Error::Exists`], or the file system's or database's.
    pub fn create(dir: &Path, listen: &str) -> Result<Vat, Error> {
        listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| Error::Server(format!("listen address `{listen}`: {e}")))?;
        store::create(dir, listen)?;
        Vat::open(dir)
    }

    /// # Errors
    /// [`Error::NotAVat`], or the database's.
    pub fn open(dir: &Path) -> Result<Vat, Error> {
        let conn = store::connect(dir)?;
        let me = store::public(&store::secret(dir)?);
        let recorded = store::meta(&conn, "pk")?;
        if recorded.as_deref() != Some(&me[..]) {
            return Err(Error::Corrupt(
                "vat.key does not belong to this vat's database".into(),
            ));
        }
        Ok(Vat {
            dir: dir.to_path_buf(),
            conn,
            me,
        })
    }

    /// The vat's public key.
    pub fn id(&self) -> VatId {
        self.me
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where its server listens.
    ///
    /// # Errors
    /// The database's.
    pub fn listen(&self) -> Result<String, Error> {
        store::listen(&self.conn)
    }

    /// Installs `program` as a new object with `gas` per turn and a memory limit of `mem`
    /// bytes; its first turn, running its entry function with `args` to its first
    /// `yield`, is queued. Returns its sturdy reference. The program holds its vat key in
    /// slot 0.
    ///
    /// # Errors
    /// [`Error::Program`] if `args` do not fit the entry function, or the database's.
    pub fn install(
        &mut self,
        program: &Program,
        args: &[u64],
        gas: u64,
        mem: u64,
    ) -> Result<SturdyRef, Error> {
        let image = turn::fresh_image(&Ok(program.clone()), args, mem)?;
        let swiss = turn::new_swiss();
        let r = SturdyRef {
            vat: self.me,
            swiss,
        };
        let tx = store::begin(&mut self.conn)?;
        store::insert_object(
            &tx,
            &swiss,
            args,
            gas,
            mem,
            &image,
            &wire::encode_refs(&[r]),
        )?;
        tx.commit()?;
        Ok(r)
    }

    /// Queues `msg` to `to`: in this vat's inbox, or in its outbox for `to`'s vat.
    ///
    /// # Errors
    /// [`Error::Message`] over the limits, or the database's.
    pub fn send(&mut self, to: &SturdyRef, msg: Message) -> Result<(), Error> {
        self.send_all(std::iter::once((*to, msg)))
    }

    /// Queues every message, in order, in one transaction: all of them or none.
    ///
    /// # Errors
    /// [`Error::Message`] naming the first over the limits, or the database's.
    pub fn send_all(
        &mut self,
        msgs: impl IntoIterator<Item = (SturdyRef, Message)>,
    ) -> Result<(), Error> {
        let tx = store::begin(&mut self.conn)?;
        for (to, msg) in msgs {
            if let Some(why) = msg.over_limit() {
                return Err(Error::Message(why));
            }
            let d = wire::Delivery {
                target: to.swiss,
                msg,
            };
            if to.vat == self.me {
                store::enqueue(&tx, &d)?;
            } else {
                store::enqueue_out(&tx, &to.vat, &d)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that vat `id` listens on `addr`, and accepts its messages.
    ///
    /// # Errors
    /// The database's.
    pub fn add_peer(&mut self, id: &VatId, addr: &str) -> Result<(), Error> {
        if *id != self.me {
            store::set_peer(&self.conn, id, addr)?;
        }
        Ok(())
    }

    /// How many turns the vat has recorded, and how many of them yielded (committed):
    /// cheap, without restoring any object.
    ///
    /// # Errors
    /// The database's.
    pub fn turn_counts(&self) -> Result<(u64, u64), Error> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(status = 'yielded'), 0) FROM turns",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Objects with their current state (restored from their logs), queues, peers and
    /// the last `turns` turns, as JSON.
    ///
    /// # Errors
    /// The database's, or [`Error::Corrupt`].
    pub fn inspect(&self, turns: usize) -> Result<serde_json::Value, Error> {
        let tx = self.conn.unchecked_transaction()?;
        let mut objects = Vec::new();
        let swisses: Vec<Vec<u8>> = {
            let mut stmt = tx.prepare("SELECT swiss FROM objects ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for s in swisses {
            let swiss: wire::Swiss = s
                .try_into()
                .map_err(|_| Error::Corrupt("an object's secret is not 16 bytes".into()))?;
            let row = store::object(&tx, &swiss)?.expect("listed");
            let log = store::log(&tx, row.id)?;
            let power = power::Power::new(None, swiss, Arc::new(AtomicBool::new(false)));
            let r = SturdyRef {
                vat: self.me,
                swiss,
            };
            let obj = match turn::restore(&row, &log, &[], power, EngineKind::Interp) {
                Ok((vm, refs)) => {
                    let root = vm.root();
                    json!({
                        "ref": r.to_string(),
                        "status": root.status().name(),
                        "port": root.port(),
                        "gas_per_turn": row.gas,
                        "mem_limit": row.mem,
                        "memory": root.memory().len(),
                        "footprint": root.footprint(),
                        "refs": refs.len(),
                        "log": log.len(),
                        "log_bytes": log.iter().map(Vec::len).sum::<usize>(),
                        "image_bytes": row.image.len(),
                    })
                }
                Err(e) => json!({"ref": r.to_string(), "error": e.to_string()}),
            };
            objects.push(obj);
        }
        let inbox: i64 = tx.query_row("SELECT count(*) FROM inbox", [], |r| r.get(0))?;
        let mut peers = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT pk, addr, next_out, next_in,
                 (SELECT count(*) FROM outbox WHERE peer = pk) FROM peers ORDER BY pk",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let pk: Vec<u8> = row.get(0)?;
                peers.push(json!({
                    "vat": wire::hex(&pk),
                    "addr": row.get::<_, Option<String>>(1)?,
                    "next_out": row.get::<_, i64>(2)?,
                    "next_in": row.get::<_, i64>(3)?,
                    "outbox": row.get::<_, i64>(4)?,
                }));
            }
        }
        let mut last = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT turn, object, status, fault, gas, words FROM turns
                 ORDER BY turn DESC LIMIT ?1",
            )?;
            let mut rows = stmt.query([turns as i64])?;
            while let Some(row) = rows.next()? {
                let obj: Vec<u8> = row.get(1)?;
                last.push(json!({
                    "turn": row.get::<_, i64>(0)?,
                    "object": wire::hex(&obj),
                    "status": row.get::<_, String>(2)?,
                    "fault": row.get::<_, Option<String>>(3)?,
                    "gas": row.get::<_, i64>(4)?,
                    "words": row.get::<_, i64>(5)?,
                }));
            }
        }
        last.reverse();
        let (committed, succeeded) = self.turn_counts()?;
        Ok(json!({
            "vat": wire::hex(&self.me),
            "listen": self.listen()?,
            "turn": store::turn(&tx)?,
            "objects": objects,
            "inbox": inbox,
            "peers": peers,
            "turns": {"recorded": committed, "yielded": succeeded, "last": last},
        }))
    }
}

/// How a server runs its turns.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The engine objects run on (default: the interpreter, which costs nothing to start
    /// for each object restored).
    pub engine: EngineKind,
    /// Most turns committed in one transaction.
    pub batch: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            engine: EngineKind::Interp,
            batch: 64,
        }
    }
}

/// Runs the turns queued in `dir`'s vat without its server, committing `options.batch`
/// at a time, until none is left; returns how many ran. Messages for other vats stay in
/// the outbox for the server to send.
///
/// # Errors
/// The database's.
pub fn run_turns(dir: &Path, options: &ServeOptions) -> Result<usize, Error> {
    let vat = Vat::open(dir)?;
    let world = Arc::new(Mutex::new(turn::World::new(
        store::connect(dir)?,
        vat.id(),
        options.engine,
    )?));
    let mut total = 0;
    loop {
        match turn::run_batch(&world, options.batch)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

/// Runs the vat in `dir`: its turns, its listener and its senders, until `stop` is set.
/// Prints nothing; returns once the last batch has committed.
///
/// # Errors
/// [`Error::Server`] if the address cannot be bound; the database's.
pub fn serve(dir: &Path, options: &ServeOptions, stop: Arc<AtomicBool>) -> Result<(), Error> {
    let vat = Vat::open(dir)?;
    let listen = vat.listen()?;
    let secret = store::secret(dir)?;
    let me = vat.id();
    drop(vat);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Server(e.to_string()))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&listen))
        .map_err(|e| Error::Server(format!("cannot listen on {listen}: {e}")))?;
    let bell = Arc::new(Bell::new());
    let wake = Arc::new(tokio::sync::Notify::new());
    let inbound = Arc::new(net::Inbound {
        secret: secret.clone(),
        me,
        conn: Mutex::new(store::connect(dir)?),
        bell: Arc::clone(&bell),
    });
    let world = Arc::new(Mutex::new(turn::World::new(
        store::connect(dir)?,
        me,
        options.engine,
    )?));
    let turns = {
        let (stop, bell, wake, batch) = (
            Arc::clone(&stop),
            Arc::clone(&bell),
            Arc::clone(&wake),
            options.batch,
        );
        std::thread::spawn(move || -> Result<(), Error> {
            while !stop.load(Ordering::Acquire) {
                match turn::run_batch(&world, batch) {
                    Ok(0) => bell.wait(Duration::from_millis(50)),
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        eprintln!("vat: a batch of turns failed and will be retried: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            Ok(())
        })
    };
    let senders = runtime.spawn(net::senders(
        dir.to_path_buf(),
        secret,
        me,
        Arc::clone(&wake),
    ));
    let server_stop = Arc::clone(&stop);
    let served = runtime.block_on(async move {
        axum::serve(listener, net::router(inbound))
            .with_graceful_shutdown(stopped(server_stop))
            .await
    });
    stop.store(true, Ordering::Release);
    bell.ring();
    senders.abort();
    let turned = turns
        .join()
        .map_err(|_| Error::Server("the turn loop panicked".into()))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    served.map_err(|e| Error::Server(e.to_string()))?;
    turned
}

/// Resolves once `stop` is set, or on Ctrl-C or SIGTERM (which set it).
async fn stopped(stop: Arc<AtomicBool>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminated = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = terminated => break,
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Release);
}
