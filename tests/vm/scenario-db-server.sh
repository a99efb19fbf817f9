#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run; tests/vm/scenarios.sh runs
# it with the others in one boot).
#
# The shipped policies/db-server.json in db, engine mode, sagated running,
# real IKEv2 peers (strongSwan) and a real PostgreSQL, IPv4 then IPv6:
#  - app1 over an IKEv2 ESP transport SA runs a psql query;
#  - app2 (an app server without IPsec) cannot connect;
#  - the admin over IPsec reaches ssh (a stand-in listener on port 22);
#    app1, with a valid SA but no admin, cannot;
#  - everything else is blocked (mal to 5432 and 22, app1 to another port);
#  - on the wire: app1's traffic is ESP, and no cleartext ever leaves db's
#    port 5432 nor leaves app1 for it.
# SAGATE_SCENARIO_BREAK=1 applies the policy with require-ipsec weakened to
# permit: then this must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/vm/lib-ike.sh"
trap 'sagated_stop; ike_down' EXIT
scenario_begin "db-server"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort

for f in 4 6; do
	db=$(addr $f db)
	wire_reset
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db installed"
	ike_sa_setup admin admin-$f && ok "IPv$f: IKEv2 transport SA admin <-> db installed"

	r=$(psql_q app1 "$db" "select 40 + 2")
	[ "$r" = 42 ] && ok "IPv$f: app1 over ESP: psql query answered ($r)" || bad "IPv$f: app1 psql: $r"
	grep -q "\"verdict\":\"accept\".*\"rule\":\"postgresql\".*\"src\":\"$(addr $f app1)\"" "$IKE_DIR/sagated.log" &&
		ok "IPv$f: sagated logged the accept under rule postgresql" ||
		bad "IPv$f: no accept line for app1 in sagated's log"

	r=$(PGTO=4 psql_q app2 "$db" "select 1")
	[ "$r" != 1 ] && ok "IPv$f: app2 without IPsec: psql fails ($(head -c 80 <<<"$r"))" ||
		bad "IPv$f: app2 without IPsec got an answer"

	r=$(banner admin "$db" 22)
	[ "$r" = SSH-2.0-sagate-standin ] && ok "IPv$f: admin over IPsec reaches ssh" || bad "IPv$f: admin ssh: '$r'"
	mapfile -t r <<<"$(probes "app1 $db 22" "app1 $db 8080" "mal $db 5432" "mal $db 22" "app2 $db 22" "app2 $db 8080")"
	[ "${r[0]}" = dropped ] && ok "IPv$f: app1 (valid SA, not an admin) to ssh: dropped" || bad "IPv$f: app1 to ssh: ${r[0]}"
	[ "${r[1]}" = dropped ] && ok "IPv$f: app1 to an unlisted port: dropped" || bad "IPv$f: app1 to 8080: ${r[1]}"
	[ "${r[2]}" = dropped ] && ok "IPv$f: mal to 5432: dropped" || bad "IPv$f: mal to 5432: ${r[2]}"
	[ "${r[3]}" = dropped ] && ok "IPv$f: mal to ssh: dropped" || bad "IPv$f: mal to ssh: ${r[3]}"
	[ "${r[4]}" = dropped ] && ok "IPv$f: app2 to ssh: dropped" || bad "IPv$f: app2 to ssh: ${r[4]}"
	[ "${r[5]}" = dropped ] && ok "IPv$f: app2 to an unlisted port: dropped" || bad "IPv$f: app2 to 8080: ${r[5]}"

	e=$(wire esp_app1) p1=$(wire pg_app1) pd=$(wire pg_db) p2=$(wire pg_app2) sa=$(wire ssh_admin) sd=$(wire ssh_db)
	[ "$e" -gt 0 ] && ok "IPv$f wire: ESP from app1 ($e packets)" || bad "IPv$f wire: no ESP from app1"
	[ "$p1" -eq 0 ] && ok "IPv$f wire: no cleartext 5432 from app1" || bad "IPv$f wire: $p1 cleartext 5432 packets from app1"
	[ "$pd" -eq 0 ] && ok "IPv$f wire: no cleartext from db's 5432" || bad "IPv$f wire: $pd cleartext packets from db's 5432"
	[ "$p2" -gt 0 ] && ok "IPv$f wire: app2's cleartext attempts were on the wire ($p2) and unanswered" ||
		bad "IPv$f wire: app2's attempts not seen (the test proves nothing)"
	[ "$((sa + sd))" -eq 0 ] && ok "IPv$f wire: no cleartext ssh between admin and db" || bad "IPv$f wire: cleartext ssh: admin $sa, db $sd"
done

c=$(sagate_counter ipsec_in "arrived in cleartext")
[ "${c:-0}" -gt 0 ] && ok "db: sagate counted app2's cleartext PostgreSQL as dropped ($c)" ||
	bad "db: cleartext drop counter of ipsec_in is '${c:-}'"
scenario_end
