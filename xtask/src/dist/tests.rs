//! Tests of dist: the size options of each route, the hook limit, the static check on real
//! binaries and the compiler versions that know -Cpanic=immediate-abort.

use super::*;

fn route(route: Route) -> DistOptions {
    DistOptions {
        route,
        ..DistOptions::default()
    }
}

#[test]
fn debian_is_the_default_route_with_the_measured_size_options() {
    let options = DistOptions::default();
    assert_eq!(options.route, Route::Debian);
    let size = SizeOptions::for_route(options.route, &options);
    assert_eq!(size.build_std_features(), Some("optimize_for_size"));
    assert_eq!(
        size.rustflags(),
        [
            "-Zunstable-options",
            "-Cpanic=immediate-abort",
            "-Crelocation-model=static",
            "-Cforce-unwind-tables=no",
            "--cfg",
            "curve25519_dalek_backend=\"serial\""
        ]
    );
    assert!(size.needs_bootstrap());
}

#[test]
fn rustup_route_uses_only_stable_flags_on_the_prebuilt_std() {
    let options = route(Route::Rustup);
    let size = SizeOptions::for_route(options.route, &options);
    assert_eq!(size.build_std_features(), None);
    assert_eq!(
        size.rustflags(),
        [
            "-Crelocation-model=static",
            "-Cforce-unwind-tables=no",
            "--cfg",
            "curve25519_dalek_backend=\"serial\""
        ]
    );
    assert!(!size.needs_bootstrap());
}

#[test]
fn overrides_append_flags_and_can_drop_std_features() {
    let options = DistOptions {
        std_features: Some("none".into()),
        rustflags: vec!["-Cpanic=abort -Zlocation-detail=none".into()],
        ..DistOptions::default()
    };
    let size = SizeOptions::for_route(options.route, &options);
    assert_eq!(size.build_std_features(), None);
    assert_eq!(size.rustflags().last(), Some(&"-Zlocation-detail=none"));
    assert_eq!(size.rustflags()[6], "-Cpanic=abort");
}

#[test]
fn the_hook_limit_is_inclusive() {
    let binary = Path::new("target/dist/phoenix-zfs");
    assert_eq!(oversize_message(binary, 919_656), None);
    assert_eq!(oversize_message(binary, FIRST_BOOT_HOOK_LIMIT), None);
    let message = oversize_message(binary, FIRST_BOOT_HOOK_LIMIT + 1).unwrap();
    assert!(
        message.contains("1048577 bytes, 1 over the 1048576-byte limit"),
        "{message}"
    );
}

/// Runs the real `file` and `readelf` on a glibc binary every Debian system has.
#[test]
fn a_dynamic_system_binary_fails_the_static_check_with_every_reason() {
    let err = judge_static(Path::new("/usr/bin/true"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a static x86-64 binary"), "{err}");
    assert!(err.contains("INTERP"), "{err}");
    assert!(err.contains("libc.so.6"), "{err}");
    assert!(err.contains("statically linked"), "{err}");
}

#[test]
fn immediate_abort_needs_rust_1_92() {
    assert!(!supports_immediate_abort(
        "rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)"
    ));
    assert!(!supports_immediate_abort(
        "rustc 1.91.1 (ed61e7d7e 2025-11-07)"
    ));
    assert!(supports_immediate_abort(
        "rustc 1.92.0 (ded5c06cf 2025-12-08)"
    ));
    assert!(supports_immediate_abort(
        "rustc 1.95.0 (59807616e 2026-04-14)"
    ));
    assert!(supports_immediate_abort(
        "rustc 1.96.0 (0a1b2c3d4 2026-05-28) (built from a source tarball)"
    ));
    assert!(supports_immediate_abort(
        "rustc 1.93.0-nightly (abc 2025-11-01)"
    ));
    assert!(!supports_immediate_abort("error: something else"));
    assert!(!supports_immediate_abort(""));
}

#[test]
fn an_old_compiler_degrades_to_panic_abort_with_a_warning() {
    let options = DistOptions::default();
    let mut size = SizeOptions::for_route(options.route, &options);
    let warning = size
        .fit_compiler("rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)")
        .expect("1.85 must be warned about");
    assert!(warning.contains("rustc 1.85.0"), "{warning}");
    assert!(warning.contains("apt-get install rustc-web cargo-web rust-web-src"));
    assert_eq!(
        size.rustflags(),
        [
            "-Zunstable-options",
            "-Cpanic=abort",
            "-Crelocation-model=static",
            "-Cforce-unwind-tables=no",
            "--cfg",
            "curve25519_dalek_backend=\"serial\""
        ]
    );
    // The std features and the other size options stay.
    assert_eq!(size.build_std_features(), Some("optimize_for_size"));
}

#[test]
fn a_new_compiler_keeps_immediate_abort() {
    let options = DistOptions::default();
    let mut size = SizeOptions::for_route(options.route, &options);
    assert_eq!(
        size.fit_compiler("rustc 1.96.0 (0a1b2c3d4 2026-05-28)"),
        None
    );
    assert!(size.rustflags().contains(&"-Cpanic=immediate-abort"));
}

#[test]
fn no_warning_when_immediate_abort_was_not_asked_for() {
    let options = route(Route::Rustup);
    let mut size = SizeOptions::for_route(options.route, &options);
    assert_eq!(
        size.fit_compiler("rustc 1.85.0 (4d91de4e4 2025-02-17)"),
        None
    );
}

#[test]
fn the_debian_rust_floor_is_the_workspace_rust_version() {
    let manifest: toml::Table = include_str!("../../../Cargo.toml").parse().unwrap();
    let rust_version = manifest["package"]["rust-version"].as_str().unwrap();
    assert_eq!(debian::RUST_VERSION_FLOOR, rust_version);
}
