//! Scenario files: the catalog is valid, and bad files are errors that
//! name the file, the line and the problem (never a panic).

use breakwater_scenarios::catalog::{self, ENTRIES};
use breakwater_scenarios::file::{parse_scenario, ScenarioError, FAULT_KINDS};
use breakwater_scenarios::scenario::ScenarioKind;

const BASE: &str = r#"name = "base"
duration = "60s"

[breakers.publish]
max_retries = 2
open_timeout = "3s"

[workload]
topics = ["t/1"]

[[workload.subscribers]]
filter = "t/#"

[[faults]]
at = "10s"
kind = "partition"
duration = "10s"
"#;

fn error_of(source: &str) -> ScenarioError {
    parse_scenario("bad.toml", source).expect_err("the file is invalid")
}

fn assert_error(source: &str, line: usize, problem: &str) {
    let error = error_of(source);
    assert_eq!(error.file, "bad.toml");
    assert_eq!(error.line, line, "{error}");
    assert!(error.message.contains(problem), "{error}");
    assert!(
        error.to_string().starts_with(&format!("bad.toml:{line}:")),
        "{error}"
    );
}

#[test]
fn the_base_file_of_these_tests_is_valid() {
    parse_scenario("base.toml", BASE).unwrap();
}

#[test]
fn an_unknown_key_names_its_line() {
    let source = BASE.replace("max_retries = 2", "max_retries = 2\nmax_retry = 3");
    assert_error(&source, 6, "unknown field `max_retry`");
    let top = format!("{BASE}\ncolour = \"red\"\n");
    // A key after [[faults]] belongs to the fault table.
    assert_error(&top, 19, "unknown field `colour`");
}

#[test]
fn a_bad_duration_names_its_line_and_says_why() {
    assert_error(&BASE.replace("\"60s\"", "\"60\""), 2, "a unit is missing");
    assert_error(
        &BASE.replace("\"3s\"", "\"3 secs\""),
        6,
        "invalid duration \"3 secs\"",
    );
    assert_error(
        &BASE.replace("at = \"10s\"", "at = \"1.5s\""),
        15,
        "whole numbers",
    );
    assert_error(&BASE.replace("\"60s\"", "60"), 2, "invalid type: integer");
}

#[test]
fn overlapping_faults_on_the_same_target_are_refused() {
    let source = format!(
        "{BASE}\n[[faults]]\nat = \"15s\"\nkind = \"hold\"\nduration = \"10s\"\ntargets = [\"subscriber-0\"]\n"
    );
    assert_error(
        &source,
        20,
        "overlaps fault `partition` (10s..20s, line 15) on subscriber-0",
    );
    // Broker faults share the broker.
    let broker = format!(
        "{BASE}\n[[faults]]\nat = \"30s\"\nkind = \"black-hole\"\nduration = \"10s\"\n\n[[faults]]\nat = \"35s\"\nkind = \"crash\"\nkeep_session = true\nduration = \"5s\"\n"
    );
    assert_error(&broker, 25, "on the broker");
    // Back to back is not an overlap; a link fault during a broker fault is fine.
    let fine = format!(
        "{BASE}\n[[faults]]\nat = \"20s\"\nkind = \"latency\"\nlatency = \"1s\"\nduration = \"5s\"\n\n[[faults]]\nat = \"21s\"\nkind = \"drop-acks\"\nduration = \"5s\"\n"
    );
    parse_scenario("fine.toml", &fine).unwrap();
}

#[test]
fn a_fault_after_the_end_is_refused() {
    assert_error(
        &BASE.replace("at = \"10s\"", "at = \"2m\""),
        15,
        "starts at 2m but the run ends at 1m",
    );
    assert_error(
        &BASE.replace("duration = \"10s\"", "duration = \"55s\""),
        17,
        "ends at 1m5s but the run ends at 1m",
    );
}

#[test]
fn a_bad_breaker_value_names_the_breaker_field_and_rule() {
    let source = BASE.replace("open_timeout = \"3s\"", "open_timeout = \"0ms\"");
    assert_error(
        &source,
        6,
        "[breakers.publish]: invalid breaker config: `open_timeout` must be at least 1ms",
    );
    let kinds = BASE.replace(
        "max_retries = 2",
        "max_retries = 2\nretry_on = [\"timeout\", \"gremlins\"]",
    );
    assert_error(&kinds, 6, "unknown error kind \"gremlins\"");
    let empty = BASE.replace("max_retries = 2", "retry_on = []");
    assert_error(&empty, 5, "`retry_on` must name at least one error kind");
}

#[test]
fn impossible_fault_kinds_and_parameters_are_refused() {
    let kind = |k: &str| BASE.replace("kind = \"partition\"", k);
    assert_error(
        &kind("kind = \"earthquake\""),
        16,
        "unknown fault kind \"earthquake\"",
    );
    assert_error(
        &kind("kind = \"fail-rate\"\nrate = 1.5"),
        17,
        "`rate` must be in 0.0..=1.0",
    );
    assert_error(&kind("kind = \"fail-rate\""), 16, "needs `rate`");
    assert_error(
        &kind("kind = \"partition\"\nrate = 0.5"),
        17,
        "does not take `rate`",
    );
    assert_error(&kind("kind = \"crash\""), 16, "needs `keep_session`");
    assert_error(
        &kind("kind = \"partition-oneway\"\ndirection = \"sideways\""),
        17,
        "`direction` must be",
    );
    assert_error(
        &kind("kind = \"latency\"\nlatency_min = \"2s\"\nlatency_max = \"1s\""),
        17,
        "must not be above",
    );
    assert_error(
        &kind("kind = \"close-connections\""),
        17,
        "takes no `duration`",
    );
    assert_error(
        &kind("kind = \"refuse\"\ntargets = [\"subscriber-0\"]"),
        17,
        "takes no `targets`",
    );
    assert_error(
        &kind("kind = \"hold\"\ntargets = [\"publisher-9\"]"),
        17,
        "not a client host",
    );
    assert_error(
        &BASE.replace("duration = \"10s\"\n", ""),
        16,
        "needs a `duration`",
    );
}

