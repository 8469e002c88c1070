#!/usr/bin/env bash
# Installs everything ec2d needs on a fresh Debian 12 host (root, no systemd) and starts the
# host services (virtlogd, libvirtd). Idempotent: running it twice is cheap.
#   bash scripts/setup.sh            # packages, host services, .venv with ec2d installed
#   EC2D_SKIP_APT=1 bash scripts/setup.sh   # skip apt (packages already there)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

DEB_PACKAGES=(
  qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  pkg-config dnsmasq-base dnsmasq-utils nftables iproute2 e2fsprogs cpio busybox-static dropbear-bin wide-dhcpv6-client kmod
  mmdebstrap openssh-client ca-certificates python3-venv
  haproxy  # load balancers: ec2d runs its own processes (never the distro's haproxy.service)
)

log() { printf '[setup] %s\n' "$*" >&2; }

if [ -z "${EC2D_SKIP_APT:-}" ]; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# libvirt's QEMU driver wants these to exist (host-notes.md).
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -s /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt /var/lib/ec2d /var/cache/ec2d

# Guests run as root so they can read images in ec2d's data dir; no dynamic ownership games.
qconf=/etc/libvirt/qemu.conf
if ! grep -q '^# ec2d' "$qconf" 2>/dev/null; then
  cat >> "$qconf" <<'CONF'
# ec2d: run guests as root, leave file ownership alone
user = "root"
group = "root"
dynamic_ownership = 0
CONF
fi

start_daemon() {  # name, pidfile-less check via pgrep
  local name=$1; shift
  if ! pgrep -x "$name" >/dev/null; then
    log "starting $name"
    "$@"
  fi
}
start_daemon virtlogd virtlogd -d
start_daemon libvirtd libvirtd -d
for _ in $(seq 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -c qemu:///system version >/dev/null || { log "libvirtd did not come up"; exit 1; }

# Python environment.
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.ec2d-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing ec2d into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
log "ready"
