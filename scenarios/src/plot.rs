//! SVG charts of report folders (plotters, SVG backend only), drawn from
//! the CSVs beside them:
//!
//! - a run folder (`<scenario>/seed-<n>/`): [`STATE_SVG`], each breaker's
//!   state over virtual time as a step line at 0 (closed), 1 (open) and
//!   2 (half_open), with the fault windows of `faults.csv` shaded; and
//!   [`OPERATIONS_SVG`], operations per sample interval by status (summed
//!   over hosts, one panel per breaker name), faults shaded likewise;
//! - a sweep folder (a `summary.csv` over runs): [`RECOVERY_SVG`], each
//!   run's recovery time, one mark per seed, one row per scenario.
//!
//! The SVGs are pure functions of the CSV bytes (no clock, no randomness,
//! fixed iteration order), so `check-determinism` compares them like the
//! CSVs. Marks that tests and tools want to find carry machine-readable
//! attributes, added by a deterministic pass over plotters' output: fault
//! shading is `<rect class="fault" data-start-ms=.. data-end-ms=..>`, a
//! state line is `<polyline class="state" data-host=.. data-breaker=..>`,
//! a recovery mark is `<circle class="recovery" data-scenario=..
//! data-seed=.. data-recovery-ms=..>`, and the root `<svg>` of the run
//! charts states its time axis mapping (`data-x-min-ms`, `data-x-max-ms`
//! at pixels `data-x-min-px`, `data-x-max-px`).

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use breakwater_core::{State, Status};
use clap::Args;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;
use thiserror::Error;

use crate::report::run::RunFile;

/// Breaker state over time, per breaker (run folder).
pub const STATE_SVG: &str = "state.svg";
/// Operations per interval by status (run folder).
pub const OPERATIONS_SVG: &str = "operations.svg";
/// Recovery time of every run (sweep folder).
pub const RECOVERY_SVG: &str = "recovery.svg";

const TIMELINE_CSV: &str = "timeline.csv";
const TRANSITIONS_CSV: &str = "transitions.csv";
const FAULTS_CSV: &str = "faults.csv";
const SUMMARY_CSV: &str = "summary.csv";

const WIDTH_PX: u32 = 1000;
const STATE_PANEL_PX: u32 = 130;
const OPERATIONS_PANEL_PX: u32 = 220;
const TITLE_PX: u32 = 40;
const RECOVERY_ROW_PX: u32 = 36;
const FONT: &str = "sans-serif";

/// Colours are chosen distinct from each other and from plotters' black
/// axes: the tagging pass finds marks by element and colour.
const FAULT_FILL: RGBColor = RGBColor(244, 162, 97);
const FAULT_INSTANT: RGBColor = RGBColor(231, 111, 81);
const STATE_LINE: RGBColor = RGBColor(31, 119, 180);
const RECOVERED: RGBColor = RGBColor(31, 119, 180);
const UNRECOVERED: RGBColor = RGBColor(214, 39, 40);
/// One colour per [`Status`], in `Status::ALL` order.
const STATUS_COLORS: [RGBColor; Status::COUNT] = [
    RGBColor(44, 160, 44),
    RGBColor(200, 30, 30),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

/// Why charts could not be drawn. Every variant names the file.
#[derive(Debug, Error)]
pub enum PlotError {
    /// A CSV the chart needs is not there.
    #[error("{path}: missing")]
    Missing {
        /// The file.
        path: String,
    },
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV is malformed: a bad row or cell.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Line number, from 1.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A CSV lacks a column the chart needs.
    #[error("{path}: no column `{column}` in the header")]
    Column {
        /// The file.
        path: String,
        /// The column.
        column: &'static str,
    },
    /// plotters failed to draw (a bug, not bad input).
    #[error("{path}: cannot draw: {message}")]
    Draw {
        /// The chart.
        path: String,
        /// plotters' error.
        message: String,
    },
    /// A chart could not be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The chart.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The folder holds no report.
    #[error(
        "{dir}: not a report folder: no {TIMELINE_CSV} (a run folder) and no {SUMMARY_CSV} (a sweep folder)"
    )]
    NotAReport {
        /// The folder.
        dir: String,
    },
}

/// Arguments of `breakwater plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A run folder (`<out>/<scenario>/seed-<n>/`: writes state.svg and
    /// operations.svg) or a sweep folder (with a sweep summary.csv:
    /// writes recovery.svg, and the charts of every run folder in it).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `breakwater plot DIR`: writes the charts and prints their paths.
pub fn command(args: &PlotArgs, out: &mut dyn Write) -> Result<(), PlotError> {
    let written = plot_dir(&args.dir)?;
    for path in written {
        // A closed stdout loses the listing, not the charts.
        let _ = writeln!(out, "{}", path.display());
    }
    Ok(())
}

