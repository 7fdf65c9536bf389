//! `cargo xtask hook`: the Proxmox first-boot hook, target/dist/proxmox-first-boot.
//!
//! The installer takes a hook of at most 1 MiB and runs it as `proxmox-first-boot ORDERING`.
//! The bare static binary ships when it fits with room to spare; otherwise a POSIX sh wrapper
//! carries it gzip-compressed, so that growing code never breaks the build. gzip, not xz:
//! gzip and coreutils (sha256sum, tail) are `Essential: yes` on Debian, so on every Proxmox
//! host, while xz-utils is only priority `standard` (the test guest, a minimal Debian, lacks it).

use crate::dist::{self, FIRST_BOOT_HOOK_LIMIT};
use crate::util::{self, workspace_root};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
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

const USAGE: &str = "\
usage: cargo xtask hook [--form auto|bare|gzip] [dist options]

  Builds target/dist/phoenix-zfs (`cargo xtask dist`), then writes the Proxmox first-boot hook
  target/dist/proxmox-first-boot (at most 1,048,576 bytes) and checks that it runs.
  --form auto   the bare binary when it fits with 32 KiB to spare, else the gzip wrapper (default)
  --form bare   the static binary itself
  --form gzip   a POSIX sh wrapper that checks, unpacks and runs the binary compressed with gzip -9
  Other options are passed to `cargo xtask dist`.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Auto,
    Bare,
    Gzip,
}

fn parse_args(args: &[String]) -> Result<(Form, Vec<String>)> {
    let mut form = Form::Auto;
    let mut dist_args = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--form" => {
                form = match args.next().map(String::as_str) {
                    Some("auto") => Form::Auto,
                    Some("bare") => Form::Bare,
                    Some("gzip") => Form::Gzip,
                    Some(other) => {
                        bail!("unknown form `{other}`: expected auto, bare or gzip\n{USAGE}")
                    }
                    None => bail!("--form needs a value\n{USAGE}"),
                }
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => dist_args.push(other.to_string()),
        }
    }
    Ok((form, dist_args))
}

/// Which form ships, given the bare binary's size.
fn choose(form: Form, bare_size: u64) -> Form {
    match form {
        Form::Auto if bare_size + BARE_SPARE <= FIRST_BOOT_HOOK_LIMIT => Form::Bare,
        Form::Auto => Form::Gzip,
        forced => forced,
    }
}

pub fn main(args: &[String]) -> Result<()> {
    let (form, dist_args) = parse_args(args)?;
    // The hook decides what fits, so dist must not fail on an oversized bare binary.
    dist::main_for_hook(&dist_args)?;

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
    if size > FIRST_BOOT_HOOK_LIMIT {
        bail!(
            "{} is {size} bytes, {} over the {FIRST_BOOT_HOOK_LIMIT}-byte first-boot hook limit \
             (bare binary {bare_size}, gzip wrapper {gzip_size}); prepare-iso would refuse it",
            hook.display(),
            size - FIRST_BOOT_HOOK_LIMIT
        );
    }
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
    let expected = format!("phoenix-zfs {version}");
    if version_line != expected {
        bail!("`{HOOK_NAME} --version` printed `{version_line}`, expected `{expected}`");
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

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    // -n: no name or time stamp in the header, so the same binary gives the same hook.
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start gzip")?;
    let mut stdin = child.stdin.take().context("gzip has no stdin")?;
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the thread feeding gzip panicked"))??;
    if !out.status.success() {
        bail!("gzip -9 failed: {}", out.status);
    }
    Ok(out.stdout)
}

/// The sh wrapper: a fixed script, then the gzip payload as its last `payload.len()` bytes.
///
/// On the host it checks the payload's sha256, unpacks it to `install_path` (or, when that
/// cannot be written, into its work directory) and execs it through a symlink named
/// proxmox-first-boot, so that the binary sees the hook's name as argv0 (dash has no `exec -a`)
/// and the same arguments.
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
work=$(mktemp -d "${{TMPDIR:-/tmp}}/phoenix-zfs-hook.XXXXXX") || {{ say "cannot make a work directory"; exit 1; }}
if ! tail -c {bytes} "$0" >"$work/payload.gz"; then
    say "cannot read the payload of $0"; rm -rf "$work"; exit 1
fi
if ! echo "{sha256}  $work/payload.gz" | sha256sum -c --status -; then
    say "the payload of $0 is damaged (its sha256 is not {sha256}); not running it"
    rm -rf "$work"; exit 1
fi
target={install_path}
if ! {{ gzip -dc "$work/payload.gz" >"$target.partial" && chmod 755 "$target.partial" && mv -f "$target.partial" "$target"; }} 2>/dev/null; then
    rm -f "$target.partial" 2>/dev/null
    target=$work/phoenix-zfs
    say "cannot install {install_path}; running from $target"
    if ! {{ gzip -dc "$work/payload.gz" >"$target" && chmod 755 "$target"; }}; then
        say "cannot unpack phoenix-zfs"; rm -rf "$work"; exit 1
    fi
fi
rm -f "$work/payload.gz"
# The symlink (and the binary when it could not be installed) stays in $work: exec replaces
# this shell, and the tmpfs is gone at the next boot.
ln -s "$target" "$work/$name" || {{ say "cannot link $work/$name"; exit 1; }}
exec "$work/$name" "$@"
exit 127
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
    let out = output_of_new_executable(
        Command::new(program)
            .arg("--version")
            .stderr(Stdio::inherit()),
    )
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

/// Runs the wrapper, installing into `scratch`: `--version` must work, and a wrapper with one
/// payload byte flipped must refuse to run. Returns what `--version` printed.
fn check_wrapper(version: &str, payload: &[u8], scratch: &Path) -> Result<String> {
    let installed = scratch.join("phoenix-zfs");
    let installed_text = installed.to_string_lossy().into_owned();
    let wrapper = scratch.join(HOOK_NAME);
    write_executable(&wrapper, &wrapper_script(version, payload, &installed_text))?;
    let line = run_version(&wrapper)?;
    if !installed.is_file() {
        bail!(
            "the wrapper did not unpack the binary to {}",
            installed.display()
        );
    }
    let mut damaged = payload.to_vec();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    fs::remove_file(&installed)?;
    write_executable(
        &wrapper,
        &wrapper_script(version, &damaged, &installed_text),
    )?;
    let out = output_of_new_executable(Command::new(&wrapper).arg("--version"))
        .with_context(|| format!("could not run {}", wrapper.display()))?;
    if out.status.success() || installed.exists() {
        bail!("the wrapper ran or installed a damaged payload");
    }
    Ok(line)
}

#[cfg(test)]
#[path = "hook_tests.rs"]
mod tests;
