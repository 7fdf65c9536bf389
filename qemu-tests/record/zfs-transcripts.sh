#!/bin/sh
# Records real OpenZFS 2.3 command transcripts in the test guest, for the parsers' fixtures.
# Run from the host:
#   cargo xtask guest-run --script qemu-tests/record/zfs-transcripts.sh --out DIR --timeout 1800 \
#     --disk zc-data:128M --disk zc-special1:128M --disk zc-special2:128M --disk zc-dedup:128M \
#     --disk zc-log:128M --disk zc-cache:128M --disk zc-spare:128M
# then copy DIR/zfs/openzfs-2.3/ to tests/fixtures/zfs/openzfs-2.3/.
# Needs the default drives: S2TA0001 and S2TA0002 (2 TB), S4TB0001 (4 TB); and the seven small
# virtio disks above for the pool with a vdev of every class.
set -eu

fixtures="$PHX_OUT/zfs/openzfs-2.3"
A=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001
B=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0002
C=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S4TB0001
for disk in "$A" "$B" "$C"; do
    [ -b "$disk" ] || { echo "missing drive $disk: boot with the default NVMe drives" >&2; exit 2; }
done
small() { echo "/dev/disk/by-id/virtio-zc-$1"; }
for class in data special1 special2 dedup log cache spare; do
    [ -b "$(small "$class")" ] || { echo "missing disk zc-$class: see the usage at the top" >&2; exit 2; }
done

# record STATE SLUG ARGV...: one transcript; a failing command is recorded, not fatal.
record() {
    state=$1
    dir="$fixtures/$state"
    slug=$2
    shift 2
    mkdir -p "$dir"
    printf '%s\n' "$@" > "$dir/$slug.argv"
    status=0
    "$@" > "$dir/$slug.stdout" 2> "$dir/$slug.stderr" || status=$?
    echo "$status" > "$dir/$slug.status"
    echo "recorded $state/$slug: status $status"
}

# must STATE SLUG ARGV...: a transcript of a step the next states depend on.
must() {
    record "$@"
    [ "$status" -eq 0 ] || { echo "step $1/$2 failed; see its .stderr" >&2; exit 1; }
}

modprobe zfs
mkdir -p "$fixtures"
{
    echo '$ zfs version'
    zfs version
    echo '$ uname -r'
    uname -r
} > "$fixtures/VERSION"

# --- blank: three drives, no pools ---
record blank zpool-list zpool list -H -p -o name,size,allocated,free,health,guid
record blank zfs-list zfs list -H -p -o name,type
record blank zpool-status zpool status -P
record blank zpool-import-none zpool import

# --- default: the default layout (src/layout/default.toml) ---
pool_opts="-o ashift=12 -o autotrim=on -O compression=lz4 -O atime=off -O xattr=sa -O acltype=posixacl"
# shellcheck disable=SC2086 # pool_opts is a list of words on purpose
must default zpool-create-quickOS zpool create $pool_opts quickOS mirror "$A" "$B"
# shellcheck disable=SC2086
must default zpool-create-fastData zpool create $pool_opts fastData "$C"
must default zfs-create-vm-disks zfs create -o recordsize=128K -o compression=lz4 -o sync=standard -o quota=800G quickOS/vm-disks
must default zfs-create-lxc-disks zfs create -o recordsize=16K -o compression=lz4 -o sync=standard -o quota=600G quickOS/lxc-disks
must default zfs-create-shared-prod-data zfs create -o recordsize=128K -o compression=lz4 -o sync=standard -o quota=400G quickOS/shared-prod-data
must default zfs-create-shared-prod-data-sync zfs create -o recordsize=16K -o compression=lz4 -o sync=always -o quota=100G quickOS/shared-prod-data-sync
must default zfs-create-shared-test-data zfs create -o recordsize=128K -o compression=lz4 -o sync=standard -o quota=500G fastData/shared-test-data
must default zfs-create-shared-backups zfs create -o recordsize=1M -o compression=zstd -o sync=standard -o quota=2T fastData/shared-backups
must default zfs-create-shared-iso zfs create -o recordsize=1M -o compression=lz4 -o sync=standard -o quota=100G fastData/shared-iso
must default zfs-create-shared-bulk-data zfs create -o recordsize=1M -o compression=lz4 -o sync=standard -o quota=1.4T fastData/shared-bulk-data
must default zfs-create-zvol zfs create -V 1G -o volblocksize=16K quickOS/vm-disks/vm-100-disk-0
must default zfs-snapshot-zvol zfs snapshot quickOS/vm-disks/vm-100-disk-0@phx-fixture
udevadm settle

