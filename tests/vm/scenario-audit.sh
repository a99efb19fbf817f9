#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run; tests/vm/scenarios.sh runs
# it with the others in one boot).
#
# sagate audit on the shipped policies/db-server.json in db, engine mode,
# sagated running, real IKEv2 SAs (strongSwan) from app1, app2 and admin
# in both families, so the SPD covers every require-ipsec peer:
#  - after traffic that touches every rule, the audit is clean: nothing at
#    warning or above, exit 0 with --fail-on warning; no rule unused;
#    every require-ipsec rule has SAs in use;
#  - then defects are planted one at a time, in the live table, the SPD,
#    the IKE peers, sagated and the applied policy; each must be reported
#    with its kind and severity, exit 4 at its level and 0 one level up;
#    after each is undone the audit is clean again.
# SAGATE_SCENARIO_BREAK=1 (a policy without require-ipsec): then the
# audit of the shipped policy cannot be the one expected: this must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS="app1 app2 admin"
. "$top/tests/vm/lib-ike.sh"
trap 'sess_close s; sagated_stop; ike_down' EXIT
scenario_begin "audit"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort
for f in 4 6; do
	for h in app1 app2 admin; do
		ike_sa_setup $h $h-$f
	done
done
ok "IKEv2 transport SAs app1, app2, admin <-> db, IPv4 and IPv6"

A=$IKE_DIR/audit.json
# audit [OPTIONS]: sagate -j audit in db into $A; exit status in $rc
audit() {
	nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" -j audit "$@" >"$A" 2>"$IKE_DIR/audit.err"
	rc=$?
}
# the findings at warning or above, one per line
loud() { jq -c '[.findings[] | select(.severity != "info") | [.severity, .kind, .rule // .object]]' "$A"; }
reapply() {
	nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" apply --queues 1 ${FULL:+--full} "${1:-$SITE_POLICY}" >"$IKE_DIR/apply.out" 2>&1 ||
		bad "apply ${1:-$SITE_POLICY}: $(cat "$IKE_DIR/apply.out")"
}
# one level above SEVERITY, where its finding must not fail the audit
above() { case $1 in info) echo warning ;; warning) echo error ;; *) echo never ;; esac; }
# expect KIND SEVERITY DESC [RULE]: the finding, exit 4 at --fail-on
# SEVERITY and 0 at the level above
expect() {
	local kind=$1 sev=$2 desc=$3 rule=${4:-} n rc1
	audit --fail-on "$sev"
	rc1=$rc
	n=$(jq --arg k "$kind" --arg s "$sev" --arg r "$rule" \
		'[.findings[] | select(.kind == $k and .severity == $s and ($r == "" or .rule == $r))] | length' "$A")
	audit --fail-on "$(above "$sev")"
	if [ "${n:-0}" -gt 0 ] && [ $rc1 -eq 4 ] && [ $rc -eq 0 ]; then
		ok "$desc: $kind ($sev)${rule:+ on rule $rule}, exit 4 at --fail-on $sev, 0 at $(above "$sev")"
	else
		bad "$desc: want $kind ($sev)${rule:+ on $rule}, exit 4 / 0; got $n, exit $rc1 / $rc: $(loud)"
	fi
}
# clean DESC: nothing at warning or above; exit 0 at --fail-on warning
clean() {
	audit --fail-on warning
	if [ $rc -eq 0 ] && [ "$(loud)" = "[]" ]; then
		ok "$1: audit clean (exit 0 at --fail-on warning)"
	else
		bad "$1: audit not clean: exit $rc: $(loud) $(head -c 300 "$IKE_DIR/audit.err")"
	fi
}
# one packet for every rule of db-server, both families
site_traffic() {
	local f db r
	for f in 4 6; do
		db=$(addr $f db)
		r=$(psql_q app1 "$db" "select 1")
		[ "$r" = 1 ] || bad "IPv$f traffic: app1's psql: $r"
		r=$(psql_q app2 "$db" "select 1")
		[ "$r" = 1 ] || bad "IPv$f traffic: app2's psql: $r"
		r=$(banner admin "$db" 22)
		[ "$r" = SSH-2.0-sagate-standin ] || bad "IPv$f traffic: admin's ssh: '$r'"
		r=$(probes "mal $db 5432")
		[ "$r" = dropped ] || bad "IPv$f traffic: mal to 5432: $r"
		nsx app1 ping -c1 -W3 "$db" >/dev/null || bad "IPv$f traffic: app1's ping"
		nsx mal bash -c "echo ike >/dev/udp/$db/500" || bad "IPv$f traffic: a datagram to IKE"
	done
}
# policy WITH-JQ-EXPR: the site's policy changed by a jq expression on
# .rules, its relative includes made absolute (the copy lives elsewhere)
policy() {
	jq --arg d "$(cd "$(dirname "$SITE_POLICY")" && pwd)" \
		'.include |= map(if startswith("/") then . else $d + "/" + . end) | .rules |= ('"$1"')' \
		"$SITE_POLICY" >"$IKE_DIR/planted.json" && echo "$IKE_DIR/planted.json"
}

