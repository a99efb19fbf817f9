#!/bin/bash
# Forwarded traffic, with real packets on the host kernel: a client
# namespace (an app server 10.77.0.21 and a stranger 10.77.0.66, IPv4 and
# IPv6), a routing host "gw" with forwarding on, and a backend
# (10.79.0.10, fd79::10) reached only through gw.  sagate applies its
# policies in gw (kernel-only mode; no ESP on this kernel, so require-ipsec
# is shown refusing cleartext; tests/vm/forward-ipsec.sh admits IPsec).
# Only addresses inside these namespaces are used.
#
# A TCP connect that reaches the backend gets a reset (nothing listens):
# "open" means gw forwarded it, "dropped" a timeout.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
cli=sgf-cli-$$ gw=sgf-gw-$$ be=sgf-be-$$
netns_throwaway "$cli" "$gw" "$be"
st=$tmp/state

ip link add c0 netns "$cli" type veth peer name g0 netns "$gw" &&
ip link add g1 netns "$gw" type veth peer name b0 netns "$be" || { bad "veth pairs"; exit 1; }
for n in "$cli" "$gw" "$be"; do ip -n "$n" link set lo up; done
ip -n "$cli" link set c0 up; ip -n "$gw" link set g0 up
ip -n "$gw" link set g1 up; ip -n "$be" link set b0 up
for a in 10.77.0.21 10.77.0.66; do ip -n "$cli" addr add $a/24 dev c0; done
for a in fd77::21 fd77::66; do ip -n "$cli" addr add $a/64 dev c0 nodad; done
ip -n "$gw" addr add 10.77.0.10/24 dev g0; ip -n "$gw" addr add fd77::10/64 dev g0 nodad
ip -n "$gw" addr add 10.79.0.1/24 dev g1; ip -n "$gw" addr add fd79::1/64 dev g1 nodad
ip -n "$be" addr add 10.79.0.10/24 dev b0; ip -n "$be" addr add fd79::10/64 dev b0 nodad
ip -n "$be" route add default via 10.79.0.1; ip -n "$be" -6 route add default via fd79::1
ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
	{ bad "forwarding on in gw"; exit 1; }

