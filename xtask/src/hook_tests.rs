//! Tests of hook.rs: which form ships, and the gzip wrapper run as Proxmox runs the hook.

use super::*;

#[test]
fn the_bare_binary_ships_only_with_32_kib_to_spare() {
    let limit = FIRST_BOOT_HOOK_LIMIT;
    assert_eq!(choose(Form::Auto, 880_000), Form::Bare);
    assert_eq!(choose(Form::Auto, limit - BARE_SPARE), Form::Bare);
    assert_eq!(choose(Form::Auto, limit - BARE_SPARE + 1), Form::Gzip);
    assert_eq!(choose(Form::Bare, limit + 1), Form::Bare);
    assert_eq!(choose(Form::Gzip, 1000), Form::Gzip);
}

/// A stand-in payload that reports how it was started: argv0's name, its arguments, its path.
const FAKE_BINARY: &[u8] = b"#!/bin/sh\necho \"argv0=${0##*/}\"\nfor a in \"$@\"; do echo \"arg=$a\"; done\necho \"exe=$(readlink -f \"$0\")\"\n";

fn wrapper_in(dir: &Path, payload: &[u8], install: &Path) -> std::path::PathBuf {
    let wrapper = dir.join(HOOK_NAME);
    let script = wrapper_script("9.9.9", payload, &install.to_string_lossy());
    write_executable(&wrapper, &script).unwrap();
    wrapper
}

/// The TMPDIR the tests give the wrapper: a directory of its own beside it, so that whatever
/// the wrapper leaves there is what it left behind.
fn tmp_of(wrapper: &Path) -> std::path::PathBuf {
    let tmp = wrapper.parent().unwrap().join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// Runs the wrapper just written, with its work directory in `tmp_of(wrapper)`.
fn run(wrapper: &Path, arguments: &[&str]) -> std::process::Output {
    output_of_new_executable(
        Command::new(wrapper)
            .args(arguments)
            .env("TMPDIR", tmp_of(wrapper)),
    )
    .unwrap()
}

/// Nothing is left in the wrapper's TMPDIR after a run.
fn assert_nothing_left(wrapper: &Path) {
    let left = left_behind(&tmp_of(wrapper), &[]).unwrap();
    assert!(left.is_empty(), "the wrapper left {left:?} behind");
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
    assert_nothing_left(&wrapper);
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
    // The binary it ran from its work directory went with that directory.
    assert_nothing_left(&wrapper);
}

/// `--help` and `--version` only ask about the program: the binary answers them, as the hook and
/// with the same argument, from the work directory, and nothing is installed or left behind.
#[test]
fn the_wrapper_answers_help_and_version_without_installing() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("phoenix-zfs");
    let wrapper = wrapper_in(dir.path(), &gzip(FAKE_BINARY).unwrap(), &install);
    for asking in ["--help", "-h", "--version", "-V"] {
        let out = run(&wrapper, &[asking]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{asking}: {stdout}{stderr}");
        assert!(
            stdout.starts_with(&format!("argv0=proxmox-first-boot\narg={asking}\nexe=")),
            "{asking}: {stdout}"
        );
        assert!(stdout.contains("/phoenix-zfs-hook."), "{asking}: {stdout}");
        assert!(stderr.is_empty(), "{asking}: {stderr}");
        assert!(!install.exists(), "{asking} installed the binary");
        assert_nothing_left(&wrapper);
    }
    // An ordering after them is still the hook's run, and installs.
    assert!(run(&wrapper, &["fully-up"]).status.success());
    assert_eq!(fs::read(&install).unwrap(), FAKE_BINARY);
}

/// A payload that fails: its exit status is the hook's (the installer's unit keeps the flag
/// file for another run only on a non-zero status), and the work directory is gone all the same.
#[test]
fn the_wrapper_passes_on_a_failure_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for install in [
        dir.path().join("phoenix-zfs"),
        dir.path().join("no-such-dir/phoenix-zfs"),
    ] {
        let payload = gzip(b"#!/bin/sh\necho unfinished >&2\nexit 3\n").unwrap();
        let wrapper = wrapper_in(dir.path(), &payload, &install);
        let out = run(&wrapper, &["fully-up"]);
        assert_eq!(out.status.code(), Some(3), "{}", install.display());
        assert_nothing_left(&wrapper);
    }
}

/// A TERM to the wrapper (as when the unit is stopped; systemd signals the binary too) still
/// removes the work directory, once the binary has exited. The payload signals its parent, the
/// wrapper, itself: no timing is involved.
#[test]
fn the_wrapper_leaves_nothing_when_it_is_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("no-such-dir/phoenix-zfs");
    let payload = gzip(b"#!/bin/sh\nkill -TERM $PPID\nexit 0\n").unwrap();
    let wrapper = wrapper_in(dir.path(), &payload, &install);
    let out = run(&wrapper, &["fully-up"]);
    assert_eq!(out.status.code(), Some(143));
    assert_nothing_left(&wrapper);
}

