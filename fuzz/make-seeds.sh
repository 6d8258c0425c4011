#!/usr/bin/env bash
# Regenerate fuzz/seeds/datagram/ from every UDP payload of every capture under vectors/.
# Each seed is named after its content's SHA-256, so re-running is idempotent and captures
# added later only add files. Needs tshark.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/seeds/datagram"
mkdir -p "$out"
count=0
while IFS= read -r -d '' pcap; do
    # One line per UDP datagram: the destination port, then the payload in hex. The port
    # travels with the seed as its first two bytes, because the fuzz target classifies
    # the datagram by port (500 or 4500) first.
    while IFS=$'\t' read -r dport payload; do
        [ -n "$payload" ] || continue
        seed="$(printf '%04x%s' "$dport" "$payload" | xxd -r -p | tee /tmp/.seed.$$ | sha256sum | cut -c1-16)"
        mv /tmp/.seed.$$ "$out/$seed"
        count=$((count + 1))
    done < <(tshark -r "$pcap" -Y udp -T fields -e udp.dstport -e udp.payload 2>/dev/null)
done < <(find "$root/vectors" -name '*.pcap' -print0 | sort -z)
echo "$count datagrams, $(ls "$out" | wc -l) distinct seeds in $out"
