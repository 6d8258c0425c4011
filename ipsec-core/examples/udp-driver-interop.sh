#!/bin/bash
# udp-driver-interop.sh ROLE [PFS]   ROLE: engine-initiator | charon-initiator   PFS: none | modp2048
# Our engine (examples/udp-driver) in namespace ike-eng-e (198.18.0.1) against strongSwan charon
# (kernel-libipsec, so it fakes NAT and everything floats to 4500) in ike-eng-c (198.18.0.2).
# Main mode PSK aes128-sha256-modp2048, ESP aes128-sha1 [modp2048 PFS], tunnel
# 198.51.100.1/32 === 203.0.113.1/32. Compares the ESP keys with charon's log.
set -u
ROLE=${1:?role}
PFS=${2:-none}
MODE=${3:-main}
# AUTH=rsa: RSA signatures with vectors/pki (engine = moon 198.18.0.1, charon = sun
# 198.18.0.2 under the intermediate, both trusting ca.pem): charon `auth = pubkey`.
AUTH=${AUTH:-psk}
REPO=/work/main
DRIVER=${DRIVER:-/work/target-engine/debug/examples/udp-driver}
mkdir -p /tmp/ike-eng; W=$(mktemp -d /tmp/ike-eng/run.XXXXXX)
NS_E=ike-eng-e
NS_C=ike-eng-c
PSK="interop-test-psk-1"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  ip netns del $NS_E 2>/dev/null
  ip netns del $NS_C 2>/dev/null
}
trap cleanup EXIT
ip netns add $NS_E && ip netns add $NS_C || exit 1
ip link add ikee netns $NS_E type veth peer name ikec netns $NS_C
for ns in $NS_E $NS_C; do
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n $ns link set lo up
done
ip -n $NS_E addr add 198.18.0.1/24 dev ikee; ip -n $NS_E link set ikee up
ip -n $NS_C addr add 198.18.0.2/24 dev ikec; ip -n $NS_C link set ikec up
ip -n $NS_C addr add 203.0.113.1/32 dev lo

# --- charon ---
D=$W/charon; mkdir -p $D/run
PKI=$REPO/vectors/pki
for sub in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do mkdir -p $D/$sub; done
if [ "$AUTH" = rsa ]; then
  cp $PKI/ca.pem $PKI/intermediate.pem $D/x509ca/
  cp $PKI/sun.pem $D/x509/
  cp $PKI/sun.key.pem $D/private/
  LOCAL_REMOTE="local { auth = pubkey
      certs = sun.pem
      id = 198.18.0.2 }
    remote { auth = pubkey
      id = 198.18.0.1 }"
  ENGINE_AUTH="auth-method = \"rsa-signature\"
certificate = \"$PKI/moon.bundle.pem\"
ca = \"$W/ca-bundle.pem\""
  # The engine's `ca`: root and intermediate (default); ENGINE_CA=root: the root alone
  # (charon sends the intermediate as an issuer cert); ENGINE_CA=other: an unrelated CA,
  # which must fail (UnknownCa, INVALID-CERTIFICATE to charon).
  case "${ENGINE_CA:-}" in
    root) cp $PKI/ca.pem $W/ca-bundle.pem ;;
    other) cp $PKI/other-ca.pem $W/ca-bundle.pem ;;
    *) cat $PKI/ca.pem $PKI/intermediate.pem > $W/ca-bundle.pem ;;
  esac
else
  LOCAL_REMOTE="local { auth = psk }
    remote { auth = psk }"
  ENGINE_AUTH="secret = \"$PSK\""
fi
sed "s|@DIR@|$D|g" $REPO/tests/lab/strongswan.conf.in > $D/strongswan.conf
ESP=aes128-sha1; [ "$PFS" != none ] && ESP=aes128-sha1-$PFS
AGGR=no; [ "$MODE" = aggressive ] && AGGR=yes
cat > $D/swanctl.conf <<EOC
connections {
  eng {
    version = 1
    aggressive = $AGGR
    local_addrs = 198.18.0.2
    remote_addrs = 198.18.0.1
    proposals = aes128-sha256-modp2048
    ${CONN_EXTRA:-}
    $LOCAL_REMOTE
    children {
      net {
        mode = tunnel
        local_ts = 203.0.113.1/32
        remote_ts = 198.51.100.1/32
        esp_proposals = $ESP
        ${CHILD_EXTRA:-}
      }
    }
  }
}
secrets {
  ike-eng {
    id-a = 198.18.0.2
    id-b = 198.18.0.1
    secret = "$PSK"
  }
}
EOC
STRONGSWAN_CONF=$D/strongswan.conf ip netns exec $NS_C unshare -m sh -c "mount --make-rprivate / && mount --bind '$D/run' /run && exec /usr/lib/ipsec/charon" >$D/charon.stdout 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do [ -S $D/charon.vici ] && break; sleep 0.1; done
STRONGSWAN_CONF=$D/strongswan.conf timeout 20 swanctl --load-all --noprompt --file $D/swanctl.conf >$W/load.txt 2>&1 || { cat $W/load.txt; exit 1; }

