//! Jumping processes across machines: rarvm jobs as canonical images on a NATS JetStream
//! work queue (`docs/CLUSTER.md`).
//!
//! A **job** is a root process with a total gas allowance. [`Cluster::submit`] stores its
//! record in the key-value bucket [`JOBS`] and puts its first **task** — the image to
//! continue, and which slice comes next — on the work-queue stream [`STREAM`]. A worker
//! ([`Cluster::work`]) pulls a task, runs one slice of gas, and either records the result
//! (the final image goes to the object store [`IMAGES`]) or puts the new image back on
//! the queue, so a long job hops between workers slice by slice. A task is acknowledged
//! only after the next state is stored: a worker that dies mid-slice leaves its task to be
//! redelivered, and since images are canonical the redelivered slice gives the same bytes;
//! the record's slice count and image hashes (updated by compare-and-set on the entry's
//! revision) tell a duplicate from new work.
//!
//! Slicing is invisible (`docs/SPEC.md` §8.1): the slices add up to the job's total gas,
//! the first one adds its memory, and once the root is final (or yielded) the rest of the
//! total is credited without running, so a job ends in exactly the image of one run with
//! the whole total — for a root that does not read `gas.left` or `mem.left`.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream, AckKind};
use async_nats::HeaderMap;
use futures_util::StreamExt;
use rarvm::host::Grant;
use rarvm::{image, EngineKind, Outcome, Status, Vm};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

/// The work-queue stream of tasks.
pub const STREAM: &str = "RARVM_TASKS";
/// The subject tasks are published on.
pub const SUBJECT: &str = "rarvm.tasks";
/// The durable pull consumer all workers share.
pub const CONSUMER: &str = "rarvm-workers";
/// The key-value bucket of job records (key: the job id).
pub const JOBS: &str = "RARVM_JOBS";
/// The object store of images too large for a message, and of final images (name: hash).
pub const IMAGES: &str = "RARVM_IMAGES";
/// Where the broker is unless told otherwise.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// Memory a new root may allocate beyond its footprint unless told otherwise (as `rarvm run`).
pub const DEFAULT_MEM: u64 = 64 << 20;
/// A worker's slice unless told otherwise.
pub const DEFAULT_SLICE: u64 = 100_000_000;

const H_JOB: &str = "Rarvm-Job";
const H_SLICE: &str = "Rarvm-Slice";
const H_IMAGE: &str = "Rarvm-Image";
const H_OBJECT: &str = "Rarvm-Object";
/// Room left in a message for headers when an image travels inline.
const HEADER_ROOM: usize = 4096;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The broker could not be reached.
    Connect(String),
    /// The broker refused or failed a request.
    Broker(String),
    /// A job id that cannot name a job (ids are 1–64 letters and digits).
    BadId(String),
    /// No job has this id.
    NoSuchJob(String),
    /// A grant a job cannot carry, or an invalid one.
    Grant(String),
    /// A stored image or record that is malformed or does not match its hash.
    Corrupt(String),
    /// An invalid job: bad arguments, an unknown engine.
    Job(String),
    /// Waiting took longer than allowed.
    Timeout(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(m) => write!(f, "cannot reach the broker: {m}"),
            Error::Broker(m) => write!(f, "broker: {m}"),
            Error::BadId(id) => write!(
                f,
                "`{id}` is not a job id (ids are 1 to 64 letters and digits)"
            ),
            Error::NoSuchJob(id) => write!(f, "no job `{id}`"),
            Error::Grant(m) | Error::Corrupt(m) | Error::Job(m) | Error::Timeout(m) => {
                write!(f, "{m}")
            }
        }
    }
}

impl std::error::Error for Error {}

fn broker<E: fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Error {
    move |e| Error::Broker(format!("{what}: {e}"))
}

/// How the stream and its consumer are set up when they do not exist yet.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long a task may go unacknowledged (a worker sends progress while it runs a
    /// slice) before the broker delivers it again.
    pub ack_wait: Duration,
    /// How many times a task is delivered at most.
    pub max_deliver: i64,
    /// Keep trying to reach the broker instead of failing (for workers).
    pub retry_connect: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            retry_connect: false,
        }
    }
}

