//! Judges a built binary by what `file -b`, `readelf -lW` and `readelf -dW` print about it (run with
//! `LC_ALL=C`). The judgement is the one a person makes at a terminal: `file` calls it statically
//! linked, there is no INTERP program header (nothing asks for a dynamic loader) and the dynamic
//! section, if any (a static-pie has one for its own relocations), names no NEEDED library.

use std::fmt;

/// The parts of `file -b`'s one-line description that decide whether a binary can ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDescription {
    pub text: String,
    pub is_x86_64_elf: bool,
    /// `statically linked` (static, non-PIE) or `static-pie linked`.
    pub is_static: bool,
    pub is_stripped: bool,
}

/// Program headers as `readelf -lW` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProgramHeaders {
    pub types: Vec<String>,
    /// The `[Requesting program interpreter: ...]` path under an INTERP header.
    pub interpreter: Option<String>,
}

/// The dynamic section as `readelf -dW` lists it; a static non-PIE binary has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicSection {
    pub present: bool,
    pub entry_types: Vec<String>,
    /// Libraries named by NEEDED entries, e.g. `libc.so.6`.
    pub needed: Vec<String>,
}

/// Where readelf's output did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadelfShapeError {
    pub command: &'static str,
    /// 1-based line number in the tool's output; 0 when the whole output is the problem.
    pub line: usize,
    pub expected: &'static str,
    pub found: String,
}

impl fmt::Display for ReadelfShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "`{}` printed {}; expected {}",
                self.command, self.found, self.expected
            )
        } else {
            write!(
                f,
                "`{}` output line {}: expected {}, found `{}`",
                self.command, self.line, self.expected, self.found
            )
        }
    }
}

impl std::error::Error for ReadelfShapeError {}

/// Splits `file -b` output into its comma-separated facts.
pub fn parse_file_description(text: &str) -> FileDescription {
    let text = text.trim().to_string();
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    let has = |wanted: &str| fields.contains(&wanted);
    FileDescription {
        is_x86_64_elf: text.starts_with("ELF 64-bit LSB") && has("x86-64"),
        is_static: has("statically linked") || has("static-pie linked"),
        is_stripped: has("stripped"),
        text,
    }
}

const READELF_L: &str = "readelf -lW";
const READELF_D: &str = "readelf -dW";

/// Reads the `Program Headers:` table of `readelf -lW`, checking the count readelf announces.
pub fn parse_program_headers(text: &str) -> Result<ProgramHeaders, ReadelfShapeError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    if text
        .lines()
        .any(|line| line.trim() == "There are no program headers in this file.")
    {
        return Ok(ProgramHeaders::default());
    }
    let announced = text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("There are ")
            .and_then(|rest| rest.split_once(" program headers"))
            .and_then(|(count, _)| count.parse::<usize>().ok())
    });
    if !lines.any(|(_, line)| line.trim() == "Program Headers:") {
        return Err(ReadelfShapeError {
            command: READELF_L,
            line: 0,
            expected: "a `Program Headers:` table",
            found: format!("{} lines without one", text.lines().count()),
        });
    }
    match lines.next() {
        Some((_, line)) if line.split_whitespace().next() == Some("Type") => {}
        Some((number, line)) => {
            return Err(shape(
                READELF_L,
                number,
                "the column header `Type Offset ...`",
                line,
            ))
        }
        None => {
            return Err(shape(
                READELF_L,
                0,
                "a column header after `Program Headers:`",
                "",
            ))
        }
    }
    let mut headers = ProgramHeaders::default();
    for (number, line) in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            break;
        }
        if let Some(request) = trimmed.strip_prefix("[Requesting program interpreter:") {
            let path = request.strip_suffix(']').ok_or_else(|| {
                shape(
                    READELF_L,
                    number,
                    "`]` closing the interpreter request",
                    line,
                )
            })?;
            headers.interpreter = Some(path.trim().to_string());
            continue;
        }
        let kind = trimmed.split_whitespace().next().unwrap_or_default();
        let looks_like_type = kind
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            || kind.starts_with("LOOS+")
            || kind.starts_with("0x");
        if !looks_like_type {
            return Err(shape(
                READELF_L,
                number,
                "a program header type such as LOAD or INTERP",
                line,
            ));
        }
        headers.types.push(kind.to_string());
    }
    match announced {
        Some(count) if count == headers.types.len() => Ok(headers),
        Some(count) => Err(ReadelfShapeError {
            command: READELF_L,
            line: 0,
            expected: "as many program headers as readelf announces",
            found: format!(
                "{} headers where {count} were announced",
                headers.types.len()
            ),
        }),
        None => Err(shape(
            READELF_L,
            0,
            "`There are N program headers`",
            "no count",
        )),
    }
}

