//! Batched writes off the request path. Requests add to some shared [`Pending`] state (a map
//! update or a queue push on their own task: no message, no waiting); a [`BatchWriter`] actor
//! takes what is pending once per interval and writes it through a [`BatchSink`]. A failed
//! write is put back for the next attempt. Stopping the writer writes what is pending, so
//! whatever was accepted before shutdown reaches the sink.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

use crate::singleton::{Recipe, Singleton};

/// Shared state that accumulates items between writes.
pub trait Pending: Send + Sync + 'static {
    type Item: Clone + Send + 'static;
    /// Takes everything pending, in order.
    fn take(&self) -> Vec<Self::Item>;
    /// Puts back a batch that could not be written, ahead of anything newer.
    fn restore(&self, batch: Vec<Self::Item>);
}

/// Where batches go (the product implements it on its metadata store).
pub trait BatchSink<T>: Send + Sync + 'static {
    fn write(&self, batch: Vec<T>) -> impl Future<Output = Result<(), String>> + Send;
}

/// An append-only queue of items awaiting their write, bounded so a storage outage cannot
/// exhaust memory: past `capacity` the oldest items are dropped and counted.
pub struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    dropped: std::sync::atomic::AtomicU64,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { items: Mutex::new(VecDeque::new()), capacity: capacity.max(1), dropped: Default::default() })
    }

    pub fn push(&self, item: T) {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if items.len() >= self.capacity {
            items.pop_front();
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        items.push_back(item);
    }

    /// Items dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Clone + Send + 'static> Pending for Queue<T> {
    type Item = T;

    fn take(&self) -> Vec<T> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }

    fn restore(&self, batch: Vec<T>) {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        for item in batch.into_iter().rev() {
            items.push_front(item);
        }
        while items.len() > self.capacity {
            items.pop_front();
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

pub enum BatchMsg {
    /// Write what is pending now; replies when written (used by tests and `flush` callers).
    Flush(Option<RpcReplyPort<()>>),
}

pub struct BatchWriter<P: Pending, S: BatchSink<P::Item>> {
    /// Names the batches in log lines.
    what: &'static str,
    pending: Arc<P>,
    sink: S,
    interval: Duration,
}

impl<P: Pending, S: BatchSink<P::Item>> BatchWriter<P, S> {
    pub fn new(what: &'static str, pending: Arc<P>, sink: S, interval: Duration) -> Self {
        Self { what, pending, sink, interval }
    }

    async fn flush(&self) {
        let batch = self.pending.take();
        if batch.is_empty() {
            return;
        }
        let len = batch.len();
        if let Err(e) = self.sink.write(batch.clone()).await {
            tracing::warn!(error = %e, items = len, what = self.what, "batch write failed; will retry");
            self.pending.restore(batch);
        }
    }
}

pub struct BatchState {
    timer: JoinHandle<()>,
}

impl<P: Pending, S: BatchSink<P::Item>> Actor for BatchWriter<P, S> {
    type Msg = BatchMsg;
    type State = BatchState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<BatchMsg>, _: ()) -> Result<BatchState, ActorProcessingErr> {
        let timer = myself.send_interval(self.interval, || BatchMsg::Flush(None));
        Ok(BatchState { timer })
    }

    async fn handle(&self, _: ActorRef<BatchMsg>, message: BatchMsg, _: &mut BatchState) -> Result<(), ActorProcessingErr> {
        let BatchMsg::Flush(reply) = message;
        self.flush().await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<BatchMsg>, state: &mut BatchState) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        self.flush().await;
        Ok(())
    }
}

/// Shared pending state and the supervised [`BatchWriter`] that drains it: what the product
/// holds for each batched store (usage counts, the audit trail, the search history). A writer
/// that fails is replaced (see [`crate::singleton`]); what was pending stays in `pending`.
/// Reading code that must see every accepted item calls [`flush`](Self::flush) first.
pub struct Writer<P: Pending> {
    pending: Arc<P>,
    writer: Singleton<BatchMsg>,
}

