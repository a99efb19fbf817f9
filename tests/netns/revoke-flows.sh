#!/bin/bash
# Revocation on the host kernel: TCP connections held open across
# `sagate apply` / `rollback` / the confirm watcher's rollback, in
# kernel-only mode with cleartext permits (no ESP here).  Namespace "db"
# runs an echo server and the policies, "net" holds the peers.  A flow
# the new policy no longer admits (its permit removed, or its port now
# require-ipsec) must stop carrying data at the change and lose its
# conntrack entry; a flow still permitted, and one over loopback, keep
# going; with --keep-flows the revoked one stays.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
db=sgt-rdb-$$ net=sgt-rnet-$$
tmp=$(mktemp -d)
. "$top/tests/lib/netns.sh"
netns_require_root
clients=()
cleanup() {
	for p in "${clients[@]}"; do kill "$p" 2>/dev/null; done
	ip netns pids "$db" 2>/dev/null | xargs -r kill 2>/dev/null
	ip netns pids "$net" 2>/dev/null | xargs -r kill 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$top/tests/lib/topology.sh"
topo_up "$db" "$net" || { echo "FAIL: cannot build the namespaces"; exit 1; }
for t in python3 jq; do
	command -v $t >/dev/null || { echo "FAIL: $t is needed (tests/lib/deps.sh)"; exit 1; }
done
[ -r /proc/net/nf_conntrack ] || { echo "FAIL: /proc/net/nf_conntrack is needed to see conntrack entries"; exit 1; }
export SAGATE_STATE_DIR=$tmp/state

# p1: app server and admin may use 7001, the app server 7002 in cleartext
# p2: 7001 for the admin only; 7002 now require-ipsec; db may no longer
# reach the admin's port 7005
cat >"$tmp/p1.json" <<'J'
{ "version": 1, "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "svc", "action": "permit", "peers": ["10.77.0.21", "10.77.0.30", "fd77::21", "fd77::30"],
      "protocol": "tcp", "ports": [7001] },
    { "name": "svc2", "action": "permit", "peers": ["10.77.0.21"], "protocol": "tcp", "ports": [7002] } ] }
J
cat >"$tmp/p2.json" <<'J'
{ "version": 1, "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "svc", "action": "permit", "peers": ["10.77.0.30", "fd77::30"],
      "protocol": "tcp", "ports": [7001] },
    { "name": "svc2", "action": "require-ipsec", "peers": ["10.77.0.21"], "protocol": "tcp", "ports": [7002] },
    { "name": "no-7005", "action": "block", "direction": "out", "peers": ["10.77.0.30"],
      "protocol": "tcp", "ports": [7005] } ] }
J

# the echo server: in db on every address, ports 7001 and 7002; in net
# on port 7005
cat >"$tmp/server.py" <<'P'
import socket, sys, threading
def serve(c):
    while True:
        d = c.recv(64)
        if not d:
            return
        c.sendall(d)
def listen(port, ready):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(16)
    ready.set()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
evs = []
for p in map(int, sys.argv[2:]):
    e = threading.Event(); evs.append(e)
    threading.Thread(target=listen, args=(p, e), daemon=True).start()
for e in evs:
    e.wait()
open(sys.argv[1], "w").close()
threading.Event().wait()
P
# a client: connect from SRC, then one echo round per line on stdin,
# answering "ok", or "fail" when no echo came within 3 s
cat >"$tmp/client.py" <<'P'
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_STREAM)
s.bind((src, 0)); s.settimeout(3); s.connect((dst, port))
print("connected %d" % s.getsockname()[1], flush=True)
for line in sys.stdin:
    try:
        s.sendall(b"x")
        print("ok" if s.recv(64) == b"x" else "closed", flush=True)
    except OSError as e:
        print("fail %s" % type(e).__name__, flush=True)
P
ip netns exec "$db" python3 "$tmp/server.py" "$tmp/listening" 7001 7002 &
ip netns exec "$net" python3 "$tmp/server.py" "$tmp/listening-net" 7005 &
for i in $(seq 100); do [ -e "$tmp/listening" ] && [ -e "$tmp/listening-net" ] && break; sleep 0.1; done
[ -e "$tmp/listening" ] && [ -e "$tmp/listening-net" ] || { echo "FAIL: the echo servers did not start"; exit 1; }

# open NAME NS SRC DST PORT: a client kept open, driven through fd of NAME
declare -A fd port
open_conn() {
	local name=$1 ns=$2 src=$3 dst=$4 p=$5 i
	mkfifo "$tmp/$name.in"
	ip netns exec "$ns" python3 "$tmp/client.py" "$src" "$dst" "$p" <"$tmp/$name.in" >"$tmp/$name.out" 2>&1 &
	clients+=($!)
	exec {i}>"$tmp/$name.in"
	fd[$name]=$i
	for _ in $(seq 50); do [ -s "$tmp/$name.out" ] && break; sleep 0.1; done
	port[$name]=$(awk '/^connected/ { print $2 }' "$tmp/$name.out")
	[ -n "${port[$name]}" ] || { bad "$name: could not connect: $(cat "$tmp/$name.out")"; return 1; }
}
# round NAME: one echo round; prints its answer
round() {
	local name=$1 n
	n=$(wc -l <"$tmp/$name.out")
	echo >&"${fd[$name]}"
	for _ in $(seq 100); do [ "$(wc -l <"$tmp/$name.out")" -gt "$n" ] && break; sleep 0.1; done
	tail -n 1 "$tmp/$name.out"
}
# tracked NAME SRC PORT: db's conntrack table holds the flow of NAME
tracked() {
	ip netns exec "$db" cat /proc/net/nf_conntrack |
		grep -q "src=$2 dst=[^ ]* sport=${port[$1]} dport=$3 "
}
flows_case() {	# NAME SRC PORT WANT(ok|fail) DESC
	local r
	r=$(round "$1")
	if [ "$4" = ok ]; then
		[ "$r" = ok ] && tracked "$1" "$2" "$3" && ok "$5: still carries data, still tracked" ||
			bad "$5: '$r', tracked: $(tracked "$1" "$2" "$3" && echo yes || echo no)"
	else
		if [ "${r%% *}" = fail ] && ! tracked "$1" "$2" "$3"; then
			ok "$5: ended (no echo, conntrack entry gone)"
		else
			bad "$5: '$r', tracked: $(tracked "$1" "$2" "$3" && echo yes || echo no)"
		fi
	fi
}
sg() { ip netns exec "$db" "$sagate" "$@" 2>>"$tmp/stderr"; }
v6() { python3 -c "import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]).exploded)" "$1"; }