/// Reads the dynamic section of `readelf -dW`, checking that the entry count readelf announces is
/// the count found, so a line that was skipped cannot hide a NEEDED entry.
pub fn parse_dynamic_section(text: &str) -> Result<DynamicSection, ReadelfShapeError> {
    if text
        .lines()
        .any(|line| line.trim() == "There is no dynamic section in this file.")
    {
        return Ok(DynamicSection::default());
    }
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    let announced = loop {
        let Some((number, line)) = lines.next() else {
            return Err(shape(
                READELF_D,
                0,
                "`Dynamic section at offset ... contains N entries:`",
                "",
            ));
        };
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Dynamic section at offset") {
            let count = rest
                .split_once("contains")
                .and_then(|(_, tail)| tail.trim().strip_suffix(':'))
                .and_then(|tail| tail.split_whitespace().next())
                .and_then(|count| count.parse::<usize>().ok())
                .ok_or_else(|| shape(READELF_D, number, "`contains N entries:`", line))?;
            break count;
        }
    };
    match lines.next() {
        Some((_, line)) if line.split_whitespace().next() == Some("Tag") => {}
        Some((number, line)) => {
            return Err(shape(
                READELF_D,
                number,
                "the column header `Tag Type Name/Value`",
                line,
            ))
        }
        None => {
            return Err(shape(
                READELF_D,
                0,
                "a column header after the section line",
                "",
            ))
        }
    }
    let mut section = DynamicSection {
        present: true,
        ..DynamicSection::default()
    };
    for (number, line) in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            break;
        }
        let (tag, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim_start();
        let entry_type = tag
            .strip_prefix("0x")
            .filter(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|_| rest.strip_prefix('('))
            .and_then(|rest| rest.split_once(')'));
        let Some((entry_type, value)) = entry_type else {
            return Err(shape(
                READELF_D,
                number,
                "an entry `0xTAG (TYPE) value`",
                line,
            ));
        };
        if entry_type == "NEEDED" {
            let library = value
                .trim()
                .strip_prefix("Shared library: [")
                .and_then(|library| library.strip_suffix(']'))
                .ok_or_else(|| shape(READELF_D, number, "`Shared library: [NAME]`", line))?;
            section.needed.push(library.to_string());
        }
        section.entry_types.push(entry_type.to_string());
    }
    if section.entry_types.len() != announced {
        return Err(ReadelfShapeError {
            command: READELF_D,
            line: 0,
            expected: "as many entries as the section line announces",
            found: format!(
                "{} entries where {announced} were announced",
                section.entry_types.len()
            ),
        });
    }
    Ok(section)
}

/// Every reason the binary is not a stripped, static x86-64 executable; empty when it is one.
pub fn static_binary_problems(
    file: &FileDescription,
    program_headers: &ProgramHeaders,
    dynamic: &DynamicSection,
) -> Vec<String> {
    let mut problems = Vec::new();
    if !file.is_x86_64_elf {
        problems.push(format!(
            "`file` does not call it an x86-64 ELF executable: {}",
            file.text
        ));
    }
    if !file.is_static {
        problems.push(format!(
            "`file` does not call it statically linked: {}",
            file.text
        ));
    }
    if !file.is_stripped {
        problems.push(format!("`file` does not call it stripped: {}", file.text));
    }
    if program_headers.types.is_empty() {
        problems.push("readelf found no program headers: this is not an executable".to_string());
    }
    if program_headers.types.iter().any(|kind| kind == "INTERP") {
        let loader = program_headers
            .interpreter
            .as_deref()
            .unwrap_or("an unnamed loader");
        problems.push(format!(
            "it has an INTERP program header: it needs the dynamic loader {loader}"
        ));
    }
    if !dynamic.needed.is_empty() {
        problems.push(format!(
            "its dynamic section needs shared libraries: {}",
            dynamic.needed.join(", ")
        ));
    }
    problems
}

fn shape(
    command: &'static str,
    line: usize,
    expected: &'static str,
    found: &str,
) -> ReadelfShapeError {
    ReadelfShapeError {
        command,
        line,
        expected,
        found: found.trim().to_string(),
    }
}

#[cfg(test)]
#[path = "elf_check_tests.rs"]
mod tests;
