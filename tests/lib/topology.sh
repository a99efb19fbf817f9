# The example site in network namespaces: "db" (10.77.0.10, fd77::10)
# joined by veth to "net", which holds the other hosts' addresses: an app
# server (.21), an admin (.30) and a stranger (.66).  Nothing else is
# touched; topo_down removes both namespaces.
#   topo_up DB-NS NET-NS
topo_up() {
	local db=$1 net=$2 a
	ip netns add "$db" && ip netns add "$net" || return 1
	ip link add veth-db netns "$db" type veth peer name veth-net netns "$net" || return 1
	for n in "$db" "$net"; do ip -n "$n" link set lo up; done
	ip -n "$db" link set veth-db up
	ip -n "$net" link set veth-net up
	ip -n "$db" addr add 10.77.0.10/24 dev veth-db
	ip -n "$db" addr add fd77::10/64 dev veth-db nodad
	for a in 10.77.0.21 10.77.0.30 10.77.0.66; do ip -n "$net" addr add $a/24 dev veth-net; done
	for a in fd77::21 fd77::30 fd77::66; do ip -n "$net" addr add $a/64 dev veth-net nodad; done
}
topo_down() {
	ip netns del "$1" 2>/dev/null
	ip netns del "$2" 2>/dev/null
	return 0
}
# tcp_probe NET-NS SRC DST PORT: "open" when a SYN got an answer (a reset
# from the closed port counts: the firewall let it in), "dropped" on
# timeout.  The source address is pinned with a host route.
tcp_probe() {
	local net=$1 src=$2 dst=$3 port=$4 out
	ip -n "$net" route replace "$dst" dev veth-net src "$src" 2>/dev/null
	out=$(ip netns exec "$net" timeout 2 bash -c "exec 3<>/dev/tcp/$dst/$port" 2>&1)
	case $? in
	0) echo open ;;
	124) echo dropped ;;
	*) grep -q "refused" <<<"$out" && echo open || echo "error: $out" ;;
	esac
}
