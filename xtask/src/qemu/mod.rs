//! One QEMU machine: the cached guest kernel and root image (behind a throwaway qcow2 overlay),
//! emulated NVMe drives backed by sparse files, and extra virtio disks identified by serial.
//! Booting returns when the guest powers off or the host's time limit kills it.

pub mod boot_script;
pub mod checks;
pub mod demo;
#[cfg(test)]
mod first_boot_unit;
pub mod run;
pub mod scenario;
pub mod test;

use crate::guest::GuestImage;
use crate::util::{run, run_logged};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How the CPU is run. TCG everywhere; KVM only when asked for and /dev/kvm opens (nested KVM on
/// the project's build machines could not boot a Debian kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// An emulated NVMe controller with one namespace.
#[derive(Debug, Clone)]
pub struct NvmeDrive {
    pub serial: String,
    pub size_bytes: u64,
    /// 512, or 4096 for a 4Kn namespace (physical block size follows it).
    pub logical_block_size: u32,
    pub backing: PathBuf,
}

/// A virtio block device; in the guest it is /dev/disk/by-id/virtio-<serial>.
#[derive(Debug, Clone)]
pub struct VirtioDisk {
    pub serial: String,
    pub backing: PathBuf,
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub struct Machine {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// qcow2 overlay over the cached root.img; the guest's /dev/vda.
    pub root_overlay: PathBuf,
    /// Boot a live rescue system instead: this overlay (another copy of the image, serial
    /// phx-live) is the root, and the root overlay is attached after it as the installed
    /// system's disk (serial phx-root), as a rescue stick's system would find it.
    pub live_overlay: Option<PathBuf>,
    pub accel: Accel,
    pub cpus: u32,
    pub memory_mib: u32,
    pub nvme: Vec<NvmeDrive>,
    /// Attached after the root disk, in this order (/dev/vdb, /dev/vdc, ...).
    pub disks: Vec<VirtioDisk>,
    /// The serial console, for people debugging a run; nothing reads data from it.
    pub console_log: PathBuf,
    /// QEMU's own stdout and stderr.
    pub qemu_log: PathBuf,
    /// Kernel and systemd status messages on the console, for debugging a boot.
    pub verbose_console: bool,
    /// Appended to the kernel command line (scenario settings such as drive models).
    pub kernel_args: Vec<String>,
    /// The emulator started; the tests put a stand-in here that plays the guest's harness.
    pub program: PathBuf,
}

/// One boot that runs a script: what goes in, where its files and results go.
#[derive(Debug, Clone)]
pub struct ScriptRun<'a> {
    /// The files the guest's harness finds in /run/phx: (host path, name there). The one named
    /// `run` is the script it starts.
    pub files: &'a [(PathBuf, String)],
    /// Where the input tar and the results disk of this boot are made.
    pub dir: &'a Path,
    /// Where the guest's results are unpacked.
    pub out: &'a Path,
    /// Whether whatever `out` holds goes first (only once the guest has powered off, so that a
    /// failed boot leaves an earlier run's results in place).
    pub replace_out: bool,
    pub limit: Duration,
}

/// How a [`Machine::run_script`] boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptOutcome {
    /// The guest powered off and its results are unpacked.
    Results { elapsed: Duration },
    /// The guest powered off without writing results: it never got to the harness's end.
    NoResults { elapsed: Duration },
    /// The host killed QEMU after the time limit.
    TimedOut { limit: Duration },
}

/// Room for the results tar; sparse, so only what the guest writes takes host disk.
const RESULTS_DISK_BYTES: u64 = 1 << 30;
const INPUT_SERIAL: &str = "phx-input";
const RESULTS_SERIAL: &str = "phx-results";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootOutcome {
    /// QEMU exited by itself (the guest powered off, or panicked with -no-reboot).
    Exited { elapsed: Duration },
    /// The host killed QEMU after the time limit.
    TimedOut { limit: Duration },
}

/// Kernel command line: console on the serial port for the log, and a panic ends the machine
/// at once (with -no-reboot) instead of waiting for the host's time limit.
const KERNEL_ARGS: &str = "rw console=ttyS0 panic=1 mitigations=off";
/// The installed system's root; a live system's copy carries the same label, so it is named by
/// its disk's serial instead.
const INSTALLED_ROOT: &str = "root=LABEL=root";
const LIVE_ROOT: &str = "root=/dev/disk/by-id/virtio-phx-live";
/// Added unless the console is wanted verbose: a quiet console boots a little faster.
const QUIET_ARGS: &str = "quiet loglevel=4";
const VERBOSE_ARGS: &str = "systemd.show_status=1";

