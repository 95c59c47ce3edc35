//! Label values with the escaping the text format requires.
//!
//! prometheus-client 0.22 writes `&str` label values verbatim. Breaker names
//! are user input (the core only forbids control characters), so a name
//! holding `"` or `\` would otherwise corrupt the whole scrape.

use std::fmt::{self, Write};

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// A label value escaped as the text format requires: `\` -> `\\`,
/// `"` -> `\"`, newline -> `\n`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Escaped<'a>(pub(crate) &'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let mut rest = self.0;
        // Write unescaped runs whole, so a plain name is one write.
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            encoder.write_str(&rest[..at])?;
            encoder.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        encoder.write_str(rest)
    }
}
