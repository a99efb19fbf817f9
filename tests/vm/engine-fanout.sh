#!/bin/bash
# Runs inside the QEMU guest (tests/vm/vm-run), whose Debian kernel has
# ESP and the nft queue expression: the host kernel has neither.
#
# Queue fan-out: `sagate apply --queues 2` spreads new require-ipsec flows
# over two queues with the kernel's per-CPU fanout, and sagated serves
# exactly the range the applied generation records:
#  - the table's rule is a fanout over the range, no bypass; meta.json
#    records it; sagated (no --queue) binds every queue of both banks;
#  - UDP flows sent from a sender pinned to each CPU (as RSS keeps a flow
#    on a CPU): every queued packet of one flow reached one queue, and both
#    queues of the range gave verdicts (sagated's log and per_queue);
#  - a sagated started with a conflicting --queue says so, and status and
#    audit report the mismatch;
#  - each queue's thread is named sagated-q<N> (/proc/PID/task/TID/comm);
#  - new TCP flows/s with 1 queue and with 2, side by side (printed as a
#    BENCH line: the ratio is reported, not asserted; TCG on two host cores
#    caps it, vm-run --smp 2 --mttcg gives the guest two real threads),
#    and for each queue thread its verdicts, CPU time and wake-ups in the
#    flood (a queue thread's own figures: sagated's total CPU divided by
#    all flows would make 2 queues look twice as dear per flow, since each
#    busy thread takes its share of a vCPU whatever its flow count).
# FANOUT_SECONDS (default 5) sets each rate run's length.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
sagated=${SAGATED:-$top/sagated}
sgnet=${SGNET:-$top/tests/vm/sgnet}
secs=${FANOUT_SECONDS:-5}
hz=$(getconf CLK_TCK)
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
. "$top/tests/vm/lib-site.sh"
db=sgvm-db-$$ net=sgvm-net-$$
export SAGATE_STATE_DIR=/tmp/sagate-vm-state-$$
tmp=$(mktemp -d /tmp/sagate-fanout-XXXXXX)
chmod 755 "$tmp"
log=$tmp/sagated.log
counters=${SAGATE_RUN_DIR:-/run/sagate}/sagated.json
dpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	topo_down "$db" "$net"
	rm -rf "$SAGATE_STATE_DIR" "$tmp"
}
trap cleanup EXIT

[ -x "$sgnet" ] || { bad "no sgnet at $sgnet (make check builds it)"; summary; exit 1; }
command -v taskset >/dev/null || { bad "taskset (util-linux) is needed"; summary; exit 1; }
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || { bad "the guest has $ncpu CPU: fan-out needs 2 (vm-run --smp 2)"; summary; exit 1; }

pol=$tmp/fanout.json
cat >"$pol" <<'EOF'
{ "version": 1, "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "esp", "action": "permit", "peers": "10.77.0.21", "protocol": "esp" },
    { "name": "pg", "action": "require-ipsec", "peers": "10.77.0.21", "protocol": "tcp", "ports": 5432,
      "ipsec": { "encryption": "required", "mode": "transport" } },
    { "name": "flows", "action": "require-ipsec", "peers": "10.77.0.21", "protocol": "udp", "ports": 5433,
      "ipsec": { "encryption": "required", "mode": "transport" } } ] }
EOF

site_up || { bad "namespaces"; summary; exit 1; }
sa_up || bad "ESP (AES-GCM) SAs"

