#!/bin/bash
# A policy path with a newline, a double quote or a backslash in it
# (directory names may hold any of them) goes into `sagate compile`'s
# script, which names the source in a # comment and in the table
# comment: the script must still load with `nft -f`, touch no other
# table, and give the same table as `sagate apply` of the same file.
#
# Needs root and nf_tables; throwaway network namespaces only.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
nsa=sgt-odd-a-$$ nsb=sgt-odd-b-$$
. "$top/tests/lib/netns.sh"
netns_require_root
netns_throwaway "$nsa" "$nsb"
export SAGATE_STATE_DIR=$tmp/state

# the listing without counter values, and without the statement nft's
# syntax cannot say (sagate compile leaves it as a comment)
listing() {
	ip netns exec "$1" nft list table inet sagate |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g; s/ct mark set ipsec (in|out) reqid //'
}

# case DESC DIRNAME EXPECTED-COMMENT-PATH
case_of() {
	local desc=$1 dir=$tmp/$2 want=$3 sha comment
	mkdir -p "$dir" || { bad "$desc: mkdir"; return; }
	sed "s|\"\.\./rules/|\"$top/rules/|g" "$top/policies/db-server.json" >"$dir/p.json"
	if ! "$sagate" compile -k "$dir/p.json" >"$tmp/script.nft" 2>/dev/null; then
		bad "$desc: sagate compile failed"
		return
	fi
	sha=$("$sagate" --json compile -k "$dir/p.json" 2>/dev/null | jq -r .sha256)
	comment="sagate policy $tmp/$want/p.json sha256 ${sha:0:16}"

	ip netns exec "$nsa" nft flush ruleset
	ip netns exec "$nsa" nft add table inet keep
	if ip netns exec "$nsa" nft -f "$tmp/script.nft" 2>"$tmp/err"; then
		ok "$desc: the script loads with nft -f"
	else
		bad "$desc: nft -f: $(cat "$tmp/err")"
		return
	fi
	if ip netns exec "$nsa" nft list table inet keep >/dev/null 2>&1; then
		ok "$desc: the foreign table survives the load"
	else
		bad "$desc: loading the script removed table inet keep: $(ip netns exec "$nsa" nft list tables)"
	fi
	if [ "$(grep -c '^# compiled by sagate' "$tmp/script.nft")" -eq 1 ] &&
		[ "$(grep -v -c -E '^(#|$|table inet sagate|delete table inet sagate|[ 	}])' "$tmp/script.nft")" -eq 0 ]; then
		ok "$desc: the script's commands are the table's replacement alone"
	else
		bad "$desc: lines outside the table: $(grep -v -E '^(#|$|table inet sagate|delete table inet sagate|[ 	}])' "$tmp/script.nft")"
	fi
	if ip netns exec "$nsa" nft list table inet sagate | grep -q -x -F "	comment \"$comment\""; then
		ok "$desc: the table comment names the path, escaped"
	else
		bad "$desc: table comment: $(ip netns exec "$nsa" nft list table inet sagate | grep -m1 comment) (expected \"$comment\")"
	fi

	ip netns exec "$nsb" nft flush ruleset
	if ip netns exec "$nsb" "$sagate" apply -k "$dir/p.json" >/dev/null 2>"$tmp/err"; then
		if diff -u <(listing "$nsa") <(listing "$nsb") >"$tmp/diff"; then
			ok "$desc: sagate apply gives the table nft -f does"
		else
			bad "$desc: nft -f and sagate apply differ: $(cat "$tmp/diff")"
		fi
	else
		bad "$desc: sagate apply -k: $(cat "$tmp/err")"
	fi
}

case_of "a newline and a command in the path" $'a\nflush ruleset\n#' 'a\nflush ruleset\n#'
case_of "a double quote and a backslash in the path" 'q"b\c' 'q\x22b\\c'
case_of "a tab and an escape character in the path" $'t\tx\033[31m' 't\tx\x1b[31m'
summary
