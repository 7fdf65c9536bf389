//! `cargo xtask hook`: the Proxmox first-boot hook, target/dist/proxmox-first-boot.
//!
//! The installer takes a hook of at most 1 MiB and runs it as `proxmox-first-boot ORDERING`.
//! The bare static binary ships when it fits with room to spare; otherwise a POSIX sh wrapper
//! carries it gzip-compressed, so that growing code never breaks the build. gzip, not xz:
//! gzip and coreutils (sha256sum, tail) are `Essential: yes` on Debian, so on every Proxmox
//! host, while xz-utils is only priority `standard` (the test guest, a minimal Debian, lacks it).

use crate::dist::{self, FIRST_BOOT_HOOK_LIMIT};
use crate::flags::{Form, HookOptions};
use crate::util::{self, workspace_root};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The bare binary ships only with this much of the limit left, so that the next few
/// features do not silently switch the form at an inconvenient moment.
const BARE_SPARE: u64 = 32 * 1024;
/// Where the wrapper unpacks the binary on the host: where `phoenix-zfs firstboot` installs
/// itself anyway, so the later self-install finds itself already in place.
const INSTALLED_BINARY: &str = "/usr/local/sbin/phoenix-zfs";
const HOOK_NAME: &str = "proxmox-first-boot";

/// What the project allows the hook of the installer's 1 MiB: the rest is room to grow.
pub const HOOK_BUDGET: u64 = 640 * 1024;

/// Fails when the hook is over [`HOOK_BUDGET`] (or the installer's limit), saying by how much.
fn within_budget(size: u64, bare_size: u64, gzip_size: u64) -> Result<()> {
    if size > FIRST_BOOT_HOOK_LIMIT {
        bail!(
            "the hook is {size} bytes, {} over the {FIRST_BOOT_HOOK_LIMIT}-byte first-boot hook \
             limit (bare binary {bare_size}, gzip wrapper {gzip_size}); prepare-iso would refuse it",
            size - FIRST_BOOT_HOOK_LIMIT
        );
    }
    if size > HOOK_BUDGET {
        bail!(
            "the hook is {size} bytes, {} over this project's budget of {HOOK_BUDGET} bytes \
             (640 KiB of the installer's 1 MiB; bare binary {bare_size}, gzip wrapper \
             {gzip_size}): shrink the program (BENCHMARKS.md, \"Binary size\", says where the \
             bytes go and which levers were tried)",
            size - HOOK_BUDGET
        );
    }
    Ok(())
}

/// Which form ships, given the bare binary's size.
fn choose(form: Form, bare_size: u64) -> Form {
    match form {
        Form::Auto if bare_size + BARE_SPARE <= FIRST_BOOT_HOOK_LIMIT => Form::Bare,
        Form::Auto => Form::Gzip,
        forced => forced,
    }
}

/// `cargo xtask hook`.
pub fn build(options: &HookOptions) -> Result<()> {
    let form = options.form;
    // The hook decides what fits, so dist must not fail on an oversized bare binary.
    dist::build_for_hook(&options.dist)?;

    let workspace = workspace_root();
    let dist_dir = workspace.join("target/dist");
    let binary_path = dist_dir.join("phoenix-zfs");
    let binary = fs::read(&binary_path)
        .with_context(|| format!("could not read {}", binary_path.display()))?;
    let version = package_version(&workspace)?;
    let compressed = gzip(&binary)?;
    let wrapper = wrapper_script(&version, &compressed, INSTALLED_BINARY);
    let bare_size = binary.len() as u64;
    let gzip_size = wrapper.len() as u64;

    let chosen = choose(form, bare_size);
    let (bytes, why) = match (form, chosen) {
        (Form::Auto, Form::Bare) => (&binary, "the bare binary fits with 32 KiB to spare"),
        (Form::Auto, _) => (
            &wrapper,
            "the bare binary does not fit with 32 KiB to spare",
        ),
        (_, Form::Bare) => (&binary, "--form bare"),
        _ => (&wrapper, "--form gzip"),
    };
    let hook = dist_dir.join(HOOK_NAME);
    write_executable(&hook, bytes)?;

    let size = bytes.len() as u64;
    within_budget(size, bare_size, gzip_size).with_context(|| hook.display().to_string())?;
    let static_kind = util::output(
        Command::new("file")
            .args(["-b"])
            .arg(&binary_path)
            .env("LC_ALL", "C"),
    )?;
    if !static_kind.contains("statically linked") {
        bail!(
            "`file` does not call {} static: {static_kind}",
            binary_path.display()
        );
    }
    let version_line = match chosen {
        Form::Bare => run_version(&hook)?,
        // The shipped wrapper would unpack into /usr/local/sbin of this build machine; a copy
        // differing only in that path runs here instead.
        _ => {
            let scratch = scratch_dir(&dist_dir)?;
            let result = check_wrapper(&version, &compressed, &scratch);
            fs::remove_dir_all(&scratch).ok();
            result?
        }
    };
    if !is_version_line(&version_line, &version) {
        bail!("`{HOOK_NAME} --version` printed `{version_line}`, expected `phoenix-zfs {version} (COMMIT, layout sha256:HEX)`");
    }

    let form_name = if chosen == Form::Bare {
        "bare static binary"
    } else {
        "gzip wrapper (POSIX sh)"
    };
    let sha256 = Sha256::digest(bytes);
    println!("hook: {}", hook.display());
    println!("  form:     {form_name} ({why})");
    println!(
        "  size:     {size} bytes ({:.1} % of the {FIRST_BOOT_HOOK_LIMIT}-byte limit, {} to spare)",
        size as f64 * 100.0 / FIRST_BOOT_HOOK_LIMIT as f64,
        FIRST_BOOT_HOOK_LIMIT - size
    );
    println!("  bare:     {bare_size} bytes; gzip wrapper: {gzip_size} bytes");
    println!(
        "  kind:     {}",
        if chosen == Form::Bare {
            static_kind.trim()
        } else {
            "POSIX shell script with a gzip payload"
        }
    );
    println!("  runs:     `{HOOK_NAME} --version` printed `{version_line}`");
    println!("  sha256:   {sha256:x}");
    Ok(())
}

