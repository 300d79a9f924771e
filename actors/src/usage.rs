//! Usage tracking off the hot path: a request adds "key K was used from address A at T" to a
//! shared [`UsageTally`] (a map update on the request's own task: no message, no waiting); the
//! recorder actor takes the tally and writes one batch per interval through a [`UsageSink`].
//! Stopping the recorder (shutdown) writes what is pending.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

/// Accumulated use of one key since the last flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub key_id: String,
    pub count: u64,
    pub last_used_ms: u64,
    pub last_ip: IpAddr,
}

/// Per-key usage not yet written; shared by every request and the recorder.
#[derive(Clone, Default)]
pub struct UsageTally(Arc<DashMap<String, Usage>>);

impl UsageTally {
    /// Counts one use of `key_id` from `ip` at `at_ms`.
    pub fn record(&self, key_id: &str, ip: IpAddr, at_ms: u64) {
        if let Some(mut u) = self.0.get_mut(key_id) {
            u.count += 1;
            if at_ms >= u.last_used_ms {
                u.last_used_ms = at_ms;
                u.last_ip = ip;
            }
            return;
        }
        let fresh = Usage { key_id: key_id.to_string(), count: 1, last_used_ms: at_ms, last_ip: ip };
        self.0.entry(key_id.to_string()).and_modify(|u| merge_into(u, &fresh)).or_insert(fresh.clone());
    }

    /// Takes everything pending.
    fn take(&self) -> Vec<Usage> {
        let keys: Vec<String> = self.0.iter().map(|e| e.key().clone()).collect();
        keys.iter().filter_map(|k| self.0.remove(k).map(|(_, u)| u)).collect()
    }

    /// Puts back a batch that could not be written.
    fn restore(&self, batch: Vec<Usage>) {
        for u in batch {
            self.0.entry(u.key_id.clone()).and_modify(|p| merge_into(p, &u)).or_insert(u);
        }
    }
}

fn merge_into(p: &mut Usage, u: &Usage) {
    p.count += u.count;
    if u.last_used_ms >= p.last_used_ms {
        p.last_used_ms = u.last_used_ms;
        p.last_ip = u.last_ip;
    }
}

/// Where batches go (the product implements it on its metadata store).
pub trait UsageSink: Send + Sync + 'static {
    fn write(&self, batch: Vec<Usage>) -> impl Future<Output = Result<(), String>> + Send;
}

pub enum UsageMsg {
    /// Write what is pending now; replies when written (used by tests).
    Flush(Option<RpcReplyPort<()>>),
}

pub struct UsageRecorder<S: UsageSink> {
    sink: S,
    tally: UsageTally,
    interval: Duration,
}

impl<S: UsageSink> UsageRecorder<S> {
    pub fn new(sink: S, tally: UsageTally, interval: Duration) -> Self {
        Self { sink, tally, interval }
    }

    async fn flush(&self) {
        let batch = self.tally.take();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.sink.write(batch.clone()).await {
            tracing::warn!(error = %e, keys = batch.len(), "usage flush failed; will retry");
            // Keep the counts for the next attempt.
            self.tally.restore(batch);
        }
    }
}

pub struct UsageState {
    timer: JoinHandle<()>,
}

impl<S: UsageSink> Actor for UsageRecorder<S> {
    type Msg = UsageMsg;
    type State = UsageState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<UsageMsg>, _: ()) -> Result<UsageState, ActorProcessingErr> {
        let timer = myself.send_interval(self.interval, || UsageMsg::Flush(None));
        Ok(UsageState { timer })
    }

    async fn handle(&self, _: ActorRef<UsageMsg>, message: UsageMsg, _: &mut UsageState) -> Result<(), ActorProcessingErr> {
        let UsageMsg::Flush(reply) = message;
        self.flush().await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<UsageMsg>, state: &mut UsageState) -> Result<(), ActorProcessingErr> {
        state.timer.abort();
        self.flush().await;
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn records_fold_per_key_into_one_batch() {
        let (sink, tally) = (Collect::default(), UsageTally::default());
        let recorder = UsageRecorder::new(sink.clone(), tally.clone(), Duration::from_secs(3600));
        let (rec, _) = Actor::spawn(None, recorder, ()).await.unwrap();
        for (key, addr, at) in [("a", "1.1.1.1", 10), ("a", "2.2.2.2", 20), ("b", "3.3.3.3", 15), ("a", "9.9.9.9", 5)] {
            tally.record(key, ip(addr), at);
        }
        rec.call(|reply| UsageMsg::Flush(Some(reply)), Some(Duration::from_secs(1))).await.unwrap();
        let batches = sink.0.lock().unwrap().clone();
        assert_eq!(batches.len(), 1);
        let mut batch = batches[0].clone();
        batch.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        assert_eq!(batch[0], Usage { key_id: "a".into(), count: 3, last_used_ms: 20, last_ip: ip("2.2.2.2") });
        assert_eq!(batch[1].count, 1);
    }

    #[tokio::test]
    async fn stopping_flushes_what_is_pending() {
        let (sink, tally) = (Collect::default(), UsageTally::default());
        let recorder = UsageRecorder::new(sink.clone(), tally.clone(), Duration::from_secs(3600));
        let (rec, handle) = Actor::spawn(None, recorder, ()).await.unwrap();
        tally.record("a", ip("1.1.1.1"), 1);
        rec.stop(None);
        handle.await.unwrap();
        assert_eq!(sink.0.lock().unwrap().concat().len(), 1);
    }
}
