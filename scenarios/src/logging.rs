//! The `breakwater` CLI's logs: `tracing` events to stderr, one line each,
//! human-readable (`--log-format text`, the default) or JSON lines
//! (`--log-format json`).
//!
//! Every line is stamped with *virtual* time when the event comes from
//! inside a simulation: the simulation installs its own subscriber on its
//! thread for a run (to capture breaker transitions) and forwards the
//! events this subscriber wants to it, with the run's virtual time and
//! host readable through [`breakwater_sim::with_log_context`]. Lines from
//! outside any simulation (the CLI itself) carry the wall-clock time, in
//! RFC 3339, so the two can never be confused: virtual stamps read
//! `sim+12.345s`.
//!
//! The default filter is modest: the CLI's own INFO lines, WARN and above
//! from everything else except the breaker and the MQTT client, whose
//! failed attempts are WARN and expected by the thousand in a chaos sweep.
//! `--log-level` (a level or `tracing` filter directives) or `RUST_LOG`
//! raise it.

use std::fmt;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Filter used when neither `--log-level` nor `RUST_LOG` is given.
pub const DEFAULT_FILTER: &str =
    "warn,breakwater_core=error,breakwater_mqtt=error,breakwater_scenarios=info";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `virtual_ms` (inside a
    /// simulation only), `level`, `target`, `host` (inside a simulated
    /// host only) and `fields`.
    Json,
}

/// The global logging flags of the CLI.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// `tracing` directives such as `info,turmoil=warn`. Overrides
    /// `RUST_LOG` [default: the CLI at info, others at warn, the breaker
    /// and MQTT client at error].
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

/// The filter: `--log-level`, else `RUST_LOG` (if set and not empty),
/// else [`DEFAULT_FILTER`]. A malformed filter is an error naming where it
/// came from.
pub fn filter(log_level: Option<&str>) -> Result<EnvFilter, String> {
    let env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let (source, directives) = match (log_level, env.as_deref()) {
        (Some(level), _) => ("--log-level", level),
        (None, Some(env)) if !env.trim().is_empty() => (EnvFilter::DEFAULT_ENV, env),
        _ => ("the default filter", DEFAULT_FILTER),
    };
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| format!("{source} {directives:?}: {error}"))
}

/// Installs the CLI's subscriber as the process-wide default. Once per
/// process: if a subscriber is already installed (the CLI driven twice in
/// one process, as tests do), the first one stays and this is not an
/// error.
pub fn init(args: &LogArgs) -> Result<(), String> {
    let filter = filter(args.log_level.as_deref())?;
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(LineFormat {
            format: args.log_format,
        })
        .finish();
    let _already_set = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// Virtual time of the event being logged on this thread, if it comes
/// from inside a simulation.
pub fn virtual_elapsed() -> Option<Duration> {
    breakwater_sim::with_log_context(|context| context.map(|c| c.elapsed))
}

/// `sim+<seconds>.<millis>s`: the stamp of a virtual instant, at the
/// millisecond resolution of every report.
pub fn virtual_stamp(elapsed: Duration) -> String {
    format!("sim+{}.{:03}s", elapsed.as_secs(), elapsed.subsec_millis())
}

/// Stamps lines with virtual time inside a simulation and wall-clock time
/// (RFC 3339, UTC) outside one.
#[derive(Clone, Copy, Debug, Default)]
pub struct VirtualTime;

impl FormatTime for VirtualTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match virtual_elapsed() {
            Some(elapsed) => w.write_str(&virtual_stamp(elapsed)),
            None => SystemTime.format_time(w),
        }
    }
}

/// The event formatter of both formats.
struct LineFormat {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let context = breakwater_sim::with_log_context(|c| c.cloned());
        let mut stamp = String::new();
        VirtualTime.format_time(&mut Writer::new(&mut stamp))?;
        let metadata = event.metadata();
        match self.format {
            LogFormat::Text => {
                write!(writer, "{stamp} {:>5} ", metadata.level())?;
                if let Some(host) = context.as_ref().and_then(|c| c.host.as_deref()) {
                    write!(writer, "{host} ")?;
                }
                write!(writer, "{}: ", metadata.target())?;
                ctx.format_fields(writer.by_ref(), event)?;
                writeln!(writer)
            }
            LogFormat::Json => {
                let mut line = Map::new();
                line.insert("timestamp".into(), Value::String(stamp));
                if let Some(context) = &context {
                    let ms = u64::try_from(context.elapsed.as_millis()).unwrap_or(u64::MAX);
                    line.insert("virtual_ms".into(), Value::from(ms));
                }
                line.insert("level".into(), Value::String(metadata.level().to_string()));
                line.insert("target".into(), Value::String(metadata.target().to_owned()));
                if let Some(host) = context.as_ref().and_then(|c| c.host.clone()) {
                    line.insert("host".into(), Value::String(host));
                }
                let mut fields = JsonFields(Map::new());
                event.record(&mut fields);
                line.insert("fields".into(), Value::Object(fields.0));
                writeln!(writer, "{}", Value::Object(line))
            }
        }
    }
}

/// Collects an event's fields as JSON values: numbers and booleans stay
/// typed, everything else is its `Display` (strings) or `Debug` text.
struct JsonFields(Map<String, Value>);

impl Visit for JsonFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().into(), Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_stamp_has_millisecond_resolution() {
        assert_eq!(virtual_stamp(Duration::from_millis(12_345)), "sim+12.345s");
        assert_eq!(virtual_stamp(Duration::from_micros(7_999)), "sim+0.007s");
    }

    #[test]
    fn a_malformed_log_level_is_an_error_naming_the_flag() {
        let error = filter(Some("info,breakwater=loud")).unwrap_err();
        assert!(error.starts_with("--log-level"), "{error}");
    }

    #[test]
    fn the_default_filter_parses() {
        assert!(EnvFilter::builder().parse(DEFAULT_FILTER).is_ok());
    }

    #[test]
    fn outside_a_simulation_there_is_no_virtual_time() {
        assert_eq!(virtual_elapsed(), None);
    }
}