/// Whether `line` is what `--version` of phoenix-zfs `version` prints: the name and version,
/// then the commit and the default layout's digest in parentheses (build.rs).
pub(crate) fn is_version_line(line: &str, version: &str) -> bool {
    match line.strip_prefix(&format!("phoenix-zfs {version}")) {
        Some(rest) => rest.is_empty() || (rest.starts_with(" (") && rest.ends_with(')')),
        None => false,
    }
}

/// The `version` of the phoenix-zfs package, which its `--version` prints.
fn package_version(workspace: &Path) -> Result<String> {
    let manifest = fs::read_to_string(workspace.join("Cargo.toml"))?;
    let parsed: toml::Table = toml::from_str(&manifest).context("Cargo.toml is not TOML")?;
    parsed
        .get("package")
        .and_then(|package| package.get("version"))
        .and_then(|version| version.as_str())
        .map(str::to_string)
        .context("Cargo.toml has no package.version")
}

/// The binary in the gzip format, deflated by zopfli: `gzip -dc` unpacks it like any gzip file,
/// and it is about 4 % smaller than `gzip -9`'s. The header has no name or time stamp, so the
/// same binary gives the same hook.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )
    .context("zopfli could not compress the binary")?;
    Ok(out)
}

/// The sh wrapper: a fixed script, then the gzip payload as its last `payload.len()` bytes.
///
/// On the host it checks the payload's sha256, unpacks it to `install_path` (or, when that
/// cannot be written, into its work directory) and runs it through a symlink named
/// proxmox-first-boot, so that the binary sees the hook's name as argv0 (dash has no `exec -a`)
/// and the same arguments. Started with `--help` or `--version` (`-h`, `-V`), which only ask
/// about the program, it runs the binary from its work directory and installs nothing.
///
/// It leaves nothing behind. The payload is checked and unpacked through pipes, so the work
/// directory holds only that symlink and, when the install failed, the binary; the script runs
/// the binary as its child instead of exec'ing it, and removes the directory when it exits, on
/// success, failure or a signal (HUP, INT, TERM; stopping the unit signals the binary too, as
/// systemd's default KillMode=control-group signals every process of the unit). What no trap
/// can cover (SIGKILL, a power cut) the choice of place covers: the work directory is in /run,
/// which systemd mounts as a tmpfs at every boot (Proxmox VE runs systemd), and not in /tmp,
/// which on a Proxmox host is often the root file system's directory and outlives the boot.
/// A caller's TMPDIR wins over /run, which the tests use, and /tmp is the last resort when /run
/// is not a writable directory (not on a Proxmox host; the trap still cleans it).
fn wrapper_script(version: &str, payload: &[u8], install_path: &str) -> Vec<u8> {
    let sha256 = format!("{:x}", Sha256::digest(payload));
    let bytes = payload.len();
    let script = format!(
        r#"#!/bin/sh
# Proxmox first-boot hook: phoenix-zfs {version}, gzip-compressed to fit the installer's 1 MiB
# limit. Written by `cargo xtask hook`; the compressed binary is the last {bytes} bytes.
set -u
name={HOOK_NAME}
say() {{ echo "$name: $*" >&2; }}
# Checked through a pipe, so that no copy of the payload needs a place or a clean-up.
sum=$(tail -c {bytes} "$0" | sha256sum) || {{ say "cannot read the payload of $0"; exit 1; }}
if [ "${{sum%% *}}" != "{sha256}" ]; then
    say "the payload of $0 is damaged (its sha256 is not {sha256}); not running it"
    exit 1
fi
# /run is a tmpfs on every systemd host, so even a work directory no trap removed (SIGKILL, a
# power cut) is gone at the next boot; /tmp on a Proxmox host often is not.
if [ -n "${{TMPDIR:-}}" ]; then base=$TMPDIR
elif [ -d /run ] && [ -w /run ]; then base=/run
else base=/tmp
fi
work=
cleanup() {{ if [ -n "$work" ]; then rm -rf "$work"; fi; }}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
work=$(mktemp -d "$base/phoenix-zfs-hook.XXXXXX") || {{ work=; say "cannot make a work directory in $base"; exit 1; }}
target={install_path}
# Asked for its help or version, the binary answers from $work: nothing is installed.
case ${{1:-}} in
-h|--help|-V|--version) target= ;;
esac
# gzip checks the unpacked data against the CRC in the payload, so a payload that changed
# since the check above fails here.
if [ -z "$target" ] || ! {{ tail -c {bytes} "$0" | gzip -dc >"$target.partial" && chmod 755 "$target.partial" && mv -f "$target.partial" "$target"; }} 2>/dev/null; then
    if [ -n "$target" ]; then
        rm -f "$target.partial" 2>/dev/null
        say "cannot install {install_path}; running from $work/phoenix-zfs"
    fi
    target=$work/phoenix-zfs
    if ! {{ tail -c {bytes} "$0" | gzip -dc >"$target" && chmod 755 "$target"; }}; then
        say "cannot unpack phoenix-zfs into $work"; exit 1
    fi
fi
ln -s "$target" "$work/$name" || {{ say "cannot link $work/$name"; exit 1; }}
# A child, not exec: this shell stays to remove $work when the binary exits.
"$work/$name" "$@"
status=$?
exit $status
"#
    );
    let mut out = script.into_bytes();
    out.extend_from_slice(payload);
    out
}

