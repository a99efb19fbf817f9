#!/bin/bash
# Per-source limits on new flows, with real packets on the host kernel: a
# client namespace (10.88.0.21 and 10.88.0.66, fd88::21 and fd88::66) and
# a host namespace (10.88.0.10, fd88::10) where sagate applies
# tests/netns/limit.json (kernel-only mode: this kernel has no nft queue):
# ssh (22) at most 6/minute per source with a burst of 3, web (80) without
# a limit.  Four quick ssh connects from .21: three admitted, the fourth
# dropped; .66 is not affected; neither is .21's web; the same for IPv6.
# Only addresses inside these namespaces are used.
#
# A TCP connect that reaches the host gets a reset (nothing listens):
# "open" means admitted, "dropped" a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/netns-pair.sh"
netns_require_root
cli=sgl-cli-$$ host=sgl-host-$$
netns_throwaway "$cli" "$host"
st=$tmp/state
cd "$top" || exit 99

netns_pair "$cli" "$host"

# probe SRC DST PORT: one new TCP flow from address SRC
probe() {
	ip -n "$cli" route replace "$2" dev c0 src "$1"
	tcp_probe "$cli" "$2" "$3"
}

apply_ok "apply limit.json" "$host" tests/netns/limit.json
for fam in 4 6; do
	if [ $fam = 4 ]; then me=10.88.0.21 other=10.88.0.66 dst=10.88.0.10
	else me=fd88::21 other=fd88::66 dst=fd88::10; fi
	for i in 1 2 3; do
		expect "IPv$fam ssh flow $i of 3 from $me (within the burst)" open "$(probe $me $dst 22)"
	done
	expect "IPv$fam ssh flow 4 from $me (over its limit)" dropped "$(probe $me $dst 22)"
	expect "IPv$fam ssh from $other (its own limit)" open "$(probe $other $dst 22)"
	expect "IPv$fam web from $me (no limit)" open "$(probe $me $dst 80)"
	d=$(ip netns exec "$host" nft list chain inet sagate limit_0 2>/dev/null |
		grep "@limit_0_$fam " | grep -o "counter packets [0-9]*" | grep -o "[0-9]*$")
	if [ "${d:-0}" -ge 1 ]; then ok "IPv$fam limit_0 counted the dropped flow ($d packets)"
	else bad "IPv$fam limit_0: drop counter ${d:-none}"; fi
done
out=$(ip netns exec "$host" "$sagate" explain --state-dir "$st" --from 10.88.0.21 --proto tcp --port 22 2>&1)
if grep -q "chain limit_0" <<<"$out" && grep -q "6/minute" <<<"$out"; then
	ok "explain shows the limit chain and its rate"
else
	bad "explain: $out"
fi
out=$(ip netns exec "$host" "$sagate" audit --json --no-engine --state-dir "$st" 2>&1)
if jq -e '.findings | map(select(.kind | startswith("drift"))) | length == 0' <<<"$out" >/dev/null; then
	ok "audit: the live table is the applied policy (no drift)"
else
	bad "audit: $(jq -c '[.findings[] | select(.kind | startswith("drift"))]' <<<"$out" 2>&1 | head -c 600)"
fi
summary
