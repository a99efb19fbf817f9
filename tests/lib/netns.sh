# Shared by the host-kernel namespace tests: root check, PASS/FAIL
# counting and the summary line.  Source it, then call netns_require_root.
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