site_traffic
audit --fail-on never
jq -e '.counts.error == 0 and .counts.warning == 0' "$A" >/dev/null &&
	ok "the shipped db-server policy in the test bed: no errors, no warnings ($(jq -c .counts "$A"))" ||
	bad "shipped policy: $(loud)"
clean "after traffic over every rule"
[ "$(jq '[.findings[] | select(.kind == "never-hit")] | length' "$A")" = 0 ] &&
	ok "every rule was hit" || bad "rules never hit: $(jq -c '[.findings[] | select(.kind == "never-hit") | .rule]' "$A")"
jq -e '[.findings[] | select(.kind == "sas-in-use") | .rule] | index("postgresql") != null and index("ssh-admins") != null' "$A" >/dev/null &&
	ok "SAs in use reported for postgresql and ssh-admins" || bad "sas-in-use: $(jq -c '[.findings[] | select(.kind == "sas-in-use")]' "$A")"
nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" audit >"$IKE_DIR/audit.txt" 2>&1
grep -q '^info ' "$IKE_DIR/audit.txt" && ok "the text report lists the info findings" || bad "text report: $(head -5 "$IKE_DIR/audit.txt")"

# --- the live table, by hand ------------------------------------------------
nsx db nft add element inet sagate in4_ports '{ 10.77.0.66 . tcp . 8080 : accept }'
expect drift-element-added error "1. mal let in to port 8080 by hand"
reapply
clean "1. undone"

nsx db nft delete element inet sagate in4_protos '{ 10.77.0.10 . icmp }'
expect drift-element-removed error "2. an element deleted by hand"
reapply
clean "2. undone"

nsx db nft delete element inet sagate in4_exact '{ 10.77.0.30 . tcp . 22 }' &&
	nsx db nft add element inet sagate in4_exact '{ 10.77.0.30 . tcp . 22 comment "ssh-admins" : accept }'
expect drift-element-changed error "3. the admin's ssh turned into a plain accept"
reapply
clean "3. undone"

h=$(nsx db nft -a list chain inet sagate input | awk '/vmap @in4_protos/ { print $NF }')
nsx db nft delete rule inet sagate input handle "$h"
expect drift-rule-removed error "4. a rule of chain input deleted by hand"
reapply
clean "4. undone"

sess_open s app1 "${IP4[db]}"
r=$(sess_query s "select 50" 20)
[ "$r" = 50 ] || bad "5. app1's psql session: '$r'"
nsx db nft delete table inet sagate
expect table-missing error "5. table inet sagate deleted"
reapply
clean "5. undone"
# the set of flow bindings went with the table: apply fills it again from
# the reqids of the kernel's SAs, or the session's next packets would drop
r=$(sess_query s "select 51" 15)
[ "$r" = 51 ] && ok "5. app1's open IPsec session survives the table deleted and applied again" ||
	bad "5. open session after the table was deleted and applied again: '$r'; ipsec_bound: $(nsx db nft list set inet sagate ipsec_bound | tr -s '\n\t' ' ')"
sess_close s

nsx db nft -f - <<'EOF'
table ip early {
	chain input {
		type filter hook input priority -10; policy accept;
		tcp dport 5432 accept
	}
}
EOF
expect foreign-chain-before warning "6. a foreign base chain before ours accepts 5432"
nsx db nft delete table ip early
clean "6. undone"

# a binding the kernel would never make: a flow admitted under one reqid
# allowed to go on through the SA of another
b=$(nsx db nft list set inet sagate ipsec_bound | grep -o '0x8[0-9a-f]* \. [0-9]*' | head -n1)
if [ -n "$b" ]; then
	forged="${b% . *} . $((${b##* . } + 100))"
	nsx db nft add element inet sagate ipsec_bound "{ $forged }"
	expect drift-binding-forged error "7. a forged flow binding ($forged)"
	nsx db nft delete element inet sagate ipsec_bound "{ $forged }"
	clean "7. undone"
else
	bad "7. no flow binding in ipsec_bound to forge from: $(nsx db nft list set inet sagate ipsec_bound)"
fi

# --- sagated ------------------------------------------------------------------
explain_engine_log	# while sagated still serves the queue
sagated_stop
expect engine-not-running error "8. sagated stopped"
r=$(PGTO=4 psql_q app1 "${IP4[db]}" "select 1")
[ "$r" != 1 ] && ok "8. meanwhile app1's new flow is dropped (explain agrees: see its summary)" ||
	bad "8. a new flow was admitted without sagated"
sagated_start "$SITE_POLICY" || bad "sagated restart: $(tail -3 "$IKE_DIR/sagated.log")"
clean "8. undone"