# --- our engine ---
PFSCFG=none; [ "$PFS" != none ] && PFSCFG=$PFS
cat > $W/engine.toml <<EOC
[daemon]
listen = ["198.18.0.1"]

[[peer]]
name = "charon"
address = "198.18.0.2/32"
local-address = "198.18.0.1"
exchange-mode = "$MODE"
$ENGINE_AUTH
dh-group = ["modp2048"]
enc-algorithm = ["aes-128"]
hash-algorithm = ["sha256"]
nat-traversal = true

[[proposal]]
name = "p"
enc-algorithms = ["aes-128-cbc"]
auth-algorithms = ["sha1"]
pfs-group = "$PFSCFG"
lifetime = "${P2_LIFETIME:-30m}"

[[policy]]
src-address = "198.51.100.1/32"
dst-address = "203.0.113.1/32"
tunnel = true
sa-src-address = "198.18.0.1"
sa-dst-address = "198.18.0.2"
proposal = "p"
EOC

if [ "$ROLE" = engine-initiator ]; then
  timeout $(( ${TIMEOUT:-30} + 10 )) ip netns exec $NS_E $DRIVER $W/engine.toml --listen 198.18.0.1 --initiate charon --exit-after-installs 2 --linger ${LINGER:-2} --timeout ${TIMEOUT:-30} ${DRIVER_EXTRA:-} >$W/engine.out 2>&1
  RC=$?
else
  ip netns exec $NS_E $DRIVER $W/engine.toml --listen 198.18.0.1 --exit-after-installs 2 --linger ${LINGER:-2} --timeout ${TIMEOUT:-30} ${DRIVER_EXTRA:-} >$W/engine.out 2>&1 &
  EP=$!; PIDS+=($EP)
  sleep 0.5
  STRONGSWAN_CONF=$D/strongswan.conf timeout 30 swanctl --initiate --ike eng --child net --timeout 20 >$W/initiate.txt 2>&1
  echo "swanctl --initiate rc=$?"
  if [ -n "${CHARON_TERMINATE_AFTER:-}" ]; then
    sleep $CHARON_TERMINATE_AFTER
    STRONGSWAN_CONF=$D/strongswan.conf timeout 30 swanctl --terminate --ike eng --timeout 10 >$W/terminate.txt 2>&1
    echo "swanctl --terminate rc=$?"
  fi
  wait $EP; RC=$?
fi
sleep 0.5
echo "driver rc=$RC"
cat $W/engine.out
echo "--- charon:"
grep -E "established|received NAT-T|faking|NO_PROPOSAL|failed|error|INVALID|AUTH|DELETE|DPD|rekey|deleting|closing|R_U_THERE|sending DPD" $D/charon.log | grep -v "ENC\]" | grep -v "loaded plugins" | head -${LOGLINES:-40}
python3 - "$D/charon.log" "$W/engine.out" "$ROLE" <<'PY'
import re, sys
log, out, role = sys.argv[1], sys.argv[2], sys.argv[3]
keys = {}
lines = open(log).read().splitlines()
for i, l in enumerate(lines):
    m = re.search(r"(encryption|integrity) (initiator|responder) key => (\d+) bytes", l)
    if not m: continue
    n = int(m.group(3)); hexs = []
    j = i + 1
    while len(hexs) < n and j < len(lines):
        mm = re.match(r".*\]\s+\S*\s*\d+: ((?:[0-9A-F]{2} ){1,16})", lines[j])
        if not mm: break
        hexs += mm.group(1).split(); j += 1
    keys.setdefault((m.group(1), m.group(2)), "".join(hexs[:n]).lower())
ours = {}
for l in open(out):
    m = re.search(r"INSTALL (Inbound|Outbound) spi=(\w+) .* enc_key=(\w*) salt=\w* integ_key=(\w*)", l)
    if m: ours.setdefault(m.group(1), (m.group(3), m.group(4)))
if not keys or len(ours) != 2:
    print("KEYS: incomplete", keys.keys(), ours.keys()); sys.exit(1)
# initiator key = the key of initiator->responder traffic
i2r = "Outbound" if role == "engine-initiator" else "Inbound"
r2i = "Inbound" if role == "engine-initiator" else "Outbound"
ok = (ours[i2r] == (keys[("encryption","initiator")], keys[("integrity","initiator")]) and
      ours[r2i] == (keys[("encryption","responder")], keys[("integrity","responder")]))
print("charon keys:", keys)
print("engine keys:", ours)
print("KEYS MATCH" if ok else "KEYS DIFFER")
sys.exit(0 if ok else 1)
PY
KRC=$?
grep -q "CHILD_SA net{1} established" $D/charon.log && echo "CHARON: CHILD_SA established" || echo "CHARON: no CHILD_SA"
echo "work dir: $W"
[ $RC = 0 ] && [ $KRC = 0 ] && grep -q "CHILD_SA net{1} established" $D/charon.log
