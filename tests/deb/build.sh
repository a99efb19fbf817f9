#!/bin/bash
# Build sagate's Debian package from the committed tree, check it with
# lintian, then install, use, remove and purge it inside a QEMU guest
# (tests/vm/vm-run: the guest's root is an overlay over the host's, so
# the host's own dpkg database is never touched).
#
#     tests/deb/build.sh [OUTDIR]
#
# OUTDIR (default: a temporary directory, removed at the end) receives
# the .deb.  DEB_BUILD_OPTIONS is passed through; tests/run sets nocheck
# because its first stage has just run the same `make check`.
# Needs root for the guest, and dpkg-dev, debhelper and lintian.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -n "$out" ] || out=$tmp/out
mkdir -p "$out"

fail() { echo "FAIL: $*"; exit 1; }

# The package is built from what git tracks (plus debian/ as it is in
# the work tree), in a copy: dpkg-buildpackage writes its results next
# to the source tree and would leave build files in the checkout.
src=$tmp/sagate
mkdir -p "$src"
(cd "$top" && git ls-files -z | tar --null -cf - -T - debian) | tar -xf - -C "$src" ||
	fail "cannot copy the source tree (is $top a git checkout?)"
echo "building the package in $src"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -40 "$tmp/build.log"
	fail "dpkg-buildpackage failed (log above)"
fi
deb=$(ls "$tmp"/sagate_*_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "dpkg-buildpackage made no sagate .deb"
cp "$deb" "$out/" && deb=$out/$(basename "$deb")
echo "PASS: built $(basename "$deb")"

# lintian: no error and no warning (info and pedantic tags are printed
# for the reader, they do not fail the test)
lintian --fail-on error,warning --info --pedantic "$deb" >"$tmp/lintian.log" 2>&1
rc=$?
grep -E '^[EWIP]:' "$tmp/lintian.log"
[ $rc -eq 0 ] || fail "lintian found errors or warnings (above)"
echo "PASS: lintian: no errors, no warnings"

exec "$top/tests/vm/vm-run" --share "$out" --share "$here" -- "$here/install-guest.sh" "$deb"
