//! `pvesm status`: one line per storage, as PVE/CLI/pvesm.pm's print_status formats it.

use phoenix_zfs::formats::proxmox::storage_cfg::Section;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub storage: String,
    pub kind: String,
    pub enabled: bool,
    pub active: bool,
    /// Bytes.
    pub total: u64,
    pub used: u64,
    pub avail: u64,
}

impl StatusRow {
    /// A storage that could not be asked: what Proxmox shows when activation fails.
    pub fn inactive(section: &Section) -> StatusRow {
        StatusRow {
            storage: section.id.clone(),
            kind: section.kind.clone(),
            enabled: section.get("disable").is_none_or(|d| d == "0"),
            active: false,
            total: 0,
            used: 0,
            avail: 0,
        }
    }
}

pub fn format(rows: &[StatusRow]) -> String {
    let width = rows.iter().map(|r| r.storage.len()).max().unwrap_or(0) + 1;
    let mut out = format!(
        "{:<width$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}\n",
        "Name", "Type", "Status", "Total (KiB)", "Used (KiB)", "Available (KiB)", "%"
    );
    let mut sorted: Vec<&StatusRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.storage.cmp(&b.storage));
    for r in sorted {
        let (status, percent) = if !r.enabled {
            ("disabled", format!("{:>8}", "N/A"))
        } else {
            let per = if r.total > 0 {
                r.used as f64 * 100.0 / r.total as f64
            } else {
                0.0
            };
            (
                if r.active { "active" } else { "inactive" },
                format!("{per:>7.2}%"),
            )
        };
        out.push_str(&format!(
            "{:<width$} {:>10} {:>10} {:>15} {:>15} {:>15} {percent}\n",
            r.storage,
            r.kind,
            status,
            r.total / 1024,
            r.used / 1024,
            r.avail / 1024
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_print_status() {
        let rows = [
            StatusRow {
                storage: "local".into(),
                kind: "dir".into(),
                enabled: true,
                active: true,
                total: 100 * 1024,
                used: 25 * 1024,
                avail: 75 * 1024,
            },
            StatusRow {
                storage: "backups".into(),
                kind: "dir".into(),
                enabled: false,
                active: false,
                total: 0,
                used: 0,
                avail: 0,
            },
        ];
        assert_eq!(
            format(&rows),
            "Name           Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %\n\
             backups         dir   disabled               0               0               0      N/A\n\
             local           dir     active             100              25              75   25.00%\n"
        );
    }
}
