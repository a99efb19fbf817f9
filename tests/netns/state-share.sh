#!/bin/bash
# The state directory readable by group sagated, the user sagated(8) runs
# as: with that group present (here a private mount namespace whose
# /etc/passwd and /etc/group are copies holding it: the host's are not
# touched), `sagate apply` in a throwaway network namespace leaves the
# directory and each generation mode 2750 of group sagated and their
# files 0640, so that user sagated reads policy.json and meta.json (and
# not the lock, and writes nothing); a generation written before (0700 /
# 0600, root's group) is shared by the next command that changes the
# firewall.  Against the code before, every read as sagated is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
sagate=${SAGATE:-$top/sagate}
. "$top/tests/lib/netns.sh"
netns_require_root
id=64990	# uid and gid of the test's user sagated (in its mount namespace only)

if [ "${1:-}" != inside ]; then
	command -v unshare >/dev/null && command -v setpriv >/dev/null ||
		{ echo "FAIL: unshare and setpriv (util-linux) are needed"; exit 1; }
	exec unshare -m --propagation private "$0" inside
fi

ns=sgt-share-$$
netns_throwaway "$ns"
chmod 755 "$tmp"	# the user may reach the state directory below it
grep -q '^sagated:' /etc/passwd /etc/group && { echo "FAIL: this host has a user or group sagated already: the test would not see its own"; exit 1; }
cp /etc/passwd "$tmp/passwd" && cp /etc/group "$tmp/group" &&
	echo "sagated:x:$id:$id:sagate test:/nonexistent:/usr/sbin/nologin" >>"$tmp/passwd" &&
	echo "sagated:x:$id:" >>"$tmp/group" &&
	mount --bind "$tmp/passwd" /etc/passwd && mount --bind "$tmp/group" /etc/group ||
	{ echo "FAIL: cannot give this mount namespace a user sagated"; exit 1; }
export SAGATE_STATE_DIR=$tmp/state
st=$SAGATE_STATE_DIR
as_sagated() { setpriv --reuid "$id" --regid "$id" --clear-groups "$@"; }
mode_of() { stat -c '%a %G' "$1"; }
apply() { ip netns exec "$ns" "$sagate" apply --no-engine "$1" >/dev/null 2>"$tmp/stderr" || { bad "apply $1: $(cat "$tmp/stderr")"; return 1; }; }
shared() {	# GEN DESC: the directory and generation GEN are sagated's to read
	local m
	m="$(mode_of "$st") | $(mode_of "$st/gen-$1") | $(mode_of "$st/gen-$1/policy.json") | $(mode_of "$st/gen-$1/meta.json")"
	[ "$m" = "2750 sagated | 2750 sagated | 640 sagated | 640 sagated" ] && ok "$2: modes and group" ||
		bad "$2: modes (dir | generation | policy.json | meta.json): $m"
	as_sagated cat "$st/gen-$1/policy.json" "$st/gen-$1/meta.json" >/dev/null 2>"$tmp/err" &&
		as_sagated readlink "$st/current" >/dev/null &&
		ok "$2: user sagated reads current, policy.json and meta.json" ||
		bad "$2: user sagated cannot read them: $(cat "$tmp/err")"
}

apply "$top/policies/db-server.json" && shared 000001 "first apply"
as_sagated touch "$st/planted" 2>/dev/null && bad "user sagated could write the state directory" ||
	ok "user sagated writes nothing there"
as_sagated cat "$st/lock" >/dev/null 2>&1 && bad "user sagated reads the lock file" ||
	ok "the lock file stays root's alone"
apply "$top/policies/web-server.json" && shared 000002 "second apply: its generation is readable at once"

# a generation written before the group existed (or by older code)
chmod 0700 "$st" "$st/gen-000002" && chgrp root "$st" "$st/gen-000002" "$st/gen-000002"/*.json &&
	chmod 0600 "$st/gen-000002"/*.json
as_sagated cat "$st/gen-000002/policy.json" >/dev/null 2>&1 && bad "the private generation is readable" ||
	ok "a generation made private is not readable by sagated"
ip netns exec "$ns" "$sagate" rollback >/dev/null 2>"$tmp/stderr" || bad "rollback: $(cat "$tmp/stderr")"
shared 000002 "the next command (rollback) shares the older generation again"
shared 000001 "and the one it went back to"
summary
