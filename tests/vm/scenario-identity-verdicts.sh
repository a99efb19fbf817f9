#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run; tests/vm/scenarios.sh runs
# it with the others in one boot).
#
# Rules by who the peer is, end to end: db's policy admits PostgreSQL only
# over an SA whose IKE identity is app1's certificate DN (no peer
# addresses at all); sagated learns the identities from db's charon over
# vici.  A CA and host certificates come from strongSwan's pki
# (lib-pki.sh).  Checked: app1 is admitted; app2, with a valid certificate
# of the same CA and an otherwise perfect SA, is refused (drop-identity);
# an SA set up by hand with `ip xfrm` from mal is refused (no identity:
# drop-no-identity); charon killed mid-flow: app1's established session
# goes on, a new flow fails closed (drop-no-identity); charon back and the
# SA negotiated again: new flows are admitted.
# SAGATE_SCENARIO_BREAK=1 makes the rule's identity app2's: then app1 is
# refused and app2 admitted, and this must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/vm/lib-ike.sh"
. "$top/tests/vm/lib-pki.sh"
trap 'sess_close s1; sagated_stop; ike_down' EXIT
scenario_begin "identity-verdicts"
IKE_PEERS="app1 app2"

who=app1
[ "$BREAK" = 1 ] && { echo "# SAGATE_SCENARIO_BREAK=1: the rule names app2's identity: FAILs expected"; who=app2; }
pol=$IKE_DIR/identity.json
mkdir -p "$IKE_DIR" && cat >"$pol" <<EOF
{
  "version": 1,
  "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "ike", "action": "permit", "protocol": "udp", "ports": [500, 4500] },
    { "name": "esp", "action": "permit", "protocol": "esp" },
    { "name": "pg", "action": "require-ipsec", "protocol": "tcp", "ports": 5432,
      "ipsec": { "identities": "$(dn $who)" } }
  ]
}
EOF

# the last decision sagated logged for a flow from SRC, as "verdict reason rule"
decision_of() {
	grep '"verdict"' "$IKE_DIR/sagated.log" | grep "\"src\":\"$1\"" | tail -n1 |
		jq -r '"\(.verdict) \(.reason) \(.rule // "-")"' 2>/dev/null
}
# sagated runs as user sagated, and charon's socket is root's (mode
# 0770): give it group sagated, as sagated(8) tells the admin to
vici_for_sagated() { chgrp sagated "$IKE_DIR/vici-db" && chmod 770 "$IKE_DIR/vici-db"; }
# kill db's charon without letting it clean up: the kernel keeps its SAs
charon_kill() {
	local p
	for p in $(ip netns pids "$(ns db)"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = charon ] && kill -9 "$p"
	done
}

