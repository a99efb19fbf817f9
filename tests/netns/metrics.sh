#!/bin/bash
# sagate metrics, read back by a real Prometheus parser (Debian's
# python3-prometheus-client): nothing applied, then a policy applied in a
# throwaway network namespace pair (tests/lib/topology.sh) with traffic
# through two of its rules, a rule name that needs escaping, a sagated
# counters file, and --output.  Every family must have HELP and TYPE,
# counters must end in _total, no series may repeat, and the values must
# be the ones status, list and the counters file give.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
. "$top/tests/lib/topology.sh"
netns_require_root
py=/usr/bin/python3
"$py" -c 'import prometheus_client' 2>/dev/null ||
	{ echo "FAIL: Debian's python3-prometheus-client is needed (apt-get install python3-prometheus-client)"; exit 1; }
db=sgt-met-db-$$ net=sgt-met-net-$$
tmp=$(mktemp -d) || exit 99
trap 'topo_down "$db" "$net"; rm -rf "$tmp"' EXIT
topo_up "$db" "$net" || { echo "FAIL: cannot create the namespaces"; exit 1; }
export SAGATE_STATE_DIR=$tmp/state SAGATE_RUN_DIR=$tmp/run
in_db() { ip netns exec "$db" "$@"; }

# check FILE EXPR-DESC PYTHON: parse FILE with prometheus_client and the
# conventions; then PYTHON (with v(name, **labels) -> value) must be true
check() {
	local file=$1 desc=$2 expr=$3 out
	if out=$("$py" - "$file" "$expr" 2>&1 <<'PY'
import os, re, sys
E = os.environ
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
# the conventions, on the text itself
helps = re.findall(r'^# HELP (\S+) ', text, re.M)
types = dict(re.findall(r'^# TYPE (\S+) (\S+)$', text, re.M))
assert helps and sorted(helps) == sorted(types), "HELP and TYPE lines do not pair up"
for name, t in types.items():
    assert re.fullmatch(r'sagate_[a-z_]+', name), f"bad metric name {name}"
    assert t in ('counter', 'gauge'), f"{name}: type {t}"
    assert (t == 'counter') == name.endswith('_total'), f"{name}: a counter ends in _total, nothing else does"
seen, samples = set(), {}
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        assert key not in seen, f"series repeated: {key}"
        seen.add(key)
        assert s.value >= 0 and s.value == int(s.value), f"{key}: {s.value}"
        samples[key] = s.value
for line in text.splitlines():
    if line and not line.startswith('#'):
        assert line.split('{')[0].split(' ')[0] in types, f"sample without its family: {line}"
def v(name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))
def rules(name):
    return [dict(l)['rule'] for (n, l) in samples if n == name]
ok = eval(sys.argv[2])
print(ok)
sys.exit(0 if ok is True else 1)
PY
); then
		ok "$desc"
	else
		bad "$desc"
		printf '      %s\n' "$out" | tail -5
	fi
}

# 1. nothing applied, no sagated
in_db "$sagate" metrics >"$tmp/m0" 2>"$tmp/e0"
rc=$?
[ $rc -eq 0 ] && ok "metrics with nothing applied: exit 0" || { bad "metrics: exit $rc"; cat "$tmp/e0"; }
check "$tmp/m0" "nothing applied: generation 0, no table, sagated not running" \
	'v("sagate_policy_generation") == 0 and v("sagate_table_loaded") == 0 and v("sagate_engine_running") == 0 and v("sagate_confirm_pending") == 0'

# 2. a policy with rules that traffic will hit, in a directory whose name
# needs escaping in a label value (a double quote and a backslash)
odd=$tmp/'the "odd" \ dir'
mkdir "$odd" || exit 99
export SRC=$odd/p.json
cat >"$SRC" <<'EOF'
{ "version": 1, "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "ping-app", "action": "permit", "peers": "10.77.0.21", "protocol": "icmp" },
    { "name": "pg", "action": "permit", "peers": "10.77.0.21", "protocol": "tcp", "ports": [5432] },
    { "name": "stranger", "action": "block", "peers": "10.77.0.66", "protocol": "icmp" },
    { "name": "ssh", "action": "permit", "peers": "10.77.0.30", "protocol": "tcp", "ports": [22] }
  ] }
EOF
in_db "$sagate" apply --no-engine "$SRC" >/dev/null 2>"$tmp/e1" || { bad "apply"; cat "$tmp/e1"; }
SHA=$(in_db "$sagate" --json status | jq -r .applied.sha256)
AT=$(in_db "$sagate" --json status | jq -r .applied.applied_at)
export SHA AT
ip -n "$net" route replace 10.77.0.10 dev veth-net src 10.77.0.21
ip netns exec "$net" ping -c 3 -i 0.2 -W 1 10.77.0.10 >/dev/null 2>&1 || bad "ping from the app server"
ip -n "$net" route replace 10.77.0.10 dev veth-net src 10.77.0.66
ip netns exec "$net" ping -c 2 -i 0.2 -W 1 10.77.0.10 >/dev/null 2>&1 && bad "the stranger's ping got through"
in_db "$sagate" metrics >"$tmp/m1" 2>"$tmp/e1"
rc=$?
[ $rc -eq 0 ] && ok "metrics after apply: exit 0" || { bad "metrics: exit $rc"; cat "$tmp/e1"; }
check "$tmp/m1" "generation 1 applied, table loaded and matching, its source (escaped), digest and mode in sagate_policy_info" \
	"v('sagate_policy_generation') == 1 and v('sagate_table_loaded') == 1 and v('sagate_table_matches_applied') == 1 and v('sagate_policy_info', source=E['SRC'], sha256=E['SHA'], mode='kernel-only') == 1 and v('sagate_policy_applied_timestamp_seconds') == int(E['AT'])"
