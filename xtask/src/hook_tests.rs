use super::*;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| arg.to_string()).collect()
}

#[test]
fn the_bare_binary_ships_only_with_32_kib_to_spare() {
    let limit = FIRST_BOOT_HOOK_LIMIT;
    assert_eq!(choose(Form::Auto, 880_000), Form::Bare);
    assert_eq!(choose(Form::Auto, limit - BARE_SPARE), Form::Bare);
    assert_eq!(choose(Form::Auto, limit - BARE_SPARE + 1), Form::Gzip);
    assert_eq!(choose(Form::Bare, limit + 1), Form::Bare);
    assert_eq!(choose(Form::Gzip, 1000), Form::Gzip);
}

#[test]
fn form_is_parsed_and_the_rest_goes_to_dist() {
    let (form, rest) = parse_args(&args(&["--form", "gzip", "--route", "debian"])).unwrap();
    assert_eq!(form, Form::Gzip);
    assert_eq!(rest, ["--route", "debian"]);
    assert!(parse_args(&args(&["--form", "zip"])).is_err());
    assert!(parse_args(&args(&["--form"])).is_err());
}

/// A stand-in payload that reports how it was started: argv0's name, its arguments, its path.
const FAKE_BINARY: &[u8] = b"#!/bin/sh\necho \"argv0=${0##*/}\"\nfor a in \"$@\"; do echo \"arg=$a\"; done\necho \"exe=$(readlink -f \"$0\")\"\n";

fn wrapper_in(dir: &Path, payload: &[u8], install: &Path) -> std::path::PathBuf {
    let wrapper = dir.join(HOOK_NAME);
    let script = wrapper_script("9.9.9", payload, &install.to_string_lossy());
    write_executable(&wrapper, &script).unwrap();
    wrapper
}

/// Runs the wrapper just written, with its work directory beside it.
fn run(wrapper: &Path, arguments: &[&str]) -> std::process::Output {
    output_of_new_executable(
        Command::new(wrapper)
            .args(arguments)
            .env("TMPDIR", wrapper.parent().unwrap()),
    )
    .unwrap()
}

#[test]
fn the_wrapper_unpacks_and_runs_the_payload_as_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("phoenix-zfs");
    let wrapper = wrapper_in(dir.path(), &gzip(FAKE_BINARY).unwrap(), &install);
    let out = run(&wrapper, &["before-network", "two words"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!(
            "argv0=proxmox-first-boot\narg=before-network\narg=two words\nexe={}\n",
            install.canonicalize().unwrap().display()
        )
    );
    assert_eq!(fs::read(&install).unwrap(), FAKE_BINARY);
}

#[test]
fn the_wrapper_runs_from_its_work_directory_when_it_cannot_install() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("no-such-dir/phoenix-zfs");
    let wrapper = wrapper_in(dir.path(), &gzip(FAKE_BINARY).unwrap(), &install);
    let out = run(&wrapper, &["fully-up"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("argv0=proxmox-first-boot\narg=fully-up\nexe="),
        "{stdout}"
    );
    assert!(stdout.contains("/phoenix-zfs-hook."), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot install"));
}

#[test]
fn the_wrapper_refuses_a_damaged_payload() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("phoenix-zfs");
    let payload = gzip(FAKE_BINARY).unwrap();
    let wrapper = dir.path().join(HOOK_NAME);
    let mut script = wrapper_script("9.9.9", &payload, &install.to_string_lossy());
    let last = script.len() - 10;
    script[last] ^= 1;
    write_executable(&wrapper, &script).unwrap();
    let out = run(&wrapper, &["--version"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(!install.exists());
}

/// A stand-in for the binary: prints the version line `--version` prints, and fails otherwise.
const STAND_IN: &[u8] =
    b"#!/bin/sh\n[ \"$1\" = --version ] || exit 2\necho \"phoenix-zfs 9.9.9\"\necho \"argv0=${0##*/}\"\n";

/// The check `cargo xtask hook` runs on the gzip wrapper it ships, around a stand-in payload
/// (the static binary needs `cargo xtask dist`, which `cargo test` does not run; the hook task
/// runs this same check on the real one, and the QEMU scenarios 11 and 12 boot it): it unpacks
/// and runs the payload, and refuses the copy with one payload byte flipped.
#[test]
fn the_hook_check_runs_the_wrapper_and_sees_a_damaged_copy_refused() {
    let dir = tempfile::tempdir().unwrap();
    let payload = gzip(STAND_IN).unwrap();
    let line = check_wrapper("9.9.9", &payload, dir.path()).unwrap();
    assert_eq!(line, "phoenix-zfs 9.9.9");
    // check_wrapper leaves the damaged wrapper, and no binary it would have installed.
    assert!(!dir.path().join("phoenix-zfs").exists());
    let damaged = fs::read(dir.path().join(HOOK_NAME)).unwrap();
    assert_ne!(
        damaged,
        wrapper_script(
            "9.9.9",
            &payload,
            &dir.path().join("phoenix-zfs").to_string_lossy()
        )
    );
}

/// The check fails, saying so, when the payload does not run.
#[test]
fn the_hook_check_fails_on_a_payload_that_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let payload = gzip(b"#!/bin/sh\nexit 3\n").unwrap();
    let err = check_wrapper("9.9.9", &payload, dir.path()).unwrap_err();
    assert!(format!("{err:#}").contains("--version` failed"), "{err:#}");
}
