#!/bin/bash
# check-includes.sh: a policy or an include that names something other
# than a regular file is refused at once, with the kind of file and the
# place that named it, and never opened; a file that is not JSON is
# refused without a word of its content.  The cases that need a FIFO
# made for the test live here; the rest are in tests/bad/.
#
# Every sagate run gets 10 seconds: one that waits on a FIFO fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
sagate=${SAGATE:-$top/sagate}
case $sagate in /*) ;; *) sagate=$PWD/$sagate ;; esac	# the cases run in $tmp
. "$top/tests/lib/netns.sh"	# ok, bad, summary; no root needed here
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 99
mkfifo fifo || exit 99
ln -s fifo link-to-fifo || exit 99
export SAGATE_STATE_DIR=$tmp/state

# policy.json including NAME, with one rule
including() {
	printf '{ "version": 1, "include": ["%s"],\n  "rules": [ { "name": "ssh", "action": "permit", "protocol": "tcp", "ports": [22] } ] }\n' \
		"$1" >policy.json
}

# expect DESC EXPECTED-OUTPUT ARGS...: exit status 1 within the time
# limit, exactly this output (check writes it on stdout, the others on
# stderr)
expect() {
	local desc=$1 want=$2 rc
	shift 2
	timeout 10 "$sagate" "$@" >out 2>&1 </dev/null
	rc=$?
	if [ "$rc" -eq 124 ]; then
		bad "$desc: sagate $* still running after 10 s"
	elif [ "$rc" -ne 1 ]; then
		bad "$desc: sagate $*: exit status $rc, expected 1: $(cat out)"
	elif [ "$(cat out)" != "$want" ]; then
		diff -u <(printf '%s\n' "$want") out
		bad "$desc"
	else
		ok "$desc"
	fi
}

including fifo
expect "check: an include naming a FIFO" \
	"policy.json: include[0]: error: ./fifo is not a regular file (a FIFO)
policy.json: 1 error, 0 warnings; nothing would be applied" check policy.json
expect "compile: an include naming a FIFO" \
	"policy.json: include[0]: error: ./fifo is not a regular file (a FIFO)" compile policy.json
# apply reads the policy before it talks to the kernel: no root needed
expect "apply: an include naming a FIFO" \
	"policy.json: include[0]: error: ./fifo is not a regular file (a FIFO)
policy.json: not applied; the live firewall is unchanged" apply --dry-run policy.json

including link-to-fifo
expect "an include naming a symbolic link to a FIFO" \
	"policy.json: include[0]: error: ./link-to-fifo is not a regular file (a FIFO)
policy.json: 1 error, 0 warnings; nothing would be applied" check policy.json

including /dev/zero
expect "an include naming a device" \
	"policy.json: include[0]: error: /dev/zero is not a regular file (a character device)
policy.json: 1 error, 0 warnings; nothing would be applied" check policy.json

expect "the policy itself a FIFO" \
	"fifo: error: fifo is not a regular file (a FIFO)
fifo: 1 error, 0 warnings; nothing would be applied" check fifo

# /etc/passwd begins "root:": its name may be said, never its content
including /etc/passwd
expect "an include of /etc/passwd" \
	"/etc/passwd: error: invalid JSON at line 1, column 4: '[' or '{' expected near the text ending there
policy.json: 1 error, 0 warnings; nothing would be applied" check policy.json
if grep -q root out; then
	bad "an include of /etc/passwd quotes none of it: $(cat out)"
else
	ok "an include of /etc/passwd quotes none of it"
fi
expect "the policy itself /etc/passwd" \
	"/etc/passwd: error: invalid JSON at line 1, column 4: '[' or '{' expected near the text ending there
/etc/passwd: 1 error, 0 warnings; nothing would be applied" check /etc/passwd

summary
