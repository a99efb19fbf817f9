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
# Then `sagate audit --vici` on db compares the policy with what db's
# charon has loaded and holds: nothing to report on the generated config;
# a hand-added tunnel child for PostgreSQL is "ike-mode"; after a null
# cipher is added to both sides' PostgreSQL proposals and the SA is
# negotiated again with it, sagated refuses the flow and audit names the
# child whose SA it refused ("ike-sa-refused").
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

# --- audit against db's charon
audit_ike() {
	nsx db env SAGATE_STATE_DIR="$IKE_DIR/state" "$sagate" audit --json --fail-on never \
		--vici "$IKE_DIR/vici-db" 2>"$IKE_DIR/audit.err"
}
ike_findings() { jq -c '[.findings[] | select(.kind | startswith("ike-"))]' <<<"$1"; }
A=$(audit_ike)
[ "$(ike_findings "$A")" = "[]" ] &&
	ok "audit --vici: charon's generated connections cover every require-ipsec peer, in modes and with SAs the rules admit (no ike- finding)" ||
	bad "audit --vici on the generated config: $(ike_findings "$A") $(cat "$IKE_DIR/audit.err")"

# a hand-added connection that carries PostgreSQL from app2 in tunnel mode
cat >>"$IKE_DIR/db/swanctl.conf" <<CONF
connections {
	rogue {
		remote_addrs = ${IP4[app2]}
		local {
			auth = psk
		}
		remote {
			auth = psk
		}
		children {
			pg-tunnel {
				mode = tunnel
				local_ts = dynamic[tcp/5432]
				remote_ts = ${IP4[app2]}/32
			}
		}
	}
}
CONF
swan_load db || bad "db: swanctl --load-all with the rogue connection"
A=$(audit_ike)
jq -e '[.findings[] | select(.kind == "ike-mode" and .rule == "postgresql" and .object == "connection rogue child pg-tunnel")] | length == 1' <<<"$A" >/dev/null &&
	ok "audit --vici: the tunnel child rogue/pg-tunnel for a transport rule is ike-mode on rule postgresql" ||
	bad "audit --vici: no ike-mode for rogue/pg-tunnel: $(ike_findings "$A")"

# a null cipher added to db's postgresql child, and app1 offering only it
sed -i 's/^\(\t*esp_proposals = aes256gcm16-x25519.*\)$/\1, null-sha256-x25519/' "$IKE_DIR/db/swanctl.conf"
sed -i '/^\t*db-out {$/,/}/ s/^\(\t*esp_proposals = \).*$/\1null-sha256-x25519/' "$IKE_DIR/app1/swanctl.conf"
swan_load db && swan_load app1 || bad "reloading the weakened configs"
swan app1 --terminate --ike db-servers-ipv4 >/dev/null 2>&1
wait_for 20 sh -c "! swanctl --list-sas --uri unix://$IKE_DIR/vici-db | grep -q 'postgresql.*INSTALLED'"
r=$(PGTO=8 psql_q app1 "${IP4[db]}" "select 1")
[ "$r" != 1 ] && ok "IPv4: with the null cipher negotiated, sagated refuses app1's psql" || bad "IPv4: app1's psql over ESP-null answered"
dsas=$(swan db --list-sas --child postgresql 2>/dev/null)
grep -q 'NULL' <<<"$dsas" && ok "db's CHILD_SA postgresql now uses the null cipher" || bad "db's postgresql SA is not ESP-null: $dsas"
A=$(audit_ike)
jq -e '[.findings[] | select(.kind == "ike-sa-refused" and .rule == "postgresql" and (.object | startswith("connection app-servers child postgresql SPI 0x")))] | length >= 1' <<<"$A" >/dev/null &&
	ok "audit --vici: the ESP-null SA is ike-sa-refused on rule postgresql, naming connection app-servers child postgresql" ||
	bad "audit --vici: no ike-sa-refused for the ESP-null SA: $(ike_findings "$A")"
scenario_end