/// Draws the charts of a run or sweep folder next to its CSVs and returns
/// the paths written.
pub fn plot_dir(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let is_run = [TIMELINE_CSV, TRANSITIONS_CSV, FAULTS_CSV]
        .iter()
        .any(|name| dir.join(name).is_file());
    if is_run {
        let files = run_charts(&DirSource(dir))?;
        return write_charts(dir, &files);
    }
    if !dir.join(SUMMARY_CSV).is_file() {
        return Err(PlotError::NotAReport {
            dir: dir.display().to_string(),
        });
    }
    let sweep = read_sweep(&DirSource(dir))?;
    let mut written = write_charts(
        dir,
        &[RunFile {
            name: RECOVERY_SVG,
            bytes: recovery_svg(&sweep, &dir.join(RECOVERY_SVG).display().to_string())?,
        }],
    )?;
    for row in &sweep {
        let run_dir = dir.join(crate::runner::run_dir(&row.scenario, row.seed));
        if run_dir.join(TIMELINE_CSV).is_file() {
            let files = run_charts(&DirSource(&run_dir))?;
            written.extend(write_charts(&run_dir, &files)?);
        }
    }
    Ok(written)
}

/// Appends the charts of a run to its rendered files. A run whose
/// simulation failed has no timeline, and gets no charts.
pub fn add_run_charts(files: &mut Vec<RunFile>) -> Result<(), PlotError> {
    if !files.iter().any(|f| f.name == TIMELINE_CSV) {
        return Ok(());
    }
    let charts = run_charts(&MemorySource(files))?;
    files.extend(charts);
    Ok(())
}

/// Writes `recovery.svg` of the sweep folder `dir` from its `summary.csv`.
pub fn write_recovery_chart(dir: &Path) -> Result<PathBuf, PlotError> {
    let sweep = read_sweep(&DirSource(dir))?;
    let path = dir.join(RECOVERY_SVG);
    let bytes = recovery_svg(&sweep, &path.display().to_string())?;
    std::fs::write(&path, bytes).map_err(|source| PlotError::Write {
        path: path.display().to_string(),
        source,
    })?;
    Ok(path)
}

fn write_charts(dir: &Path, files: &[RunFile]) -> Result<Vec<PathBuf>, PlotError> {
    files
        .iter()
        .map(|file| {
            let path = dir.join(file.name);
            std::fs::write(&path, &file.bytes).map_err(|source| PlotError::Write {
                path: path.display().to_string(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

// ---------------------------------------------------------------- input

/// Where a chart's CSVs come from: a folder, or a run rendered in memory.
trait Source {
    /// How errors name the file.
    fn label(&self, name: &str) -> String;
    fn read(&self, name: &str) -> Result<Vec<u8>, PlotError>;
}

struct DirSource<'a>(&'a Path);

impl Source for DirSource<'_> {
    fn label(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, PlotError> {
        let path = self.0.join(name);
        std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                PlotError::Missing {
                    path: path.display().to_string(),
                }
            } else {
                PlotError::Read {
                    path: path.display().to_string(),
                    source,
                }
            }
        })
    }
}

struct MemorySource<'a>(&'a [RunFile]);

impl Source for MemorySource<'_> {
    fn label(&self, name: &str) -> String {
        name.to_owned()
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, PlotError> {
        self.0
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.bytes.clone())
            .ok_or_else(|| PlotError::Missing {
                path: name.to_owned(),
            })
    }
}

/// A CSV read whole, with its required columns located.
struct Csv {
    path: String,
    columns: Vec<String>,
    records: Vec<csv::StringRecord>,
}

impl Csv {
    fn read(source: &dyn Source, name: &str, required: &[&'static str]) -> Result<Csv, PlotError> {
        let path = source.label(name);
        let bytes = source.read(name)?;
        let parse_error = |error: csv::Error| PlotError::Parse {
            path: path.clone(),
            line: error.position().map_or(1, csv::Position::line),
            message: match error.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("{len} fields where the header has {expected_len}"),
                _ => error.to_string(),
            },
        };
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let columns: Vec<String> = reader
            .headers()
            .map_err(parse_error)?
            .iter()
            .map(str::to_owned)
            .collect();
        for column in required {
            if !columns.iter().any(|c| c == column) {
                return Err(PlotError::Column {
                    path: path.clone(),
                    column,
                });
            }
        }
        let records = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(parse_error)?;
        Ok(Csv {
            path,
            columns,
            records,
        })
    }

    fn index(&self, column: &str) -> usize {
        // Required columns were checked when the file was read.
        self.columns
            .iter()
            .position(|c| c == column)
            .unwrap_or(usize::MAX)
    }

