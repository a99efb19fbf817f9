#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run; tests/vm/scenarios.sh runs
# it with the others in one boot).
#
# sagated learns who the peer of each SA is from charon's vici socket.  A
# CA and host certificates (Ed25519) are made here with strongSwan's
# `pki`; db accepts any certificate of that CA, app1 authenticates with
# its certificate's subject DN as IKE identity, app2 with a subjectAltName
# (an FQDN).  `sagated --identities` follows db's charon and logs the
# identity map at each change.  Checked: each of db's inbound SPIs maps
# to its own peer's identity and auth class pubkey; a follower started
# after the SAs lists both (list-sas); swanctl --terminate of app1's
# IKE_SA removes app1's SPI and keeps app2's; charon stopped: the map is
# emptied and marked unsynced (fail closed) at once; charon back: the map
# resyncs, app1's new SA gets its identity, app2's old SPI has none.
# SAGATE_SCENARIO_BREAK=1 follows app1's charon instead of db's: then the
# SPIs of db are never in the map and this must FAIL.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/vm/lib-ike.sh"
. "$top/tests/vm/lib-pki.sh"
trap 'follow_stop; ike_down' EXIT
scenario_begin "identities"
IKE_PEERS="app1 app2"
# the follower: sagated --identities on a charon's socket, its log
FOLLOW_PID=
follow_start() {	# HOST LOG
	nsx db "$sagated" --identities --vici "$IKE_DIR/vici-$1" >"$2" 2>&1 &
	FOLLOW_PID=$!
}
follow_stop() { [ -n "$FOLLOW_PID" ] && kill "$FOLLOW_PID" 2>/dev/null && wait "$FOLLOW_PID" 2>/dev/null; FOLLOW_PID=; }
# the last identity map LOG holds, as one JSON object
last_map() { grep '"event":"identities"' "$1" | tail -n1; }
# id_of LOG SPI: the identity and auth class the last map gives SPI ("" if none)
id_of() { last_map "$1" | jq -r --arg s "$2" '.sas[] | select(.spi == $s) | "\(.id)|\(.auth)"'; }
has_id() { [ "$(id_of "$1" "$2")" = "$3" ]; }
no_id() { last_map "$1" | jq -e --arg s "$2" '.synced and ([.sas[] | select(.spi == $s)] | length == 0)' >/dev/null; }
unsynced() { last_map "$1" | jq -e '(.synced | not) and (.sas | length == 0)' >/dev/null; }
synced_count() { grep -c '"event":"vici-synced"' "$1"; }
resynced() { [ "$(synced_count "$1")" -gt "$2" ]; }	# LOG COUNT-BEFORE
# PID has exited (a zombie of ours counts: charon_start's job)
gone() { ! [ -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
# db's inbound SPI of the SA from HOST
spi_in() { sa_spi db "${IP4[$1]}" "${IP4[db]}"; }

log=$IKE_DIR/follow.log
ike_net_up || { bad "set-up step failed: namespaces, bridge and wire counters"; scenario_abort; }
for h in db app1 app2; do charon_start $h || { bad "set-up step failed: charon in $h"; scenario_abort; }; done
certs && ok "pki made a CA and certificates for db, app1, app2" ||
	{ bad "set-up step failed: pki (strongswan-pki)"; scenario_abort; }
conf_db && conf_peer app1 "$(dn app1)" && conf_peer app2 app2.sagate.test || scenario_abort
for h in db app1 app2; do swan_load $h || { bad "set-up step failed: swanctl --load-all in $h"; scenario_abort; }; done

follow=db
[ "$BREAK" = 1 ] && { echo "# SAGATE_SCENARIO_BREAK=1: following app1's charon, not db's: FAILs expected"; follow=app1; }
follow_start $follow "$log"
wait_for 20 grep -q '"event":"vici-synced"' "$log" && ok "sagated --identities synced with charon ($follow)" ||
	{ bad "set-up step failed: no vici-synced: $(cat "$log")"; scenario_abort; }

ike_sa_setup app1 pg
ike_sa_setup app2 pg
s1=$(spi_in app1) s2=$(spi_in app2)
echo "# db's inbound SPIs: app1 $s1, app2 $s2"
wait_for 10 has_id "$log" "$s1" "$(dn app1)|pubkey" &&
	ok "app1's SA (SPI $s1): identity \"$(dn app1)\", auth pubkey" ||
	bad "app1's SA (SPI $s1): wanted \"$(dn app1)|pubkey\", map says \"$(id_of "$log" "$s1")\""
wait_for 10 has_id "$log" "$s2" "app2.sagate.test|pubkey" &&
	ok "app2's SA (SPI $s2): identity app2.sagate.test (its certificate's SAN), auth pubkey" ||
	bad "app2's SA (SPI $s2): wanted \"app2.sagate.test|pubkey\", map says \"$(id_of "$log" "$s2")\""

# a follower that comes after the SAs learns them from list-sas
log2=$IKE_DIR/follow2.log
nsx db "$sagated" --identities --vici "$IKE_DIR/vici-$follow" >"$log2" 2>&1 &
p2=$!
wait_for 20 grep -q '"event":"vici-synced"' "$log2"
kill "$p2" 2>/dev/null; wait "$p2" 2>/dev/null
first=$(grep '"event":"identities"' "$log2" | head -n1)
jq -e --arg a "$s1" --arg b "$s2" --arg ida "$(dn app1)" \
	'.synced and ([.sas[] | select(.spi == $a and .id == $ida)] | length == 1) and ([.sas[] | select(.spi == $b and .id == "app2.sagate.test")] | length == 1)' \
	<<<"$first" >/dev/null && ok "a follower started later lists both SAs with their identities (list-sas)" ||
	bad "the later follower's first map: $first"

swan app1 --terminate --ike db >/dev/null 2>&1
wait_for 20 no_id "$log" "$s1" && has_id "$log" "$s2" "app2.sagate.test|pubkey" &&
	ok "after swanctl --terminate of app1's IKE_SA its SPI has no identity; app2's still has" ||
	bad "after terminate: app1 \"$(id_of "$log" "$s1")\", app2 \"$(id_of "$log" "$s2")\""

# charon of db goes away: the map is emptied at once, then resyncs
cpid=$(for p in $(ip netns pids "$(ns db)"); do [ "$(cat /proc/$p/comm 2>/dev/null)" = charon ] && echo "$p"; done | head -n1)
n0=$(synced_count "$log")
[ -n "$cpid" ] && kill "$cpid"
wait_for 20 unsynced "$log" && grep -q '"event":"vici-lost"' "$log" &&
	ok "charon stopped: vici-lost, the map is empty and unsynced (lookups fail closed)" ||
	bad "charon stopped: last map $(last_map "$log")"
wait_for 20 gone "$cpid" || { bad "set-up step failed: db's charon did not stop"; scenario_abort; }
wait "$cpid" 2>/dev/null
# charon_start empties swanctl.conf: write it again
charon_start db && conf_db && swan_load db ||
	{ bad "set-up step failed: charon in db restarted"; scenario_abort; }
wait_for 30 resynced "$log" "$n0" &&
	ok "charon back: the follower reconnected and resynced" ||
	bad "charon back: no new vici-synced in $(tail -n3 "$log")"
# app1 (terminated before, so nothing stale on its side) negotiates anew
if ! swan_initiate app1 pg; then
	echo "# db's connections after the restart:"; swan db --list-conns 2>&1 | head -n 12
	echo "# db's load:"; cat "$IKE_DIR/db/load.out"
	echo "# app1's initiate:"; tail -n 25 "$IKE_DIR/app1/initiate.last"
	bad "set-up step failed: app1's CHILD_SA after db's restart ($(swan_why app1))"
	scenario_abort
fi
s3=$(spi_in app1)
wait_for 10 has_id "$log" "$s3" "$(dn app1)|pubkey" && no_id "$log" "$s2" &&
	ok "after the resync app1's new SA (SPI $s3) has its identity, app2's old SPI $s2 none" ||
	bad "after the resync: new $s3 \"$(id_of "$log" "$s3")\", old $s2 \"$(id_of "$log" "$s2")\""
follow_stop
scenario_end
