//! The command line, read as pvesm reads it (PVE::CLIHandler with PVE::JSONSchema::get_options
//! over Getopt::Long): `--key value` or `--key=value` anywhere among the positional arguments,
//! a boolean's value optional, `content` and `nodes` repeatable (their values are joined with
//! commas).

use crate::failure::Failure;
use crate::options::{known, Known, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Add {
        kind: String,
        id: String,
        options: Vec<(String, String)>,
    },
    Set {
        id: String,
        options: Vec<(String, String)>,
    },
    Status,
    Help,
}

pub const HELP: &str = "\
pvesm-standin: a STAND-IN for Proxmox VE's `pvesm`, for test machines where Proxmox VE cannot
be installed. It is not Proxmox's program. It reads and writes storage.cfg in Proxmox's format
and accepts only this part of pvesm's documented syntax:

  pvesm add zfspool <storage> --pool <pool/dataset> [--content images,rootdir] [--sparse [1|0]]
                              [--blocksize <size>] [--mountpoint <path>] [--nodes <nodes>]
                              [--disable [1|0]]
  pvesm add dir <storage> --path <path> [--content <types>] [--is_mountpoint <yes|no|path>]
                          [--create-base-path [1|0]] [--create-subdirs [1|0]]
                          [--prune-backups <keep-...>] [--shared [1|0]] [--nodes <nodes>]
                          [--disable [1|0]]
  pvesm set <storage> [any of the options above except pool and path]
  pvesm status

Anything else is refused, with Proxmox's wording where Proxmox would refuse it too.

environment:
  PVESM_STANDIN_CONFIG   storage.cfg to use instead of /etc/pve/storage.cfg
";

/// Usage lines as PVE::RESTHandler prints them after a parameter exception.
pub fn usage_line(args: &[String]) -> &'static str {
    match args.first().map(String::as_str) {
        Some("add") => "pvesm add <type> <storage> [OPTIONS]",
        Some("set") => "pvesm set <storage> [OPTIONS]",
        _ => "pvesm status [OPTIONS]",
    }
}

pub fn parse(args: &[String]) -> Result<Request, Failure> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Request::Help);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Request::Help),
        "status" => {
            let (positional, options) = split(rest, false)?;
            if let Some((key, _)) = options.first() {
                return Err(Failure::StandIn(format!(
                    "`pvesm status --{key}` is not implemented by this stand-in"
                )));
            }
            if !positional.is_empty() {
                return Err(Failure::Usage("too many arguments".into()));
            }
            Ok(Request::Status)
        }
        "add" => {
            let (positional, options) = split(rest, false)?;
            match positional.as_slice() {
                [kind, id] => Ok(Request::Add {
                    kind: kind.to_string(),
                    id: id.to_string(),
                    options,
                }),
                [_, _, _, ..] => Err(Failure::Usage("too many arguments".into())),
                _ => Err(Failure::Usage("not enough arguments".into())),
            }
        }
        "set" => {
            let (positional, options) = split(rest, true)?;
            match positional.as_slice() {
                [id] => Ok(Request::Set {
                    id: id.to_string(),
                    options,
                }),
                [] => Err(Failure::Usage("not enough arguments".into())),
                _ => Err(Failure::Usage("too many arguments".into())),
            }
        }
        other => Err(Failure::UnknownCommand(other.to_string())),
    }
}

type Split<'a> = (Vec<&'a str>, Vec<(String, String)>);

fn split(args: &[String], updating: bool) -> Result<Split<'_>, Failure> {
    let mut positional = Vec::new();
    let mut options: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            positional.push(arg.as_str());
            continue;
        };
        let (key, inline) = match name.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (name, None),
        };
        let kind = known(key);
        match kind {
            Known::Unknown if updating && matches!(key, "delete" | "digest") => {
                return Err(Failure::StandIn(format!(
                    "`pvesm set --{key}` is not implemented by this stand-in"
                )))
            }
            // Proxmox's update schema leaves out `path`: fixed in every type that has it.
            Known::Unknown => return Err(Failure::UnknownOption(key.to_string())),
            _ if updating && key == "path" => return Err(Failure::UnknownOption(key.to_string())),
            _ => {}
        }
        let optional_value = kind == Known::Implemented(Value::Boolean);
        let value = match inline {
            Some(v) => v,
            None => match args.get(i) {
                Some(next) if !(optional_value && next.starts_with('-')) => {
                    i += 1;
                    next.clone()
                }
                _ if optional_value => String::new(),
                _ => return Err(Failure::Usage("unable to parse option".into())),
            },
        };
        match options.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) if matches!(key, "content" | "nodes") => {
                existing.push(',');
                existing.push_str(&value);
            }
            Some((_, existing)) => *existing = value,
            None => options.push((key.to_string(), value)),
        }
    }
    Ok((positional, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn reads_add_with_options_anywhere() {
        let r = parse(&args(
            "add --content images zfspool vm --pool tank/vm --sparse --blocksize=16k",
        ))
        .unwrap();
        assert_eq!(
            r,
            Request::Add {
                kind: "zfspool".into(),
                id: "vm".into(),
                options: vec![
                    ("content".into(), "images".into()),
                    ("pool".into(), "tank/vm".into()),
                    ("sparse".into(), "".into()),
                    ("blocksize".into(), "16k".into()),
                ],
            }
        );
    }

    #[test]
    fn repeated_content_is_joined() {
        let r = parse(&args("set iso --content iso --content vztmpl")).unwrap();
        assert_eq!(
            r,
            Request::Set {
                id: "iso".into(),
                options: vec![("content".into(), "iso,vztmpl".into())],
            }
        );
    }

    #[test]
    fn refuses_like_pvesm() {
        assert_eq!(
            parse(&args("add dir x --bogus 1")),
            Err(Failure::UnknownOption("bogus".into()))
        );
        assert_eq!(
            parse(&args("set x --path /a")),
            Err(Failure::UnknownOption("path".into()))
        );
        assert_eq!(
            parse(&args("add dir")),
            Err(Failure::Usage("not enough arguments".into()))
        );
        assert_eq!(
            parse(&args("add dir a b")),
            Err(Failure::Usage("too many arguments".into()))
        );
        assert_eq!(
            parse(&args("add dir a --path")),
            Err(Failure::Usage("unable to parse option".into()))
        );
        assert_eq!(
            parse(&args("remove a")),
            Err(Failure::UnknownCommand("remove".into()))
        );
    }
}