    fn line(record: &csv::StringRecord) -> u64 {
        record.position().map_or(0, csv::Position::line)
    }

    fn text<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        record.get(self.index(column)).unwrap_or("")
    }

    fn error(&self, record: &csv::StringRecord, message: String) -> PlotError {
        PlotError::Parse {
            path: self.path.clone(),
            line: Self::line(record),
            message,
        }
    }

    fn u64(&self, record: &csv::StringRecord, column: &str) -> Result<u64, PlotError> {
        let text = self.text(record, column);
        text.parse().map_err(|_| {
            self.error(
                record,
                format!("column `{column}`: {text:?} is not a whole number"),
            )
        })
    }

    fn optional_u64(
        &self,
        record: &csv::StringRecord,
        column: &str,
    ) -> Result<Option<u64>, PlotError> {
        if self.text(record, column).is_empty() {
            return Ok(None);
        }
        self.u64(record, column).map(Some)
    }

    fn state(&self, record: &csv::StringRecord, column: &str) -> Result<State, PlotError> {
        let text = self.text(record, column);
        State::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| {
                self.error(
                    record,
                    format!("column `{column}`: {text:?} is not closed, open or half_open"),
                )
            })
    }
}

struct Sample {
    time_ms: u64,
    host: String,
    breaker: String,
    operations: [u64; Status::COUNT],
}

struct TransitionRow {
    time_ms: u64,
    host: String,
    breaker: String,
    from: State,
    to: State,
}

struct Fault {
    at_ms: u64,
    end_ms: Option<u64>,
    kind: String,
}

struct SweepRow {
    scenario: String,
    seed: u64,
    recovery_ms: Option<u64>,
}

fn status_column(status: Status) -> String {
    format!("ops_{}", status.as_str())
}

fn read_timeline(source: &dyn Source) -> Result<Vec<Sample>, PlotError> {
    let csv = Csv::read(
        source,
        TIMELINE_CSV,
        &[
            "time_ms",
            "host",
            "breaker",
            "state",
            "ops_success",
            "ops_failure",
            "ops_rejected",
            "ops_ignored",
            "ops_cancelled",
        ],
    )?;
    csv.records
        .iter()
        .map(|record| {
            csv.state(record, "state")?;
            let mut operations = [0; Status::COUNT];
            for (count, status) in operations.iter_mut().zip(Status::ALL) {
                *count = csv.u64(record, &status_column(status))?;
            }
            Ok(Sample {
                time_ms: csv.u64(record, "time_ms")?,
                host: csv.text(record, "host").to_owned(),
                breaker: csv.text(record, "breaker").to_owned(),
                operations,
            })
        })
        .collect()
}

fn read_transitions(source: &dyn Source) -> Result<Vec<TransitionRow>, PlotError> {
    let csv = Csv::read(
        source,
        TRANSITIONS_CSV,
        &["time_ms", "host", "breaker", "from", "to"],
    )?;
    csv.records
        .iter()
        .map(|record| {
            Ok(TransitionRow {
                time_ms: csv.u64(record, "time_ms")?,
                host: csv.text(record, "host").to_owned(),
                breaker: csv.text(record, "breaker").to_owned(),
                from: csv.state(record, "from")?,
                to: csv.state(record, "to")?,
            })
        })
        .collect()
}

fn read_faults(source: &dyn Source) -> Result<Vec<Fault>, PlotError> {
    let csv = Csv::read(source, FAULTS_CSV, &["at_ms", "end_ms", "kind"])?;
    csv.records
        .iter()
        .map(|record| {
            let at_ms = csv.u64(record, "at_ms")?;
            let end_ms = csv.optional_u64(record, "end_ms")?;
            if end_ms.is_some_and(|end| end < at_ms) {
                return Err(csv.error(record, "`end_ms` is before `at_ms`".to_owned()));
            }
            Ok(Fault {
                at_ms,
                end_ms,
                kind: csv.text(record, "kind").to_owned(),
            })
        })
        .collect()
}

fn read_sweep(source: &dyn Source) -> Result<Vec<SweepRow>, PlotError> {
    let csv = Csv::read(source, SUMMARY_CSV, &["scenario", "seed", "recovery_ms"])?;
    csv.records
        .iter()
        .map(|record| {
            Ok(SweepRow {
                scenario: csv.text(record, "scenario").to_owned(),
                seed: csv.u64(record, "seed")?,
                recovery_ms: csv.optional_u64(record, "recovery_ms")?,
            })
        })
        .collect()
}

