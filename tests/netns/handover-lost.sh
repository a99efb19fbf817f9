#!/bin/bash
# A lost acknowledgement from sagated is an unknown outcome: a fake
# sagated (python3 on the control socket, SAGATE_RUN_DIR) takes the
# engine-mode apply's request and never answers.  After
# SAGATE_HANDOVER_TIMEOUT seconds `sagate apply` exits 3 saying the
# outcome is unknown, what the kernel, read again, holds (the generation
# before: the kernel was never asked) and that sagated was not confirmed
# to serve it; the ruleset, the current generation and its mode are as
# they were: no fallback to kernel-only mode.  (An answer lost after the
# kernel's switch: tests/unit/test_live.c, whose fake kernel takes engine
# tables.)
#
# Needs root and nf_tables; a throwaway network namespace only.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
ns=sgt-lost-$$
netns_throwaway "$ns"
export SAGATE_STATE_DIR=$tmp/state SAGATE_RUN_DIR=$tmp/run SAGATE_HANDOVER_TIMEOUT=2
in_ns() { ip netns exec "$ns" "$@"; }
cd "$top" || exit 1
mkdir -m 0700 "$SAGATE_RUN_DIR"

in_ns "$sagate" apply --no-engine policies/db-server.json >/dev/null 2>"$tmp/err" ||
	{ bad "the first apply: $(cat "$tmp/err")"; summary; exit 1; }

# the fake: each request line to the log, never an answer, the
# connection kept open (in the namespace: sagate talks to a sagated of its own only)
in_ns /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
open(sys.argv[2], "w").close()
held = []
while True:
    c, _ = s.accept(); held.append(c)
    line = b""
    while not line.endswith(b"\n"):
        b = c.recv(8192)
        if not b: break
        line += b
    with open(sys.argv[3], "ab") as f: f.write(line)
' "$SAGATE_RUN_DIR/sagated.ctl" "$tmp/listening" "$tmp/requests" &
fake=$!
for _ in $(seq 1 100); do [ -e "$tmp/listening" ] && break; sleep 0.05; done
[ -e "$tmp/listening" ] || bad "the fake sagated did not start"

before=$(in_ns nft list ruleset)
t0=$(date +%s.%N)
in_ns "$sagate" apply policies/web-server.json >"$tmp/out" 2>"$tmp/err"
rc=$?
t1=$(date +%s.%N)
kill "$fake"; wait "$fake" 2>/dev/null

[ $rc -eq 3 ] && ok "exit 3" || bad "exit $rc: $(cat "$tmp/out" "$tmp/err")"
grep -q '"op":"load","generation":2' "$tmp/requests" &&
	ok "sagated was asked to load generation 2" || bad "requests: $(cat "$tmp/requests")"
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.9 && b - a < 30) }' &&
	ok "gave up after SAGATE_HANDOVER_TIMEOUT" || bad "took $t0 -> $t1"
said() {	# PATTERN DESC
	if grep -qF -- "$1" "$tmp/err"; then ok "$2"; else bad "$2"; cat "$tmp/err"; fi
}
said "outcome unknown: sagated's answer about generation 2 was lost" "says the outcome is unknown"
said "read again, the kernel holds generation 1 ($top/policies/db-server.json, kernel-only mode, as before)" \
	"says what the kernel, read again, holds"
said "it queues nothing to sagated" "says what sagated has to do with it (nothing: kernel-only)"
said "no mode was changed" "says no mode was changed"
[ "$(in_ns nft list ruleset)" = "$before" ] && ok "the ruleset is as it was" || bad "the ruleset changed"
[ "$(readlink "$SAGATE_STATE_DIR/current")" = gen-000001 ] && [ ! -e "$SAGATE_STATE_DIR/gen-000002" ] &&
	ok "generation 1 is current, generation 2 is not kept" || bad "state: $(ls "$SAGATE_STATE_DIR")"
[ "$(in_ns "$sagate" --json status | jq -r '[.kernel, .applied.generation, .applied.mode] | @tsv')" = \
	"$(printf 'matches the applied policy\t1\tkernel-only')" ] &&
	ok "status: generation 1, kernel-only, as before" || bad "status: $(in_ns "$sagate" status 2>&1)"

summary
