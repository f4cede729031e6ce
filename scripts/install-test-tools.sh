#!/usr/bin/env bash
# Installs the test-only system tools the suite needs (idempotent; `make test` runs it).
#
# - Chromium for the browser tests (tests/e2e/): Debian's package at /usr/bin/chromium, driven by
#   Playwright for Python with executable_path (Playwright's own browser download is not used).
#   Set CHROMIUM_PATH to use another binary; the tests read the same variable.
# Python packages (playwright, schemathesis, hypothesis, ...) come from pip: `.[dev]`.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "install-test-tools: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

if [ -x "$CHROMIUM" ]; then
  echo "install-test-tools: chromium present ($CHROMIUM)"
else
  if ! command -v apt-get >/dev/null; then
    echo "install-test-tools: $CHROMIUM missing and no apt-get: install Chromium and set CHROMIUM_PATH" >&2
    exit 1
  fi
  echo "install-test-tools: installing Debian chromium"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    chromium fonts-liberation
fi

# The binary must start headless (catches missing shared libraries early, with a clear message).
if ! "$CHROMIUM" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1; then
  echo "install-test-tools: $CHROMIUM does not start" >&2
  exit 1
fi
exit 0
