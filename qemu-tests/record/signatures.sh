#!/bin/sh
# Records on-disk signature fixtures that need a real block device or kernel module (md, LVM, ZFS,
# XFS), made for real in the test guest. Run from the host:
#   cargo xtask guest-run --script qemu-tests/record/signatures.sh --out DIR \
#     --disk sig-md090:64M --disk sig-md10:64M --disk sig-md11:64M --disk sig-md12:64M \
#     --disk sig-lvm:64M --disk sig-zfs:128M --disk sig-xfs:300M
# then copy DIR/signatures/* to tests/fixtures/signatures/.
# Each fixture: NAME.toml (size, logical_block_size, made_by, expect), NAME.head.gz and
# NAME.tail.gz (the first and last MiB), NAME.wipefs.json (what wipefs saw).
set -eu

sig="$PHX_OUT/signatures"
mkdir -p "$sig"
disk() { echo "/dev/disk/by-id/virtio-$1"; }
for serial in sig-md090 sig-md10 sig-md11 sig-md12 sig-lvm sig-zfs sig-xfs; do
    [ -b "$(disk "$serial")" ] || { echo "missing disk $serial: see the usage at the top" >&2; exit 2; }
done
guest="qemu guest (Debian 12, Linux $(uname -r))"

# kind_of TYPE OFFSET SIZE: wipefs's type name as the fixtures' kind.
kind_of() {
    case "$1" in
        PMBR) echo protective-mbr ;;
        dos) echo mbr ;;
        gpt) if [ "$2" -lt $(($3 / 2)) ]; then echo gpt; else echo gpt-backup; fi ;;
        zfs_member) echo zfs-label ;;
        LVM2_member) echo lvm2 ;;
        linux_raid_member) echo md-raid ;;
        crypto_LUKS) echo luks ;;
        ext2 | ext3 | ext4) echo ext ;;
        xfs) echo xfs ;;
        btrfs) echo btrfs ;;
        swap) echo swap ;;
        *) echo "unknown-$1" ;;
    esac
}

# fixture NAME DEVICE MADE_BY: records what is on DEVICE (a block device or an image file) now.
fixture() {
    name=$1
    dev=$2
    made_by=$3
    if [ -b "$dev" ]; then
        size=$(blockdev --getsize64 "$dev")
        lbs=$(blockdev --getss "$dev")
        direct=iflag=direct
    else
        size=$(stat -c %s "$dev")
        lbs=512
        direct=iflag=fullblock
    fi
    mib=$((size / 1048576))
    dd if="$dev" bs=1M count=1 "$direct" status=none | gzip -9n > "$sig/$name.head.gz"
    dd if="$dev" bs=1M skip=$((mib - 1)) count=1 "$direct" status=none | gzip -9n > "$sig/$name.tail.gz"
    wipefs --no-act -J "$dev" > "$sig/$name.wipefs.json"
    expect=$(wipefs --no-act --parsable --noheadings -O OFFSET,TYPE,UUID,LABEL "$dev" |
        while IFS=, read -r offset type uuid label; do
            offset=$((offset))
            echo "[[expect]]"
            echo "kind = \"$(kind_of "$type" "$offset" "$size")\""
            echo "offset = $offset"
            [ -z "$label" ] || echo "label = \"$label\""
            [ -z "$uuid" ] || echo "uuid = \"$uuid\""
            echo
        done)
    {
        echo "# Recorded by qemu-tests/record/signatures.sh; expect is what wipefs reported."
        echo "# blkid -p -o export:"
        blkid -p -o export "$dev" | sed 's/^/#   /' || true
        echo "size = $size"
        echo "logical_block_size = $lbs"
        echo "made_by = '''"
        echo "$guest:"
        echo "$made_by'''"
        if [ -n "$expect" ]; then
            echo
            echo "$expect"
        else
            echo "expect = []"
        fi
    } > "$sig/$name.toml"
    echo "recorded $name"
}

# --- md RAID superblocks, one metadata version per disk ---
for version in 0.90 1.0 1.1 1.2; do
    serial="sig-md$(echo "$version" | tr -d .)"
    dev=$(readlink -f "$(disk "$serial")")
    cmd="mdadm --create /dev/md/phx --run --level=1 --raid-devices=2 --metadata=$version --homehost=phoenix-guest --name=phx $dev missing
mdadm --stop /dev/md/phx"
    mdadm --create /dev/md/phx --run --level=1 --raid-devices=2 --metadata="$version" \
        --homehost=phoenix-guest --name=phx "$dev" missing
    mdadm --stop /dev/md/phx
    udevadm settle
    # udev may assemble the array again on its own once the disk is closed; stop it for good.
    mdadm --stop --scan || true
    fixture "md-raid-$version" "$dev" "$cmd"
done

# --- LVM2 physical volume ---
dev=$(readlink -f "$(disk sig-lvm)")
pvcreate --yes "$dev"
fixture lvm2-pv "$dev" "pvcreate --yes $dev"

# --- ZFS on a whole disk: ZFS writes a GPT with a ZFS partition and a reserved one ---
dev=$(readlink -f "$(disk sig-zfs)")
zpool create -f phxgpt "$dev"
zpool sync phxgpt
fixture zfs-gpt-imported "$dev" "zpool create -f phxgpt $dev
zpool sync phxgpt"
zpool export phxgpt
fixture zfs-gpt-exported "$dev" "zpool create -f phxgpt $dev
zpool export phxgpt"

# --- ZFS labels on a vdev without a partition table (a file vdev, 64 MiB is ZFS's minimum) ---
raw=/run/phx/zfs-raw.img
truncate -s 64M "$raw"
zpool create phxraw "$raw"
zpool sync phxraw
fixture zfs-raw-imported "$raw" "truncate -s 64M $raw
zpool create phxraw $raw
zpool sync phxraw"
zpool export phxraw
fixture zfs-raw-exported "$raw" "truncate -s 64M $raw
zpool create phxraw $raw
zpool export phxraw"
rm -f "$raw"

# --- XFS (needs at least 300 MB) ---
dev=$(readlink -f "$(disk sig-xfs)")
mkfs.xfs -q -L phxxfs "$dev"
fixture xfs "$dev" "mkfs.xfs -q -L phxxfs $dev"