// --------------------------------------------------------------- charts

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws into an SVG string; plotters' errors become [`PlotError::Draw`].
fn draw_svg<T>(
    label: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> DrawResult<T>,
) -> Result<(String, T), PlotError> {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root.fill(&WHITE).and_then(|()| draw(&root));
        drawn.and_then(|value| root.present().map(|()| value))
    };
    let value = drawn.map_err(|error| PlotError::Draw {
        path: label.to_owned(),
        message: error.to_string(),
    })?;
    Ok((svg, value))
}

/// Both charts of a run folder, rendered.
fn run_charts(source: &dyn Source) -> Result<Vec<RunFile>, PlotError> {
    let timeline = read_timeline(source)?;
    let transitions = read_transitions(source)?;
    let faults = read_faults(source)?;
    let axis = TimeAxis::of(&timeline, &transitions, &faults);
    Ok(vec![
        RunFile {
            name: STATE_SVG,
            bytes: state_svg(
                &source.label(STATE_SVG),
                &axis,
                &timeline,
                &transitions,
                &faults,
            )?
            .into_bytes(),
        },
        RunFile {
            name: OPERATIONS_SVG,
            bytes: operations_svg(&source.label(OPERATIONS_SVG), &axis, &timeline, &faults)?
                .into_bytes(),
        },
    ])
}

/// The shared time axis of a run's charts: 0 to the last instant any CSV
/// mentions.
struct TimeAxis {
    end_ms: u64,
}

impl TimeAxis {
    fn of(timeline: &[Sample], transitions: &[TransitionRow], faults: &[Fault]) -> TimeAxis {
        let last = timeline
            .iter()
            .map(|s| s.time_ms)
            .chain(transitions.iter().map(|t| t.time_ms))
            .chain(faults.iter().map(|f| f.end_ms.unwrap_or(f.at_ms)))
            .max()
            .unwrap_or(0);
        TimeAxis {
            end_ms: last.max(1),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..self.end_ms as f64
    }
}

fn seconds_label(ms: f64) -> String {
    let seconds = ms / 1000.0;
    if (seconds - seconds.round()).abs() < 1e-9 {
        format!("{seconds:.0}")
    } else {
        format!("{seconds:.1}")
    }
}

/// Counts are whole: no label between them.
fn whole_label(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        String::new()
    }
}

fn state_value(state: State) -> f64 {
    f64::from(state.gauge())
}

fn state_label(value: f64) -> String {
    State::ALL
        .into_iter()
        .find(|s| (state_value(*s) - value).abs() < 1e-9)
        .map_or_else(String::new, |s| s.as_str().to_owned())
}

/// Every (host, breaker) in the order the timeline first samples it, then
/// any only the transitions mention.
fn breakers(timeline: &[Sample], transitions: &[TransitionRow]) -> Vec<(String, String)> {
    let mut order: Vec<(String, String)> = Vec::new();
    let pairs = timeline
        .iter()
        .map(|s| (&s.host, &s.breaker))
        .chain(transitions.iter().map(|t| (&t.host, &t.breaker)));
    for (host, breaker) in pairs {
        if !order.iter().any(|(h, b)| h == host && b == breaker) {
            order.push((host.clone(), breaker.clone()));
        }
    }
    order
}

/// The step line of one breaker: Closed from 0, a vertical step at each
/// transition, held to the end of the axis.
fn state_points(
    axis: &TimeAxis,
    transitions: &[TransitionRow],
    host: &str,
    breaker: &str,
) -> Vec<(f64, f64)> {
    let mut points = vec![(0.0, state_value(State::Closed))];
    let mut last = State::Closed;
    for t in transitions
        .iter()
        .filter(|t| t.host == host && t.breaker == breaker)
    {
        let x = t.time_ms as f64;
        points.push((x, state_value(t.from)));
        points.push((x, state_value(t.to)));
        last = t.to;
    }
    points.push((axis.end_ms as f64, state_value(last)));
    points
}

/// The tags of a timeline chart: the root's axis mapping, then the fault
/// marks that each of `panels` panels draws, in drawing order.
fn timeline_tags(axis: &TimeAxis, pixels: &PixelAxis, faults: &[Fault], panels: usize) -> Tags {
    let (windows, instants) = fault_tags(faults);
    let repeat = |tags: &[String]| -> Vec<String> {
        (0..panels).flat_map(|_| tags.iter().cloned()).collect()
    };
    let mut tags = Tags::new(root_axis_attributes(axis, pixels));
    tags.expect("rect", fill_attribute(FAULT_FILL), repeat(&windows));
    tags.expect(
        "polyline",
        stroke_attribute(FAULT_INSTANT),
        repeat(&instants),
    );
    tags
}

