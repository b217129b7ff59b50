//! One vat's directory: its key pair and its SQLite database (WAL, `synchronous=FULL`).
//! Every table and what a turn writes to it are in `docs/VATS.md`, "Persistence".

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crypto_box::{PublicKey, SecretKey};
use rusqlite::{params, Connection, OptionalExtension};

use crate::wire::{self, Delivery, Swiss, VatId};
use crate::Error;

pub const DB_FILE: &str = "vat.db";
pub const KEY_FILE: &str = "vat.key";

const SCHEMA: &str = "
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    swiss BLOB NOT NULL UNIQUE,
    gas INTEGER NOT NULL,
    mem INTEGER NOT NULL,
    image BLOB NOT NULL,
    refs BLOB NOT NULL,
    log_next INTEGER NOT NULL,
    since_gas INTEGER NOT NULL,
    since_bytes INTEGER NOT NULL
);
CREATE TABLE log (object INTEGER NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL,
    PRIMARY KEY (object, seq));
CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, delivery BLOB NOT NULL);
CREATE TABLE outbox (peer BLOB NOT NULL, seq INTEGER NOT NULL, delivery BLOB NOT NULL,
    PRIMARY KEY (peer, seq));
CREATE TABLE peers (pk BLOB PRIMARY KEY, addr TEXT, next_out INTEGER NOT NULL,
    next_in INTEGER NOT NULL);
CREATE TABLE turns (turn INTEGER PRIMARY KEY, object BLOB NOT NULL, status TEXT NOT NULL,
    fault TEXT, gas INTEGER NOT NULL, words INTEGER NOT NULL);
";

/// Opens a vat's database with the settings every connection uses.
pub fn connect(dir: &Path) -> Result<Connection, Error> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Err(Error::NotAVat(dir.to_path_buf()));
    }
    let conn = Connection::open(&path)?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), Error> {
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Creates a vat in `dir` (which must not hold one): a new key pair, its private key in
/// `vat.key` (mode 0600), and an empty database listening on `listen`.
pub fn create(dir: &Path, listen: &str) -> Result<VatId, Error> {
    if dir.join(DB_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Err(Error::Exists(dir.to_path_buf()));
    }
    fs::create_dir_all(dir).map_err(|e| Error::Io(dir.to_path_buf(), e))?;
    let secret = SecretKey::generate(&mut crypto_box::aead::OsRng);
    write_private(&dir.join(KEY_FILE), &secret.to_bytes())?;
    let conn = Connection::open(dir.join(DB_FILE))?;
    configure(&conn)?;
    conn.execute_batch(SCHEMA)?;
    let pk = *secret.public_key().as_bytes();
    set_meta(&conn, "listen", listen.as_bytes())?;
    set_meta(&conn, "turn", &0u64.to_le_bytes())?;
    set_meta(&conn, "pk", &pk)?;
    Ok(pk)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Io(path.to_path_buf(), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::Io(path.to_path_buf(), e))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    fs::write(path, bytes).map_err(|e| Error::Io(path.to_path_buf(), e))
}

/// The vat's secret key, from `vat.key` (exactly 32 bytes).
pub fn secret(dir: &Path) -> Result<SecretKey, Error> {
    let path: PathBuf = dir.join(KEY_FILE);
    let bytes = fs::read(&path).map_err(|e| Error::Io(path.clone(), e))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Corrupt(format!("{} is not 32 bytes", path.display())))?;
    Ok(SecretKey::from_bytes(bytes))
}

pub fn public(secret: &SecretKey) -> VatId {
    *PublicKey::from(secret).as_bytes()
}

pub fn meta(conn: &Connection, k: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(conn
        .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
        .optional()?)
}

pub fn set_meta(conn: &Connection, k: &str, v: &[u8]) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO meta (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = ?2",
        params![k, v],
    )?;
    Ok(())
}

pub fn listen(conn: &Connection) -> Result<String, Error> {
    let v = meta(conn, "listen")?.unwrap_or_default();
    String::from_utf8(v).map_err(|_| Error::Corrupt("the listen address is not text".into()))
}

