#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run, or tests/vm/scenarios.sh).
#
# An app server whose own policy requires IPsec outbound to the database
# (app1 applies a policy with an outbound require-ipsec rule to
# @db-servers:5432; db runs policies/db-server.json and sagated), IPv4 and
# IPv6:
#  - with its IKEv2 SA, app1's psql works, over ESP;
#  - with the SA gone and no IPsec policy left on app1 (CHILD_SA terminated,
#    trap uninstalled: the kernel itself would now send cleartext), psql
#    fails and app1 puts nothing on the wire in cleartext: sagate in app1
#    drops it ("no SA would protect it").
# SAGATE_SCENARIO_BREAK=1 (require-ipsec weakened to permit) must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
IKE_PEERS=app1
. "$top/tests/vm/lib-ike.sh"
trap 'sagated_stop; ike_down' EXIT
scenario_begin "outbound"

ike_scenario_up "$top/policies/db-server.json" || scenario_abort
cat >"$IKE_DIR/app1-out.json" <<EOF2
{
  "version": 1,
  "description": "app server: PostgreSQL to the database servers only through IPsec",
  "include": ["$top/rules/services.json", "$top/rules/hosts.json"],
  "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "ike", "action": "permit", "services": "ike" },
    { "name": "esp", "action": "permit", "peers": "@db-servers", "services": "esp" },
    { "name": "db-out", "direction": "out", "action": "require-ipsec", "peers": "@db-servers",
      "services": "postgresql" }
  ]
}
EOF2
pol=$(site_policy "$IKE_DIR/app1-out.json")
out=$(nsx app1 env SAGATE_STATE_DIR="$IKE_DIR/state-app1" "$sagate" apply --queues 1 "$pol" 2>&1) &&
	ok "app1: $(basename "$pol") applied" || bad "app1: apply: $out"
EXPLAIN_OUT_HOSTS=app1	# flows from app1 are explained leaving app1 too
app_counter() {
	nsx app1 nft list chain inet sagate ipsec_out |
		awk 'index($0, "no SA would protect it") { for (i = 1; i <= NF; i++) if ($i == "packets") { print $(i + 1); exit } }'
}

for f in 4 6; do
	db=$(addr $f db)
	wire_reset
	ike_sa_setup app1 app1-$f && ok "IPv$f: IKEv2 transport SA app1 <-> db"
	r=$(psql_q app1 "$db" "select 7")
	[ "$r" = 7 ] && ok "IPv$f: with its SA, app1's psql works" || bad "IPv$f: psql with SA: $r"
	[ "$(wire esp_app1)" -gt 0 ] && [ "$(wire pg_app1)" -eq 0 ] && ok "IPv$f wire: it went as ESP" ||
		bad "IPv$f wire: ESP $(wire esp_app1), cleartext 5432 $(wire pg_app1)"

	swan app1 --uninstall --child app1-$f >/dev/null 2>&1
	swan app1 --terminate --ike app1-$f --timeout 20 >/dev/null 2>&1
	wait_for 20 sh -c "[ -z \"\$(ip -n $(ns app1) xfrm policy list dst $db)\" ]" &&
		ok "IPv$f: SA terminated, trap uninstalled: app1 has no IPsec policy to db" ||
		bad "IPv$f: app1 still has an IPsec policy to db: $(nsx app1 ip xfrm policy list dst "$db" | head -3)"
	wire_reset
	c0=$(app_counter)
	r=$(PGTO=4 psql_q app1 "$db" "select 8")
	c1=$(app_counter)
	[ "$r" != 8 ] && ok "IPv$f: without an SA, app1's psql fails" || bad "IPv$f: psql without an SA answered"
	[ "$(wire pg_app1)" -eq 0 ] && ok "IPv$f wire: app1 sent nothing in cleartext to 5432" ||
		bad "IPv$f wire: app1 sent $(wire pg_app1) cleartext packets to 5432"
	[ "${c1:-0}" -gt "${c0:-0}" ] && ok "IPv$f: sagate in app1 dropped it: no SA would protect it ($c0 -> $c1)" ||
		bad "IPv$f: app1's ipsec_out drop counter '$c0' -> '$c1'"
done
scenario_end
