//! The incident responder: turns security events into automatic answers.
//!
//! - Failed authentications are counted per client address (IPv6 grouped like the rate
//!   limits); more than the limit within the window blocks the address: every request from it
//!   gets 403 `IP_BLOCKED` before any other work, even with a valid key, until the block expires
//!   or an admin lifts it.
//! - Rapid fire: more requests on one key within a short window than the threshold (refused ones
//!   included; the key's limiter counts them) puts the key on restricted limits for a while.
//! - Injection probes in search queries are recorded (and refused, by default).
//! - Each incident goes to the audit trail, the security log and the optional webhook; repeated
//!   incidents on one key can revoke it.
//!
//! Detection state that every request reads (blocks, restrictions) lives in shared maps the
//! request path checks without messaging; counting failures and acting on incidents is the
//! responder actor's job, so decisions about one address are serialised.

pub mod injection;
mod webhook;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use altus4_actors::clock::SharedClock;
use altus4_actors::rate::Window;
use altus4_actors::singleton::{Recipe, Singleton};
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{json, Value};

use crate::app::Keys;
use crate::audit::{self, Audit, Origin, Who};
use crate::config::IncidentConfig;
use webhook::Webhook;

/// What the request path shares with the responder.
struct Shared {
    /// Blocked address (grouped) → block end (ms since the epoch).
    blocks: DashMap<IpAddr, u64>,
    /// Key id → end of its restricted period.
    restricted: DashMap<String, u64>,
}

pub enum ResponderMsg {
    /// One failed authentication; replies whether the address is now blocked.
    AuthFailed { addr: IpAddr, origin: Origin, reply: RpcReplyPort<bool> },
    /// A key crossed the rapid-fire threshold (already restricted by the caller).
    RapidFire { who: Who, origin: Origin, attempts: u32 },
    /// A search query shaped like an injection probe.
    Injection { who: Who, origin: Origin, shape: &'static str, refused: bool },
    /// An admin lifts a block (the route audits it); replies whether there was one.
    Lift { addr: IpAddr, reply: RpcReplyPort<bool> },
    /// Periodic: forget expired blocks, restrictions and old counts.
    Sweep,
}

/// The request path's handle.
pub struct Incidents {
    shared: Arc<Shared>,
    /// Replaced by a fresh responder if it fails; blocks and restrictions live in `shared`.
    responder: Singleton<ResponderMsg>,
    clock: SharedClock,
    ipv6_prefix: u8,
    rapid_fire_requests: u32,
    rapid_fire_penalty_ms: u64,
    pub reject_injection: bool,
}

/// An active block, for the admin view.
pub struct Block {
    pub addr: IpAddr,
    pub until_ms: u64,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

impl Incidents {
    pub async fn start(
        config: &IncidentConfig,
        ipv6_prefix: u8,
        clock: SharedClock,
        audit: Audit,
        keys: Keys,
    ) -> Result<Self, String> {
        let shared = Arc::new(Shared { blocks: DashMap::new(), restricted: DashMap::new() });
        let webhook = config.webhook_url.as_deref().map(Webhook::new).transpose()?;
        let responder = Responder {
            shared: Arc::clone(&shared),
            clock: Arc::clone(&clock),
            audit,
            keys,
            webhook,
            failure_limit: config.auth_failure_limit,
            failure_window_ms: config.auth_failure_window_secs * 1000,
            block_ms: config.block_secs * 1000,
            revoke_after: config.revoke_after_incidents,
            max_tracked: config.max_tracked as usize,
        };
        let recipe: Recipe<Responder> = Arc::new(move || (responder.clone(), ()));
        let responder =
            Singleton::start(recipe).await.map_err(|e| format!("cannot start the incident responder: {e}"))?;
        Ok(Self {
            shared,
            responder,
            clock,
            ipv6_prefix,
            rapid_fire_requests: config.rapid_fire_requests,
            rapid_fire_penalty_ms: config.rapid_fire_penalty_secs * 1000,
            reject_injection: config.reject_injection,
        })
    }

    fn group(&self, ip: IpAddr) -> IpAddr {
        crate::http::client_ip::limit_key(ip, self.ipv6_prefix)
    }

    /// Seconds left on a block of `ip`, if it is blocked. Called on every request.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        if self.shared.blocks.is_empty() {
            return None;
        }
        let until = *self.shared.blocks.get(&self.group(ip))?;
        let now = self.clock.now_ms();
        (until > now).then(|| altus4_actors::rate::whole_seconds_until(now, until))
    }

