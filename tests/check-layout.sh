#!/bin/bash
# README's "Repository layout" for src/ is made from the tree: each
# folder's README, and for each source file the first sentence of its own
# leading comment or of its module's header.  This test fails when README
# and the tree disagree (a file added, moved or renamed without README
# following), or when a folder or a module has nothing that says what it
# is for.  `tests/check-layout.sh --update` rewrites README's section.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
readme=$top/README.md
# the folders in pipeline order, lowest layer first
order=(base policy compile xfrm verdict vici nft ops engine cli)
begin='<!-- src layout: made by tests/check-layout.sh --update -->'
end='<!-- end of src layout -->'
problems=0
problem() { echo "FAIL: $*" >&2; problems=$((problems + 1)); }

# First sentence of the comment a file starts with (after an optional
# #include "config.h"), on one line; nothing if it starts with code.
summary() {
	awk '
		NR == 1 && /^#include "config.h"/ { next }
		!on && /^[ \t]*$/ { next }
		!on && !/^\/\*/ { exit }
		{ on = 1; line = $0
		  sub(/^\/\*+ ?/, "", line); sub(/^ *\*+ ?/, "", line)
		  done = sub(/ *\*\/.*$/, "", line)
		  text = text (text == "" ? "" : " ") line
		  if (done || text ~ /\.( |$)/) exit }
		END { if (match(text, /\.( |$)/)) text = substr(text, 1, RSTART)
		      print text }' "$1"
}

# Header whose name (less .h) is the longest prefix of a file's stem.
module_of() {	# DIR STEM
	local h best= stem=$2
	for h in "$1"/*.h; do
		h=$(basename "$h" .h)
		[[ $h == *_int ]] && continue
		[[ $stem == "$h"* ]] && [ ${#h} -gt ${#best} ] && best=$h
	done
	echo "$best"
}

wrap() { fold -s -w "$1" | sed "s/ *$//; 2,\$s/^/$2/"; }

layout() {
	local d dir f stem mod text key
	echo '```'
	for d in "${order[@]}"; do
		dir=$top/src/$d
		[ -d "$dir" ] || { problem "src/$d is in the order list but not in the tree"; continue; }
		if [ -s "$dir/README" ]; then
			printf 'src/%-9s%s\n' "$d/" "$(tr '\n' ' ' <"$dir/README" | sed 's/ *$//' | wrap 66 '             ')"
		else
			problem "src/$d has no README saying what it owns"
		fi
		# modules: a header and the files without a comment of their own
		declare -A files=() says=()
		local keys=()
		for f in "$dir"/*.[ch]; do
			stem=$(basename "$f"); stem=${stem%.?}
			text=$(summary "$f")
			if [[ $f == *.h && $stem != *_int ]]; then
				key=$stem
			elif [ -n "$text" ] && [[ $f == *.c ]]; then
				key=$(basename "$f")
			else
				key=$(module_of "$dir" "$stem")
				[ -n "$key" ] || { problem "src/$d/$(basename "$f") has no leading comment and no module header"; continue; }
			fi
			[ -n "${files[$key]+x}" ] || keys+=("$key")
			files[$key]="${files[$key]:-}${files[$key]:+ }$(basename "$f")"
			if [ "$key" = "$stem" ] && [[ $f == *.h ]] || [ "$key" = "$(basename "$f")" ]; then
				[ -n "$text" ] || problem "src/$d/$(basename "$f") has no summary comment"
				says[$key]=$text
			fi
		done
		for key in "${keys[@]}"; do
			printf '    %s\n' "${files[$key]}"
			printf '        %s\n' "$(printf '%s' "${says[$key]:-}" | wrap 68 '        ')"
		done
		unset files says
	done
	echo '```'
	for dir in "$top"/src/*/; do
		d=$(basename "$dir")
		[[ " ${order[*]} " == *" $d "* ]] || problem "src/$d is not in tests/check-layout.sh's order list"
	done
	for f in "$top"/src/*.[ch]; do
		[ -e "$f" ] && problem "src/$(basename "$f") lies outside the subsystem folders"
	done
}

tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
layout >"$tmp"
[ "$problems" -eq 0 ] || exit 1
new=$(cat "$tmp")
if [ "${1:-}" = --update ]; then
	awk -v b="$begin" -v e="$end" -v new="$new" '
		$0 == b { print; print new; skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$readme" >"$readme.tmp" && mv "$readme.tmp" "$readme"
	exit 0
fi
old=$(awk -v b="$begin" -v e="$end" '$0 == e { on = 0 } on; $0 == b { on = 1 }' "$readme")
if [ "$old" != "$new" ]; then
	echo "FAIL: README's src layout is not the tree's; run tests/check-layout.sh --update"
	diff <(echo "$old") <(echo "$new")
	exit 1
fi
echo "PASS: README's src layout names every file of src/, as the tree describes them"
