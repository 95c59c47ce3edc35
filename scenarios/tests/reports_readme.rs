//! `reports/README.md` documents every column `breakwater` writes.

use breakwater_scenarios::report::{run, sweep};

#[test]
fn every_report_column_is_documented_in_reports_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../reports/README.md"))
            .expect("reports/README.md exists");
    let headers: Vec<(&str, Vec<String>)> = vec![
        ("summary.csv (sweep)", sweep::summary_header()),
        ("wall-clock.csv", to_strings(&sweep::WALL_CLOCK_HEADER)),
        ("timeline.csv", run::timeline_header()),
        ("transitions.csv", to_strings(&run::TRANSITIONS_HEADER)),
        ("summary.csv (run)", run::breaker_summary_header()),
        ("outcomes.csv", to_strings(&run::OUTCOMES_HEADER)),
        ("faults.csv", to_strings(&run::FAULTS_HEADER)),
        ("oracles.csv", to_strings(&run::ORACLES_HEADER)),
        (
            "skipped.csv (real)",
            to_strings(&breakwater_scenarios::real::SKIPPED_HEADER),
        ),
    ];
    let mut missing = Vec::new();
    for (file, header) in &headers {
        for column in header {
            if !readme.contains(&format!("| `{column}` |")) {
                missing.push(format!("{file}: {column}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "undocumented columns:\n{}",
        missing.join("\n")
    );
}

fn to_strings(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| (*c).to_owned()).collect()
}
