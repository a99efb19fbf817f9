#!/bin/bash
# Runs inside the QEMU guest booted with systemd by tests/vm/boot-restore.sh
# (see there): one boot's checks of sagate.service, and what the next boot
# is to find.  The state directory is a disk that outlives the boots,
# mounted on /var/lib/sagate; the notes a later boot compares against go
# to a second one, on /var/lib/boottest.  sagate and the units are the
# installed ones (`make install` into the guest's root).
#
#   boot-restore-guest.sh check N   the checks of boot N (1-4)
#   boot-restore-guest.sh link-up   run by sagate-boottest-link.service,
#                                   ordered like a network manager: note
#                                   whether table inet sagate is there
#                                   when the first interface but lo comes
#                                   up, then bring one up
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
run=/run/sagate-boottest
notes=/var/lib/boottest
state=/var/lib/sagate

if [ "${1:-}" = link-up ]; then
	mkdir -p "$run"
	read -r now _ </proc/uptime
	echo "$now" >"$run/link-time"
	ip -o link show up | awk -F': ' '{ print $2 }' >"$run/up-before"
	if nft list table inet sagate >/dev/null 2>&1; then echo yes; else echo no; fi >"$run/table-at-link-up"
	ip link add sgbt0 type dummy && ip link set sgbt0 up
	exit
fi
[ "${1:-}" = check ] && [ -n "${2:-}" ] || { echo "usage: $0 check N | link-up" >&2; exit 2; }
boot=$2
. "$top/tests/lib/netns.sh"
cd "$top" || exit 1

say() { echo "boot $boot: $*"; }
# systemd's monotonic timestamps, in microseconds
mono() { systemctl show -p "$2" --value "$1"; }
journal() { journalctl -b -o cat -u "$1" --no-pager; }
holds() {	# UNIT TEXT DESC: the unit's log of this boot holds TEXT
	if journal "$1" | grep -qF -- "$2"; then ok "$3"; else bad "$3"; journal "$1" | tail -n 20; fi
}
ruleset() { nft -s list table inet sagate 2>&1; }
same_table() {	# NOTE DESC: the live table is the one noted earlier
	if ruleset | diff -u "$notes/$1" - >/tmp/table.diff; then ok "$2"; else bad "$2"; head -n 20 /tmp/table.diff; fi
}
status_is() {	# GEN DESC: sagate status: generation GEN applied and in the kernel
	local st
	st=$(sagate --json status)
	if [ "$(jq -r '[.applied.generation, .kernel, .pending_confirm == null] | @tsv' <<<"$st")" = \
		"$(printf '%s\tmatches the applied policy\ttrue' "$1")" ]; then
		ok "$2"
	else
		bad "$2: $st"
	fi
}
unit_ok() {	# UNIT DESC
	local r
	r="$(mono "$1" Result) $(mono "$1" ActiveState) $(mono "$1" ExecMainStatus)"
	[ "$r" = "success active 0" ] && ok "$2" || bad "$2 ($1: result, state, status: $r)"
}
unit_failed() {	# UNIT DESC
	systemctl is-failed -q "$1" && ok "$2" || bad "$2 ($1 is $(systemctl is-active "$1"))"
}
# When the boot's units ran, in seconds since the kernel started.
timings() {
	local b e d m
	b=$(mono sagate.service ExecMainStartTimestampMonotonic)
	e=$(mono sagate.service ExecMainExitTimestampMonotonic)
	d=$(mono sagated.service ActiveEnterTimestampMonotonic)
	m=$(mono multi-user.target ActiveEnterTimestampMonotonic)
	# (the last run: starting sagated while sagate.service is not active
	# runs it again, so a failed one runs once per restart of sagated)
	say "$(awk -v b="$b" -v e="$e" -v d="$d" -v m="$m" 'function t(us) { return us > 0 ? sprintf("%.1f", us / 1e6) : "-" }
		BEGIN { printf "seconds after the kernel started: sagate restore ran %s-%s, sagated ready %s, multi-user.target %s",
			t(b), t(e), t(d), t(m) }')"
	say "sagate restore ran $(journalctl -b -o cat --no-pager _SYSTEMD_UNIT=sagate.service _COMM=sagate | grep -c '^restored generation\|error: ') time(s)"
}

