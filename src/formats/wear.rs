//! NVMe wear: the health baseline of a drive from `smartctl -j -a /dev/nvmeX`, and the verdict
//! that refuses a drive the controller itself reports as degraded or read-only.
//!
//! smartctl (7.0 and later) writes the NVMe SMART / Health Information log page as
//! `nvme_smart_health_information_log` with the field names of smartmontools' nvmeprint.cpp
//! (print_smart_log). 128-bit counters are written as plain numbers, plus a `_s` string twin
//! when they exceed 2^53; anything beyond 64 bits is refused here as an error, not wrapped.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `-B /dev/null`: an empty drive database in place of the default one. That database (ATA
/// presets, USB bridges) has nothing for an NVMe controller, and parsing
/// /var/lib/smartmontools/drivedb/drivedb.h was about half of each smartctl's time in the QEMU
/// guest, for the same JSON (docs/facts.md; the timings: BENCHMARKS.md).
pub fn smartctl_argv(controller: &str) -> Vec<String> {
    ["smartctl", "-j", "-a", "-B", "/dev/null", controller]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// One drive's health as the controller reports it, at one point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WearBaseline {
    /// Vendor estimate of life used; may exceed 100.
    pub percentage_used: u8,
    /// Spare capacity left, percent.
    pub available_spare: u8,
    /// Below this `available_spare`, the controller raises critical warning bit 0.
    pub available_spare_threshold: u8,
    /// In units of 1000 sectors of 512 bytes (512,000 bytes), as NVMe counts.
    pub data_units_written: u64,
    pub media_errors: u64,
    /// Bit field: 0x01 spare below threshold, 0x02 temperature, 0x04 reliability degraded,
    /// 0x08 media read-only, 0x10 volatile memory backup failed, 0x20 persistent memory region.
    pub critical_warning: u8,
    pub power_on_hours: u64,
    pub unsafe_shutdowns: u64,
}

pub const CRITICAL_RELIABILITY_DEGRADED: u8 = 0x04;
pub const CRITICAL_MEDIA_READ_ONLY: u8 = 0x08;

/// Why a drive must not become a pool member, by its own controller's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WearRefusal {
    /// The controller put the media into read-only mode: writes will fail.
    MediaReadOnly,
    /// The controller reports the NVM subsystem's reliability as degraded (media or internal
    /// errors): the failure mode of the 980 PRO / 990 PRO firmware cases.
    ReliabilityDegraded,
}

impl WearRefusal {
    pub fn describe(&self) -> &'static str {
        match self {
            WearRefusal::MediaReadOnly => "media placed in read-only mode",
            WearRefusal::ReliabilityDegraded => "NVM subsystem reliability degraded",
        }
    }
}

impl WearBaseline {
    /// The reasons to refuse this drive as a pool member; empty when there are none.
    pub fn refusals(&self) -> Vec<WearRefusal> {
        let mut reasons = Vec::new();
        if self.critical_warning & CRITICAL_MEDIA_READ_ONLY != 0 {
            reasons.push(WearRefusal::MediaReadOnly);
        }
        if self.critical_warning & CRITICAL_RELIABILITY_DEGRADED != 0 {
            reasons.push(WearRefusal::ReliabilityDegraded);
        }
        reasons
    }

    /// Bytes written by the host, from `data_units_written`.
    pub fn bytes_written(&self) -> u128 {
        u128::from(self.data_units_written) * 512_000
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WearError {
    #[error("smartctl JSON, line {line} column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("smartctl printed no NVMe health log for {device} (protocol {protocol}){said}: is this an NVMe drive, and did smartctl run as root?")]
    NoHealthLog {
        device: String,
        protocol: String,
        /// smartctl's own error messages, if any, prefixed for the sentence above.
        said: String,
    },
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    device: Device,
    #[serde(default)]
    smartctl: Smartctl,
    nvme_smart_health_information_log: Option<WearBaseline>,
}

#[derive(Deserialize, Default)]
struct Device {
    #[serde(default)]
    name: String,
    #[serde(default)]
    protocol: String,
}

#[derive(Deserialize, Default)]
struct Smartctl {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    string: String,
}

/// The baseline from `smartctl -j -a` (or `-x`) output. smartctl's exit status is a bit field
/// that is non-zero for mere warnings, so callers parse the output whatever the status was.
pub fn parse_smartctl(json: &str) -> Result<WearBaseline, WearError> {
    let report: Report = serde_json::from_str(json).map_err(|e| WearError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    report.nvme_smart_health_information_log.ok_or_else(|| {
        let messages: Vec<&str> = report
            .smartctl
            .messages
            .iter()
            .map(|m| m.string.as_str())
            .collect();
        WearError::NoHealthLog {
            device: non_empty(report.device.name, "the device"),
            protocol: non_empty(report.device.protocol, "unknown"),
            said: if messages.is_empty() {
                String::new()
            } else {
                format!("; smartctl said: {}", messages.join("; "))
            },
        }
    })
}

fn non_empty(s: String, fallback: &str) -> String {
    if s.is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_warning(critical_warning: u8) -> WearBaseline {
        WearBaseline {
            percentage_used: 0,
            available_spare: 100,
            available_spare_threshold: 10,
            data_units_written: 0,
            media_errors: 0,
            critical_warning,
            power_on_hours: 0,
            unsafe_shutdowns: 0,
        }
    }

    #[test]
    fn only_read_only_and_degraded_refuse() {
        assert!(with_warning(0).refusals().is_empty());
        assert!(with_warning(0x01 | 0x02 | 0x10 | 0x20)
            .refusals()
            .is_empty());
        assert_eq!(
            with_warning(0x04).refusals(),
            [WearRefusal::ReliabilityDegraded]
        );
        assert_eq!(
            with_warning(0x0c).refusals(),
            [WearRefusal::MediaReadOnly, WearRefusal::ReliabilityDegraded]
        );
    }

    #[test]
    fn counters_beyond_64_bits_are_an_error() {
        let json = r#"{"nvme_smart_health_information_log":{"critical_warning":0,"available_spare":100,"available_spare_threshold":10,"percentage_used":0,"data_units_written":340282366920938463463374607431768211455,"power_on_hours":1,"unsafe_shutdowns":0,"media_errors":0}}"#;
        assert!(matches!(parse_smartctl(json), Err(WearError::Json { .. })));
    }

    #[test]
    fn a_missing_log_says_what_smartctl_said() {
        let json = r#"{"smartctl":{"messages":[{"string":"Smartctl open device: /dev/nvme0 failed: Permission denied","severity":"error"}],"exit_status":2},"device":{"name":"/dev/nvme0","protocol":"NVMe"}}"#;
        let err = parse_smartctl(json).unwrap_err().to_string();
        assert!(
            err.contains("/dev/nvme0") && err.contains("Permission denied"),
            "{err}"
        );
    }

    #[test]
    fn bytes_written_do_not_overflow() {
        let mut b = with_warning(0);
        b.data_units_written = u64::MAX;
        assert_eq!(b.bytes_written(), u128::from(u64::MAX) * 512_000);
    }
}