record default zpool-list zpool list -H -p -o name,size,allocated,free,health,guid
record default zpool-list-defaults zpool list -H -p
record default zpool-get-selected zpool get -H -p -o name,property,value,source ashift,autotrim,guid,health,size,free quickOS fastData
record default zpool-get-all-quickOS zpool get -H -p -o name,property,value,source all quickOS
record default zfs-list zfs list -H -p -o name,type -t filesystem,volume -r quickOS fastData
record default zfs-list-snapshots zfs list -H -p -o name,type -t snapshot -r quickOS fastData
record default zfs-get-selected zfs get -H -p -o name,property,value,source recordsize,compression,sync,quota,mountpoint,sharenfs,volblocksize,atime -t filesystem,volume -r quickOS fastData
record default zfs-get-all-vm-disks zfs get -H -p -o name,property,value,source all quickOS/vm-disks
record default zpool-status-P zpool status -P quickOS fastData
record default zpool-status-quickOS zpool status quickOS
record default fail-zfs-create-exists zfs create quickOS/vm-disks
record default fail-zfs-get-missing zfs get -H -p quota quickOS/nope
record default fail-zpool-create-in-use zpool create -f x "$A"
record default fail-zpool-import-imported zpool import quickOS

# --- degraded: one side of the mirror offline ---
must degraded zpool-offline zpool offline quickOS "$B"
record degraded zpool-status-P zpool status -P quickOS
record degraded zpool-list zpool list -H -p -o name,size,allocated,free,health,guid
# Back online so that the export below lists healthy pools.
must degraded zpool-online zpool online quickOS "$B"
zpool wait -t resilver quickOS

# --- exported: pools on disk, none imported ---
must exported zpool-export zpool export quickOS fastData
record exported zpool-import zpool import
record exported zpool-import-by-id zpool import -d /dev/disk/by-id
record exported zpool-list zpool list -H -p -o name,size,allocated,free,health,guid

# --- classes: one pool with a vdev of every class (data, special mirror, dedup, log, cache,
# spare) on the small virtio disks; -f because the special mirror's redundancy differs from the
# data's. quickOS and fastData stay exported beside it.
must classes zpool-create-tank zpool create -f tank "$(small data)" \
    special mirror "$(small special1)" "$(small special2)" dedup "$(small dedup)" \
    log "$(small log)" cache "$(small cache)" spare "$(small spare)"
udevadm settle
record classes zpool-status-P-p zpool status -P -p tank
must classes zpool-export zpool export tank
record classes zpool-import zpool import -d /dev/disk/by-id
record classes zpool-import-destroyed-none zpool import -D -d /dev/disk/by-id

# --- destroyed: the same pool destroyed, which `zpool import -D` still lists (and only it) ---
must destroyed zpool-import-tank zpool import -d /dev/disk/by-id tank
must destroyed zpool-destroy zpool destroy tank
record destroyed zpool-import-destroyed zpool import -D -d /dev/disk/by-id
record destroyed zpool-import zpool import -d /dev/disk/by-id

# exported_pool STATE POOL VDEV-WORDS...: POOL made anew over what the drives hold (-f: an
# exported pool), its status imported, then exported and the listing of `zpool import`.
exported_pool() {
    state=$1
    pool=$2
    shift 2
    must "$state" "zpool-create-$pool" zpool create -f "$pool" "$@"
    udevadm settle
    record "$state" zpool-status-P-p zpool status -P -p "$pool"
    must "$state" zpool-export zpool export "$pool"
    record "$state" zpool-import zpool import -d /dev/disk/by-id
}

# --- A pool `tank` with its data on the 4 TB drive and another class on the 2 TB pair, the
# drives the layout's quickOS wants; each state over the last.
exported_pool special-2tb tank "$C" special mirror "$A" "$B"
exported_pool log-2tb tank "$C" log mirror "$A" "$B"
exported_pool dedup-2tb tank "$C" dedup mirror "$A" "$B"
exported_pool cache-spare-2tb tank "$C" cache "$A" spare "$B"

# --- destroyed-2tb: the last tank destroyed: its cache and spare drives still carry its labels ---
must destroyed-2tb zpool-import-tank zpool import -d /dev/disk/by-id tank
must destroyed-2tb zpool-destroy zpool destroy tank
record destroyed-2tb zpool-import-destroyed zpool import -D -d /dev/disk/by-id

# --- Pools named quickOS that are not the layout's: one drive, the 4 TB one; then a mirror of a
# 2 TB and the 4 TB drive.
exported_pool quickos-4tb quickOS "$C"
exported_pool quickos-mixed-mirror quickOS mirror "$A" "$C"