    /// Reports a failed authentication from `origin`.
    pub async fn auth_failed(&self, origin: &Origin) {
        let addr = self.group(origin.client_ip);
        let origin = origin.clone();
        let sent = self.responder.get().call(|reply| ResponderMsg::AuthFailed { addr, origin, reply }, Some(CALL_TIMEOUT)).await;
        if sent.is_err() {
            tracing::error!("incident responder did not answer");
        }
    }

    /// Whether `key_id` is on restricted limits.
    pub fn restricted(&self, key_id: &str) -> bool {
        if self.shared.restricted.is_empty() {
            return false;
        }
        self.shared.restricted.get(key_id).is_some_and(|until| *until > self.clock.now_ms())
    }

    /// Looks at a key's recent attempts; past the threshold the key is restricted from the next
    /// request on, and the responder told once.
    pub fn observe_attempts(&self, who: &Who, origin: &Origin, attempts: u32) {
        if attempts <= self.rapid_fire_requests {
            return;
        }
        let Some(key_id) = who.key_id.clone() else { return };
        let now = self.clock.now_ms();
        let until = now + self.rapid_fire_penalty_ms;
        let mut fresh = false;
        self.shared
            .restricted
            .entry(key_id)
            .and_modify(|u| {
                if *u <= now {
                    *u = until;
                    fresh = true;
                }
            })
            .or_insert_with(|| {
                fresh = true;
                until
            });
        if fresh {
            let msg = ResponderMsg::RapidFire { who: who.clone(), origin: origin.clone(), attempts };
            let _ = self.responder.get().cast(msg);
        }
    }

    /// Records an injection-shaped query; returns whether to refuse it.
    pub fn injection(&self, who: &Who, origin: &Origin, shape: &'static str) -> bool {
        let refused = self.reject_injection;
        let _ = self.responder.get().cast(ResponderMsg::Injection { who: who.clone(), origin: origin.clone(), shape, refused });
        refused
    }

    /// Lifts the block of `ip` (grouped); whether there was one.
    pub async fn lift(&self, ip: IpAddr) -> Result<bool, String> {
        let addr = self.group(ip);
        self.responder
            .get()
            .call(|reply| ResponderMsg::Lift { addr, reply }, Some(CALL_TIMEOUT))
            .await
            .map_err(|e| e.to_string())?
            .into_answer()
    }

    /// Blocks in force, soonest to expire first.
    pub fn blocks(&self) -> Vec<Block> {
        let now = self.clock.now_ms();
        let mut blocks: Vec<Block> = self
            .shared
            .blocks
            .iter()
            .filter(|e| *e.value() > now)
            .map(|e| Block { addr: *e.key(), until_ms: *e.value() })
            .collect();
        blocks.sort_by_key(|b| b.until_ms);
        blocks
    }

    /// Keys on restricted limits and until when.
    pub fn restrictions(&self) -> Vec<(String, u64)> {
        let now = self.clock.now_ms();
        self.shared.restricted.iter().filter(|e| *e.value() > now).map(|e| (e.key().clone(), *e.value())).collect()
    }
}

/// ractor's call result flattened to "answered with this".
trait Answered<T> {
    fn into_answer(self) -> Result<T, String>;
}

impl<T> Answered<T> for ractor::rpc::CallResult<T> {
    fn into_answer(self) -> Result<T, String> {
        match self {
            ractor::rpc::CallResult::Success(v) => Ok(v),
            ractor::rpc::CallResult::Timeout => Err("incident responder timed out".into()),
            ractor::rpc::CallResult::SenderError => Err("incident responder stopped".into()),
        }
    }
}

#[derive(Clone)]
struct Responder {
    shared: Arc<Shared>,
    clock: SharedClock,
    audit: Audit,
    keys: Keys,
    webhook: Option<Webhook>,
    failure_limit: u32,
    failure_window_ms: u64,
    block_ms: u64,
    revoke_after: u32,
    max_tracked: usize,
}

pub struct ResponderState {
    /// Failed authentications per grouped address.
    failures: HashMap<IpAddr, Window>,
    /// Incident times per key, within the last day.
    key_incidents: HashMap<String, Vec<u64>>,
    sweeper: tokio::task::JoinHandle<()>,
}

const DAY_MS: u64 = 24 * 3600 * 1000;

impl Responder {
    fn failure_window(&self) -> Window {
        // 30 buckets: a failure stops counting at most a thirtieth of the window late.
        let bucket = (self.failure_window_ms / 30).max(1);
        Window::new(bucket * 30, 30)
    }

