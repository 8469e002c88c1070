#!/bin/sh
# mmdebstrap --customize-hook: $1 is the root directory of the new system.
set -eu
root=$1
echo debian > "$root/etc/hostname"
cat > "$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,discard,errors=remount-ro 0 1
FSTAB
cat > "$root/etc/network/interfaces" <<'ENI'
# cloud-init writes /etc/network/interfaces.d/50-cloud-init
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
ENI
# each instance gets its own machine-id and SSH host keys (cloud-init's ssh module makes them)
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
# serial console getty, like Debian's cloud images (console=ttyS0)
chroot "$root" systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
# no apt lists in the image (apt-get update on first use), no cached debs
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -f "$root/etc/resolv.conf"
