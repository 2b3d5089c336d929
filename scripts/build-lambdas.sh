#!/usr/bin/env bash
# Builds every Lambda function for arm64 (Graviton) as a deployable zip with cargo-lambda
# (`pip install cargo-lambda` brings it and zig, the cross-linker) and prints each zip's size.
# `sam build` does the same through SAM's rust-cargolambda builder.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo lambda build --release --arm64 --output-format zip --workspace --exclude local-api --exclude bench
for zip in "${CARGO_TARGET_DIR:-target}"/lambda/*/bootstrap.zip; do
    printf '%-20s %8.2f MB\n' "$(basename "$(dirname "$zip")")" "$(echo "$(stat -c %s "$zip") / 1000000" | bc -l)"
done
