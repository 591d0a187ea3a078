//! The publisher thread: drains the outbox to the broker in sequence order, QoS 1, at most
//! `inflight` unacknowledged, and removes a record only on its PUBACK.
//!
//! Each connection gets a fresh `rumqttc` client and event loop, polled on its own thread (the
//! publisher never polls, the poller never publishes, so neither can block the other). A lost
//! connection drops the whole client, with whatever requests it still held: after reconnecting,
//! sending restarts from the oldest record still in the outbox. rumqttc's own in-memory replay is
//! never relied on; the broker sees duplicates at worst, which consumers drop by `event_id`.
//!
//! PUBACKs carry only a packet id, so the poller pairs them with records through the order of
//! `Outgoing::Publish` notifications, which follows the order of publish requests on that one
//! client; a fresh client per connection keeps stale requests out of the pairing.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisle_proto::topic::STATUS;
use crossbeam_channel::{Receiver, Sender};
use rumqttc::{
    Client, ConnectionError, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, StateError,
    TlsConfiguration, Transport,
};

use super::{Command, Commands, LinkSettings};
use crate::backoff::Backoff;
use crate::outbox::{Outbox, OutboxCounters};

/// How the link is doing, for health events and metrics.
#[derive(Debug, Default)]
pub struct MqttCounters {
    pub connected: AtomicBool,
    /// Connections established after the first one.
    pub reconnects: AtomicU64,
    /// Outbox records the broker acknowledged.
    pub published: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl MqttCounters {
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn set_error(&self, e: &str) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(e.to_string());
        }
    }
}

/// Builds the retained status document: `true` while connected, `false` for the last will and
/// the goodbye on shutdown.
pub type StatusFn = Arc<dyn Fn(bool) -> Vec<u8> + Send + Sync>;

enum LinkEvent {
    Connected,
    /// A QoS 1 publish was acknowledged: an outbox record (`Some(seq)`) or the status.
    Acked(Option<u64>),
    /// A message too large for the client came on the command topic and ended the connection.
    Oversized(usize),
    Down(String),
}

enum Ended {
    Down(String),
    Stopped,
}

/// The running publisher. Wake it when records become durable; shut it down last.
pub struct Link {
    wake: Sender<()>,
    drain_until: Arc<Mutex<Option<Instant>>>,
    thread: std::thread::JoinHandle<()>,
}

/// Tells the publisher that more records are durable.
#[derive(Clone)]
pub struct Waker(Sender<()>);

impl Waker {
    pub fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

impl Link {
    pub fn waker(&self) -> Waker {
        Waker(self.wake.clone())
    }

    /// Sends what is durable for at most `grace`, says goodbye (offline status) and disconnects.
    /// What is not acknowledged by then stays in the outbox for the next start.
    pub fn shutdown(self, grace: Duration) {
        if let Ok(mut d) = self.drain_until.lock() {
            *d = Some(Instant::now() + grace);
        }
        let _ = self.wake.try_send(());
        if self.thread.join().is_err() {
            tracing::error!("mqtt publisher panicked");
        }
    }
}

/// What the publisher works with.
pub struct PublisherParts<O> {
    pub settings: LinkSettings,
    pub store: Arc<O>,
    pub outbox: Arc<OutboxCounters>,
    pub mqtt: Arc<MqttCounters>,
    pub status: StatusFn,
    /// How often the retained status is refreshed.
    pub status_every: Duration,
    /// The command topic and where its messages go (the update thread); without it the agent
    /// does not subscribe to anything.
    pub commands: Option<Commands>,
}

struct Publisher<O> {
    parts: PublisherParts<O>,
    wake: Receiver<()>,
    drain_until: Arc<Mutex<Option<Instant>>>,
    /// Until when the command topic is left alone, after a message on it too large to take.
    commands_paused_until: Cell<Option<Instant>>,
}

pub fn spawn_publisher<O: Outbox + 'static>(parts: PublisherParts<O>) -> std::io::Result<Link> {
    let (wake_tx, wake) = crossbeam_channel::bounded(1);
    let drain_until = Arc::new(Mutex::new(None));
    let publisher = Publisher {
        parts,
        wake,
        drain_until: drain_until.clone(),
        commands_paused_until: Cell::new(None),
    };
    let thread = std::thread::Builder::new()
        .name("mqtt-publish".into())
        .spawn(move || publisher.run())?;
    Ok(Link {
        wake: wake_tx,
        drain_until,
        thread,
    })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

impl<O: Outbox> Publisher<O> {
    fn draining(&self) -> Option<Instant> {
        self.drain_until.lock().ok().and_then(|d| *d)
    }

