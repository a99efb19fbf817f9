#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# sagated killed and restarted under live PostgreSQL flows over IKEv2 ESP
# (policies/db-server.json in db, engine mode), IPv4 and IPv6:
#  - sagated killed (SIGKILL): a new psql flow from app1 over its valid SA
#    is refused (the queue has no bypass: fail closed), and the session
#    that was open goes on;
#  - restarted: new flows work again; no cleartext 5432 on the wire.
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=app1
. "$top/tests/vm/lib-ike.sh"
trap 'sess_close o4; sess_close o6; sagated_stop; ike_down' EXIT
scenario_begin "sagated-restart"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort

for f in 4 6; do
	db=$(addr $f db)
	wire_reset
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db"
	sess_open o$f app1 "$db"
	r=$(sess_query o$f "select 1" 20)
	[ "$r" = 1 ] && ok "IPv$f: psql session open over ESP" || bad "IPv$f: psql session: '$r'"

	explain_engine_log	# while sagated still serves the queue
	kill -9 "$SAGATED_PID" && wait "$SAGATED_PID" 2>/dev/null
	SAGATED_PID=
	! pgrep -x sagated >/dev/null && ok "IPv$f: sagated killed (SIGKILL)" || bad "IPv$f: a sagated is still running"
	q0=$(sagate_counter ipsec_in "to sagated")
	r=$(PGTO=5 psql_q app1 "$db" "select 2")
	[ "$r" != 2 ] && ok "IPv$f: no sagated: a new psql flow over the valid SA is refused" ||
		bad "IPv$f: no sagated, yet a new flow was admitted"
	q1=$(sagate_counter ipsec_in "to sagated")
	[ "$q1" -gt "$q0" ] && ok "IPv$f: the refused flow reached the queue ($q0 -> $q1): dropped there, fail closed" ||
		bad "IPv$f: the new flow never reached the queue ($q0 -> $q1)"
	r=$(sess_query o$f "select 3" 15)
	[ "$r" = 3 ] && ok "IPv$f: the open session goes on without sagated" || bad "IPv$f: open session without sagated: '$r'"

	sagated_start "$SITE_POLICY" && ok "IPv$f: sagated restarted and ready" || bad "IPv$f: sagated restart: $(tail -3 "$IKE_DIR/sagated.log")"
	r=$(psql_q app1 "$db" "select 4")
	[ "$r" = 4 ] && ok "IPv$f: restarted: a new psql flow works" || bad "IPv$f: after restart: $r"
	r=$(sess_query o$f "select 5" 15)
	[ "$r" = 5 ] && ok "IPv$f: the old session still answers" || bad "IPv$f: old session after restart: '$r'"
	sess_close o$f
	[ "$(wire pg_db)" -eq 0 ] && [ "$(wire pg_app1)" -eq 0 ] && [ "$(wire esp_app1)" -gt 0 ] &&
		ok "IPv$f wire: ESP only, no cleartext 5432" ||
		bad "IPv$f wire: cleartext 5432: db $(wire pg_db), app1 $(wire pg_app1); ESP app1 $(wire esp_app1)"
done
scenario_end
