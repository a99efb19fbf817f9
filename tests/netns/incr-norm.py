#!/usr/bin/env python3
"""`nft -j list table inet sagate` without what an incremental apply may
change and a full one may not (handles, counters, the table comment),
elements sorted: prints JSON that compares equal when the tables hold the
same chains, rules, sets and elements.  usage: incr-norm.py FILE"""
import json,sys
def strip(o):
    if isinstance(o,dict):
        return {k:strip(v) for k,v in o.items() if k not in ("handle","counter","packets","bytes")}
    if isinstance(o,list):
        return [strip(x) for x in o]
    return o
j=json.load(open(sys.argv[1]))["nftables"]
out=[]
for x in j:
    if "metainfo" in x: continue
    x=strip(x)
    if "table" in x: x["table"].pop("comment",None)
    if "set" in x or "map" in x:
        k="set" if "set" in x else "map"
        if "elem" in x[k]: x[k]["elem"]=sorted(x[k]["elem"],key=lambda e: json.dumps(e,sort_keys=True))
    out.append(x)
print(json.dumps(out,indent=1,sort_keys=True))
