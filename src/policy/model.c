#include "config.h"

#include "model.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned number;
} protos[] = {
	{ "icmp", 1 }, { "tcp", 6 }, { "udp", 17 }, { "gre", 47 },
	{ "esp", 50 }, { "ah", 51 }, { "icmpv6", 58 }, { "sctp", 132 },
};

static const char *const finding_names[FIND_KIND_COUNT] = {
	[FIND_SHADOWED] = "shadowed",
	[FIND_CONTRADICTION] = "contradiction",
	[FIND_REDUNDANT] = "redundant",
	[FIND_ICMP_FAMILY] = "icmp-family",
	[FIND_OPTIONS_UNCHECKED] = "ipsec-options-unchecked",
	[FIND_IPSEC_UNREACHABLE] = "ipsec-unreachable",
	[FIND_CLEARTEXT_WIDE] = "cleartext-wide",
	[FIND_KERNEL_ONLY] = "kernel-only-mode",
};

const char *model_finding_name(enum finding_kind k)
{
	return k < FIND_KIND_COUNT ? finding_names[k] : "finding";
}

int model_finding_from_name(const char *name)
{
	for (int i = 0; i < FIND_KIND_COUNT; i++)
		if (strcmp(name, finding_names[i]) == 0)
			return i;
	return -1;
}

int model_proto_number(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (strcmp(name, protos[i].name) == 0)
			return (int)protos[i].number;
	return -1;
}

const char *model_proto_name(unsigned proto)
{
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (protos[i].number == proto)
			return protos[i].name;
	return NULL;
}

static const char *const alg_names[ALG_COUNT_BITS] = {
	"aes128gcm16", "aes192gcm16", "aes256gcm16", "chacha20poly1305",
	"aes128", "aes192", "aes256", "aes128ctr", "aes256ctr",
	"sha1", "sha256", "sha384", "sha512", "null",
};

const char *model_alg_name(uint32_t bit)
{
	for (unsigned i = 0; i < ALG_COUNT_BITS; i++)
		if (bit == 1u << i)
			return alg_names[i];
	return NULL;
}

uint32_t model_alg_from_name(const char *name)
{
	for (unsigned i = 0; i < ALG_COUNT_BITS; i++)
		if (strcmp(name, alg_names[i]) == 0)
			return 1u << i;
	return 0;
}

void model_alg_list(char *buf, size_t len, uint32_t mask)
{
	size_t used = 0;

	buf[0] = '\0';
	/* snprintf returns what it would have written, so used may pass len
	 * once the buffer is full; the loop stops there. */
	for (unsigned b = 0; b < ALG_COUNT_BITS && used < len; b++)
		if (mask & (1u << b))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 model_alg_name(1u << b));
}

struct policy *policy_alloc(void)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (p) {
		p->defaults[DIR_IN] = ACT_BLOCK;
		p->defaults[DIR_OUT] = ACT_PERMIT;
		p->defaults[DIR_FWD] = ACT_BLOCK;
	}
	return p;
}

void addr_set_fini(struct addr_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static void rule_fini(struct rule *r)
{
	free(r->name);
	free(r->file);
	free(r->path);
	free(r->comment);
	for (size_t i = 0; i < r->nifaces; i++)
		free(r->ifaces[i]);
	free(r->ifaces);
	free(r->keys);
	addr_set_fini(&r->peers);
	addr_set_fini(&r->local);
	for (size_t i = 0; i < r->ipsec.ngateways; i++) {
		addr_set_fini(&r->ipsec.gateways[i].gateway);
		addr_set_fini(&r->ipsec.gateways[i].inner);
	}
	free(r->ipsec.gateways);
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++)
		rule_fini(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->ngroups; i++) {
		free(p->groups[i].name);
		addr_set_fini(&p->groups[i].set);
	}
	free(p->groups);
	free(p->file);
	free(p->description);
	free(p->text);
	free(p);
}

static int cmp_range(const void *a, const void *b)
{
	const struct addr_range *x = a, *y = b;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

int addr_set_normalize(struct addr_set *s)
{
	size_t out = 0;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_range);
	for (size_t i = 1; i < s->n; i++) {
		struct addr_range *last = &s->v[out];
		const struct addr_range *cur = &s->v[i];

		/* merge when overlapping or adjacent (hi + 1 == lo) */
		if (cur->fam == last->fam &&
		    (cur->lo <= last->hi || cur->lo - 1 == last->hi)) {
			if (cur->hi > last->hi)
				last->hi = cur->hi;
			continue;
		}
		s->v[++out] = *cur;
	}
	s->n = out + 1;
	return 0;
}

bool addr_set_contains(const struct addr_set *s, enum addr_family fam, u128 a)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fam == fam && s->v[i].lo <= a && a <= s->v[i].hi)
			return true;
	return false;
}

static int cmp_key(const void *a, const void *b)
{
	const struct key_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

size_t key_ranges_normalize(struct key_range *k, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(k, n, sizeof(*k), cmp_key);
	for (size_t i = 1; i < n; i++) {
		if (k[i].lo <= k[out].hi + 1) {
			if (k[i].hi > k[out].hi)
				k[out].hi = k[i].hi;
			continue;
		}
		k[++out] = k[i];
	}
	return out + 1;
}

const char *action_name(enum action a)
{
	switch (a) {
	case ACT_PERMIT: return "permit";
	case ACT_BLOCK: return "block";
	case ACT_REQUIRE_IPSEC: return "require-ipsec";
	}
	return "?";
}

const char *direction_name(enum direction d)
{
	return d == DIR_IN ? "in" : d == DIR_OUT ? "out" : "forward";
}

const char *mode_name(enum ipsec_mode m)
{
	switch (m) {
	case MODE_ANY: return "any";
	case MODE_TRANSPORT: return "transport";
	case MODE_TUNNEL: return "tunnel";
	}
	return "?";
}

bool addr_set_equal(const struct addr_set *a, const struct addr_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].fam != b->v[i].fam || a->v[i].lo != b->v[i].lo ||
		    a->v[i].hi != b->v[i].hi)
			return false;
	return true;
}

static bool ipsec_equal(const struct ipsec_req *a, const struct ipsec_req *b)
{
	if (a->encryption != b->encryption || a->algorithms != b->algorithms ||
	    a->mode != b->mode || a->has_reqid != b->has_reqid ||
	    (a->has_reqid && a->reqid != b->reqid) ||
	    a->ngateways != b->ngateways)
		return false;
	for (size_t i = 0; i < a->ngateways; i++)
		if (!addr_set_equal(&a->gateways[i].gateway, &b->gateways[i].gateway) ||
		    !addr_set_equal(&a->gateways[i].inner, &b->gateways[i].inner))
			return false;
	return true;
}

bool rule_on_iface(const struct rule *r, const char *name)
{
	if (!r->nifaces)
		return true;
	for (size_t i = 0; name && i < r->nifaces; i++)
		if (strcmp(r->ifaces[i], name) == 0)
			return true;
	return false;
}

bool rule_same_decision(const struct rule *a, const struct rule *b)
{
	if (a->action != b->action || a->log != b->log ||
	    memcmp(&a->limit, &b->limit, sizeof(a->limit)) != 0)
		return false;
	return a->action != ACT_REQUIRE_IPSEC || ipsec_equal(&a->ipsec, &b->ipsec);
}
