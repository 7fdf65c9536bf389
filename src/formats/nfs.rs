//! NFS exports through the `sharenfs` property, to the host's management network.
//!
//! Three pure steps, each fed by the caller: the default route's interface from
//! /proc/net/route, that interface's IPv4 network from `ip -j addr show dev IFACE` (iproute2),
//! and the `sharenfs` value of each exported dataset. The value uses the option syntax of
//! OpenZFS's Linux libshare (lib/libshare/os/linux/nfs.c in 2.3; libzfs_share_nfs.c later):
//! comma-separated exports(5) options, `rw=` taking hosts separated by `:`, an IPv4 network as
//! `@ADDR/LEN` (the `@` is Solaris' network marker, stripped on Linux) and an IPv6 network as
//! `[ADDR]/LEN`. Only the keys that file lists are accepted by `zfs share`.

use crate::layout::{Layout, NfsExport, NfsSettings};
use nom::bytes::complete::{take_till1, take_while_m_n};
use nom::character::complete::{digit1, space1};
use nom::combinator::{map_res, rest};
use nom::{IResult, Parser};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use thiserror::Error;

pub const ROUTE_TABLE: &str = "/proc/net/route";

/// `ip -j addr show dev IFACE`: what [`interface_network`] reads.
pub fn ip_addr_argv(interface: &str) -> Vec<String> {
    ["ip", "-j", "addr", "show", "dev", interface]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// An IP network with its host bits zeroed, as exports(5) and `sharenfs` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Network {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

impl Network {
    /// The network holding `addr`, host bits zeroed; None for a prefix longer than the address.
    pub fn containing(addr: IpAddr, prefix: u8) -> Option<Network> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Some(Network::V4(Ipv4Addr::from(u32::from(a) & mask), prefix))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Some(Network::V6(Ipv6Addr::from(u128::from(a) & mask), prefix))
            }
            _ => None,
        }
    }

    /// The host specification `sharenfs` takes in `rw=`.
    pub fn sharenfs_host(&self) -> String {
        match self {
            Network::V4(a, p) => format!("@{a}/{p}"),
            Network::V6(a, p) => format!("[{a}]/{p}"),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::V4(a, p) => write!(f, "{a}/{p}"),
            Network::V6(a, p) => write!(f, "{a}/{p}"),
        }
    }
}

impl From<Network> for String {
    fn from(n: Network) -> String {
        n.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a network: use ADDRESS/PREFIX, such as 192.0.2.0/24 or fd00::/64")]
pub struct NetworkSyntaxError(pub String);

impl FromStr for Network {
    type Err = NetworkSyntaxError;

    fn from_str(s: &str) -> Result<Network, NetworkSyntaxError> {
        let bad = || NetworkSyntaxError(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Network::containing(addr, prefix).ok_or_else(bad)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    #[error("/proc/net/route line {line}: expected {expected}\n  | {text}")]
    Syntax {
        line: usize,
        text: String,
        expected: &'static str,
    },
    #[error("/proc/net/route has no default IPv4 route: the network is not up (or has no default route; then set `[nfs] network` in the layout to the network the exports are for)")]
    NoDefaultRoute,
}

struct Route<'a> {
    interface: &'a str,
    destination: u32,
    flags: u32,
    metric: u32,
    mask: u32,
}

const RTF_UP: u32 = 0x0001;

fn hex_u32(input: &str) -> IResult<&str, u32> {
    map_res(take_while_m_n(1, 8, |c: char| c.is_ascii_hexdigit()), |h| {
        u32::from_str_radix(h, 16)
    })
    .parse(input)
}

fn field(input: &str) -> IResult<&str, &str> {
    take_till1(char::is_whitespace).parse(input)
}

/// `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`, whitespace apart.
fn route_row(line: &str) -> IResult<&str, Route<'_>> {
    (
        field,
        (space1, hex_u32, space1, hex_u32, space1, hex_u32),
        (space1, digit1, space1, digit1),
        (space1, map_res(digit1, str::parse::<u32>), space1, hex_u32),
        rest,
    )
        .map(
            |(interface, (_, destination, _, _gateway, _, flags), _, (_, metric, _, mask), _)| {
                Route {
                    interface,
                    destination,
                    flags,
                    metric,
                    mask,
                }
            },
        )
        .parse(line)
}

/// The interface of the default IPv4 route (destination and mask 0, up), the one with the
/// lowest metric when there are several, as the kernel would use.
pub fn default_route_interface(proc_net_route: &str) -> Result<String, RouteError> {
    let mut best: Option<Route> = None;
    for (index, line) in proc_net_route.lines().enumerate() {
        if line.trim().is_empty() || (index == 0 && line.starts_with("Iface")) {
            continue;
        }
        let (_, route) = route_row(line).map_err(|_| RouteError::Syntax {
            line: index + 1,
            text: line.trim_end().chars().take(80).collect(),
            expected:
                "`IFACE DEST GATEWAY FLAGS REFCNT USE METRIC MASK ...` with hexadecimal addresses",
        })?;
        let default = route.destination == 0 && route.mask == 0 && route.flags & RTF_UP != 0;
        if default && best.as_ref().is_none_or(|b| route.metric < b.metric) {
            best = Some(route);
        }
    }
    best.map(|r| r.interface.to_string())
        .ok_or(RouteError::NoDefaultRoute)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error(
        "`ip -j addr` output, line {line} column {column}: {message} (is this iproute2's JSON?)"
    )]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("`ip -j addr` does not list interface `{0}`: check the name with `ip link`")]
    NoSuchInterface(String),
    #[error("interface `{0}` has no global IPv4 address: set `[nfs] network` in the layout")]
    NoIpv4(String),
    #[error(
        "interface `{interface}` lists IPv4 address `{local}/{prefix}`, which is not an address"
    )]
    BadAddress {
        interface: String,
        local: String,
        prefix: u8,
    },
}

