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
guest="the QEMU test guest (Debian 12, Linux $(uname -r), $(zfs version | head -1), $(mdadm --version 2>&1), LVM $(lvm version | sed -n 's/^ *LVM version: *//p'))"

# expect_entries DEV SIZE: "OFFSET KIND LABEL UUID" lines ("-" for none), in the conventions of
# tests/fixtures/signatures/README.md: wipefs's names as kinds, PTUUID as the uuid of GPT headers,
# and for ZFS one entry per label at the label's start (not wipefs's uberblocks).
expect_entries() {
    dev=$1
    size=$2
    ptuuid=$(blkid -p -o value -s PTUUID "$dev" 2>/dev/null || true)
    wipefs --no-act --parsable --noheadings -O OFFSET,TYPE,UUID,LABEL "$dev" |
        while IFS=, read -r offset type uuid label; do
            offset=$((offset))
            case "$type" in
                PMBR) echo "$offset protective-mbr - -" ;;
                dos) echo "$offset mbr - ${ptuuid:--}" ;;
                gpt)
                    if [ "$offset" -lt $((size / 2)) ]; then kind=gpt; else kind=gpt-backup; fi
                    echo "$offset $kind - ${ptuuid:--}"
                    ;;
                zfs_member) ;; # below, from zdb
                LVM2_member) echo "$offset lvm2 ${label:--} ${uuid:--}" ;;
                linux_raid_member) echo "$offset md-raid ${label:--} ${uuid:--}" ;;
                crypto_LUKS) echo "$offset luks ${label:--} ${uuid:--}" ;;
                ext2 | ext3 | ext4 | jbd) echo "$offset ext ${label:--} ${uuid:--}" ;;
                xfs | btrfs | swap) echo "$offset $type ${label:--} ${uuid:--}" ;;
                *) echo "# wipefs also reports $type at $offset, which the probe does not know" >&2 ;;
            esac
        done
    if [ "$(blkid -p -o value -s TYPE "$dev" 2>/dev/null)" = zfs_member ]; then
        pool=$(blkid -p -o value -s LABEL "$dev")
        guid=$(blkid -p -o value -s UUID "$dev")
        end=$((size / 262144 * 262144))
        for n in $(zdb -l "$dev" | sed -n 's/^ *labels = //p'); do
            case "$n" in
                0) echo "0 zfs-label $pool $guid" ;;
                1) echo "262144 zfs-label $pool $guid" ;;
                2) echo "$((end - 524288)) zfs-label $pool $guid" ;;
                3) echo "$((end - 262144)) zfs-label $pool $guid" ;;
            esac
        done
    fi
}

# toml_string TEXT: TEXT as a TOML basic string.
toml_string() {
    printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
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
    {
        echo "size = $size"
        echo "logical_block_size = $lbs"
        echo "made_by = $(toml_string "qemu guest: $made_by")"
        echo "# Recorded by qemu-tests/record/signatures.sh in $guest; expect from wipefs"
        echo "# ($name.wipefs.json beside this file), blkid -p and, for ZFS labels, zdb -l."
        echo "# blkid -p -o export:"
        blkid -p -o export "$dev" | sed 's/^/#   /' || true
        if [ -b "$dev" ] && sfdisk --dump "$dev" > /dev/null 2>&1; then
            echo "# partitions (sfdisk --dump), and what blkid finds in each:"
            sfdisk --dump "$dev" | sed 's/^/#   /'
            for part in "$dev"[0-9]*; do
                [ -b "$part" ] || continue
                echo "# blkid -p -o export $part:"
                blkid -p -o export "$part" | sed 's/^/#   /' || true
            done
            echo "# Signatures inside partitions lie outside the first and last MiB of the disk:"
            echo "# the probe reads only those, so expect lists the partition table alone."
        fi
        entries=$(expect_entries "$dev" "$size" | sort -n)
        if [ -z "$entries" ]; then
            echo "expect = []"
        fi
        echo "$entries" | while read -r offset kind label uuid; do
            [ -n "$offset" ] || continue
            echo
            echo "[[expect]]"
            echo "kind = \"$kind\""
            echo "offset = $offset"
            [ "$label" = - ] || echo "label = $(toml_string "$label")"
            [ "$uuid" = - ] || echo "uuid = $(toml_string "$uuid")"
        done
    } > "$sig/$name.toml"
    echo "recorded $name"
}

# --- md RAID superblocks, one metadata version per disk ---
for version in 0.90 1.0 1.1 1.2; do
    serial="sig-md$(echo "$version" | tr -d .)"
    dev=$(readlink -f "$(disk "$serial")")
    cmd="mdadm --create /dev/md/phx --run --level=1 --raid-devices=2 --metadata=$version --homehost=phoenix-guest --name=phx $dev missing && mdadm --stop /dev/md/phx"
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
fixture zfs-gpt-imported "$dev" "zpool create -f phxgpt $dev && zpool sync phxgpt"
zpool export phxgpt
fixture zfs-gpt-exported "$dev" "zpool create -f phxgpt $dev && zpool export phxgpt"

# --- ZFS labels on a vdev without a partition table (a file vdev, 64 MiB is ZFS's minimum) ---
raw=/run/phx/zfs-raw.img
truncate -s 64M "$raw"
zpool create phxraw "$raw"
zpool sync phxraw
fixture zfs-raw-imported "$raw" "truncate -s 64M $raw && zpool create phxraw $raw && zpool sync phxraw"
zpool export phxraw
fixture zfs-raw-exported "$raw" "truncate -s 64M $raw && zpool create phxraw $raw && zpool export phxraw"
rm -f "$raw"

# --- XFS (needs at least 300 MB) ---
dev=$(readlink -f "$(disk sig-xfs)")
mkfs.xfs -q -L phxxfs "$dev"
fixture xfs-guest "$dev" "mkfs.xfs -q -L phxxfs $dev"
