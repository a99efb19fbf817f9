#!/bin/bash
# Log lines that arrive, on the host kernel: a client namespace
# (10.88.0.21, 10.88.0.66, fd88::21) and a host namespace (10.88.0.10,
# fd88::10) where sagate applies tests/netns/logging.json (kernel-only
# mode): a logged block rule (5432), a logged permit rule (80), an
# unlogged one (22), the inbound default logged, nflog group 33, at most
# 5 lines a second per rule with a burst of 5.  `sagate log` runs in the
# host namespace (where the kernel log shows nothing: nf_log_all_netns is
# 0); each probe must come out as a JSON line naming its rule and the
# packet; a burst of 60 new UDP flows to the default makes at most a
# handful of lines and the rest are counted as lost to the rate; status
# (and apply) warn while nothing reads the group; --journal sends the journal's
# native datagrams with SAGATE_* fields.  Only addresses inside these
# namespaces are used.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/netns-pair.sh"
netns_require_root
cli=sglog-cli-$$ host=sglog-host-$$
netns_throwaway "$cli" "$host"
st=$tmp/state
cd "$top" || exit 99
reader=
stop_reader() {
	[ -n "$reader" ] && kill "$reader" 2>/dev/null && wait "$reader" 2>/dev/null
	reader=
}
trap 'stop_reader; for n in $netns_names; do ip netns del "$n" 2>/dev/null; done; rm -rf "$tmp"' EXIT

netns_pair "$cli" "$host"
hs() { ip netns exec "$host" "$sagate" "$@"; }

