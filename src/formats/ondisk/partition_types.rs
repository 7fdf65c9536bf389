//! Friendly names for partition types, so a detail line says "Linux LVM", not a GUID.

/// GPT partition type GUIDs (lowercase, as [`super::text::efi_guid`] prints them) and the names
/// sgdisk/fdisk use for them.
const GPT_TYPES: &[(&str, &str)] = &[
    ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
    ("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
    ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "Linux root (x86-64)",
    ),
    ("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "Linux /home"),
    (
        "bc13c2ff-59e6-4262-a352-b275fd6f7172",
        "Linux extended boot",
    ),
    ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
    ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
    ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
    ("ca7d7ccb-63ed-4c53-861c-1742536059cc", "Linux LUKS"),
    ("8da63339-0007-60c0-c436-083ac8230908", "Linux reserved"),
    (ZFS_DATA, "Solaris /usr & Apple ZFS"),
    (ZFS_RESERVED, "Solaris reserved 1"),
    ("6a85cf4d-1dd2-11b2-99a6-080020736631", "Solaris root"),
    ("516e7cba-6ecf-11d6-8ff8-00022d09712b", "FreeBSD ZFS"),
    (
        "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
        "Microsoft basic data",
    ),
    ("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved"),
    ("de94bba4-06d1-4d40-a16a-bfd50179d6ac", "Windows recovery"),
    ("48465300-0000-11aa-aa11-00306543ecac", "Apple HFS+"),
    ("7c3457ef-0000-11aa-aa11-00306543ecac", "Apple APFS"),
];

/// The type OpenZFS gives the data partition when it is handed a whole disk on Linux.
pub(crate) const ZFS_DATA: &str = "6a898cc3-1dd2-11b2-99a6-080020736631";
/// The type of the 8 MiB partition 9 OpenZFS reserves at the end of a whole disk.
pub(crate) const ZFS_RESERVED: &str = "6a945a3b-1dd2-11b2-99a6-080020736631";

pub(crate) fn gpt_type_name(type_guid: &str) -> Option<&'static str> {
    GPT_TYPES
        .iter()
        .find(|(guid, _)| *guid == type_guid)
        .map(|(_, name)| *name)
}

/// MBR partition type bytes and their usual names (fdisk's list, trimmed to what shows up on
/// servers).
pub(crate) fn mbr_type_name(system_id: u8) -> Option<&'static str> {
    Some(match system_id {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0e => "FAT16",
        0x05 => "Extended",
        0x07 => "HPFS/NTFS/exFAT",
        0x0b | 0x0c => "W95 FAT32",
        0x0f => "W95 Extended (LBA)",
        0x27 => "Hidden NTFS WinRE",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x85 => "Linux extended",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xbf => "Solaris",
        0xee => "GPT protective",
        0xef => "EFI (FAT-12/16/32)",
        0xfd => "Linux raid autodetect",
        _ => return None,
    })
}

pub(crate) fn is_mbr_extended(system_id: u8) -> bool {
    matches!(system_id, 0x05 | 0x0f | 0x85)
}
