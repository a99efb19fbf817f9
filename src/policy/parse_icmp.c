/* parse_icmp: a match's "icmp-types", beside "protocol", in a rule or a
 * service definition, into the service keys of those types. */
#include "config.h"

#include "icmp.h"
#include "parse.h"
#include "parse_int.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ICMP_TYPES_MAX 64

/* The protocols of keys when each is all of ICMP or ICMPv6: a mask,
 * 1 for icmp, 2 for icmpv6; 0 (after reporting) for anything else. */
static unsigned icmp_protos(struct pctx *c, const struct key_range *k, size_t n,
			    const char *file, const char *path, const char *rule)
{
	unsigned mask = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned p = KEY_PROTO(k[i].lo);

		if (KEY_PROTO(k[i].hi) != p || !icmp_is_icmp(p)) {
			perr(c, file, path, rule,
			     "\"icmp-types\" needs protocol \"icmp\" or \"icmpv6\" (or both), not %s%s%s",
			     KEY_PROTO(k[i].hi) != p ? "\"any\"" : "\"",
			     KEY_PROTO(k[i].hi) != p ? "" : model_proto_name(p) ?
			     model_proto_name(p) : "?",
			     KEY_PROTO(k[i].hi) != p ? "" : "\"");
			return 0;
		}
		mask |= p == 1 ? 1 : 2;
	}
	return mask;
}

/* One entry of the list: its type for proto, or -1 after reporting. */
static int one_type(struct pctx *c, json_t *e, unsigned proto, unsigned mask,
		    const char *file, const char *path, const char *rule)
{
	const char *s = json_string_value(e), *hint;
	unsigned other = proto == 1 ? 58 : 1;
	char list[512];
	int t;

	if (json_is_integer(e)) {
		json_int_t v = json_integer_value(e);

		if (mask == 3) {
			perr(c, file, path, rule,
			     "type number %lld means one message in icmp and another in icmpv6: name the type, or give one protocol",
			     (long long)v);
			return -1;
		}
		if (v < 0 || v > ICMP_TYPE_MAX) {
			perr(c, file, path, rule, "icmp type %lld is outside 0-255", (long long)v);
			return -1;
		}
		return (int)v;
	}
	if (!s) {
		perr(c, file, path, rule, "expected an ICMP type name or number, got %s",
		     pjson_type(e));
		return -1;
	}
	if ((t = icmp_type_number(proto, s)) >= 0)
		return t;
	if (!(mask & (other == 1 ? 1 : 2)) && icmp_type_number(other, s) >= 0) {
		perr(c, file, path, rule, "\"%s\" is an %s type, not an %s one", s,
		     model_proto_name(other), model_proto_name(proto));
		return -1;
	}
	if ((hint = icmp_type_suggest(proto, s))) {
		perr(c, file, path, rule, "unknown %s type \"%s\" (did you mean \"%s\"?)",
		     model_proto_name(proto), s, hint);
		return -1;
	}
	icmp_type_list(list, sizeof(list), proto);
	perr(c, file, path, rule, "unknown %s type \"%s\" (expected a number 0-255 or one of %s)",
	     model_proto_name(proto), s, list);
	return -1;
}

/* "protocol" with "icmp-types": one key per protocol and type. */
static bool icmp_keys(struct pctx *c, json_t *proto, json_t *types, const char *file,
		      const char *path, const char *rule, struct key_range **keys,
		      size_t *nkeys)
{
	char tpath[600];
	json_t *arr, *e;
	unsigned mask;
	size_t i, cap = 0;
	bool ok = true;

	snprintf(tpath, sizeof(tpath), "%s%sicmp-types", path, *path ? "." : "");
	if (!proto) {
		perr(c, file, tpath, rule,
		     "\"icmp-types\" needs \"protocol\": \"icmp\", \"icmpv6\" or both");
		return false;
	}
	if (!pkeys_parse(c, proto, NULL, file, path, rule, keys, nkeys))
		return false;
	mask = icmp_protos(c, *keys, *nkeys, file, tpath, rule);
	free(*keys);
	*keys = NULL;
	*nkeys = 0;
	if (!mask)
		return false;
	arr = json_is_array(types) ? json_incref(types) : json_pack("[O]", types);
	if (!arr || json_array_size(arr) == 0 || json_array_size(arr) > ICMP_TYPES_MAX) {
		perr(c, file, tpath, rule, "expected 1-%d ICMP type names or numbers",
		     ICMP_TYPES_MAX);
		json_decref(arr);
		return false;
	}
	json_array_foreach(arr, i, e) {
		char p[640];

		snprintf(p, sizeof(p), json_is_array(types) ? "%s[%zu]" : "%s", tpath, i);
		for (unsigned b = 1; b <= 2; b++) {
			unsigned pr = b == 1 ? 1 : 58;
			int t;

			if (!(mask & b))
				continue;
			if ((t = one_type(c, e, pr, mask, file, p, rule)) < 0) {
				ok = false;
				break;
			}
			if (grow_array(keys, &cap, *nkeys + 1, sizeof(**keys))) {
				c->oom = true;
				json_decref(arr);
				return false;
			}
			(*keys)[(*nkeys)++] = (struct key_range){ KEY(pr, t), KEY(pr, t) };
		}
	}
	json_decref(arr);
	if (!ok) {
		free(*keys);
		*keys = NULL;
		*nkeys = 0;
		return false;
	}
	*nkeys = key_ranges_normalize(*keys, *nkeys);
	return true;
}

bool pmatch_keys(struct pctx *c, json_t *obj, const char *file, const char *path,
		 const char *rule, struct key_range **keys, size_t *nkeys)
{
	json_t *types = json_object_get(obj, "icmp-types");

	if (!types)
		return pkeys_parse(c, json_object_get(obj, "protocol"),
				   json_object_get(obj, "ports"), file, path, rule,
				   keys, nkeys);
	*keys = NULL;
	*nkeys = 0;
	if (json_object_get(obj, "ports")) {
		char p[600];

		snprintf(p, sizeof(p), "%s%sports", path, *path ? "." : "");
		perr(c, file, p, rule,
		     "ports need protocol tcp, udp or sctp; ICMP has \"icmp-types\" instead");
		return false;
	}
	return icmp_keys(c, json_object_get(obj, "protocol"), types, file, path, rule,
			 keys, nkeys);
}