# probe SRC DST PORT [FROM-NS]: through gw, the source pinned by a route
probe() {
	local src=$1 dst=$2 port=$3 ns=${4:-$cli} via out
	case $dst in
	10.79.*) via=10.77.0.10 ;; fd79:*) via=fd77::10 ;;
	10.77.*) via=10.79.0.1 ;; *) via=fd79::1 ;;
	esac
	ip -n "$ns" route replace "$dst" via "$via" src "$src" 2>/dev/null
	out=$(ip netns exec "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$dst/$port" 2>&1)
	case $? in
	0) echo open ;;
	124) echo dropped ;;
	*) grep -q refused <<<"$out" && echo open || echo "error: $out" ;;
	esac
}
# expect DESC WANT SRC DST PORT [FROM-NS]
expect() {
	local desc=$1 want=$2 r
	shift 2
	r=$(probe "$@")
	if [ "$r" = "$want" ]; then ok "$desc: $r"; else bad "$desc: $r, wanted $want"; fi
}
# explains DESC OUTCOME POLICY SRC DST PORT: sagate explain --forward agrees
explains() {
	local desc=$1 want=$2 pol=$3 r
	r=$("$sagate" explain --json --forward --from "$4" --to "$5" --proto tcp --port "$6" "$pol" 2>&1 |
		jq -r .outcome)
	if [ "$r" = "$want" ]; then ok "explain $desc: $r"; else bad "explain $desc: $r, wanted $want"; fi
}
cleartext_drops() {
	ip netns exec "$gw" nft list chain inet sagate ipsec_in |
		awk '/arrived in cleartext/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}
cd "$top" || exit 1

# 1. Forwarding on, nothing of sagate: the backend is reached
expect "no table: stranger to backend 5432" open 10.77.0.66 10.79.0.10 5432

# 2. A policy with no word on forwarding: the host keeps forwarding, and
#    check and audit in gw say so; in the client namespace (no
#    forwarding) check says nothing of it
ip netns exec "$gw" "$sagate" apply --no-engine --state-dir "$st" tests/netns/in-only.json >/dev/null 2>&1 ||
	bad "apply in-only.json"
expect "in-only policy: stranger to backend 5432 (forwarding not covered)" open 10.77.0.66 10.79.0.10 5432
out=$(ip netns exec "$gw" "$sagate" check tests/netns/in-only.json 2>&1)
if grep -q "warning: this network namespace forwards IPv4 and IPv6 packets" <<<"$out" &&
   grep -q "1 warning" <<<"$out"; then
	ok "check in the forwarding namespace warns"
else
	bad "check in the forwarding namespace: $out"
fi
out=$(ip netns exec "$cli" "$sagate" check tests/netns/in-only.json 2>&1)
if grep -q "0 warnings" <<<"$out"; then ok "check where nothing forwards: no warning"
else bad "check where nothing forwards: $out"; fi
out=$(ip netns exec "$gw" "$sagate" audit --json --no-engine --state-dir "$st" tests/netns/in-only.json 2>&1)
if [ "$(jq -r '.findings[] | select(.kind == "forward-uncovered") | .severity' <<<"$out")" = warning ]; then
	ok "audit in the forwarding namespace: forward-uncovered warning"
else
	bad "audit: no forward-uncovered warning: $out"
fi
explains "in-only: stranger to 5432" accept tests/netns/in-only.json 10.77.0.66 10.79.0.10 5432

# 3. Forward rules: permit, block, require-ipsec (cleartext refused) and
#    the forward default, IPv4 and IPv6
ip netns exec "$gw" "$sagate" apply --no-engine --state-dir "$st" tests/netns/forward.json >/dev/null 2>&1 ||
	bad "apply forward.json"
if ip netns exec "$gw" nft list chain inet sagate forward | grep -q "hook forward priority filter; policy drop"; then
	ok "forward chain on hook forward, policy drop"
else
	bad "no forward chain with policy drop"
fi
for fam in 4 6; do
	if [ $fam = 4 ]; then app=10.77.0.21 mal=10.77.0.66 back=10.79.0.10
	else app=fd77::21 mal=fd77::66 back=fd79::10; fi
	expect "IPv$fam app to backend 22 (fwd-ssh permit)" open $app $back 22
	expect "IPv$fam stranger to backend 22 (forward default block)" dropped $mal $back 22
	before=$(cleartext_drops)
	expect "IPv$fam app to backend 5432 in cleartext (fwd-pg require-ipsec)" dropped $app $back 5432
	after=$(cleartext_drops)
	if [ "${after:-0}" -gt "${before:-0}" ]; then ok "IPv$fam cleartext drop counted ($before -> $after)"
	else bad "IPv$fam cleartext drop not counted ($before -> $after)"; fi
	expect "IPv$fam stranger to backend 5432 (fwd-pg-others block)" dropped $mal $back 5432
	expect "IPv$fam app to backend 80 (forward default block)" dropped $app $back 80
	expect "IPv$fam backend starts a flow out (backend-out permit)" open $back $app 9 "$be"
	explains "IPv$fam app to 22" accept tests/netns/forward.json $app $back 22
	explains "IPv$fam app to 5432 without IPsec" drop tests/netns/forward.json $app $back 5432
	explains "IPv$fam stranger to 5432" drop tests/netns/forward.json $mal $back 5432
done
# this host's own ports are still the input chain's
expect "stranger to gw's own 5432 (input default block)" dropped 10.77.0.66 10.77.0.10 5432
out=$(ip netns exec "$gw" "$sagate" audit --json --no-engine --state-dir "$st" tests/netns/forward.json 2>&1)
if jq -e '.findings | map(select(.kind == "forward-uncovered" or (.kind | startswith("drift")))) | length == 0' <<<"$out" >/dev/null; then
	ok "audit of the forward policy: no forward-uncovered, no drift"
else
	bad "audit of the forward policy: $out"
fi

# 4. Back to the policy without forward rules: the forward chain goes
ip netns exec "$gw" "$sagate" apply --no-engine --state-dir "$st" tests/netns/in-only.json >/dev/null 2>&1
if ! ip netns exec "$gw" nft list chain inet sagate forward >/dev/null 2>&1; then
	ok "in-only again: no forward chain"
else
	bad "in-only again: a forward chain is left"
fi
summary
