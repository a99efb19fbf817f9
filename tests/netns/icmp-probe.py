#!/usr/bin/python3
# icmp-probe.py DST TYPE: send one ICMP message of TYPE (echo 8 or
# timestamp 13) to the IPv4 address DST and print "answered" when the
# matching reply (0 or 14) comes back within a second, else "silent".
# For tests/netns/icmp-types.sh, inside a namespace it made.
import os, select, socket, struct, sys, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

dst, typ = sys.argv[1], int(sys.argv[2])
want = {8: 0, 13: 14}[typ]
# a new identifier each run: conntrack would take a repeated one for the
# flow of an earlier request (established)
ident = os.getpid() & 0xffff
body = struct.pack("!HH", ident, 1) + (b"\0" * 12 if typ == 13 else b"sagate")
hdr = struct.pack("!BBH", typ, 0, 0) + body
pkt = struct.pack("!BBH", typ, 0, csum(hdr)) + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(pkt, (dst, 0))
end = time.time() + 1.0
while time.time() < end:
    r, _, _ = select.select([s], [], [], max(0, end - time.time()))
    if not r:
        break
    data, addr = s.recvfrom(2048)
    ihl = (data[0] & 0xf) * 4
    if addr[0] == dst and data[ihl] == want and data[ihl + 4:ihl + 6] == struct.pack("!H", ident):
        print("answered")
        sys.exit(0)
print("silent")
