#!/usr/bin/env bash
# Tunnel set-up benchmark, one command, as root: the same road-warrior load (ikeload: PSK +
# XAuth + mode-config + quick mode, aggressive mode, ESP in UDP as behind a NAT) against iked
# and against strongSwan charon, both with their userspace dataplane (iked `dataplane =
# "userspace"`, charon kernel-libipsec), same machine, same run, same proposals (IKE
# aes128-sha256-<group>, ESP aes128gcm16, no PFS), for DH groups modp2048 and ecp256.
#
# The server runs on CPU 0 and the generator on CPU 1 (taskset), so the server's figures are
# one core's. For each daemon, group and size: tunnels/s as fast as the generator's in-flight
# cap allows, set-up latency p50/p99/max, the server's CPU seconds per 1000 tunnels (from
# /proc/<pid>/stat), its resident memory per held tunnel ((VmRSS after - VmRSS idle) / tunnels
# held). Then, at the first size, a run at half the measured rate for the latency goal, and
# the DH arithmetic's own limit on one core (`ikeload dh-limit`). Last, the floor the kernel's
# UDP path sets: the same datagrams (count, sizes, order) answered by a responder that does
# nothing else (`ikeload udp-echo`, one syscall per datagram, and batched with recvmmsg/
# sendmmsg), its CPU time per tunnel on the server's core; with the DH limit it bounds what
# any responder on these sockets can reach. Prints a table (docs/benchmarks.md, "Tunnel
# set-up").
#
# Environment: SIZES (default "1000 10000"; the full run is "1000 10000 100000"), DH_GROUPS
# (default "modp2048 ecp256"), ONLY (default "iked charon"), INFLIGHT (generator's in-flight
# cap, default 256), CARGO_TARGET_DIR.
#
# Namespaces tb-<pid>-g (generator, 198.18.0.1, clients 100.80.0.0/13 routed to itself) and
# tb-<pid>-s (server, 198.18.0.2, LAN 203.0.113.1); fresh for every measurement, removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000 10000"}
DH_GROUPS=${DH_GROUPS:-"modp2048 ecp256"}
ONLY=${ONLY:-"iked charon"}
INFLIGHT=${INFLIGHT:-256}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-tunnels.sh: needs root (namespaces, TUN, charon)" >&2
    exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "bench-tunnels.sh: needs 2 CPUs (server and generator each get one)" >&2
    exit 1
fi

PKGS=(iproute2 util-linux python3 strongswan-charon strongswan-swanctl strongswan-libcharon
    libstrongswan libstrongswan-standard-plugins libstrongswan-extra-plugins
    libcharon-extra-plugins)
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> cargo build --release -p iked -p loadgen"
cargo build --release -q -p iked -p loadgen
IKED=$TARGET/release/iked
LOAD=$TARGET/release/ikeload
WORK=$(mktemp -d /tmp/bench-tunnels.XXXXXX)
K=0
NG=tb-$$-g$K
NS=tb-$$-s$K
TICK=$(getconf CLK_TCK)
SPID=""

