#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# The SA under a live PostgreSQL flow (policies/db-server.json in db,
# engine mode, sagated), IPv4 and IPv6:
#  - rekey: app1 rekeys its CHILD_SAs every few seconds (short lifetimes);
#    an open psql session keeps answering across a rekey (new SPIs);
#  - SA lost on db mid-flow (a CHILD_SA that does not rekey: a rekey
#    would restore the protection; ip xfrm state + policy flush in db
#    while a query of app1's waits on a lock, then the lock is released):
#    the answer never comes, and nothing goes on the
#    wire in cleartext (sagate drops db's unprotected reply; its counter
#    "would leave in cleartext" rises);
#  - IKE re-established (terminate + trap on app1): a new psql flow works.
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=app1 APP1_REKEY=${APP1_REKEY:-8}
. "$top/tests/vm/lib-ike.sh"
trap 'sess_close r4; sess_close r6; sess_close l4; sess_close l6; sess_close k4; sess_close k6; sagated_stop; ike_down' EXIT
scenario_begin "sa-lifecycle"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort

pg_waiting() {	# a query of app1's waits for a lock on db (asked over the local socket)
	[ "$(nsx db psql -h "$IKE_DIR/pg/sock" -U postgres -X -At -c \
		"select count(*) from pg_stat_activity where wait_event_type = 'Lock'" </dev/null)" -ge 1 ]
}
app1_rekey() {	# REKEY-S: reload app1's connections with that rekey time
	local ff
	: >"$IKE_DIR/app1/swanctl.conf"
	for ff in 4 6; do
		swan_conn app1 app1-$ff "$(addr $ff app1)" "$(addr $ff db)" app1-$ff db-$ff transport dynamic dynamic trap "$1"
	done
	swan_load app1
}
spis_changed() { [ "$(child_spis app1 "$1")" != "$2" ] && [ -n "$(child_spis app1 "$1")" ]; }
for f in 4 6; do
	db=$(addr $f db)
	wire_reset
	# --- rekey under an open session
	app1_rekey "$APP1_REKEY" || bad "IPv$f: reload app1's connections with rekeying"
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db (rekey every ${APP1_REKEY} s)"
	sess_open r$f app1 "$db"
	r=$(sess_query r$f "select 10" 20)
	[ "$r" = 10 ] && ok "IPv$f: psql session over ESP answers" || bad "IPv$f: psql session: '$r'"
	s0=$(child_spis app1 app1-$f)
	if wait_for $((APP1_REKEY * 6)) spis_changed app1-$f "$s0"; then
		ok "IPv$f: the CHILD_SA was rekeyed (SPIs $s0-> $(child_spis app1 app1-$f))"
	else
		bad "IPv$f: no rekey seen (SPIs still $s0)"
	fi
	r=$(sess_query r$f "select 11" 15)
	[ "$r" = 11 ] && ok "IPv$f: the same psql session answers after the rekey" || bad "IPv$f: session after rekey: '$r'"
	sess_close r$f

	# --- SA lost on db while db is about to answer; a CHILD_SA that does
	# not rekey, or the next rekey would simply restore the protection
	app1_rekey 0 || bad "IPv$f: reload app1's connections without rekeying"
	swan app1 --terminate --ike app1-$f --timeout 20 >/dev/null 2>&1
	ike_sa_setup app1 app1-$f && ok "IPv$f: a new CHILD_SA that does not rekey"
	sess_open l$f app1 "$db"
	r=$(sess_query l$f "select 20" 20)
	[ "$r" = 20 ] && ok "IPv$f: second psql session answers" || bad "IPv$f: second session: '$r'"
	# db answers only once a local session (over db's unix socket, no
	# IPsec involved) releases an advisory lock: no race with the flush
	sess_open k$f db "$IKE_DIR/pg/sock"
	r=$(sess_query k$f "select 'held' from pg_advisory_lock($f)" 20)
	[ "$r" = held ] || bad "IPv$f: db's local session could not take the lock: '$r'"
	out0=$(sagate_counter output "would leave in cleartext")
	echo "select 'late:' || (select 21 from pg_advisory_xact_lock($f));" >&"${SESS_FD[l$f]}"
	wait_for 30 pg_waiting || bad "IPv$f: app1's query is not waiting on db"
	nsx db ip xfrm state flush && nsx db ip xfrm policy flush
	ok "IPv$f: db's SAs and IPsec policies flushed while app1's query waits"
	r=$(sess_query k$f "select pg_advisory_unlock($f)::text" 20)
	[ "$r" = true ] && ok "IPv$f: db's answer released" || bad "IPv$f: unlock: '$r'"
	sess_close k$f
	if wait_for 10 grep -q '^late:' "$IKE_DIR/l$f.out"; then
		bad "IPv$f: the answer arrived although db has no SA: $(grep late: "$IKE_DIR/l$f.out")"
	else
		ok "IPv$f: with no SA on db the flow stops (no answer in 10 s)"
	fi
	out1=$(sagate_counter output "would leave in cleartext")
	[ "$out1" -gt "$out0" ] && ok "IPv$f: sagate dropped db's reply that would have left in cleartext ($out0 -> $out1)" ||
		bad "IPv$f: sagate's output cleartext counter $out0 -> $out1"
	[ "$(wire pg_db)" -eq 0 ] && [ "$(wire pg_app1)" -eq 0 ] && ok "IPv$f wire: no cleartext 5432 while the SA was gone" ||
		bad "IPv$f wire: cleartext 5432: db $(wire pg_db), app1 $(wire pg_app1)"
	sess_close l$f

	# --- IKE again: app1 drops its IKE_SA; its trap renegotiates on demand
	swan app1 --terminate --ike app1-$f --timeout 20 >/dev/null 2>&1
	wait_for 20 sh -c "! swanctl --list-sas --ike app1-$f --uri unix://$IKE_DIR/vici-app1 | grep -q ESTABLISHED"
	r=$(PGTO=30 psql_q app1 "$db" "select 30")
	[ "$r" = 30 ] && ok "IPv$f: after IKE re-established (trap), a new psql flow works" || bad "IPv$f: new flow after re-establishment: $r"
	child_up app1 app1-$f && ok "IPv$f: a new CHILD_SA is installed" || bad "IPv$f: no CHILD_SA after re-establishment"
	[ "$(wire pg_db)" -eq 0 ] && [ "$(wire pg_app1)" -eq 0 ] && [ "$(wire esp_app1)" -gt 0 ] &&
		ok "IPv$f wire: ESP only, no cleartext 5432 in the whole run" ||
		bad "IPv$f wire: cleartext 5432: db $(wire pg_db), app1 $(wire pg_app1); ESP app1 $(wire esp_app1)"
done
scenario_end