# proc_field PID FIELD: the first value of a line of /proc/PID/status
proc_field() { awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status"; }
# privileges_are PID WHO: user sagated (not root), and CAP_NET_ADMIN
# (bit 12) alone in its effective, permitted and bounding sets
privileges_are() {
	local pid=$1 who=$2 uid want caps one=0000000000001000
	uid=$(proc_field "$pid" Uid)
	want=$(id -u sagated 2>/dev/null)
	[ -n "$uid" ] && [ "$uid" != 0 ] && [ "$uid" = "$want" ] &&
		ok "$who runs as user sagated (uid $uid), not root" ||
		bad "$who runs as uid ${uid:-?} (user sagated: ${want:-none})"
	caps="$(proc_field "$pid" CapEff) $(proc_field "$pid" CapPrm) $(proc_field "$pid" CapBnd)"
	[ "$caps" = "$one $one $one" ] &&
		ok "$who holds CAP_NET_ADMIN alone (effective, permitted, bounding: $one)" ||
		bad "$who: CapEff CapPrm CapBnd are $caps, not CAP_NET_ADMIN alone"
	[ "$(proc_field "$pid" NoNewPrivs)" = 1 ] && ok "$who: no_new_privs" ||
		bad "$who: NoNewPrivs $(proc_field "$pid" NoNewPrivs)"
}
# decides: a PostgreSQL flow of an app server over an AES-GCM ESP SA
# reaches the queue of sagated.service (this boot's root namespace holds
# the table and 10.77.0.10) and is accepted; lib-site.sh's SAs, with the
# root namespace named for `ip -n`
decides() {
	local db=sgbt-root net=sgbt-app m mac_db mac_net r
	. "$top/tests/lib/topology.sh"
	. "$top/tests/vm/lib-site.sh"
	for m in esp4 veth xfrm_user; do modprobe "$m" || bad "modprobe $m"; done
	mkdir -p /run/netns && touch /run/netns/$db && mount --bind /proc/self/ns/net /run/netns/$db &&
		ip netns add $net && ip link add veth-db type veth peer name veth-net netns $net &&
		ip addr add $dbaddr/24 dev veth-db && ip link set veth-db up &&
		ip -n $net link set lo up && ip -n $net addr add $app/24 dev veth-net &&
		ip -n $net link set veth-net up || bad "the app server's namespace"
	mac_db=$(ip link show veth-db | awk '/link\/ether/ { print $2 }')
	mac_net=$(ip -n $net link show veth-net | awk '/link\/ether/ { print $2 }')
	ip -n $net neigh replace $dbaddr dev veth-net lladdr "$mac_db" nud permanent
	ip neigh replace $app dev veth-db lladdr "$mac_net" nud permanent
	sa_up || bad "ESP (AES-GCM) SAs between the app server and this host"
	r=$(tcp_probe $net $app $dbaddr 5432)
	[ "$r" = open ] && ok "PostgreSQL over AES-GCM ESP reached this host: accepted" ||
		bad "PostgreSQL over AES-GCM ESP: $r"
	journal sagated.service | grep '"verdict":"accept"' | grep -q '"rule":"postgresql"' &&
		ok "sagated.service logged its accept under rule postgresql" ||
		bad "no accept in sagated's log: $(journal sagated.service | tail -n 5)"
	# sagated started by hand as root (another namespace, queue and run
	# directory: no table queues to it) gives up root itself
	SAGATE_RUN_DIR=/run/sgbt-hand ip netns exec $net sagated --policy policies/db-server.json \
		--queue 40 >/tmp/sgbt-hand.log 2>&1 &
	m=$!
	for r in $(seq 1 100); do grep -q '"event":"ready"' /tmp/sgbt-hand.log && break; sleep 0.1; done
	grep -q '"event":"ready"' /tmp/sgbt-hand.log && ok "sagated started by hand as root is ready" ||
		bad "sagated by hand: $(cat /tmp/sgbt-hand.log)"
	privileges_are "$m" "sagated started by hand as root"
	kill "$m"
	wait "$m" && ok "and stops with exit 0" || bad "sagated by hand exited $?"
	sa_down
	ip link del veth-db
	ip netns del $net
	umount /run/netns/$db && rm -f /run/netns/$db
}

case $boot in
1)
	# A fresh state disk: nothing was ever applied.
	timings
	unit_failed sagate.service "boot 1, nothing applied: sagate.service failed"
	holds sagate.service "nothing to restore: no policy was ever applied" \
		"its log says there is nothing to restore"
	holds sagate.service 'apply one with `sagate apply FILE`' "and what to do"
	nft list table inet sagate >/dev/null 2>&1 && bad "a table appeared from nowhere" ||
		ok "no table inet sagate"
	# What an admin does once: apply (engine mode), confirm.
	out=$(sagate apply --confirm 600 policies/db-server.json 2>&1)
	grep -q "engine mode, generation 1" <<<"$out" && ok "apply db-server.json in engine mode" ||
		bad "apply: $out"
	sagate confirm >/dev/null && ok "and confirm it" || bad "confirm"
	ruleset >"$notes/db.nft"
	status_is 1 "status: generation 1 in the kernel"
	;;
