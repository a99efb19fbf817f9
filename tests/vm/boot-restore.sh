#!/bin/bash
# Runs on the host (it boots the guest itself): sagate.service across
# real reboots.  Debian's kernel under QEMU with the host's systemd as
# PID 1 (tests/vm/vm-run --systemd), sagate installed into the guest's
# root (the package of SAGATE_VM_DEBS, which vm-run installs at every
# boot, or else `make install`) and both units enabled by `systemctl
# enable` (README's two commands), and a state directory that outlives the boots:
# a disk image, ext4, mounted on /var/lib/sagate by a mount unit.
#
#   boot 1  fresh disk: sagate.service fails and says what to do; then
#           db-server.json is applied (engine mode) and confirmed
#   boot 2  the table is in the kernel before the first interface but lo
#           comes up, sagated is READY after it, and the kernel holds what
#           was applied; then an apply --confirm 600, and power off
#   boot 3  that apply is rolled back (and recorded); then a confirmed
#           apply whose policy.json is overwritten
#   boot 4  the damaged generation falls back to the one before it, with
#           a warning in the journal; `systemctl stop` leaves the table;
#           with every generation damaged the unit fails and says what to do
# The checks are tests/vm/boot-restore-guest.sh's, one boot each.
#
# Usage: tests/vm/boot-restore.sh [BUILD_DIR]
#   BUILD_DIR: a configured and built tree to `make install` from (default:
#   the top of the source tree).  Needs root; exit 0 only when every check
#   of every boot passed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top}" && pwd) || exit 1
guest=$top/tests/vm/boot-restore-guest.sh
[ "$(id -u)" -eq 0 ] || { echo "FAIL: $(basename "$0") needs root (make install into the guest tree, qemu)"; exit 1; }
for c in mkfs.ext4 truncate systemctl; do
	command -v "$c" >/dev/null || { echo "FAIL: $c is missing (e2fsprogs, coreutils, systemd)"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/sagate-boot.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
root=$work/root

# sagate installed, and enabled as README says.  The package (vm-run
# installs SAGATE_VM_DEBS at every boot) is unpacked here only so that
# systemctl can read its units' [Install] sections: the links it makes
# go into the guest with the test's own units.
if [ -n "${SAGATE_VM_DEBS:-}" ]; then
	inst=$work/pkg
	IFS=: read -r -a debs <<<"$SAGATE_VM_DEBS"
	for d in "${debs[@]}"; do
		dpkg-deb -x "$d" "$inst" || { echo "FAIL: dpkg-deb -x $d"; exit 1; }
	done
else
	inst=$root
	make -s -C "$build" install DESTDIR="$root" >"$work/install.log" 2>&1 ||
		{ cat "$work/install.log"; echo "FAIL: make install DESTDIR=$root"; exit 1; }
fi
for u in sagate.service sagated.service; do
	[ -n "$(find "$inst" -name "$u")" ] ||
		{ echo "FAIL: the install put no $u (configured --with-systemdunitdir=no?)"; exit 1; }
done
systemctl --root="$inst" enable sagate.service sagated.service >"$work/enable.log" 2>&1 ||
	{ cat "$work/enable.log"; echo "FAIL: systemctl --root enable"; exit 1; }
if [ "$inst" != "$root" ]; then
	mkdir -p "$root/etc/systemd" && cp -a "$inst/etc/systemd/system" "$root/etc/systemd/" ||
		{ echo "FAIL: cannot copy the enable links"; exit 1; }
fi

# the test's own units: the disks, and a stand-in for a network manager
# (ordered after network-pre.target, as systemd-networkd and ifupdown are)
units=$root/etc/systemd/system
mkdir -p "$units/local-fs.target.wants" "$units/multi-user.target.wants"
mount_unit() {	# DEVICE WHERE
	local name
	name=$(systemd-escape -p --suffix=mount "$2")
	cat >"$units/$name" <<EOF
[Unit]
Description=boot test: $1 on $2, kept across boots

[Mount]
What=$1
Where=$2
Type=ext4
EOF
	ln -s "../$name" "$units/local-fs.target.wants/$name"
}
mount_unit /dev/vda /var/lib/sagate
mount_unit /dev/vdb /var/lib/boottest
cat >"$units/sagate-boottest-link.service" <<EOF
[Unit]
Description=boot test: the first network interface, brought up as a network manager would
DefaultDependencies=no
After=network-pre.target
Before=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash $guest link-up
EOF
ln -s ../sagate-boottest-link.service "$units/multi-user.target.wants/"

truncate -s 32M "$work/state.img" && mkfs.ext4 -q -F -L sagate-state "$work/state.img" &&
	truncate -s 8M "$work/notes.img" && mkfs.ext4 -q -F -L boottest "$work/notes.img" ||
	{ echo "FAIL: cannot make the disk images"; exit 1; }

failed=0 passed=0 boots_failed=0
t_all=$SECONDS
for boot in 1 2 3 4; do
	echo "=== boot $boot"
	t0=$SECONDS
	"$top/tests/vm/vm-run" --systemd --timeout 600 --disk "$work/state.img" --disk "$work/notes.img" \
		--root-add "$root" -- "$guest" check "$boot" 2>&1 | tee "$work/boot$boot.log"
	rc=${PIPESTATUS[0]}
	p=$(grep -c '^PASS: ' "$work/boot$boot.log")
	f=$(grep -c '^FAIL: ' "$work/boot$boot.log")
	passed=$((passed + p)) failed=$((failed + f))
	echo "=== boot $boot: $p passed, $f failed, exit $rc, $((SECONDS - t0)) s"
	if [ "$rc" -ne 0 ]; then
		boots_failed=$((boots_failed + 1))
		[ "$f" -gt 0 ] || { echo "FAIL: boot $boot ended without its checks (exit $rc)"; failed=$((failed + 1)); }
	fi
done
echo "boot-restore: $passed passed, $failed failed over 4 boots in $((SECONDS - t_all)) s"
[ "$failed" -eq 0 ] && [ "$boots_failed" -eq 0 ]