#[test]
fn other_bad_values_are_errors_at_their_line() {
    assert_error(
        &BASE.replace("name = \"base\"", "name = \"Bad Name\""),
        1,
        "`name`",
    );
    assert_error(
        &BASE.replace("name = \"base\"", "name = \"swarm\""),
        1,
        "reserved",
    );
    assert_error(
        &BASE.replace("topics = [\"t/1\"]", "topics = [\"t/#\"]"),
        9,
        "not a valid topic name",
    );
    assert_error(
        &BASE.replace("topics = [\"t/1\"]", "topics = [\"t/1\"]\nqos = 2"),
        10,
        "`qos` must be 0 or 1",
    );
    assert_error(
        &format!("{BASE}\n[expect]\nmin_success_rate = 2.0\n"),
        20,
        "min_success_rate",
    );
    assert_error("name = \"x\"\nduration = [", 2, "");
}

#[test]
fn no_input_makes_the_parser_panic() {
    // Truncations and byte flips of a valid file: every one is Ok or a
    // located error, never a panic.
    let source = catalog::ENTRIES[0].source;
    for end in (0..source.len()).step_by(7) {
        if source.is_char_boundary(end) {
            let _ = parse_scenario("cut.toml", &source[..end]);
        }
    }
    for (i, _) in source.char_indices().step_by(11) {
        let mut flipped = source.to_owned();
        flipped.replace_range(i..i + 1, "\u{e9}");
        if let Err(error) = parse_scenario("flip.toml", &flipped) {
            assert!(error.line >= 1 && error.line <= flipped.lines().count() + 1);
        }
    }
}

#[test]
fn every_catalog_file_is_valid_listed_and_named_after_itself() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".toml").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = ENTRIES.iter().map(|e| e.name.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 11);
    for entry in ENTRIES {
        let resolved = catalog::load_entry(&entry).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved.scenario.name, entry.name);
        assert!(!resolved.scenario.description.is_empty());
    }
}

#[test]
fn the_catalog_uses_every_fault_kind() {
    let mut used = std::collections::BTreeSet::new();
    for entry in ENTRIES {
        let resolved = catalog::load_entry(&entry).unwrap();
        if let ScenarioKind::Fixed(spec) = &resolved.scenario.kind {
            used.extend(spec.faults.iter().map(|f| f.fault.kind_name()));
        }
    }
    for (kind, _) in FAULT_KINDS {
        assert!(used.contains(kind), "no catalog scenario uses `{kind}`");
    }
}

#[test]
fn the_format_readme_example_is_a_valid_scenario() {
    let readme = include_str!("../catalog/README.md");
    let start = readme.find("```toml\n").expect("an example") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let scenario =
        parse_scenario("README example", &readme[start..end]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.name, "my-outage");
}

#[test]
fn a_workload_above_the_memory_budget_is_refused_at_its_line() {
    // Within every per-key limit, but 64 x 1000/s x 2 min is 7.7M messages.
    let huge = BASE
        .replace("duration = \"60s\"", "duration = \"2m\"")
        .replace(
            "topics = [\"t/1\"]",
            "publishers = 63\npublish_rate_per_s = 1000\npayload_size_bytes = 65536\ntopics = [\"t/1\"]",
        );
    assert_error(&huge, 10, "above the limit of 200000");
    // Few messages but big payloads: the byte bound.
    let heavy = BASE.replace(
        "topics = [\"t/1\"]",
        "publishers = 10\npublish_rate_per_s = 100\npayload_size_bytes = 65536\ntopics = [\"t/1\"]",
    );
    assert_error(&heavy, 10, "MiB of payload");
}

#[test]
fn a_payload_smaller_than_its_header_is_refused_naming_the_minimum() {
    let source = BASE.replace(
        "topics = [\"t/1\"]",
        "payload_size_bytes = 8\ntopics = [\"t/1\"]",
    );
    assert_error(&source, 9, "between 21");
    let fine = BASE.replace(
        "topics = [\"t/1\"]",
        "payload_size_bytes = 21\ntopics = [\"t/1\"]",
    );
    parse_scenario("fine.toml", &fine).unwrap();
}

#[test]
fn two_breakers_with_the_same_name_are_refused() {
    let source = BASE.replace(
        "max_retries = 2",
        "name = \"mqtt_connect\"\nmax_retries = 2",
    );
    assert_error(
        &source,
        5,
        "name \"mqtt_connect\" is already the name of [breakers.connect]",
    );
}

#[test]
fn a_fault_ending_with_the_run_is_refused_as_unrecoverable() {
    assert_error(
        &BASE.replace("duration = \"10s\"", "duration = \"50s\""),
        17,
        "the end of the run: no time left to recover",
    );
}
