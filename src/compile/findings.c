#include "config.h"

#include "findings.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum diag_severity findings_severity(enum finding_kind k)
{
	(void)k;
	return DIAG_WARNING;
}

/* Is a finding of kind k about r (or the policy, r NULL) to be worded?
 * False when diags keeps its cap of that kind already and counted it:
 * tens of thousands of findings of one kind (a 100,000-rule policy) are
 * then never formatted.  Once per finding, before any of its words. */
static bool admit(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		  const struct rule *r)
{
	return diag_admit(diags, findings_severity(k), r ? r->file : p->file, model_finding_name(k),
			  r && (r->accepted & (1u << k)));
}

/* Add the finding that admit() let through. */
static void vword(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		  const struct rule *r, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void vword(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		  const struct rule *r, const char *fmt, va_list ap)
{
	size_t before = diags->count;

	/* formatted once, by diag_vadd */
	diag_vadd(diags, findings_severity(k), r ? r->file : p->file, r ? r->path : "",
		  r ? r->name : NULL, fmt, ap);
	if (diags->count == before)
		return;
	diags->items[before].kind = model_finding_name(k);
	diags->items[before].acknowledged = r && (r->accepted & (1u << k));
}

static void word(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		 const struct rule *r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void word(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		 const struct rule *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vword(diags, k, p, r, fmt, ap);
	va_end(ap);
}

/* admit() and word(), for a finding whose arguments cost nothing to get. */
static void finding(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		    const struct rule *r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void finding(struct diag_list *diags, enum finding_kind k, const struct policy *p,
		    const struct rule *r, const char *fmt, ...)
{
	va_list ap;

	if (!admit(diags, k, p, r))
		return;
	va_start(ap, fmt);
	vword(diags, k, p, r, fmt, ap);
	va_end(ap);
}

/* Is every interval of b inside one interval of a (a is merged)? */
static bool addr_subset(const struct addr_set *a, const struct addr_set *b)
{
	for (size_t j = 0; j < b->n; j++) {
		bool in = false;

		for (size_t i = 0; i < a->n && !in; i++)
			in = a->v[i].fam == b->v[j].fam && a->v[i].lo <= b->v[j].lo &&
			     b->v[j].hi <= a->v[i].hi;
		if (!in)
			return false;
	}
	return true;
}

static bool keys_subset(const struct rule *a, const struct rule *b)
{
	for (size_t j = 0; j < b->nkeys; j++) {
		bool in = false;

		for (size_t i = 0; i < a->nkeys && !in; i++)
			in = a->keys[i].lo <= b->keys[j].lo && b->keys[j].hi <= a->keys[i].hi;
		if (!in)
			return false;
	}
	return true;
}

/* An earlier rule a that matches everything b matches, deciding otherwise. */
static bool contradicts(const struct rule *a, const struct rule *b)
{
	return a->dir == b->dir && a->action != b->action && b->peers.n && b->nkeys &&
	       addr_subset(&a->peers, &b->peers) && addr_subset(&a->local, &b->local) &&
	       keys_subset(a, b);
}

static void shadowed(const struct policy *p, const struct class_rule_info *in,
		     const struct rule *r, struct diag_list *diags)
{
	char names[256] = "";
	size_t used = 0, n = 0;

	for (int k = 0; k < 3; k++) {
		uint32_t i = in->shadowed_by[k];

		if (i != CLASS_NONE && i < (uint32_t)(r - p->rules) && contradicts(&p->rules[i], r)) {
			finding(diags, FIND_CONTRADICTION, p, r,
				"rule \"%s\" (%s) says %s for the same peers and ports, and comes first: \"%s\" never decides anything",
				p->rules[i].name, p->rules[i].path, action_name(p->rules[i].action), r->name);
			return;
		}
	}
	if (!admit(diags, FIND_SHADOWED, p, r))
		return;
	for (int k = 0; k < 3; k++)
		if (in->shadowed_by[k] != CLASS_NONE)
			n++;
	for (int k = 0; k < 3; k++) {
		if (in->shadowed_by[k] == CLASS_NONE)
			continue;
		used += (size_t)snprintf(names + used, sizeof(names) - used,
					 "%s\"%s\"", used ? ", " : "",
					 p->rules[in->shadowed_by[k]].name);
	}
	if (n)
		word(diags, FIND_SHADOWED, p, r,
		     "rule can never match: every packet it matches is decided earlier, by %s %s",
		     n > 1 ? "rules" : "rule", names);
	else
		word(diags, FIND_SHADOWED, p, r,
		     "rule can never match: every packet it matches is decided by earlier rules");
}

static bool has_family(const struct addr_set *s, enum addr_family f)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fam == f)
			return true;
	return false;
}

/* Keys that are only ICMP (or only ICMPv6), for peers of the other family. */
static void icmp_family(const struct policy *p, const struct rule *r, struct diag_list *diags)
{
	bool only4 = true, only6 = true;

	for (size_t i = 0; i < r->nkeys; i++) {
		only4 &= KEY_PROTO(r->keys[i].lo) == 1 && KEY_PROTO(r->keys[i].hi) == 1;
		only6 &= KEY_PROTO(r->keys[i].lo) == 58 && KEY_PROTO(r->keys[i].hi) == 58;
	}
	if (only4 && !has_family(&r->peers, AF4))
		finding(diags, FIND_ICMP_FAMILY, p, r,
			"protocol icmp is IPv4 only, but every peer is IPv6: the rule matches nothing (use icmpv6)");
	if (only6 && !has_family(&r->peers, AF6))
		finding(diags, FIND_ICMP_FAMILY, p, r,
			"protocol icmpv6 is IPv6 only, but every peer is IPv4: the rule matches nothing (use icmp)");
}

static bool ipsec_is_default(const struct ipsec_req *q)
{
	return q->encryption == ENC_REQUIRED && q->algorithms == ALG_DEFAULT_SET &&
	       q->mode == MODE_ANY && !q->ngateways && !q->has_reqid;
}

/* What the kernel alone cannot check: outbound, only that the route
 * transforms; in kernel-only mode inbound, only that a secpath exists
 * (and the reqid). */
static void enforcement(const struct policy *p, enum plan_mode mode,
			struct diag_list *diags)
{
	size_t inbound = 0, forwarded = 0;

	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->action != ACT_REQUIRE_IPSEC)
			continue;
		if (r->dir == DIR_OUT && !ipsec_is_default(&r->ipsec))
			finding(diags, FIND_OPTIONS_UNCHECKED, p, r,
				"outbound require-ipsec is enforced as \"leaves only through an IPsec policy\"; its ipsec options are not checked");
		inbound += r->dir != DIR_OUT;
		forwarded += r->dir == DIR_FWD;
	}
	if (mode == PLAN_KERNEL_ONLY && inbound)
		finding(diags, FIND_KERNEL_ONLY, p, NULL,
			"kernel-only mode: %zu inbound%s require-ipsec rule%s enforced as \"arrived through IPsec\" (and the reqid, where pinned); encryption, algorithms, mode and gateways are checked only by sagated",
			inbound, forwarded ? " or forwarded" : "", inbound == 1 ? " is" : "s are");
}