# 1. apply p1; open flows of every kind; apply p2
sg apply -k "$tmp/p1.json" >/dev/null || bad "apply p1"
open_conn app "$net" 10.77.0.21 10.77.0.10 7001
open_conn app6 "$net" fd77::21 fd77::10 7001
open_conn admin "$net" 10.77.0.30 10.77.0.10 7001
open_conn clear "$net" 10.77.0.21 10.77.0.10 7002
open_conn lo "$db" 127.0.0.1 127.0.0.1 7001
open_conn out "$db" 10.77.0.10 10.77.0.30 7005
for c in app app6 admin clear lo out; do
	[ "$(round $c)" = ok ] || bad "$c: no echo under p1"
done
out=$(sg apply -k "$tmp/p2.json")
echo "$out"
grep -qx "ended 4 established flows no longer admitted" <<<"$out" &&
	ok "apply p2 says it ended 4 flows" || bad "apply p2: no count of 4 ended flows"
flows_case app 10.77.0.21 7001 fail "IPv4 flow of the revoked app server"
flows_case app6 "$(v6 fd77::21)" 7001 fail "IPv6 flow of the revoked app server"
flows_case clear 10.77.0.21 7002 fail "cleartext flow on a port now require-ipsec"
flows_case out 10.77.0.10 7005 fail "db's own flow out to a port now blocked outbound"
flows_case admin 10.77.0.30 7001 ok "the admin's flow, still permitted"
grep -q "^fail ConnectionAbortedError" "$tmp/out.out" &&
	ok "db's own client of the flow out saw its socket aborted" ||
	bad "db's own client: $(tail -n 1 "$tmp/out.out")"
# the server's socket was aborted, and its reset let out: the client
# learnt of the end at once
grep -Eq "^(fail (ConnectionResetError|BrokenPipeError)|closed)" "$tmp/app.out" &&
	ok "the revoked app server's client saw its connection reset" ||
	bad "the revoked client saw no reset: $(tail -n 1 "$tmp/app.out")"
flows_case lo 127.0.0.1 7001 ok "a loopback flow (not the policy's)"

# 2. --keep-flows: today's behaviour, the revoked flow stays
sg apply -k "$tmp/p1.json" >/dev/null || bad "apply p1 again"
open_conn app2 "$net" 10.77.0.21 10.77.0.10 7001
out=$(sg apply -k --keep-flows "$tmp/p2.json")
grep -q "kept established flows as they are (--keep-flows)" <<<"$out" &&
	ok "apply --keep-flows says so" || bad "apply --keep-flows: $out"
flows_case app2 10.77.0.21 7001 ok "with --keep-flows the revoked app server's flow"

# 3. rollback ends what the generation it returns to does not admit
sg rollback >/dev/null || bad "rollback to p1"
open_conn app3 "$net" 10.77.0.21 10.77.0.10 7001
out=$(sg --json rollback)	# rolls forward to p2 again
[ "$(jq -r '.flows.ended' <<<"$out")" -ge 1 ] 2>/dev/null &&
	ok "rollback --json counts the ended flows ($(jq -c .flows <<<"$out"))" || bad "rollback --json: $out"
flows_case app3 10.77.0.21 7001 fail "rollback: the flow p2 does not admit"

# 4. the confirm watcher's automatic rollback ends them too
sg apply -k --confirm 2 "$tmp/p1.json" >/dev/null || bad "apply --confirm p1"
open_conn app4 "$net" 10.77.0.21 10.77.0.10 7001
[ "$(round app4)" = ok ] || bad "app4: no echo under p1"
for _ in $(seq 100); do
	[ -e "$SAGATE_STATE_DIR/rolled-back" ] && break
	sleep 0.1
done
[ -e "$SAGATE_STATE_DIR/rolled-back" ] || bad "the watcher did not roll back"
flows_case app4 10.77.0.21 7001 fail "the watcher's rollback: the flow of the unconfirmed policy"

# 5. rollback --to N --keep-flows leaves the flows N does not admit
to=$(sg --json apply -k "$tmp/p2.json" | jq -r .generation)
sg apply -k "$tmp/p1.json" >/dev/null || bad "apply p1 before rollback --to"
open_conn app5 "$net" 10.77.0.21 10.77.0.10 7001
[ "$(round app5)" = ok ] || bad "app5: no echo under p1"
out=$(sg rollback --to "$to" --keep-flows)
grep -q "kept established flows as they are (--keep-flows)" <<<"$out" &&
	ok "rollback --to $to --keep-flows says so" || bad "rollback --to $to --keep-flows: $out"
flows_case app5 10.77.0.21 7001 ok "rollback --to with --keep-flows: the flow generation $to does not admit"
[ -s "$tmp/stderr" ] && { echo "stderr of sagate:"; cat "$tmp/stderr"; }
summary
