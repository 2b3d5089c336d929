#!/usr/bin/env bash
# Coverage-guided fuzzing of request parsing and validation (fuzz/fuzz_targets/), bounded in
# time. Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; with only stable,
# RUSTC_BOOTSTRAP=1 lets it use the nightly flags (set it yourself if you accept that).
# Usage: scripts/fuzz.sh [seconds, default 60] — findings land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
toolchain=()
rustup toolchain list | grep -q '^nightly' && toolchain=(+nightly)
mkdir -p corpus/request_parsing
cargo "${toolchain[@]}" fuzz run request_parsing corpus/request_parsing seeds/request_parsing -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -print_final_stats=1
