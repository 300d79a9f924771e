//! Usage tracking off the hot path: a request adds "key K was used from address A at T" to a
//! shared [`UsageTally`] (a map update on the request's own task: no message, no waiting). The
//! tally folds uses per key; a [`crate::batch::BatchWriter`] writes it once per interval and on
//! shutdown.

use std::net::IpAddr;

use dashmap::DashMap;

use crate::batch::Pending;

/// Accumulated use of one key since the last flush.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub key_id: String,
    pub count: u64,
    pub last_used_ms: u64,
    pub last_ip: IpAddr,
}

/// Per-key usage not yet written; shared by every request and the recorder.
#[derive(Default)]
pub struct UsageTally(DashMap<String, Usage>);

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

}

impl Pending for UsageTally {
    type Item = Usage;

    fn take(&self) -> Vec<Usage> {
        let keys: Vec<String> = self.0.iter().map(|e| e.key().clone()).collect();
        keys.iter().filter_map(|k| self.0.remove(k).map(|(_, u)| u)).collect()
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use crate::batch::{BatchMsg, BatchSink, BatchWriter};
    use ractor::Actor;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<Vec<Usage>>>>);

    impl BatchSink<Usage> for Collect {
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
        let (sink, tally) = (Collect::default(), Arc::new(UsageTally::default()));
        let recorder = BatchWriter::new("usage", Arc::clone(&tally), sink.clone(), Duration::from_secs(3600));
        let (rec, _) = Actor::spawn(None, recorder, ()).await.unwrap();
        for (key, addr, at) in [("a", "1.1.1.1", 10), ("a", "2.2.2.2", 20), ("b", "3.3.3.3", 15), ("a", "9.9.9.9", 5)] {
            tally.record(key, ip(addr), at);
        }
        rec.call(|reply| BatchMsg::Flush(Some(reply)), Some(Duration::from_secs(1))).await.unwrap();
        let batches = sink.0.lock().unwrap().clone();
        assert_eq!(batches.len(), 1);
        let mut batch = batches[0].clone();
        batch.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        assert_eq!(batch[0], Usage { key_id: "a".into(), count: 3, last_used_ms: 20, last_ip: ip("2.2.2.2") });
        assert_eq!(batch[1].count, 1);
    }

    #[test]
    fn a_restored_batch_merges_with_newer_use() {
        let tally = UsageTally::default();
        tally.record("a", ip("1.1.1.1"), 10);
        let batch = tally.take();
        tally.record("a", ip("2.2.2.2"), 20);
        tally.restore(batch);
        assert_eq!(tally.take(), vec![Usage { key_id: "a".into(), count: 2, last_used_ms: 20, last_ip: ip("2.2.2.2") }]);
    }
}
