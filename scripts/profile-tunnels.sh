#!/usr/bin/env bash
# Memory or CPU profile of iked bringing up and holding road-warrior tunnels, as root: the
# namespaces and load of bench-tunnels.sh (ikeload, aggressive mode, PSK + XAuth + mode-config,
# userspace dataplane), with iked run under heaptrack (PROFILE=heap: peak heap by allocation
# site) or perf (PROFILE=cpu: sampled call graphs, server only). Prints the top of the report
# and leaves the full one in OUT (default /tmp/profile-tunnels).
#
# Environment: PROFILE (heap|cpu, default heap), CLIENTS (default 10000), DH (default ecp256),
# RATE (default 0: as fast as possible), OUT, FREQ (perf samples per second, default 499),
# HOLD (heap: seconds to hold the tunnels after set-up, then SIGKILL, and report what is
# still allocated then, the held tunnels' steady state, instead of the peak; default 0).
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-heap}
CLIENTS=${CLIENTS:-10000}
DH=${DH:-ecp256}
RATE=${RATE:-0}
OUT=${OUT:-/tmp/profile-tunnels}
# Its own target directory: line tables change every crate's fingerprint, and sharing
# target/ would rebuild the benchmark's binaries each time.
TARGET=${CARGO_TARGET_DIR:-$PWD/target}/profiling

[ "$(id -u)" -eq 0 ] || { echo "profile-tunnels.sh: needs root" >&2; exit 1; }
case $PROFILE in heap | cpu) ;; *) echo "PROFILE is heap or cpu" >&2; exit 1 ;; esac
case $PROFILE in
    heap) need=heaptrack pkg=heaptrack ;;
    cpu) need=perf pkg=linux-perf ;;
esac
command -v $need >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkg >/dev/null

# Symbols for the report: release code with line tables, and frame pointers so that perf's
# call graphs reach our callers (RUSTFLAGS changes every fingerprint: its own directory).
if [ "$PROFILE" = cpu ]; then
    export RUSTFLAGS="${RUSTFLAGS:-} -C force-frame-pointers=yes"
    TARGET=$TARGET-fp
fi
# Heap profiles: glibc's malloc instead of mimalloc (iked's default), which heaptrack cannot
# see into; the allocation sites are the same, the bytes are glibc's.
FEATURES=()
if [ "$PROFILE" = heap ]; then
    FEATURES=(--no-default-features --features iked/engine)
    TARGET=$TARGET-glibc
fi
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=$TARGET cargo build --release -q \
    -p iked -p loadgen "${FEATURES[@]}"
IKED=$TARGET/release/iked
LOAD=$TARGET/release/ikeload
rm -rf "$OUT"
mkdir -p "$OUT"
NG=tp-$$-g
NS=tp-$$-s
cleanup() {
    for ns in $NG $NS; do
        if ip netns list | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. scripts/lib/tunnel-netns.sh
make_tunnel_netns $NG $NS

"$LOAD" server-config iked --clients "$CLIENTS" --dh "$DH" >"$OUT/iked.toml"
case $PROFILE in
    heap) WRAP=(heaptrack -o "$OUT/heap") ;;
    cpu) WRAP=(perf record -F "${FREQ:-499}" -g -o "$OUT/perf.data") ;;
esac
ip netns exec $NS taskset -c 0 "${WRAP[@]}" "$IKED" run -c "$OUT/iked.toml" \
    --socket "$OUT/iked.sock" --log-level error >"$OUT/iked.log" 2>&1 &
WPID=$!
for _ in $(seq 600); do [ -S "$OUT/iked.sock" ] && break; sleep 0.1; done
[ -S "$OUT/iked.sock" ] || { echo "iked did not start" >&2; cat "$OUT/iked.log" >&2; exit 1; }
ip netns exec $NG taskset -c 1 "$LOAD" run --clients "$CLIENTS" --rate "$RATE" --dh "$DH" \
    --max-in-flight 256 --leave --setup-limit 1800 --json "$OUT/run.json" | tail -12
IPID=$(pgrep -f "iked run -c $OUT/iked.toml" | grep -v "^$WPID$" | tail -1)
grep -E '^Vm(RSS|HWM)' "/proc/$IPID/status" || true
HOLD=${HOLD:-0}
if [ "$PROFILE" = heap ] && [ "$HOLD" -gt 0 ]; then
    # Held, then killed: heaptrack reports what was allocated at that moment as leaked.
    sleep "$HOLD"
    grep -E '^VmRSS' "/proc/$IPID/status" || true
    kill -KILL "$IPID"
else
    # SIGTERM: iked tears down and exits; the profiler writes its data on the way out.
    kill -TERM "$IPID"
fi
for _ in $(seq 1200); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
case $PROFILE in
    heap)
        f=$(ls "$OUT"/heap*.zst "$OUT"/heap*.gz 2>/dev/null | head -1 || true)
        if [ "$HOLD" -gt 0 ]; then what=(--print-peaks 0 --print-leaks 1); else what=(--print-peaks 1 --print-leaks 0); fi
        heaptrack_print -f "$f" "${what[@]}" --print-allocators 0 --print-temporary 0 \
            --peak-limit 40 --sub-peak-limit 4 >"$OUT/heap.txt" 2>/dev/null || true
        head -c 20000 "$OUT/heap.txt" | grep -v '^$' | head -200
        ;;
    cpu)
        perf report -i "$OUT/perf.data" --no-children --percent-limit 1 --stdio \
            --sort symbol 2>/dev/null >"$OUT/perf.txt" || true
        grep -v '^#' "$OUT/perf.txt" | grep '%' | head -50
        ;;
esac
echo "full report in $OUT"
