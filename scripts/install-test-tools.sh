#!/usr/bin/env bash
# Installs the test-only system tools the suite needs (idempotent). Extended by the browser tests.
set -euo pipefail
exit 0