impl Machine {
    /// A machine over `image` whose run files live in `run_dir`, with no drives yet.
    pub fn new(image: &GuestImage, run_dir: &Path, accel: Accel) -> Result<Machine> {
        let root_overlay = run_dir.join("root-overlay.qcow2");
        run_logged(
            Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                .arg(&image.root_img)
                .arg(&root_overlay),
        )?;
        Ok(Machine {
            kernel: image.kernel.clone(),
            initrd: image.initrd.clone(),
            root_overlay,
            live_overlay: None,
            accel,
            cpus: 2,
            memory_mib: 2048,
            nvme: Vec::new(),
            disks: Vec::new(),
            console_log: run_dir.join("console.log"),
            qemu_log: run_dir.join("qemu.log"),
            verbose_console: false,
            kernel_args: Vec::new(),
            program: PathBuf::from("qemu-system-x86_64"),
        })
    }

    /// Makes the next boots those of a live rescue system (see `live_overlay`): a second overlay
    /// over the same image, made once in `run_dir`. `None` boots the installed system again.
    pub fn set_live_system(&mut self, image: Option<&GuestImage>, run_dir: &Path) -> Result<()> {
        let Some(image) = image else {
            self.live_overlay = None;
            return Ok(());
        };
        let overlay = run_dir.join("live-overlay.qcow2");
        if !overlay.exists() {
            run_logged(
                Command::new("qemu-img")
                    .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
                    .arg(&image.root_img)
                    .arg(&overlay),
            )?;
        }
        self.live_overlay = Some(overlay);
        Ok(())
    }

    /// Adds an NVMe drive backed by a new sparse file in `dir`.
    pub fn add_nvme(
        &mut self,
        dir: &Path,
        serial: &str,
        size_bytes: u64,
        logical_block_size: u32,
    ) -> Result<()> {
        if logical_block_size != 512 && logical_block_size != 4096 {
            bail!(
                "NVMe drive {serial}: logical block size {logical_block_size} is not 512 or 4096"
            );
        }
        if size_bytes == 0 || !size_bytes.is_multiple_of(u64::from(logical_block_size)) {
            bail!("NVMe drive {serial}: size {size_bytes} is not a positive multiple of its {logical_block_size}-byte blocks");
        }
        check_serial(serial)?;
        let backing = dir.join(format!("nvme-{serial}.raw"));
        create_sparse(&backing, size_bytes)?;
        self.nvme.push(NvmeDrive {
            serial: serial.to_string(),
            size_bytes,
            logical_block_size,
            backing,
        });
        Ok(())
    }

    /// Adds a virtio disk over an existing raw file.
    pub fn add_disk(&mut self, serial: &str, backing: &Path, read_only: bool) -> Result<()> {
        check_serial(serial)?;
        self.disks.push(VirtioDisk {
            serial: serial.to_string(),
            backing: backing.to_path_buf(),
            read_only,
        });
        Ok(())
    }

