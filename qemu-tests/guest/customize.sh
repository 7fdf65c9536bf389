#!/bin/sh
# Runs inside the guest's root tree (chroot) after mmdebstrap, with the kernel release as $1.
# Makes the tree boot fast on an emulated machine and start the test harness when its disk exists.
set -eu
kver="$1"

depmod "$kver"
# Fail the build here rather than at boot when the host-built modules do not fit this kernel.
modinfo -k "$kver" -F vermagic zfs | grep -q "^$kver "

echo phoenix-guest > /etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tphoenix-guest\n' > /etc/hosts
printf 'LABEL=root\t/\text4\trw,noatime,errors=remount-ro\t0\t0\n' > /etc/fstab
# A fresh machine id on every boot: a snapshot of it would make all guests one host.
: > /etc/machine-id

# The serial port carries the console log for people; no getty may take it over.
systemctl mask serial-getty@ttyS0.service getty@tty1.service
# Periodic jobs and the network login only cost boot time in a throwaway guest.
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
systemctl disable ssh.service

chmod 0755 /usr/local/sbin/phx-harness