2)
	timings
	# a) the confirmed policy, back before any interface but lo was up
	unit_ok sagate.service "sagate.service succeeded"
	holds sagate.service "restored generation 1 (engine mode, applied from $top/policies/db-server.json)" \
		"its log names the generation restored"
	[ "$(cat "$run/table-at-link-up" 2>/dev/null)" = yes ] &&
		ok "table inet sagate was in the kernel when the first interface came up" ||
		bad "the table was not there when the first interface came up"
	[ "$(cat "$run/up-before" 2>/dev/null)" = lo ] &&
		ok "until then only lo was up" || bad "interfaces up before: $(cat "$run/up-before" 2>/dev/null)"
	s=$(mono sagate.service ExecMainExitTimestampMonotonic)
	l=$(mono sagate-boottest-link.service ExecMainStartTimestampMonotonic)
	[ "$s" -gt 0 ] && [ "$l" -gt "$s" ] &&
		ok "sagate.service was done ($s us) before the link came up ($l us)" ||
		bad "order: sagate.service done at $s us, link up at $l us"
	d=$(mono sagated.service ActiveEnterTimestampMonotonic)
	unit_ok sagated.service "sagated.service is running"
	[ "$d" -gt "$s" ] && ok "sagated was READY ($d us) after the table was loaded" ||
		bad "sagated ready at $d us, sagate.service done at $s us"
	holds sagated.service '"event":"ready"' "sagated's log: ready"
	holds sagated.service "$state/gen-000001/policy.json" "on generation 1"
	same_table db.nft "the kernel holds exactly the table applied at boot 1"
	status_is 1 "status: the kernel holds the applied policy, generation 1"
	# sagated.service without root, and still deciding
	d=$(mono sagated.service MainPID)
	privileges_are "$d" "sagated.service"
	[ "$(proc_field "$d" Seccomp)" = 2 ] && ok "sagated.service: a system call filter" ||
		bad "sagated.service: Seccomp $(proc_field "$d" Seccomp)"
	decides
	# c), first half: an apply --confirm that the power-off interrupts
	out=$(sagate apply --confirm 600 policies/web-server.json 2>&1)
	grep -q "applied: .*generation 2)" <<<"$out" &&
		ok "apply --confirm 600 web-server.json (handed over to sagated, not root), then power off" ||
		bad "apply --confirm: $out"
	;;
3)
	timings
	# c) the unconfirmed apply is rolled back at boot
	unit_ok sagate.service "sagate.service succeeded"
	holds sagate.service "generation 2 was applied with --confirm and never confirmed: rolled back to generation 1" \
		"its log says the unconfirmed generation 2 was rolled back"
	holds sagate.service "restored generation 1 " "and generation 1 restored"
	same_table db.nft "the kernel holds the confirmed policy (db-server)"
	status_is 1 "status: generation 1 current, no confirm pending"
	[ "$(sagate --json status | jq .previous_generation)" = null ] &&
		ok "the unconfirmed generation is no rollback target" || bad "previous: $(sagate --json status)"
	[ "$(sagate --json history | jq -c '.generations[] | select(.generation == 2) | [.outcome, .rolled_back.by, .rolled_back.command]')" = \
		'["rolled-back","expiry","restore"]' ] &&
		ok "history: generation 2 rolled back by expiry, at boot" || bad "history: $(sagate --json history)"
	holds sagated.service "$state/gen-000001/policy.json" "sagated serves generation 1"
	# b), first half: a confirmed apply whose file is then damaged
	sagate apply policies/web-server.json >/dev/null 2>&1 && ok "apply web-server.json (generation 3)" ||
		bad "apply web-server.json"
	printf '{"version": 1, "rules": [{"name": "all", "action": "permit"}]}\n' >"$state/gen-000003/policy.json"
	sync
	ok "generation 3's policy.json overwritten with another valid policy"
	;;
