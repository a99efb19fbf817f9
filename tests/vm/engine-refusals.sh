#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run): sagated refusing flows
# that arrive over real SAs which do not satisfy the rule, each with its
# logged reason, and the queue seeing exactly one packet per new flow.
# Policy: tests/vm/refusals.json.  Each refusal has a positive control
# (the same flow over a satisfying SA is accepted) so that a drop for
# some other cause cannot pass for the refusal.
#  - wrong peer: a valid AES-GCM SA of admin .30 carrying app .21's flow
#    -> drop-sa-peer
#  - AH only (HMAC-SHA-256, an algorithm the rule lists) -> drop-not-encrypted
#  - soft-expired SA (limit time-soft 1) -> drop-sa-expired
#  - hard-expired SA (limit time-hard 2): the kernel deletes it, the flow
#    never reaches the queue (XfrmInNoStates counts it), sagated's cache
#    drops it too
#  - deleted SA (ip xfrm state delete): likewise
#  - tunnel gateway .40 vouching for 10.78.0.200, outside the 10.78.0.0/25
#    it may carry -> drop-tunnel-gateway (10.78.0.5 is accepted)
#  - K flows of several packets: the queue's id counter and sagated's
#    packet counter grow by exactly K
#  - --queue 0-3 with a round-robin rule: every queue gets flows, every packet
#    one verdict; READY=1, RELOADING=1 + READY=1, STOPPING=1 reach a
#    NOTIFY_SOCKET
#  - --queue-maxlen 2 on a stopped sagated: of 10 new flows 8 overflow,
#    dropped by default, accepted unchecked with --fail-open
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
export SAGATE_RUN_DIR=/tmp/sagate-vm-run-$$
log=/tmp/sagated-vm-$$.log
dpid= spid=
gw=10.77.0.40
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR" "$SAGATE_RUN_DIR" "$log"
}
trap cleanup EXIT

