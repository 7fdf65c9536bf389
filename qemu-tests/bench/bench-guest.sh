#!/bin/sh
# The guest half of `cargo xtask bench-guest`: in one boot, on the same three emulated
# drives, pairs of the floor in lanes (the plain zpool/zfs commands of the default layout, run the
# way apply runs them) and `phoenix-zfs apply --yes`, each on freshly blanked drives; the serial
# floor as information; the converged rerun, and verify and the rerun again on a pool with 300
# zvols and 5,000 snapshots. Each timing is a line `PHASE RUN NANOSECONDS` in $PHX_OUT/times;
# every command of a pair is stamped on both sides (the floor's in floor-lanes-N.stamps, apply's
# in its -v log, apply-N.stderr), and the host computes the pairs' ratios and the time apply
# spends outside its commands. Needs the drives of qemu-tests/scenarios/01-first-boot.toml
# (models set through phx.model on the kernel command line).
set -u

out="$PHX_OUT"
pz=/usr/local/sbin/phoenix-zfs
times="$out/times"
: > "$times"
# Eight pairs: the ratio is judged on their median, and a quarter of them may be disturbed
# without moving it. Even, so that the last pair ends with apply (its order alternates) and the
# reruns below find apply's pools and services.
PAIRS=${PAIRS:-8}
SERIAL_ROUNDS=${SERIAL_ROUNDS:-2}
RERUNS=${RERUNS:-5}
[ $((PAIRS % 2)) -eq 0 ] || { echo "bench-guest: PAIRS must be even, not $PAIRS" >&2; exit 1; }

fail() {
    echo "bench-guest: $*" >&2
    exit 1
}