# bound Q: queue Q has a reader in db
bound() { ip netns exec "$db" awk -v q="$1" '$1 == q { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue; }
# verdicts_of Q: sagated's per_queue verdicts of queue Q (counters file)
verdicts_of() { jq -r --argjson q "$1" '[.per_queue[] | select(.queue == $q) | .verdicts][0] // 0' "$counters" 2>/dev/null || echo 0; }
# threads PID: a line per thread of PID: "TID NAME TICKS WAKEUPS"; TICKS
# its user + system CPU in clock ticks, WAKEUPS its voluntary context
# switches (each a sleep in poll, so one wake-up each)
threads() {
	local t name rest
	for t in /proc/"$1"/task/*; do
		name=$(cat "$t/comm" 2>/dev/null) || continue
		rest=$(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue	# fields from 3 on
		printf '%s %s %s %s\n' "${t##*/}" "${name// /_}" \
			"$(awk '{ print $12 + $13 }' <<<"$rest")" \
			"$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")"
	done
}
# named_queues PID: the queue numbers of PID's threads named sagated-q<N>
named_queues() { threads "$1" | awk '$2 ~ /^sagated-q[0-9]+$/ { print substr($2, 10) }' | sort -n | tr '\n' ' '; }
# counters_settle: wait until the counters file was written after now
counters_settle() {
	local t0
	t0=$(date +%s)
	for _ in $(seq 1 50); do
		[ "$(jq -r '.now // 0' "$counters" 2>/dev/null)" -gt "$t0" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- 1. the table, the generation, sagated's banks ------------------------------------
out=$(ip netns exec "$db" "$sagate" apply --queues 2 "$pol" 2>&1)
grep -q "engine mode" <<<"$out" && ok "apply --queues 2 in engine mode" || bad "apply: $out"
# the statement, up to the comment (which says "no bypass")
rule=$(ip netns exec "$db" nft list chain inet sagate ipsec_in | grep -o ' queue [^"]*')
grep -q 'fanout' <<<"$rule" && grep -q ' 0-1' <<<"$rule" && ! grep -q bypass <<<"$rule" &&
	ok "the table queues to 0-1 with fanout, no bypass:$rule" || bad "queue rule: $rule"
gdir=$(readlink -f "$SAGATE_STATE_DIR/current")
[ "$(jq -r '[.queue, .queue_count] | @tsv' "$gdir/meta.json")" = "$(printf '0\t2')" ] &&
	ok "meta.json records queue 0, queue_count 2" || bad "meta.json: $(cat "$gdir/meta.json")"

daemon_start && ok "sagated (no --queue) is ready" || { bad "sagated not ready: $(cat "$log")"; summary; exit 1; }
log_has '"event":"ready"' '"queue":0' '"queues":2' && ok "ready line: banks of 2 queues from 0, read from the generation" ||
	bad "ready line: $(grep ready "$log")"
all=1
for q in 0 1 2 3; do bound $q || all=0; done
[ $all = 1 ] && ok "queues 0-3 (both banks of the range) are bound" ||
	bad "bound queues: $(ip netns exec "$db" cat /proc/net/netfilter/nfnetlink_queue)"
names=$(named_queues "$dpid")
[ "$names" = "0 1 2 3 " ] && ok "each queue's thread is named: sagated-q0 to sagated-q3" ||
	bad "queue threads named sagated-q<N>: '$names' (threads: $(threads "$dpid" | awk '{ print $2 }' | tr '\n' ' '))"
st=$(ip netns exec "$db" "$sagate" status 2>&1); rc=$?
[ $rc = 0 ] && ! grep -q MISMATCH <<<"$st" && ok "status: sagated serves the applied range" || bad "status ($rc): $st"
# the live rule reads back as the plan's (drift compares "queue num 0-1
# fanout"), every queue of the range is bound, sagated serves it
au=$(ip netns exec "$db" "$sagate" audit --json 2>/dev/null)
jq -e '[.findings[] | select(.kind | test("^(drift|digest|table-missing|queue-unbound|engine-)"))] | length == 0' <<<"$au" >/dev/null &&
	ok "audit: no drift, every queue bound, sagated serves the range" ||
	bad "audit: $(jq -c '[.findings[] | select(.severity == "error")]' <<<"$au")"

# --- 2. one flow, one queue; every queue of the range works ---------------------------
# 2 senders, one pinned to each CPU, 25 UDP flows each of 3 datagrams sent
# back to back (queued while the first waits for its verdict); paced under
# sagated's 100 log lines/s so that every verdict is logged
from=$(wc -l <"$log")
ip netns exec "$net" taskset -c 0 "$sgnet" udpflows $dbaddr 5433 25 3 80 >"$tmp/u0" &
u0=$!
ip netns exec "$net" taskset -c 1 "$sgnet" udpflows $dbaddr 5433 25 3 80 >"$tmp/u1" &
u1=$!
wait $u0 $u1
sleep 1
tail -n +"$((from + 1))" "$log" | grep '"dport":5433' | jq -r '[.sport, .queue] | @tsv' >"$tmp/flows"
nflows=$(cut -f1 "$tmp/flows" | sort -u | wc -l)
multi=$(cut -f1 "$tmp/flows" | sort | uniq -c | awk '$1 >= 2' | wc -l)
split=$(sort -u "$tmp/flows" | cut -f1 | uniq -d | wc -l)
queues=$(cut -f2 "$tmp/flows" | sort -u | tr '\n' ' ')
[ "$nflows" -ge 40 ] && ok "$nflows of 50 UDP flows logged ($(wc -l <"$tmp/flows") packets; $multi flows with 2+ packets queued)" ||
	bad "only $nflows flows logged: $(tail -3 "$log")"
[ "$multi" -ge 10 ] && [ "$split" = 0 ] &&
	ok "every packet of each flow went to one queue ($multi flows with 2+ queued packets, none split)" ||
	bad "flows split over queues: $split (of $multi with 2+ packets): $(sort -u "$tmp/flows" | head -20 | tr '\n' ' ')"
[ "$queues" = "0 1 " ] && ok "both queues of the range gave verdicts (log: queues $queues)" ||
	bad "queues in the log: '$queues'"
counters_settle
v0=$(verdicts_of 0) v1=$(verdicts_of 1)
[ "$v0" -gt 0 ] && [ "$v1" -gt 0 ] && [ "$(verdicts_of 2)" = 0 ] && [ "$(verdicts_of 3)" = 0 ] &&
	ok "per_queue: queue 0 $v0 verdicts, queue 1 $v1, the idle bank none" ||
	bad "per_queue: $(jq -c .per_queue "$counters")"

# --- 3. a sagated that serves another range: said, and reported ----------------------
daemon_stop TERM || bad "SIGTERM: $?"
daemon_start --queue 0 && ok "sagated --queue 0 starts" || bad "sagated --queue 0: $(cat "$log")"
log_has 'spreads new flows over queues 0-1' '--queue' && ok "sagated --queue 0 warns: the table spreads over 0-1" ||
	bad "no conflict warning: $(head -5 "$log")"
counters_settle
st=$(ip netns exec "$db" "$sagate" status 2>&1); rc=$?
[ $rc = 3 ] && grep -q MISMATCH <<<"$st" && grep -q 'queues 0-1' <<<"$st" &&
	ok "status: MISMATCH, exit 3, naming the table's range 0-1" || bad "status ($rc): $st"
au=$(ip netns exec "$db" "$sagate" audit --json 2>/dev/null)
jq -e '[.findings[]? | select(.kind == "engine-policy-mismatch" and (.message | contains("queues 0-1")))] | length == 1' <<<"$au" >/dev/null &&
	ok "audit: engine-policy-mismatch naming queues 0-1" || bad "audit: $(jq -c '[.findings[]? | select(.severity == "error")]' <<<"$au")"
daemon_stop TERM || bad "SIGTERM: $?"

# --- 4. new flows/s, 1 queue vs 2 ------------------------------------------------------
# run N: apply --queues N (sagated stopped: its banks change size), start
# sagated on the recorded range, flood for $secs s from both CPUs.  In the
# order 1 2 2 1, so that neither count always runs first (the conntrack
# table fills as the runs go on).
declare -A total=([1]=0 [2]=0) runs=([1]=0 [2]=0)
for n in 1 2 2 1; do
	out=$(ip netns exec "$db" "$sagate" apply --queues "$n" "$pol" 2>&1) || bad "apply --queues $n: $out"
	gdir=$(readlink -f "$SAGATE_STATE_DIR/current")
	first=$(jq -r .queue "$gdir/meta.json")
	daemon_start || { bad "sagated for $n queue(s): $(cat "$log")"; continue; }
	threads "$dpid" >"$tmp/t0"
	ip netns exec "$net" taskset -c 0 "$sgnet" connflood $dbaddr 5432 "$secs" 16 >"$tmp/c0" &
	c0=$!
	ip netns exec "$net" taskset -c 1 "$sgnet" connflood $dbaddr 5432 "$secs" 16 >"$tmp/c1" &
	c1=$!
	wait $c0 $c1
	threads "$dpid" >"$tmp/t1"
	flows=$(($(awk '{ print $2 }' "$tmp/c0") + $(awk '{ print $2 }' "$tmp/c1")))
	tmo=$(($(awk '{ print $4 }' "$tmp/c0") + $(awk '{ print $4 }' "$tmp/c1")))
	counters_settle
	per=""
	busy=0
	for ((q = first; q < first + n; q++)); do
		v=$(verdicts_of $q)
		per+="queue $q: $v; "
		[ "$v" -gt 0 ] && busy=$((busy + 1))
	done
	total[$n]=$((total[$n] + flows))
	runs[$n]=$((runs[$n] + 1))
	[ "$flows" -gt 0 ] && [ "$busy" = "$n" ] &&
		ok "$n queue(s) from $first: $((flows / secs)) new flows/s ($flows in ${secs}s, $tmo timeouts; ${per% })" ||
		bad "$n queue(s): $flows flows, $tmo timeouts, $per"
	# each thread's share of the flood: a queue thread by its verdicts,
	# the others (main, log, vici) by their CPU only
	named=0
	while read -r tid name ticks wake; do
		# (no process substitution: the guest has no /dev/fd)
		read -r ticks0 wake0 <<<"$(awk -v t="$tid" '$1 == t { print $3, $4 }' "$tmp/t0")"
		ms=$(((ticks - ${ticks0:-0}) * 1000 / hz)) wk=$((wake - ${wake0:-0}))
		if [[ $name =~ ^sagated-q([0-9]+)$ ]]; then
			q=${BASH_REMATCH[1]}
			[ "$q" -ge "$first" ] && [ "$q" -lt $((first + n)) ] || continue	# the idle bank
			named=$((named + 1))
			v=$(verdicts_of "$q")
			echo "    queue $q thread: $v verdicts, $ms ms CPU, $(awk -v ms="$ms" -v v="$v" 'BEGIN { printf "%.0f", v ? ms * 1000 / v : 0 }') us a verdict; $wk wake-ups, $(awk -v w="$wk" -v v="$v" 'BEGIN { printf "%.1f", w ? v / w : 0 }') verdicts a wake-up"
		elif [ "$ms" -gt 0 ]; then
			echo "    thread $name ($tid): $ms ms CPU, $wk wake-ups"
		fi
	done <"$tmp/t1"
	[ "$named" = "$n" ] || bad "$n queue(s): $named threads named sagated-q<N> in the range (threads: $(awk '{ print $2 }' "$tmp/t1" | tr '\n' ' '))"
	daemon_stop TERM || bad "SIGTERM: $?"
done
if [ "${runs[1]}" = 2 ] && [ "${runs[2]}" = 2 ] && [ "${total[1]}" -gt 0 ]; then
	r1=$((total[1] / (2 * secs))) r2=$((total[2] / (2 * secs)))
	echo "BENCH fanout: guest CPUs $ncpu; 1 queue $r1 flows/s; 2 queues $r2 flows/s; ratio $(awk -v a="$r2" -v b="$r1" 'BEGIN { printf "%.2f", a / b }') (2 runs each, order 1 2 2 1, ${secs} s each)"
fi

# --- the default keeps the live count: the last run applied --queues 1,
# and on this ${ncpu}-CPU guest an apply without --queues stays at one
# queue per bank (a running sagated serves that size), while one that
# names --queues changes it
out=$(ip netns exec "$db" "$sagate" apply "$pol" 2>&1) || bad "apply without --queues: $out"
gdir=$(readlink -f "$SAGATE_STATE_DIR/current")
[ "$(jq -r .queue_count "$gdir/meta.json")" = 1 ] && ! ip netns exec "$db" nft list chain inet sagate ipsec_in | grep -q fanout &&
	ok "apply without --queues after --queues 1: still one queue per bank, no fanout (not the $ncpu CPUs)" ||
	bad "apply without --queues changed the count: $(cat "$gdir/meta.json")"
ip netns exec "$db" "$sagate" compile "$pol" | grep -q ' queue num [0-9]* comment' &&
	ok "compile without --queues follows the live count too" || bad "compile without --queues: not one queue"
out=$(ip netns exec "$db" "$sagate" apply --queues 2 "$pol" 2>&1) || bad "apply --queues 2 after 1: $out"
gdir=$(readlink -f "$SAGATE_STATE_DIR/current")
[ "$(jq -r .queue_count "$gdir/meta.json")" = 2 ] && ok "apply --queues 2 changes it" || bad "apply --queues 2: $(cat "$gdir/meta.json")"
summary