counter() {	# NAME: sagated's counter from its counters file
	jq -r ".$1" "$SAGATE_RUN_DIR/sagated.json" 2>/dev/null
}
wait_counter() {	# NAME VALUE: until the counters file says so (5 s)
	local i
	for i in $(seq 1 50); do
		[ "$(counter "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
no_states() {	# XfrmInNoStates of db: ESP the kernel found no SA for
	ip netns exec "$db" awk '$1 == "XfrmInNoStates" { print $2 }' /proc/net/xfrm_stat
}
queue_ids() {	# the id counter of queue 0 in db (packets ever queued)
	ip netns exec "$db" awk '$1 == 0 { print $8 }' /proc/net/netfilter/nfnetlink_queue
}
probe() {	# SRC PORT: open / dropped
	tcp_probe "$net" "$1" $dbaddr "$2"
}
# the refusal of a flow from SRC to PORT over SPI, logged with REASON
refused() {	# WHAT SRC PORT SPI REASON
	local r
	r=$(probe "$2" "$3")
	[ "$r" = dropped ] && ok "$1: dropped" || bad "$1: $r"
	log_has '"verdict":"drop"' "\"reason\":\"$5\"" "\"src\":\"$2\"" "\"spi\":\"$4\"" &&
		ok "$1: logged as $5" || bad "$1: no $5 line: $(grep verdict "$log" | tail -3)"
}
accepted() {	# WHAT SRC PORT SPI
	local r
	r=$(probe "$2" "$3")
	[ "$r" = open ] && ok "$1: accepted" || bad "$1: $r"
	log_has '"verdict":"accept"' "\"src\":\"$2\"" "\"spi\":\"$4\"" &&
		ok "$1: logged as accept" || bad "$1: no accept line: $(grep verdict "$log" | tail -3)"
}
sa_pair() {	# NS SRC DST SPI ALG-ARGS...: one SA in namespace NS
	local ns=$1 s=$2 d=$3 spi=$4
	shift 4
	ip -n "$ns" xfrm state add src "$s" dst "$d" proto esp spi "$spi" reqid 7 \
		mode transport aead "$aead" $k1 128 "$@"
}

site_up || { bad "namespaces"; summary; exit 1; }
modprobe ah4 || bad "modprobe ah4"
cd "$top" || exit 1
out=$(ip netns exec "$db" "$sagate" apply --queues 1 tests/vm/refusals.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply refusals.json in engine mode" || bad "apply: $out"
daemon_start || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }
ok "sagated is ready"

# --- accepted flows, and one queued packet per flow ---
sa_up || bad "ESP (AES-GCM) SAs"
accepted "app .21 over its own AES-GCM SA (control)" $app 5432 0x00001000
ip netns exec "$db" python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.10", 5432))
s.listen(64)
while True:
    c, _ = s.accept()
    while c.recv(65536):
        pass
    c.close()
' &
spid=$!
for i in $(seq 1 50); do
	ip netns exec "$db" ss -ltn | grep -q ':5432 ' && break
	sleep 0.1
done
K=20
ids0=$(queue_ids)
pk0=$(counter packets)
data=$(head -c 6000 /dev/zero | tr '\0' x)
nok=0
for i in $(seq 1 $K); do
	ip netns exec "$net" timeout 5 bash -c \
		"exec 3<>/dev/tcp/$dbaddr/5432 && printf %s '$data' >&3 && exec 3>&-" && nok=$((nok + 1))
done
[ $nok = $K ] && ok "$K flows of 6000 bytes each (several packets) over ESP" ||
	bad "only $nok of $K flows went through"
ids1=$(queue_ids)
[ -n "$ids0" ] && [ $((ids1 - ids0)) = $K ] &&
	ok "queue id counter: +$K for $K flows (one queued packet per flow)" ||
	bad "queue id counter: $ids0 -> $ids1 for $K flows"
wait_counter packets $((pk0 + K)) && ok "sagated counters: packets +$K" ||
	bad "sagated counters: packets $pk0 -> $(counter packets), want +$K"
[ "$(counter verdict_messages)" -le "$(counter packets)" ] &&
	ok "verdict messages ($(counter verdict_messages)) <= packets ($(counter packets))" ||
	bad "more verdict messages than packets: $(cat "$SAGATE_RUN_DIR/sagated.json")"
kill $spid 2>/dev/null
spid=

# --- deleted SA ---
ns0=$(no_states)
ip -n "$db" xfrm state delete src $app dst $dbaddr proto esp spi 0x1000 || bad "state delete"
wait_counter sas 1 && ok "deleted SA: sagated's cache dropped it (sas 1)" ||
	bad "deleted SA: sas $(counter sas)"
acc0=$(grep -c '"verdict":"accept"' "$log")
r=$(probe $app 5432)
[ "$r" = dropped ] && ok "deleted SA: new flow dropped" || bad "deleted SA: $r"
[ "$(grep -c '"verdict":"accept"' "$log")" = "$acc0" ] && ok "deleted SA: no accept logged" ||
	bad "deleted SA: accepted: $(grep verdict "$log" | tail -2)"
[ -n "$ns0" ] && [ "$(no_states)" -gt "$ns0" ] &&
	ok "deleted SA: the kernel refused its ESP (XfrmInNoStates $ns0 -> $(no_states))" ||
	bad "deleted SA: XfrmInNoStates '$ns0' -> '$(no_states)'"
sa_down

# --- wrong peer: admin .30's valid SA carries app .21's flow ---
sa_pair "$db" 10.77.0.30 $dbaddr 0x5000 || bad "SA of .30 in db"
sa_pair "$net" $app $dbaddr 0x5000 sel src $app dst $dbaddr || bad "SA in net"
# the way back, so that a wrongly accepted flow would show as open
for ns in "$db" "$net"; do
	sa_pair "$ns" $dbaddr $app 0x5001 sel src $dbaddr dst $app || bad "SA back in $ns"
done
sa_policies || bad "policies"
refused "flow of .21 over the SA of peer .30" $app 5432 0x00005000 drop-sa-peer
sa_down

# --- AH only ---
for ns in "$db" "$net"; do
	ip -n "$ns" xfrm state add src $app dst $dbaddr proto ah spi 0x6000 reqid 7 \
		mode transport auth-trunc 'hmac(sha256)' $ka 128 sel src $app dst $dbaddr &&
	ip -n "$ns" xfrm state add src $dbaddr dst $app proto ah spi 0x6001 reqid 7 \
		mode transport auth-trunc 'hmac(sha256)' $ka 128 sel src $dbaddr dst $app ||
		bad "AH SAs in $ns"
done
ip -n "$net" xfrm policy add src $app dst $dbaddr dir out \
	tmpl src $app dst $dbaddr proto ah reqid 7 mode transport
ip -n "$db" xfrm policy add src $app dst $dbaddr dir in \
	tmpl src $app dst $dbaddr proto ah reqid 7 mode transport
refused "flow over an AH-only SA (HMAC-SHA-256)" $app 5432 0x00006000 drop-not-encrypted
sa_down

# --- soft-expired (dying) SA ---
sa_pair "$db" $app $dbaddr 0x1100 sel src $app dst $dbaddr limit time-soft 1 limit time-hard 3600 ||
	bad "dying SA in db"
sa_pair "$net" $app $dbaddr 0x1100 sel src $app dst $dbaddr || bad "SA in net"
sa_policies || bad "policies"
sleep 2	# the SA's own soft lifetime: what is being tested
refused "flow over a soft-expired SA (rekey due)" $app 5432 0x00001100 drop-sa-expired
sa_down

# --- hard-expired SA ---
sa_pair "$db" $app $dbaddr 0x1200 sel src $app dst $dbaddr limit time-hard 2 || bad "SA in db"
sa_pair "$net" $app $dbaddr 0x1200 sel src $app dst $dbaddr || bad "SA in net"
sa_policies || bad "policies"
wait_counter sas 1 || bad "hard-expiring SA not in sagated's cache"
sleep 3	# the SA's own hard lifetime
ns0=$(no_states)
acc0=$(grep -c '"verdict":"accept"' "$log")
r=$(probe $app 5432)
[ "$r" = dropped ] && ok "hard-expired SA: new flow dropped" || bad "hard-expired SA: $r"
[ "$(grep -c '"verdict":"accept"' "$log")" = "$acc0" ] && ok "hard-expired SA: no accept logged" ||
	bad "hard-expired SA: accepted"
[ -n "$ns0" ] && [ "$(no_states)" -gt "$ns0" ] &&
	ok "hard-expired SA: the kernel refused its ESP (XfrmInNoStates $ns0 -> $(no_states))" ||
	bad "hard-expired SA: XfrmInNoStates '$ns0' -> '$(no_states)'"
sa_down

# --- tunnel mode: gateway .40 may vouch for 10.78.0.0/25 only ---
mac_net=$(ip -n "$net" link show veth-net | awk '/link\/ether/ { print $2 }')
ip -n "$net" addr add $gw/24 dev veth-net
ip -n "$net" addr add 10.78.0.5/32 dev lo
ip -n "$net" addr add 10.78.0.200/32 dev lo
ip -n "$db" neigh replace $gw dev veth-db lladdr "$mac_net" nud permanent
ip -n "$db" route add 10.78.0.0/24 via $gw
for ns in "$db" "$net"; do
	ip -n "$ns" xfrm state add src $gw dst $dbaddr proto esp spi 0x7000 reqid 8 \
		mode tunnel aead "$aead" $k1 128 &&
	ip -n "$ns" xfrm state add src $dbaddr dst $gw proto esp spi 0x7001 reqid 8 \
		mode tunnel aead "$aead" $k2 128 || bad "tunnel SAs in $ns"
done
ip -n "$net" xfrm policy add src 10.78.0.0/24 dst $dbaddr dir out \
	tmpl src $gw dst $dbaddr proto esp reqid 8 mode tunnel
ip -n "$net" xfrm policy add src $dbaddr dst 10.78.0.0/24 dir in \
	tmpl src $dbaddr dst $gw proto esp reqid 8 mode tunnel
ip -n "$db" xfrm policy add src 10.78.0.0/24 dst $dbaddr dir in \
	tmpl src $gw dst $dbaddr proto esp reqid 8 mode tunnel
ip -n "$db" xfrm policy add src $dbaddr dst 10.78.0.0/24 dir out \
	tmpl src $dbaddr dst $gw proto esp reqid 8 mode tunnel
accepted "tunnel: gateway .40 for 10.78.0.5, inside its /25 (control)" 10.78.0.5 5433 0x00007000
refused "tunnel: gateway .40 for 10.78.0.200, outside its /25" 10.78.0.200 5433 0x00007000 \
	drop-tunnel-gateway
sa_down

kill -TERM "$dpid"
wait "$dpid" && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $?"
dpid=
[ "$(counter state)" = stopped ] && ok "counters file: state stopped at exit" ||
	bad "counters file at exit: $(cat "$SAGATE_RUN_DIR/sagated.json")"
for r in drop-sa-peer drop-not-encrypted drop-sa-expired drop-tunnel-gateway; do
	[ "$(jq -r ".drops[\"$r\"]" "$SAGATE_RUN_DIR/sagated.json")" -ge 1 ] &&
		ok "counters file: $r counted" || bad "counters file: $r not counted"
done

# --- four queues, one thread each; readiness to a NOTIFY_SOCKET ---
# A table of our own deals new UDP flows to 7000 round-robin over queues
# 0-3 (fanout would pick by CPU, the plain range by a hash of the
# addresses: one queue either way for one sender); sagated decides them
# (no rule: dropped).  Every queue must have seen 10, and every packet
# must have had its one verdict.
notify=/tmp/sagate-notify-$$
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
' $notify >$notify.log &
spid=$!
for i in $(seq 1 50); do [ -S $notify ] && break; sleep 0.1; done
chmod 666 $notify	# as systemd's own: sagated sends as user sagated, not root
ip netns exec "$db" nft -f - <<'NFT'
table inet fan {
	chain in { type filter hook input priority -10; udp dport 7000 ct state new queue to numgen inc mod 4; }
}
NFT
NOTIFY_SOCKET=$notify daemon_start --queue 0-3 || bad "sagated --queue 0-3 not ready: $(cat "$log")"
log_has '"event":"ready"' '"queues":4' && ok "--queue 0-3: ready with 4 queues" ||
	bad "--queue 0-3: $(grep ready "$log")"
grep -qx 'READY=1' $notify.log && ok "NOTIFY_SOCKET: READY=1 after start" ||
	bad "NOTIFY_SOCKET: $(cat $notify.log)"
[ "$(ip netns exec "$db" awk '$1 <= 3' /proc/net/netfilter/nfnetlink_queue | wc -l)" = 4 ] &&
	ok "4 queues bound" || bad "queues: $(ip netns exec "$db" cat /proc/net/netfilter/nfnetlink_queue)"
pk0=$(counter packets)
ip netns exec "$net" bash -c "for i in \$(seq 1 40); do echo x >/dev/udp/$dbaddr/7000; done"
wait_counter packets $((pk0 + 40)) && ok "40 UDP flows over 4 queues: 40 verdicts" ||
	bad "40 UDP flows: packets $pk0 -> $(counter packets)"
q=$(ip netns exec "$db" awk '$1 <= 3 && $8 == 10 { n++ } $1 <= 3 { t += $3; ids += $8 } END { print n + 0, t + 0, ids + 0 }' \
	/proc/net/netfilter/nfnetlink_queue)
[ "$q" = "4 0 40" ] && ok "each queue got 10 flows, none is left waiting, 40 ids in all" ||
	bad "queues (busy, waiting, ids): $q"
kill -HUP "$dpid"
for i in $(seq 1 30); do tail -n +2 $notify.log | grep -q '^READY=1' && break; sleep 0.1; done
grep -q '^RELOADING=1 MONOTONIC_USEC=' $notify.log && [ "$(grep -c '^READY=1' $notify.log)" = 2 ] &&
	ok "NOTIFY_SOCKET: RELOADING=1, then READY=1 on SIGHUP" || bad "NOTIFY_SOCKET on SIGHUP: $(cat $notify.log)"
kill -TERM "$dpid"
wait "$dpid" && ok "--queue 0-3: SIGTERM exits 0" || bad "--queue 0-3: SIGTERM: exit $?"
dpid=
grep -qx 'STOPPING=1' $notify.log && ok "NOTIFY_SOCKET: STOPPING=1 at SIGTERM" ||
	bad "NOTIFY_SOCKET at SIGTERM: $(cat $notify.log)"
[ "$(ip netns exec "$db" awk '$1 <= 3' /proc/net/netfilter/nfnetlink_queue | wc -l)" = 0 ] &&
	ok "all 4 queues unbound at exit" || bad "queues left bound"
kill $spid 2>/dev/null
spid=
rm -f $notify $notify.log

# --- what overflows a stopped queue of --queue-maxlen 2: dropped, or
# with --fail-open accepted unchecked ---
# Without sagate's table (its default would drop what the queue lets
# through), our table queues new UDP flows to 7001 on queue 0; a listener
# counts what reaches the socket.
ip netns exec "$db" nft delete table inet sagate
ip netns exec "$db" nft add rule inet fan in udp dport 7001 ct state new queue num 0
ip netns exec "$db" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.10", 7001))
while True:
    s.recv(100)
    print("got", flush=True)
' >$notify.udp &
spid=$!
for mode in closed open; do
	: >$notify.udp
	if [ $mode = open ]; then
		daemon_start --queue-maxlen 2 --fail-open || bad "sagated --fail-open: $(cat "$log")"
		log_has '"event":"warning"' 'FAIL-OPEN' && ok "--fail-open: warned at start" ||
			bad "--fail-open: no warning: $(head -3 "$log")"
	else
		daemon_start --queue-maxlen 2 || bad "sagated --queue-maxlen 2: $(cat "$log")"
	fi
	kill -STOP "$dpid"
	ip netns exec "$net" bash -c "for i in \$(seq 1 10); do echo x >/dev/udp/$dbaddr/7001; done"
	want=0
	[ $mode = open ] && want=8
	for i in $(seq 1 30); do [ "$(wc -l <$notify.udp)" -ge $want ] && break; sleep 0.1; done
	sleep 0.5	# nothing more may arrive: give it the chance
	got=$(wc -l <$notify.udp)
	[ "$got" = $want ] && ok "fail-$mode: 10 new flows on a stopped queue of 2: $got reach the socket" ||
		bad "fail-$mode: $got of 10 reached the socket, want $want"
	kill -CONT "$dpid"
	wait_counter packets 2 && ok "fail-$mode: the 2 queued got their verdicts" ||
		bad "fail-$mode: packets $(counter packets)"
	kill -TERM "$dpid"
	wait "$dpid" || bad "fail-$mode: SIGTERM: exit $?"
	dpid=
done
kill $spid 2>/dev/null
spid=
rm -f $notify.udp
summary
