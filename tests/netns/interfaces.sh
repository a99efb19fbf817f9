#!/bin/bash
# Rules for one interface, with real packets on the host kernel: a client
# namespace and a host namespace joined by two veth pairs, c0-h0
# (10.88.0.0/24, fd88::/64) and c1-h1 (10.89.0.0/24, fd89::/64, the
# "management" side).  sagate applies tests/netns/interfaces.json in the
# host (kernel-only mode: this kernel has no nft queue): ssh only on h1,
# web on both, 8080 everywhere but h1, and outbound smtp not by h1.
# Only addresses inside these namespaces are used.
#
# A TCP connect that reaches a host gets a reset (nothing listens):
# "open" means admitted, "dropped" a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/netns-pair.sh"
netns_require_root
cli=sgn-cli-$$ host=sgn-host-$$
netns_throwaway "$cli" "$host"
st=$tmp/state
cd "$top" || exit 99

netns_pair "$cli" "$host"
ip link add c1 netns "$cli" type veth peer name h1 netns "$host" || { bad "second veth pair"; exit 1; }
ip -n "$cli" link set c1 up; ip -n "$host" link set h1 up
ip -n "$cli" addr add 10.89.0.21/24 dev c1; ip -n "$cli" addr add fd89::21/64 dev c1 nodad
ip -n "$host" addr add 10.89.0.10/24 dev h1; ip -n "$host" addr add fd89::10/64 dev h1 nodad

probe() { tcp_probe "$@"; }

apply_ok "apply interfaces.json" "$host" tests/netns/interfaces.json
expect "ssh by h0 (ssh-mgmt is h1's only)" dropped "$(probe "$cli" 10.88.0.10 22)"
expect "ssh by h1 (ssh-mgmt)" open "$(probe "$cli" 10.89.0.10 22)"
expect "IPv6 ssh by h0" dropped "$(probe "$cli" fd88::10 22)"
expect "IPv6 ssh by h1 (ssh-mgmt)" open "$(probe "$cli" fd89::10 22)"
expect "web by h0" open "$(probe "$cli" 10.88.0.10 80)"
expect "web by h1 (rules for every interface hold in a zone too)" open "$(probe "$cli" 10.89.0.10 80)"
expect "8080 by h0 (alt-web)" open "$(probe "$cli" 10.88.0.10 8080)"
expect "8080 by h1 (no-8080-mgmt first)" dropped "$(probe "$cli" 10.89.0.10 8080)"
expect "smtp out by h0" open "$(probe "$host" 10.88.0.21 25)"
expect "smtp out by h1 (no-smtp-mgmt)" dropped "$(probe "$host" 10.89.0.21 25)"
# explain IFACE PORT OUTCOME
for c in "h0 22 drop" "h1 22 accept" "h1 8080 drop" "h0 8080 accept"; do
	set -- $c
	r=$(ip netns exec "$host" "$sagate" explain --json --state-dir "$st" --from 10.88.0.21 \
		--proto tcp --port "$2" --interface "$1" 2>&1 | jq -r .outcome)
	expect "explain: port $2 on $1" "$3" "$r"
done
out=$(ip netns exec "$host" "$sagate" audit --json --no-engine --state-dir "$st" 2>&1)
if jq -e '.findings | map(select(.kind | startswith("drift"))) | length == 0' <<<"$out" >/dev/null; then
	ok "audit: the live table is the applied policy (no drift)"
else
	bad "audit: $(jq -c '[.findings[] | select(.kind | startswith("drift"))]' <<<"$out" 2>&1 | head -c 600)"
fi
summary
