#!/bin/sh
# Records the QEMU guest as a fixture host and a few real tool outputs the parsers are tested on:
#   cargo xtask guest-run --script qemu-tests/record/host-snapshot.sh --add target/dist/phoenix-zfs --out target/record-host
# Default drives (2 x 2 TB, 4 TB); udev gives them QEMU's model, as on a guest without a model rule.
# host.tar.gz, unpacked, is tests/fixtures/hosts/qemu-recorded; tests/fixtures/hosts/qemu-twin.toml
# describes the same guest for `cargo xtask fixture-hosts`, and the tests hold the two to each other:
# a new recording may change the twin's spec (the order the controllers probed in, sizes, serials).
set -u
out="$PHX_OUT"
udevadm settle
./phoenix-zfs debug snapshot-host "$out/host" > "$out/snapshot.log" 2>&1
for c in /dev/nvme0 /dev/nvme1 /dev/nvme2; do
    smartctl -j -a "$c" > "$out/smartctl-$(basename "$c").json" 2>&1
done
nvme smart-log -o json /dev/nvme0 > "$out/nvme-smart-log.json" 2>&1
cat /proc/net/route > "$out/proc-net-route" 2>&1
ip -j addr > "$out/ip-j-addr.json" 2>&1
tar -C "$out" -czf "$out/host.tar.gz" host
rm -rf "$out/host"