/// A writer over an append-only [`Queue`].
pub type Journal<T> = Writer<Queue<T>>;

impl<P: Pending> Clone for Writer<P> {
    fn clone(&self) -> Self {
        Self { pending: Arc::clone(&self.pending), writer: self.writer.clone() }
    }
}

impl<P: Pending> Writer<P> {
    pub async fn start<S: BatchSink<P::Item> + Clone>(
        what: &'static str,
        pending: Arc<P>,
        sink: S,
        interval: Duration,
    ) -> Result<Self, ractor::SpawnErr> {
        let shared = Arc::clone(&pending);
        let recipe: Recipe<BatchWriter<P, S>> =
            Arc::new(move || (BatchWriter::new(what, Arc::clone(&shared), sink.clone(), interval), ()));
        Ok(Self { pending, writer: Singleton::start(recipe).await? })
    }

    /// The shared pending state requests add to.
    pub fn pending(&self) -> &P {
        &self.pending
    }

    /// Writes everything accepted so far.
    pub async fn flush(&self) {
        let _ = self.writer.get().call(|reply| BatchMsg::Flush(Some(reply)), Some(Duration::from_secs(5))).await;
    }

    /// Writes what is pending and stops the writer (shutdown).
    pub async fn stop(&self) {
        self.writer.stop(Duration::from_secs(10)).await;
    }
}

impl<T: Clone + Send + 'static> Journal<T> {
    /// Accepts an item; it is written within one interval.
    pub fn push(&self, item: T) {
        self.pending.push(item);
    }

    /// Items lost because the queue overflowed while the sink was failing.
    pub fn dropped(&self) -> u64 {
        self.pending.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records batches; fails the first `fail` writes.
    #[derive(Clone, Default)]
    struct Collect {
        batches: Arc<Mutex<Vec<Vec<u32>>>>,
        fail: Arc<std::sync::atomic::AtomicU32>,
    }

    impl BatchSink<u32> for Collect {
        async fn write(&self, batch: Vec<u32>) -> Result<(), String> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.fail.load(SeqCst) > 0 {
                self.fail.fetch_sub(1, SeqCst);
                return Err("store is down".into());
            }
            self.batches.lock().unwrap().push(batch);
            Ok(())
        }
    }

    async fn flush(writer: &ActorRef<BatchMsg>) {
        writer.call(|reply| BatchMsg::Flush(Some(reply)), Some(Duration::from_secs(1))).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_write_is_retried_in_order_ahead_of_newer_items() {
        let (sink, queue) = (Collect::default(), Queue::new(100));
        sink.fail.store(1, std::sync::atomic::Ordering::SeqCst);
        let writer = BatchWriter::new("test", Arc::clone(&queue), sink.clone(), Duration::from_secs(3600));
        let (writer, _) = Actor::spawn(None, writer, ()).await.unwrap();
        queue.push(1);
        queue.push(2);
        flush(&writer).await;
        assert!(sink.batches.lock().unwrap().is_empty());
        queue.push(3);
        flush(&writer).await;
        assert_eq!(*sink.batches.lock().unwrap(), vec![vec![1, 2, 3]]);
    }

    #[tokio::test]
    async fn stopping_writes_what_is_pending() {
        let (sink, queue) = (Collect::default(), Queue::new(1_000));
        let writer = BatchWriter::new("test", Arc::clone(&queue), sink.clone(), Duration::from_secs(3600));
        let (writer, handle) = Actor::spawn(None, writer, ()).await.unwrap();
        (0..500).for_each(|i| queue.push(i));
        writer.stop(None);
        handle.await.unwrap();
        assert_eq!(sink.batches.lock().unwrap().concat(), (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_queue_drops_its_oldest_items_and_counts_them() {
        let queue = Queue::new(3);
        (0..5).for_each(|i| queue.push(i));
        assert_eq!(queue.take(), vec![2, 3, 4]);
        assert_eq!(queue.dropped(), 2);
    }
}