/// Tags of the fault marks one panel draws, in drawing order: windows as
/// rects, one-shot faults as vertical lines.
fn fault_tags(faults: &[Fault]) -> (Vec<String>, Vec<String>) {
    let tag = |class: &str, f: &Fault, end_ms: u64| {
        format!(
            "class=\"{class}\" data-start-ms=\"{}\" data-end-ms=\"{end_ms}\" data-kind=\"{}\"",
            f.at_ms,
            escape(&f.kind)
        )
    };
    let windows = faults
        .iter()
        .filter_map(|f| f.end_ms.map(|end| tag("fault", f, end)))
        .collect();
    let instants = faults
        .iter()
        .filter(|f| f.end_ms.is_none())
        .map(|f| tag("fault-instant", f, f.at_ms))
        .collect();
    (windows, instants)
}

/// Shades the fault windows and marks one-shot faults on a chart whose y
/// range is `y`.
fn draw_faults<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    faults: &[Fault],
    y: std::ops::Range<f64>,
) -> DrawResult<()> {
    let (low, high) = (y.start, y.end);
    chart.draw_series(faults.iter().filter_map(|f| {
        f.end_ms.map(|end| {
            Rectangle::new(
                [(f.at_ms as f64, low), (end as f64, high)],
                FAULT_FILL.mix(0.35).filled(),
            )
        })
    }))?;
    chart.draw_series(faults.iter().filter(|f| f.end_ms.is_none()).map(|f| {
        let x = f.at_ms as f64;
        PathElement::new(vec![(x, low), (x, high)], FAULT_INSTANT.stroke_width(2))
    }))?;
    Ok(())
}

/// Pixel columns of the time axis: where 0 and `end_ms` land.
struct PixelAxis {
    min_px: i32,
    max_px: i32,
}

impl PixelAxis {
    /// Where `chart` put the ends of `axis`.
    fn of<'a>(
        chart: &ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        axis: &TimeAxis,
    ) -> PixelAxis {
        PixelAxis {
            min_px: chart.backend_coord(&(0.0, 0.0)).0,
            max_px: chart.backend_coord(&(axis.end_ms as f64, 0.0)).0,
        }
    }
}

fn root_axis_attributes(axis: &TimeAxis, pixels: &PixelAxis) -> String {
    format!(
        "data-x-min-ms=\"0\" data-x-max-ms=\"{}\" data-x-min-px=\"{}\" data-x-max-px=\"{}\"",
        axis.end_ms, pixels.min_px, pixels.max_px
    )
}

fn title(area: &Area<'_>, text: &str) -> DrawResult<()> {
    area.draw(&Text::new(
        text.to_owned(),
        (12, 10),
        (FONT, 16).into_font().color(&BLACK),
    ))
}

fn state_svg(
    label: &str,
    axis: &TimeAxis,
    timeline: &[Sample],
    transitions: &[TransitionRow],
    faults: &[Fault],
) -> Result<String, PlotError> {
    let panels = breakers(timeline, transitions);
    let count = panels.len().max(1);
    let height = TITLE_PX + STATE_PANEL_PX * count as u32;
    let y = -0.25..2.25;
    let (svg, pixels) = draw_svg(label, (WIDTH_PX, height), |root| {
        title(
            root,
            "Breaker state over virtual time (0 closed, 1 open, 2 half_open); faults shaded",
        )?;
        let (_, body) = root.split_vertically(TITLE_PX);
        let mut pixels = PixelAxis {
            min_px: 0,
            max_px: 0,
        };
        for (index, (area, (host, breaker))) in body
            .split_evenly((count, 1))
            .iter()
            .zip(&panels)
            .enumerate()
        {
            let last = index + 1 == panels.len();
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{host} {breaker}"), (FONT, 13))
                .margin_left(8)
                .margin_right(24)
                .x_label_area_size(if last { 40 } else { 22 })
                .y_label_area_size(90)
                .build_cartesian_2d(axis.range(), y.clone())?;
            let mut mesh = chart.configure_mesh();
            mesh.disable_x_mesh()
                .max_light_lines(0)
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 12))
                .y_labels(3)
                .y_label_formatter(&|v| state_label(*v))
                .x_label_formatter(&|v| seconds_label(*v))
                .y_desc("state");
            if last {
                mesh.x_desc("virtual time (s)");
            }
            mesh.draw()?;
            draw_faults(&mut chart, faults, y.clone())?;
            chart.draw_series(LineSeries::new(
                state_points(axis, transitions, host, breaker),
                STATE_LINE.stroke_width(2),
            ))?;
            pixels = PixelAxis::of(&chart, axis);
        }
        Ok(pixels)
    })?;
    let mut tags = timeline_tags(axis, &pixels, faults, panels.len());
    tags.expect(
        "polyline",
        stroke_attribute(STATE_LINE),
        panels
            .iter()
            .map(|(host, breaker)| {
                format!(
                    "class=\"state\" data-host=\"{}\" data-breaker=\"{}\"",
                    escape(host),
                    escape(breaker)
                )
            })
            .collect(),
    );
    tags.apply(label, &svg)
}