bool findings_mode_refused(const struct policy *p, enum plan_mode mode, struct diag_list *diags)
{
	bool refused = false;

	for (size_t i = 0; mode == PLAN_KERNEL_ONLY && i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];

		if (r->action != ACT_REQUIRE_IPSEC || !r->ipsec.nidents)
			continue;
		diag_add(diags, DIAG_ERROR, r->file, r->path, r->name,
			 "the rule names IKE identities, which only sagated can check: kernel-only mode would admit any peer with an SA; apply in engine mode (without --no-engine)");
		refused = true;
	}
	return refused;
}

/* A peer interval wider than a /16 (IPv4) or a /32 (IPv6). */
static bool wide(const struct addr_set *s, char *buf, size_t len)
{
	for (size_t i = 0; i < s->n; i++) {
		u128 size = s->v[i].hi - s->v[i].lo;	/* one less than the count */

		if ((s->v[i].fam == AF4 && size >= ((u128)1 << 16)) ||
		    (s->v[i].fam == AF6 && size >= ((u128)1 << 96))) {
			addr_range_format(&s->v[i], buf, len);
			return true;
		}
	}
	return false;
}

/* A service key range with ports, other than IKE's own. */
static bool port_key(const struct key_range *k)
{
	uint8_t lo = KEY_PROTO(k->lo), hi = KEY_PROTO(k->hi);
	bool ike = (k->lo == KEY(17, 500) || k->lo == KEY(17, 4500)) && k->lo == k->hi;

	if (ike)
		return false;
	for (unsigned pr = lo; pr <= hi; pr++)
		if (pr == 6 || pr == 17 || pr == 132)
			return true;
	return false;
}

