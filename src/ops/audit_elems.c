/* Map elements compared exactly: key, key end and verdict of every
 * element the plan compiles to against what the kernel holds, sorted
 * and merged (maps hold up to hundreds of thousands of elements).  Keys
 * are laid out as nf_tables concatenations are: each field in network
 * byte order, padded to 4 bytes. */
#include "config.h"

#include "audit.h"
#include "plan_print.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t encode(const struct plan_set *s, const u128 *v, uint8_t *out)
{
	size_t pos = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		size_t len = plan_field_len(s->fields[i]), sp = (len + 3) & ~(size_t)3;

		if (pos + sp > SNAP_KEY_MAX)
			return 0;
		memset(out + pos, 0, sp);
		for (size_t j = 0; j < len; j++)
			out[pos + len - 1 - j] = (uint8_t)(v[i] >> (8 * j));
		pos += sp;
	}
	return (uint32_t)pos;
}

static void decode(const struct plan_set *s, const uint8_t *in, u128 *v)
{
	size_t pos = 0;

	for (size_t i = 0; i < s->nfields; i++) {
		size_t len = plan_field_len(s->fields[i]);

		v[i] = 0;
		for (size_t j = 0; j < len; j++)
			v[i] = (v[i] << 8) | in[pos + j];
		pos += (len + 3) & ~(size_t)3;
	}
}

static int32_t verdict_code(const struct plan_verdict *v)
{
	switch (v->kind) {
	case PV_ACCEPT: return NF_ACCEPT;
	case PV_GOTO: return NFT_GOTO;
	case PV_JUMP: return NFT_JUMP;
	default: return NF_DROP;
	}
}

/* One element on either side, with where it came from. */
struct side {
	struct snap_elem e;
	const char *rule;	/* comment / rule name */
};

static int key_cmp(const struct snap_elem *a, const struct snap_elem *b)
{
	const uint8_t *ea = a->key_end_len ? a->key_end : a->key;
	const uint8_t *eb = b->key_end_len ? b->key_end : b->key;
	int c;

	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	if ((c = memcmp(a->key, b->key, a->key_len)))
		return c;
	return memcmp(ea, eb, a->key_len);
}

static int side_cmp(const void *x, const void *y)
{
	return key_cmp(&((const struct side *)x)->e, &((const struct side *)y)->e);
}

static bool same_verdict(const struct snap_elem *a, const struct snap_elem *b)
{
	if (a->verdict != b->verdict)
		return false;
	return !(a->verdict == NFT_GOTO || a->verdict == NFT_JUMP) ||
	       (a->chain && b->chain && strcmp(a->chain, b->chain) == 0);
}

/* Can the live elements be compared key by key?  Every key must have
 * the length the plan's fields give (else another layout: count by name). */
bool audit_elems_comparable(const struct plan_set *ps, const struct snap_set *ss)
{
	uint8_t k[SNAP_KEY_MAX];
	u128 zero[4] = { 0 };
	uint32_t want = ps->nfields ? encode(ps, zero, k) : 0;

	if (!want || !ss->elems || (ps->interval && ps->nfields == 1))
		return false;	/* rbtree intervals: start and end are elements of their own */
	for (size_t i = 0; i < ss->nelems; i++)
		if (ss->elems[i].key_len != want || !ss->elems[i].has_verdict)
			return false;
	return true;
}

static void key_text(const struct plan_set *ps, const struct snap_elem *e, char *buf, size_t len)
{
	struct plan_elem pe;

	memset(&pe, 0, sizeof(pe));
	decode(ps, e->key, pe.lo);
	decode(ps, e->key_end_len ? e->key_end : e->key, pe.hi);
	plan_format_elem_key(buf, len, ps, &pe);
}

static void verdict_text(const struct snap_elem *e, char *buf, size_t len)
{
	switch (e->verdict) {
	case NF_ACCEPT: snprintf(buf, len, "accept"); break;
	case NF_DROP: snprintf(buf, len, "drop"); break;
	case NFT_GOTO: snprintf(buf, len, "goto %s", e->chain ? e->chain : "?"); break;
	case NFT_JUMP: snprintf(buf, len, "jump %s", e->chain ? e->chain : "?"); break;
	default: snprintf(buf, len, "verdict %d", e->verdict); break;
	}
}

