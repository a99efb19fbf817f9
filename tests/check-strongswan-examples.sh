#!/bin/bash
# contrib/strongswan has a swanctl.conf fragment for every shipped policy
# with require-ipsec rules, and each is what `sagate ike-config` makes of
# its policy now (regenerate: tests/check-strongswan-examples.sh --update).
# And what ike-config makes stays in step with the policy: a child named
# after every require-ipsec rule, in the rule's mode when it names one,
# and ESP proposals whose ciphers the rule allows when it lists
# algorithms.  (No root; jq.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/lib/netns.sh"	# ok / bad / summary
sagate=${SAGATE:-$top/sagate}
update=false
[ "${1:-}" = "--update" ] && update=true
cd "$top" || exit 1
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }

# the body of child NAME in FILE: the lines between "NAME {" and its "}"
child() { awk -v n="$2" '$1 == n && $2 == "{" { on = 1; next } on && $1 == "}" { exit } on' "$1"; }

for pol in policies/*.json; do
	name=$(basename "$pol" .json)
	rules=$(jq -c '.rules[] | select(.action == "require-ipsec")' "$pol")
	[ -n "$rules" ] || continue
	ex=$(mktemp)
	"$sagate" ike-config "policies/$name.json" >"$ex" || bad "$name: sagate ike-config failed"
	$update && cp "$ex" "contrib/strongswan/$name.swanctl.conf"
	if [ -f "contrib/strongswan/$name.swanctl.conf" ] && cmp -s "$ex" "contrib/strongswan/$name.swanctl.conf"; then
		ok "$name: contrib/strongswan/$name.swanctl.conf is what sagate ike-config makes"
	else
		bad "$name: contrib/strongswan/$name.swanctl.conf missing or not what sagate ike-config makes"
	fi
	while IFS= read -r r; do
		rn=$(jq -r .name <<<"$r")
		body=$(child "$ex" "$rn")
		[ -n "$body" ] || { bad "$name: no child \"$rn\" in the ike-config of $name"; continue; }
		mode=$(jq -r '.ipsec.mode // empty' <<<"$r")
		if [ -n "$mode" ]; then
			grep -qE "^\s*mode = $mode\s*$" <<<"$body" && ok "$name/$rn: mode $mode" ||
				bad "$name/$rn: the child's mode is not $mode"
		fi
		algs=$(jq -r '.ipsec.algorithms // empty | .[]' <<<"$r")
		if [ -n "$algs" ]; then
			props=$(sed -n 's/^\s*esp_proposals = //p' <<<"$body" | tr ',' '\n' | sed 's/^ *//; s/-.*//')
			allowed=true
			for p in $props; do grep -qx "$p" <<<"$algs" || { allowed=false; bad "$name/$rn: esp proposal $p is not among the rule's algorithms"; }; done
			$allowed && [ -n "$props" ] && ok "$name/$rn: esp proposals within the rule's algorithms"
		fi
		ok "$name/$rn: a child of its name"
	done <<<"$rules"
	rm -f "$ex"
done
summary
