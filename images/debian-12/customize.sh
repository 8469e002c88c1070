#!/bin/sh
# Run after mmdebstrap: $1 is the root directory of the new system, $2 the host's CA certificate
# (ec2d's own CA, which issues the in-VPC service endpoint's certificate).
set -eu
root=$1
ca=$2
# trust ec2d's CA system-wide, as a Debian admin adds a local CA: /etc/ssl/certs/ca-certificates.crt
# (OpenSSL, curl, python3-certifi and so botocore, boto3 and the AWS CLI) and /etc/ssl/certs/*.pem
install -D -m 0644 "$ca" "$root/usr/local/share/ca-certificates/ec2d-ca.crt"
chroot "$root" update-ca-certificates >/dev/null
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
# sshd serves the host key types cloud-init makes (01_ec2d.cfg ssh_genkeytypes), so it has no missing RSA key to complain of
mkdir -p "$root/etc/ssh/sshd_config.d"
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' > "$root/etc/ssh/sshd_config.d/ec2d-hostkeys.conf"
# serial console getty, like Debian's cloud images (console=ttyS0)
chroot "$root" systemctl enable serial-getty@ttyS0.service >/dev/null 2>&1 || true
# e2scrub_reap (stale ext4 check snapshots: this image has no LVM) costs ~10 s of a TCG vCPU at boot
chroot "$root" systemctl mask e2scrub_reap.service e2scrub_all.timer >/dev/null 2>&1 || true
# What EC2's own images leave out of the boot (bench/debian_boot.py, docs/bench-boot.md):
# - cloud-init's generator runs ds-identify (a shell script that probes DMI, every block device's
#   filesystem, the virtualisation and the config, several seconds of a TCG vCPU before any unit
#   starts) only to find the datasource that 01_ec2d.cfg pins. The image enables cloud-init.target
#   itself and the kernel command line says cloud-init=enabled (so `cloud-init status` says why).
#   Turning cloud-init off is `systemctl mask cloud-init.target` (the marker file
#   /etc/cloud/cloud-init.disabled was read by the generator only).
mkdir -p "$root/etc/systemd/system-generators" "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /dev/null "$root/etc/systemd/system-generators/cloud-init-generator"
ln -sf /lib/systemd/system/cloud-init.target "$root/etc/systemd/system/multi-user.target.wants/cloud-init.target"
# - no waiting on the network a second time: networking.service's `ifup -a` already returns once
#   dhclient holds its lease (cloud-init writes `auto` stanzas), ifupdown-wait-online would poll again
# - no apt/dpkg/fstrim timers (apt-get update on first use; a discard mount option already trims)
chroot "$root" systemctl mask ifupdown-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer fstrim.timer >/dev/null
# - the locale 01_ec2d.cfg asks for is already the system's (glibc has C.UTF-8 built in), so
#   cloud-init's locale module does not run locale-gen + update-locale (~8 s at first boot)
printf 'LANG=C.UTF-8\n' > "$root/etc/default/locale"
# - the config stage (apt sources, passwords, runcmd...) starts once sshd is up instead of racing
#   it for the vCPU: both used to start at basic.target; nothing in that stage is needed to log in
mkdir -p "$root/etc/systemd/system/cloud-config.service.d"
printf '[Unit]\nAfter=ssh.service\n' > "$root/etc/systemd/system/cloud-config.service.d/ec2d-after-ssh.conf"
# - no KVM modules: udev loads kvm + kvm_amd/kvm_intel (QEMU's CPU model shows SVM/VMX; EC2's
#   instances do not) and powernow_k8 at coldplug, ~15 s of module loading under TCG that
#   ifupdown-pre's `udevadm settle` (so the network, so cloud-init) waits for
cat > "$root/etc/modprobe.d/ec2d-no-kvm.conf" <<'MODPROBE'
# ec2d guests run under TCG without nested virtualisation (as EC2's non-metal instances)
blacklist kvm
blacklist kvm_amd
blacklist kvm_intel
blacklist powernow_k8
MODPROBE
# no apt lists in the image (apt-get update on first use), no cached debs
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -f "$root/etc/resolv.conf"
