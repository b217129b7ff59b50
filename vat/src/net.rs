//! Messages between vats: boxed with NaCl `crypto_box` under a nonce made of the box's
//! kind, its direction and the pair's sequence number, posted over HTTP, acknowledged by
//! a boxed ACK of the highest sequence number the receiver holds, and resent forever,
//! with backoff, until acknowledged (`docs/VATS.md`, "Between vats").

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing;
use crypto_box::aead::Aead;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rusqlite::{params, Connection, OptionalExtension};

use crate::store;
use crate::wire::{self, BoxKind, Delivery, VatId};
use crate::Error;

/// The path boxes are posted to.
pub const DELIVER: &str = "/v1/deliver";
/// Most boxes a sender puts in one request.
const SEND_BATCH: i64 = 64;
/// Resending waits this long after a failure at first, doubling up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a request may take before the sender gives up on it and retries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the receiving side shares between requests.
pub(crate) struct Inbound {
    pub secret: SecretKey,
    pub me: VatId,
    pub conn: Mutex<Connection>,
    pub bell: Arc<crate::Bell>,
}

/// The receiving side: one route.
pub(crate) fn router(state: Arc<Inbound>) -> axum::Router {
    axum::Router::new()
        .route(DELIVER, routing::post(deliver))
        .layer(DefaultBodyLimit::max(
            36 + wire::MAX_BATCH * (12 + wire::MAX_BOX),
        ))
        .with_state(state)
}

async fn deliver(State(state): State<Arc<Inbound>>, body: Bytes) -> (StatusCode, Vec<u8>) {
    let state2 = Arc::clone(&state);
    match tokio::task::spawn_blocking(move || accept(&state2, &body)).await {
        Ok(Ok(ack)) => {
            state.bell.ring();
            (StatusCode::OK, ack)
        }
        Ok(Err((code, why))) => (code, why.into_bytes()),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            b"the handler failed".to_vec(),
        ),
    }
}

