#!/bin/bash
# contrib/strongswan has a swanctl.conf fragment for every shipped policy
# with require-ipsec rules, and each stays in step with its policy: a
# child named after every require-ipsec rule, in the rule's mode when it
# names one, and ESP proposals whose ciphers the rule allows when it lists
# algorithms.  (No root; jq.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/lib/netns.sh"	# ok / bad / summary
command -v jq >/dev/null || { echo "FAIL: jq is needed"; exit 1; }

# the body of child NAME in FILE: the lines between "NAME {" and its "}"
child() { awk -v n="$2" '$1 == n && $2 == "{" { on = 1; next } on && $1 == "}" { exit } on' "$1"; }

for pol in "$top"/policies/*.json; do
	name=$(basename "$pol" .json)
	rules=$(jq -c '.rules[] | select(.action == "require-ipsec")' "$pol")
	[ -n "$rules" ] || continue
	ex=$top/contrib/strongswan/$name.swanctl.conf
	[ -f "$ex" ] || { bad "$name: no contrib/strongswan/$name.swanctl.conf"; continue; }
	while IFS= read -r r; do
		rn=$(jq -r .name <<<"$r")
		body=$(child "$ex" "$rn")
		[ -n "$body" ] || { bad "$name: no child \"$rn\" in $(basename "$ex")"; continue; }
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
done
summary
