//! The fixtures in testdata/ are real tool output (LC_ALL=C, binutils 2.40, file 5.44) recorded on
//! Debian 12 from: this project's size proxy built by the Debian route as static-pie
//! (rust-musl-static-pie) and with its default -Crelocation-model=static (rust-musl-static), a C
//! hello world linked by `musl-gcc -static` (c-musl-static) and by `musl-gcc -fPIE -pie`
//! (c-musl-dynamic-pie: a musl binary that still asks for musl's dynamic loader, the trap a check
//! of the C library alone falls into), and Debian's /usr/bin/true (glibc-dynamic).

use super::*;

struct Recorded {
    file: &'static str,
    program_headers: &'static str,
    dynamic: &'static str,
}

macro_rules! recorded {
    ($name:literal) => {
        Recorded {
            file: include_str!(concat!("testdata/", $name, ".file.txt")),
            program_headers: include_str!(concat!("testdata/", $name, ".readelf-l.txt")),
            dynamic: include_str!(concat!("testdata/", $name, ".readelf-d.txt")),
        }
    };
}

const RUST_MUSL_STATIC_PIE: Recorded = recorded!("rust-musl-static-pie");
const RUST_MUSL_STATIC: Recorded = recorded!("rust-musl-static");
const C_MUSL_STATIC: Recorded = recorded!("c-musl-static");
const C_MUSL_DYNAMIC_PIE: Recorded = recorded!("c-musl-dynamic-pie");
const GLIBC_DYNAMIC: Recorded = recorded!("glibc-dynamic");
const ALL: [&Recorded; 4] = [
    &RUST_MUSL_STATIC_PIE,
    &C_MUSL_STATIC,
    &C_MUSL_DYNAMIC_PIE,
    &GLIBC_DYNAMIC,
];

fn problems(recorded: &Recorded) -> Vec<String> {
    let file = parse_file_description(recorded.file);
    let program_headers =
        parse_program_headers(recorded.program_headers).expect("recorded readelf -l parses");
    let dynamic = parse_dynamic_section(recorded.dynamic).expect("recorded readelf -d parses");
    static_binary_problems(&file, &program_headers, &dynamic)
}

#[test]
fn static_pie_from_the_debian_route_passes() {
    assert_eq!(problems(&RUST_MUSL_STATIC_PIE), Vec::<String>::new());
    let dynamic = parse_dynamic_section(RUST_MUSL_STATIC_PIE.dynamic).unwrap();
    assert!(
        dynamic.present,
        "a static-pie keeps a dynamic section for its own relocations"
    );
    assert_eq!(dynamic.entry_types.len(), 20);
    assert!(dynamic.needed.is_empty());
}

#[test]
fn static_non_pie_from_the_default_debian_route_passes() {
    assert_eq!(problems(&RUST_MUSL_STATIC), Vec::<String>::new());
    assert!(
        !parse_dynamic_section(RUST_MUSL_STATIC.dynamic)
            .unwrap()
            .present
    );
    let headers = parse_program_headers(RUST_MUSL_STATIC.program_headers).unwrap();
    assert_eq!(headers.types.len(), 9);
    assert!(!headers.types.iter().any(|kind| kind == "DYNAMIC"));
}

#[test]
fn static_pie_headers_are_read_in_order() {
    let headers = parse_program_headers(RUST_MUSL_STATIC_PIE.program_headers).unwrap();
    assert_eq!(headers.types.len(), 10);
    assert_eq!(headers.types.first().map(String::as_str), Some("LOAD"));
    assert_eq!(headers.types.last().map(String::as_str), Some("GNU_RELRO"));
    assert!(headers.types.iter().any(|kind| kind == "LOAD"));
    assert!(!headers.types.iter().any(|kind| kind == "INTERP"));
    assert_eq!(headers.interpreter, None);
}

#[test]
fn static_non_pie_has_no_dynamic_section_and_only_fails_on_strip() {
    let dynamic = parse_dynamic_section(C_MUSL_STATIC.dynamic).unwrap();
    assert!(!dynamic.present);
    assert_eq!(problems(&C_MUSL_STATIC).len(), 1);
    assert!(problems(&C_MUSL_STATIC)[0].contains("stripped"));
}

