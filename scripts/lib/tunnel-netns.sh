# Sourced by bench-tunnels.sh and profile-tunnels.sh: the two namespaces of a tunnel set-up
# run. make_tunnel_netns GEN SRV: generator GEN (198.18.0.1, owning every client address of
# 100.80.0.0/13 through an AnyIP route) and server SRV (198.18.0.2, the clients routed to the
# generator, LAN address 203.0.113.1), joined by a veth pair.
make_tunnel_netns() {
    local gen=$1 srv=$2 ns
    ip netns add "$gen"
    ip netns add "$srv"
    ip -n "$gen" link add eth0 type veth peer name eth0 netns "$srv"
    ip -n "$gen" addr add 198.18.0.1/24 dev eth0
    ip -n "$srv" addr add 198.18.0.2/24 dev eth0
    for ns in "$gen" "$srv"; do
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
    # AnyIP: the generator owns every client address without adding 100,000 of them.
    ip -n "$gen" route add local 100.80.0.0/13 dev lo
    ip -n "$srv" route add 100.80.0.0/13 via 198.18.0.1
    ip -n "$srv" addr add 203.0.113.1/32 dev lo
}