    /// Whether to subscribe to the command topic now: someone listens, and no oversized
    /// message on the topic paused it.
    fn takes_commands(&self) -> bool {
        self.parts.commands.is_some()
            && self
                .commands_paused_until
                .get()
                .is_none_or(|until| Instant::now() >= until)
    }

    fn run(self) {
        let s = &self.parts.settings;
        let mut backoff = Backoff::new(s.backoff_min, s.backoff_max);
        let mut rng = rand::rng();
        let mut sessions = 0u64;
        loop {
            match self.session(&mut sessions, &mut backoff) {
                Ended::Stopped => break,
                Ended::Down(error) => {
                    self.parts.mqtt.connected.store(false, Ordering::Relaxed);
                    self.parts.mqtt.set_error(&error);
                    if self.draining().is_some() {
                        break;
                    }
                    let delay = backoff.next_delay(&mut rng);
                    tracing::warn!(
                        broker = %format!("{}:{}", s.host, s.port),
                        error = %error,
                        retry_in_s = delay.as_secs_f64(),
                        "mqtt link down; events stay in the outbox"
                    );
                    let until = Instant::now() + delay;
                    while Instant::now() < until && self.draining().is_none() {
                        let _ = self
                            .wake
                            .recv_timeout(until.saturating_duration_since(Instant::now()));
                    }
                    if self.draining().is_some() {
                        break;
                    }
                }
            }
        }
        self.parts.mqtt.connected.store(false, Ordering::Relaxed);
    }

