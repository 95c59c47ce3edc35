//! A validated scenario: the world it simulates (or how to draw one from
//! the seed, in swarm mode) and what every run of it must show.

use std::collections::BTreeMap;
use std::time::Duration;

use breakwater_sim::spec::WorldSpec;

/// A scenario ready to run on any seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name; also the report folder name.
    pub name: String,
    /// One-paragraph description, as written in the file.
    pub description: String,
    /// The world, fixed or drawn per seed.
    pub kind: ScenarioKind,
    /// Bounds the run must meet, on top of the oracles every run gets.
    pub expect: Expectations,
}

/// Where a run's world comes from.
#[derive(Clone, Debug)]
pub enum ScenarioKind {
    /// The same world on every seed (only the seed differs): catalog and
    /// scenario files.
    Fixed(Box<WorldSpec>),
    /// A random valid fault schedule drawn from the seed
    /// ([`crate::swarm::world`]).
    Swarm,
}

/// Scenario-specific bounds, checked by [`crate::oracle`] after the
/// always-on safety oracles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expectations {
    /// Longest allowed time from the end of the last fault until every
    /// breaker is Closed for good. Without it, recovery must still happen
    /// before the run ends.
    pub max_recovery: Option<Duration>,
    /// Lowest allowed share of publishes acknowledged (`acked / published`).
    pub min_success_rate: Option<f64>,
    /// Fewest Closed -> Open transitions (over every breaker): proves the
    /// faults were felt.
    pub min_opens: Option<u64>,
    /// Most Closed -> Open transitions (over every breaker): proves the
    /// breakers did not trip on what they should ride out.
    pub max_opens: Option<u64>,
    /// Fewest Closed -> Open transitions of one breaker, by its table
    /// (`connect`, `publish`, `subscribe`), summed over hosts: proves the
    /// breaker the scenario is about opened, not just any breaker.
    pub min_opens_by_breaker: BTreeMap<String, u64>,
}

impl Scenario {
    /// The world of the run with `seed`.
    pub fn world(&self, seed: u64) -> WorldSpec {
        match &self.kind {
            ScenarioKind::Fixed(spec) => WorldSpec {
                seed,
                ..(**spec).clone()
            },
            ScenarioKind::Swarm => crate::swarm::world(seed),
        }
    }
}