static void wide_permit(const struct policy *p, const struct rule *r, struct diag_list *diags)
{
	char range[128];
	bool ports = false;

	if (r->action != ACT_PERMIT || r->dir == DIR_OUT || !wide(&r->peers, range, sizeof(range)))
		return;
	for (size_t k = 0; k < r->nkeys && !ports; k++)
		ports = port_key(&r->keys[k]);
	if (ports)
		finding(diags, FIND_CLEARTEXT_WIDE, p, r,
			"permits ports in cleartext from %s (wider than /16 or ::/32); consider require-ipsec or narrower peers",
			r->peers.any ? "anyone" : range);
}

/* Pieces of peer space that a packet of one key cannot pass. */
struct dropped {
	struct addr_range *v;
	uint32_t *by;		/**< deciding rule of each, CLASS_NONE: the default */
	size_t n, cap;
	bool oom;
};

static void dropped_add(struct dropped *d, enum addr_family fam, u128 lo, u128 hi, uint32_t by)
{
	/* neighbours merge, whoever drops them: the first names the cause */
	if (d->n && d->v[d->n - 1].fam == fam && d->v[d->n - 1].hi + 1 == lo &&
	    d->v[d->n - 1].hi != addr_max(fam)) {
		d->v[d->n - 1].hi = hi;
		return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct addr_range *v = realloc(d->v, cap * sizeof(*v));
		uint32_t *by2 = v ? realloc(d->by, cap * sizeof(*by2)) : NULL;

		if (v)
			d->v = v;
		if (!v || !by2) {
			d->oom = true;
			return;
		}
		d->by = by2;
		d->cap = cap;
	}
	d->v[d->n] = (struct addr_range){ fam, lo, hi };
	d->by[d->n++] = by;
}

/* The boxes of one direction whose keys hold one key, by family and
 * first peer: for one key and one local address they do not overlap. */
struct key_view {
	const struct class_box **v;
	size_t n;
};

static int box_by_peer(const void *a, const void *b)
{
	const struct class_box *x = *(const struct class_box *const *)a;
	const struct class_box *y = *(const struct class_box *const *)b;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	return x->peer_lo < y->peer_lo ? -1 : x->peer_lo > y->peer_lo;
}

static int key_view_init(struct key_view *kv, const struct classes *c, enum direction dir,
			 uint32_t key)
{
	kv->n = 0;
	kv->v = calloc(c->nboxes + 1, sizeof(*kv->v));
	if (!kv->v)
		return -1;
	for (size_t i = 0; i < c->nboxes; i++)
		if (c->boxes[i].dir == dir && c->boxes[i].key_lo <= key && key <= c->boxes[i].key_hi)
			kv->v[kv->n++] = &c->boxes[i];
	qsort(kv->v, kv->n, sizeof(*kv->v), box_by_peer);
	return 0;
}

/* Append to out the parts of peer interval a where a new flow of the
 * view's key, to this host's address local, is not permitted: by the
 * boxes or by the default between them. */
static void not_permitted(const struct policy *p, const struct classes *c, enum direction dir,
			  const struct key_view *kv, const struct addr_range *a, u128 local,
			  struct dropped *out)
{
	size_t lo = 0, hi = kv->n;
	u128 cur = a->lo;
	bool done = false;

