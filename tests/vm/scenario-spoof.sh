#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# Peers with valid SAs that carry addresses they may not.  db runs
# policies/db-server.json plus two rules in front of it: ESP from the
# gateways, and PostgreSQL from branch-net through a tunnel whose gateway
# (gw, 10.77.0.40 / fd77::40) may vouch only for the lower half of
# branch-net (10.78.0.0/25, fd78::/65).  db's IKE configuration trusts gw
# with more: all of branch-net and app1's address (a lax IKE config is
# exactly what the firewall must not rely on).  The branch host sits
# behind gw.  IPv4 and IPv6:
#  - branch .5 (an inner address gw may vouch for): psql through the
#    tunnel works (the positive control);
#  - branch .200 (inside the SA's selectors, not in the rule's inner
#    list): refused, nothing gets past sagate;
#  - app1's address spoofed through gw's valid SA (the postgresql rule
#    wants app1 itself over transport mode): refused, nothing gets past.
# A probe chain in db that runs after sagate's counts what got past.
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=gw
. "$top/tests/vm/lib-ike.sh"
trap 'sagated_stop; ike_down' EXIT
scenario_begin "spoof"

gw_conns() {	# db trusts gw with branch-net and app1's address
	swan_conn db gw-4 "${IP4[db]}" "${IP4[gw]}" db-4 gw-4 tunnel "${IP4[db]}/32" "10.78.0.0/24,${IP4[app1]}/32" none &&
	swan_conn gw gw-4 "${IP4[gw]}" "${IP4[db]}" gw-4 db-4 tunnel "10.78.0.0/24,${IP4[app1]}/32" "${IP4[db]}/32" trap &&
	swan_conn db gw-6 "${IP6[db]}" "${IP6[gw]}" db-6 gw-6 tunnel "${IP6[db]}/128" "fd78::/64,${IP6[app1]}/128" none &&
	swan_conn gw gw-6 "${IP6[gw]}" "${IP6[db]}" gw-6 db-6 tunnel "fd78::/64,${IP6[app1]}/128" "${IP6[db]}/128" trap
}
IKE_EXTRA=gw_conns
mkdir -p "$IKE_DIR"
jq --arg d "$top/policies" '.include |= map($d + "/" + .) | .rules = [
	{ "name": "esp-gateways", "action": "permit", "peers": "@gateways", "services": "esp" },
	{ "name": "pg-branch", "action": "require-ipsec", "peers": "@branch-net", "services": "postgresql",
	  "ipsec": { "mode": "tunnel",
	             "gateways": [ { "gateway": "@gateways", "inner": ["10.78.0.0/25", "fd78::/65"] } ] } }
	] + .rules' "$top/policies/db-server.json" >"$IKE_DIR/db-branch.json"

ike_scenario_up "$IKE_DIR/db-branch.json" || scenario_abort
ip -n "$(ns branch)" addr add "${IP4[app1]}/32" dev eth0 &&
	ip -n "$(ns branch)" addr add "${IP6[app1]}/128" dev eth0 nodad || bad "app1's addresses on branch"
nsx db nft -f - <<-EOF2 || bad "probe table in db"
	table inet sgprobe {
		counter good4 { }
		counter good6 { }
		counter inner4 { }
		counter inner6 { }
		counter spoof4 { }
		counter spoof6 { }
		chain input {
			type filter hook input priority 10; policy accept;
			tcp dport 5432 ip saddr 10.78.0.5 counter name good4
			tcp dport 5432 ip6 saddr fd78::5 counter name good6
			tcp dport 5432 ip saddr 10.78.0.200 counter name inner4
			tcp dport 5432 ip6 saddr fd78::8000:0:0:200 counter name inner6
			tcp dport 5432 ip saddr ${IP4[app1]} counter name spoof4
			tcp dport 5432 ip6 saddr ${IP6[app1]} counter name spoof6
		}
	}
EOF2
past() { nsx db nft list counter inet sgprobe "$1" | awk '$1 == "packets" { print $2 }'; }
src_to_db() {	# FAMILY SRC: branch sources its traffic to db from SRC
	ip -n "$(ns branch)" route replace "$(addr $1 db)" via "$([ "$1" = 4 ] && echo 10.78.0.1 || echo fd78::1)" src "$2"
}

for f in 4 6; do
	db=$(addr $f db)
	[ $f = 4 ] && good=10.78.0.5 inner=10.78.0.200 || good=fd78::5 inner=fd78::8000:0:0:200
	ike_sa_setup gw gw-$f && ok "IPv$f: IKEv2 tunnel SA gw <-> db (branch-net and app1's address)"

	src_to_db $f $good
	r=$(PGTO=20 psql_q branch "$db" "select 5")
	[ "$r" = 5 ] && ok "IPv$f: branch $good through gw's tunnel: psql works" || bad "IPv$f: branch $good: $r"

	src_to_db $f $inner
	r=$(PGTO=5 psql_q branch "$db" "select 6")
	[ "$r" != 6 ] && ok "IPv$f: branch $inner (gw may not vouch for it): psql refused" || bad "IPv$f: branch $inner got an answer"
	[ "$(past inner$f)" -eq 0 ] && ok "IPv$f: nothing from $inner got past sagate" || bad "IPv$f: $(past inner$f) packets from $inner got past sagate"
	grep "\"src\":\"$inner\"" "$IKE_DIR/sagated.log" | grep -q '"verdict":"drop"' &&
		ok "IPv$f: sagated: $(grep "\"src\":\"$inner\"" "$IKE_DIR/sagated.log" | grep -o '"reason":"[^"]*"' | head -n1)" ||
		bad "IPv$f: no drop line in sagated's log for $inner"

	src_to_db $f "$(addr $f app1)"
	r=$(TCPTO=4 tcp_try branch "$db" 5432)
	[ "$(past spoof$f)" -eq 0 ] && ok "IPv$f: app1's address through gw's SA: nothing got past sagate ($r)" ||
		bad "IPv$f: $(past spoof$f) packets claiming to be app1 came through gw's tunnel and got past sagate"
	grep "\"src\":\"$(addr $f app1)\"" "$IKE_DIR/sagated.log" | grep -q '"verdict":"drop"' &&
		ok "IPv$f: sagated: $(grep "\"src\":\"$(addr $f app1)\"" "$IKE_DIR/sagated.log" | grep -o '"reason":"[^"]*"' | head -n1)" ||
		bad "IPv$f: no drop line in sagated's log for app1's address via gw"
	[ "$(wire pg_gw)" -eq 0 ] && [ "$(wire pg_db)" -eq 0 ] && [ "$(wire esp_gw)" -gt 0 ] &&
		ok "IPv$f wire: gw <-> db only ESP" || bad "IPv$f wire: cleartext 5432 gw $(wire pg_gw), db $(wire pg_db)"
done
scenario_end
