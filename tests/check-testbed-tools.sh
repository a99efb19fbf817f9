#!/bin/bash
# check_testbed_tools (tests/lib/deps.sh), which tests/run and demo/run
# call before anything boots, against a fake charon plugin directory
# (SAGATE_IPSEC_PLUGIN_DIR) and a program table of fake programs: a
# missing plugin or program must be named with its Debian package, and
# with nothing missing it must pass.  Also: the plugin table is the list
# the test bed's charon loads, and every row of both tables is well
# formed.  Needs no root, and none of the test bed's packages.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$top/tests/lib/deps.sh"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fake_plugins DIR [LEFT-OUT]: an empty .so in DIR for every plugin the
# test bed loads, but LEFT-OUT
fake_plugins() {
	local p
	mkdir -p "$1"
	for p in $(ike_plugin_names); do
		[ "$p" = "${2:-}" ] || : >"$1/libstrongswan-$p.so"
	done
}
# expect DESC WANT-STATUS WANT-STDERR ARGS...: check_testbed_tools ARGS
# exits WANT-STATUS with exactly WANT-STDERR on stderr and nothing on stdout
expect() {
	local desc=$1 want_rc=$2 want=$3 rc
	shift 3
	check_testbed_tools "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq "$want_rc" ] && [ "$(cat "$tmp/err")" = "$want" ] && [ ! -s "$tmp/out" ]; then
		ok
	else
		bad "$desc: want status $want_rc and stderr:"
		sed 's/^/    /' <<<"$want"
		echo "  got status $rc and stderr:"
		sed 's/^/    /' "$tmp/err"
		[ ! -s "$tmp/out" ] || { echo "  and stdout:"; sed 's/^/    /' "$tmp/out"; }
	fi
}

# fake programs: the machine running make check need not have them
mkdir -p "$tmp/bin" "$tmp/pg/15/bin"
for f in "$tmp/bin/charon" "$tmp/bin/qemu" "$tmp/pg/15/bin/initdb"; do
	printf '#!/bin/sh\n' >"$f" && chmod 755 "$f"
done
real_programs=("${SAGATE_TESTBED_PROGRAMS[@]}")
SAGATE_TESTBED_PROGRAMS=(
	"$tmp/bin/qemu qemu-system-x86 demo"
	"$tmp/bin/charon strongswan-charon tests"
	"$tmp/pg/*/bin/initdb postgresql-15 tests"
)

export SAGATE_IPSEC_PLUGIN_DIR=$tmp/lacking
fake_plugins "$SAGATE_IPSEC_PLUGIN_DIR" curve25519
expect "a plugin directory without curve25519" 1 \
"missing strongSwan plugin libstrongswan-curve25519.so (in $tmp/lacking): install the Debian package libstrongswan-extra-plugins
the test bed cannot run without them: apt-get install libstrongswan-extra-plugins"
expect "demo/run's part needs no plugin" 0 "" demo

SAGATE_IPSEC_PLUGIN_DIR=$tmp/complete
fake_plugins "$SAGATE_IPSEC_PLUGIN_DIR"
expect "every plugin and program there" 0 ""

# a program missing (and one not executable), with a plugin: each named
# with its package, the packages once each in the apt-get line
rm "$tmp/bin/charon" "$tmp/complete/libstrongswan-vici.so"
chmod 644 "$tmp/pg/15/bin/initdb"
expect "charon and initdb missing, and the vici plugin" 1 \
"missing program $tmp/bin/charon: install the Debian package strongswan-charon
missing program $tmp/pg/*/bin/initdb: install the Debian package postgresql-15
missing strongSwan plugin libstrongswan-vici.so (in $tmp/complete): install the Debian package strongswan-swanctl
the test bed cannot run without them: apt-get install postgresql-15 strongswan-charon strongswan-swanctl"
expect "demo/run's part is all there" 0 "" demo
rm "$tmp/bin/qemu"
expect "demo/run's part without qemu" 1 \
"missing program $tmp/bin/qemu: install the Debian package qemu-system-x86
the test bed cannot run without them: apt-get install qemu-system-x86" demo

# The tables themselves: charon's `load =` in lib-ike.sh is this list,
# and every row is "PLUGIN PACKAGE" / "PATH PACKAGE demo|tests".
grep -q '^	*load = \$(ike_plugin_names)$' "$top/tests/vm/lib-ike.sh" && ok ||
	bad "tests/vm/lib-ike.sh: charon's load = is not \$(ike_plugin_names)"
case " $(ike_plugin_names) " in
*" curve25519 "*) ok ;;
*) bad "curve25519 (the x25519 of the test bed's IKE proposals) is not in SAGATE_IKE_PLUGINS" ;;
esac
for e in "${SAGATE_IKE_PLUGINS[@]}"; do
	[[ $e =~ ^[a-z0-9-]+\ [a-z0-9.+-]+$ ]] && ok || bad "SAGATE_IKE_PLUGINS row '$e'"
done
for e in "${real_programs[@]}"; do
	[[ $e =~ ^/[^\ ]+\ [a-z0-9.+-]+\ (demo|tests)$ ]] && ok || bad "SAGATE_TESTBED_PROGRAMS row '$e'"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