	/* without "local" the boxes do not overlap: skip those below a */
	while (!c->uses_local[dir] && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct class_box *b = kv->v[mid];

		if (b->fam < a->fam || (b->fam == a->fam && b->peer_hi < a->lo))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < kv->n && !done; i++) {
		const struct class_box *b = kv->v[i];
		u128 end = b->peer_hi < a->hi ? b->peer_hi : a->hi;

		if (b->fam > a->fam || (b->fam == a->fam && b->peer_lo > a->hi))
			break;
		if (b->fam != a->fam || b->peer_hi < cur || b->local_lo > local || local > b->local_hi)
			continue;
		if (b->peer_lo > cur) {
			if (p->defaults[dir] != ACT_PERMIT)
				dropped_add(out, a->fam, cur, b->peer_lo - 1, CLASS_NONE);
			cur = b->peer_lo;
		}
		if (p->rules[b->rule].action != ACT_PERMIT)
			dropped_add(out, a->fam, cur, end, b->rule);
		done = end == a->hi;
		cur = end + 1;
	}
	if (!done && p->defaults[dir] != ACT_PERMIT)
		dropped_add(out, a->fam, cur, a->hi, CLASS_NONE);
}

/* The peers of r's SAs: its gateways when it names any, else its peers. */
static void sa_peers(const struct rule *r, struct dropped *out)
{
	if (!r->ipsec.ngateways) {
		for (size_t i = 0; i < r->peers.n; i++)
			dropped_add(out, r->peers.v[i].fam, r->peers.v[i].lo, r->peers.v[i].hi, CLASS_NONE);
		return;
	}
	for (size_t g = 0; g < r->ipsec.ngateways; g++)
		for (size_t i = 0; i < r->ipsec.gateways[g].gateway.n; i++) {
			const struct addr_range *a = &r->ipsec.gateways[g].gateway.v[i];

			dropped_add(out, a->fam, a->lo, a->hi, CLASS_NONE);
		}
}

/* The pieces of in that key cannot pass (to r's first local address of
 * each family: one address stands for this host). */
static void filter(const struct policy *p, const struct classes *c, const struct rule *r,
		   const struct dropped *in, const struct key_view *kv, struct dropped *out)
{
	for (size_t i = 0; i < in->n; i++) {
		u128 local = 0;

		for (size_t k = 0; k < r->local.n; k++)
			if (r->local.v[k].fam == in->v[i].fam) {
				local = r->local.v[k].lo;
				break;
			}
		not_permitted(p, c, r->dir, kv, &in->v[i], local, out);
	}
}

static void list_peers(const struct dropped *d, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n && i < 3 && used < len; i++) {
		char a[128];

		addr_range_format(&d->v[i], a, sizeof(a));
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", a);
	}
	if (d->n > 3 && used < len)
		snprintf(buf + used, len - used, " and %zu more", d->n - 3);
}

static void dropped_fini(struct dropped *d)
{
	free(d->v);
	free(d->by);
}

/* A require-ipsec rule whose SA peers' ESP (as protocol esp, and as
 * ESP in UDP 4500 behind NAT) this very policy drops: no SA can carry
 * a packet of theirs through this host, so the rule admits nothing of
 * theirs.  Said with what to add, and whether IKE is dropped too. */
enum { VIEW_ESP, VIEW_NATT, VIEW_IKE, VIEW_COUNT };