/// What a job is: its allowances, engine and grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The program's file name, for display.
    pub program: String,
    /// Total gas over all slices.
    pub gas: u64,
    /// Memory the first slice adds to the root's allowance.
    pub mem: u64,
    /// Gas per slice (the smaller of this and the worker's slice is used).
    pub slice: Option<u64>,
    /// The engine to run it on (default: the worker's).
    pub engine: Option<String>,
    /// `--grant` specs, each one a job can carry ([`job_grant`]).
    pub grants: Vec<String>,
}

/// An image, by hash: inline in a task message or in the object store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    /// BLAKE3, hex.
    pub hash: String,
    pub bytes: u64,
    /// True when it is in the object store [`IMAGES`] under its hash.
    pub stored: bool,
}

/// One slice of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// The worker that ran it.
    pub worker: String,
    /// Gas this slice added.
    pub gas: u64,
    /// The root's status after it.
    pub status: String,
    /// The root's gas used after it.
    pub gas_used: u64,
    /// The image after it.
    pub image: ImageRef,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    pub status: String,
    pub fault: Option<String>,
    pub results: Vec<u64>,
    pub gas_used: u64,
    pub gas_left: u64,
    /// The final image, always in the object store.
    pub image: ImageRef,
}

/// A job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its first slice.
    Queued,
    /// Some slices ran; more are to come.
    Running,
    /// It ended: see the result.
    Done,
    /// It cannot run: see the error.
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// A job's record in [`JOBS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub state: State,
    pub spec: JobSpec,
    /// The image it was submitted as.
    pub image: ImageRef,
    pub slices: Vec<Slice>,
    pub result: Option<JobResult>,
    pub error: Option<String>,
}

impl JobRecord {
    /// Gas the slices gave so far.
    pub fn gas_given(&self) -> u64 {
        self.slices.iter().map(|s| s.gas).sum()
    }

    /// The image slice `n` starts from.
    fn image_before(&self, n: usize) -> &ImageRef {
        if n == 0 {
            &self.image
        } else {
            &self.slices[n - 1].image
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }
}

/// Checks that `id` can be a job id: 1–64 ASCII letters and digits.
///
/// # Errors
/// [`Error::BadId`].
pub fn check_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::BadId(id.chars().take(80).collect()));
    }
    Ok(())
}

/// Parses a `--grant` spec a job can carry: one whose answers come from the image and the
/// call — `clock` (virtual, as in a deterministic run), `clock:virtual` and `random:SEED` —
/// so that any worker, and a redelivered slice, gets the same answers.
///
/// # Errors
/// [`Error::Grant`] naming why the others cannot travel.
pub fn job_grant(spec: &str) -> Result<(Option<String>, Grant), Error> {
    let body = match spec.split_once('=') {
        Some((name, body)) if !name.contains(':') => body,
        _ => spec,
    };
    let kind = body.split(':').next().unwrap_or("");
    let why = match kind {
        "clock" | "random" => {
            return rarvm::os::parse_grant(spec, true).map_err(Error::Grant);
        }
        "console" => "the console's output would be written by whichever worker runs a slice, and again after a redelivery",
        "fs" | "net" => "its answers come from outside the image, and a job's slices run on other machines",
        _ => {
            rarvm::os::parse_grant(spec, true).map_err(Error::Grant)?;
            "it cannot be carried to another machine"
        }
    };
    Err(Error::Grant(format!(
        "a job cannot be granted `{spec}`: {why} (a job takes clock, clock:virtual and random:SEED)"
    )))
}

/// Makes `vm` deterministic and grants it `specs` ([`job_grant`]).
///
/// # Errors
/// [`Error::Grant`].
pub fn grant_job(vm: &mut Vm, specs: &[String]) -> Result<(), Error> {
    if !vm.is_deterministic() {
        vm.set_deterministic()
            .map_err(|e| Error::Grant(e.to_string()))?;
    }
    for spec in specs {
        let (name, grant) = job_grant(spec)?;
        let name = name.unwrap_or_else(|| grant.kind().name());
        vm.grant(Some(&name), grant)
            .map_err(|e| Error::Grant(e.to_string()))?;
    }
    Ok(())
}

/// Runs `fut` to completion on a new runtime: for callers without one (the command line).
///
/// # Panics
/// If no runtime can be built (the operating system refused a thread or a timer).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(fut)
}

