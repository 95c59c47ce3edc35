//! Just enough PromQL reading to check that dashboards and alert rules only
//! use metric names, labels and label values the crate really exports.

use std::collections::BTreeSet;

use super::Exposition;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Variable(String),
    Str(String),
    Punct(char),
    Number,
}

fn tokenize(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '$' {
            let start = i + 1;
            i = start;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Variable(chars[start..i].iter().collect()));
        } else if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number);
        } else if c == '[' {
            // A range or subquery duration: `[5m]`, `[$__rate_interval]`.
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
        } else if matches!(c, '"' | '\'' | '`') {
            let mut value = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    value.push(ch);
                }
                i += 1;
            }
            assert!(i < chars.len(), "unterminated string in {expr:?}");
            i += 1;
            tokens.push(Token::Str(value));
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// A label matcher in a selector: `metric{label op "value"}`.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub metric: String,
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    pub value: String,
}

/// What one PromQL expression refers to.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub metrics: BTreeSet<String>,
    pub matchers: Vec<Matcher>,
    /// Labels in `by`, `without`, `on`, `ignoring`, `group_left/right`.
    pub grouping: BTreeSet<String>,
    /// Dashboard variables used outside ranges, e.g. `breaker` for `$breaker`.
    pub variables: BTreeSet<String>,
}

impl Query {
    /// Reads `expr`.
    pub fn parse(expr: &str) -> Query {
        let tokens = tokenize(expr);
        let mut query = Query::default();
        // Grafana interpolates variables inside quoted values too.
        for token in &tokens {
            if let Token::Str(value) = token {
                for part in value.split('$').skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    query.variables.insert(name);
                }
            }
        }
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                Token::Variable(name) => {
                    query.variables.insert(name.clone());
                }
                Token::Ident(name) if name.starts_with("circuit_breaker_") => {
                    query.metrics.insert(name.clone());
                    if tokens.get(i + 1) == Some(&Token::Punct('{')) {
                        i = read_matchers(&tokens, i + 2, name, &mut query.matchers, expr);
                    }
                }
                Token::Ident(keyword)
                    if matches!(
                        keyword.as_str(),
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    ) && tokens.get(i + 1) == Some(&Token::Punct('(')) =>
                {
                    i += 2;
                    while i < tokens.len() && tokens[i] != Token::Punct(')') {
                        if let Token::Ident(label) = &tokens[i] {
                            query.grouping.insert(label.clone());
                        }
                        i += 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        query
    }

    /// Checks every metric, label and literal label value against what the
    /// crate exports; returns one line per problem.
    pub fn problems(&self, exposition: &Exposition) -> Vec<String> {
        let exported = exposition.sample_names();
        let mut problems = Vec::new();
        let mut labels_in_use = BTreeSet::new();
        for metric in &self.metrics {
            if !exported.contains(metric) {
                problems.push(format!("metric {metric} is not exported ({exported:?})"));
            }
            labels_in_use.extend(exposition.label_names(metric));
        }
        for m in &self.matchers {
            let labels = exposition.label_names(&m.metric);
            if !labels.contains(&m.label) {
                problems.push(format!(
                    "{} has no label {} (it has {labels:?})",
                    m.metric, m.label
                ));
                continue;
            }
            // A literal equality must name a value that really occurs.
            let literal = matches!(m.op.as_str(), "=" | "!=") && !m.value.contains('$');
            let occurs = exposition
                .samples
                .iter()
                .any(|s| s.name == m.metric && s.labels.get(&m.label) == Some(&m.value));
            if literal && !occurs {
                problems.push(format!(
                    "{}{{{}{}\"{}\"}}: no such label value is exported",
                    m.metric, m.label, m.op, m.value
                ));
            }
        }
        for label in &self.grouping {
            if !labels_in_use.contains(label) {
                problems.push(format!(
                    "grouping label {label} is on none of {:?}",
                    self.metrics
                ));
            }
        }
        problems
    }
}

fn read_matchers(
    tokens: &[Token],
    mut i: usize,
    metric: &str,
    matchers: &mut Vec<Matcher>,
    expr: &str,
) -> usize {
    while i < tokens.len() && tokens[i] != Token::Punct('}') {
        if tokens[i] == Token::Punct(',') {
            i += 1;
            continue;
        }
        let Token::Ident(label) = &tokens[i] else {
            panic!("expected a label name at token {i} of {expr:?}");
        };
        let mut op = String::new();
        i += 1;
        while let Some(Token::Punct(c @ ('=' | '!' | '~'))) = tokens.get(i) {
            op.push(*c);
            i += 1;
        }
        let Some(Token::Str(value)) = tokens.get(i) else {
            panic!("expected a quoted value after {label}{op} in {expr:?}");
        };
        matchers.push(Matcher {
            metric: metric.to_owned(),
            label: label.clone(),
            op,
            value: value.clone(),
        });
        i += 1;
    }
    i
}
