//! Comparing two renderings of the same run, for `check-determinism`:
//! where they first differ, as a file and a line a person can look at.

use std::fmt;

use crate::report::run::RunFile;

/// The first difference between two renderings of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The runs wrote different sets of files (e.g. one run failed).
    Files {
        /// File names of the first run.
        first: Vec<&'static str>,
        /// File names of the second run.
        second: Vec<&'static str>,
    },
    /// A file differs; `line` is the first differing line, from 1.
    Line {
        /// File name.
        file: &'static str,
        /// Line number, from 1.
        line: usize,
        /// That line in the first run (`None` past its end).
        first: Option<String>,
        /// That line in the second run (`None` past its end).
        second: Option<String>,
    },
    /// The sweep summary rows differ though every file is equal.
    SummaryRow,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Files { first, second } => {
                write!(f, "different files: {first:?} vs {second:?}")
            }
            Difference::Line {
                file,
                line,
                first,
                second,
            } => write!(
                f,
                "{file} line {line}:\n    first:  {}\n    second: {}",
                first.as_deref().unwrap_or("<end of file>"),
                second.as_deref().unwrap_or("<end of file>")
            ),
            Difference::SummaryRow => f.write_str("summary.csv row"),
        }
    }
}

/// The first difference between the files of two runs, in file order,
/// or `None` if every byte is equal.
pub fn first_difference(first: &[RunFile], second: &[RunFile]) -> Option<Difference> {
    let names = |files: &[RunFile]| files.iter().map(|f| f.name).collect::<Vec<_>>();
    if names(first) != names(second) {
        return Some(Difference::Files {
            first: names(first),
            second: names(second),
        });
    }
    let (a, b) = first.iter().zip(second).find(|(a, b)| a.bytes != b.bytes)?;
    // Split on '\n' only (not `lines()`), so a difference in a trailing
    // newline or a '\r' still lands on a line.
    let mut left = a.bytes.split(|&byte| byte == b'\n');
    let mut right = b.bytes.split(|&byte| byte == b'\n');
    let text = |line: Option<&[u8]>| line.map(|l| String::from_utf8_lossy(l).into_owned());
    let mut line = 1;
    loop {
        let (l, r) = (left.next(), right.next());
        if l != r {
            return Some(Difference::Line {
                file: a.name,
                line,
                first: text(l),
                second: text(r),
            });
        }
        // Unequal bytes always differ on some line, so both ending together
        // cannot happen; `?` ends the loop without an assertion on input.
        l?;
        line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, text: &str) -> RunFile {
        RunFile {
            name,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn equal_files_have_no_difference() {
        let files = [file("a.csv", "x\ny\n"), file("b.csv", "z\n")];
        assert_eq!(first_difference(&files, &files.clone()), None);
    }

    #[test]
    fn the_first_differing_file_and_line_are_named() {
        let first = [file("a.csv", "x\ny\n"), file("b.csv", "1\n2\n3\n")];
        let second = [file("a.csv", "x\ny\n"), file("b.csv", "1\n2\n4\n")];
        let difference = first_difference(&first, &second).unwrap();
        assert_eq!(
            difference,
            Difference::Line {
                file: "b.csv",
                line: 3,
                first: Some("3".into()),
                second: Some("4".into()),
            }
        );
        assert!(difference.to_string().starts_with("b.csv line 3:"));
    }

    #[test]
    fn a_missing_line_or_file_is_a_difference() {
        let short = [file("a.csv", "x\n")];
        let long = [file("a.csv", "x\ny\n")];
        assert!(matches!(
            first_difference(&short, &long),
            Some(Difference::Line { line: 2, .. })
        ));
        assert!(matches!(
            first_difference(&short, &[]),
            Some(Difference::Files { .. })
        ));
    }
}
