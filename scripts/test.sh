#!/usr/bin/env bash
# README command 2: install everything, then run the whole test suite (lint + pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tools only the tests use: vagrant (validates vagrant/Vagrantfile), puttygen and ssh-keygen
# (cross-check key pair formats and fingerprints).
test_packages=(vagrant vagrant-libvirt putty-tools openssh-client)
missing=()
for p in "${test_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
.venv/bin/python -m orchestrator.cli.sweep --prefix ec2dt || true   # leftovers of a crashed run
.venv/bin/ruff check .
# Two workers, one test module each at a time (module-scoped guests stay shared within a module):
# while one waits on a TCG guest, the other core runs the next module. Tests marked host_exclusive
# (they kill libvirtd, ...) run afterwards, alone. Both parts always run; the result is the worse.
# One fixed --basetemp, emptied by pytest at the start of each run: a run's data dirs (guest
# disks, logs) stay there for a look after a failure, and runs never pile up on the disk.
tmp=(--basetemp=/var/tmp/ec2d-tests)
rc=0
.venv/bin/pytest -q --durations=30 -n 2 --dist loadfile "${tmp[@]}" -m "not host_exclusive" "$@" || rc=$?
.venv/bin/pytest -q --durations=5 "${tmp[@]}-exclusive" -m host_exclusive "$@" || { r=$?; [ "$r" -eq 5 ] || rc=$r; }  # 5: none selected
exit "$rc"
