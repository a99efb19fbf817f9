#!/bin/bash
# ICMP by type, with real packets on the host kernel: a client namespace
# (10.88.0.21 and 10.88.0.66, fd88::21 and fd88::66) and a host namespace
# (10.88.0.10, fd88::10) where sagate applies tests/netns/icmp-types.json
# (kernel-only mode: this kernel has no nft queue).  Echo requests from
# .21 are answered; its ICMP timestamp requests, another type, are not
# (the same probe is answered under icmp-all.json, so it works); from
# ::66, which may send only packet-too-big, pings go unanswered.
# Only addresses inside these namespaces are used.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/netns-pair.sh"
netns_require_root
cli=sgi-cli-$$ host=sgi-host-$$
netns_throwaway "$cli" "$host"
st=$tmp/state
cd "$top" || exit 99

netns_pair "$cli" "$host"

# ping SRC DST: one echo request from SRC, answered or not
ping1() {
	ip netns exec "$cli" ping -c 1 -W 1 -I "$1" "$2" >/dev/null 2>&1 && echo answered || echo silent
}
# tstamp SRC: an ICMP timestamp request from SRC to the host
tstamp() {
	ip -n "$cli" route replace 10.88.0.10 dev c0 src "$1"
	ip netns exec "$cli" python3 tests/netns/icmp-probe.py 10.88.0.10 13
}
# explains DESC OUTCOME ARGS...: sagate explain of the applied policy agrees
explains() {
	local desc=$1 want=$2 r
	shift 2
	r=$(ip netns exec "$host" "$sagate" explain --json --state-dir "$st" "$@" 2>&1 | jq -r .outcome)
	expect "explain: $desc" "$want" "$r"
}

# control: all of ICMP admitted, and the probes see their answers
apply_ok "apply icmp-all.json" "$host" tests/netns/icmp-all.json
expect "icmp-all: timestamp request from .21" answered "$(tstamp 10.88.0.21)"
expect "icmp-all: ping from ::66" answered "$(ping1 fd88::66 fd88::10)"

apply_ok "apply icmp-types.json" "$host" tests/netns/icmp-types.json
expect "ping from .21 (echo-request permitted)" answered "$(ping1 10.88.0.21 10.88.0.10)"
expect "ping from ::21 (echo-request permitted)" answered "$(ping1 fd88::21 fd88::10)"
expect "timestamp request from .21 (another type: default block)" silent "$(tstamp 10.88.0.21)"
expect "ping from .66 (no rule)" silent "$(ping1 10.88.0.66 10.88.0.10)"
expect "ping from ::66 (only packet-too-big permitted)" silent "$(ping1 fd88::66 fd88::10)"
n=$(ip netns exec "$host" nft -j list map inet sagate in4_icmp 2>/dev/null |
	jq '[.. | objects | select(has("counter")) | .counter.packets] | add // 0')
if [ "${n:-0}" -ge 1 ]; then ok "in4_icmp counted the permitted echo request ($n)"
else bad "in4_icmp counted nothing ($n)"; fi
explains "echo-request from .21" accept --from 10.88.0.21 --proto icmp --icmp-type echo-request
explains "timestamp-request from .21" drop --from 10.88.0.21 --proto icmp --icmp-type timestamp-request
explains "echo-request from ::66" drop --from fd88::66 --proto icmpv6
explains "packet-too-big from ::66" accept --from fd88::66 --proto icmpv6 --icmp-type packet-too-big
out=$(ip netns exec "$host" "$sagate" audit --json --no-engine --state-dir "$st" 2>&1)
if jq -e '.findings | map(select(.kind | startswith("drift"))) | length == 0' <<<"$out" >/dev/null; then
	ok "audit: the live table is the applied policy (no drift)"
else
	bad "audit: $(jq -c '[.findings[] | select(.kind | startswith("drift"))]' <<<"$out" 2>&1 | head -c 600)"
fi
summary
