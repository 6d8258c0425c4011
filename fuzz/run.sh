#!/usr/bin/env bash
# Bounded fuzzing run of every target, for CI and by hand:
#   fuzz/run.sh SECONDS [JOBS]      (SECONDS per target)
# Works on the stable toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Each target's working corpus lives in fuzz/corpus/TARGET (not committed), seeded from the
# committed fuzz/seeds/TARGET when present; crashes land in fuzz/artifacts/TARGET and fail the run.
set -euo pipefail
seconds="${1:?usage: fuzz/run.sh SECONDS [JOBS]}"
jobs="${2:-1}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
args=(-max_total_time="$seconds" -max_len=65537 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
fi
for target in $(cargo fuzz list); do
    echo "== fuzz target $target: $seconds s"
    mkdir -p "corpus/$target"
    dirs=("corpus/$target")
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    cargo fuzz run "$target" "${dirs[@]}" -- "${args[@]}"
done
