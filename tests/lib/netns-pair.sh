# Shared by tests/netns/icmp-types.sh and limit-rate.sh: a client and a
# host namespace on one veth pair.  Source it after netns.sh; then
# netns_pair CLIENT HOST gives the client 10.88.0.21, 10.88.0.66, fd88::21
# and fd88::66 on c0, and the host 10.88.0.10 and fd88::10 on h0 (exit 1
# when the pair cannot be made).  apply_ok DESC NS FILE: sagate applies
# FILE in NS (kernel-only mode, state directory $st), PASS or FAIL.
# Also tcp_probe and expect, below.
netns_pair() {
	local cli=$1 host=$2 a
	ip link add c0 netns "$cli" type veth peer name h0 netns "$host" ||
		{ echo "FAIL: veth pair"; exit 1; }
	for a in "$cli" "$host"; do ip -n "$a" link set lo up; done
	ip -n "$cli" link set c0 up; ip -n "$host" link set h0 up
	for a in 10.88.0.21 10.88.0.66; do ip -n "$cli" addr add $a/24 dev c0; done
	for a in fd88::21 fd88::66; do ip -n "$cli" addr add $a/64 dev c0 nodad; done
	ip -n "$host" addr add 10.88.0.10/24 dev h0
	ip -n "$host" addr add fd88::10/64 dev h0 nodad
}
apply_ok() {
	if ip netns exec "$2" "$sagate" apply --no-engine --state-dir "$st" "$3" >/dev/null; then
		ok "$1"
	else
		bad "$1"
	fi
}
# tcp_probe NS DST PORT: one new TCP flow from namespace NS; nothing
# listens, so "open" (a reset: admitted) or "dropped" (a timeout)
tcp_probe() {
	local out
	out=$(ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>&1)
	case $? in
	0) echo open ;;
	124) echo dropped ;;
	*) grep -q refused <<<"$out" && echo open || echo "error: $out" ;;
	esac
}
# expect DESC WANT GOT
expect() {
	if [ "$2" = "$3" ]; then ok "$1: $3"; else bad "$1: $3, wanted $2"; fi
}