    fn options(&self) -> MqttOptions {
        let s = &self.parts.settings;
        let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            s.tls.clone(),
        )));
        o.set_keep_alive(s.keep_alive);
        // The outbox is the session: the broker keeps nothing for us.
        o.set_clean_session(true);
        o.set_inflight(u16::try_from(s.inflight * 2 + 4).unwrap_or(u16::MAX));
        // Commands are the only thing the agent receives; larger packets end the connection.
        let max_in = self.parts.commands.as_ref().map_or(0, |c| c.max_bytes);
        o.set_max_packet_size(max_in + 1024, 10 * 1024);
        o.set_last_will(LastWill::new(
            s.topic(STATUS),
            (self.parts.status)(false),
            QoS::AtLeastOnce,
            true,
        ));
        o
    }

    /// One connection, from connecting to losing it (or shutting down).
    fn session(&self, sessions: &mut u64, backoff: &mut Backoff) -> Ended {
        let s = &self.parts.settings;
        let (client, mut connection) = Client::new(self.options(), s.inflight + 16);
        let pending: Arc<Mutex<VecDeque<Option<u64>>>> = Arc::default();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let poller_pending = pending.clone();
        let commands = self
            .parts
            .commands
            .as_ref()
            .map(|c| (s.topic(c.topic), c.to.clone()));
        let poller = std::thread::Builder::new()
            .name("mqtt-poll".into())
            .spawn(move || {
                poll(
                    &mut connection,
                    &poller_pending,
                    &events_tx,
                    commands.as_ref(),
                )
            });
        let poller = match poller {
            Ok(p) => p,
            Err(e) => return Ended::Down(format!("cannot start the mqtt poller: {e}")),
        };
        let ended = self.connected_session(&client, &pending, &events, sessions, backoff);
        drop(client);
        if poller.join().is_err() {
            tracing::error!("mqtt poller panicked");
        }
        ended
    }

    fn connected_session(
        &self,
        client: &Client,
        pending: &Mutex<VecDeque<Option<u64>>>,
        events: &Receiver<LinkEvent>,
        sessions: &mut u64,
        backoff: &mut Backoff,
    ) -> Ended {
        let s = &self.parts.settings;
        // Wait for the CONNACK.
        loop {
            match events.recv_timeout(Duration::from_millis(200)) {
                Ok(LinkEvent::Connected) => break,
                Ok(LinkEvent::Down(e)) => return Ended::Down(e),
                Ok(LinkEvent::Acked(_)) => {}
                Ok(oversized @ LinkEvent::Oversized(_)) => {
                    if let Err(e) = self.handle(oversized, &mut 0) {
                        return Ended::Down(e);
                    }
                }
                Err(_) if self.draining().is_some() => return Ended::Stopped,
                Err(_) => {}
            }
        }
        *sessions += 1;
        if *sessions > 1 {
            self.parts.mqtt.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.parts.mqtt.connected.store(true, Ordering::Relaxed);
        backoff.reset();
        tracing::info!(broker = %format!("{}:{}", s.host, s.port), client_id = %s.client_id, "mqtt connected");
        let send = |seq: Option<u64>, topic: String, payload: Vec<u8>, retain: bool| {
            if let Ok(mut p) = pending.lock() {
                p.push_back(seq);
            }
            client.try_publish(topic, QoS::AtLeastOnce, retain, payload)
        };
        let mut inflight = 0usize;
        let mut subscribed = false;
        if send(None, s.topic(STATUS), (self.parts.status)(true), true).is_err() {
            return Ended::Down("mqtt client closed".into());
        }
        inflight += 1;
        let mut last_status = Instant::now();
        let mut cursor = 0u64;
        loop {
            // Only the one topic: a message elsewhere under cmd/ could end the connection too.
            if !subscribed
                && self.takes_commands()
                && let Some(c) = &self.parts.commands
            {
                if client
                    .try_subscribe(s.topic(c.topic), QoS::AtLeastOnce)
                    .is_err()
                {
                    return Ended::Down("mqtt client closed".into());
                }
                subscribed = true;
            }
            for event in events.try_iter() {
                if let Err(e) = self.handle(event, &mut inflight) {
                    return Ended::Down(e);
                }
            }
            let durable = self.parts.outbox.durable_seq.load(Ordering::Acquire);
            let mut idle = true;
            while inflight < s.inflight {
                match self.parts.store.first_from(cursor) {
                    Ok(Some(r)) if r.seq <= durable => {
                        if send(Some(r.seq), s.topic(&r.topic), r.payload, false).is_err() {
                            return Ended::Down("mqtt client closed".into());
                        }
                        cursor = r.seq + 1;
                        inflight += 1;
                        idle = false;
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the outbox");
                        break;
                    }
                }
            }
            if let Some(deadline) = self.draining() {
                let done = idle && inflight == 0;
                if done || Instant::now() >= deadline {
                    self.goodbye(client, pending, events, inflight);
                    return Ended::Stopped;
                }
            }
            if last_status.elapsed() >= self.parts.status_every {
                last_status = Instant::now();
                if send(None, s.topic(STATUS), (self.parts.status)(true), true).is_err() {
                    return Ended::Down("mqtt client closed".into());
                }
                inflight += 1;
            }
            crossbeam_channel::select! {
                recv(events) -> e => {
                    let handled = e
                        .map_err(|_| "mqtt poller ended".to_string())
                        .and_then(|e| self.handle(e, &mut inflight));
                    if let Err(e) = handled {
                        return Ended::Down(e);
                    }
                },
                recv(self.wake) -> _ => {},
                default(Duration::from_millis(200)) => {},
            }
        }
    }

    /// Applies one notification; `Err` when the link is down.
    fn handle(&self, event: LinkEvent, inflight: &mut usize) -> Result<(), String> {
        match event {
            LinkEvent::Acked(seq) => {
                *inflight = inflight.saturating_sub(1);
                if let Some(seq) = seq {
                    self.parts.mqtt.published.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.parts.store.remove(seq) {
                        tracing::error!(seq, error = %e, "cannot remove an acknowledged event; it will be sent again");
                    }
                }
                Ok(())
            }
            LinkEvent::Connected => Ok(()),
            LinkEvent::Oversized(bytes) => {
                let pause = self
                    .parts
                    .commands
                    .as_ref()
                    .map_or(Duration::ZERO, |c| c.pause_after_oversized);
                self.commands_paused_until.set(Some(Instant::now() + pause));
                tracing::error!(
                    bytes,
                    paused_s = pause.as_secs(),
                    "a message too large for the agent came on the command topic; it is left alone for a while so that delivery goes on"
                );
                Err(format!(
                    "a {bytes}-byte message on the command topic ended the connection"
                ))
            }
            LinkEvent::Down(e) => Err(e),
        }
    }

    /// The offline status (retained, so dashboards show the agent stopped on purpose rather than
    /// waiting for the last will), then a clean disconnect.
    fn goodbye(
        &self,
        client: &Client,
        pending: &Mutex<VecDeque<Option<u64>>>,
        events: &Receiver<LinkEvent>,
        mut inflight: usize,
    ) {
        if let Ok(mut p) = pending.lock() {
            p.push_back(None);
        }
        let status = self.parts.settings.topic(STATUS);
        if client
            .try_publish(status, QoS::AtLeastOnce, true, (self.parts.status)(false))
            .is_ok()
        {
            inflight += 1;
            let deadline = Instant::now() + Duration::from_secs(1);
            while inflight > 0 {
                let Ok(event) =
                    events.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                else {
                    break;
                };
                if self.handle(event, &mut inflight).is_err() {
                    break;
                }
            }
        }
        let _ = client.try_disconnect();
    }
}