4)
	timings
	# b) the damaged generation falls back to the one before it, loudly
	unit_ok sagate.service "sagate.service succeeded"
	holds sagate.service "warning: generation 3 is damaged (policy.json does not match the digest meta.json records" \
		"its log warns that generation 3 is damaged, and why"
	holds sagate.service "restoring generation 1, the one before it" "and that generation 1 is restored instead"
	journalctl -b -o cat -u sagate.service -p warning --no-pager | grep -q "generation 3 is damaged" &&
		ok "the warning is logged at priority warning or above" || bad "the warning's priority"
	same_table db.nft "the kernel holds generation 1 (db-server)"
	status_is 1 "status: generation 1 current and in the kernel"
	holds sagated.service "$state/gen-000001/policy.json" "sagated serves generation 1"
	# stop leaves the table; with nothing usable the unit fails and says what to do
	systemctl stop sagate.service
	same_table db.nft "systemctl stop sagate leaves the table in the kernel"
	mkdir -p "$run" && cp "$state/gen-000001/policy.json" "$run/gen1.json"
	echo garbage >"$state/gen-000001/policy.json"
	systemctl start sagate.service 2>/dev/null
	unit_failed sagate.service "with generations 1 and 3 damaged, sagate.service fails"
	holds sagate.service "no usable generation to restore: nothing was loaded" "its log says nothing was loaded"
	holds sagate.service 'apply a policy again with `sagate apply FILE`' "and what to do"
	same_table db.nft "and the kernel keeps the table it had"
	cp "$run/gen1.json" "$state/gen-000001/policy.json"
	# d) the confirm timer under systemd: a service of its own, so that
	# the end of the admin's session (here: the scope apply ran in,
	# stopped as logind stops a session's) leaves it, and it rolls back
	systemd-run --scope --unit=sgbt-admin --quiet -- sh -c \
		"sagate apply --confirm 10 policies/web-server.json >$run/admin.out 2>&1; touch $run/admin.done; exec sleep 600" &
	for _ in $(seq 1 600); do [ -e "$run/admin.done" ] && break; sleep 0.1; done
	grep -q "generation 4" "$run/admin.out" 2>/dev/null &&
		ok "apply --confirm 10 web-server.json in a scope of its own (as a login session is)" ||
		bad "apply --confirm in a scope: $(cat "$run/admin.out" 2>&1)"
	unit=$(systemctl list-units --plain --no-legend 'sagate-confirm-*' | awk '{ print $1 }')
	wpid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null)
	[ -n "$unit" ] && [ "${wpid:-0}" -gt 0 ] && ok "the watcher runs as $unit" ||
		bad "no sagate-confirm-*.service runs: $(systemctl list-units --plain --no-legend 'sag*')"
	cg=$(cat "/proc/${wpid:-0}/cgroup" 2>/dev/null)
	grep -q "/$unit\$" <<<"$cg" && ! grep -q sgbt-admin <<<"$cg" &&
		ok "in its own unit's cgroup, not the caller's scope" || bad "the watcher's cgroup: $cg"
	systemctl stop sgbt-admin.scope
	! systemctl is-active -q sgbt-admin.scope && [ "${wpid:-0}" -gt 0 ] && kill -0 "$wpid" 2>/dev/null &&
		ok "stopping the caller's scope leaves the watcher alive" || bad "the watcher died with the scope"
	for _ in $(seq 1 600); do
		[ "$(sagate --json status | jq -r '.rolled_back.generation // empty')" = 4 ] && break
		sleep 0.1
	done
	status_is 1 "at its deadline the watcher rolled back to generation 1"
	[ "$(sagate --json status | jq -r '.rolled_back.generation')" = 4 ] &&
		ok "status: generation 4 was not confirmed, rolled back" || bad "status: $(sagate status 2>&1)"
	for _ in $(seq 1 100); do systemctl is-active -q "$unit" || break; sleep 0.1; done
	! systemctl is-active -q "$unit" && ok "and its service ended" || bad "$unit still runs"
	;;
*)
	echo "no boot $boot" >&2
	exit 2
	;;
esac
summary
