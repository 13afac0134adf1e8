//! Audit records written off the request's path: a request hands its record
//! to one writer task, which commits whatever has queued up in one statement.
//! Under load that is one write per batch instead of one per record (a denied
//! check is audited, and a service may be denied thousands of times a
//! second); at rest a batch holds one record and is written at once.
//!
//! Nothing is dropped to keep up: the queue is bounded, and a request waits
//! for room in it, so a store that falls behind slows the requests that audit
//! rather than losing their records or growing memory without bound.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::model::AuditRecord;
use crate::ports::Store;

/// Records waiting for the writer before a request has to wait too.
const QUEUE: usize = 16_384;
/// Most records in one write.
const MAX_BATCH: usize = 1_000;
/// Least time between the starts of two writes: a record that arrives
/// sooner waits for the rest of the interval, so that under load a write
/// carries many records (SQLite commits cost a file write each), while a
/// record arriving after a quiet spell is written at once.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// Pauses between attempts at a batch the store refused.
const RETRY: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

enum Msg {
    Record(Box<AuditRecord>),
    /// Answered once every record queued before it is written (or given up).
    Flush(oneshot::Sender<()>),
}

/// The writer: started on first use, on the runtime of that use.
pub(crate) struct AuditWriter {
    store: Arc<dyn Store>,
    queue: OnceLock<mpsc::Sender<Msg>>,
}

impl AuditWriter {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: OnceLock::new(),
        }
    }

    fn queue(&self) -> &mpsc::Sender<Msg> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.store.clone(), rx));
            tx
        })
    }

    /// Queues a record; waits only while the queue is full.
    pub(crate) async fn record(&self, record: AuditRecord) {
        if self
            .queue()
            .send(Msg::Record(Box::new(record)))
            .await
            .is_err()
        {
            // Only when the runtime that ran the writer has shut down.
            tracing::error!("the audit writer has stopped; an audit record was not written");
        }
    }

    /// Returns once every record queued before the call is written.
    pub(crate) async fn flush(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if queue.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Who did something, as an audit record names it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Actor {
    /// The user or client; `None` for the server itself.
    pub(crate) user: Option<uuid::Uuid>,
    /// The actor's own realm when it acted in another one (a server
    /// administrator acting across realms); `None` otherwise.
    pub(crate) realm: Option<uuid::Uuid>,
}

impl From<Option<uuid::Uuid>> for Actor {
    fn from(user: Option<uuid::Uuid>) -> Self {
        Self { user, realm: None }
    }
}

impl From<crate::authz::Caller<'_>> for Actor {
    fn from(c: crate::authz::Caller<'_>) -> Self {
        Self {
            user: Some(c.who.user_id),
            realm: (c.realm.id != c.who.realm.id).then_some(c.who.realm.id),
        }
    }
}

/// Queues the record of something that happened to `target` (its state
/// after in `after`), done by `actor`, at the domain's current time.
pub(crate) async fn event(
    i: &crate::app::Inner,
    realm_id: uuid::Uuid,
    actor: impl Into<Actor>,
    action: &str,
    target: String,
    after: serde_json::Value,
) {
    let actor = actor.into();
    let record = AuditRecord {
        id: crate::model::new_id(),
        realm_id,
        actor: actor.user,
        actor_realm_id: actor.realm,
        action: action.to_owned(),
        target,
        before: None,
        after: Some(after),
        request_id: None,
        at: i.clock.now(),
    };
    i.audit.record(record).await;
}

/// Queues the record of something a user did to their own account.
pub(crate) async fn user_event(
    i: &crate::app::Inner,
    realm_id: uuid::Uuid,
    user_id: uuid::Uuid,
    action: &str,
    after: serde_json::Value,
) {
    event(
        i,
        realm_id,
        Some(user_id),
        action,
        format!("user:{user_id}"),
        after,
    )
    .await;
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    let mut last_write: Option<crate::clock::Stopwatch> = None;
    while let Some(first) = rx.recv().await {
        if let Some(last) = last_write
            && matches!(first, Msg::Record(_))
        {
            crate::clock::wait(MIN_INTERVAL.saturating_sub(last.elapsed())).await;
        }
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Record(r) => batch.push(*r),
                Msg::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            last_write = Some(crate::clock::Stopwatch::start());
            // Converting and binding a batch takes a while: do it on a
            // thread of the blocking pool, which the operating system
            // schedules beside the workers, rather than hold up the requests
            // queued on a worker.
            let store = store.clone();
            let records = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
            let runtime = tokio::runtime::Handle::current();
            let written = tokio::task::spawn_blocking(move || {
                runtime.block_on(write(&*store, &records));
            })
            .await;
            if written.is_err() {
                tracing::error!("the audit writer panicked; a batch of audit records was lost");
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, retrying while the store is unavailable. A batch the store
/// refuses (a record's realm was deleted in the meantime) or keeps failing is
/// written record by record, so that one bad record does not take the others
/// with it.
async fn write(store: &dyn Store, batch: &[AuditRecord]) {
    let mut pauses = RETRY.iter();
    let failure = loop {
        match store.append_audit(batch).await {
            Ok(()) => return,
            Err(e @ StoreError::Backend(_)) => match pauses.next() {
                Some(pause) => crate::clock::wait(*pause).await,
                None => break e,
            },
            Err(e) => break e,
        }
    };
    if let [record] = batch {
        tracing::error!(error = %failure, action = %record.action, realm = %record.realm_id, "could not write an audit record");
        return;
    }
    for record in batch {
        if let Err(e) = store.append_audit(std::slice::from_ref(record)).await {
            tracing::error!(error = %e, action = %record.action, realm = %record.realm_id, "could not write an audit record");
        }
    }
}
