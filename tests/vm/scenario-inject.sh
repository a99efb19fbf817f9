#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# Cleartext injected into an established protected flow: app1 holds a psql
# session to db over an IKEv2 ESP SA (policies/db-server.json in db,
# engine mode); mal, on the same wire, sends TCP segments with the flow's
# exact 5-tuple (app1's address and port, raw Ethernet frames) in
# cleartext.  db's conntrack is made liberal about TCP windows, so the
# segments count as part of the established flow (the attacker's best
# case), and:
#  - sagate's "require-ipsec flow: packet arrived in cleartext" counter
#    rises by the number injected;
#  - a probe chain in db that runs after sagate's input chain never sees
#    them (the server never does);
#  - the session still answers afterwards; IPv4 and IPv6.
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=app1
. "$top/tests/vm/lib-ike.sh"
trap 'sess_close s4; sess_close s6; sagated_stop; ike_down' EXIT
scenario_begin "inject"
n=20

ike_scenario_up "$top/policies/db-server.json" || scenario_abort
nsx db sysctl -qw net.netfilter.nf_conntrack_tcp_be_liberal=1 || bad "conntrack be_liberal in db"
# after sagate's input chain (priority filter = 0): what got past it
nsx db nft -f - <<-'EOF2' || bad "probe table in db"
	table inet sgprobe {
		counter past { }
		chain input {
			type filter hook input priority 10; policy accept;
			tcp dport 5432 meta ipsec missing counter name past
		}
	}
EOF2
past() { nsx db nft list counter inet sgprobe past | awk '$1 == "packets" { print $2 }'; }

for f in 4 6; do
	db=$(addr $f db) app=$(addr $f app1)
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db"
	sess_open s$f app1 "$db"
	r=$(sess_query s$f "select 1 + 1" 20)
	[ "$r" = 2 ] && ok "IPv$f: app1's psql session over ESP answers" || bad "IPv$f: psql session: '$r' $(cat "$IKE_DIR/s$f.out")"
	sport=$(sess_sport app1)
	[ -n "$sport" ] && ok "IPv$f: the flow is $app:$sport -> $db:5432" || bad "IPv$f: no established flow in app1"

	wire_reset
	c0=$(sagate_counter input "packet arrived in cleartext") p0=$(past)
	out=$(nsx mal "$SGNET" inject eth0 "${MAC[db]}" "$app" "$db" "${sport:-1}" 5432 $n)
	[ "$out" = "sent $n" ] && ok "IPv$f: mal injected $n cleartext segments with the flow's 5-tuple" || bad "IPv$f: inject: $out"
	wait_for 5 test "$(wire pg_mal)" -ge $n
	c1=$(sagate_counter input "packet arrived in cleartext") p1=$(past)
	w=$(wire pg_mal)
	[ "$w" -eq $n ] && ok "IPv$f wire: the $n injected segments crossed the wire from mal" || bad "IPv$f wire: pg_mal $w (expected $n)"
	[ "$((c1 - c0))" -ge $n ] && ok "IPv$f: sagate dropped them as cleartext on a require-ipsec flow ($c0 -> $c1)" ||
		bad "IPv$f: sagate's cleartext counter $c0 -> $c1"
	[ "$p1" -eq "$p0" ] && ok "IPv$f: nothing injected got past sagate to the server (probe $p0 -> $p1)" ||
		bad "IPv$f: $((p1 - p0)) injected segments reached the server's TCP"
	r=$(sess_query s$f "select 2 + 2" 15)
	[ "$r" = 4 ] && ok "IPv$f: the psql session still answers after the injection" || bad "IPv$f: session after injection: '$r'"
	[ "$(wire pg_app1)" -eq 0 ] && [ "$(wire pg_db)" -eq 0 ] && ok "IPv$f wire: no cleartext 5432 from app1 or db" ||
		bad "IPv$f wire: cleartext 5432: app1 $(wire pg_app1), db $(wire pg_db)"
	sess_close s$f
done
scenario_end
