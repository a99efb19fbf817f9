#!/bin/bash
# sagate audit and explain of the applied policy read what was applied,
# never the policy file it came from: a policy with a host group (in an
# include, and in a policy file of its own) is applied in a throwaway
# network namespace, its files are then edited and deleted, and audit
# must still name the applied group in its family-counterpart finding,
# explain must still name the applied rule.  A generation recorded
# without host groups (by an older sagate) audits without that finding,
# whatever the source says now.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
command -v jq >/dev/null || { echo "SKIP: jq is needed" >&2; exit 77; }
ns=sgt-applied-$$
netns_throwaway "$ns"
export SAGATE_STATE_DIR=$tmp/state
in_ns() { ip netns exec "$ns" "$@"; }
mkdir "$tmp/src" "$tmp/elsewhere" || exit 99

hosts() {	# GROUP ADDR4 ADDR6: the include, with one unused group besides
	printf '{"version": 1, "hosts": {"%s": ["%s", "%s"], "unused": ["10.1.2.3"]}}\n' \
		"$1" "$2" "$3" >"$tmp/src/hosts.json"
}
policy() {	# PEERS-OF-ssh [HOSTS-JSON]: p.json, including hosts.json unless
		# HOSTS-JSON gives its groups inline
	local defs='"include": ["hosts.json"]'
	[ $# -gt 1 ] && defs="\"hosts\": $2"
	cat >"$tmp/src/p.json" <<EOF
{
  "version": 1, $defs,
  "defaults": { "in": "block", "out": "permit" },
  "rules": [
    { "name": "pg", "action": "permit", "peers": "10.77.0.21", "protocol": "tcp", "ports": [5432] },
    { "name": "ssh", "action": "permit", "peers": "$1", "protocol": "tcp", "ports": [22] }
  ]
}
EOF
}
apply() {	# apply p.json by a path relative to the directory apply runs in
	(cd "$tmp/src" && in_ns "$sagate" apply -k p.json >/dev/null 2>"$tmp/err") ||
		bad "apply: $(cat "$tmp/err")"
}
audit() {	# DIR: the applied policy's JSON audit, run in DIR; exit in $rc
	(cd "$1" && in_ns "$sagate" --json audit >"$tmp/out" 2>"$tmp/err")
	rc=$?
}
family() {	# the groups family-counterpart names for rule pg, one line each
	jq -r '.findings[] | select(.kind == "family-counterpart" and .rule == "pg") | .message' \
		"$tmp/out" | sed -n 's/.*host group "\([^"]*\)".*/\1/p'
}
want_family() {	# DIR GROUP (empty: none) DESC
	local got
	audit "$1"
	got=$(family)
	if [ "$rc" -eq 0 ] && [ "$got" = "$2" ]; then
		ok "$3: family-counterpart ${2:-none}"
	else
		bad "$3: want family-counterpart \"$2\", exit 0; got \"$got\", exit $rc: $(jq -c '[.findings[] | select(.severity != "info")]' "$tmp/out" 2>/dev/null) $(cat "$tmp/err")"
	fi
}
want_explain() {	# ADDR RULE OUTCOME DESC: explain of the applied policy
	local got
	(cd "$tmp/elsewhere" && in_ns "$sagate" --json explain --from "$1" --proto tcp --port 22 \
		>"$tmp/x" 2>"$tmp/err")
	got=$(jq -r '"\(.policy.rule) \(.outcome)"' "$tmp/x" 2>/dev/null)
	[ "$got" = "$2 $3" ] && ok "$4: explain $1 port 22: rule $2, $3" ||
		bad "$4: explain $1: want \"$2 $3\", got \"$got\" $(cat "$tmp/err")"
}

# --- a policy with an include: its generation is a bundle.  Audits run
# where apply ran (the recorded relative path would find the edited
# files there) unless they are to show that the directory does not matter.
hosts app-servers 10.77.0.21 fd77::21
policy @app-servers
apply
want_family "$tmp/src" app-servers "applied, source unchanged"
want_family "$tmp/elsewhere" app-servers "applied, audited from another directory"
want_explain fd77::21 ssh accept "applied"
gen=$(readlink "$SAGATE_STATE_DIR/current")
in_ns "$sagate" --json check "$SAGATE_STATE_DIR/$gen/policy.json" >"$tmp/check" 2>&1
[ "$(jq -r '"\(.ok) \(.warnings)"' "$tmp/check")" = "true 0" ] &&
	ok "the bundle checks without warnings (its unused group included)" ||
	bad "check of the bundle: $(cat "$tmp/check")"

hosts renamed 10.77.0.21 fd77::21
policy @renamed
want_family "$tmp/src" app-servers "source edited (group renamed)"
hosts web 10.77.0.99 fd77::99
policy @web
want_family "$tmp/src" app-servers "source edited (group renamed and moved)"
want_explain fd77::21 ssh accept "source edited"
want_explain fd77::99 null drop "source edited"
rm "$tmp/src/p.json" "$tmp/src/hosts.json"
want_family "$tmp/src" app-servers "source deleted"
want_explain fd77::21 ssh accept "source deleted"

# --- a generation recorded without host groups, as sagate wrote them
# before bundles kept them: no family finding, whatever the source says
hosts app-servers 10.77.0.21 fd77::21
policy @app-servers
apply
gen=$(readlink "$SAGATE_STATE_DIR/current")
jq 'del(.hosts)' "$SAGATE_STATE_DIR/$gen/policy.json" >"$tmp/old.json" &&
	cat "$tmp/old.json" >"$SAGATE_STATE_DIR/$gen/policy.json" || bad "old-style bundle"
hosts old-source 10.77.0.21 fd77::21
policy @old-source
want_family "$tmp/src" "" "a bundle without host groups, source present"
[ "$(jq '.counts.error' "$tmp/out")" = 0 ] && ok "... and audits without errors" ||
	bad "old-style bundle: $(jq -c '.findings' "$tmp/out")"
want_explain fd77::21 ssh accept "a bundle without host groups"

# --- a policy file that includes nothing: kept byte for byte
policy @db '{"db": ["10.77.0.21", "fd77::21"]}'
apply
policy @db '{"db": ["10.77.0.21"], "other": ["10.77.0.21", "fd77::21"]}'
want_family "$tmp/src" db "a policy without includes, edited"
rm "$tmp/src/p.json"
want_family "$tmp/src" db "a policy without includes, deleted"

summary