teardown() {
    local killed=()
    for ns in $NG $NS; do
        if ip netns list | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                kill -9 "$pid" 2>/dev/null && killed+=("$pid")
            done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    # Wait for them to be gone: a server holding 100 000 tunnels takes seconds to exit, and
    # the next measurement must not find it (same command line) instead of its own.
    for pid in "${killed[@]}"; do
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    SPID=""
}
cleanup() {
    teardown
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. scripts/lib/tunnel-netns.sh
setup() {
    teardown
    # Fresh names each time: re-adding a name just deleted can race with its unmount.
    K=$((K + 1))
    NG=tb-$$-g$K
    NS=tb-$$-s$K
    make_tunnel_netns $NG $NS
    # A neighbour table big enough for the server's replies (one entry, the generator).
    ip netns exec $NS sysctl -qw net.core.rmem_max=16777216 >/dev/null 2>&1 || true
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The pid of the process named $1 in the server namespace (waits up to 5 s for it): the
# servers are started through `ip netns exec` and taskset, whose pid is not theirs.
pid_of() {
    local p
    for _ in $(seq 50); do
        p=$(ip netns pids $NS | while read -r q; do
            [ "$(cat /proc/"$q"/comm 2>/dev/null)" = "$1" ] && echo "$q"; done | head -1)
        [ -n "$p" ] && { echo "$p"; return; }
        sleep 0.1
    done
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_iked() { # dh clients
    "$LOAD" server-config iked --clients "$2" --dh "$1" >"$WORK/iked.toml"
    ip netns exec $NS taskset -c 0 "$IKED" run -c "$WORK/iked.toml" --socket "$WORK/iked.sock" \
        --log-level error >"$WORK/iked.log" 2>&1 &
    SPID=$!
    for _ in $(seq 200); do [ -S "$WORK/iked.sock" ] && break; sleep 0.05; done
    [ -S "$WORK/iked.sock" ] || { echo "iked did not start:" >&2; cat "$WORK/iked.log" >&2; exit 1; }
}

start_charon() { # dh
    local d=$WORK/charon
    rm -rf "$d"
    mkdir -p "$d/run" "$d/conf.d"
    for sub in x509 x509ca x509crl pubkey private rsa ecdsa pkcs8 pkcs12; do mkdir -p "$d/$sub"; done
    cat >"$d/strongswan.conf" <<EOF
charon {
  load_modular = yes
  plugins {
    include /etc/strongswan.d/charon/*.conf
  }
}
include /etc/strongswan.d/*.conf
charon {
  # Responders refuse aggressive mode with PSK unless told (iked only warns).
  i_dont_care_about_security_and_use_aggressive_mode_psk = yes
  plugins {
    kernel-libipsec { load = yes }
    vici { socket = unix://$d/charon.vici }
    stroke { load = no }
    forecast { load = no }
    ha { load = no }
    tpm { load = no }
    pkcs11 { load = no }
    ldap { load = no }
    resolve { file = $d/resolv.conf }
  }
  syslog { daemon { default = -1 } auth { default = -1 } }
  filelog { log { path = $d/charon.log
    append = no
    default = ${CHARON_LOG:-0} } }
}
swanctl { socket = unix://$d/charon.vici }
EOF
    "$LOAD" server-config swanctl --dh "$1" >"$d/swanctl.conf"
    # exec keeps the pid: $! is charon itself once unshare has set up the mount namespace.
    STRONGSWAN_CONF=$d/strongswan.conf ip netns exec $NS taskset -c 0 unshare -m sh -c \
        "mount --make-rprivate / && mount --bind '$d/run' /run && exec /usr/lib/ipsec/charon" \
        >"$d/stdout" 2>&1 &
    SPID=$!
    for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
    sleep 0.3
    STRONGSWAN_CONF=$d/strongswan.conf timeout 30 swanctl --load-all --noprompt \
        --file "$d/swanctl.conf" >"$d/load.log" 2>&1 ||
        { echo "charon: swanctl --load-all failed" >&2; cat "$d/load.log" >&2; exit 1; }
    # $SPID is `ip netns exec`'s child chain; charon itself for /proc figures.
    SPID=$(pid_of charon)
}

# One measurement: prints "tps p50 p99 max cpu_per_1000 bytes_per_tunnel held established".
measure() { # daemon dh clients rate
    setup
    case $1 in
        iked) start_iked "$2" "$3" ;;
        charon) start_charon "$2" ;;
    esac
    [ "$1" = iked ] && SPID=$(pid_of iked)
    sleep 1
    local r0 t0 r1 t1
    r0=$(rss_kb "$SPID")
    t0=$(ticks "$SPID")
    ip netns exec $NG taskset -c 1 "$LOAD" run --clients "$3" --rate "$4" --dh "$2" \
        --max-in-flight "$INFLIGHT" --leave --setup-limit 900 --json "$WORK/run.json" \
        >"$WORK/run.txt" 2>&1 || { echo "ikeload failed:" >&2; cat "$WORK/run.txt" >&2; }
    sleep 1
    [ -n "${KEEP:-}" ] && cp -r "$WORK" "/tmp/bench-tunnels-$1-$2-$3-$4"
    t1=$(ticks "$SPID")
    r1=$(rss_kb "$SPID")
    python3 - "$WORK/run.json" "$r0" "$r1" "$t0" "$t1" "$TICK" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r0, r1, t0, t1, tick = map(float, sys.argv[2:7])
est = max(r["established"], 1)
cpu = (t1 - t0) / tick / est * 1000
per = (r1 - r0) * 1024 / max(r["held"], 1)
fails = sum(r["failures"].values())
print(f'{r["tunnels_per_second"]:.0f} {r["latency_ms_p50"]:.1f} {r["latency_ms_p99"]:.1f} '
      f'{r["latency_ms_max"]:.1f} {cpu:.2f} {per:.0f} {r["held"]} {r["established"]} {fails}')
EOF
    teardown
}

# The UDP floor: server CPU microseconds per tunnel of `ikeload udp-echo` [--batched] on CPU 0
# answering `ikeload udp-floor` on CPU 1 (100 000 tunnels, in-flight cap as for the daemons).
measure_floor() { # [--batched]
    setup
    ip netns exec $NS taskset -c 0 "$LOAD" udp-echo "$@" >"$WORK/echo.txt" 2>&1 &
    local pid
    pid=$(pid_of ikeload)
    sleep 0.3
    local t0 t1
    t0=$(ticks "$pid")
    ip netns exec $NG taskset -c 1 "$LOAD" udp-floor --tunnels 100000 --max-in-flight "$INFLIGHT" \
        >"$WORK/floor.json" 2>&1 || { echo "udp-floor failed:" >&2; cat "$WORK/floor.json" >&2; }
    t1=$(ticks "$pid")
    teardown
    python3 -c "print(round(($t1 - $t0) / $TICK / 100000 * 1e6, 1))"
}

ROWS=()
declare -A TPS DH_US
for dh in $DH_GROUPS; do
    taskset -c 0 "$LOAD" dh-limit --dh "$dh" --seconds 2 >"$WORK/dh.json"
    limit=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["tunnels_per_second"]))' "$WORK/dh.json")
    DH_US[$dh]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["us_per_tunnel"])' "$WORK/dh.json")
    ROWS+=("DH arithmetic limit (one core) $dh: $limit tunnels/s (${DH_US[$dh]} us per tunnel)")
    for daemon in $ONLY; do
        for n in $SIZES; do
            echo "==> $daemon $dh $n clients, as fast as possible" >&2
            measure "$daemon" "$dh" "$n" 0 >"$WORK/m.txt"
            read -r tps p50 p99 max cpu per held est fails <"$WORK/m.txt"
            ROWS+=("$(printf '| %-6s | %-8s | %7s | %6s | %7s | %7s | %7s | %8s | %9s | %7s | %5s |' \
                "$daemon" "$dh" "$n" "$tps" "$p50" "$p99" "$max" "$cpu" "$per" "$held" "$fails")")
            echo "${ROWS[-1]}" >&2
            first=${SIZES%% *}
            [ "$n" = "$first" ] && TPS[$daemon-$dh]=$tps
        done
        half=$(( ${TPS[$daemon-$dh]:-2} / 2 ))
        n=${SIZES%% *}
        echo "==> $daemon $dh $n clients at half rate ($half/s)" >&2
        measure "$daemon" "$dh" "$n" "$half" >"$WORK/m.txt"
        read -r tps p50 p99 max cpu per held est fails <"$WORK/m.txt"
        ROWS+=("$(printf '| %-6s | %-8s | %7s | %6s | %7s | %7s | %7s | %8s | %9s | %7s | %5s |' \
            "$daemon" "$dh" "$n@$half/s" "$tps" "$p50" "$p99" "$max" "$cpu" "$per" "$held" "$fails")")
        echo "${ROWS[-1]}" >&2
    done
done

echo "==> UDP floor (udp-echo, one syscall per datagram, then batched)" >&2
floor=$(measure_floor)
floor_b=$(measure_floor --batched)
ROWS+=("UDP floor (kernel, server core): $floor us per tunnel; batched (recvmmsg/sendmmsg): $floor_b us")
for dh in $DH_GROUPS; do
    ROWS+=("$(python3 -c "
f, d = $floor_b, ${DH_US[$dh]}
print(f'Ceiling $dh, DH + batched UDP floor and nothing else: {1e6 / (f + d):.0f} tunnels/s '
      f'= {100 * d / (f + d):.0f} % of the DH limit')")")
done

echo
echo "| daemon | group    | clients | tun/s  | p50 ms  | p99 ms  | max ms  | CPU s/1k | B/tunnel  | held    | fail  |"
echo "|--------|----------|---------|--------|---------|---------|---------|----------|-----------|---------|-------|"
for r in "${ROWS[@]}"; do
    case $r in "|"*) echo "$r" ;; esac
done
echo
for r in "${ROWS[@]}"; do
    case $r in "|"*) ;; *) echo "$r" ;; esac
done