/// Without a TMPDIR the work directory is in /run, the tmpfs systemd mounts at every boot, so
/// that even a run no trap cleans up after (SIGKILL, a power cut) leaves nothing past the boot.
#[test]
fn the_wrapper_works_in_run_without_a_tmpdir() {
    if nix::unistd::access("/run", nix::unistd::AccessFlags::W_OK).is_err() {
        eprintln!("skipped: /run is not writable here, so the wrapper would use /tmp");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("no-such-dir/phoenix-zfs");
    let wrapper = wrapper_in(dir.path(), &gzip(FAKE_BINARY).unwrap(), &install);
    let out = output_of_new_executable(Command::new(&wrapper).arg("fully-up").env_remove("TMPDIR"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let exe = stdout.lines().last().unwrap().strip_prefix("exe=").unwrap();
    assert!(exe.starts_with("/run/phoenix-zfs-hook."), "{stdout}");
    let work = Path::new(exe).parent().unwrap();
    assert!(!work.exists(), "{} is left behind", work.display());
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
    assert_nothing_left(&wrapper);
}

#[test]
fn the_version_line_may_carry_the_commit_and_layout_digest_but_not_another_version() {
    for line in [
        "phoenix-zfs 9.9.9",
        "phoenix-zfs 9.9.9 (6057323993df, layout sha256:764aad7e39f4)",
        "phoenix-zfs 9.9.9 (unknown, layout sha256:764aad7e39f4)",
    ] {
        assert!(is_version_line(line, "9.9.9"), "{line}");
    }
    for line in [
        "phoenix-zfs 9.9.90",
        "phoenix-zfs 9.9.9-dirty",
        "phoenix-zfs 9.9.9 (unterminated",
        "phoenix-zfs 1.0.0 (abc, layout sha256:0)",
        "other 9.9.9",
        "",
    ] {
        assert!(!is_version_line(line, "9.9.9"), "{line}");
    }
}

/// A stand-in for the binary: prints the version line `--version` prints, and fails otherwise.
const STAND_IN: &[u8] =
    b"#!/bin/sh\n[ \"$1\" = --version ] || exit 2\necho \"phoenix-zfs 9.9.9 (0123456789ab, layout sha256:0123456789ab)\"\necho \"argv0=${0##*/}\"\n";

/// The check `cargo xtask hook` runs on the gzip wrapper it ships, around a stand-in payload
/// (the static binary needs `cargo xtask dist`, which `cargo test` does not run; the hook task
/// runs this same check on the real one, and the QEMU scenarios 11 and 12 boot it): it unpacks
/// and runs the payload, and refuses the copy with one payload byte flipped.
#[test]
fn the_hook_check_runs_the_wrapper_and_sees_a_damaged_copy_refused() {
    let dir = tempfile::tempdir().unwrap();
    let payload = gzip(STAND_IN).unwrap();
    let line = check_wrapper("9.9.9", &payload, dir.path()).unwrap();
    assert_eq!(
        line,
        "phoenix-zfs 9.9.9 (0123456789ab, layout sha256:0123456789ab)"
    );
    assert!(is_version_line(&line, "9.9.9"));
    // check_wrapper leaves the damaged wrapper, and no binary it would have installed, nor
    // anything of the wrapper's work directories.
    assert!(!dir.path().join("phoenix-zfs").exists());
    assert_eq!(
        left_behind(dir.path(), &[HOOK_NAME]).unwrap(),
        Vec::<String>::new()
    );
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

#[test]
fn a_hook_over_the_budget_fails_the_build_and_says_by_how_much() {
    assert!(within_budget(HOOK_BUDGET, 1, 1).is_ok());
    let over = within_budget(HOOK_BUDGET + 1, 1_321_344, HOOK_BUDGET + 1).unwrap_err();
    let said = over.to_string();
    assert!(
        said.contains("1 over this project's budget of 655360 bytes"),
        "{said}"
    );
    let refused = within_budget(FIRST_BOOT_HOOK_LIMIT + 5, 1, 1).unwrap_err();
    assert!(refused
        .to_string()
        .contains("5 over the 1048576-byte first-boot hook limit"));
}

#[test]
fn the_payload_is_gzip_that_gzip_unpacks() {
    let binary: Vec<u8> = (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let packed = gzip(&binary).unwrap();
    assert!(packed.len() < binary.len() / 4);
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked, binary);
}