/// A worker's name unless told otherwise: `HOST-PID`.
pub fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Its name in the slices it records.
    pub name: String,
    /// The engine for jobs that name none (or whose engine this host lacks).
    pub engine: EngineKind,
    /// The most gas it gives one slice.
    pub slice: u64,
    /// Print a line per slice to standard output.
    pub verbose: bool,
}

/// What a worker did with one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    /// No task came within the wait.
    Idle,
    /// It ran slice `slice` of `job`; `done` if that ended the job.
    Ran {
        job: String,
        slice: usize,
        done: bool,
    },
    /// The task was a duplicate of stored work (after a redelivery); it was acknowledged.
    Duplicate { job: String, slice: usize },
    /// The task was dropped: the reason.
    Dropped(String),
    /// The task came before the record it follows; it is delivered again later.
    Deferred,
}

/// A connection to the broker with the stream, bucket and object store.
pub struct Cluster {
    js: jetstream::Context,
    jobs: kv::Store,
    images: object_store::ObjectStore,
    consumer: consumer::Consumer<consumer::pull::Config>,
    max_payload: usize,
    config: Config,
}

impl Cluster {
    /// Connects with the default [`Config`].
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::Broker`].
    pub async fn connect(url: &str) -> Result<Cluster, Error> {
        Cluster::connect_with(url, Config::default()).await
    }

    /// Connects, creating the stream, its consumer, the bucket and the object store
    /// where they do not exist yet (with `config`).
    ///
    /// # Errors
    /// [`Error::Connect`], [`Error::Broker`].
    pub async fn connect_with(url: &str, config: Config) -> Result<Cluster, Error> {
        let mut opts = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None);
        if config.retry_connect {
            opts = opts.retry_on_initial_connect();
        }
        let client = opts
            .connect(url)
            .await
            .map_err(|e| Error::Connect(format!("{url}: {e}")))?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: STREAM.into(),
                subjects: vec![SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(600),
                ..Default::default()
            })
            .await
            .map_err(broker("the task stream"))?;
        let consumer = stream
            .get_or_create_consumer(
                CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(CONSUMER.into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: config.ack_wait,
                    max_deliver: config.max_deliver,
                    ..Default::default()
                },
            )
            .await
            .map_err(broker("the workers' consumer"))?;
        // The bucket and the store are streams of the layout the client reads; they are
        // created as plain streams, which every JetStream server (2.9 on) accepts.
        if js.get_key_value(JOBS).await.is_err() {
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{JOBS}"),
                subjects: vec![format!("$KV.{JOBS}.>")],
                max_messages_per_subject: 1,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(broker("the job bucket"))?;
        }
        let jobs = js
            .get_key_value(JOBS)
            .await
            .map_err(broker("the job bucket"))?;
        if js.get_object_store(IMAGES).await.is_err() {
            js.get_or_create_stream(stream::Config {
                name: format!("OBJ_{IMAGES}"),
                subjects: vec![format!("$O.{IMAGES}.C.>"), format!("$O.{IMAGES}.M.>")],
                allow_rollup: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(broker("the image store"))?;
        }
        let images = js
            .get_object_store(IMAGES)
            .await
            .map_err(broker("the image store"))?;
        Ok(Cluster {
            js,
            jobs,
            images,
            consumer,
            max_payload,
            config,
        })
    }

    /// The largest image that travels inside a task message.
    pub fn inline_limit(&self) -> usize {
        self.max_payload.saturating_sub(HEADER_ROOM)
    }

    /// Stores a job for `image` (a root not yet run, as [`Vm::image`] writes it) and puts
    /// its first task on the queue; returns its id.
    ///
    /// # Errors
    /// [`Error::Job`] for a spec no worker could run (bad grants, engine, no gas),
    /// [`Error::Corrupt`] for bytes that are not an image, [`Error::Broker`].
    pub async fn submit(&self, image: &[u8], spec: JobSpec) -> Result<String, Error> {
        let mut vm = Vm::from_image(image).map_err(|e| Error::Corrupt(e.to_string()))?;
        grant_job(&mut vm, &spec.grants)?;
        if let Some(e) = &spec.engine {
            e.parse::<EngineKind>().map_err(Error::Job)?;
        }
        if spec.slice == Some(0) {
            return Err(Error::Job("a slice must be at least 1 gas".into()));
        }
        let id = nuid::next().to_string();
        let stored = image.len() > self.inline_limit();
        let iref = ImageRef {
            hash: image::hash_hex(image),
            bytes: image.len() as u64,
            stored,
        };
        if stored {
            self.put_image(&iref.hash, image).await?;
        }
        let record = JobRecord {
            id: id.clone(),
            state: State::Queued,
            spec,
            image: iref.clone(),
            slices: vec![],
            result: None,
            error: None,
        };
        self.jobs
            .create(&id, encode(&record).into())
            .await
            .map_err(broker("storing the job"))?;
        self.publish_task(&id, 0, &iref, image).await?;
        Ok(id)
    }

    /// A job's record.
    ///
    /// # Errors
    /// [`Error::BadId`], [`Error::NoSuchJob`], [`Error::Corrupt`], [`Error::Broker`].
    pub async fn job(&self, id: &str) -> Result<JobRecord, Error> {
        Ok(self.entry(id).await?.0)
    }

    /// Waits until the job is done or failed (polling its record), at most `timeout`.
    ///
    /// # Errors
    /// As [`Cluster::job`], and [`Error::Timeout`].
    pub async fn wait(&self, id: &str, timeout: Option<Duration>) -> Result<JobRecord, Error> {
        let start = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match self.job(id).await {
                Ok(r) if r.is_finished() => return Ok(r),
                Ok(_) => {}
                // The broker may be restarting: keep waiting.
                Err(Error::Broker(_)) => {}
                Err(e) => return Err(e),
            }
            if timeout.is_some_and(|t| start.elapsed() > t) {
                return Err(Error::Timeout(format!("job {id} did not finish in time")));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// An image from the object store, checked against its hash.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if it is missing or does not match, [`Error::Broker`].
    pub async fn image(&self, hash: &str) -> Result<Vec<u8>, Error> {
        let mut object = self
            .images
            .get(hash)
            .await
            .map_err(|e| Error::Corrupt(format!("image {hash} is not in the store: {e}")))?;
        let mut bytes = Vec::new();
        object
            .read_to_end(&mut bytes)
            .await
            .map_err(broker("reading an image"))?;
        if image::hash_hex(&bytes) != hash {
            return Err(Error::Corrupt(format!(
                "the stored image {hash} does not match its hash"
            )));
        }
        Ok(bytes)
    }

    async fn put_image(&self, hash: &str, bytes: &[u8]) -> Result<(), Error> {
        let mut reader = bytes;
        self.images
            .put(hash, &mut reader)
            .await
            .map_err(broker("storing an image"))?;
        Ok(())
    }

    async fn entry(&self, id: &str) -> Result<(JobRecord, u64), Error> {
        check_id(id)?;
        let entry = self
            .jobs
            .entry(id)
            .await
            .map_err(broker("reading the job"))?
            .filter(|e| e.operation == kv::Operation::Put)
            .ok_or_else(|| Error::NoSuchJob(id.into()))?;
        let record: JobRecord = serde_json::from_slice(&entry.value)
            .map_err(|e| Error::Corrupt(format!("the record of job {id} is malformed: {e}")))?;
        Ok((record, entry.revision))
    }

    async fn publish_task(
        &self,
        job: &str,
        slice: usize,
        iref: &ImageRef,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let mut headers = HeaderMap::new();
        headers.insert(H_JOB, job);
        headers.insert(H_SLICE, slice.to_string().as_str());
        headers.insert(H_IMAGE, iref.hash.as_str());
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("{job}.{slice}").as_str(),
        );
        let payload = if iref.stored {
            headers.insert(H_OBJECT, "1");
            bytes::Bytes::new()
        } else {
            bytes::Bytes::copy_from_slice(bytes)
        };
        self.js
            .publish_with_headers(SUBJECT, headers, payload)
            .await
            .map_err(broker("queueing a task"))?
            .await
            .map_err(broker("queueing a task"))?;
        Ok(())
    }

    /// Records that a job cannot run.
    async fn fail(&self, id: &str, why: String) -> Result<(), Error> {
        loop {
            let (mut record, revision) = self.entry(id).await?;
            if record.is_finished() {
                return Ok(());
            }
            record.state = State::Failed;
            record.error = Some(why.clone());
            match self.jobs.update(id, encode(&record).into(), revision).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(broker("recording a failure")(e)),
            }
        }
    }

    /// Pulls at most one task (waiting up to `wait`) and handles it.
    ///
    /// # Errors
    /// [`Error::Broker`]: the task is not acknowledged and comes again.
    pub async fn work_one(&self, w: &WorkerOptions, wait: Duration) -> Result<Handled, Error> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(broker("pulling a task"))?;
        let Some(msg) = batch.next().await else {
            return Ok(Handled::Idle);
        };
        let msg = msg.map_err(broker("pulling a task"))?;
        self.handle(w, msg).await
    }

    /// Works forever: pulls tasks and runs them, riding out broker restarts.
    pub async fn work(&self, w: &WorkerOptions) {
        loop {
            match self.work_one(w, Duration::from_secs(5)).await {
                Ok(Handled::Ran { job, slice, done }) if w.verbose => {
                    println!(
                        "{}: job {job} slice {slice}{}",
                        w.name,
                        if done { " (done)" } else { "" }
                    );
                }
                Ok(Handled::Dropped(why)) => eprintln!("{}: dropped a task: {why}", w.name),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("{}: {e}", w.name);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Whether this is the broker's last delivery of `msg` (its consumer's cap reached).
    fn last_delivery(&self, msg: &jetstream::Message) -> bool {
        let cap = self.consumer.cached_info().config.max_deliver;
        cap > 0 && msg.info().is_ok_and(|i| i.delivered >= cap)
    }

    async fn handle(&self, w: &WorkerOptions, msg: jetstream::Message) -> Result<Handled, Error> {
        let header = |name: &str| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_string())
        };
        let (Some(id), Some(n), Some(hash)) = (header(H_JOB), header(H_SLICE), header(H_IMAGE))
        else {
            return self.term(&msg, "a task without its headers".into()).await;
        };
        let Ok(n) = n.parse::<usize>() else {
            return self.term(&msg, format!("job {id}: bad slice number")).await;
        };
        if check_id(&id).is_err() {
            return self.term(&msg, "a task with a bad job id".into()).await;
        }
        let mut computed: Option<Computed> = None;
        loop {
            let (mut record, revision) = match self.entry(&id).await {
                Ok(e) => e,
                Err(e @ Error::Broker(_)) => return Err(e),
                Err(e) => return self.term(&msg, e.to_string()).await,
            };
            let k = record.slices.len();
            if record.is_finished() || n + 1 < k {
                self.ack(&msg).await?;
                return Ok(Handled::Duplicate { job: id, slice: n });
            }
            if n > k {
                msg.ack_with(AckKind::Nak(Some(Duration::from_millis(500))))
                    .await
                    .map_err(broker("deferring a task"))?;
                return Ok(Handled::Deferred);
            }
            if record.image_before(n).hash != hash {
                self.ack(&msg).await?;
                return Ok(Handled::Duplicate { job: id, slice: n });
            }
            if computed.is_none() && self.last_delivery(&msg) {
                // Every worker that took this slice so far died or ran past the ack wait:
                // the broker will not deliver it again, so the job ends here, not silently.
                let why = format!(
                    "slice {n} was delivered {} times and never completed (every worker that \
                     took it crashed or timed out); resubmit its image to try again",
                    self.consumer.cached_info().config.max_deliver
                );
                self.fail(&id, why.clone()).await?;
                self.ack(&msg).await?;
                return Ok(Handled::Dropped(format!("job {id}: {why}")));
            }
            let c = match computed.take() {
                Some(c) => c,
                None => match self.compute(w, &msg, &record, n, &hash).await? {
                    Ok(c) => c,
                    Err(why) => {
                        self.fail(&id, why.clone()).await?;
                        self.ack(&msg).await?;
                        return Ok(Handled::Dropped(format!("job {id}: {why}")));
                    }
                },
            };
            let stored = c.done || c.image.len() > self.inline_limit();
            let iref = ImageRef {
                hash: image::hash_hex(&c.image),
                bytes: c.image.len() as u64,
                stored,
            };
            if n + 1 == k {
                // Stored before a crash; the slice gives the same bytes again.
                if record.slices[n].image.hash != iref.hash {
                    eprintln!(
                        "{}: job {id} slice {n} gave image {} after {} before",
                        w.name, iref.hash, record.slices[n].image.hash
                    );
                }
                if !c.done {
                    self.publish_task(&id, n + 1, &record.slices[n].image, &c.image)
                        .await?;
                }
                self.ack(&msg).await?;
                return Ok(Handled::Duplicate { job: id, slice: n });
            }
            if stored {
                self.put_image(&iref.hash, &c.image).await?;
            }
            let out = &c.outcome;
            record.slices.push(Slice {
                worker: w.name.clone(),
                gas: c.gas,
                status: out.status.name().into(),
                gas_used: out.gas_used,
                image: iref.clone(),
            });
            if c.done {
                record.state = State::Done;
                record.result = Some(JobResult {
                    status: out.status.name().into(),
                    fault: out.fault.map(|f| f.name().to_string()),
                    results: out.results.clone(),
                    gas_used: out.gas_used,
                    gas_left: out.gas_left,
                    image: iref.clone(),
                });
            } else {
                record.state = State::Running;
            }
            match self
                .jobs
                .update(&id, encode(&record).into(), revision)
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    computed = Some(c);
                    continue;
                }
                Err(e) => return Err(broker("recording a slice")(e)),
            }
            if !c.done {
                self.publish_task(&id, n + 1, &iref, &c.image).await?;
            }
            self.ack(&msg).await?;
            return Ok(Handled::Ran {
                job: id,
                slice: n,
                done: c.done,
            });
        }
    }

    /// Runs slice `n` of `record` from the task's image, sending progress while it runs.
    /// The inner error is why the job cannot run.
    async fn compute(
        &self,
        w: &WorkerOptions,
        msg: &jetstream::Message,
        record: &JobRecord,
        n: usize,
        hash: &str,
    ) -> Result<Result<Computed, String>, Error> {
        let object = msg.headers.as_ref().and_then(|h| h.get(H_OBJECT)).is_some();
        let bytes = if object {
            match self.image(hash).await {
                Ok(b) => b,
                Err(Error::Corrupt(why)) => return Ok(Err(why)),
                Err(e) => return Err(e),
            }
        } else {
            msg.payload.to_vec()
        };
        if image::hash_hex(&bytes) != hash {
            return Ok(Err(format!(
                "the image of slice {n} does not match its hash"
            )));
        }
        let spec = record.spec.clone();
        let given = record.gas_given();
        let slice = spec.slice.unwrap_or(u64::MAX).min(w.slice).max(1);
        let gas = slice.min(spec.gas.saturating_sub(given));
        let mem = if n == 0 { spec.mem } else { 0 };
        let engine = spec
            .engine
            .as_deref()
            .and_then(|e| e.parse::<EngineKind>().ok())
            .unwrap_or(w.engine);
        let fallback = w.engine;
        let mut task = tokio::task::spawn_blocking(move || -> Result<Computed, String> {
            let mut vm = Vm::from_image(&bytes).map_err(|e| format!("its image: {e}"))?;
            if vm.set_engine(engine).is_err() {
                vm.set_engine(fallback).map_err(|e| e.to_string())?;
            }
            grant_job(&mut vm, &spec.grants).map_err(|e| e.to_string())?;
            let mut outcome = vm.run(gas, mem);
            let done = outcome.status != Status::OutOfGas || given + gas >= spec.gas;
            if done {
                vm.add_allowance(spec.gas - given - gas, 0);
                outcome = vm.outcome();
            }
            Ok(Computed {
                gas,
                done,
                outcome,
                image: vm.image(),
            })
        });
        let mut tick = tokio::time::interval(self.config.ack_wait / 3);
        tick.tick().await;
        loop {
            tokio::select! {
                r = &mut task => {
                    return Ok(r.unwrap_or_else(|e| Err(format!("the slice panicked: {e}"))));
                }
                _ = tick.tick() => {
                    // Best effort: if it fails, the task may be delivered again, harmlessly.
                    let _ = msg.ack_with(AckKind::Progress).await;
                }
            }
        }
    }

    async fn ack(&self, msg: &jetstream::Message) -> Result<(), Error> {
        msg.double_ack()
            .await
            .map_err(broker("acknowledging a task"))
    }

    async fn term(&self, msg: &jetstream::Message, why: String) -> Result<Handled, Error> {
        msg.ack_with(AckKind::Term)
            .await
            .map_err(broker("dropping a task"))?;
        Ok(Handled::Dropped(why))
    }
}

/// A slice's result before it is stored.
struct Computed {
    gas: u64,
    done: bool,
    outcome: Outcome,
    image: Vec<u8>,
}

fn encode(record: &JobRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("a record serializes")
}

/// Sleeps on the runtime [`block_on`] runs.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}
