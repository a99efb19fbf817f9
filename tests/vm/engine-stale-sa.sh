#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run): real ESP SAs, sagated on
# queue 0, policy tests/vm/stale.json (UDP 7100 and TCP 5432 from .21,
# encryption required, AES-GCM only).
#
# No verdict on a stale SA cache (sagated(8), THE SA CACHE):
#  - paused: sagated stopped (SIGSTOP), a new flow's first packet queued,
#    then db's SA deleted, or replaced by an ESP-null SA with the same SPI
#    and reqid; sagated continued: the packet is dropped.  ROUNDS times
#    each, with a positive control (SA unchanged: accepted) every tenth.
#  - unpaused, under load: new flows arrive at LOAD a second while db's
#    SA is deleted or replaced, ROUNDS times each; no accept of that SPI
#    is logged between the change (a marker appended to the log once the
#    change returned) and the restore.
#  - an established TCP flow admitted over AES-GCM: with the SAs of both
#    ends replaced by ESP-null of the same SPI and reqid, its packets stop
#    reaching the server (sagated gives its conntrack entry a mark no
#    binding pairs with: event flows-revoked).
# With BASELINE=/path/to/another/sagated, both are timed draining the same
# backlog of queued new flows (verdicts/s), to measure what the sync costs.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
rounds=${ROUNDS:-60}	# changes of each kind, paused and under load
load=${LOAD:-40}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
tmp=$(mktemp -d)
chmod 755 "$tmp"	# sagated runs as user sagated (the package makes it): its run dir is in here
export SAGATE_STATE_DIR=$tmp/state SAGATE_RUN_DIR=$tmp/run
log=$tmp/sagated.log
dpid= lpid= spid=
cleanup() {
	[ -n "$dpid" ] && kill -CONT "$dpid" 2>/dev/null && kill "$dpid" 2>/dev/null
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- helpers that cost no exec: the guest execs slowly ---
mkfifo $tmp/never
exec 9<>$tmp/never
pause() { read -t "$1" -u 9; }	# sleep without a process: nothing is ever written
waiting() {	# packets waiting in queue 0, as db's kernel counts them
	local n p t rest
	while read -r n p t rest; do
		[ "$n" = 0 ] && { echo "$t"; return; }
	done <"/proc/$dpid/net/netfilter/nfnetlink_queue"
	echo 0
}
wait_waiting() {	# N: until queue 0 holds N packets (5 s)
	local i
	for i in $(seq 1 500); do
		[ "$(waiting)" = "$1" ] && return 0
		pause 0.01
	done
	return 1
}
stop() {	# SIGSTOP sagated and wait until every thread of it has stopped
	local t s i
	kill -STOP "$dpid"
	for i in $(seq 1 500); do
		s=T
		for t in /proc/"$dpid"/task/*/stat; do
			read -r _ _ st _ <"$t" || continue
			[ "$st" = T ] || [ "$st" = t ] || s=$st
		done
		[ "$s" = T ] && return 0
		pause 0.01
	done
	return 1
}
lines() { local n=0; while read -r _; do n=$((n + 1)); done <"$1"; echo $n; }
send() { echo "$*" >&8; }	# to the sender in net

# SA changes on db, each one `ip -batch`: one exec
cat >$tmp/del <<EOF
xfrm state delete src $app dst $dbaddr proto esp spi 0x1000
EOF
cat >$tmp/null <<EOF
xfrm state delete src $app dst $dbaddr proto esp spi 0x1000
xfrm state add src $app dst $dbaddr proto esp spi 0x1000 reqid 7 mode transport enc ecb(cipher_null) "" auth-trunc hmac(sha256) $ka 128 sel src $app dst $dbaddr
EOF
cat >$tmp/gcm <<EOF
xfrm state add src $app dst $dbaddr proto esp spi 0x1000 reqid 7 mode transport aead $aead $k1 128 sel src $app dst $dbaddr
EOF
cat >$tmp/null-gcm <<EOF
xfrm state delete src $app dst $dbaddr proto esp spi 0x1000
xfrm state add src $app dst $dbaddr proto esp spi 0x1000 reqid 7 mode transport aead $aead $k1 128 sel src $app dst $dbaddr
EOF
change() { ip -n "$db" -batch "$tmp/$1"; }	# del | null
restore() { [ "$1" = del ] && change gcm || change null-gcm; }
accepts() { local n; n=$(grep -c '"verdict":"accept".*"spi":"0x00001000"' "$log"); echo "$n"; }

site_up || { bad "namespaces"; summary; exit 1; }
cd "$top" || exit 1
out=$(ip netns exec "$db" "$sagate" apply --queues 1 tests/vm/stale.json 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply stale.json in engine mode" || bad "apply: $out"
sa_up || bad "ESP (AES-GCM) SAs"
change null && restore null || bad "ip -batch of the SA changes"

# the listener in db counts datagrams; the sender in net opens a new flow
# (a new source port) per datagram, and a steady load on demand
ip netns exec "$db" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.10", 7100))
while True:
    s.recv(100)
    print("got", flush=True)
' >$tmp/got &
lpid=$!
mkfifo $tmp/cmd
ip netns exec "$net" python3 -c '
import socket, sys, threading, time
port = [20000]
rate = [0]
lock = threading.Lock()
def one():
    with lock:
        port[0] = port[0] + 1 if port[0] < 60000 else 20001
        p = port[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.21", p))
    s.sendto(b"x", ("10.77.0.10", 7100))
    s.close()
def loader():
    while True:
        if rate[0]:
            one()
            time.sleep(1.0 / rate[0])
        else:
            time.sleep(0.02)
threading.Thread(target=loader, daemon=True).start()
for line in sys.stdin:
    w = line.split()
    if w[0] == "one":
        one()
    elif w[0] == "burst":
        for _ in range(int(w[1])):
            one()
    elif w[0] == "rate":
        rate[0] = int(w[1])
' <$tmp/cmd &
spid=$!
exec 8>$tmp/cmd

daemon_start || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }
ok "sagated is ready"
send one
for i in $(seq 1 100); do [ "$(lines $tmp/got)" = 1 ] && break; pause 0.05; done
[ "$(lines $tmp/got)" = 1 ] && [ "$(accepts)" = 1 ] &&
	ok "a new UDP flow over AES-GCM is accepted (control)" ||
	bad "control flow: $(lines $tmp/got) datagrams, log: $(grep verdict "$log" | tail -2)"

echo "at $SECONDS s: paused rounds"
# --- paused: the change lands while the packet waits in the queue ---
for what in del null; do
	got0=$(lines $tmp/got) acc0=$(accepts) ctl=0 lost=0 viol=0
	for i in $(seq 1 "$rounds"); do
		stop || bad "SIGSTOP: sagated did not stop"
		send one
		if ! wait_waiting 1; then
			lost=$((lost + 1))
			kill -CONT "$dpid"
			continue
		fi
		if [ $((i % 10)) = 0 ]; then	# positive control: unchanged
			kill -CONT "$dpid"
			wait_waiting 0
			ctl=$((ctl + 1))
			continue
		fi
		a=$(accepts)
		change $what
		echo "PAUSED-CHANGE $what $i" >>"$log"
		kill -CONT "$dpid"
		wait_waiting 0 || bad "paused $what $i: the packet got no verdict"
		[ "$(accepts)" = "$a" ] || viol=$((viol + 1))
		restore $what
	done
	for i in $(seq 1 100); do [ "$(lines $tmp/got)" -ge $((got0 + ctl)) ] && break; pause 0.05; done
	pause 0.3
	n=$((rounds - rounds / 10))
	[ $lost = 0 ] || bad "paused $what: $lost of $rounds first packets never reached the queue"
	[ "$viol" = 0 ] && ok "paused, SA $what while the first packet waits: $n changes, 0 accepts" ||
		bad "paused, SA $what while the first packet waits: $viol accepts after $n changes"
	[ "$(($(lines $tmp/got) - got0))" = $ctl ] && [ "$(($(accepts) - acc0))" = $ctl ] &&
		ok "paused $what: exactly the $ctl controls reached the listener" ||
		bad "paused $what: $(($(lines $tmp/got) - got0)) datagrams and $(($(accepts) - acc0)) accepts for $ctl controls"
done

echo "at $SECONDS s: rounds under load"
# --- unpaused, under load ---
send rate "$load"
pause 1
for what in del null; do
	for i in $(seq 1 "$rounds"); do
		change $what
		echo "CHANGE $what $i" >>"$log"
		pause 0.3
		echo "RESTORE $what $i" >>"$log"
		restore $what
		pause 0.15
	done
	viol=$(awk -v w="$what" '$1 == "CHANGE" && $2 == w { inw = 1; next }
		$1 == "RESTORE" { inw = 0; next }
		inw && /"verdict":"accept"/ && /"spi":"0x00001000"/ { n++ }
		END { print n + 0 }' "$log")
	[ "$viol" = 0 ] && ok "under load ($load new flows/s), SA $what: $rounds changes, 0 accepts after a change" ||
		bad "under load ($load new flows/s), SA $what: $viol accepts logged after $rounds changes"
done
send rate 0
n=$(grep -c '"verdict":"accept"' "$log")
[ "$n" -ge $((rounds / 2)) ] && ok "under load: $n flows accepted between the changes (the load was served)" ||
	bad "under load: only $n accepts in all"
grep -q '"event":"suppressed"' "$log" && bad "decision lines were suppressed: the counts above are incomplete" ||
	ok "no decision line suppressed"

echo "at $SECONDS s: established flow"
# --- an established flow does not go on over ESP-null of its reqid ---
ip -n "$net" route replace $dbaddr dev veth-net src $app
ip netns exec "$db" busybox nc -l -p 5432 >$tmp/recv &
for i in $(seq 1 50); do ip netns exec "$db" ss -ltn | grep -q ':5432 ' && break; pause 0.1; done
ip netns exec "$net" bash -c "exec 3<>/dev/tcp/$dbaddr/5432 || exit 1
	for i in \$(seq 1 300); do echo line \$i >&3; sleep 0.2; done" &
for i in $(seq 1 100); do [ "$(lines $tmp/recv)" -ge 3 ] && break; pause 0.1; done
[ "$(lines $tmp/recv)" -ge 3 ] && ok "a TCP flow over AES-GCM carries data" ||
	bad "no data over AES-GCM ($(lines $tmp/recv) lines)"
# both ends: the client now sends through ESP-null, same SPI and reqid
cat >$tmp/null-out <<EOF
xfrm state delete src $app dst $dbaddr proto esp spi 0x1000
xfrm state add src $app dst $dbaddr proto esp spi 0x1000 reqid 7 mode transport enc ecb(cipher_null) "" auth-trunc hmac(sha256) $ka 128 sel src $app dst $dbaddr
EOF
ip -n "$net" -batch $tmp/null-out && change null || bad "ESP-null in place of AES-GCM"
pause 1.5
n1=$(lines $tmp/recv)
pause 3
n2=$(lines $tmp/recv)
[ "$n1" = "$n2" ] && ok "over ESP-null of the same SPI and reqid, the established flow carries nothing ($n1 lines, none in 3 s)" ||
	bad "the established flow went on over ESP-null: $n1 -> $n2 lines in 3 s"
log_has '"event":"flows-revoked"' '"reqid":7' '"reason":"drop-not-encrypted"' &&
	ok "log: flows-revoked for reqid 7, drop-not-encrypted" ||
	bad "no flows-revoked line: $(grep -v verdict "$log" | tail -3)"
kill %?5432 2>/dev/null
ip -n "$net" -batch $tmp/null-gcm && restore null

# --- what the sync costs: verdicts/s draining the same backlog ---
bench() {	# BINARY: verdicts/s of 3 drains of 600 queued new flows
	local bin=$1 r
	sagated=$bin daemon_start --queue-maxlen 2000 || { echo 0; return; }
	for r in 1 2 3; do
		stop
		send burst 600
		wait_waiting 600 || { echo "backlog $(waiting)" >&2; }
		python3 - "$dpid" <<'PY'
import os, signal, sys, time
pid = int(sys.argv[1])
path = "/proc/%d/net/netfilter/nfnetlink_queue" % pid
def waiting():
    for l in open(path):
        f = l.split()
        if f[0] == "0":
            return int(f[2])
    return 0
n = waiting()
t0 = time.monotonic()
os.kill(pid, signal.SIGCONT)
while waiting():
    time.sleep(0.0005)
print("%d %.4f" % (n, time.monotonic() - t0))
PY
	done >$tmp/bench
	daemon_stop TERM
	awk '{ n += $1; t += $2 } END { printf "%d", t ? n / t : 0 }' $tmp/bench
}
echo "at $SECONDS s: done"
if [ -n "${BASELINE:-}" ]; then
	daemon_stop TERM
	for b in "$BASELINE" "$sagated" "$BASELINE" "$sagated"; do
		echo "bench: $b: $(bench "$b") verdicts/s (3 drains of 600)"
	done
fi
summary