/// Operations per sample instant of the breakers named `breaker`, summed
/// over hosts, for one status.
fn operation_points(timeline: &[Sample], breaker: &str, status: usize) -> Vec<(f64, f64)> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    for sample in timeline.iter().filter(|s| s.breaker == breaker) {
        let x = sample.time_ms as f64;
        let count = sample.operations[status] as f64;
        match points.last_mut() {
            Some(last) if last.0 == x => last.1 += count,
            _ => points.push((x, count)),
        }
    }
    points
}

fn operations_svg(
    label: &str,
    axis: &TimeAxis,
    timeline: &[Sample],
    faults: &[Fault],
) -> Result<String, PlotError> {
    let mut names: Vec<&str> = Vec::new();
    for sample in timeline {
        if !names.contains(&sample.breaker.as_str()) {
            names.push(&sample.breaker);
        }
    }
    let count = names.len().max(1);
    let height = TITLE_PX + OPERATIONS_PANEL_PX * count as u32;
    let (svg, pixels) = draw_svg(label, (WIDTH_PX, height), |root| {
        title(root, "Operations per sample interval, by status")?;
        draw_status_legend(root)?;
        let (_, body) = root.split_vertically(TITLE_PX);
        let mut pixels = PixelAxis {
            min_px: 0,
            max_px: 0,
        };
        for (index, (area, breaker)) in body.split_evenly((count, 1)).iter().zip(&names).enumerate()
        {
            let series: Vec<Vec<(f64, f64)>> = (0..Status::COUNT)
                .map(|status| operation_points(timeline, breaker, status))
                .collect();
            let top = series.iter().flatten().map(|p| p.1).fold(1.0_f64, f64::max) * 1.1;
            let last = index + 1 == names.len();
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("{breaker} (summed over hosts; faults shaded)"),
                    (FONT, 13),
                )
                .margin_left(8)
                .margin_right(24)
                .x_label_area_size(if last { 40 } else { 22 })
                .y_label_area_size(60)
                .build_cartesian_2d(axis.range(), 0.0..top)?;
            let mut mesh = chart.configure_mesh();
            mesh.disable_x_mesh()
                .max_light_lines(0)
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 12))
                .y_labels(5)
                .y_label_formatter(&|v| whole_label(*v))
                .x_label_formatter(&|v| seconds_label(*v))
                .y_desc("operations");
            if last {
                mesh.x_desc("virtual time (s)");
            }
            mesh.draw()?;
            draw_faults(&mut chart, faults, 0.0..top)?;
            for (points, color) in series.into_iter().zip(STATUS_COLORS) {
                chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
            }
            pixels = PixelAxis::of(&chart, axis);
        }
        Ok(pixels)
    })?;
    let mut tags = timeline_tags(axis, &pixels, faults, names.len());
    for (status, color) in Status::ALL.into_iter().zip(STATUS_COLORS) {
        tags.expect(
            "polyline",
            stroke_attribute(color),
            names
                .iter()
                .map(|breaker| {
                    format!(
                        "class=\"operations\" data-breaker=\"{}\" data-status=\"{}\"",
                        escape(breaker),
                        status.as_str()
                    )
                })
                .collect(),
        );
    }
    tags.apply(label, &svg)
}

/// A colour key of the statuses at the top right (rects, so the status
/// lines stay the only polylines of their colours).
fn draw_status_legend(root: &Area<'_>) -> DrawResult<()> {
    let mut x = WIDTH_PX as i32 - 10 - 95 * Status::COUNT as i32;
    for (status, color) in Status::ALL.into_iter().zip(STATUS_COLORS) {
        root.draw(&Rectangle::new([(x, 14), (x + 14, 26)], color.filled()))?;
        root.draw(&Text::new(
            status.as_str().to_owned(),
            (x + 18, 13),
            (FONT, 13).into_font().color(&BLACK),
        ))?;
        x += 95;
    }
    Ok(())
}