    pub fn qemu_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |s: String| args.push(OsString::from(s));
        match self.accel {
            Accel::Tcg => {
                push("-accel".into());
                push("tcg,thread=multi".into());
                push("-cpu".into());
                push("max".into());
            }
            Accel::Kvm => {
                push("-accel".into());
                push("kvm".into());
                push("-cpu".into());
                push("host".into());
            }
        }
        for arg in [
            "-machine",
            "q35",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-vga",
            "none",
            "-nic",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ] {
            push(arg.into());
        }
        push("-smp".into());
        push(self.cpus.to_string());
        push("-m".into());
        push(self.memory_mib.to_string());
        push("-serial".into());
        push(format!("file:{}", self.console_log.display()));
        push("-kernel".into());
        push(self.kernel.display().to_string());
        push("-initrd".into());
        push(self.initrd.display().to_string());
        push("-append".into());
        let extra = if self.verbose_console {
            VERBOSE_ARGS
        } else {
            QUIET_ARGS
        };
        let root = if self.live_overlay.is_some() {
            LIVE_ROOT
        } else {
            INSTALLED_ROOT
        };
        let mut append = format!("{root} {KERNEL_ARGS} {extra}");
        for arg in &self.kernel_args {
            append.push(' ');
            append.push_str(arg);
        }
        push(append);
        let live = self.live_overlay.iter().map(|l| (l, "live"));
        for (overlay, id) in live.chain([(&self.root_overlay, "root")]) {
            push("-drive".into());
            push(format!(
                "file={},if=none,id={id},format=qcow2,discard=unmap",
                drive_path(overlay)
            ));
            push("-device".into());
            push(format!("virtio-blk-pci,drive={id},serial=phx-{id}"));
        }
        for (i, disk) in self.disks.iter().enumerate() {
            let ro = if disk.read_only { ",readonly=on" } else { "" };
            push("-drive".into());
            push(format!(
                "file={},if=none,id=disk{i},format=raw{ro}",
                drive_path(&disk.backing)
            ));
            push("-device".into());
            push(format!(
                "virtio-blk-pci,drive=disk{i},serial={}",
                disk.serial
            ));
        }
        for (i, drive) in self.nvme.iter().enumerate() {
            let lbs = drive.logical_block_size;
            push("-drive".into());
            push(format!(
                "file={},if=none,id=nvme{i},format=raw,discard=unmap",
                drive_path(&drive.backing)
            ));
            push("-device".into());
            push(format!(
                "nvme,serial={},drive=nvme{i},logical_block_size={lbs},physical_block_size={lbs}",
                drive.serial
            ));
        }
        args
    }

    /// The one way a script runs in the guest, for every task that boots: the files go in on a
    /// read-only virtio disk holding a tar archive (serial phx-input), the results come back on
    /// a second one (serial phx-results) that the guest's harness writes a tar archive onto, and
    /// are unpacked into `run.out`. The console is only a log for people. Both disks come after
    /// any other disk of the machine and replace those of an earlier boot.
    pub fn run_script(&mut self, run: &ScriptRun) -> Result<ScriptOutcome> {
        let input = run.dir.join("input.tar");
        write_input_tar(&input, run.files)?;
        let results = run.dir.join("results.img");
        create_sparse(&results, RESULTS_DISK_BYTES)?;
        self.disks
            .retain(|disk| disk.serial != INPUT_SERIAL && disk.serial != RESULTS_SERIAL);
        self.add_disk(INPUT_SERIAL, &input, true)?;
        self.add_disk(RESULTS_SERIAL, &results, false)?;
        let elapsed = match self.boot(run.limit)? {
            BootOutcome::TimedOut { limit } => return Ok(ScriptOutcome::TimedOut { limit }),
            BootOutcome::Exited { elapsed } => elapsed,
        };
        if run.replace_out && run.out.exists() {
            std::fs::remove_dir_all(run.out)
                .with_context(|| format!("could not remove {}", run.out.display()))?;
        }
        Ok(if unpack_results(&results, run.out)? {
            ScriptOutcome::Results { elapsed }
        } else {
            ScriptOutcome::NoResults { elapsed }
        })
    }

    /// Boots and waits until QEMU exits or `limit` passes; then QEMU is killed.
    pub fn boot(&self, limit: Duration) -> Result<BootOutcome> {
        if self.accel == Accel::Kvm {
            File::options()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .context(
                    "KVM was asked for but /dev/kvm cannot be opened; run without --kvm to use TCG",
                )?;
        }
        let log = File::create(&self.qemu_log)
            .with_context(|| format!("could not create {}", self.qemu_log.display()))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(self.qemu_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        eprintln!(
            "xtask: booting the guest (console: {})",
            self.console_log.display()
        );
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .context("could not start qemu-system-x86_64 (is qemu-system-x86 installed?)")?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(limit) {
            Ok(status) => {
                let status = status.context("waiting for qemu-system-x86_64 failed")?;
                let _ = waiter.join();
                if !status.success() {
                    bail!(
                        "qemu-system-x86_64 failed ({status}); its messages are in {}:\n{}",
                        self.qemu_log.display(),
                        std::fs::read_to_string(&self.qemu_log)
                            .unwrap_or_default()
                            .trim_end()
                    );
                }
                Ok(BootOutcome::Exited {
                    elapsed: start.elapsed(),
                })
            }
            Err(_) => {
                // The waiter has not reaped the child, so the pid still names our QEMU.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                let _ = waiter.join();
                Ok(BootOutcome::TimedOut { limit })
            }
        }
    }
}