static struct side *plan_sides(const struct policy *pol, const struct plan_set *ps)
{
	struct side *v = calloc(ps->nelems + 1, sizeof(*v));

	for (size_t i = 0; v && i < ps->nelems; i++) {
		const struct plan_elem *e = &ps->elems[i];

		v[i].e.key_len = encode(ps, e->lo, v[i].e.key);
		if (ps->interval)
			v[i].e.key_end_len = encode(ps, e->hi, v[i].e.key_end);
		v[i].e.has_verdict = true;
		v[i].e.verdict = verdict_code(&e->verdict);
		v[i].e.chain = (char *)e->verdict.chain;	/* borrowed: never freed here */
		v[i].rule = pol && e->rule < pol->nrules ? pol->rules[e->rule].name : "";
	}
	return v;
}

static struct side *live_sides(const struct snap_set *ss)
{
	struct side *v = calloc(ss->nelems + 1, sizeof(*v));

	for (size_t i = 0; v && i < ss->nelems; i++) {
		v[i].e = ss->elems[i];
		v[i].rule = ss->comments[i];
	}
	return v;
}

/* At most this many findings of each kind per map; then one summary. */
#define SHOW_MAX 5

struct tally {
	size_t added, removed, changed;
};

static void report(struct audit_list *out, const char *kind, size_t *n, const char *rule,
		   const char *obj, const char *msg)
{
	if (++*n <= SHOW_MAX)
		audit_add(out, AUDIT_ERROR, kind, *rule ? rule : NULL, obj, "%s", msg);
}

static void more(struct audit_list *out, const char *kind, size_t n, const char *obj,
		 const char *what)
{
	if (n > SHOW_MAX)
		audit_add(out, AUDIT_ERROR, kind, NULL, obj, "and %zu more elements %s (%zu in all)",
			  n - SHOW_MAX, what, n);
}

void audit_set_exact(const struct policy *pol, const struct plan_set *ps,
		     const struct snap_set *ss, struct audit_list *out)
{
	struct side *p = plan_sides(pol, ps), *l = live_sides(ss);
	struct tally t = { 0 };
	size_t i = 0, j = 0;
	char obj[64], key[512], v1[96], v2[96], msg[1024];

	if (!p || !l) {
		out->oom = true;
		goto out;
	}
	snprintf(obj, sizeof(obj), "set %s", ps->name);
	qsort(p, ps->nelems, sizeof(*p), side_cmp);
	qsort(l, ss->nelems, sizeof(*l), side_cmp);
	while (i < ps->nelems || j < ss->nelems) {
		int c = i == ps->nelems ? 1 : j == ss->nelems ? -1 : key_cmp(&p[i].e, &l[j].e);

		if (c < 0) {
			key_text(ps, &p[i].e, key, sizeof(key));
			snprintf(msg, sizeof(msg), "element %s (rule \"%s\") is missing from the live map",
				 key, p[i].rule);
			report(out, "drift-element-removed", &t.removed, p[i].rule, obj, msg);
			i++;
			continue;
		}
		if (c > 0) {
			key_text(ps, &l[j].e, key, sizeof(key));
			snprintf(msg, sizeof(msg), "element %s%s is in the live map but not in the policy",
				 key, *l[j].rule ? " (carrying a policy rule's name)" : "");
			report(out, "drift-element-added", &t.added, l[j].rule, obj, msg);
			j++;
			continue;
		}
		if (!same_verdict(&p[i].e, &l[j].e)) {
			key_text(ps, &p[i].e, key, sizeof(key));
			verdict_text(&l[j].e, v1, sizeof(v1));
			verdict_text(&p[i].e, v2, sizeof(v2));
			snprintf(msg, sizeof(msg), "element %s: the live verdict is %s, the policy's is %s",
				 key, v1, v2);
			report(out, "drift-element-changed", &t.changed, p[i].rule, obj, msg);
		}
		i++;
		j++;
	}
	more(out, "drift-element-removed", t.removed, obj, "missing from the live map");
	more(out, "drift-element-added", t.added, obj, "in the live map but not in the policy");
	more(out, "drift-element-changed", t.changed, obj, "with another verdict");
out:
	free(p);
	free(l);
}