static void unreachable(const struct policy *p, const struct classes *c, const struct rule *r,
			const struct key_view kv[VIEW_COUNT], struct diag_list *diags)
{
	struct dropped src = { 0 }, esp = { 0 }, natt = { 0 }, ike = { 0 };
	char peers[512], by[160];
	bool in = r->dir == DIR_IN;
	const char *to = in ? "from" : "to";

	sa_peers(r, &src);
	filter(p, c, r, &src, &kv[VIEW_ESP], &esp);
	filter(p, c, r, &esp, &kv[VIEW_NATT], &natt);
	filter(p, c, r, &natt, &kv[VIEW_IKE], &ike);
	/* out of memory: no finding rather than a wrong one */
	if (!src.oom && !esp.oom && !natt.oom && !ike.oom && natt.n &&
	    admit(diags, FIND_IPSEC_UNREACHABLE, p, r)) {
		uint32_t who = esp.by[0];

		list_peers(&natt, peers, sizeof(peers));
		if (who == CLASS_NONE)
			snprintf(by, sizeof(by), "the %s default (%s)", in ? "inbound" : "outbound",
				 action_name(p->defaults[r->dir]));
		else
			snprintf(by, sizeof(by), "rule \"%s\" (%s)", p->rules[who].name,
				 action_name(p->rules[who].action));
		word(diags, FIND_IPSEC_UNREACHABLE, p, r,
			"ESP %s %s is dropped by %s, and so is ESP in UDP 4500 (NAT-T): no IPsec packet %s them can %s, so this rule admits nothing %s them; add%s%s%s a rule%s that permits \"protocol\": \"esp\" %s them%s%s%s",
			to, peers, by, to, in ? "arrive" : "leave", to,
			who == CLASS_NONE ? "" : ", before rule \"", who == CLASS_NONE ? "" : p->rules[who].name,
			who == CLASS_NONE ? "" : "\",", in ? "" : " with \"direction\": \"out\"", to,
			ike.n ? "; IKE (UDP 500 and 4500) is dropped too: if they negotiate their SAs with this host, permit \"protocol\": \"udp\", \"ports\": [500, 4500] " : "",
			ike.n ? to : "", ike.n ? " them as well" : "");
	}
	dropped_fini(&src);
	dropped_fini(&esp);
	dropped_fini(&natt);
	dropped_fini(&ike);
}

/* ipsec-unreachable for each require-ipsec rule, with the boxes that
 * decide ESP, ESP in UDP and IKE gathered once per direction. */
static void unreachables(const struct policy *p, const struct classes *c,
			 struct diag_list *diags)
{
	static const uint32_t keys[VIEW_COUNT] = { KEY(50, 0), KEY(17, 4500), KEY(17, 500) };
	struct key_view kv[DIR_COUNT][VIEW_COUNT] = { 0 };
	bool need[DIR_COUNT] = { false }, ok = true;

	if (c->over_limit)
		return;
	/* a forward rule's ESP arrives on the input hook, not through the
	 * forward boxes this follows: forward rules are left out */
	for (size_t i = 0; i < p->nrules; i++)
		need[p->rules[i].dir] |= p->rules[i].action == ACT_REQUIRE_IPSEC &&
					 p->rules[i].dir != DIR_FWD;
	for (int d = 0; d < DIR_COUNT; d++)
		for (int k = 0; need[d] && k < VIEW_COUNT; k++)
			ok &= key_view_init(&kv[d][k], c, (enum direction)d, keys[k]) == 0;
	for (size_t i = 0; ok && i < p->nrules; i++)
		if (p->rules[i].action == ACT_REQUIRE_IPSEC && p->rules[i].dir != DIR_FWD)
			unreachable(p, c, &p->rules[i], kv[p->rules[i].dir], diags);
	for (int d = 0; d < DIR_COUNT; d++)
		for (int k = 0; k < VIEW_COUNT; k++)
			free(kv[d][k].v);
}

void findings_add(const struct policy *p, const struct classes *c,
		  enum plan_mode mode, struct diag_list *diags)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct class_rule_info *in = &c->info[i];
		const struct rule *r = &p->rules[i];

		icmp_family(p, r, diags);
		wide_permit(p, r, diags);
		if (!c->analysed)
			continue;
		if (!in->boxes) {
			shadowed(p, in, r, diags);
		} else if (in->redundant && in->redundant_with == CLASS_NONE) {
			finding(diags, FIND_REDUNDANT, p, r,
				"rule is redundant: without it, the %s default (%s) decides the same",
				direction_name(r->dir), action_name(p->defaults[r->dir]));
		} else if (in->redundant) {
			finding(diags, FIND_REDUNDANT, p, r,
				"rule is redundant: without it, rule \"%s\" decides the same",
				p->rules[in->redundant_with].name);
		}
	}
	unreachables(p, c, diags);
	enforcement(p, mode, diags);
}