# read_group: wait (5 s at most) until group 33 has a reader in the host namespace
read_group() {
	for _ in $(seq 50); do
		ip netns exec "$host" awk '$1 == 33 { f = 1 } END { exit !f }' \
			/proc/net/netfilter/nfnetlink_log 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# line_with JQ: wait (5 s at most) for a line of $tmp/lines matching JQ, print it
line_with() {
	local l
	for _ in $(seq 50); do
		l=$(jq -c "select($1)" "$tmp/lines" 2>/dev/null | head -1)
		[ -n "$l" ] && { echo "$l"; return 0; }
		sleep 0.1
	done
	return 1
}

if ip netns exec "$host" "$sagate" apply --no-engine --state-dir "$st" tests/netns/logging.json \
	>/dev/null 2>"$tmp/err"; then ok "apply logging.json"
else bad "apply logging.json: $(cat "$tmp/err")"; fi
if grep -q "^logging: warning: the policy logs to nflog group 33, but nothing in this network namespace reads it" "$tmp/err"
then ok "apply warns that nothing reads group 33"
else bad "apply did not warn of the unread group: $(cat "$tmp/err")"; fi

# nobody reads the group yet: status says the lines are lost
out=$(hs status --json --state-dir "$st" 2>"$tmp/err")
# (jq -e takes empty input for true: each check wants output first)
if [ -n "$out" ] && jq -e '.logging.group == 33 and .logging.reader == false' <<<"$out" >/dev/null &&
   grep -q "nothing in this network namespace reads it" "$tmp/err"; then
	ok "status without a reader: group 33, not read, a warning"
else
	bad "status without a reader: $(jq -c .logging <<<"$out" 2>&1) / $(cat "$tmp/err")"
fi

ip netns exec "$host" "$sagate" log --state-dir "$st" >"$tmp/lines" 2>"$tmp/log.err" &
reader=$!
if read_group; then ok "sagate log reads group 33 (from the applied policy)"
else bad "sagate log did not bind group 33: $(cat "$tmp/log.err")"; fi
out=$(hs status --json --state-dir "$st" 2>/dev/null)
if [ -n "$out" ] && jq -e '.logging.reader == true' <<<"$out" >/dev/null; then ok "status: group 33 is read"
else bad "status with a reader: $(jq -c .logging <<<"$out" 2>&1)"; fi
out=$(ip netns exec "$host" "$sagate" log --group 33 --count 1 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "another process reads it" <<<"$out"; then
	ok "a second reader of the group is refused, saying why"
else
	bad "second reader: exit $rc: $out"
fi

ip -n "$cli" route replace 10.88.0.10 dev c0 src 10.88.0.21
ip -n "$cli" -6 route replace fd88::10 dev c0 src fd88::21
expect "pg 5432 from 10.88.0.21 (pg-others blocks)" dropped "$(tcp_probe "$cli" 10.88.0.10 5432)"
expect "web 80 from fd88::21 (web permits)" open "$(tcp_probe "$cli" fd88::10 80)"
expect "ssh 22 (not logged)" open "$(tcp_probe "$cli" 10.88.0.10 22)"
ip -n "$cli" route replace 10.88.0.10 dev c0 src 10.88.0.66
expect "8080 from 10.88.0.66 (the default blocks)" dropped "$(tcp_probe "$cli" 10.88.0.10 8080)"
ip -n "$cli" route replace 10.88.0.10 dev c0 src 10.88.0.21

if l=$(line_with '.rule == "pg-others"'); then
	if jq -e '.default == false and .action == "block" and .direction == "in" and
		  .family == "ipv4" and .protocol == "tcp" and .src == "10.88.0.21" and
		  .dst == "10.88.0.10" and .dport == 5432 and (.sport | type) == "number" and
		  .in == "h0" and .group == 33 and (.time | test("Z$"))' <<<"$l" >/dev/null
	then ok "pg-others line: block, in, ipv4 tcp 10.88.0.21 -> 10.88.0.10:5432 on h0"
	else bad "pg-others line: $l"; fi
else
	bad "no line for pg-others: $(head -c 600 "$tmp/lines") $(cat "$tmp/log.err")"
fi
if l=$(line_with '.rule == "web"'); then
	if jq -e '.action == "permit" and .family == "ipv6" and .src == "fd88::21" and
		  .dst == "fd88::10" and .dport == 80' <<<"$l" >/dev/null
	then ok "web line: permit, ipv6 fd88::21 -> fd88::10:80"
	else bad "web line: $l"; fi
else
	bad "no line for web"
fi
if l=$(line_with '.default == true and .dport == 8080'); then
	if jq -e '.rule == "default" and .action == "block" and .direction == "in" and
		  .src == "10.88.0.66" and .protocol == "tcp"' <<<"$l" >/dev/null
	then ok "default line: the inbound default blocked 10.88.0.66 -> 8080"
	else bad "default line: $l"; fi
else
	bad "no line for the logged default"
fi
if jq -e 'select(.dport == 22)' "$tmp/lines" | grep -q .; then
	bad "ssh (no log) made a line"
else
	ok "ssh, not logged, made no line"
fi

# a burst: 60 new UDP flows to the default in well under a second
ip netns exec "$cli" bash -c 'for i in $(seq 60); do echo x >/dev/udp/10.88.0.10/9999; done' 2>/dev/null
line_with '.dport == 9999' >/dev/null
sleep 0.5	# the lines of the burst have had time to arrive
n=$(jq -c 'select(.dport == 9999)' "$tmp/lines" | wc -l)
if [ "$n" -ge 5 ] && [ "$n" -le 15 ]; then
	ok "a burst of 60 flows made $n lines (burst 5, 5/second)"
else
	bad "a burst of 60 flows made $n lines, expected 5-15"
fi
lost=$(hs status --json --state-dir "$st" 2>/dev/null | jq '.logging.lost_to_rate')
if [ "${lost:-0}" -ge 40 ] && [ $((lost + n)) -ge 60 ]; then
	ok "status counts $lost lines lost to the rate"
else
	bad "lines lost to the rate: ${lost:-none} (with $n lines written)"
fi
if hs status --state-dir "$st" 2>/dev/null | grep -q "^logging:   nflog group 33, read here; $lost lines lost"; then
	ok "status prints the logging line"
else
	bad "status text: $(hs status --state-dir "$st" 2>&1 | grep logging)"
fi
out=$(hs explain --state-dir "$st" --from 10.88.0.66 --proto tcp --port 8080 2>&1)
if grep -q "logged: to nflog group 33, at most 5/second (burst 5)" <<<"$out" &&
   grep -q "chain input: comment \"default in\" -> goto log_default_in" <<<"$out"; then
	ok "explain: the default is logged, through log_default_in"
else
	bad "explain of the logged default: $out"
fi
stop_reader

# --journal: the native protocol's datagrams, with structured fields
python3 - "$tmp/journal.sock" "$tmp/journal" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
try:
    d, _ = s.recv(65536), None
    open(sys.argv[2], "wb").write(d)
except socket.timeout:
    pass
PY
jr=$!
for _ in $(seq 50); do [ -S "$tmp/journal.sock" ] && break; sleep 0.1; done
SAGATE_JOURNAL_SOCKET=$tmp/journal.sock ip netns exec "$host" "$sagate" log --journal \
	--count 1 --state-dir "$st" 2>"$tmp/log.err" &
reader=$!
read_group || bad "sagate log --journal did not bind group 33: $(cat "$tmp/log.err")"
tcp_probe "$cli" 10.88.0.10 5432 >/dev/null
wait "$jr"
wait "$reader"; rc=$?; reader=
if [ $rc -eq 0 ] && grep -qx "SAGATE_RULE=pg-others" "$tmp/journal" 2>/dev/null &&
   grep -qx "SAGATE_DPORT=5432" "$tmp/journal" && grep -qx "PRIORITY=5" "$tmp/journal" &&
   grep -qx "SYSLOG_IDENTIFIER=sagate" "$tmp/journal" &&
   grep -q "^MESSAGE=rule pg-others block in: tcp 10.88.0.21:[0-9]* -> 10.88.0.10:5432 in h0$" "$tmp/journal"
then
	ok "--journal: one datagram with MESSAGE, PRIORITY and SAGATE_ fields; --count 1 exits 0"
else
	bad "--journal (exit $rc): $(cat "$tmp/journal" 2>&1) $(cat "$tmp/log.err")"
fi
summary