fn write_executable(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_file_name(format!(
        ".{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    fs::write(&partial, bytes).with_context(|| format!("could not write {}", partial.display()))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o755))?;
    fs::rename(&partial, path).with_context(|| format!("could not write {}", path.display()))
}

/// The first line `FILE --version` prints.
fn run_version(program: &Path) -> Result<String> {
    run_version_with(Command::new(program).arg("--version"), program)
}

/// The first line a `--version` command of `program` prints.
fn run_version_with(command: &mut Command, program: &Path) -> Result<String> {
    let out = output_of_new_executable(command.stderr(Stdio::inherit()))
        .with_context(|| format!("could not run {}", program.display()))?;
    if !out.status.success() {
        bail!("`{} --version` failed: {}", program.display(), out.status);
    }
    let out = String::from_utf8_lossy(&out.stdout);
    Ok(out.lines().next().unwrap_or_default().trim().to_string())
}

/// Runs a program this process has just written. In a process with threads (the test harness)
/// another thread's child can still hold the file open for writing between its fork and its exec,
/// inherited, and exec then fails with ETXTBSY: that transient error is tried again.
fn output_of_new_executable(command: &mut Command) -> std::io::Result<std::process::Output> {
    const ETXTBSY: i32 = 26;
    let mut busy = 0;
    loop {
        match command.output() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && busy < 100 => {
                // A retry of a transient error, not a wait for an event: the other child's exec
                // closes the inherited descriptor within milliseconds.
                busy += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            result => return result,
        }
    }
}

fn scratch_dir(parent: &Path) -> Result<std::path::PathBuf> {
    let dir = parent.join(format!(".hook-check-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// What is in `dir` besides `expected`, by name: what a run of the wrapper left behind.
fn left_behind(dir: &Path, expected: &[&str]) -> Result<Vec<String>> {
    let mut left = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !expected.contains(&name.as_str()) {
            left.push(name);
        }
    }
    left.sort();
    Ok(left)
}

/// Runs the wrapper, with its install path and its work directory (TMPDIR) in `scratch`, so
/// that this check touches neither /usr/local/sbin nor /run of the build machine: `--version`
/// must work and leave nothing behind, not even an installed binary, and a wrapper with one
/// payload byte flipped must refuse to run. Returns what `--version` printed.
fn check_wrapper(version: &str, payload: &[u8], scratch: &Path) -> Result<String> {
    let installed = scratch.join("phoenix-zfs");
    let installed_text = installed.to_string_lossy().into_owned();
    let wrapper = scratch.join(HOOK_NAME);
    write_executable(&wrapper, &wrapper_script(version, payload, &installed_text))?;
    let line = run_version_with(
        Command::new(&wrapper)
            .arg("--version")
            .env("TMPDIR", scratch),
        &wrapper,
    )?;
    let left = left_behind(scratch, &[HOOK_NAME])?;
    if !left.is_empty() {
        bail!(
            "the wrapper left {} behind in {}: `--version` installs nothing, and its work \
             directory must go when it exits",
            left.join(", "),
            scratch.display()
        );
    }
    let mut damaged = payload.to_vec();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    write_executable(
        &wrapper,
        &wrapper_script(version, &damaged, &installed_text),
    )?;
    let out = output_of_new_executable(
        Command::new(&wrapper)
            .arg("--version")
            .env("TMPDIR", scratch),
    )
    .with_context(|| format!("could not run {}", wrapper.display()))?;
    if out.status.success() || installed.exists() {
        bail!("the wrapper ran or installed a damaged payload");
    }
    Ok(line)
}

#[cfg(test)]
#[path = "hook_tests.rs"]
mod tests;
