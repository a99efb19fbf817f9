# Helpers of the incremental apply's netns tests (incr-apply.sh,
# incr-rollback.sh): the table compared without what only a full replace
# changes, and a policy rule's counter.  Source after setting $top and
# $sagate.
#
# incr_norm NS: `nft -j list table inet sagate` in NS without handles,
# counters and the table comment, elements sorted (incr-norm.py).
incr_norm() {
	ip netns exec "$1" nft -j list table inet sagate | python3 "$top/tests/netns/incr-norm.py" /dev/stdin
}
# incr_probe NS_A NS_C FILE: a veth between NS_A (10.88.0.1) and NS_C
# (10.88.0.2), and in FILE a policy whose rule "probe" permits what
# incr_send sends (UDP 7777 from NS_C), beside a rule "other" (TCP 22:
# the edits change its port).  false when the link cannot be made.
incr_probe() {
	ip link add "sgti$$" netns "$1" type veth peer name "sgto$$" netns "$2" || return 1
	ip -n "$1" addr add 10.88.0.1/24 dev "sgti$$" && ip -n "$1" link set "sgti$$" up &&
		ip -n "$2" addr add 10.88.0.2/24 dev "sgto$$" && ip -n "$2" link set "sgto$$" up || return 1
	cat >"$3" <<'P'
{ "version": 1, "rules": [
  { "name": "probe", "action": "permit", "peers": ["10.88.0.2"], "protocol": "udp", "ports": [7777] },
  { "name": "other", "action": "permit", "peers": ["10.77.0.9"], "protocol": "tcp", "ports": [22] } ] }
P
}
# incr_send NS_C: three packets the probe rule counts
incr_send() {
	for _ in 1 2 3; do ip netns exec "$1" bash -c 'echo x >/dev/udp/10.88.0.1/7777'; done
}
# incr_packets NS STATE RULE: the packets policy rule RULE counted
# (`sagate list`, state directory STATE); nothing when it cannot be read.
incr_packets() {
	ip netns exec "$1" "$sagate" -s "$2" --json list | python3 -c '
import json,sys
j=json.load(sys.stdin)
print(sum(r["packets"] for r in j["rules"] if r["rule"]==sys.argv[1]))' "$3" 2>/dev/null
}
# same_table NS FILE DESC: table inet sagate in NS is the one incr_norm
# saved in FILE: the same chains, rules, sets and elements.  What an
# apply or a rollback that sends only the difference keeps (handles,
# counters, the table comment) or may list in another order (elements)
# is left out; ok or bad (tests/lib/netns.sh), the difference in $tmp/diff.
same_table() {
	if incr_norm "$1" | diff -u "$2" - >"$tmp/diff"; then ok "$3"; else bad "$3"; cat "$tmp/diff"; fi
}
