//! The `zfs` command: argv for creating and setting datasets, and the parser of
//! `zfs list -H -p -o name,type`.

use serde::{Deserialize, Serialize};

use super::error::{numbered_lines, ParseError};
use super::property::PROPERTY_COLUMNS;
use super::zpool::{join_names, strings};

/// The `-o` columns of `zfs list` that [`parse_zfs_list`] reads, in this order.
pub const DATASET_LIST_COLUMNS: &str = "name,type";

/// What kind of dataset a name denotes (the `type` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetType {
    Filesystem,
    Volume,
    Snapshot,
    Bookmark,
}

impl DatasetType {
    /// The word `zfs` uses for this type, in `-t` and in the `type` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetType::Filesystem => "filesystem",
            DatasetType::Volume => "volume",
            DatasetType::Snapshot => "snapshot",
            DatasetType::Bookmark => "bookmark",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        [
            DatasetType::Filesystem,
            DatasetType::Volume,
            DatasetType::Snapshot,
            DatasetType::Bookmark,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == word)
    }
}

/// One dataset as `zfs list -H -p -o name,type` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetRow {
    pub name: String,
    pub kind: DatasetType,
}

/// `zfs create -o K=V... DATASET`: every property in the one command, so the dataset never
/// exists without them (a recordsize set later would not apply to data already written).
pub fn zfs_create(dataset: &str, props: &[(String, String)]) -> Vec<String> {
    let mut argv = strings(&["zfs", "create"]);
    for (name, value) in props {
        argv.push("-o".to_string());
        argv.push(format!("{name}={value}"));
    }
    argv.push(dataset.to_string());
    argv
}

/// `zfs set K=V... DATASET`: several properties in one command; `props` must not be empty.
pub fn zfs_set(dataset: &str, props: &[(String, String)]) -> Vec<String> {
    let mut argv = strings(&["zfs", "set"]);
    argv.extend(props.iter().map(|(name, value)| format!("{name}={value}")));
    argv.push(dataset.to_string());
    argv
}

/// `zfs list -H -p -o name,type [-t TYPE,...] -r ROOT...`: the datasets under `roots` (all
/// datasets when `roots` is empty), of the given types (zfs's default, file systems and volumes,
/// when `types` is empty). Read by [`parse_zfs_list`].
pub fn zfs_list_argv<S: AsRef<str>>(roots: &[S], types: &[DatasetType]) -> Vec<String> {
    let mut argv = strings(&["zfs", "list", "-H", "-p", "-o", DATASET_LIST_COLUMNS]);
    push_types(&mut argv, types);
    if !roots.is_empty() {
        argv.push("-r".to_string());
    }
    argv.extend(roots.iter().map(|root| root.as_ref().to_string()));
    argv
}

/// `zfs get -H -p -o name,property,value,source [-r] [-t TYPE,...] PROP,... DATASET...`, read by
/// [`super::parse_property_table`]. Pass `types` (e.g. file systems and volumes) with
/// `recursive` so a walk never descends into snapshots.
pub fn zfs_get_argv<P: AsRef<str>, S: AsRef<str>>(
    props: &[P],
    datasets_or_roots: &[S],
    recursive: bool,
    types: &[DatasetType],
) -> Vec<String> {
    let mut argv = strings(&["zfs", "get", "-H", "-p", "-o", PROPERTY_COLUMNS]);
    if recursive {
        argv.push("-r".to_string());
    }
    push_types(&mut argv, types);
    argv.push(join_names(props));
    argv.extend(
        datasets_or_roots
            .iter()
            .map(|name| name.as_ref().to_string()),
    );
    argv
}

fn push_types(argv: &mut Vec<String>, types: &[DatasetType]) {
    if types.is_empty() {
        return;
    }
    argv.push("-t".to_string());
    argv.push(
        types
            .iter()
            .map(|kind| kind.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
}

/// Parses `zfs list -H -p -o name,type`.
pub fn parse_zfs_list(output: &str) -> Result<Vec<DatasetRow>, ParseError> {
    numbered_lines(output)
        .map(|(number, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, kind] = fields[..] else {
                return Err(ParseError::at(
                    number,
                    line,
                    "2 tab-separated fields (name, type)",
                    fields.len().to_string(),
                ));
            };
            if name.is_empty() {
                return Err(ParseError::at(
                    number,
                    line,
                    "a dataset name in the first field",
                    "an empty field",
                ));
            }
            let kind = DatasetType::from_word(kind).ok_or_else(|| {
                ParseError::at(
                    number,
                    line,
                    "a type (filesystem, volume, snapshot or bookmark)",
                    format!("`{kind}`"),
                )
            })?;
            Ok(DatasetRow {
                name: name.to_string(),
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_puts_every_property_in_one_command() {
        let argv = zfs_create(
            "quickOS/shared-prod-data-sync",
            &props(&[("recordsize", "16K"), ("sync", "always"), ("quota", "100G")]),
        );
        assert_eq!(
            argv.join(" "),
            "zfs create -o recordsize=16K -o sync=always -o quota=100G quickOS/shared-prod-data-sync"
        );
    }

    #[test]
    fn set_several_properties() {
        assert_eq!(
            zfs_set(
                "fastData/shared-iso",
                &props(&[("quota", "100G"), ("compression", "lz4")])
            )
            .join(" "),
            "zfs set quota=100G compression=lz4 fastData/shared-iso"
        );
    }

    #[test]
    fn observation_commands_name_types_and_roots() {
        let fs_and_volumes = [DatasetType::Filesystem, DatasetType::Volume];
        assert_eq!(
            zfs_list_argv(&["quickOS", "fastData"], &fs_and_volumes).join(" "),
            "zfs list -H -p -o name,type -t filesystem,volume -r quickOS fastData"
        );
        assert_eq!(
            zfs_get_argv(&["recordsize", "quota"], &["quickOS"], true, &fs_and_volumes).join(" "),
            "zfs get -H -p -o name,property,value,source -r -t filesystem,volume recordsize,quota quickOS"
        );
        assert_eq!(
            zfs_get_argv(&["quota"], &["quickOS/vm-disks"], false, &[]).join(" "),
            "zfs get -H -p -o name,property,value,source quota quickOS/vm-disks"
        );
    }

    #[test]
    fn list_rows_and_errors() {
        let rows = parse_zfs_list("quickOS\tfilesystem\nquickOS/vm-disks/vm-100-disk-0\tvolume\n")
            .unwrap();
        assert_eq!(rows[1].kind, DatasetType::Volume);
        let error = parse_zfs_list("quickOS\tfilesystem\nquickOS\tfs\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: expected a type (filesystem, volume, snapshot or bookmark), found `fs`: `quickOS\\tfs`"
        );
        assert!(parse_zfs_list("quickOS\n").is_err());
        assert!(parse_zfs_list("quickOS\tfilesystem\textra\n").is_err());
        assert!(parse_zfs_list("\tfilesystem\n").is_err());
    }
}