/// Opens every box of a request, queues the ones next in sequence in one transaction, and
/// answers the boxed ACK. Nothing is queued unless every box opens and decodes.
pub(crate) fn accept(state: &Inbound, body: &[u8]) -> Result<Vec<u8>, (StatusCode, String)> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    let (from, boxes) = wire::decode_batch(body).map_err(|e| bad(format!("request: {e}")))?;
    let mut conn = state.conn.lock().map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the database lock is poisoned".to_string(),
        )
    })?;
    let known: Option<i64> = conn
        .query_row(
            "SELECT next_in FROM peers WHERE pk = ?1",
            [&from[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(internal)?;
    if known.is_none() {
        return Err((
            StatusCode::FORBIDDEN,
            format!("unknown vat {}", wire::hex(&from)),
        ));
    }
    let pair = SalsaBox::new(&PublicKey::from(from), &state.secret);
    let mut opened = Vec::with_capacity(boxes.len());
    for (i, (seq, ct)) in boxes.iter().enumerate() {
        let nonce = wire::nonce(BoxKind::Message, &from, &state.me, *seq);
        let plain = pair
            .decrypt(&nonce.into(), ct.as_slice())
            .map_err(|_| bad(format!("box {i} (sequence {seq}) does not open")))?;
        let d = Delivery::decode(&plain).map_err(|e| bad(format!("box {i}: {e}")))?;
        opened.push((*seq, d));
    }
    let tx = store::begin(&mut conn).map_err(internal_vat)?;
    let mut next: i64 = tx
        .query_row(
            "SELECT next_in FROM peers WHERE pk = ?1",
            [&from[..]],
            |r| r.get(0),
        )
        .map_err(internal)?;
    for (seq, d) in &opened {
        let seq = *seq as i64;
        if seq < next {
            continue; // held already: a retransmission or a replay, acknowledged again
        }
        if seq > next {
            break; // from the future: not acknowledged, so the sender resends in order
        }
        store::enqueue(&tx, d).map_err(internal_vat)?;
        next += 1;
    }
    tx.execute(
        "UPDATE peers SET next_in = ?2 WHERE pk = ?1",
        params![&from[..], next],
    )
    .map_err(internal)?;
    tx.commit().map_err(internal)?;
    let acked = (next - 1) as u64;
    let nonce = wire::nonce(BoxKind::Ack, &state.me, &from, acked);
    let ct = pair
        .encrypt(&nonce.into(), &acked.to_le_bytes()[..])
        .map_err(|_| internal("boxing the ACK"))?;
    let mut out = acked.to_le_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn internal_vat(e: Error) -> (StatusCode, String) {
    internal(e)
}

/// The sending side: a task per peer with queued boxes, started as boxes appear.
pub(crate) async fn senders(
    dir: std::path::PathBuf,
    secret: SecretKey,
    me: VatId,
    wake: Arc<tokio::sync::Notify>,
) {
    let running: Arc<Mutex<BTreeSet<VatId>>> = Arc::default();
    loop {
        let d = dir.clone();
        let peers = tokio::task::spawn_blocking(move || -> Result<Vec<VatId>, Error> {
            let conn = store::connect(&d)?;
            let mut stmt = conn.prepare("SELECT DISTINCT peer FROM outbox")?;
            let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for r in rows {
                if let Ok(pk) = <[u8; 32]>::try_from(r?) {
                    out.push(pk);
                }
            }
            Ok(out)
        })
        .await;
        if let Ok(Ok(peers)) = peers {
            for peer in peers {
                if running.lock().expect("no panics").insert(peer) {
                    let (dir, secret, running) =
                        (dir.clone(), secret.clone(), Arc::clone(&running));
                    tokio::spawn(async move {
                        send_to(&dir, &secret, &me, &peer).await;
                        running.lock().expect("no panics").remove(&peer);
                    });
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
    }
}

/// Sends `peer`'s queued boxes in order until none is left, retrying forever.
async fn send_to(dir: &std::path::Path, secret: &SecretKey, me: &VatId, peer: &VatId) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let pair = SalsaBox::new(&PublicKey::from(*peer), secret);
    let mut backoff = MIN_BACKOFF;
    let conn = match store::connect(dir) {
        Ok(c) => Arc::new(Mutex::new(c)),
        Err(_) => return,
    };
    loop {
        let c = Arc::clone(&conn);
        let p = *peer;
        let queued =
            tokio::task::spawn_blocking(move || queued(&c.lock().expect("no panics"), &p)).await;
        let Ok(Ok((addr, rows))) = queued else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if rows.is_empty() {
            return;
        }
        let Some(addr) = addr else {
            // Not gossiped yet: wait for its address.
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut boxes = Vec::with_capacity(rows.len());
        for (seq, plain) in &rows {
            let nonce = wire::nonce(BoxKind::Message, me, peer, *seq);
            match pair.encrypt(&nonce.into(), plain.as_slice()) {
                Ok(ct) => boxes.push((*seq, ct)),
                Err(_) => return,
            }
        }
        let body = wire::encode_batch(me, &boxes);
        match post(&client, &addr, body, &pair, peer, me).await {
            Some(acked) => {
                backoff = MIN_BACKOFF;
                let c = Arc::clone(&conn);
                let p = *peer;
                let _ = tokio::task::spawn_blocking(move || {
                    c.lock().expect("no panics").execute(
                        "DELETE FROM outbox WHERE peer = ?1 AND seq <= ?2",
                        params![&p[..], acked as i64],
                    )
                })
                .await;
                if acked < rows[0].0 {
                    // The receiver holds none of these yet (it refused what came early).
                    tokio::time::sleep(backoff).await;
                }
            }
            None => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

type Queued = (Option<String>, Vec<(u64, Vec<u8>)>);

fn queued(conn: &Connection, peer: &VatId) -> Result<Queued, Error> {
    let addr: Option<String> = conn
        .query_row("SELECT addr FROM peers WHERE pk = ?1", [&peer[..]], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let mut stmt = conn
        .prepare_cached("SELECT seq, delivery FROM outbox WHERE peer = ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![&peer[..], SEND_BATCH], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })?;
    Ok((addr, rows.collect::<Result<_, _>>()?))
}

/// Posts one request; the sequence number the peer acknowledged, if its ACK opens.
async fn post(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    addr: &str,
    body: Vec<u8>,
    pair: &SalsaBox,
    peer: &VatId,
    me: &VatId,
) -> Option<u64> {
    let req = hyper::Request::post(format!("http://{addr}{DELIVER}"))
        .body(Full::new(Bytes::from(body)))
        .ok()?;
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, client.request(req))
        .await
        .ok()?
        .ok()?;
    if resp.status() != hyper::StatusCode::OK {
        return None;
    }
    let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.into_body().collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    open_ack(&body, pair, peer, me)
}

/// The sequence number of a boxed ACK from `peer` to `me`, if it opens and agrees.
pub(crate) fn open_ack(body: &[u8], pair: &SalsaBox, peer: &VatId, me: &VatId) -> Option<u64> {
    let (claimed, ct) = body.split_at_checked(8)?;
    let claimed = u64::from_le_bytes(claimed.try_into().ok()?);
    let nonce = wire::nonce(BoxKind::Ack, peer, me, claimed);
    let plain = pair.decrypt(&nonce.into(), ct).ok()?;
    (plain == claimed.to_le_bytes()).then_some(claimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;
    use crate::Vat;

    struct Pair {
        a: Vat,
        b: Vat,
        inbound: Inbound,
        a_secret: SecretKey,
        dir: std::path::PathBuf,
    }

    impl Drop for Pair {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Vats `a` and `b`, `b` knowing `a`, and `b`'s receiving side.
    fn pair(test: &str) -> Pair {
        let dir = std::env::temp_dir().join(format!("rarvm-vat-net-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = Vat::create(&dir.join("a"), "127.0.0.1:1").expect("creates");
        let mut b = Vat::create(&dir.join("b"), "127.0.0.1:2").expect("creates");
        b.add_peer(&a.id(), "127.0.0.1:1").expect("gossips");
        let inbound = Inbound {
            secret: store::secret(&dir.join("b")).expect("a key"),
            me: b.id(),
            conn: Mutex::new(store::connect(&dir.join("b")).expect("connects")),
            bell: Arc::new(crate::Bell::new()),
        };
        let a_secret = store::secret(&dir.join("a")).expect("a key");
        Pair {
            a,
            b,
            inbound,
            a_secret,
            dir,
        }
    }

    fn boxed(from: &SecretKey, to: &VatId, seq: u64, word: u64) -> (u64, Vec<u8>) {
        let me = store::public(from);
        let d = Delivery {
            target: [9; 16],
            msg: Message::words(vec![word]),
        };
        let nonce = wire::nonce(BoxKind::Message, &me, to, seq);
        let ct = SalsaBox::new(&PublicKey::from(*to), from)
            .encrypt(&nonce.into(), d.encode().as_slice())
            .expect("boxes");
        (seq, ct)
    }

    fn queued(p: &Pair) -> i64 {
        p.inbound
            .conn
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM inbox", [], |r| r.get(0))
            .unwrap()
    }

    fn ack(p: &Pair, body: &[u8]) -> u64 {
        let pair = SalsaBox::new(&PublicKey::from(p.b.id()), &p.a_secret);
        open_ack(body, &pair, &p.b.id(), &p.a.id()).expect("the ACK opens")
    }

    #[test]
    fn boxes_are_executed_in_sequence_once_and_acknowledged() {
        let p = pair("order");
        let b = p.b.id();
        let send =
            |boxes: Vec<(u64, Vec<u8>)>| accept(&p.inbound, &wire::encode_batch(&p.a.id(), &boxes));
        // From the future: refused, nothing acknowledged.
        let early = send(vec![boxed(&p.a_secret, &b, 3, 30)]).expect("answers");
        assert_eq!(ack(&p, &early), 0);
        assert_eq!(queued(&p), 0);
        // In order, with a duplicate inside the batch.
        let body = send(vec![
            boxed(&p.a_secret, &b, 1, 10),
            boxed(&p.a_secret, &b, 1, 10),
            boxed(&p.a_secret, &b, 2, 20),
        ])
        .expect("answers");
        assert_eq!(ack(&p, &body), 2);
        assert_eq!(queued(&p), 2);
        // A replay of an old box: acknowledged again, never executed again.
        let again = send(vec![boxed(&p.a_secret, &b, 1, 10)]).expect("answers");
        assert_eq!(ack(&p, &again), 2);
        assert_eq!(queued(&p), 2);
        let body = send(vec![boxed(&p.a_secret, &b, 3, 30)]).expect("answers");
        assert_eq!(ack(&p, &body), 3);
        assert_eq!(queued(&p), 3);
        // An ACK that is tampered with does not open.
        let mut forged = body.clone();
        forged[0] ^= 1;
        let pair = SalsaBox::new(&PublicKey::from(b), &p.a_secret);
        assert_eq!(open_ack(&forged, &pair, &b, &p.a.id()), None);
    }

    #[test]
    fn tampered_boxes_wrong_keys_and_unknown_vats_are_refused_whole() {
        let p = pair("hostile");
        let b = p.b.id();
        let mut tampered = boxed(&p.a_secret, &b, 1, 10);
        let last = tampered.1.len() - 1;
        tampered.1[last] ^= 0x40;
        let good = boxed(&p.a_secret, &b, 2, 20);
        let (code, why) = accept(
            &p.inbound,
            &wire::encode_batch(
                &p.a.id(),
                &[boxed(&p.a_secret, &b, 1, 10), tampered.clone()],
            ),
        )
        .unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(why.contains("does not open"), "{why}");
        assert_eq!(
            queued(&p),
            0,
            "nothing of a request with a bad box is queued"
        );
        // A box made with another key, claiming to come from `a`.
        let mallory = SecretKey::from_bytes([7; 32]);
        let (code, _) = accept(
            &p.inbound,
            &wire::encode_batch(&p.a.id(), &[boxed(&mallory, &b, 1, 10)]),
        )
        .unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        // A vat `b` was never told about.
        let (code, why) = accept(
            &p.inbound,
            &wire::encode_batch(&store::public(&mallory), &[boxed(&mallory, &b, 1, 10)]),
        )
        .unwrap_err();
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert!(why.starts_with("unknown vat"), "{why}");
        // A box for the nonce of another sequence number does not open either.
        let moved = (5, good.1.clone());
        assert!(accept(&p.inbound, &wire::encode_batch(&p.a.id(), &[moved])).is_err());
        // Garbage.
        let (code, _) = accept(&p.inbound, b"\x01\x02").unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(queued(&p), 0);
    }
}
