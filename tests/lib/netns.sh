# Shared by the test scripts: PASS/FAIL counting and the summary line;
# for the host-kernel namespace tests also the root check and throwaway
# namespaces.  Source it; a namespace test then calls netns_require_root.
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
# Exit 77 (automake's SKIP) with a loud reason when not root.
netns_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: $(basename "$0") needs root (network namespaces, nf_tables)" >&2
		exit 77
	fi
}
# netns_throwaway NAME...: make these network namespaces and a scratch
# directory $tmp; all of them go when the script exits.  Exit 1 when a
# namespace cannot be made.
netns_throwaway() {
	netns_names=$*
	tmp=$(mktemp -d) || exit 99
	trap 'for n in $netns_names; do ip netns del "$n" 2>/dev/null; done; rm -rf "$tmp"' EXIT
	for n in "$@"; do
		ip netns add "$n" || { echo "FAIL: cannot create network namespace $n"; exit 1; }
	done
}