# Monotonic nanoseconds into $T, without a fork (a fork under TCG costs milliseconds): the
# kernel's monotonic clock as /proc/timer_list prints it ("now at N nsecs"), else /proc/uptime
# (boot time, 10 ms steps).
mono() {
    T=
    if [ -r /proc/timer_list ]; then
        while read -r a b c _; do
            if [ "$a $b" = "now at" ]; then
                T=$c
                break
            fi
        done < /proc/timer_list
    fi
    if [ -z "$T" ]; then
        read -r up _ < /proc/uptime
        frac=${up#*.}
        frac=${frac#0}
        T=$(( ${up%.*} * 1000000000 + frac * 10000000 ))
    fi
}

# timed PHASE RUN COMMAND...: runs the command with its output in $out/PHASE-RUN.{stdout,stderr,
# status} and appends its duration to $times.
timed() {
    phase=$1
    run=$2
    shift 2
    mono
    t0=$T
    "$@" > "$out/$phase-$run.stdout" 2> "$out/$phase-$run.stderr"
    status=$?
    mono
    echo "$status" > "$out/$phase-$run.status"
    echo "$phase $run $((T - t0))" >> "$times"
    return "$status"
}

serials="S2TA0001 S2TA0002 S4TB0001"
disks=
for s in $serials; do
    for link in /dev/disk/by-id/nvme-*_"$s"; do
        [ -b "$link" ] && disks="$disks $link"
    done
done
set -- $disks
[ $# -eq 3 ] || fail "expected the three drives $serials, found:$disks"
mono
echo "clock: ${T} ns at start ($( [ -r /proc/timer_list ] && echo timer_list || echo uptime ))" > "$out/clock"

# The services apply sets up around the pools start as the installer left them, every round.
cp /etc/pve/storage.cfg "$out/storage.cfg.installed"
cp /etc/smartd.conf "$out/smartd.conf.installed"

# Back to blank drives: destroy the pools, clear the labels of the partitions zpool made, erase
# the partition tables, zero the windows phoenix-zfs reads for its proof of blank (the first 4 MiB
# and the last 16 MiB: wipefs leaves the GPT's partition entries, which are data), and let udev
# drop the partition links before the next step looks; and storage.cfg and smartd.conf back as
# they were.
blank() {
    for pool in quickOS fastData; do
        zpool list "$pool" > /dev/null 2>&1 && { zpool destroy "$pool" || fail "zpool destroy $pool"; }
    done
    for d in $disks; do
        for part in "$d"-part*; do
            [ -b "$part" ] && zpool labelclear -f "$part" > /dev/null 2>&1
        done
        wipefs --all --quiet "$d" || fail "wipefs $d"
        dev=$(readlink -f "$d")
        bytes=$(blockdev --getsize64 "$dev") || fail "blockdev --getsize64 $dev"
        dd if=/dev/zero of="$dev" bs=1M count=4 conv=fsync status=none || fail "zeroing the head of $dev"
        dd if=/dev/zero of="$dev" bs=1M count=16 seek=$((bytes - 16777216)) oflag=seek_bytes conv=fsync status=none \
            || fail "zeroing the tail of $dev"
        blockdev --rereadpt "$dev" 2> /dev/null
    done
    udevadm settle
    cp "$out/storage.cfg.installed" /etc/pve/storage.cfg
    cp "$out/smartd.conf.installed" /etc/smartd.conf
    rm -f /var/lib/phoenix-zfs/manifest.json /var/lib/phoenix-zfs/manifest.json.sig
    # Nothing may be left that apply would refuse or plan around.
    "$pz" plan > "$out/blank-plan.txt" 2>&1 || fail "after blanking, plan exits non-zero: $(cat "$out/blank-plan.txt")"
}

# The floor: exactly the commands phoenix-zfs would run on these blank drives, as its plan prints
# them (`     $ ARGV`, quoted for a shell), in a plain script: the 2 zpool create and 8 zfs create,
# and the `pvesm add` and smartd reload that follow them, one after another.
"$pz" plan > "$out/plan.txt" 2>&1 || fail "plan on the blank host failed: $(cat "$out/plan.txt")"
{
    echo '#!/bin/sh'
    echo 'set -e'
    sed -n 's/^ *\$ //p' "$out/plan.txt"
} > "$out/floor.sh"
chmod +x "$out/floor.sh"
zpools=$(grep -c '^zpool create ' "$out/floor.sh")
zfss=$(grep -c '^zfs create ' "$out/floor.sh")
[ "$zpools" -eq 2 ] && [ "$zfss" -eq 8 ] || fail "the plan is not 2 zpool create + 8 zfs create: $(cat "$out/floor.sh")"

# The same commands as apply runs them (src/apply/lanes.rs): each pool's zpool/zfs lines in a
# shell of its own, the two shells at once, then the rest in order. apply is judged against this
# one (like for like: what apply adds to the commands once they run side by side); the serial
# floor above stays as information. bash, for its fork-free $EPOCHREALTIME: every command is
# stamped with its start and end on the wall clock apply's log uses (`ran ... at_us= us=`), in
# microseconds, one line `START END COMMAND` per command appended to the file named by $1.
lanes=0
for pool in quickOS fastData; do
    grep -E "^(zpool create .* $pool |zfs create .* $pool/)" "$out/floor.sh" > "$out/lane-$pool.sh"
    lanes=$((lanes + $(wc -l < "$out/lane-$pool.sh")))
done
[ "$lanes" -eq $((zpools + zfss)) ] || fail "the two lanes hold $lanes of the $((zpools + zfss)) zpool/zfs commands"
{
    echo '#!/bin/bash'
    echo 'stamps=$1'
    echo 'stamp() { local s=$EPOCHREALTIME rc; "$@"; rc=$?; echo "${s/./} ${EPOCHREALTIME/./} $*" >> "$stamps"; return $rc; }'
    for pool in quickOS fastData; do
        echo "lane_$pool() {"
        echo '    set -e'
        sed 's/^/    stamp /' "$out/lane-$pool.sh"
        echo '}'
    done
    echo 'lane_quickOS & quick=$!'
    echo 'lane_fastData & fast=$!'
    echo 'wait $quick; q=$?; wait $fast; f=$?'
    echo '[ $q -eq 0 ] && [ $f -eq 0 ] || exit 1'
    echo 'set -e'
    grep -vE '^(#!|set -e$|zpool |zfs )' "$out/floor.sh" | sed 's/^/stamp /'
} > "$out/floor-lanes.sh"

# Warm the page cache with every binary the timed phases use, so that neither side pays for
# reading them from disk.
zpool list > /dev/null 2>&1
zfs list > /dev/null 2>&1
"$pz" detect > /dev/null 2>&1
sh -c true

# Blank drives before every timed run but the first (the boot starts on blank drives).
fresh=yes
blank_unless_fresh() {
    if [ "$fresh" = yes ]; then
        fresh=no
    else
        blank
    fi
}

# The serial floor, as information.
for round in $(seq 1 "$SERIAL_ROUNDS"); do
    blank_unless_fresh
    timed floor "$round" sh "$out/floor.sh" || fail "the floor script failed: $(cat "$out/floor-$round.stderr")"
done

# The pairs: the floor in lanes and apply, each on freshly blanked drives, in turns whose order
# alternates (apply first in odd pairs), so that a guest that slows down or speeds up across the
# boot burdens both sides alike. apply logs at info (-v) for its commands' stamps, as the floor
# stamps its own.
floor_lanes() {
    blank_unless_fresh
    : > "$out/floor-lanes-$1.stamps"
    timed floor-lanes "$1" bash "$out/floor-lanes.sh" "$out/floor-lanes-$1.stamps" \
        || fail "the floor in lanes failed: $(cat "$out/floor-lanes-$1.stderr")"
}
apply_blank() {
    blank_unless_fresh
    timed apply "$1" "$pz" -v apply --yes || fail "apply failed: $(cat "$out/apply-$1.stdout" "$out/apply-$1.stderr")"
}
: > "$out/pairs"
for pair in $(seq 1 "$PAIRS"); do
    if [ $((pair % 2)) -eq 1 ]; then
        echo "$pair apply-first" >> "$out/pairs"
        apply_blank "$pair"
        floor_lanes "$pair"
    else
        echo "$pair floor-first" >> "$out/pairs"
        floor_lanes "$pair"
        apply_blank "$pair"
    fi
done

# What else the guest is doing and how much memory it has left, before each set of timed runs.
state() {
    {
        echo "== $1"
        cat /proc/loadavg
        grep -E '^(MemAvailable|Cached):' /proc/meminfo
        awk '$1 == "size" || $1 == "c_max" { print "arc_" $1, $3 }' /proc/spl/kstat/zfs/arcstats
    } >> "$out/guest-state" 2>&1
}

# The converged rerun: timed without recording, then once recorded to count what it spawns.
state small
for run in $(seq 1 "$RERUNS"); do
    timed rerun "$run" "$pz" apply --yes || fail "rerun failed: $(cat "$out/rerun-$run.stdout")"
    grep -q '^nothing to do' "$out/rerun-$run.stdout" || fail "the rerun changed something: $(cat "$out/rerun-$run.stdout")"
done
for run in $(seq 1 "$RERUNS"); do
    timed verify "$run" "$pz" verify || fail "verify failed: $(cat "$out/verify-$run.stdout")"
done
date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$out/rerun-recorded.start"
PHOENIX_ZFS_LOG=info PHOENIX_ZFS_RECORD="$out/rerun.zfs" "$pz" apply --yes \
    > "$out/rerun-recorded.stdout" 2> "$out/rerun-recorded.stderr" \
    || fail "recorded rerun failed"
date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$out/rerun-recorded.end"

# A host that has lived a year: 300 sparse zvols under quickOS/vm-disks, created in parallel (they
# are set-up, not measured), and 5,000 snapshots in batches (`zfs snapshot -r` makes one per
# dataset below the name in one command): 16 x the 305 datasets of quickOS + 24 x the 5 of fastData.
mono
t0=$T
seq 1 300 | xargs -P 30 -I N zfs create -s -V 64M -o volblocksize=16k quickOS/vm-disks/vm-N-disk-0 \
    || fail "creating the zvols failed"
for k in $(seq 1 16); do
    zfs snapshot -r "quickOS@auto-$k" || fail "zfs snapshot -r quickOS@auto-$k"
done
for k in $(seq 1 24); do
    zfs snapshot -r "fastData@auto-$k" || fail "zfs snapshot -r fastData@auto-$k"
done
udevadm settle
mono
echo "populate 1 $((T - t0))" >> "$times"
zfs list -H -t volume -o name | wc -l > "$out/zvols"
zfs list -H -t snapshot -o name | wc -l > "$out/snapshots"
ls /sys/block | wc -l > "$out/block-devices"

state big
for run in $(seq 1 "$RERUNS"); do
    timed big-verify "$run" "$pz" verify || fail "verify on the big host failed: $(cat "$out/big-verify-$run.stdout")"
done
for run in $(seq 1 "$RERUNS"); do
    timed big-rerun "$run" "$pz" apply --yes || fail "rerun on the big host failed: $(cat "$out/big-rerun-$run.stdout")"
    grep -q '^nothing to do' "$out/big-rerun-$run.stdout" || fail "the big rerun changed something"
done
date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$out/big-rerun-recorded.start"
PHOENIX_ZFS_LOG=info PHOENIX_ZFS_RECORD="$out/big-rerun.zfs" "$pz" apply --yes \
    > "$out/big-rerun-recorded.stdout" 2> "$out/big-rerun-recorded.stderr" \
    || fail "recorded big rerun failed"
date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$out/big-rerun-recorded.end"
echo done > "$out/finished"
