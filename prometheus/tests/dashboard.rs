//! `reports/grafana/breakwater.json` queries only what the crate exports and
//! has the four panels of the issue, each filtered by `$breaker`.

mod common;

use std::collections::BTreeSet;

use common::promql::Query;
use common::{reports_dir, traffic, Exposition};
use serde_json::Value;

fn dashboard() -> Value {
    let path = reports_dir().join("grafana/breakwater.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every panel, including those nested in rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            if panel["type"] == "row" {
                walk(&panel["panels"], out);
            } else {
                out.push(panel);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(expr, legendFormat)` of each query of `panel`.
fn targets(panel: &Value) -> Vec<(String, String)> {
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let expr = t["expr"].as_str().expect("every target has a PromQL expr");
            let legend = t["legendFormat"].as_str().unwrap_or_default();
            (expr.to_owned(), legend.to_owned())
        })
        .collect()
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("<untitled>")
}

/// Labels named in a legend format, `{{breaker}} {{error_type}}`.
fn legend_labels(legend: &str) -> BTreeSet<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}"))
        .map(|(label, _)| label.trim().to_owned())
        .collect()
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> &'a Value {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no templating variable {name}"))
}

#[tokio::test(flavor = "current_thread")]
async fn every_dashboard_query_uses_only_exported_metrics_labels_and_values() {
    let exposition = Exposition::parse(&traffic().await.render());
    let dashboard = dashboard();
    let mut problems = Vec::new();
    let mut queries = 0;
    for panel in panels(&dashboard) {
        for (expr, legend) in targets(panel) {
            queries += 1;
            let query = Query::parse(&expr);
            if query.metrics.is_empty() {
                problems.push(format!(
                    "{}: no circuit_breaker_ metric in {expr}",
                    title(panel)
                ));
            }
            for problem in query.problems(&exposition) {
                problems.push(format!("{}: {problem}\n    in {expr}", title(panel)));
            }
            // A legend can only show labels the result keeps.
            let kept: BTreeSet<String> = if query.grouping.is_empty() {
                query
                    .metrics
                    .iter()
                    .flat_map(|m| exposition.label_names(m))
                    .collect()
            } else {
                query.grouping.clone()
            };
            for label in legend_labels(&legend) {
                if !kept.contains(&label) {
                    problems.push(format!(
                        "{}: legend {{{{{label}}}}} is not a label of the result of {expr}",
                        title(panel)
                    ));
                }
            }
        }
    }
    assert!(queries >= 4, "the dashboard has queries");
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );

    // The breaker variable lists values of an exported metric and label.
    let definition = variable(&dashboard, "breaker")["definition"]
        .as_str()
        .expect("breaker variable has a definition");
    assert_eq!(definition, "label_values(circuit_breaker_state, breaker)");
    assert!(exposition
        .label_names("circuit_breaker_state")
        .contains("breaker"));
}

#[test]
fn dashboard_has_the_four_panels_each_filtered_by_breaker() {
    let dashboard = dashboard();
    let panels = panels(&dashboard);
    assert_eq!(panels.len(), 4, "four panels");

    let find = |what: &str, matches: &dyn Fn(&str, &Query) -> bool| -> &Value {
        let found: Vec<&Value> = panels
            .iter()
            .copied()
            .filter(|p| targets(p).iter().any(|(e, _)| matches(e, &Query::parse(e))))
            .collect();
        assert_eq!(found.len(), 1, "exactly one {what} panel");
        found[0]
    };
    let only = |q: &Query, metric: &str| q.metrics.len() == 1 && q.metrics.contains(metric);
    let grouped_by = |q: &Query, labels: &[&str]| labels.iter().all(|l| q.grouping.contains(*l));

    let state = find("breaker state", &|_, q| {
        only(q, "circuit_breaker_state") && grouped_by(q, &["breaker"])
    });
    assert!(
        matches!(
            state["type"].as_str(),
            Some("state-timeline" | "timeseries")
        ),
        "state over time: {}",
        state["type"]
    );
    find("error rate", &|e, q| {
        e.contains("rate(circuit_breaker_errors_total")
            && only(q, "circuit_breaker_errors_total")
            && grouped_by(q, &["breaker", "error_type"])
    });
    let recovery = find("recovery time quantiles", &|e, q| {
        e.contains("histogram_quantile(")
            && e.contains("rate(circuit_breaker_recovery_time_seconds_bucket")
            && grouped_by(q, &["breaker", "le"])
    });
    assert_eq!(recovery["fieldConfig"]["defaults"]["unit"], "s");
    let success = find("operation success rate", &|e, q| {
        only(q, "circuit_breaker_operations_total")
            && e.contains('/')
            && q.matchers
                .iter()
                .any(|m| m.label == "status" && m.op == "=" && m.value == "success")
    });
    assert_eq!(success["fieldConfig"]["defaults"]["unit"], "percentunit");

    for panel in &panels {
        assert_eq!(
            panel["datasource"]["uid"],
            "${datasource}",
            "{} uses the datasource variable",
            title(panel)
        );
        for (expr, _) in targets(panel) {
            let query = Query::parse(&expr);
            assert!(
                query.variables.contains("breaker")
                    && query
                        .matchers
                        .iter()
                        .any(|m| m.label == "breaker" && m.op == "=~" && m.value == "$breaker"),
                "{}: every selector is filtered by breaker=~\"$breaker\": {expr}",
                title(panel)
            );
            assert!(
                query
                    .matchers
                    .iter()
                    .filter(|m| m.label == "breaker")
                    .count()
                    >= query.metrics.len(),
                "{}: each selector filters by breaker: {expr}",
                title(panel)
            );
        }
    }
}

#[test]
fn dashboard_has_a_prometheus_datasource_variable_and_a_breaker_variable() {
    let dashboard = dashboard();
    let schema = dashboard["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));

    let datasource = variable(&dashboard, "datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");

    let breaker = variable(&dashboard, "breaker");
    assert_eq!(breaker["type"], "query");
    assert_eq!(breaker["datasource"]["uid"], "${datasource}");
    let query = match &breaker["query"] {
        Value::String(q) => q.as_str(),
        object => object["query"].as_str().expect("breaker variable query"),
    };
    assert_eq!(query, "label_values(circuit_breaker_state, breaker)");
    assert_eq!(breaker["multi"], true);
    assert_eq!(breaker["includeAll"], true);
}

#[test]
fn promql_reader_sees_metrics_matchers_grouping_and_variables() {
    let q = Query::parse(
        r#"sum by (breaker, le) (rate(circuit_breaker_x_bucket{breaker=~"$breaker",status!="a"}[$__rate_interval])) / on(breaker) circuit_breaker_y"#,
    );
    assert_eq!(
        q.metrics.iter().collect::<Vec<_>>(),
        ["circuit_breaker_x_bucket", "circuit_breaker_y"]
    );
    assert_eq!(q.grouping.iter().collect::<Vec<_>>(), ["breaker", "le"]);
    assert_eq!(q.matchers.len(), 2);
    assert_eq!(q.matchers[0].op, "=~");
    assert_eq!(q.matchers[1].label, "status");
    assert_eq!(q.matchers[1].op, "!=");
    assert_eq!(q.matchers[1].value, "a");
    assert!(q.variables.contains("breaker"));
    assert!(
        !q.variables.contains("__rate_interval"),
        "ranges are skipped"
    );
}
