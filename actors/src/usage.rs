//! Usage tracking off the hot path: requests report "key K was used from address A" with a
//! cast (no waiting); the recorder folds them per key and writes one batch per interval
//! through a [`UsageSink`]. Draining the actor (shutdown) handles what is queued, then flushes.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

/// Accumulated use of one key since the last flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub key_id: String,
    pub count: u64,
    pub last_used_ms: u64,
    pub last_ip: String,
}

/// Where batches go (the product implements it on its metadata store).
pub trait UsageSink: Send + Sync + 'static {
    fn write(&self, batch: Vec<Usage>) -> impl Future<Output = Result<(), String>> + Send;
}

pub enum UsageMsg {
    Record { key_id: String, ip: String, at_ms: u64 },
    /// Write what is pending now; replies when written (used by tests and shutdown).
    Flush(Option<RpcReplyPort<()>>),
}

pub struct UsageRecorder<S: UsageSink> {
    sink: S,
    interval: Duration,
}

impl<S: UsageSink> UsageRecorder<S> {
    pub fn new(sink: S, interval: Duration) -> Self {
        Self { sink, interval }
    }

    async fn flush(&self, pending: &mut HashMap<String, Usage>) {
        if pending.is_empty() {
            return;
        }
        let batch: Vec<Usage> = pending.drain().map(|(_, u)| u).collect();
        if let Err(e) = self.sink.write(batch.clone()).await {
            tracing::warn!(error = %e, keys = batch.len(), "usage flush failed; will retry");
            // Keep the counts for the next attempt.
            for u in batch {
                merge(pending, u);
            }
        }
    }
}

fn merge(pending: &mut HashMap<String, Usage>, u: Usage) {
    match pending.get_mut(&u.key_id) {
        Some(p) => {
            p.count += u.count;
            if u.last_used_ms >= p.last_used_ms {
                p.last_used_ms = u.last_used_ms;
                p.last_ip = u.last_ip;
            }
        }
        None => {
            pending.insert(u.key_id.clone(), u);
        }
    }
}

pub struct UsageState {
    pending: HashMap<String, Usage>,
    timer: JoinHandle<()>,
}

impl<S: UsageSink> Actor for UsageRecorder<S> {
    type Msg = UsageMsg;
    type State = UsageState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<UsageMsg>, _: ()) -> Result<UsageState, ActorProcessingErr> {
        let timer = myself.send_interval(self.interval, || UsageMsg::Flush(None));
        Ok(UsageState { pending: HashMap::new(), timer })
    }

    async fn handle(&self, _: ActorRef<UsageMsg>, message: UsageMsg, state: &mut UsageState) -> Result<(), ActorProcessingErr> {
        match message {
            UsageMsg::Record { key_id, ip, at_ms } => {
                merge(&mut state.pending, Usage { key_id, count: 1, last_used_ms: at_ms, last_ip: ip });
            }
            UsageMsg::Flush(reply) => {
                self.flush(&mut state.pending).await;
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<UsageMsg>, state: &mut UsageState) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        self.flush(&mut state.pending).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<Vec<Usage>>>>);

    impl UsageSink for Collect {
        async fn write(&self, batch: Vec<Usage>) -> Result<(), String> {
            self.0.lock().unwrap().push(batch);
            Ok(())
        }
    }

    #[tokio::test]
    async fn records_fold_per_key_into_one_batch() {
        let sink = Collect::default();
        let (rec, _) =
            Actor::spawn(None, UsageRecorder::new(sink.clone(), Duration::from_secs(3600)), ()).await.unwrap();
        for (key, ip, at) in [("a", "1.1.1.1", 10), ("a", "2.2.2.2", 20), ("b", "3.3.3.3", 15), ("a", "9.9.9.9", 5)] {
            rec.cast(UsageMsg::Record { key_id: key.into(), ip: ip.into(), at_ms: at }).unwrap();
        }
        rec.call(|reply| UsageMsg::Flush(Some(reply)), Some(Duration::from_secs(1))).await.unwrap();
        let batches = sink.0.lock().unwrap().clone();
        assert_eq!(batches.len(), 1);
        let mut batch = batches[0].clone();
        batch.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        assert_eq!(batch[0], Usage { key_id: "a".into(), count: 3, last_used_ms: 20, last_ip: "2.2.2.2".into() });
        assert_eq!(batch[1].count, 1);
    }

    #[tokio::test]
    async fn stopping_flushes_what_is_pending() {
        let sink = Collect::default();
        let (rec, handle) =
            Actor::spawn(None, UsageRecorder::new(sink.clone(), Duration::from_secs(3600)), ()).await.unwrap();
        rec.cast(UsageMsg::Record { key_id: "a".into(), ip: "1.1.1.1".into(), at_ms: 1 }).unwrap();
        // Drain: messages already queued are handled, then the actor stops and flushes.
        rec.drain().unwrap();
        handle.await.unwrap();
        assert_eq!(sink.0.lock().unwrap().concat().len(), 1);
    }
}