/// A sparse raw file of exactly `size` bytes (what `truncate -s` makes).
pub fn create_sparse(path: &Path, size: u64) -> Result<()> {
    let file =
        File::create(path).with_context(|| format!("could not create {}", path.display()))?;
    file.set_len(size)
        .with_context(|| format!("could not size {} to {size} bytes", path.display()))
}

/// The input disk: a tar of `files` (host path, name in /run/phx), padded to whole MiB.
fn write_input_tar(tar_path: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    let staging = tar_path.with_extension("staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for (file, name) in files {
        std::fs::copy(file, staging.join(name))
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(staging.join("run"), std::fs::Permissions::from_mode(0o755))?;
    run(Command::new("tar")
        .arg("-cf")
        .arg(tar_path)
        .arg("-C")
        .arg(&staging)
        .arg("."))?;
    std::fs::remove_dir_all(&staging)?;
    let len = std::fs::metadata(tar_path)?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(tar_path)?
        .set_len(len.div_ceil(1 << 20).max(1) << 20)?;
    Ok(())
}

/// Unpacks what the guest wrote onto the results disk; an untouched (all-zero) disk means the
/// guest never got that far.
fn unpack_results(results: &Path, out: &Path) -> Result<bool> {
    let mut head = [0u8; 512];
    std::fs::File::open(results)?.read_exact(&mut head)?;
    if head.iter().all(|&b| b == 0) {
        return Ok(false);
    }
    std::fs::create_dir_all(out)?;
    run(Command::new("tar")
        .arg("-xf")
        .arg(results)
        .arg("-C")
        .arg(out))?;
    Ok(true)
}

/// QEMU's -drive option list uses commas as separators; a comma in a path is written twice.
fn drive_path(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Serials end up inside QEMU option lists and udev link names: keep them plain.
fn check_serial(serial: &str) -> Result<()> {
    let ok = !serial.is_empty()
        && serial.len() <= 20
        && serial
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        bail!("drive serial `{serial}` must be 1 to 20 characters of A-Z, a-z, 0-9, `-`, `_`, `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/initrd.img".into(),
            root_overlay: "/r/root-overlay.qcow2".into(),
            live_overlay: None,
            accel: Accel::Tcg,
            cpus: 2,
            memory_mib: 2048,
            nvme: vec![NvmeDrive {
                serial: "S4KN0001".into(),
                size_bytes: 4096 * 1024,
                logical_block_size: 4096,
                backing: "/r/a,b.raw".into(),
            }],
            disks: vec![VirtioDisk {
                serial: "phx-input".into(),
                backing: "/r/in.img".into(),
                read_only: true,
            }],
            console_log: "/r/console.log".into(),
            qemu_log: "/r/qemu.log".into(),
            verbose_console: false,
            kernel_args: Vec::new(),
            program: "qemu-system-x86_64".into(),
        }
    }

    /// A stand-in for QEMU that does what the guest's harness does with the two disks: unpacks
    /// the input tar, "runs" the script (copies it to `ran`, status 0) and writes the results
    /// tar onto the results disk; `silent` writes nothing, `hang` never powers off.
    fn fake_qemu(dir: &Path, behaviour: &str) -> PathBuf {
        let program = dir.join(format!("fake-qemu-{behaviour}"));
        let script = format!(
            r#"#!/bin/sh
set -eu
for arg in "$@"; do
    case "$arg" in
        file=*input.tar,*) input=${{arg#file=}}; input=${{input%%,*}} ;;
        file=*results.img,*) results=${{arg#file=}}; results=${{results%%,*}} ;;
    esac
done
case {behaviour} in
    hang) exec sleep 30 ;;
    silent) exit 0 ;;
esac
work=$(mktemp -d)
mkdir "$work/in" "$work/out"
tar -xf "$input" -C "$work/in"
cp "$work/in/run" "$work/out/ran"
echo 0 > "$work/out/run.status"
tar -cf "$results" -C "$work/out" .
rm -rf "$work"
"#
        );
        std::fs::write(&program, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    fn machine_in(dir: &Path, behaviour: &str) -> Machine {
        let mut m = machine();
        m.nvme.clear();
        m.disks = vec![VirtioDisk {
            serial: "extra".into(),
            backing: dir.join("extra.raw"),
            read_only: false,
        }];
        m.console_log = dir.join("console.log");
        m.qemu_log = dir.join("qemu.log");
        m.program = fake_qemu(dir, behaviour);
        m
    }

    #[test]
    fn run_script_sends_the_files_in_and_unpacks_the_results_of_every_boot() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "#!/bin/sh\necho hello\n").unwrap();
        let files = [(script.clone(), "run".to_string())];
        let mut m = machine_in(dir.path(), "harness");
        for boot in ["boot-1", "boot-2"] {
            let boot_dir = dir.path().join(boot);
            std::fs::create_dir_all(&boot_dir).unwrap();
            let out = boot_dir.join("results");
            let outcome = m
                .run_script(&ScriptRun {
                    files: &files,
                    dir: &boot_dir,
                    out: &out,
                    replace_out: false,
                    limit: Duration::from_secs(60),
                })
                .unwrap();
            assert!(
                matches!(outcome, ScriptOutcome::Results { .. }),
                "{outcome:?}"
            );
            assert_eq!(
                std::fs::read_to_string(out.join("ran")).unwrap(),
                "#!/bin/sh\necho hello\n"
            );
            assert_eq!(
                std::fs::read_to_string(out.join("run.status")).unwrap(),
                "0\n"
            );
            // The input tar is padded to whole MiB, a valid block device size.
            assert_eq!(
                std::fs::metadata(boot_dir.join("input.tar")).unwrap().len(),
                1 << 20
            );
            let serials: Vec<&str> = m.disks.iter().map(|d| d.serial.as_str()).collect();
            assert_eq!(serials, ["extra", "phx-input", "phx-results"]);
            assert!(m.disks[1].read_only && !m.disks[2].read_only);
            assert_eq!(m.disks[2].backing, boot_dir.join("results.img"));
        }
    }

    #[test]
    fn run_script_tells_no_results_and_a_timeout_apart() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let files = [(script, "run".to_string())];
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("earlier"), "kept").unwrap();
        let run = |behaviour: &str, limit: Duration| {
            machine_in(dir.path(), behaviour)
                .run_script(&ScriptRun {
                    files: &files,
                    dir: dir.path(),
                    out: &out,
                    replace_out: true,
                    limit,
                })
                .unwrap()
        };
        assert!(matches!(
            run("silent", Duration::from_secs(60)),
            ScriptOutcome::NoResults { .. }
        ));
        assert!(!out.exists(), "an exited boot replaces the earlier results");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("earlier"), "kept").unwrap();
        let limit = Duration::from_secs(1);
        assert_eq!(run("hang", limit), ScriptOutcome::TimedOut { limit });
        assert!(
            out.join("earlier").exists(),
            "a killed boot leaves earlier results alone"
        );
    }

    #[test]
    fn a_live_boot_roots_on_the_live_copy_and_attaches_the_installed_disk_after_it() {
        let mut m = machine();
        let joined = |m: &Machine| {
            m.qemu_args()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(joined(&m).contains("root=LABEL=root rw"));
        m.live_overlay = Some("/r/live-overlay.qcow2".into());
        let args = joined(&m);
        assert!(
            args.contains("root=/dev/disk/by-id/virtio-phx-live rw"),
            "{args}"
        );
        let live = args.find("serial=phx-live").unwrap();
        let installed = args.find("serial=phx-root").unwrap();
        assert!(live < installed && installed < args.find("serial=phx-input").unwrap());
    }

    #[test]
    fn nvme_4kn_and_virtio_serials_reach_the_command_line() {
        let args: Vec<String> = machine()
            .qemu_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-accel tcg,thread=multi -cpu max"));
        assert!(joined.contains(
            "nvme,serial=S4KN0001,drive=nvme0,logical_block_size=4096,physical_block_size=4096"
        ));
        assert!(joined.contains("file=/r/a,,b.raw,if=none,id=nvme0"));
        assert!(joined.contains("file=/r/in.img,if=none,id=disk0,format=raw,readonly=on"));
        assert!(joined.contains("virtio-blk-pci,drive=disk0,serial=phx-input"));
        assert!(joined.contains("-no-reboot"));
        // The root disk comes first so that it is /dev/vda.
        let root = joined.find("serial=phx-root").unwrap_or(usize::MAX);
        let input = joined.find("serial=phx-input").unwrap_or(0);
        assert!(root < input);
    }

    #[test]
    fn serials_with_option_separators_are_refused() {
        assert!(check_serial("S2TA0001").is_ok());
        assert!(check_serial("a,b").is_err());
        assert!(check_serial("").is_err());
        assert!(check_serial("x=1").is_err());
    }
}
