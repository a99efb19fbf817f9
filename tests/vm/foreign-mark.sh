#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run): real ESP SAs, nft queue.
#
# The packet mark is not sagate's: a foreign table in the database
# server's namespace marks new PostgreSQL packets (0x2a) in an input chain
# that runs before sagate's, and counts in a chain that runs after it
# which new packets still carry that mark.  The flow goes through sagate's
# require-ipsec queue and sagated accepts it (its log names the SA's SPI,
# so the SPI still reached it); the later chain must then see mark 0x2a on
# every new packet it counts: sagate neither hands the SPI over in the
# mark nor clears the mark with its verdict.  A second flow without a
# foreign mark leaves with mark 0 all the same.  The SPI travels in
# skb->priority instead, and sagated's verdict sets that back to 0: no
# accepted packet leaves sagate with a priority.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
log=/tmp/sagated-vm-$$.log
dpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR" "$log"
}
trap cleanup EXIT

site_up || { bad "namespaces"; summary; exit 1; }
cd "$top" || exit 1
out=$(ip netns exec "$db" "$sagate" apply policies/db-server.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply in engine mode" || bad "apply: $out"

# before sagate (priority filter - 10) and after it (filter + 10); only
# the first flow's packets (source port range) get the foreign mark
ip netns exec "$db" nft -f - <<'EOF' || bad "foreign table"
table inet foreign {
	chain before {
		type filter hook input priority filter - 10; policy accept;
		tcp dport 5432 ct state new tcp sport 40000-40999 meta mark set 0x2a counter comment "marked"
	}
	chain after {
		type filter hook input priority filter + 10; policy accept;
		tcp dport 5432 ct state new meta mark 0x2a counter comment "still-marked"
		tcp dport 5432 ct state new meta mark 0 counter comment "unmarked"
		tcp dport 5432 ct state new meta priority != none counter comment "priority-left"
		tcp dport 5432 ct state new meta priority != none counter comment "priority-left"
		tcp dport 5432 ct state new counter comment "new"
	}
}
EOF
# foreign_counter CHAIN COMMENT: packets of that foreign rule's counter
foreign_counter() {
	ip netns exec "$db" nft list chain inet foreign "$1" |
		awk -v c="\"$2\"" 'index($0, c) { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

sa_up || bad "ESP (AES-GCM) SAs"
daemon_start && ok "sagated is ready" || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }

# the first flow from a source port the foreign rule marks
ip netns exec "$net" sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = open ] && ok "marked flow over AES-GCM ESP: accepted by sagated" ||
	bad "marked flow: $r"
log_has '"verdict":"accept"' '"rule":"postgresql"' '"spi":"0x00001000"' &&
	ok "log: accepted under rule postgresql with SPI 0x00001000 (the SPI reached sagated)" ||
	bad "no accept line with the SPI: $(cat "$log")"
marked=$(foreign_counter before marked)
still=$(foreign_counter after still-marked)
new=$(foreign_counter after new)
unmarked=$(foreign_counter after unmarked)
echo "foreign counters: marked before sagate $marked, after sagate: new $new, still marked $still, mark 0 $unmarked"
[ "${marked:-0}" -ge 1 ] && ok "the foreign rule before sagate marked $marked packet(s)" ||
	bad "the foreign rule before sagate marked nothing"
[ "${still:-0}" -ge 1 ] && [ "$still" = "$marked" ] &&
	ok "after sagate's verdict every marked packet still has mark 0x2a ($still of $marked)" ||
	bad "after sagate's verdict: $still of $marked packets still have mark 0x2a ($unmarked have mark 0)"

# a second flow, from a port the foreign rule does not mark
ip netns exec "$net" sysctl -qw net.ipv4.ip_local_port_range="41000 41999"
r=$(tcp_probe "$net" $app $dbaddr 5432)
[ "$r" = open ] && ok "unmarked flow: accepted by sagated" || bad "unmarked flow: $r"
new2=$(foreign_counter after new)
unmarked2=$(foreign_counter after unmarked)
[ "$((new2 - new))" -ge 1 ] && [ "$((unmarked2 - unmarked))" = "$((new2 - new))" ] &&
	ok "an unmarked flow leaves sagate with mark 0 ($((unmarked2 - unmarked)) packet(s))" ||
	bad "unmarked flow after sagate: $((new2 - new)) new, $((unmarked2 - unmarked)) with mark 0"

left=$(foreign_counter after priority-left)
[ "${left:-1}" = 0 ] && ok "no accepted packet leaves sagate with the SPI in its priority" ||
	bad "$left accepted packet(s) left sagate with a priority (the SPI)"

daemon_stop TERM || bad "SIGTERM: $?"
summary
