#!/usr/bin/env bash
# Dataplane benchmark, one command, as root: throughput through a tunnel between two network
# namespaces, in one run, for
#   (a) the plain TUN path without encryption (iked/examples/tun-udp-forward.rs: TUN <-> UDP),
#   (b) iked <-> iked, userspace ESP dataplane (TUN iked0; no NAT here, so raw ESP),
#   (c) strongSwan charon <-> charon with kernel-libipsec (TUN ipsec0, ESP in UDP 4500),
# for AES-128-GCM and AES-128-CBC/HMAC-SHA1, with iperf3: TCP (Gbit/s) and UDP with 1400-byte
# packets (1372-byte payloads: 1400 is the TUN MTU of both dataplanes, so nothing fragments;
# packets per second received). Prints a table; see docs/benchmarks.md.
#
# Environment: SECS (iperf3 duration, default 5), CARGO_TARGET_DIR (default target),
# ONLY (space-separated subset of: tun iked charon).
#
# Namespaces: dpb-<pid>-a / dpb-<pid>-b, lab addresses only (198.18.0.0/15, 198.51.100.0/24,
# 203.0.113.0/24); everything is removed on exit (trap).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-5}
ONLY=${ONLY:-"tun iked charon"}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-dataplane.sh: needs root (namespaces, TUN, charon)" >&2
    exit 1
fi

PKGS=(iproute2 iputils-ping iperf3 python3 util-linux strongswan-charon strongswan-swanctl
    strongswan-libcharon libstrongswan libstrongswan-standard-plugins
    libstrongswan-extra-plugins libcharon-extra-plugins)
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

echo "==> cargo build --release (iked, tun-udp-forward)"
cargo build --release --locked -p iked --bin iked --example tun-udp-forward
IKED=$TARGET/release/iked
FWD=$TARGET/release/examples/tun-udp-forward

P=dpb-$$
NA=$P-a
NB=$P-b
WORK=$(mktemp -d /tmp/dpb-XXXXXX)
PIDS=()
A=198.18.0.1 B=198.18.0.2 IA=198.51.100.1 IB=203.0.113.1
PSK="bench-dataplane-psk"

