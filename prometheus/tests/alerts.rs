//! `reports/prometheus/alerts.yml` is valid (`promtool check rules`), its
//! unit tests pass (`promtool test rules alerts_test.yml`), and its rules
//! only use metrics, labels and label values the crate exports.

mod common;

use common::promql::Query;
use common::{assert_promtool_ok, promtool, reports_dir, traffic, Exposition};

const RULES: &str = "alerts.yml";
const RULE_TESTS: &str = "alerts_test.yml";

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let dir = reports_dir().join("prometheus");
    let output = promtool(&["check", "rules", RULES], None, &dir);
    assert_promtool_ok("check rules", &output);
}

#[test]
fn alert_rule_unit_tests_pass_promtool_test_rules() {
    let dir = reports_dir().join("prometheus");
    let output = promtool(&["test", "rules", RULE_TESTS], None, &dir);
    assert_promtool_ok("test rules", &output);
}

/// The `expr` of every rule: a plain scalar on its line, or a `|` / `>`
/// block made of the following lines indented deeper than `expr:`.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if !rest.starts_with(['|', '>']) {
            exprs.push(rest.trim_matches(['\'', '"']).to_owned());
            continue;
        }
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
            .copied()
            .collect();
        exprs.push(block.join("\n"));
    }
    exprs
}

#[tokio::test(flavor = "current_thread")]
async fn alert_rules_use_only_exported_metrics_labels_and_values() {
    let exposition = Exposition::parse(&traffic().await.render());
    let path = reports_dir().join("prometheus").join(RULES);
    let yaml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let exprs = rule_exprs(&yaml);
    assert_eq!(exprs.len(), 3, "three rules: {exprs:?}");
    let mut problems = Vec::new();
    for expr in &exprs {
        let query = Query::parse(expr);
        assert!(!query.metrics.is_empty(), "no metric in {expr}");
        problems.extend(
            query
                .problems(&exposition)
                .into_iter()
                .map(|p| format!("{p}\n    in {expr}")),
        );
    }
    assert!(
        problems.is_empty(),
        "alert rule problems:\n{}",
        problems.join("\n")
    );

    // The rules the issue asks for, by what they read.
    let uses = |metric: &str| {
        exprs
            .iter()
            .any(|e| Query::parse(e).metrics.contains(metric))
    };
    assert!(uses("circuit_breaker_errors_total"), "an error-rate rule");
    assert!(uses("circuit_breaker_state"), "an open-too-long rule");
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("increase(circuit_breaker_transitions_total")),
        "a flapping rule"
    );
}