#[derive(Deserialize)]
struct Link {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    family: String,
    local: Option<String>,
    prefixlen: Option<u8>,
    scope: Option<String>,
    #[serde(default)]
    secondary: bool,
}

/// The IPv4 network of `interface` from `ip -j addr [show dev IFACE]`: its first global,
/// primary IPv4 address with the host bits zeroed.
pub fn interface_network(ip_json: &str, interface: &str) -> Result<Network, AddressError> {
    let links: Vec<Link> = serde_json::from_str(ip_json).map_err(|e| AddressError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let link = links
        .iter()
        .find(|l| l.ifname == interface)
        .ok_or_else(|| AddressError::NoSuchInterface(interface.to_string()))?;
    let info = link
        .addr_info
        .iter()
        .find(|a| a.family == "inet" && a.scope.as_deref() == Some("global") && !a.secondary)
        .ok_or_else(|| AddressError::NoIpv4(interface.to_string()))?;
    let (Some(local), Some(prefix)) = (&info.local, info.prefixlen) else {
        return Err(AddressError::NoIpv4(interface.to_string()));
    };
    let bad = || AddressError::BadAddress {
        interface: interface.to_string(),
        local: local.clone(),
        prefix,
    };
    let addr: Ipv4Addr = local.parse().map_err(|_| bad())?;
    Network::containing(IpAddr::V4(addr), prefix).ok_or_else(bad)
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExportNetworkError {
    #[error("layout `[nfs] network`")]
    Syntax(#[from] NetworkSyntaxError),
    #[error(
        "layout `[nfs] network = \"auto\"`, but the management network could not be found: {0}"
    )]
    NotDetected(String),
}

/// The network the exports are for: the layout's CIDR, or with `auto` the detected one
/// (`detected` is the result of the two steps above, or why they failed).
pub fn export_network(
    settings: &NfsSettings,
    detected: Result<Network, String>,
) -> Result<Network, ExportNetworkError> {
    if settings.network == "auto" {
        detected.map_err(ExportNetworkError::NotDetected)
    } else {
        Ok(settings.network.parse()?)
    }
}

/// The `sharenfs` value of one export. `no_subtree_check` is libshare's default already;
/// it is spelled out so that `zfs get sharenfs` says everything the export does.
pub fn sharenfs_value(export: &NfsExport, settings: &NfsSettings, network: &Network) -> String {
    format!(
        "rw={},no_subtree_check,{},{}",
        network.sharenfs_host(),
        if export.sync { "sync" } else { "async" },
        if settings.root_squash {
            "root_squash"
        } else {
            "no_root_squash"
        }
    )
}

/// Every exported dataset of the layout with its `sharenfs` value, in layout order.
pub fn sharenfs_settings(layout: &Layout, network: &Network) -> Vec<(String, String)> {
    layout
        .datasets
        .iter()
        .filter_map(|d| {
            let export = d.nfs.as_ref()?;
            Some((
                d.name().to_string(),
                sharenfs_value(export, &layout.nfs, network),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_zero_host_bits() {
        assert_eq!(
            "192.0.2.77/24".parse::<Network>().unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert_eq!(
            "10.1.2.3/0".parse::<Network>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            "10.1.2.3/32".parse::<Network>().unwrap().to_string(),
            "10.1.2.3/32"
        );
        assert_eq!(
            "fd00::2/64".parse::<Network>().unwrap().sharenfs_host(),
            "[fd00::]/64"
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "x/8",
            "10.0.0.0/-1",
            "",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lowest_metric_default_route_wins() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
            vmbr0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
            vmbr0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_route_interface(table).unwrap(), "vmbr0");
    }

    #[test]
    fn a_down_default_route_does_not_count() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t0100000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            default_route_interface(table),
            Err(RouteError::NoDefaultRoute)
        );
    }

    #[test]
    fn a_garbled_route_line_is_named() {
        let err = default_route_interface("Iface\tDestination\neth0\tnothex\n").unwrap_err();
        assert!(matches!(err, RouteError::Syntax { line: 2, .. }), "{err}");
    }

    #[test]
    fn sharenfs_values() {
        let net: Network = "192.0.2.0/24".parse().unwrap();
        let squash = NfsSettings {
            network: "auto".into(),
            root_squash: true,
            install_server: true,
        };
        assert_eq!(
            sharenfs_value(&NfsExport { sync: false }, &squash, &net),
            "rw=@192.0.2.0/24,no_subtree_check,async,root_squash"
        );
        let no_squash = NfsSettings {
            root_squash: false,
            ..squash
        };
        assert_eq!(
            sharenfs_value(&NfsExport { sync: true }, &no_squash, &net),
            "rw=@192.0.2.0/24,no_subtree_check,sync,no_root_squash"
        );
    }
}