fn recovery_svg(rows: &[SweepRow], label: &str) -> Result<Vec<u8>, PlotError> {
    let mut scenarios: Vec<&str> = Vec::new();
    for row in rows {
        if !scenarios.contains(&row.scenario.as_str()) {
            scenarios.push(&row.scenario);
        }
    }
    let count = scenarios.len().max(1);
    let height = TITLE_PX + 70 + RECOVERY_ROW_PX * count as u32;
    let x_end = rows
        .iter()
        .filter_map(|r| r.recovery_ms)
        .max()
        .unwrap_or(0)
        .max(1000) as f64
        * 1.1;
    // Scenario i is row `count - 1 - i`, so the first is on top; its seeds
    // spread over the row so equal times stay distinct marks.
    let row_of = |scenario: &str| {
        let index = scenarios.iter().position(|s| *s == scenario).unwrap_or(0);
        (count - 1 - index) as f64
    };
    let spread = |row: &SweepRow| {
        let seeds: Vec<u64> = rows
            .iter()
            .filter(|r| r.scenario == row.scenario)
            .map(|r| r.seed)
            .collect();
        let position = seeds.iter().position(|s| *s == row.seed).unwrap_or(0);
        if seeds.len() < 2 {
            0.0
        } else {
            -0.3 + 0.6 * position as f64 / (seeds.len() - 1) as f64
        }
    };
    let (svg, ()) = draw_svg(label, (WIDTH_PX, height), |root| {
        title(
            root,
            "Recovery time after the last fault, one mark per seed (hollow red: not recovered)",
        )?;
        let (_, body) = root.split_vertically(TITLE_PX);
        let mut chart = ChartBuilder::on(&body)
            .margin_left(8)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(200)
            .build_cartesian_2d(0.0..x_end, -0.5..(count as f64 - 0.5))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(1)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .y_labels(count)
            .y_label_formatter(&|v| {
                let row = v.round();
                if (v - row).abs() > 1e-6 || row < 0.0 || row >= count as f64 {
                    return String::new();
                }
                scenarios[count - 1 - row as usize].to_owned()
            })
            .x_label_formatter(&|v| seconds_label(*v))
            .x_desc("recovery time (s of virtual time)")
            .draw()?;
        chart.draw_series(rows.iter().filter_map(|r| {
            r.recovery_ms.map(|ms| {
                Circle::new(
                    (ms as f64, row_of(&r.scenario) + spread(r)),
                    5,
                    RECOVERED.mix(0.8).filled(),
                )
            })
        }))?;
        chart.draw_series(rows.iter().filter(|r| r.recovery_ms.is_none()).map(|r| {
            Circle::new(
                (x_end, row_of(&r.scenario) + spread(r)),
                5,
                UNRECOVERED.stroke_width(2),
            )
        }))?;
        Ok(())
    })?;
    let tag = |class: &str, r: &SweepRow| {
        format!(
            "class=\"{class}\" data-scenario=\"{}\" data-seed=\"{}\" data-recovery-ms=\"{}\"",
            escape(&r.scenario),
            r.seed,
            r.recovery_ms.map_or_else(String::new, |ms| ms.to_string())
        )
    };
    let mut tags = Tags::new(String::new());
    tags.expect(
        "circle",
        fill_attribute(RECOVERED),
        rows.iter()
            .filter(|r| r.recovery_ms.is_some())
            .map(|r| tag("recovery", r))
            .collect(),
    );
    tags.expect(
        "circle",
        stroke_attribute(UNRECOVERED),
        rows.iter()
            .filter(|r| r.recovery_ms.is_none())
            .map(|r| tag("recovery unrecovered", r))
            .collect(),
    );
    Ok(tags.apply(label, &svg)?.into_bytes())
}

// -------------------------------------------------------------- tagging

fn hex(color: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", color.0, color.1, color.2)
}

fn fill_attribute(color: RGBColor) -> String {
    format!("fill=\"{}\"", hex(color))
}