check "$tmp/m1" "one series per policy rule, in policy order" \
	"rules('sagate_rule_packets_total') == ['ping-app', 'pg', 'stranger', 'ssh']"
# a permitted flow is counted once, at its first packet (the rest pass as
# established); every dropped packet is a new attempt
check "$tmp/m1" "the app server's ping flow counted once on its rule, the stranger's 2 pings on the block rule, nothing on ssh" \
	"v('sagate_rule_packets_total', rule='ping-app', action='permit', direction='in') == 1 and v('sagate_rule_packets_total', rule='stranger', action='block', direction='in') == 2 and v('sagate_rule_packets_total', rule='ssh', action='permit', direction='in') == 0 and v('sagate_rule_bytes_total', rule='stranger', action='block', direction='in') > 0"
list_pk=$(in_db "$sagate" --json list | jq '.rules[] | select(.rule == "stranger") | .packets')
check "$tmp/m1" "the block rule's packets equal what list says ($list_pk)" \
	"v('sagate_rule_packets_total', rule='stranger', action='block', direction='in') == ${list_pk:-(-1)}"
elems=$(in_db "$sagate" --json status | jq .elements)
check "$tmp/m1" "sagate_table_elements equals status ($elems)" "v('sagate_table_elements') == ${elems:-(-1)}"

# 3. sagated's counters file (a live pid: this shell's)
mkdir -p "$SAGATE_RUN_DIR"
cat >"$SAGATE_RUN_DIR/sagated.json" <<EOF
{ "version": 1, "pid": $$, "state": "running", "started": 1700000000, "updated": 1700000100,
  "queues": { "first": 0, "count": 1 }, "fail_open": false, "policy": null, "sha256": null,
  "packets": 12, "accepted": 7, "dropped": 5, "drops": { "drop-sa-peer": 4, "drop-not-encrypted": 1 },
  "verdict_messages": 9, "verdict_errors": 0, "queue_enobufs": 2, "xfrm_enobufs": 1, "sas": 6 }
EOF
in_db "$sagate" metrics >"$tmp/m2" 2>/dev/null
check "$tmp/m2" "sagated: running, verdicts by reason, overruns, SA cache size, start time" \
	"v('sagate_engine_running') == 1 and v('sagate_engine_verdicts_total', verdict='accept', reason='accept') == 7 and v('sagate_engine_verdicts_total', verdict='drop', reason='drop-sa-peer') == 4 and v('sagate_engine_verdicts_total', verdict='drop', reason='drop-not-encrypted') == 1 and v('sagate_engine_queue_overruns_total') == 2 and v('sagate_engine_xfrm_overruns_total') == 1 and v('sagate_engine_sas') == 6 and v('sagate_engine_start_timestamp_seconds') == 1700000000"

# 4. --output: the same text, in a file written whole
in_db "$sagate" metrics --output "$tmp/out.prom" >"$tmp/stdout" 2>"$tmp/e4"
rc=$?
[ $rc -eq 0 ] && [ ! -s "$tmp/stdout" ] && ok "--output: exit 0, nothing on standard output" ||
	{ bad "--output: exit $rc"; cat "$tmp/e4"; }
in_db "$sagate" metrics >"$tmp/m4" 2>/dev/null
diff <(grep -v '_packets_total\|_bytes_total' "$tmp/m4") <(grep -v '_packets_total\|_bytes_total' "$tmp/out.prom") >/dev/null &&
	ok "--output writes what standard output shows" || bad "--output differs from standard output"
[ "$(stat -c %a "$tmp/out.prom")" = 644 ] && ok "--output file mode 0644 (the collector runs as another user)" ||
	bad "--output mode $(stat -c %a "$tmp/out.prom")"
ls "$tmp"/.out.prom* "$tmp"/out.prom.* >/dev/null 2>&1 && bad "a temporary file was left beside it" ||
	ok "no temporary file left beside it"
in_db "$sagate" metrics --output "$tmp/no/such/dir/m.prom" 2>"$tmp/e5"
rc=$?
[ $rc -eq 3 ] && grep -q "$tmp/no/such/dir/m.prom: error: cannot create the metrics file" "$tmp/e5" &&
	ok "--output into a missing directory: exit 3 naming the file" ||
	{ bad "--output into a missing directory: exit $rc"; cat "$tmp/e5"; }
summary
