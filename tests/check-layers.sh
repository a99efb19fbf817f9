#!/bin/bash
# The layers' arrows point one way: core <- kernel <- ops <- engine.
# Read from the built libraries, not the sources: an object's undefined
# symbols are what it really calls.  The core may open and use no socket
# (so fuzzing or unit-testing it needs no kernel and no root; libmnl's
# attribute walkers, which only read a buffer, are fine), and no library
# may call one above it.  sagated links only what it uses: it reads the
# state directory but never records a policy.  Run from the build
# directory (make check).
set -u
libdir=${LAYERS_LIBDIR:-src}
layers=(core kernel ops engine)
fail=0

defined() { nm -g --defined-only "$libdir/libsagate-$1.a" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
undefined() { nm -u "$libdir/libsagate-$1.a" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u; }

for l in "${layers[@]}"; do
	[ -f "$libdir/libsagate-$l.a" ] || { echo "FAIL: $libdir/libsagate-$l.a not built"; exit 1; }
done

# 1. no socket in the core
sockets=$(undefined core | grep -E '^(socket|bind|connect|sendmsg|sendto|send|recvmsg|recvmmsg|recvfrom|recv|setsockopt|getsockopt|mnl_socket_.*|nftnl_.*|nfq_.*|nfnl_.*)$')
if [ -n "$sockets" ]; then
	echo "FAIL: the core library calls socket functions: $(echo $sockets)"
	fail=1
else
	echo "PASS: the core library calls no socket function"
fi

# 2. no call upwards
for i in "${!layers[@]}"; do
	below=${layers[$i]}
	for above in "${layers[@]:$((i + 1))}"; do
		up=$(comm -12 <(undefined "$below") <(defined "$above"))
		if [ -n "$up" ]; then
			echo "FAIL: $below calls up into $above: $(echo $up)"
			fail=1
		fi
	done
done
[ $fail -eq 0 ] && echo "PASS: no layer calls a layer above it (${layers[*]})"

# 3. the daemon holds no state writer (state_write.c) nor the bundle writer
daemon=${SAGATED:-./sagated}
syms=$(nm --defined-only "$daemon" 2>/dev/null | awk 'NF == 3 { print $3 }')
if [ -z "$syms" ]; then
	echo "FAIL: no symbols read from $daemon (not built, or stripped)"
	fail=1
elif writers=$(grep -xE 'bundle_from_policy|state_prepare' <<<"$syms"); then
	echo "FAIL: $daemon links the policy recorder: $(echo $writers)"
	fail=1
else
	echo "PASS: $daemon links no state or bundle writer"
fi
exit $fail