pub fn turn(conn: &Connection) -> Result<u64, Error> {
    let v = meta(conn, "turn")?.ok_or_else(|| Error::Corrupt("no turn counter".into()))?;
    let v: [u8; 8] = v
        .try_into()
        .map_err(|_| Error::Corrupt("the turn counter is not 8 bytes".into()))?;
    Ok(u64::from_le_bytes(v))
}

/// An object's row: its allowances and its state at the last snapshot.
pub struct ObjectRow {
    pub id: i64,
    pub gas: u64,
    pub mem: u64,
    pub image: Vec<u8>,
    pub refs: Vec<u8>,
    pub log_next: u64,
    pub since_gas: u64,
    pub since_bytes: u64,
}

pub fn object(conn: &Connection, swiss: &Swiss) -> Result<Option<ObjectRow>, Error> {
    Ok(conn
        .query_row(
            "SELECT id, gas, mem, image, refs, log_next, since_gas, since_bytes
             FROM objects WHERE swiss = ?1",
            [&swiss[..]],
            |r| {
                Ok(ObjectRow {
                    id: r.get(0)?,
                    gas: r.get::<_, i64>(1)? as u64,
                    mem: r.get::<_, i64>(2)? as u64,
                    image: r.get(3)?,
                    refs: r.get(4)?,
                    log_next: r.get::<_, i64>(5)? as u64,
                    since_gas: r.get::<_, i64>(6)? as u64,
                    since_bytes: r.get::<_, i64>(7)? as u64,
                })
            },
        )
        .optional()?)
}

/// The log of object `id` since its snapshot, in order.
pub fn log(conn: &Connection, id: i64) -> Result<Vec<Vec<u8>>, Error> {
    let mut stmt = conn.prepare_cached("SELECT entry FROM log WHERE object = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a new object whose first turn (its construction) is queued, with `args` as
/// its entry function's arguments.
pub fn insert_object(
    conn: &Connection,
    swiss: &Swiss,
    args: &[u64],
    gas: u64,
    mem: u64,
    image: &[u8],
    refs: &[u8],
) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO objects (swiss, gas, mem, image, refs, log_next, since_gas, since_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0)",
        params![&swiss[..], gas as i64, mem as i64, image, refs],
    )?;
    enqueue(
        conn,
        &Delivery {
            target: *swiss,
            msg: wire::Message::words(args.to_vec()),
        },
    )
}

pub fn enqueue(conn: &Connection, d: &Delivery) -> Result<(), Error> {
    conn.prepare_cached("INSERT INTO inbox (delivery) VALUES (?1)")?
        .execute([d.encode()])?;
    Ok(())
}

/// Queues `d` for `peer`, taking the pair's next sequence number.
pub fn enqueue_out(conn: &Connection, peer: &VatId, d: &Delivery) -> Result<u64, Error> {
    conn.prepare_cached(
        "INSERT INTO peers (pk, addr, next_out, next_in) VALUES (?1, NULL, 1, 1)
         ON CONFLICT (pk) DO NOTHING",
    )?
    .execute([&peer[..]])?;
    let seq: i64 = conn
        .prepare_cached("SELECT next_out FROM peers WHERE pk = ?1")?
        .query_row([&peer[..]], |r| r.get(0))?;
    conn.prepare_cached("UPDATE peers SET next_out = next_out + 1 WHERE pk = ?1")?
        .execute([&peer[..]])?;
    conn.prepare_cached("INSERT INTO outbox (peer, seq, delivery) VALUES (?1, ?2, ?3)")?
        .execute(params![&peer[..], seq, d.encode()])?;
    Ok(seq as u64)
}

/// Records `addr` as where `peer` listens.
pub fn set_peer(conn: &Connection, peer: &VatId, addr: &str) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO peers (pk, addr, next_out, next_in) VALUES (?1, ?2, 1, 1)
         ON CONFLICT (pk) DO UPDATE SET addr = ?2",
        params![&peer[..], addr],
    )?;
    Ok(())
}

/// Starts a write transaction now, so that reads inside it see what it will change.
pub fn begin(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, Error> {
    Ok(conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}
