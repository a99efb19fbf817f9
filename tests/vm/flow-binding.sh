#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run): real ESP SAs.
#
# A require-ipsec flow stays on the IPsec binding it was admitted with:
#  - a PostgreSQL-port connection admitted over the SA pair of reqid 7
#    carries data;
#  - applying the policy again keeps the flow (its binding is carried into
#    the new table);
#  - when the app server moves the same connection onto another valid SA
#    (reqid 8, which the database's IPsec policy accepts too), its packets
#    are dropped by sagate's "another binding" rule and the data stops;
#  - moved back onto reqid 7, the connection recovers (TCP retransmits);
#  - a new connection over reqid 8 is admitted: the binding is per flow;
#  - with the table deleted by hand, a new apply seeds the bindings of the
#    SAs' reqids.
# Kernel-only mode (the binding is the same in engine mode: it is set in
# the kernel before the queue).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
tmp=$(mktemp -d)
export SAGATE_STATE_DIR=$tmp/state
cleanup() {
	kill $(jobs -p) 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$tmp"
}
trap cleanup EXIT

site_up || { bad "namespaces"; summary; exit 1; }

lines() { wc -l <"$1" 2>/dev/null || echo 0; }
# wait_growth FILE FROM SECS: the file grows past FROM lines within SECS
wait_growth() {
	for _ in $(seq $((10 * $3))); do
		[ "$(lines "$1")" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# The app's outbound policy uses the SA pair of reqid R (both pairs exist).
app_uses() {
	ip -n "$net" xfrm policy update src $app dst $dbaddr dir out \
		tmpl src $app dst $dbaddr proto esp reqid "$1" mode transport
}

cd "$top" || exit 1
ip netns exec "$db" "$sagate" apply -k policies/db-server.json >/dev/null 2>&1 ||
	bad "apply kernel-only"
sa_up || bad "ESP SAs (reqid 7)"
# a second valid pair, reqid 8; the database accepts either in its policy
for ns in "$db" "$net"; do
	ip -n "$ns" xfrm state add src $app dst $dbaddr proto esp spi 0x1001 reqid 8 \
		mode transport aead "$aead" $k1 128 sel src $app dst $dbaddr
	ip -n "$ns" xfrm state add src $dbaddr dst $app proto esp spi 0x2001 reqid 8 \
		mode transport aead "$aead" $k2 128 sel src $dbaddr dst $app
done
ip -n "$db" xfrm policy update src $app dst $dbaddr dir in \
	tmpl src $app dst $dbaddr proto esp mode transport
ip -n "$net" route replace $dbaddr dev veth-net src $app

# a server on the PostgreSQL port that writes what it gets; a client that
# sends a line every 0.2 s on one connection
ip netns exec "$db" busybox nc -l -p 5432 >"$tmp/recv" &
sleep 0.3
ip netns exec "$net" bash -c "exec 3<>/dev/tcp/$dbaddr/5432 || exit 1
	for i in \$(seq 1 400); do echo line \$i >&3; sleep 0.2; done" &
wait_growth "$tmp/recv" 2 10 && ok "a connection over reqid 7 carries data" ||
	bad "no data over reqid 7 ($(lines "$tmp/recv") lines)"

n=$(lines "$tmp/recv")
ip netns exec "$db" "$sagate" apply -k policies/db-server.json >/dev/null 2>&1 ||
	bad "apply again"
wait_growth "$tmp/recv" $((n + 3)) 10 && ok "the connection survives a new apply (binding carried over)" ||
	bad "the connection stopped after a new apply ($n -> $(lines "$tmp/recv") lines)"

other0=$(rule_counter input "another binding")
app_uses 8
sleep 1.5		# lines already in flight may still land
n=$(lines "$tmp/recv")
sleep 2
other1=$(rule_counter input "another binding")
[ "$(lines "$tmp/recv")" -eq "$n" ] && ok "moved onto reqid 8, the connection carries nothing" ||
	bad "moved onto reqid 8, data still arrives ($n -> $(lines "$tmp/recv") lines)"
[ "$other1" -gt "$other0" ] && ok "sagate dropped its packets as another binding ($other0 -> $other1)" ||
	bad "the another-binding rule did not count ($other0 -> $other1)"

app_uses 7
wait_growth "$tmp/recv" "$n" 15 && ok "moved back onto reqid 7, the connection recovers" ||
	bad "no recovery on reqid 7 ($(lines "$tmp/recv") lines)"

app_uses 8
ip netns exec "$net" timeout 5 bash -c "exec 3<>/dev/tcp/$dbaddr/5432" 2>"$tmp/err"
case $? in
0) ok "a new connection over reqid 8 is admitted" ;;
*) grep -q refused "$tmp/err" && ok "a new connection over reqid 8 is admitted (refused by the busy server)" ||
	bad "a new connection over reqid 8: $(cat "$tmp/err")" ;;
esac

# the table deleted by hand: a new apply still binds the pairs of the
# kernel's SAs (reqids 7 and 8), read from the XFRM dump
ip netns exec "$db" nft delete table inet sagate
ip netns exec "$db" "$sagate" apply -k policies/db-server.json >/dev/null 2>&1 ||
	bad "apply after the table was deleted"
bound=$(ip netns exec "$db" nft list set inet sagate ipsec_bound)
grep -q '0x80000007 . 7' <<<"$bound" && grep -q '0x80000008 . 8' <<<"$bound" &&
	ok "a new table seeds the flow bindings of the SAs' reqids 7 and 8" ||
	bad "seeded flow bindings: $bound"
summary
