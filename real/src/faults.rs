//! How each scenario fault is injected for real: proxy toxics on the
//! targeted clients' proxies, a reset of every connection, a stop and
//! restart of the spawned broker, or nothing at all (skipped, by name).

use std::time::Duration;

use breakwater_proxy::{Stream, Toxic};
use breakwater_sim::net::Latency;
use breakwater_sim::spec::{Direction, Fault, Workload};

use crate::options::Broker;

/// Bytes of one PUBLISH besides topic and payload: fixed header (up to 2
/// bytes of remaining length on top of the type byte for our sizes), the
/// topic length prefix and the packet id.
const PUBLISH_OVERHEAD_BYTES: u64 = 7;

/// What the real mode does for one scenario fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultMapping {
    /// These toxics are set on the proxies of the targeted client hosts
    /// (every client host for a broker fault) when the fault starts and
    /// removed when it ends (the baseline latency, if any, comes back).
    ///
    /// - `partition` and `refuse`: `Down`: connects are refused at once
    ///   and open connections are closed. For `refuse` this is coarser
    ///   than the simulation's CONNACK refusal (the connection does not
    ///   get as far as CONNECT, and open ones are closed too), but it
    ///   shows the client the same thing: no session can be had.
    /// - `partition-oneway`: `Timeout { timeout: 0 }` on the cut direction:
    ///   bytes that way are held, not dropped, and delivered if the
    ///   connection is still open when the fault ends.
    /// - `hold`: `Timeout { timeout: 0 }` on both streams; held bytes are
    ///   delivered when the fault ends, as in the simulation.
    /// - `black-hole`: `Timeout { timeout: 0 }` downstream: mosquitto still
    ///   reads (and processes) everything, the client hears nothing back.
    ///   Unlike the simulated broker, replies held on a connection that is
    ///   still open are delivered when the fault ends.
    /// - `latency`: `Latency` on both streams (a range becomes its midpoint
    ///   with a uniform jitter of half its width, drawn from the proxy's
    ///   seeded RNG).
    /// - `delay-acks`: `Latency` downstream: every reply is late, not only
    ///   acks (the proxy does not parse MQTT).
    /// - `fail-rate`: `LimitData` upstream: each connection is closed after
    ///   about `1 / rate` PUBLISH packets' worth of bytes (payload, topic
    ///   and header of the workload). The simulation breaks the link at
    ///   random with probability `rate` per message; this breaks it
    ///   deterministically after the same number of messages on average.
    ///   A rate of 0 sets nothing.
    Toxics(Vec<Toxic>),
    /// `close-connections`: `ResetPeer { timeout: 0 }` on every client
    /// proxy for a moment, so every open connection gets a TCP RST.
    ResetConnections,
    /// `crash` and `host-crash` (only with [`Broker::Spawn`]): the broker
    /// process is stopped and, if the fault has a duration, started again
    /// when it ends, on the same port. `graceful` stops with SIGTERM, so
    /// mosquitto writes its database (`crash` with `keep_sessions`, and
    /// `host-crash`, whose simulated sessions survive too); otherwise
    /// SIGKILL, and the restart uses an empty database. After a restart
    /// with an empty database, client proxies stay down until the witness
    /// has subscribed again, so no acknowledged message can slip past it.
    BrokerStop {
        /// SIGTERM (database written) rather than SIGKILL.
        graceful: bool,
        /// Whether the restart keeps the database (sessions survive).
        keep_sessions: bool,
    },
    /// The real mode cannot inject this fault; it is reported in
    /// [`crate::RealRun::skipped`] and as `SKIPPED` in the events.
    Skipped {
        /// Why.
        reason: &'static str,
    },
}

fn both(toxic: impl Fn(Stream) -> Toxic) -> Vec<Toxic> {
    Stream::BOTH.into_iter().map(toxic).collect()
}

/// The latency toxics for `latency` on both streams, `None` below 1 ms (the
/// loopback is the baseline there: a toxic would add timer overhead, not
/// realism).
pub(crate) fn latency_toxics(latency: Latency) -> Option<Vec<Toxic>> {
    let (mid, jitter) = match latency {
        Latency::Fixed(value) => (value, Duration::ZERO),
        Latency::Range { min, max } => ((min + max) / 2, (max - min) / 2),
    };
    if mid + jitter < Duration::from_millis(1) {
        return None;
    }
    Some(both(|stream| Toxic::Latency {
        stream,
        latency: mid,
        jitter,
    }))
}

