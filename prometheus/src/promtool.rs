//! The exposition as `promtool check metrics` reads it.

use std::collections::BTreeSet;

/// [`render`](crate::render)'s OpenMetrics text in the classic Prometheus
/// text format (0.0.4), the only format `promtool check metrics` reads.
///
/// Why it is needed: for what this crate emits, the two formats differ in
/// one thing only. OpenMetrics names a counter family without `_total` in
/// `# HELP` / `# TYPE` while its samples carry it (and Prometheus scrapes
/// it that way, given [`CONTENT_TYPE`](crate::CONTENT_TYPE)); the classic
/// format names the family like its samples, so promtool would report the
/// samples as belonging to no declared family. So the `# HELP` and
/// `# TYPE` lines of counter families get `_total` and every other line,
/// samples included, is left as it is (`# UNIT` and `# EOF` are comments
/// to the classic parser). For tests and tooling, not for serving.
///
/// ```
/// let openmetrics = "# HELP calls Calls.\n# TYPE calls counter\ncalls_total 3\n# EOF\n";
/// assert_eq!(
///     breakwater_prometheus::promtool_text(openmetrics),
///     "# HELP calls_total Calls.\n# TYPE calls_total counter\ncalls_total 3\n# EOF\n",
/// );
/// ```
pub fn promtool_text(openmetrics: &str) -> String {
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, kind)| kind.trim() == "counter")
        .map(|(name, _)| name)
        .collect();
    let mut classic = String::with_capacity(openmetrics.len() + 64);
    for line in openmetrics.lines() {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        classic.push_str(renamed.as_deref().unwrap_or(line));
        classic.push('\n');
    }
    classic
}
