#!/usr/bin/env bash
# Installs the load generator used by benchmarks/load_cdshooks.py (idempotent). Optional: without
# wrk the benchmark falls back to its own Python load generator.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get install -y -q wrk || { $SUDO apt-get update -q && $SUDO apt-get install -y -q wrk; }