stop_pids() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    PIDS=()
}
del_ns() {
    for ns in "$NA" "$NB"; do
        if ip netns list | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
cleanup() {
    stop_pids
    del_ns
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two hosts on a veth: a 198.18.0.1 (inner 198.51.100.1 on lo), b 198.18.0.2 (inner 203.0.113.1).
topology() {
    del_ns
    ip netns add "$NA"
    ip netns add "$NB"
    ip -n "$NA" link add eth0 type veth peer name eth0 netns "$NB"
    ip -n "$NA" addr add $A/24 dev eth0
    ip -n "$NB" addr add $B/24 dev eth0
    ip -n "$NA" addr add $IA/32 dev lo
    ip -n "$NB" addr add $IB/32 dev lo
    for ns in "$NA" "$NB"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
}

cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# iperf3 from a's inner address to b's; prints "GBITS PPS CPU%".
measure() {
    local tag=$1 ok=
    for _ in $(seq 60); do
        if ip netns exec "$NA" ping -n -c1 -W1 -I $IA $IB >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.5
    done
    [ -n "$ok" ] || { echo "$tag: no ping through the tunnel" >&2; return 1; }
    ip netns exec "$NB" iperf3 -s -D -B $IB -I "$WORK/iperf3.pid" >/dev/null
    sleep 0.5
    local c0 c1
    c0=$(cpu_busy)
    ip netns exec "$NA" timeout $((SECS + 30)) iperf3 -c $IB -B $IA -t "$SECS" -J \
        >"$WORK/$tag-tcp.json" || true
    c1=$(cpu_busy)
    ip netns exec "$NA" timeout $((SECS + 30)) iperf3 -c $IB -B $IA -t "$SECS" -u -b 0 \
        -l 1372 -J >"$WORK/$tag-udp.json" 2>"$WORK/$tag-udp.err" || true
    kill "$(cat "$WORK/iperf3.pid")" 2>/dev/null || true
    sleep 0.3
    python3 - "$WORK/$tag-tcp.json" "$WORK/$tag-udp.json" "$c0" "$c1" <<'EOF'
import json, sys
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return {}
tcp, udp = load(sys.argv[1]), load(sys.argv[2])
g = tcp.get("end", {}).get("sum_received", {}).get("bits_per_second")
s = udp.get("end", {}).get("sum", {})
pps = None
if s.get("seconds"):
    pps = (s.get("packets", 0) - s.get("lost_packets", 0)) / s["seconds"]
b0, t0 = map(int, sys.argv[3].split()); b1, t1 = map(int, sys.argv[4].split())
cpu = 100.0 * (b1 - b0) / max(1, t1 - t0)
print("%s %s %.0f" % ("%.2f" % (g / 1e9) if g else "-", "%.0f" % pps if pps else "-", cpu))
EOF
}

RESULTS=()
record() { RESULTS+=("$1|$2"); printf '    %-34s %s\n' "$1" "$2"; }

# ---- (a) TUN <-> UDP without encryption ------------------------------------------------------
bench_tun() {
    topology
    ip netns exec "$NA" "$FWD" tunb0 $A:5555 $B:5555 >"$WORK/fwd-a.log" 2>&1 &
    PIDS+=($!)
    ip netns exec "$NB" "$FWD" tunb0 $B:5555 $A:5555 >"$WORK/fwd-b.log" 2>&1 &
    PIDS+=($!)
    for ns in "$NA" "$NB"; do
        for _ in $(seq 50); do ip -n "$ns" link show tunb0 >/dev/null 2>&1 && break; sleep 0.1; done
    done
    ip -n "$NA" route add $IB/32 dev tunb0 src $IA
    ip -n "$NB" route add $IA/32 dev tunb0 src $IB
    record "plain TUN<->UDP (no crypto)" "$(measure tun)"
    stop_pids
}

# ---- (b) iked <-> iked, userspace dataplane --------------------------------------------------
iked_conf() { # listen peer src dst proposal extra
    cat <<EOF
[daemon]
listen = ["$1"]
dataplane = "userspace"

[[peer]]
name = "peer"
address = "$2/32"
local-address = "$1"
secret = "$PSK"
$6

[[proposal]]
name = "p"
$5

[[policy]]
src-address = "$3/32"
dst-address = "$4/32"
tunnel = true
sa-src-address = "$1"
sa-dst-address = "$2"
proposal = "p"
EOF
}

bench_iked() { # label proposal
    topology
    iked_conf $B $A $IB $IA "$2" "" >"$WORK/iked-b.toml"
    iked_conf $A $B $IA $IB "$2" "auto-start = true" >"$WORK/iked-a.toml"
    for s in b a; do
        local ns=$NA
        [ $s = b ] && ns=$NB
        ip netns exec "$ns" "$IKED" run -c "$WORK/iked-$s.toml" --socket "$WORK/iked-$s.sock" \
            --log-level info >"$WORK/iked-$s.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 100); do [ -S "$WORK/iked-$s.sock" ] && break; sleep 0.1; done
    done
    record "iked userspace $1" "$(measure "iked-$1")"
    stop_pids
}

# ---- (c) charon <-> charon, kernel-libipsec --------------------------------------------------
start_charon() { # side ns local remote lts rts esp
    local d=$WORK/charon-$1
    mkdir -p "$d/run"
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
    default = 1 } }
}
swanctl { socket = unix://$d/charon.vici }
EOF
    cat >"$d/swanctl.conf" <<EOF
connections {
  bench {
    version = 1
    local_addrs = $3
    remote_addrs = $4
    proposals = aes128-sha256-modp2048
    local { auth = psk }
    remote { auth = psk }
    children {
      net {
        mode = tunnel
        local_ts = $5/32
        remote_ts = $6/32
        esp_proposals = $7
        start_action = none
      }
    }
  }
}
secrets { ike-b { id-a = $3
    id-b = $4
    secret = "$PSK" } }
EOF
    STRONGSWAN_CONF=$d/strongswan.conf ip netns exec "$2" unshare -m sh -c \
        "mount --make-rprivate / && mount --bind '$d/run' /run && exec /usr/lib/ipsec/charon" \
        >"$d/stdout" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
    sleep 0.2
    for _ in $(seq 20); do
        STRONGSWAN_CONF=$d/strongswan.conf timeout 20 swanctl --load-all --noprompt \
            --file "$d/swanctl.conf" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "charon $1: swanctl --load-all failed" >&2
    return 1
}

bench_charon() { # label esp_proposals
    topology
    start_charon b "$NB" $B $A $IB $IA "$2"
    start_charon a "$NA" $A $B $IA $IB "$2"
    STRONGSWAN_CONF=$WORK/charon-a/strongswan.conf timeout 30 \
        swanctl --initiate --child net --timeout 20 >"$WORK/charon-initiate.log" 2>&1 ||
        { echo "charon initiate failed:"; cat "$WORK/charon-initiate.log"; } >&2
    record "charon kernel-libipsec $1" "$(measure "charon-$1")"
    stop_pids
}

echo "==> $(nproc) CPUs, $(uname -r), iperf3 ${SECS}s per measurement"
printf '    %-34s %s\n' "" "TCP-Gbit/s UDP-pps(1400B-pkts) CPU%(during-TCP)"
for what in $ONLY; do
    case $what in
    tun) bench_tun ;;
    iked)
        bench_iked aes128gcm 'enc-algorithms = ["aes-128-gcm"]'
        bench_iked aes128-sha1 $'enc-algorithms = ["aes-128-cbc"]\nauth-algorithms = ["sha1"]'
        ;;
    charon)
        bench_charon aes128gcm aes128gcm16
        bench_charon aes128-sha1 aes128-sha1
        ;;
    esac
done

echo
echo "| path | TCP Gbit/s | UDP pps (1400-byte packets) | CPU % (all cores, during TCP) |"
echo "|---|---|---|---|"
for r in "${RESULTS[@]}"; do
    label=${r%%|*}
    read -r g p c <<<"${r#*|}"
    echo "| $label | $g | $p | $c |"
done
