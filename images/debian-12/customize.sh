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
# no apt lists in the image (apt-get update on first use), no cached debs
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -f "$root/etc/resolv.conf"
