#!/usr/bin/env bash
# Runs every test against a real MongoDB. Unless MONGODB_URI is set, it installs MongoDB if
# needed, starts a throwaway instance on a free port, and removes it afterwards.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh concurrency`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/throwaway-mongo.sh

cargo test --workspace "$@"
