#!/usr/bin/env bash
# Runs every test of the project on a fresh machine (the README's test command).
# Installs what the tests need, then: formatting, clippy, the workspace tests
# (unit, property, known-answer against captures of real peers), and a bounded fuzz run.
#
# Environment: FUZZ_SECONDS (default 60) bounds the fuzz run; SKIP_FUZZ=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

need_root_for_apt() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/test.sh: installing system packages needs root (run it with sudo)" >&2
        exit 1
    fi
}

# System packages the tests need: the lab harness (tests/src/lab) runs strongSwan, ike-scan and
# tcpdump in network namespaces; libreswan is fetched by the harness itself with
# `apt-get download`, since it conflicts with strongSwan. Only what is missing is installed.
# The kernel VM harness (tests/vm) boots Debian's kernel under qemu for kernel ESP tests.
mapfile -t APT_PACKAGES < <(cat tests/lab/apt-packages.txt tests/vm/apt-packages.txt |
    grep -v '^\s*#' | grep -v '^\s*$' | sort -u)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    need_root_for_apt
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# No incremental caches: CI builds once, and they double the target directory's size.
export CARGO_INCREMENTAL=0
step "disk space before the build"
df -h . || true

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace"
# Every test binary runs even after a failure, so that one run shows every failure.
cargo test --workspace --locked --no-fail-fast

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
    step "bounded fuzz run (${FUZZ_SECONDS:-60} s per target)"
    bash fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi

step "disk space after the tests"
df -h . || true
du -sh target fuzz/target 2>/dev/null || true

step "all tests passed"
