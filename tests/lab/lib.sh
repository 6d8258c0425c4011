# Helpers for the ikv capture lab: two network namespaces, two strongSwan charons.
# Source me (bash). Everything this creates is named ikv-* and torn down by ikv_cleanup.
#
# Topology (all inside namespaces; nothing touches the host's links):
#   ikv-i-$$  (initiator)  veth ikvi 198.18.0.1/24  <-->  veth ikvr 198.18.0.2/24  ikv-r-$$ (responder)
#   inner hosts on lo:     198.51.100.1/32 (initiator)          203.0.113.1/32 (responder)

IKV_LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IKV_CHARON=${IKV_CHARON:-/usr/lib/ipsec/charon}
IKV_NS_I=${IKV_NS_I:-ikv-i-$$}
IKV_NS_R=${IKV_NS_R:-ikv-r-$$}
IKV_IF_I=ikvi
IKV_IF_R=ikvr
IKV_ADDR_I=198.18.0.1
IKV_ADDR_R=198.18.0.2
IKV_INNER_I=198.51.100.1
IKV_INNER_R=203.0.113.1
IKV_PIDS=()          # every process we started (charons, tcpdump), killed by pid in ikv_cleanup

ikv_log() { echo "[ikv $(date +%H:%M:%S)] $*" >&2; }
ikv_die() { ikv_log "ERROR: $*"; exit 1; }

# ikv_topology: create the two namespaces and the veth pair (created directly inside the
# namespaces, so no interface name ever exists in the host namespace).
ikv_topology() {
  ip netns add "$IKV_NS_I" || return 1
  ip netns add "$IKV_NS_R" || return 1
  ip link add "$IKV_IF_I" netns "$IKV_NS_I" type veth peer name "$IKV_IF_R" netns "$IKV_NS_R" || return 1
  local ns
  for ns in "$IKV_NS_I" "$IKV_NS_R"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
  done
  ip -n "$IKV_NS_I" addr add "$IKV_ADDR_I/24" dev "$IKV_IF_I"
  ip -n "$IKV_NS_R" addr add "$IKV_ADDR_R/24" dev "$IKV_IF_R"
  ip -n "$IKV_NS_I" addr add "$IKV_INNER_I/32" dev lo
  ip -n "$IKV_NS_R" addr add "$IKV_INNER_R/32" dev lo
  ip -n "$IKV_NS_I" link set "$IKV_IF_I" up
  ip -n "$IKV_NS_R" link set "$IKV_IF_R" up
}

# ikv_mkconf DIR: per-instance strongswan.conf (own VICI socket, log file, resolv file, private /run)
ikv_mkconf() {
  local d=$1
  mkdir -p "$d/run"
  # swanctl --load-all --file DIR/swanctl.conf also scans DIR's credential subdirectories
  local sub
  for sub in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do
    mkdir -p "$d/$sub"
  done
  sed "s|@DIR@|$d|g" "$IKV_LAB_DIR/strongswan.conf.in" > "$d/strongswan.conf"
}

# ikv_start_charon DIR NETNS: start charon in NETNS with a private /run (its pid file is
# compiled in as /var/run/charon.pid); waits (bounded) for the VICI socket.
ikv_start_charon() {
  local d=$1 ns=$2 i
  rm -f "$d/run/charon.pid" "$d/charon.vici"
  STRONGSWAN_CONF="$d/strongswan.conf" ip netns exec "$ns" \
    unshare -m sh -c "mount --make-rprivate / && mount --bind '$d/run' /run && exec '$IKV_CHARON'" \
    >"$d/charon.stdout" 2>&1 &
  local pid=$!
  IKV_PIDS+=("$pid")
  echo "$pid" > "$d/charon.mypid"
  for i in $(seq 1 100); do
    [ -S "$d/charon.vici" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$d/charon.stdout" >&2; return 1; }
    sleep 0.1
  done
  ikv_log "charon in $ns did not open its VICI socket"; return 1
}

# ikv_sw DIR swanctl-args...: swanctl against the instance's VICI socket (bounded by timeout)
ikv_sw() {
  local d=$1; shift
  STRONGSWAN_CONF="$d/strongswan.conf" timeout 30 swanctl "$@"
}

# ikv_stop_pid PID: SIGTERM, wait (bounded), then SIGKILL
ikv_stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# ikv_cleanup: kill our processes (by pid) and delete our namespaces. Safe to call twice.
ikv_cleanup() {
  local pid
  for pid in "${IKV_PIDS[@]}"; do ikv_stop_pid "$pid"; done
  IKV_PIDS=()
  ip netns del "$IKV_NS_I" 2>/dev/null
  ip netns del "$IKV_NS_R" 2>/dev/null
  return 0
}
