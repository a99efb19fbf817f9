#!/bin/bash
# What an admin reads after an apply, in a throwaway network namespace:
# the source recorded as an absolute path (status, the table comment),
# explain and audit of the applied policy naming the admin's file from
# any directory, status --json's applied_at as sagate(8) describes it,
# list's columns with a 48-character rule name, confirm's message as
# sagate(8) quotes it, and restore under the lock (sagate(8)'s BUGS said
# it took none).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
command -v jq >/dev/null || { echo "FAIL: jq is needed (apt-get install jq)"; exit 1; }
ns=sgt-admin-$$
netns_throwaway "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
export SAGATE_STATE_DIR=$tmp/state
# the man page as text: roff escapes undone, fonts dropped
man=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(lq\|\\(rq//g' "$top/man/sagate.8")

# confirm with nothing applied: the message sagate(8) quotes
mkdir -m 700 "$tmp/state"
err=$("$sagate" confirm 2>&1 >/dev/null); rc=$?
quoted=$(grep -o '"dir: error: nothing to confirm (no apply --confirm is waiting)"' <<<"$man" | head -n1)
[ "$rc" = 1 ] && [ -n "$quoted" ] && [ "\"${err/#$tmp\/state/dir}\"" = "$quoted" ] &&
	ok "confirm with nothing pending: $err (as sagate(8) quotes it)" || bad "confirm: exit $rc: $err; man: $quoted"

# a policy applied by a relative name, with a rule name of the longest kind
long=a-rule-name-of-forty-eight-characters-0123456789
[ ${#long} = 48 ] || bad "the long name is ${#long} characters"
mkdir -p "$tmp/etc/sub"
cat >"$tmp/etc/sub/p.json" <<J
{ "version": 1,
  "rules": [ { "name": "esp", "action": "permit", "peers": "10.99.0.0/24", "protocol": "esp" },
             { "name": "$long", "action": "require-ipsec", "peers": "10.99.0.0/24",
               "protocol": "tcp", "ports": [22] },
             { "name": "web", "action": "permit", "protocol": "tcp", "ports": [80] } ] }
J
(cd "$tmp/etc" && in_ns "$sagate" apply -k sub/p.json >/dev/null 2>"$tmp/err") &&
	ok "apply -k sub/p.json" || bad "apply: $(cat "$tmp/err")"
abs=$tmp/etc/sub/p.json

st=$(cd / && in_ns "$sagate" --json status)
[ "$(jq -r .applied.source <<<"$st")" = "$abs" ] && ok "status: the source recorded as an absolute path" ||
	bad "status source: $(jq -c .applied <<<"$st")"
[ "$(jq -r .kernel <<<"$st")" = "matches the applied policy" ] && ok "status: the kernel holds it" ||
	bad "status kernel: $(jq -r .kernel <<<"$st")"
in_ns nft list table inet sagate | grep -q -F "comment \"sagate policy $abs sha256 " &&
	ok "the table comment names the absolute path" || bad "table comment: $(in_ns nft list table inet sagate | grep -m1 comment)"
# applied_at: a number of seconds since the epoch, as sagate(8) says
t=$(jq -r '.applied.applied_at | type' <<<"$st")
now=$(date +%s)
at=$(jq -r .applied.applied_at <<<"$st")
[ "$t" = number ] && [ $((now - at)) -ge 0 ] && [ $((now - at)) -lt 600 ] &&
	ok "status --json: applied_at is a number, seconds since the epoch ($at)" || bad "applied_at: $t $at"
tr '\n' ' ' <<<"$man" | grep -q 'applied_at (a number: seconds since the epoch' &&
	ok "sagate(8) says applied_at is a number of seconds" || bad "sagate(8) does not describe applied_at as output"
txt=$(cd / && in_ns "$sagate" status)
when=$(date -u -d "@$at" '+%Y-%m-%d %H:%M:%S UTC')
grep -q -F "applied $when" <<<"$txt" && ok "status: the same time as text, \"$when\"" ||
	bad "status text: $(grep applied <<<"$txt")"

# explain and audit of the applied policy, from another directory
ex=$(cd / && in_ns "$sagate" explain --from 10.99.0.5 --proto tcp --port 22 2>&1)
grep -q -F "1. policy: rule \"$long\" ($abs rules[1]) decides: require-ipsec" <<<"$ex" &&
	ok "explain of the applied policy names the admin's file" || bad "explain: $(head -n2 <<<"$ex")"
grep -q -F "$SAGATE_STATE_DIR" <<<"$ex" && bad "explain names the state directory: $ex" ||
	ok "explain does not name the generation's copy"
a=$(cd / && in_ns "$sagate" --json audit --fail-on never)
[ "$(jq '[.findings[] | select(.kind == "digest-mismatch")] | length' <<<"$a")" = 0 ] &&
	ok "audit of the applied policy, from /: no digest-mismatch" || bad "audit applied: $(jq -c '.findings[] | select(.severity == "error")' <<<"$a")"
a=$(cd "$tmp/etc" && in_ns "$sagate" --json audit --fail-on never sub/p.json)
[ "$(jq '[.findings[] | select(.kind == "digest-mismatch")] | length' <<<"$a")" = 0 ] &&
	ok "audit sub/p.json by its relative name: the same policy, no digest-mismatch" ||
	bad "audit relative: $(jq -c '.findings[] | select(.severity == "error")' <<<"$a")"

# list: a 48-character rule name and the kernel's comments keep the columns
l=$(in_ns "$sagate" list)
lens=$(grep -v '^(' <<<"$l" | awk '{ print length($0) }' | sort -u)
[ "$(wc -l <<<"$lens")" = 1 ] && grep -q "^$long " <<<"$l" &&
	ok "list: every line $lens characters wide, the long name whole" || { bad "list columns: $lens"; echo "$l"; }
[ "$(grep "^$long " <<<"$l" | awk '{ print $2, $3 }')" = "require-ipsec in" ] &&
	ok "list: the long name's ACTION and DIR in their columns" || bad "list: $(grep "^$long" <<<"$l")"

# sagate(8)'s BUGS said restore takes no lock: it waits for it like any
# other change, and gives up at --wait
flock -x "$SAGATE_STATE_DIR/lock" sleep 30 &
holder=$!
for _ in $(seq 1 100); do flock -n "$SAGATE_STATE_DIR/lock" true || break; sleep 0.05; done
before=$(in_ns nft list ruleset)
in_ns "$sagate" restore --wait 0 >/dev/null 2>"$tmp/err"; rc=$?
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
[ "$rc" = 3 ] && grep -q 'the state directory is locked by another' "$tmp/err" &&
	[ "$(in_ns nft list ruleset)" = "$before" ] &&
	ok "restore waits for the state directory's lock (--wait 0: gives up, nothing changed)" ||
	bad "restore under a held lock: exit $rc: $(cat "$tmp/err")"
grep -q 'restore takes no lock' <<<"$man" && bad "sagate(8) BUGS still says restore takes no lock" ||
	ok "sagate(8) BUGS no longer says restore takes no lock"

summary
