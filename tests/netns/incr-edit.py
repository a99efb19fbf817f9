#!/usr/bin/env python3
"""Random edits of a policy, for the incremental apply test (incr-apply.sh).

usage: incr-edit.py FILE SEED   FILE is rewritten with one random edit: a
rule added, removed, its port, peer or action changed; IPv4 and IPv6
peers, single ports and ranges, so that exact and interval maps change.
FILE is created (a few rules) when it does not exist.  Prints the edit."""
import json
import os
import random
import sys

path, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)


def peer():
    k = rnd.randrange(6)
    if k == 0:
        return "10.%d.%d.%d" % (rnd.randrange(4), rnd.randrange(256), rnd.randrange(1, 255))
    if k == 1:
        return "10.%d.%d.0/24" % (rnd.randrange(4), rnd.randrange(256))
    if k == 2:
        a = rnd.randrange(1, 200)
        return "10.9.9.%d-10.9.9.%d" % (a, a + rnd.randrange(1, 50))
    if k == 3:
        return "fd00::%x" % rnd.randrange(1, 4096)
    if k == 4:
        return "fd00:%x::/48" % rnd.randrange(1, 64)
    return "fd00::1:%x-fd00::1:%x" % (1, rnd.randrange(2, 4096))


def ports():
    p = rnd.randrange(1, 60000)
    return [p] if rnd.randrange(3) else ["%d-%d" % (p, p + rnd.randrange(1, 500))]


def action():
    return rnd.choice(["permit", "permit", "block", "require-ipsec"])


def rule(n):
    return {"name": "e%d" % n, "action": action(), "peers": [peer()],
            "protocol": rnd.choice(["tcp", "udp"]), "ports": ports()}


if os.path.exists(path):
    with open(path) as f:
        pol = json.load(f)
else:
    pol = {"version": 1, "description": "random edits", "rules": []}
    for i in range(6):
        pol["rules"].append(rule(i))
rules = pol["rules"]
nxt = pol.setdefault("description", "random edits")
counter = max([int(r["name"][1:]) for r in rules] + [0]) + 1
k = rnd.randrange(5)
if k == 0 or len(rules) < 3:
    rules.insert(rnd.randrange(len(rules) + 1), rule(counter))
    what = "add e%d" % counter
elif k == 1 and len(rules) > 3:
    r = rules.pop(rnd.randrange(len(rules)))
    what = "remove " + r["name"]
elif k == 2:
    r = rnd.choice(rules)
    r["ports"] = ports()
    what = "port of " + r["name"]
elif k == 3:
    r = rnd.choice(rules)
    r["peers"] = [peer()] + ([peer()] if rnd.randrange(2) else [])
    what = "peer of " + r["name"]
else:
    r = rnd.choice(rules)
    r["action"] = action()
    what = "action of " + r["name"]
with open(path + ".tmp", "w") as f:
    json.dump(pol, f, indent=1)
os.rename(path + ".tmp", path)
print(what)
