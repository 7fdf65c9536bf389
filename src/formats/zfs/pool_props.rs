//! Pool properties of several pools at once, as columns of `zpool list -H -p -o name,PROP,...`.
//!
//! Not `zpool get`: since OpenZFS 2.2, `zpool get PROPS POOL WORD...` takes the words after the
//! first pool as vdevs of it whenever they are not all imported pools, so one missing pool turns
//! the whole query into a usage error. `zpool list` skips a missing pool with "cannot open 'X':
//! no such pool" and lists the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{numbered_lines, ParseError};
use super::zpool::strings;

/// One pool's row: its name and each asked property's value as `-p` prints it ("-" for none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolProperties {
    pub name: String,
    pub values: BTreeMap<String, String>,
}

impl PoolProperties {
    /// The value of one property, if it was asked for.
    pub fn value(&self, property: &str) -> Option<&str> {
        self.values.get(property).map(String::as_str)
    }
}

/// `zpool list -H -p -o name,PROP,... POOL...`, read by [`parse_zpool_list_props`] with the
/// same `props`. With no pools it lists every imported pool.
pub fn zpool_list_props_argv<P: AsRef<str>, S: AsRef<str>>(
    props: &[P],
    pools: &[S],
) -> Vec<String> {
    let mut argv = strings(&["zpool", "list", "-H", "-p", "-o"]);
    let columns: Vec<&str> = std::iter::once("name")
        .chain(props.iter().map(AsRef::as_ref))
        .collect();
    argv.push(columns.join(","));
    argv.extend(pools.iter().map(|pool| pool.as_ref().to_string()));
    argv
}

/// Parses the output of [`zpool_list_props_argv`] called with these `props`.
pub fn parse_zpool_list_props<P: AsRef<str>>(
    output: &str,
    props: &[P],
) -> Result<Vec<PoolProperties>, ParseError> {
    let names: Vec<&str> = props.iter().map(AsRef::as_ref).collect();
    numbered_lines(output)
        .map(|(number, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, values @ ..] = &fields[..] else {
                return Err(ParseError::at(number, line, "a pool name", "nothing"));
            };
            if values.len() != names.len() {
                return Err(ParseError::at(
                    number,
                    line,
                    format!(
                        "{} tab-separated fields (name, {})",
                        names.len() + 1,
                        names.join(", ")
                    ),
                    fields.len().to_string(),
                ));
            }
            if name.is_empty() {
                return Err(ParseError::at(
                    number,
                    line,
                    "a pool name in the first field",
                    "an empty field",
                ));
            }
            Ok(PoolProperties {
                name: name.to_string(),
                values: names
                    .iter()
                    .zip(values)
                    .map(|(property, value)| (property.to_string(), value.to_string()))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_name() {
        assert_eq!(
            zpool_list_props_argv(&["ashift", "autotrim", "guid"], &["quickOS", "fastData"])
                .join(" "),
            "zpool list -H -p -o name,ashift,autotrim,guid quickOS fastData"
        );
    }

    #[test]
    fn rows_by_property() {
        let props = ["ashift", "autotrim", "guid"];
        let pools = parse_zpool_list_props(
            "fastData\t12\ton\t13879196670207654616\nquickOS\t12\toff\t6718951398331228127\n",
            &props,
        )
        .unwrap();
        assert_eq!(pools[1].name, "quickOS");
        assert_eq!(pools[1].value("autotrim"), Some("off"));
        assert_eq!(pools[0].value("guid"), Some("13879196670207654616"));
        assert_eq!(pools[0].value("size"), None);
    }

    #[test]
    fn wrong_field_count_and_empty_name() {
        let error = parse_zpool_list_props("quickOS\t12\n", &["ashift", "autotrim"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: expected 3 tab-separated fields (name, ashift, autotrim), found 2: `quickOS\\t12`"
        );
        assert!(parse_zpool_list_props("\t12\n", &["ashift"]).is_err());
        assert!(parse_zpool_list_props("quickOS\n", &["ashift"]).is_err());
        assert_eq!(
            parse_zpool_list_props("quickOS\n", &[] as &[&str]).unwrap()[0].name,
            "quickOS"
        );
    }
}
