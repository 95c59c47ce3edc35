//! The built-in scenario catalog (`scenarios/catalog/*.toml`), compiled into
//! the binary so `breakwater` runs the same catalog from any directory, and
//! the lookup that turns a command-line argument into a scenario.

use std::fmt;
use std::path::Path;

use crate::file::{parse_scenario, ScenarioError, FILE_SIZE_LIMIT_BYTES};
use crate::scenario::Scenario;
use crate::swarm;

/// One catalog file: its name (the file stem, equal to its `name` key) and
/// its text.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Scenario name.
    pub name: &'static str,
    /// TOML source.
    pub source: &'static str,
}

macro_rules! catalog {
    ($($name:literal),* $(,)?) => {
        [$(Entry { name: $name, source: include_str!(concat!("../catalog/", $name, ".toml")) }),*]
    };
}

/// Every catalog scenario, in the order `list` shows and sweeps run them.
pub const ENTRIES: [Entry; 12] = catalog![
    "partition-heal",
    "flapping-link",
    "latency-spike",
    "black-hole-broker",
    "broker-crash-restart",
    "broker-crash-restart-clean",
    "refused-connection-storm",
    "slow-acks",
    "dropped-acks",
    "one-way-partition",
    "lossy-link",
    "garbage-broker",
];

/// A scenario ready to run, with the argument that names it again in a
/// replay command.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The scenario.
    pub scenario: Scenario,
    /// What to pass to `breakwater replay` to run it again: the catalog
    /// name, `swarm`, or the file path.
    pub replay_arg: String,
}

/// A command-line argument that names no runnable scenario.
#[derive(Debug)]
pub enum LoadError {
    /// Neither a catalog name, `swarm`, nor an existing file.
    Unknown {
        /// The argument.
        arg: String,
    },
    /// The file could not be read.
    Io {
        /// The path.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file was read but is not a valid scenario.
    Invalid(ScenarioError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Unknown { arg } => {
                let names: Vec<&str> = ENTRIES.iter().map(|e| e.name).collect();
                write!(
                    f,
                    "{arg:?} is neither a scenario file nor a catalog scenario (catalog: {}, or `{}`)",
                    names.join(", "),
                    swarm::SWARM_NAME
                )
            }
            LoadError::Io { path, error } => write!(f, "{path}: cannot read: {error}"),
            LoadError::Invalid(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ScenarioError> for LoadError {
    fn from(error: ScenarioError) -> Self {
        LoadError::Invalid(error)
    }
}

/// Parses one catalog entry.
pub fn load_entry(entry: &Entry) -> Result<Resolved, ScenarioError> {
    let scenario = parse_scenario(&format!("catalog/{}.toml", entry.name), entry.source)?;
    Ok(Resolved {
        scenario,
        replay_arg: entry.name.to_owned(),
    })
}

/// The whole catalog, in [`ENTRIES`] order.
pub fn load_all() -> Result<Vec<Resolved>, ScenarioError> {
    ENTRIES.iter().map(load_entry).collect()
}

/// Resolves a command-line argument: a catalog name, `swarm`, or a path to
/// a scenario file. An argument that looks like a path (has a `/` or ends
/// in `.toml`) is always read as a file, so a typo in a path is reported as
/// a missing file rather than an unknown name.
pub fn resolve(arg: &str) -> Result<Resolved, LoadError> {
    let looks_like_path = arg.contains('/') || arg.ends_with(".toml");
    if !looks_like_path {
        if arg == swarm::SWARM_NAME {
            return Ok(Resolved {
                scenario: swarm::scenario(),
                replay_arg: arg.to_owned(),
            });
        }
        if let Some(entry) = ENTRIES.iter().find(|e| e.name == arg) {
            return Ok(load_entry(entry)?);
        }
        if !Path::new(arg).is_file() {
            return Err(LoadError::Unknown {
                arg: arg.to_owned(),
            });
        }
    }
    load_file(Path::new(arg))
}

/// Reads and parses a scenario file. The replay argument is the path made
/// absolute, so the printed replay command works from any directory.
pub fn load_file(path: &Path) -> Result<Resolved, LoadError> {
    let shown = path.display().to_string();
    let io = |error| LoadError::Io {
        path: shown.clone(),
        error,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.len() > FILE_SIZE_LIMIT_BYTES as u64 {
        return Err(LoadError::Invalid(ScenarioError {
            file: shown,
            line: 1,
            column: 1,
            message: format!("file is larger than the {FILE_SIZE_LIMIT_BYTES}-byte limit"),
        }));
    }
    let source = std::fs::read_to_string(path).map_err(io)?;
    let scenario = parse_scenario(&shown, &source)?;
    let replay_arg = std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or(shown);
    Ok(Resolved {
        scenario,
        replay_arg,
    })
}
