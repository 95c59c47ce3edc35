//! The fault schedule as a timeline of actions (start or end of each
//! [`ScheduledFault`]), applied by the driver between simulation steps at
//! exact virtual times.

use std::time::Duration;

use turmoil::Sim;

use crate::broker::Broker;
use crate::net::{self, Latency, NetError};
use crate::spec::{Direction, Fault, ScheduledFault, BROKER_HOST};

/// Whether an action starts or ends its fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// Ends sort first: a fault ending at the instant another starts is
    /// undone before the new one applies, so back-to-back faults compose.
    End,
    Start,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Action {
    at: Duration,
    edge: Edge,
    /// Index in the spec's fault list; also the tie-break, so the order of
    /// simultaneous actions is the order the scenario wrote them.
    fault: usize,
}

/// The timeline of one run.
#[derive(Debug)]
pub(crate) struct Schedule {
    faults: Vec<ScheduledFault>,
    /// Every action, sorted; `next` is the first not applied yet.
    actions: Vec<Action>,
    next: usize,
    /// Every client host, for faults with no explicit targets.
    client_hosts: Vec<String>,
    baseline_latency: Latency,
}

/// One applied action, for the event log.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) at: Duration,
    pub(crate) text: String,
}

impl Schedule {
    pub(crate) fn new(
        faults: &[ScheduledFault],
        client_hosts: Vec<String>,
        baseline_latency: Latency,
    ) -> Self {
        let mut actions = Vec::with_capacity(faults.len() * 2);
        for (index, fault) in faults.iter().enumerate() {
            actions.push(Action {
                at: fault.at,
                edge: Edge::Start,
                fault: index,
            });
            if let Some(end) = fault.end() {
                actions.push(Action {
                    at: end,
                    edge: Edge::End,
                    fault: index,
                });
            }
        }
        actions.sort();
        Schedule {
            faults: faults.to_vec(),
            actions,
            next: 0,
            client_hosts,
            baseline_latency,
        }
    }

    /// Applies every action due at or before `now`, in order.
    pub(crate) fn apply_due(
        &mut self,
        now: Duration,
        sim: &mut Sim<'_>,
        broker: &Broker,
    ) -> Result<Vec<Applied>, NetError> {
        let mut applied = Vec::new();
        while let Some(action) = self.actions.get(self.next).copied() {
            if action.at > now {
                break;
            }
            self.next += 1;
            let scheduled = &self.faults[action.fault];
            let targets = if scheduled.targets.is_empty() {
                &self.client_hosts
            } else {
                &scheduled.targets
            };
            match action.edge {
                Edge::Start => start(&scheduled.fault, targets, sim, broker)?,
                Edge::End => end(
                    &scheduled.fault,
                    targets,
                    sim,
                    broker,
                    self.baseline_latency,
                )?,
            }
            let edge = match action.edge {
                Edge::Start => "fault-start",
                Edge::End => "fault-end",
            };
            let text = if scheduled.fault.is_network() {
                format!(
                    "{edge} #{} {} targets={}",
                    action.fault,
                    scheduled.fault,
                    targets.join(",")
                )
            } else {
                format!("{edge} #{} {}", action.fault, scheduled.fault)
            };
            applied.push(Applied { at: now, text });
        }
        Ok(applied)
    }
}

fn start(
    fault: &Fault,
    targets: &[String],
    sim: &mut Sim<'_>,
    broker: &Broker,
) -> Result<(), NetError> {
    if let Some(broker_fault) = fault.broker_fault() {
        broker.set_fault(broker_fault);
        return Ok(());
    }
    if matches!(fault, Fault::HostCrash) {
        net::crash_host(sim, BROKER_HOST);
        return Ok(());
    }
    for host in targets {
        match fault {
            Fault::Partition => net::partition(sim, BROKER_HOST, host)?,
            Fault::PartitionOneWay { direction } => match direction {
                Direction::ToBroker => net::partition_oneway(sim, host, BROKER_HOST)?,
                Direction::FromBroker => net::partition_oneway(sim, BROKER_HOST, host)?,
            },
            Fault::Hold => net::hold(sim, BROKER_HOST, host)?,
            Fault::Latency(latency) => net::set_latency(sim, BROKER_HOST, host, *latency)?,
            Fault::FailRate { rate } => net::set_fail_rate(sim, BROKER_HOST, host, *rate)?,
            _ => unreachable!("broker faults returned above"),
        }
    }
    Ok(())
}

fn end(
    fault: &Fault,
    targets: &[String],
    sim: &mut Sim<'_>,
    broker: &Broker,
    baseline_latency: Latency,
) -> Result<(), NetError> {
    if let Some(broker_fault) = fault.broker_fault() {
        // Only clear our own mode: if a later fault replaced it, that one
        // ends on its own schedule.
        if broker.fault() == Some(broker_fault) {
            broker.clear_fault();
        }
        return Ok(());
    }
    if matches!(fault, Fault::HostCrash) {
        net::restart_host(sim, BROKER_HOST);
        return Ok(());
    }
    for host in targets {
        match fault {
            Fault::Partition | Fault::PartitionOneWay { .. } => {
                net::repair(sim, BROKER_HOST, host)?
            }
            Fault::Hold => net::release(sim, BROKER_HOST, host)?,
            Fault::Latency(_) => net::set_latency(sim, BROKER_HOST, host, baseline_latency)?,
            Fault::FailRate { .. } => net::set_fail_rate(sim, BROKER_HOST, host, 0.0)?,
            _ => unreachable!("broker faults returned above"),
        }
    }
    Ok(())
}
