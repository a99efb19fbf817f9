#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# Revocation under live PostgreSQL sessions over IKEv2 ESP
# (policies/db-server.json in db, engine mode): app1 holds a psql session
# over IPv4 and one over IPv6; a policy that admits the app servers over
# IPv6 only is applied:
#  - the IPv4 session ends at the apply (psql loses its connection), and
#    apply says how many flows it ended;
#  - the IPv6 session, still admitted, goes on;
#  - with --keep-flows, a new IPv4 session survives the same apply.
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit, and the
# revoking applies made with --keep-flows) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=app1
. "$top/tests/vm/lib-ike.sh"
trap 'sess_close s4; sess_close s6; sess_close k4; sagated_stop; ike_down' EXIT
scenario_begin "revoke"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort
# the same policy, PostgreSQL from the app servers over IPv6 only
jq --arg d "$top/policies" '.include |= map(if startswith("/") then . else $d + "/" + . end)
	| (.rules[] | select(.name == "postgresql")).peers = ["fd77::21", "fd77::22"]' \
	"$SITE_POLICY" >"$IKE_DIR/v6only.json" || scenario_abort
keep=$([ "$BREAK" = 1 ] && echo --keep-flows)
sg() { nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" "$@" 2>&1; }

for f in 4 6; do
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db"
	sess_open s$f app1 "$(addr $f db)"
	r=$(sess_query s$f "select 1" 20)
	[ "$r" = 1 ] && ok "IPv$f: psql session open over ESP" || bad "IPv$f: psql session: '$r'"
done

out=$(sg apply $keep "$IKE_DIR/v6only.json")
echo "$out" | sed 's/^/# /'
grep -Eq "^ended [1-9][0-9]* established flows no longer admitted$" <<<"$out" &&
	ok "apply of the IPv6-only policy ended flows: $(grep -o 'ended [0-9]*' <<<"$out")" ||
	bad "apply of the IPv6-only policy ended no flow"
r=$(sess_query s4 "select 2" 10)
if [ "$r" != 2 ] && grep -Eqi "closed the connection|connection to server was lost|terminated|reset" "$IKE_DIR/s4.out"; then
	ok "IPv4: the revoked peer's open session ended at the apply ($(grep -Ei -m1 'closed|lost|terminated|reset' "$IKE_DIR/s4.out"))"
else
	bad "IPv4: the revoked peer's session: '$r' ($(tail -n 2 "$IKE_DIR/s4.out" | tr '\n' ' '))"
fi
r=$(sess_query s6 "select 3" 15)
[ "$r" = 3 ] && ok "IPv6: the session still admitted goes on" || bad "IPv6: admitted session after the apply: '$r'"
r=$(PGTO=5 psql_q app1 "${IP4[db]}" "select 4")
[ "$r" != 4 ] && ok "IPv4: a new session of the revoked peer is refused" || bad "IPv4: a new session was admitted"

# --keep-flows: today's behaviour, the open session stays
out=$(sg apply "$SITE_POLICY")
sess_open k4 app1 "${IP4[db]}"
r=$(sess_query k4 "select 5" 20)
[ "$r" = 5 ] && ok "IPv4: db-server again, a new session" || bad "IPv4: new session under db-server: '$r' ($out)"
out=$(sg apply --keep-flows "$IKE_DIR/v6only.json")
grep -q "kept established flows as they are (--keep-flows)" <<<"$out" &&
	ok "apply --keep-flows says it kept them" || bad "apply --keep-flows: $out"
r=$(sess_query k4 "select 6" 15)
[ "$r" = 6 ] && ok "IPv4: with --keep-flows the revoked peer's session stays" ||
	bad "IPv4: with --keep-flows the session: '$r'"
scenario_end
