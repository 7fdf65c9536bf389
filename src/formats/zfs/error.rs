//! The one error every zpool/zfs output parser returns: where in the output, what was expected.

use serde::Serialize;
use thiserror::Error;

/// How much of an offending line an error quotes: enough to recognise it, short enough for a log.
const EXCERPT_CHARS: usize = 80;

/// Output of `zpool`/`zfs` that does not have the shape the parser expects.
///
/// `line` is 1-based; `excerpt` is the offending line (truncated), absent when the output ended
/// early. Display reads like
/// "line 3: expected 4 tab-separated fields (name, property, value, source), found 2: `quickOS\tsize`".
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("line {line}: expected {expected}, found {found}{}", excerpt_suffix(.excerpt))]
pub struct ParseError {
    pub line: usize,
    pub expected: String,
    pub found: String,
    pub excerpt: Option<String>,
}

impl ParseError {
    /// An error about line `line` (1-based) whose text is `text`.
    pub fn at(
        line: usize,
        text: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ParseError {
            line,
            expected: expected.into(),
            found: found.into(),
            excerpt: Some(truncate(text)),
        }
    }

    /// The output stopped at line `line` (1-based: the line that would have come next).
    pub fn end_of_output(line: usize, expected: impl Into<String>) -> Self {
        ParseError {
            line,
            expected: expected.into(),
            found: "end of output".to_string(),
            excerpt: None,
        }
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn excerpt_suffix(excerpt: &Option<String>) -> String {
    match excerpt {
        Some(text) => format!(": `{}`", escape_controls(text)),
        None => String::new(),
    }
}

/// Tabs are the field separators of `-H` output: show them, and any other control character,
/// the way Rust string literals would, so the reader can count fields.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => shown.push_str("\\t"),
            '\r' => shown.push_str("\\r"),
            '\n' => shown.push_str("\\n"),
            c if c.is_control() => shown.push_str(&c.escape_unicode().to_string()),
            c => shown.push(c),
        }
    }
    shown
}

/// Output lines with their 1-based numbers; a final newline does not make an extra empty line.
pub(crate) fn numbered_lines(output: &str) -> impl Iterator<Item = (usize, &str)> {
    output
        .lines()
        .enumerate()
        .map(|(index, text)| (index + 1, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_the_line_with_visible_tabs() {
        let error = ParseError::at(
            3,
            "quickOS\tsize",
            "4 tab-separated fields (name, property, value, source)",
            "2",
        );
        assert_eq!(
            error.to_string(),
            "line 3: expected 4 tab-separated fields (name, property, value, source), found 2: `quickOS\\tsize`"
        );
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let line = "é".repeat(200);
        let error = ParseError::at(1, &line, "x", "y");
        let excerpt = error.excerpt.unwrap();
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS + 1);
        assert!(excerpt.ends_with('…'));
    }

    #[test]
    fn end_of_output_has_no_excerpt() {
        let error = ParseError::end_of_output(7, "the vdev tree after `config:`");
        assert_eq!(
            error.to_string(),
            "line 7: expected the vdev tree after `config:`, found end of output"
        );
    }
}