# --- the SPD and the peers -----------------------------------------------------
sel="src ${IP4[app1]}/32 dst ${IP4[db]}/32 dir in"
xp=$(nsx db ip xfrm policy list $sel)
prio=$(awk '{ for (i = 1; i < NF; i++) if ($i == "priority") print $(i + 1) }' <<<"$xp")
reqid=$(awk '{ for (i = 1; i < NF; i++) if ($i == "reqid") print $(i + 1) }' <<<"$xp")
if [ -n "$prio" ] && [ -n "$reqid" ]; then
	nsx db ip xfrm policy update $sel priority "$prio" tmpl proto esp reqid "$reqid" mode transport level use
	expect spd-optional warning "9. db's IPsec policy for app1 at level use" postgresql
	nsx db ip xfrm policy update $sel priority "$prio" tmpl proto esp reqid "$reqid" mode transport level required
	clean "9. undone"
else
	bad "9. db has no inbound IPsec policy for app1: $xp"
fi

swan db --terminate --child admin-6 --timeout 20 >/dev/null 2>&1
wait_for 20 sh -c "[ -z \"\$(ip -n $(ns db) xfrm policy list src ${IP6[admin]}/128 dir in)\" ]"
expect spd-missing warning "10. admin's IPv6 CHILD_SA closed by db: no IPsec policy covers fd77::30" ssh-admins
swan_initiate admin admin-6 || bad "10. admin's SA back"
clean "10. undone"

# app2 loses its IPsec altogether and tries in cleartext
swan app2 --uninstall --child app2-4 >/dev/null 2>&1
swan app2 --terminate --ike app2-4 --timeout 20 >/dev/null 2>&1
wait_for 20 sh -c "[ -z \"\$(ip -n $(ns app2) xfrm policy list dst ${IP4[db]})\" ]" || bad "11. app2 still has IPsec policies"
r=$(PGTO=4 psql_q app2 "${IP4[db]}" "select 1")
[ "$r" != 1 ] || bad "11. app2 got an answer in cleartext"
expect cleartext-dropped warning "11. app2's cleartext PostgreSQL attempts dropped"
jq -e '[.findings[] | select(.kind == "spd-missing" and .rule == "postgresql")] | length > 0' "$A" >/dev/null &&
	ok "11. and app2's address is without an IPsec policy (spd-missing on postgresql)" || bad "11. spd-missing for app2: $(loud)"
f=$(jq -c '[.findings[] | select(.kind == "cleartext-attempts" and .object == "from 10.77.0.22 to tcp port 5432")] | .[0] // empty' "$A")
[ -n "$f" ] && [ "$(jq -r '.severity + " " + .rule' <<<"$f")" = "warning postgresql" ] &&
	ok "11. and who tried: $(jq -r '.object + ", rule " + .rule + ": " + .message' <<<"$f")" ||
	bad "11. no cleartext-attempts finding for app2: $(jq -c '[.findings[] | select(.kind == "cleartext-attempts")]' "$A")"
swan_load app2 && swan_initiate app2 app2-4 || bad "11. app2's SA back"
# the full replace: the drop counters and the cleartext-attempt sets start
# again from nothing (an incremental apply keeps both: sagate(8))
FULL=1 reapply
clean "11. undone"

# --- the applied policy ----------------------------------------------------------
reapply "$(policy '. + [{"name": "legacy-http", "action": "permit", "peers": "@site", "protocol": "tcp", "ports": 8080}]')"
site_traffic
audit --fail-on never
# counters count new flows: ESP between peers whose SAs predate this table
# is an established conntrack entry, accepted before any rule, so rule esp
# may well show no packet now
unused=$(jq -c '[.findings[] | select(.kind == "never-hit") | .rule | select(. != "esp")]' "$A")
[ "$unused" = '["legacy-http"]' ] && ok "12. after traffic, the planted rule is the one unused (besides esp)" ||
	bad "12. never-hit: $unused"
expect never-hit info "12. a rule no packet uses" legacy-http

reapply "$(policy '. + [{"name": "pg-legacy", "action": "permit", "peers": ["10.77.0.21", "10.77.0.66"], "services": "postgresql"}]')"
expect contradiction warning "13. a cleartext permit after the block of everyone on 5432" pg-legacy

reapply "$(policy '.[0:4] + [{"name": "ssh-app1", "action": "permit", "peers": ["10.77.0.21", "fd77::21"], "services": "ssh"},
	{"name": "ssh-legacy", "action": "block", "peers": ["10.77.0.21", "10.77.0.30", "fd77::21", "fd77::30"], "services": "ssh"}] + .[4:]')"
expect shadowed warning "14. a rule covered by two earlier ones" ssh-legacy

reapply "$(policy '. + [{"name": "telnet", "action": "block", "protocol": "tcp", "ports": 23}]')"
expect redundant warning "15. a block the default makes anyway" telnet

reapply "$(policy '.[0:4] + [{"name": "ssh-app-servers", "action": "require-ipsec", "peers": ["10.77.0.21", "10.77.0.22"], "services": "ssh"}] + .[4:]')"
expect family-counterpart warning "16. app servers' ssh over IPsec for IPv4 only" ssh-app-servers

reapply "$(policy '.[0:4] + [{"name": "metrics", "action": "permit", "peers": "10.0.0.0/8", "protocol": "tcp", "ports": 9187}] + .[4:]')"
expect cleartext-wide warning "17. a port open in cleartext to a /8" metrics

reapply
site_traffic
clean "the shipped policy again, after traffic"
scenario_end