fn hold(stream: Stream) -> Toxic {
    Toxic::Timeout {
        stream,
        timeout: Duration::ZERO,
    }
}

/// Bytes of upstream traffic after which a connection is closed, so that
/// it carries `1 / rate` publishes of `workload` on average.
fn fail_rate_bytes(rate: f64, workload: &Workload) -> u64 {
    let topic_bytes = workload.topics.iter().map(String::len).max().unwrap_or(0) as u64;
    let publish_bytes = workload.payload_size_bytes as u64 + topic_bytes + PUBLISH_OVERHEAD_BYTES;
    (publish_bytes as f64 / rate).ceil() as u64
}

/// How `fault` is injected against `broker` for `workload` (see
/// [`FaultMapping`] for each kind and how close it comes to the
/// simulation).
pub fn fault_mapping(fault: &Fault, workload: &Workload, broker: &Broker) -> FaultMapping {
    let spawned = matches!(broker, Broker::Spawn);
    match fault {
        Fault::Partition | Fault::Refuse => FaultMapping::Toxics(vec![Toxic::Down]),
        Fault::PartitionOneWay { direction } => FaultMapping::Toxics(vec![hold(match direction {
            Direction::ToBroker => Stream::Upstream,
            Direction::FromBroker => Stream::Downstream,
        })]),
        Fault::Hold => FaultMapping::Toxics(both(hold)),
        Fault::BlackHole => FaultMapping::Toxics(vec![hold(Stream::Downstream)]),
        Fault::Latency(latency) => {
            FaultMapping::Toxics(latency_toxics(*latency).unwrap_or_default())
        }
        Fault::DelayAcks { delay } => FaultMapping::Toxics(vec![Toxic::Latency {
            stream: Stream::Downstream,
            latency: *delay,
            jitter: Duration::ZERO,
        }]),
        Fault::FailRate { rate } if *rate <= 0.0 => FaultMapping::Toxics(Vec::new()),
        Fault::FailRate { rate } => FaultMapping::Toxics(vec![Toxic::LimitData {
            stream: Stream::Upstream,
            bytes: fail_rate_bytes(*rate, workload),
        }]),
        Fault::CloseConnections => FaultMapping::ResetConnections,
        Fault::Crash { .. } | Fault::HostCrash if !spawned => FaultMapping::Skipped {
            reason: "stopping the broker needs Broker::Spawn: the process at the given address is not ours",
        },
        Fault::Crash { keep_sessions } => FaultMapping::BrokerStop {
            graceful: *keep_sessions,
            keep_sessions: *keep_sessions,
        },
        Fault::HostCrash => FaultMapping::BrokerStop {
            graceful: true,
            keep_sessions: true,
        },
        Fault::DropAcks => FaultMapping::Skipped {
            reason: "the proxy forwards bytes without parsing MQTT, so it cannot drop acks alone",
        },
        Fault::Malformed => FaultMapping::Skipped {
            reason: "mosquitto cannot be made to send undecodable replies, and the proxy does not rewrite bytes",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_process_faults_are_skipped_against_a_given_address() {
        let address = Broker::Address("127.0.0.1:1883".parse().unwrap());
        let workload = Workload::default();
        for fault in [
            Fault::Crash {
                keep_sessions: true,
            },
            Fault::HostCrash,
        ] {
            assert!(matches!(
                fault_mapping(&fault, &workload, &address),
                FaultMapping::Skipped { .. }
            ));
            assert!(matches!(
                fault_mapping(&fault, &workload, &Broker::Spawn),
                FaultMapping::BrokerStop { .. }
            ));
        }
    }

    #[test]
    fn a_fail_rate_of_one_half_closes_after_two_publishes_worth_of_bytes() {
        let workload = Workload::default(); // 64-byte payload, "sensors/0"
        let bytes = fail_rate_bytes(0.5, &workload);
        assert_eq!(bytes, 2 * (64 + 9 + PUBLISH_OVERHEAD_BYTES));
    }

    #[test]
    fn sub_millisecond_latency_sets_no_toxic() {
        assert_eq!(
            latency_toxics(Latency::Fixed(Duration::from_micros(100))),
            None
        );
        assert_eq!(
            latency_toxics(Latency::Range {
                min: Duration::from_millis(10),
                max: Duration::from_millis(30)
            }),
            Some(both(|stream| Toxic::Latency {
                stream,
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(10)
            }))
        );
    }
}
