#include "config.h"

#include "plan.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kept here, next to the enum, so the netlink writer (nft_build.c) and
 * the audit's element comparison (audit_elems.c) lay keys out alike. */
size_t plan_field_len(enum plan_field f)
{
	switch (f) {
	case PF_SADDR4:
	case PF_DADDR4: return 4;
	case PF_SADDR6:
	case PF_DADDR6: return 16;
	case PF_L4PROTO:
	case PF_ICMP_TYPE:
	case PF_ICMPV6_TYPE: return 1;
	case PF_DPORT: return 2;
	case PF_IIFNAME:
	case PF_OIFNAME: return 16;
	}
	return 0;
}

u128 plan_ifname_value(const char *name)
{
	u128 v = 0;

	for (size_t i = 0; i < 16; i++)
		v = (v << 8) | (u128)(unsigned char)(*name ? *name++ : 0);
	return v;
}

void plan_ifname_text(char *buf, u128 v)
{
	for (size_t i = 0; i < 16; i++)
		buf[i] = (char)(uint8_t)(v >> (8 * (15 - i)));
	buf[16] = '\0';
}

size_t plan_escape(char *buf, size_t len, const char *s)
{
	size_t used = 0, n;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char e[5];

		if (ch == '\\')
			strcpy(e, "\\\\");
		else if (ch == '\n')
			strcpy(e, "\\n");
		else if (ch == '\t')
			strcpy(e, "\\t");
		else if (ch == '"' || ch < 0x20 || ch == 0x7f)
			snprintf(e, sizeof(e), "\\x%02x", ch);
		else
			e[0] = (char)ch, e[1] = '\0';
		n = strlen(e);
		if (used + n >= len)
			break;
		memcpy(buf + used, e, n);
		used += n;
	}
	buf[used] = '\0';
	return used;
}

struct plan *plan_alloc(enum plan_mode mode)
{
	struct plan *p = calloc(1, sizeof(*p));

	if (p)
		p->mode = mode;
	return p;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nsets; i++)
		free(p->sets[i].elems);
	free(p->sets);
	for (size_t i = 0; i < p->nchains; i++) {
		for (size_t j = 0; j < p->chains[i].nrules; j++)
			free(p->chains[i].rules[j].comment);
		free(p->chains[i].rules);
	}
	free(p->chains);
	for (size_t i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->strings);
	free(p->comment);
	free(p);
}

struct plan_set *plan_add_set(struct plan *p, const char *name)
{
	struct plan_set *s;

	/* names are ours and short; a cut one could collide with another */
	if (strlen(name) >= sizeof(s->name) ||
	    grow_array(&p->sets, &p->capsets, p->nsets + 1, sizeof(*p->sets)))
		return NULL;
	s = &p->sets[p->nsets++];
	memset(s, 0, sizeof(*s));
	strncpy(s->name, name, sizeof(s->name) - 1);
	return s;
}

struct plan_chain *plan_add_chain(struct plan *p, const char *name, enum plan_hook hook)
{
	struct plan_chain *c;

	if (strlen(name) >= sizeof(c->name) ||
	    grow_array(&p->chains, &p->capchains, p->nchains + 1, sizeof(*p->chains)))
		return NULL;
	c = &p->chains[p->nchains++];
	memset(c, 0, sizeof(*c));
	strncpy(c->name, name, sizeof(c->name) - 1);
	c->hook = hook;
	return c;
}

const struct plan_chain *plan_chain_named(const struct plan *p, const char *name)
{
	for (size_t i = 0; name && i < p->nchains; i++)
		if (strcmp(p->chains[i].name, name) == 0)
			return &p->chains[i];
	return NULL;
}

const struct plan_set *plan_set_named(const struct plan *p, const char *name)
{
	for (size_t i = 0; name && i < p->nsets; i++)
		if (strcmp(p->sets[i].name, name) == 0)
			return &p->sets[i];
	return NULL;
}

/* The compiler's own plan, which it may change: the element is p's */
struct plan_chain *plan_find_chain(struct plan *p, const char *name)
{
	return (struct plan_chain *)plan_chain_named(p, name);
}

struct plan_set *plan_find_set(struct plan *p, const char *name)
{
	return (struct plan_set *)plan_set_named(p, name);
}

struct plan_rule *plan_add_rule(struct plan_chain *c, const char *comment)
{
	struct plan_rule *r;

	if (grow_array(&c->rules, &c->cap, c->nrules + 1, sizeof(*c->rules)))
		return NULL;
	r = &c->rules[c->nrules];
	memset(r, 0, sizeof(*r));
	if (comment && !(r->comment = strdup(comment)))
		return NULL;
	c->nrules++;
	return r;
}

int plan_add_elem(struct plan_set *s, const struct plan_elem *e)
{
	if (grow_array(&s->elems, &s->cap, s->nelems + 1, sizeof(*e)))
		return -1;
	s->elems[s->nelems++] = *e;
	return 0;
}

const char *plan_strdup(struct plan *p, const char *s)
{
	char *d;

	if (grow_array(&p->strings, &p->capstrings, p->nstrings + 1,
		       sizeof(*p->strings)) || !(d = strdup(s)))
		return NULL;
	p->strings[p->nstrings++] = d;
	return d;
}

const char *plan_hook_name(enum plan_hook h)
{
	switch (h) {
	case PH_INPUT: return "input";
	case PH_OUTPUT: return "output";
	case PH_FORWARD: return "forward";
	case PH_NONE: break;
	}
	return NULL;
}

size_t plan_rule_count(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nchains; i++)
		n += p->chains[i].nrules;
	return n;
}

size_t plan_elem_count(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nsets; i++)
		n += p->sets[i].nelems;
	return n;
}

bool plan_bound_key_is_kernels(const uint8_t *key, uint32_t *mark, uint32_t *reqid)
{
	memcpy(mark, key, sizeof(*mark));
	memcpy(reqid, key + sizeof(*mark), sizeof(*reqid));
	return *mark == (*reqid | PLAN_CT_MARK_IPSEC);
}
