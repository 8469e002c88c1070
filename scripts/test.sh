#!/usr/bin/env bash
# README command 2: install everything, then run the whole test suite (lint + pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m orchestrator.cli.sweep --prefix ec2dt || true   # leftovers of a crashed run
.venv/bin/ruff check .
exec .venv/bin/pytest -q "$@"