#[test]
fn musl_gcc_dynamic_pie_is_rejected_for_its_loader_and_libc() {
    let found = problems(&C_MUSL_DYNAMIC_PIE);
    assert!(
        found
            .iter()
            .any(|p| p.contains("INTERP") && p.contains("/lib/ld-musl-x86_64.so.1")),
        "{found:?}"
    );
    assert!(found.iter().any(|p| p.contains("libc.so")), "{found:?}");
    assert!(
        found.iter().any(|p| p.contains("statically linked")),
        "{found:?}"
    );
}

#[test]
fn glibc_binary_is_rejected_with_its_needed_library() {
    let dynamic = parse_dynamic_section(GLIBC_DYNAMIC.dynamic).unwrap();
    assert_eq!(dynamic.needed, vec!["libc.so.6".to_string()]);
    let headers = parse_program_headers(GLIBC_DYNAMIC.program_headers).unwrap();
    assert_eq!(
        headers.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
    assert_eq!(problems(&GLIBC_DYNAMIC).len(), 3);
}

#[test]
fn file_description_fields_are_matched_whole() {
    let not_stripped = parse_file_description(C_MUSL_DYNAMIC_PIE.file);
    assert!(
        !not_stripped.is_stripped,
        "`not stripped` must not count as `stripped`"
    );
    assert!(!parse_file_description("ASCII text").is_x86_64_elf);
    assert!(parse_file_description(RUST_MUSL_STATIC_PIE.file).is_static);
}

#[test]
fn a_dropped_dynamic_entry_is_caught_by_the_announced_count() {
    let without_first_entry: String = RUST_MUSL_STATIC_PIE
        .dynamic
        .lines()
        .filter(|line| !line.contains("(INIT)"))
        .map(|line| format!("{line}\n"))
        .collect();
    let err = parse_dynamic_section(&without_first_entry).unwrap_err();
    assert!(
        err.to_string()
            .contains("19 entries where 20 were announced"),
        "{err}"
    );
}

#[test]
fn malformed_lines_are_reported_with_their_line_number() {
    let broken = RUST_MUSL_STATIC_PIE
        .dynamic
        .replace("0x000000000000000c (INIT)", "garbage here");
    let err = parse_dynamic_section(&broken).unwrap_err();
    assert_eq!(err.line, 4);
    assert!(
        err.to_string()
            .starts_with("`readelf -dW` output line 4: expected an entry"),
        "{err}"
    );

    let err = parse_program_headers(
        "There are 1 program headers\nProgram Headers:\n  Type Offset\n  load 0x0\n",
    )
    .unwrap_err();
    assert_eq!(err.line, 4);
    assert!(parse_program_headers("some other tool\n").is_err());
    assert!(parse_dynamic_section("").is_err());
}

/// The parsers run on text from tools, not on untrusted input, but must still never panic: feed
/// them every prefix and every single-line deletion of each recorded output.
#[test]
fn parsers_never_panic_on_truncated_or_mangled_output() {
    for recorded in ALL {
        for text in [recorded.file, recorded.program_headers, recorded.dynamic] {
            for (end, _) in text.char_indices() {
                let prefix = &text[..end];
                let _ = parse_program_headers(prefix);
                let _ = parse_dynamic_section(prefix);
                let _ = parse_file_description(prefix);
            }
            let lines: Vec<&str> = text.lines().collect();
            for skipped in 0..lines.len() {
                let mangled: Vec<&str> = lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skipped)
                    .map(|(_, l)| *l)
                    .collect();
                let mangled = mangled.join("\n");
                let _ = parse_program_headers(&mangled);
                let _ = parse_dynamic_section(&mangled);
            }
        }
    }
}

#[test]
fn a_dropped_program_header_is_caught_by_the_announced_count() {
    let without_interp: String = GLIBC_DYNAMIC
        .program_headers
        .lines()
        .filter(|line| !line.trim_start().starts_with("INTERP"))
        .map(|line| format!("{line}\n"))
        .collect();
    let err = parse_program_headers(&without_interp).unwrap_err();
    assert!(
        err.to_string()
            .contains("12 headers where 13 were announced"),
        "{err}"
    );
}