ike_net_up || { bad "set-up step failed: namespaces, bridge and wire counters"; scenario_abort; }
for h in db app1 app2; do charon_start $h || { bad "set-up step failed: charon in $h"; scenario_abort; }; done
vici_for_sagated || { bad "set-up step failed: group sagated for db's vici socket"; scenario_abort; }
certs || { bad "set-up step failed: pki (strongswan-pki)"; scenario_abort; }
conf_db && conf_peer app1 "$(dn app1)" && conf_peer app2 "$(dn app2)" || scenario_abort
for h in db app1 app2; do swan_load $h || { bad "set-up step failed: swanctl --load-all in $h"; scenario_abort; }; done
pg_up || { bad "set-up step failed: PostgreSQL in db"; scenario_abort; }
out=$(nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" apply --queues 1 "$pol" 2>&1)
grep -q "engine mode" <<<"$out" || { bad "set-up step failed: sagate apply in engine mode: $out"; scenario_abort; }
sagated_start "$pol" --vici "$IKE_DIR/vici-db" || { bad "set-up step failed: sagated ready"; scenario_abort; }
wait_for 20 grep -q '"event":"vici-synced"' "$IKE_DIR/sagated.log" &&
	ok "sagated follows db's charon over vici (vici-synced)" || bad "sagated never synced with charon: $(tail -n3 "$IKE_DIR/sagated.log")"

ike_sa_setup app1 pg
ike_sa_setup app2 pg
r=$(PGTO=8 psql_q app1 "${IP4[db]}" "select 40 + 2")
[ "$r" = 42 ] && ok "app1 (certificate $(dn app1)) is admitted: psql answered" || bad "app1's psql: $r"
[ "$(decision_of "${IP4[app1]}")" = "accept accept pg" ] && ok "sagated: accept under rule pg for app1" ||
	bad "sagated's decision for app1: $(decision_of "${IP4[app1]}")"
r=$(PGTO=4 psql_q app2 "${IP4[db]}" "select 1")
[ "$r" != 1 ] && ok "app2 (a valid certificate of the same CA, another identity) is refused" || bad "app2 got an answer"
[ "$(decision_of "${IP4[app2]}")" = "drop drop-identity pg" ] && ok "sagated: drop-identity for app2's otherwise good SA" ||
	bad "sagated's decision for app2: $(decision_of "${IP4[app2]}")"

# an SA set up by hand between mal and db: no IKE daemon vouches for it
key=0x0102030405060708090a0b0c0d0e0f1011121314
for h in mal db; do
	nsx $h ip xfrm state add src "${IP4[mal]}" dst "${IP4[db]}" proto esp spi 0x5000 reqid 77 mode transport \
		aead 'rfc4106(gcm(aes))' $key 128 || bad "hand SA in $h"
done
nsx mal ip xfrm policy add src "${IP4[mal]}" dst "${IP4[db]}" proto tcp dport 5432 dir out \
	tmpl src "${IP4[mal]}" dst "${IP4[db]}" proto esp reqid 77 mode transport || bad "hand policy in mal"
r=$(PGTO=4 psql_q mal "${IP4[db]}" "select 1")
[ "$r" != 1 ] && ok "mal over an SA set by hand with ip xfrm is refused" || bad "mal's hand SA got an answer"
[ "$(decision_of "${IP4[mal]}")" = "drop drop-no-identity pg" ] && ok "sagated: drop-no-identity for the hand-made SA" ||
	bad "sagated's decision for mal: $(decision_of "${IP4[mal]}")"

# charon dies mid-flow
sess_open s1 app1 "${IP4[db]}"
[ "$(sess_query s1 "1 + 1" 20)" = 2 ] && ok "app1's psql session is established" || bad "app1's session did not start"
n0=$(grep -c '"event":"vici-lost"' "$IKE_DIR/sagated.log")
charon_kill
wait_for 20 sh -c "[ \$(grep -c '\"event\":\"vici-lost\"' '$IKE_DIR/sagated.log') -gt $n0 ]" &&
	ok "charon killed: sagated lost vici (its identities are gone: fail closed)" || bad "sagated did not notice charon's end"
[ "$(sess_query s1 "2 + 2" 20)" = 4 ] && ok "app1's established session goes on without charon" ||
	bad "app1's established session stopped with charon"
r=$(PGTO=4 psql_q app1 "${IP4[db]}" "select 1")
[ "$r" != 1 ] && [ "$(decision_of "${IP4[app1]}")" = "drop drop-no-identity pg" ] &&
	ok "a new flow from app1 while charon is down: drop-no-identity" ||
	bad "a new flow without charon: $r, $(decision_of "${IP4[app1]}")"
sess_close s1
s0=$(grep -c '"event":"vici-synced"' "$IKE_DIR/sagated.log")
charon_start db && vici_for_sagated && conf_db && swan_load db ||
	{ bad "set-up step failed: charon in db restarted"; scenario_abort; }
wait_for 30 sh -c "[ \$(grep -c '\"event\":\"vici-synced\"' '$IKE_DIR/sagated.log') -gt $s0 ]" &&
	ok "charon back: sagated resynced" || bad "no new vici-synced after charon's restart"
swan app1 --terminate --ike db >/dev/null 2>&1
swan_initiate app1 pg || { bad "set-up step failed: app1's CHILD_SA after db's restart ($(swan_why app1))"; scenario_abort; }
r=$(PGTO=8 psql_q app1 "${IP4[db]}" "select 7")
[ "$r" = 7 ] && [ "$(decision_of "${IP4[app1]}")" = "accept accept pg" ] &&
	ok "app1's new SA after the resync: admitted again" || bad "app1 after the resync: $r, $(decision_of "${IP4[app1]}")"
scenario_end
