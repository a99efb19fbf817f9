#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run; tests/vm/scenarios.sh runs
# it with the others in one boot).
#
# One policy for both sides: db's charon runs what `sagate ike-config`
# makes of policies/db-server.json, app1's what it makes of
# policies/web-server.json (whose rule "db-out" sends PostgreSQL to the
# database servers through an SA), nothing written by hand but the PSK
# (--auth psk, one wildcard secret).  db applies db-server.json in engine
# mode with sagated.  Then, IPv4 and IPv6: app1's first PostgreSQL packet
# hits the trap of the generated child "db-out", IKEv2 negotiates it with
# db's generated child "postgresql" (transport, AES-GCM-256 first), the
# psql query is answered, sagated admits the flow under rule
# "postgresql", and the wire saw ESP and no cleartext 5432 from app1.
# app2 (no IPsec) still cannot connect.
# SAGATE_SCENARIO_BREAK=1 generates db's config from a policy whose
# postgresql rule allows only chacha20poly1305 while app1's offers it
# nowhere: then this must FAIL (no SA, no query).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/vm/lib-ike.sh"
trap 'sagated_stop; ike_down' EXIT
scenario_begin "ike-config"
IKE_PEERS=app1

# gen HOST POLICY: HOST's swanctl.conf, generated, plus the PSK
gen() {
	local h=$1 pol=$2 f=$IKE_DIR/$1/swanctl.conf
	"$sagate" ike-config --auth psk --local "${IP4[$h]}" --local "${IP6[$h]}" "$pol" >"$f" 2>"$IKE_DIR/$h/gen.err" ||
		{ cat "$IKE_DIR/$h/gen.err" >&2; return 1; }
	printf 'secrets {\n\tike-test {\n\t\tsecret = %s\n\t}\n}\n' "$IKE_PSK" >>"$f"
}

ike_net_up || { bad "set-up step failed: namespaces, bridge and wire counters"; scenario_abort; }
for h in db app1; do charon_start $h || { bad "set-up step failed: charon in $h"; scenario_abort; }; done
dbpol=$top/policies/db-server.json
if [ "$BREAK" = 1 ]; then
	echo "# SAGATE_SCENARIO_BREAK=1: db's postgresql child offers only chacha20poly1305: FAILs expected"
	d=$top/policies
	jq --arg d "$d" '.include |= map($d + "/" + .) | (.rules[] | select(.name == "postgresql")).ipsec.algorithms = ["chacha20poly1305"]' \
		"$dbpol" >"$IKE_DIR/narrow.json" && dbpol=$IKE_DIR/narrow.json
fi
gen db "$dbpol" && gen app1 "$top/policies/web-server.json" || { bad "set-up step failed: sagate ike-config"; scenario_abort; }
if [ "$BREAK" = 1 ]; then	# app1 offers no chacha20poly1305
	sed -i 's/, chacha20poly1305-x25519//' "$IKE_DIR/app1/swanctl.conf"
fi
grep -q '^			db-out {$' "$IKE_DIR/app1/swanctl.conf" && grep -q '^			postgresql {$' "$IKE_DIR/db/swanctl.conf" &&
	ok "generated: child db-out for app1 (web-server.json), child postgresql for db (db-server.json)" ||
	bad "generated configs lack the children db-out / postgresql"
for h in db app1; do
	swan_load $h && ok "$h: swanctl --load-all took the generated config" ||
		{ bad "set-up step failed: swanctl --load-all of $h's generated config"; scenario_abort; }
done
pg_up || { bad "set-up step failed: PostgreSQL in db"; scenario_abort; }
out=$(nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" apply --queues 1 "$top/policies/db-server.json" 2>&1)
grep -q "engine mode" <<<"$out" || { bad "set-up step failed: sagate apply in engine mode: $out"; scenario_abort; }
sagated_start "$top/policies/db-server.json" || { bad "set-up step failed: sagated ready"; scenario_abort; }

for f in 4 6; do
	db=$(addr $f db)
	wire_reset
	# no initiate: the trap of the generated out rule's child starts IKE
	r=$(PGTO=30 psql_q app1 "$db" "select 40 + 2")
	[ "$r" = 42 ] && ok "IPv$f: app1's psql, trapped into IKE by the generated child, answered ($r)" ||
		bad "IPv$f: app1 psql over the generated config: $r"
	sas=$(swan app1 --list-sas --ike db-servers-ipv$f --child db-out 2>/dev/null)
	grep -q 'INSTALLED, TRANSPORT' <<<"$sas" && ok "IPv$f: app1's CHILD_SA db-out (connection db-servers-ipv$f) installed, transport mode" ||
		bad "IPv$f: app1's db-out not installed in transport mode: $sas"
	dsas=$(swan db --list-sas --child postgresql 2>/dev/null)
	grep -q 'AES_GCM_16-256' <<<"$dsas" && grep -q "$(addr $f app1)/32\|$(addr $f app1)/128" <<<"$dsas" &&
		ok "IPv$f: db's CHILD_SA postgresql uses AES_GCM_16-256 (its first proposal), selector app1" ||
		bad "IPv$f: db's postgresql CHILD_SA: $dsas"
	grep -q "\"verdict\":\"accept\".*\"rule\":\"postgresql\".*\"src\":\"$(addr $f app1)\"" "$IKE_DIR/sagated.log" &&
		ok "IPv$f: sagated admitted the flow under rule postgresql" ||
		bad "IPv$f: no accept by sagated for app1 under rule postgresql"
	r=$(PGTO=4 psql_q app2 "$db" "select 1")
	[ "$r" != 1 ] && ok "IPv$f: app2 without IPsec: psql fails" || bad "IPv$f: app2 without IPsec got an answer"
	e=$(wire esp_app1) p1=$(wire pg_app1) pd=$(wire pg_db)
	[ "$e" -gt 0 ] && ok "IPv$f wire: ESP from app1 ($e packets)" || bad "IPv$f wire: no ESP from app1"
	[ "$((p1 + pd))" -eq 0 ] && ok "IPv$f wire: no cleartext 5432 between app1 and db" ||
		bad "IPv$f wire: cleartext 5432: app1 $p1, db $pd"
done
scenario_end
