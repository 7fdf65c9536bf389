#!/bin/sh
# A quick check of a freshly built guest; run from the host:
#   cargo xtask guest-run --script qemu-tests/guest-smoke.sh --out DIR
# Fails unless the ZFS module is loaded, the NVMe drives have their by-id links, and no unit failed.
set -u
failed=0
check() {
    if "$@"; then echo "ok: $*"; else echo "FAILED: $*"; failed=1; fi
}

uname -r
systemd-analyze || true
systemd-analyze blame 2>/dev/null | head -15
check grep -q '^zfs ' /proc/modules
zfs version
for unit in zfs-load-module.service zfs-import-cache.service zfs-import-scan.service zfs-mount.service \
    zfs-zed.service zfs-share.service zfs.target nfs-server.service smartd.service serial-getty@ttyS0.service; do
    printf '%s: %s %s\n' "$unit" "$(systemctl is-enabled "$unit" 2>&1)" "$(systemctl is-active "$unit" 2>&1)"
done
systemctl --failed --no-legend --plain > "$PHX_OUT/failed-units"
cat "$PHX_OUT/failed-units"
check test ! -s "$PHX_OUT/failed-units"
ls -l /dev/disk/by-id/ | grep -E 'nvme|virtio'
check test -b /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_S2TA0001
for c in /sys/class/nvme/nvme*; do
    echo "$c: serial=$(cat "$c/serial") model=$(cat "$c/model") firmware=$(cat "$c/firmware_rev")"
done
grep . /sys/block/nvme*n1/size /sys/block/nvme*n1/queue/logical_block_size
test -f /etc/ssh/ssh_host_ed25519_key && ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub
exit "$failed"
