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

/// Runs the wrapper just written. Another test's fork can still hold the file open for writing
/// (inherited between fork and exec), and exec then fails with ETXTBSY: that is tried again.
fn run(wrapper: &Path, arguments: &[&str]) -> std::process::Output {
    let mut busy = 0;
    loop {
        match Command::new(wrapper)
            .args(arguments)
            .env("TMPDIR", wrapper.parent().unwrap())
            .output()
        {
            Err(e) if e.raw_os_error() == Some(26) && busy < 100 => {
                // A retry of a transient error, not a wait for an event: the other child's exec
                // closes the inherited descriptor within milliseconds.
                busy += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            result => return result.unwrap(),
        }
    }
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

/// The real binary, when `cargo xtask dist` has built one: the wrapper around it must print its
/// version and refuse a damaged copy, exactly as `cargo xtask hook` checks it.
#[test]
fn the_wrapper_around_the_built_binary_runs_it() {
    let binary = workspace_root().join("target/dist/phoenix-zfs");
    let Ok(bytes) = fs::read(&binary) else {
        eprintln!("skipped: no {} (cargo xtask dist)", binary.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let version = package_version(&workspace_root()).unwrap();
    let line = check_wrapper(&version, &gzip(&bytes).unwrap(), dir.path()).unwrap();
    assert_eq!(line, format!("phoenix-zfs {version}"));
}
