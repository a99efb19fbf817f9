#!/bin/bash
# The bucket layout of large policies (an interval map on the peer address
# jumps to a chain per address bucket with small interval maps), checked
# with real packets: a generated policy is applied in a throwaway namespace, a
# second namespace sends probe packets (TCP SYNs, UDP, GRE; IPv4
# and IPv6; inside and around the policy's boxes), and the kernel's
# per-rule counters must equal what walking the policy rules in order
# predicts for those packets, rule by rule.  The same policy is checked
# once more with the bucket layout off (a huge SAGATE_BUCKET_LAYOUT_MIN), so both
# layouts are held to the same reference.
#
# Needs root.  CLASS_PROBE names a built tests/netns/class-probe.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib/netns.sh"
netns_require_root bucket-layout.sh
sagate=${SAGATE:-$top/sagate}
probe=${CLASS_PROBE:-$top/tests/netns/class-probe}
tmp=$(mktemp -d)
rx=sgt-cl-rx-$$ tx=sgt-cl-tx-$$
cleanup() {
	ip netns del "$rx" 2>/dev/null
	ip netns del "$tx" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$rx" && ip netns add "$tx" &&
	ip -n "$tx" link add v0 type veth peer name v1 netns "$rx" &&
	ip -n "$tx" addr add 192.0.2.1/24 dev v0 && ip -n "$rx" addr add 192.0.2.2/24 dev v1 &&
	ip -n "$tx" addr add 2001:db8::1/64 dev v0 nodad &&
	ip -n "$rx" addr add 2001:db8::2/64 dev v1 nodad &&
	ip -n "$tx" link set v0 up && ip -n "$rx" link set v1 up &&
	ip -n "$tx" link set lo up && ip -n "$rx" link set lo up ||
	{ bad "cannot set up the namespaces"; summary; }
ip netns exec "$rx" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.v1.rp_filter=0
# the probes' sources are the policy's peers: route them back via the veth
ip -n "$rx" route add 10.0.0.0/8 dev v1
ip -n "$rx" -6 route add fd00::/16 dev v1
ip -n "$tx" neigh replace 192.0.2.2 lladdr "$(ip -n "$rx" -j link show v1 | jq -r '.[0].address')" dev v0
ip -n "$tx" -6 neigh replace 2001:db8::2 lladdr "$(ip -n "$rx" -j link show v1 | jq -r '.[0].address')" dev v0

# IPv6 gets a share of the rules big enough for its own bucket layout
# plus rules over wide networks in the middle of it, whose boxes span many
# buckets and go to the shared maps
"$top/bench/gen-policy" 12000 7 | jq '.rules |= .[:6000] + [
	{name: "wide4", action: "block", peers: ["10.128.0.0/9"], protocol: "udp", ports: ["1-65535"]},
	{name: "wide6", action: "permit", peers: ["fd00::/16"], protocol: "tcp", ports: ["1024-65535"]},
	{name: "wide-any", action: "permit", protocol: "gre"}] + .[6000:]' >"$tmp/policy.json"

check_layout() {	# LABEL CLASS_MIN EXPECT-CLASS-MAPS
	local label=$1 min=$2 want=$3 maps
	maps=$(SAGATE_BUCKET_LAYOUT_MIN=$min "$sagate" -k compile --json "$tmp/policy.json" 2>/dev/null |
		jq -r '[.sets[] | select(.name | test("_bucket$")) | select((.elements | length) > 0) | .name] | join(" ")')
	if [ "$maps" = "$want" ]; then
		ok "$label: bucket maps in use: ${maps:-none}"
	else
		bad "$label: bucket maps in use: '${maps}', expected '$want'"
	fi
	if ! SAGATE_BUCKET_LAYOUT_MIN=$min SAGATE_STATE_DIR=$tmp/state-$min \
		ip netns exec "$rx" "$sagate" -k apply "$tmp/policy.json" >/dev/null 2>"$tmp/err"; then
		bad "$label: apply failed: $(tail -3 "$tmp/err")"
		return
	fi
	ip netns exec "$tx" "$probe" "$tmp/policy.json" 3000 "$min" 192.0.2.2 2001:db8::2 \
		>"$tmp/expect.json" || { bad "$label: class-probe failed"; return; }
	# counters are read once the last probe has been through the receiver
	local got_total want_total=$(($(jq '[.[]] | add' "$tmp/expect.json") - $(jq '."(default)" // 0' "$tmp/expect.json")))
	for _ in $(seq 50); do
		SAGATE_STATE_DIR=$tmp/state-$min ip netns exec "$rx" "$sagate" list -j >"$tmp/list.json" 2>/dev/null
		got_total=$(jq '[.rules[].packets] | add' "$tmp/list.json")
		[ "$got_total" -ge "$want_total" ] && break
		sleep 0.1
	done
	jq -S '[.rules[] | select(.packets > 0) | {key: .rule, value: .packets}] | from_entries' \
		"$tmp/list.json" >"$tmp/got.json"
	jq -S 'del(."(default)")' "$tmp/expect.json" >"$tmp/want.json"
	if cmp -s "$tmp/got.json" "$tmp/want.json"; then
		ok "$label: $(jq length "$tmp/want.json") rules hit by $want_total probes (+ $(jq '."(default)" // 0' "$tmp/expect.json") to the default): kernel counters = rule-order walk"
	else
		bad "$label: kernel counters differ from the rule-order walk:"
		diff <(jq -r 'to_entries[] | "\(.key) \(.value)"' "$tmp/want.json") \
			<(jq -r 'to_entries[] | "\(.key) \(.value)"' "$tmp/got.json") | head -20
	fi
}

check_layout "bucket layout" 256 "in4_bucket in6_bucket"
check_layout "one-map layout" 100000000 ""
summary