fn stroke_attribute(color: RGBColor) -> String {
    format!("stroke=\"{}\"", hex(color))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Adds attributes to the elements plotters wrote: each expected mark is
/// the next element of its kind (`rect`, `polyline`, `circle`) carrying
/// its colour attribute, in drawing order. plotters writes one element per
/// line, and the colours are unique to their marks, so a count mismatch
/// is a bug, reported rather than written as a wrong chart.
struct Tags {
    root: String,
    queues: Vec<(&'static str, String, VecDeque<String>)>,
}

impl Tags {
    fn new(root: String) -> Tags {
        Tags {
            root,
            queues: Vec::new(),
        }
    }

    fn expect(&mut self, element: &'static str, marker: String, tags: Vec<String>) {
        self.queues.push((element, marker, tags.into()));
    }

    fn apply(mut self, label: &str, svg: &str) -> Result<String, PlotError> {
        let mismatch = |what: String| PlotError::Draw {
            path: label.to_owned(),
            message: what,
        };
        let mut out = String::with_capacity(svg.len() + svg.len() / 4);
        for line in svg.split_inclusive('\n') {
            if line.starts_with("<svg ") && !self.root.is_empty() {
                out.push_str("<svg ");
                out.push_str(&self.root);
                out.push(' ');
                out.push_str(&line["<svg ".len()..]);
                continue;
            }
            let queue = self.queues.iter_mut().find(|(element, marker, _)| {
                line.starts_with(&format!("<{element} ")) && line.contains(marker.as_str())
            });
            let Some((element, marker, tags)) = queue else {
                out.push_str(line);
                continue;
            };
            let tag = tags
                .pop_front()
                .ok_or_else(|| mismatch(format!("an unexpected <{element}> with {marker}")))?;
            let name_end = 1 + element.len();
            out.push_str(&line[..name_end]);
            out.push(' ');
            out.push_str(&tag);
            out.push_str(&line[name_end..]);
        }
        if let Some((element, marker, tags)) = self.queues.iter().find(|q| !q.2.is_empty()) {
            return Err(mismatch(format!(
                "{} <{element}> with {marker} were never drawn",
                tags.len()
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(files: &[(&'static str, &str)]) -> Vec<RunFile> {
        files
            .iter()
            .map(|(name, text)| RunFile {
                name,
                bytes: text.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn a_bad_number_names_the_file_line_and_column() {
        let files = memory(&[(
            FAULTS_CSV,
            "at_ms,end_ms,kind\n100,200,partition\nx,,crash\n",
        )]);
        let error = read_faults(&MemorySource(&files)).err().unwrap();
        assert_eq!(
            error.to_string(),
            "faults.csv:3: column `at_ms`: \"x\" is not a whole number"
        );
    }

    #[test]
    fn a_row_of_the_wrong_length_names_its_line() {
        let files = memory(&[(FAULTS_CSV, "at_ms,end_ms,kind\n100,200\n")]);
        let error = read_faults(&MemorySource(&files)).err().unwrap();
        assert_eq!(
            error.to_string(),
            "faults.csv:2: 2 fields where the header has 3"
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let files = memory(&[(FAULTS_CSV, "at_ms,kind\n")]);
        let error = read_faults(&MemorySource(&files)).err().unwrap();
        assert_eq!(
            error.to_string(),
            "faults.csv: no column `end_ms` in the header"
        );
    }

    #[test]
    fn the_state_line_steps_at_each_transition() {
        let transitions = vec![
            TransitionRow {
                time_ms: 100,
                host: "h".into(),
                breaker: "b".into(),
                from: State::Closed,
                to: State::Open,
            },
            TransitionRow {
                time_ms: 300,
                host: "h".into(),
                breaker: "b".into(),
                from: State::Open,
                to: State::HalfOpen,
            },
        ];
        let points = state_points(&TimeAxis { end_ms: 500 }, &transitions, "h", "b");
        assert_eq!(
            points,
            vec![
                (0.0, 0.0),
                (100.0, 0.0),
                (100.0, 1.0),
                (300.0, 1.0),
                (300.0, 2.0),
                (500.0, 2.0)
            ]
        );
    }

    #[test]
    fn an_unrecovered_run_is_a_mark_of_its_own_class() {
        let rows = vec![
            SweepRow {
                scenario: "a".into(),
                seed: 1,
                recovery_ms: Some(1200),
            },
            SweepRow {
                scenario: "a".into(),
                seed: 2,
                recovery_ms: None,
            },
        ];
        let svg = String::from_utf8(recovery_svg(&rows, RECOVERY_SVG).unwrap()).unwrap();
        assert_eq!(svg.matches("<circle class=\"recovery\"").count(), 1);
        assert_eq!(
            svg.matches("<circle class=\"recovery unrecovered\" data-scenario=\"a\" data-seed=\"2\" data-recovery-ms=\"\"").count(),
            1
        );
    }

    #[test]
    fn charts_of_the_same_csvs_are_the_same_bytes() {
        let files = memory(&[
            (
                TIMELINE_CSV,
                "time_ms,host,breaker,state,ops_success,ops_failure,ops_rejected,ops_ignored,ops_cancelled\n\
                 0,h,b,closed,1,0,0,0,0\n1000,h,b,open,0,2,3,0,0\n",
            ),
            (TRANSITIONS_CSV, "time_ms,host,breaker,from,to\n500,h,b,closed,open\n"),
            (FAULTS_CSV, "at_ms,end_ms,kind\n200,800,partition\n900,,crash\n"),
        ]);
        let first = run_charts(&MemorySource(&files)).unwrap();
        let second = run_charts(&MemorySource(&files)).unwrap();
        assert_eq!(first, second);
        let state = String::from_utf8(first[0].bytes.clone()).unwrap();
        assert_eq!(state.matches("class=\"fault\"").count(), 1);
        assert_eq!(state.matches("class=\"fault-instant\"").count(), 1);
        assert_eq!(state.matches("class=\"state\"").count(), 1);
        assert!(state.contains("<text"), "axis labels are SVG text");
    }
}