    /// Records an incident everywhere it must go.
    fn raise(&self, kind: &str, who: &Who, origin: &Origin, target: Option<String>, details: Value) {
        tracing::warn!(
            target: "security",
            incident = kind,
            client_ip = %origin.client_ip,
            key_id = who.key_id.as_deref().unwrap_or("-"),
            user_id = who.user_id.as_deref().unwrap_or("-"),
            details = %details,
            "security incident"
        );
        let event = audit::record(&format!("incident.{kind}"), "detected", who, target, origin, details);
        if let Some(webhook) = &self.webhook {
            webhook.notify(json!({
                "event": "incident",
                "kind": kind,
                "id": event.id,
                "at": event.at,
                "clientIp": event.client_ip,
                "userId": event.user_id,
                "keyId": event.key_id,
                "target": event.target,
                "details": event.details,
            }));
        }
        self.audit.push(event);
    }

    /// Counts an incident against a key and revokes it past the configured number.
    async fn count_against_key(&self, who: &Who, origin: &Origin, state: &mut ResponderState) {
        let (Some(key_id), Some(user_id)) = (&who.key_id, &who.user_id) else { return };
        if self.revoke_after == 0 {
            return;
        }
        let now = self.clock.now_ms();
        let times = state.key_incidents.entry(key_id.clone()).or_default();
        times.retain(|t| now.saturating_sub(*t) < DAY_MS);
        times.push(now);
        if times.len() < self.revoke_after as usize {
            return;
        }
        state.key_incidents.remove(key_id);
        match self.keys.revoke(user_id, key_id).await {
            Ok(true) => {
                let details = json!({ "reason": "repeated incidents", "incidents": self.revoke_after });
                self.raise("key_revoked", who, origin, Some(key_id.clone()), details);
            }
            Ok(false) => {}
            Err(e) => tracing::error!(target: "security", key_id = %key_id, error = %e, "could not revoke a key after repeated incidents"),
        }
    }
}

impl Actor for Responder {
    type Msg = ResponderMsg;
    type State = ResponderState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<ResponderMsg>, _: ()) -> Result<ResponderState, ActorProcessingErr> {
        let sweeper = myself.send_interval(Duration::from_secs(60), || ResponderMsg::Sweep);
        Ok(ResponderState { failures: HashMap::new(), key_incidents: HashMap::new(), sweeper })
    }

    async fn post_stop(&self, _: ActorRef<ResponderMsg>, state: &mut ResponderState) -> Result<(), ActorProcessingErr> {
        state.sweeper.abort();
        Ok(())
    }

    async fn handle(&self, _: ActorRef<ResponderMsg>, msg: ResponderMsg, state: &mut ResponderState) -> Result<(), ActorProcessingErr> {
        let now = self.clock.now_ms();
        match msg {
            ResponderMsg::AuthFailed { addr, origin, reply } => {
                if state.failures.len() >= self.max_tracked && !state.failures.contains_key(&addr) {
                    // Under a wide attack keep counting the addresses already seen; the
                    // per-address rate limits still apply to the rest.
                    state.failures.retain(|_, w| !w.is_empty(now));
                }
                let blocked = if state.failures.len() < self.max_tracked || state.failures.contains_key(&addr) {
                    let window = state.failures.entry(addr).or_insert_with(|| self.failure_window());
                    window.record(now);
                    let failures = window.count(now);
                    if failures > self.failure_limit {
                        state.failures.remove(&addr);
                        let until = now + self.block_ms;
                        self.shared.blocks.insert(addr, until);
                        let details = json!({ "failures": failures, "blockedUntil": until, "blockSeconds": self.block_ms / 1000 });
                        self.raise("ip_blocked", &Who::default(), &origin, Some(addr.to_string()), details);
                        true
                    } else {
                        false
                    }
                } else {
                    false
                };
                let _ = reply.send(blocked);
            }
            ResponderMsg::RapidFire { who, origin, attempts } => {
                let until = self.shared.restricted.get(who.key_id.as_deref().unwrap_or_default()).map(|u| *u);
                let details = json!({ "attempts": attempts, "restrictedUntil": until });
                self.raise("rapid_fire", &who, &origin, who.key_id.clone(), details);
                self.count_against_key(&who, &origin, state).await;
            }
            ResponderMsg::Injection { who, origin, shape, refused } => {
                self.raise("injection_probe", &who, &origin, None, json!({ "shape": shape, "refused": refused }));
                self.count_against_key(&who, &origin, state).await;
            }
            ResponderMsg::Lift { addr, reply } => {
                let lifted = self.shared.blocks.remove(&addr).is_some_and(|(_, until)| until > now);
                state.failures.remove(&addr);
                let _ = reply.send(lifted);
            }
            ResponderMsg::Sweep => {
                self.shared.blocks.retain(|_, until| *until > now);
                self.shared.restricted.retain(|_, until| *until > now);
                state.failures.retain(|_, w| !w.is_empty(now));
                state.key_incidents.retain(|_, times| times.iter().any(|t| now.saturating_sub(*t) < DAY_MS));
            }
        }
        Ok(())
    }
}
