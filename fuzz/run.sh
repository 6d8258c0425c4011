#!/usr/bin/env bash
# Bounded fuzzing run of the `datagram` target, for CI and by hand:
#   fuzz/run.sh SECONDS [JOBS]
# Works on the stable toolchain through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# The working corpus lives in fuzz/corpus/datagram (not committed), seeded from the
# committed fuzz/seeds/datagram; crashes land in fuzz/artifacts/datagram and fail the run.
set -euo pipefail
seconds="${1:?usage: fuzz/run.sh SECONDS [JOBS]}"
jobs="${2:-1}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/datagram
export RUSTC_BOOTSTRAP=1
args=(-max_total_time="$seconds" -max_len=65537 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
fi
cargo fuzz run datagram corpus/datagram seeds/datagram -- "${args[@]}"