/// The poller: turns the event loop's notifications into [`LinkEvent`]s until the connection
/// fails or the client is dropped, and hands messages on the command topic (`commands`: the
/// topic and where they go) to their listener.
fn poll(
    connection: &mut rumqttc::Connection,
    pending: &Mutex<VecDeque<Option<u64>>>,
    events: &Sender<LinkEvent>,
    commands: Option<&(String, Sender<Command>)>,
) {
    let mut by_pkid: HashMap<u16, Option<u64>> = HashMap::new();
    for notification in connection.iter() {
        let event = match notification {
            Ok(Event::Incoming(Packet::ConnAck(_))) => LinkEvent::Connected,
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Some(seq) = pending.lock().ok().and_then(|mut p| p.pop_front()) {
                    by_pkid.insert(pkid, seq);
                }
                continue;
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => match by_pkid.remove(&ack.pkid) {
                Some(seq) => LinkEvent::Acked(seq),
                None => continue,
            },
            Ok(Event::Incoming(Packet::Publish(p))) => {
                match commands {
                    Some((topic, tx)) if p.topic == *topic => {
                        if tx.try_send(Command::Message(p.payload.to_vec())).is_err() {
                            tracing::warn!("command dropped: its listener is busy");
                        }
                    }
                    _ => tracing::warn!(topic = %p.topic, "unknown command ignored"),
                }
                continue;
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => continue,
            Err(ConnectionError::MqttState(StateError::Deserialization(
                rumqttc::Error::PayloadSizeLimitExceeded(bytes),
            ))) => {
                if let Some((_, tx)) = commands
                    && tx.try_send(Command::Oversized { bytes }).is_err()
                {
                    tracing::warn!("oversized command not reported: its listener is busy");
                }
                let _ = events.send(LinkEvent::Oversized(bytes));
                break;
            }
            Err(e) => {
                let _ = events.send(LinkEvent::Down(chain(&e)));
                break;
            }
        };
        if events.send(event).is_err() {
            break;
        }
    }
}
