/* ike_conf: writes the swanctl.conf fragment whose SAs satisfy a policy's
 * require-ipsec rules (sagate ike-config).
 *
 * The fragment is built first (connections holding children, each child
 * owning its traffic selectors' addresses) and printed once complete, so
 * that a rule seen late can still join a connection printed early.
 */
#include "config.h"

#include "ike_conf.h"

#include <stdlib.h>
#include <string.h>

#define NAME_LEN 96

/* One CHILD_SA configuration: one rule, one protocol of it. */
struct child {
	const struct rule *r;
	char name[NAME_LEN];
	bool tunnel;
	int proto;		/* protocol number, or -1: every protocol */
	struct addr_set lts, rts;	/* n == 0: "dynamic" */
	char *esp;		/* esp_proposals, owned */
};

/* One IKE connection: a set of peers (or a gateway), this host's side. */
struct conn {
	char name[NAME_LEN];
	const struct addr_set *remote;	/* borrowed from the policy */
	const struct addr_set *local;	/* the rule's "local", or NULL: --local */
	int fam;		/* enum addr_family of its addresses, or -1: both */
	bool wildcard;		/* traps to several peers: remote_addrs %any4/%any6 */
	const struct ident_pat *id;	/* the identity its peers must prove, or NULL */
	struct child *ch;
	size_t n, cap;
};

struct ctx {
	const struct policy *p;
	const struct ike_conf_opts *o;
	struct diag_list *d;
	struct conn *c;
	size_t n, cap;
	bool oom;
	const struct ident_pat *cur_id;	/* identity of the connections being made */
	size_t cur_k, cur_nids;		/* its index among the rule's, and their count */
};

static void child_fini(struct child *c)
{
	addr_set_fini(&c->lts);
	addr_set_fini(&c->rts);
	free(c->esp);
}

static void ctx_fini(struct ctx *x)
{
	for (size_t i = 0; i < x->n; i++) {
		for (size_t j = 0; j < x->c[i].n; j++)
			child_fini(&x->c[i].ch[j]);
		free(x->c[i].ch);
	}
	free(x->c);
}

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t nc;

	if (n < *cap)
		return true;
	nc = *cap ? *cap * 2 : 8;
	if (!(nv = realloc(*v, nc * size)))
		return false;
	*v = nv;
	*cap = nc;
	return true;
}

/* a ∩ b (both normalised) into out; an "any" set is every address. */
static int set_intersect(const struct addr_set *a, const struct addr_set *b, struct addr_set *out)
{
	*out = (struct addr_set){ 0 };
	if (a->any || b->any) {
		const struct addr_set *s = a->any ? b : a;

		out->any = s->any;
		for (size_t i = 0; i < s->n; i++)
			if (addr_set_push(out, s->v[i].fam, s->v[i].lo, s->v[i].hi) < 0)
				return -1;
		return 0;
	}
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < b->n; j++) {
			const struct addr_range *x = &a->v[i], *y = &b->v[j];
			u128 lo = x->lo > y->lo ? x->lo : y->lo, hi = x->hi < y->hi ? x->hi : y->hi;

			if (x->fam == y->fam && lo <= hi && addr_set_push(out, x->fam, lo, hi) < 0)
				return -1;
		}
	return addr_set_normalize(out);
}

/* The whole of each family that s holds (both when s is any or empty). */
static int set_families(const struct addr_set *s, struct addr_set *out)
{
	bool has[AF_COUNT] = { s->any || !s->n, s->any || !s->n };

	*out = (struct addr_set){ 0 };
	for (size_t i = 0; i < s->n; i++)
		has[s->v[i].fam] = true;
	for (int f = 0; f < AF_COUNT; f++)
		if (has[f] && addr_set_push(out, (enum addr_family)f, 0, addr_max((enum addr_family)f)) < 0)
			return -1;
	return 0;
}

static int set_from_local(const struct ike_conf_opts *o, struct addr_set *out)
{
	*out = (struct addr_set){ 0 };
	for (size_t i = 0; i < o->nlocal; i++)
		if (addr_set_push(out, o->local[i].fam, o->local[i].lo, o->local[i].hi) < 0)
			return -1;
	return addr_set_normalize(out);
}

static int set_copy(const struct addr_set *s, struct addr_set *out)
{
	return set_intersect(s, &(struct addr_set){ .any = true }, out);
}

/* ESP proposals, strongest first, each with x25519 for PFS on rekeying;
 * "" when the algorithms allow none that strongSwan can negotiate. */
static void esp_proposals(const struct rule *r, char *buf, size_t len)
{
	static const uint32_t aead[] = { ALG_AES256GCM16, ALG_AES128GCM16, ALG_CHACHA20POLY1305,
					 ALG_AES192GCM16 };
	static const uint32_t cipher[] = { ALG_AES256, ALG_AES256CTR, ALG_AES192, ALG_AES128,
					   ALG_AES128CTR };
	static const uint32_t integ[] = { ALG_SHA512, ALG_SHA384, ALG_SHA256, ALG_SHA1 };
	uint32_t m = r->ipsec.algorithms;
	size_t used = 0;
	char ints[64] = "";

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(integ) / sizeof(integ[0]); i++)
		if (m & integ[i])
			snprintf(ints + strlen(ints), sizeof(ints) - strlen(ints), "-%s",
				 model_alg_name(integ[i]));
	/* no "algorithms": the three AEADs every current peer has */
	if ((m & ALG_DEFAULT_SET) == ALG_DEFAULT_SET)
		m = (m & ~ALG_DEFAULT_SET) | ALG_AES256GCM16 | ALG_AES128GCM16 | ALG_CHACHA20POLY1305;
	for (size_t i = 0; i < sizeof(aead) / sizeof(aead[0]); i++)
		if (m & aead[i])
			used += (size_t)snprintf(buf + used, len - used, "%s%s-x25519", used ? ", " : "",
						 model_alg_name(aead[i]));
	if (ints[0] && (m & (ALG_AES128 | ALG_AES192 | ALG_AES256 | ALG_AES128CTR | ALG_AES256CTR)) &&
	    used < len) {
		used += (size_t)snprintf(buf + used, len - used, "%s", used ? ", " : "");
		for (size_t i = 0, first = 1; i < sizeof(cipher) / sizeof(cipher[0]); i++)
			if (m & cipher[i] && used < len) {
				used += (size_t)snprintf(buf + used, len - used, "%s%s", first ? "" : "-",
							 model_alg_name(cipher[i]));
				first = 0;
			}
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s-x25519", ints);
	}
	/* integrity only: after the encrypting ones, so a peer that can
	 * encrypt does */
	if (r->ipsec.encryption == ENC_INTEGRITY_OK && (m & ALG_NULL) && ints[0] && used < len)
		snprintf(buf + used, len - used, "%snull%s-x25519", used ? ", " : "", ints);
}

/* The protocols of a rule's keys, in order; -1 alone for "any". */
static size_t rule_protos(const struct rule *r, int *out)
{
	size_t n = 0;

	if (r->nkeys == 1 && r->keys[0].lo == 0 && r->keys[0].hi == KEY_MAX) {
		out[0] = -1;
		return 1;
	}
	for (size_t i = 0; i < r->nkeys; i++)
		for (unsigned p = KEY_PROTO(r->keys[i].lo); p <= KEY_PROTO(r->keys[i].hi); p++)
			if (!n || out[n - 1] != (int)p)
				out[n++] = (int)p;
	return n;
}

static const char *group_name(const struct policy *p, const struct addr_set *s)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (addr_set_equal(&p->groups[i].set, s) && p->groups[i].set.any == s->any)
			return p->groups[i].name;
	return NULL;
}

static bool name_taken(const struct ctx *x, const char *name)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->c[i].name, name) == 0)
			return true;
	return false;
}

/* The connection to remote (from local), made when there is none yet;
 * named after the host group that is exactly remote, else fallback. */
static struct conn *conn_get(struct ctx *x, const struct addr_set *remote,
			     const struct addr_set *local, int fam, bool split, const char *fallback)
{
	static const char *const sfx[] = { "-ipv4", "-ipv6" };
	const char *g = group_name(x->p, remote);
	struct conn *c;
	char base[NAME_LEN];

	for (size_t i = 0; i < x->n; i++) {
		c = &x->c[i];
		if (addr_set_equal(c->remote, remote) && c->remote->any == remote->any && c->fam == fam &&
		    (c->local == local || (c->local && local && addr_set_equal(c->local, local))) &&
		    (c->id == x->cur_id || (c->id && x->cur_id && !strcmp(c->id->text, x->cur_id->text))))
			return c;
	}
	if (!grow((void **)&x->c, &x->cap, x->n, sizeof(*x->c)))
		return NULL;
	c = &x->c[x->n];
	*c = (struct conn){ .remote = remote, .local = local, .fam = fam, .id = x->cur_id };
	/* one connection per identity: charon picks it by the identity the
	 * peer proves, and a remote section holds one */
	if (x->cur_id && x->cur_nids > 1)
		snprintf(base, sizeof(base), "%s%s-id%zu", g ? g : fallback, split ? sfx[fam] : "",
			 x->cur_k + 1);
	else
		snprintf(base, sizeof(base), "%s%s", g ? g : fallback, split ? sfx[fam] : "");
	snprintf(c->name, sizeof(c->name), "%s", base);
	for (unsigned k = 2; name_taken(x, c->name); k++)
		snprintf(c->name, sizeof(c->name), "%s-%u", base, k);
	x->n++;
	return c;
}

/* Add one child per protocol of r to c; lts and rts are copied. */
static int add_children(struct ctx *x, struct conn *c, const struct rule *r, const char *name,
			bool tunnel, const struct addr_set *lts, const struct addr_set *rts,
			const char *esp)
{
	int protos[256];
	size_t np = rule_protos(r, protos);

	for (size_t i = 0; i < np; i++) {
		struct child *ch;
		const char *pn = protos[i] < 0 ? NULL : model_proto_name((unsigned)protos[i]);

		if (!grow((void **)&c->ch, &c->cap, c->n, sizeof(*c->ch)))
			return -1;
		ch = &c->ch[c->n];
		*ch = (struct child){ .r = r, .tunnel = tunnel, .proto = protos[i] };
		if (np == 1)
			snprintf(ch->name, sizeof(ch->name), "%s", name);
		else if (pn)
			snprintf(ch->name, sizeof(ch->name), "%s-%s", name, pn);
		else
			snprintf(ch->name, sizeof(ch->name), "%s-p%d", name, protos[i]);
		c->n++;
		if ((lts && set_copy(lts, &ch->lts) < 0) || (rts && set_copy(rts, &ch->rts) < 0) ||
		    !(ch->esp = strdup(esp)))
			return -1;
	}
	return 0;
}

/* The local traffic selector of a tunnel: the forward rule's "to" (its
 * families when any), or this host: the rule's "local", --local, or
 * dynamic (NULL set, *own untouched). */
static int tunnel_lts(struct ctx *x, const struct rule *r, const struct addr_set *rts,
		      struct addr_set *own, const struct addr_set **lts)
{
	*lts = NULL;
	if (r->dir == DIR_FWD && r->local.any) {
		if (set_families(rts, own) < 0)
			return -1;
		*lts = own;
	} else if (!r->local.any) {
		*lts = &r->local;
	} else if (x->o->nlocal) {
		if (set_from_local(x->o, own) < 0)
			return -1;
		*lts = own;
	}
	return 0;
}

static int rule_tunnels(struct ctx *x, const struct rule *r, const char *esp, bool with_transport,
			size_t *made)
{
	for (size_t i = 0; i < r->ipsec.ngateways; i++) {
		const struct ipsec_gateway *g = &r->ipsec.gateways[i];
		struct addr_set rts, own = { 0 };
		const struct addr_set *lts;
		char name[NAME_LEN], fb[NAME_LEN];
		struct conn *c;
		int rc = -1;

		if (set_intersect(&g->inner, &r->peers, &rts) < 0)
			return -1;
		if (rts.any) {	/* any inner address: the whole of both families */
			addr_set_fini(&rts);
			if (set_families(&(struct addr_set){ .any = true }, &rts) < 0)
				return -1;
		}
		if (!rts.n && !rts.any) {
			diag_add(x->d, DIAG_WARNING, r->file, r->path, r->name,
				 "gateways[%zu] may carry none of the rule's %s: no tunnel child for it",
				 i, r->dir == DIR_FWD ? "sources (\"from\")" : "peers");
			addr_set_fini(&rts);
			continue;
		}
		if (with_transport || r->ipsec.ngateways > 1)
			snprintf(name, sizeof(name), "%s-gw%zu", r->name, i + 1);
		else
			snprintf(name, sizeof(name), "%s", r->name);
		snprintf(fb, sizeof(fb), "%s-gw%zu", r->name, i + 1);
		if (tunnel_lts(x, r, &rts, &own, &lts) == 0 &&
		    (c = conn_get(x, &g->gateway, r->dir == DIR_FWD || r->local.any ? NULL : &r->local, -1, false, fb)) &&
		    add_children(x, c, r, name, true, lts, &rts, esp) == 0) {
			rc = 0;
			++*made;
		}
		addr_set_fini(&rts);
		addr_set_fini(&own);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* A rule's transport child, in the connection of its peers.  An outbound
 * child is triggered by its first packet (trap): charon installs a trap
 * for one address family of its connection only and negotiates with the
 * peer address of that family, so a rule of both families gets one
 * connection per family, and its remote selector is the peers
 * themselves, never a dynamic one that a peer range would widen. */
static int rule_transport(struct ctx *x, const struct rule *r, const char *esp)
{
	bool has[AF_COUNT] = { r->peers.any, r->peers.any };
	const struct addr_set *local = r->local.any ? NULL : &r->local;
	char fb[NAME_LEN];
	struct conn *c;

	snprintf(fb, sizeof(fb), "%s-peers", r->name);
	for (size_t i = 0; i < r->peers.n; i++)
		has[r->peers.v[i].fam] = true;
	if (r->dir != DIR_OUT)
		return (c = conn_get(x, &r->peers, local, -1, false, fb)) &&
		       add_children(x, c, r, r->name, false, NULL, NULL, esp) == 0 ? 0 : -1;
	for (int f = 0; f < AF_COUNT; f++) {
		struct addr_set rts, whole = { 0 };
		int rc;

		if (!has[f])
			continue;
		if (addr_set_push(&whole, (enum addr_family)f, 0, addr_max((enum addr_family)f)) < 0)
			return -1;
		rc = set_intersect(&r->peers, &whole, &rts);
		addr_set_fini(&whole);
		if (rc == 0 && (c = conn_get(x, &r->peers, local, f, has[0] && has[1], fb))) {
			c->wildcard |= !(rts.n == 1 && rts.v[0].lo == rts.v[0].hi);
			rc = add_children(x, c, r, r->name, false, NULL, &rts, esp);
		} else {
			rc = -1;
		}
		addr_set_fini(&rts);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static size_t children(const struct ctx *x)
{
	size_t n = 0;

	for (size_t i = 0; i < x->n; i++)
		n += x->c[i].n;
	return n;
}

static int rule_children(struct ctx *x, const struct rule *r, size_t *nrules)
{
	size_t before = children(x);
	char esp[512];
	bool transport = r->dir != DIR_FWD && r->ipsec.mode != MODE_TUNNEL;
	size_t made = 0;

	esp_proposals(r, esp, sizeof(esp));
	if (!esp[0]) {
		diag_add(x->d, DIAG_WARNING, r->file, r->path, r->name,
			 "no ESP proposal can be made of the rule's algorithms (a CBC or CTR cipher needs an integrity algorithm beside it): no child for it");
		return 0;
	}
	x->cur_nids = r->ipsec.nidents;
	for (size_t k = 0; k < (r->ipsec.nidents ? r->ipsec.nidents : 1); k++) {
		x->cur_k = k;
		x->cur_id = r->ipsec.nidents ? &r->ipsec.idents[k] : NULL;
		made = 0;
		if (transport && rule_transport(x, r, esp) < 0)
			return -1;
		made += transport;
		if (r->dir == DIR_FWD || r->ipsec.mode != MODE_TRANSPORT)
			if (rule_tunnels(x, r, esp, transport, &made) < 0)
				return -1;
	}
	x->cur_id = NULL;
	if (!made)
		diag_add(x->d, DIAG_WARNING, r->file, r->path, r->name,
			 "a forward rule is carried by tunnels only, and the rule names no gateways: no child for it");
	*nrules += made > 0;
	if (r->ipsec.has_reqid && children(x) - before > 1)
		diag_add(x->d, DIAG_WARNING, r->file, r->path, r->name,
			 "the rule pins reqid %u and gets %zu children: strongSwan gives a fixed reqid to one CHILD_SA at a time, so only one of them can be up at once; pin no reqid, or split the rule by protocol, family and gateway",
			 r->ipsec.reqid, children(x) - before);
	return 0;
}

/* --- printing -------------------------------------------------------- */

/* strongSwan takes a protocol's name from /etc/protocols or its number */
static void put_proto(FILE *f, int proto)
{
	if (proto == 6 || proto == 17 || proto == 1)
		fputs(model_proto_name((unsigned)proto), f);
	else if (proto == 58)
		fputs("ipv6-icmp", f);
	else
		fprintf(f, "%d", proto);
}

/* A short range that is no CIDR block reads better as its addresses:
 * "10.0.0.21, 10.0.0.22", not "10.0.0.21-10.0.0.22". */
#define PIECES_MAX 8

static void count_block(enum addr_family fam, u128 net, unsigned plen, void *arg)
{
	(void)fam, (void)net, (void)plen;
	++*(size_t *)arg;
}

static size_t pieces(const struct addr_range *r, struct addr_range *out)
{
	size_t blocks = 0;

	if (r->hi - r->lo >= PIECES_MAX || (addr_range_cidrs(r, count_block, &blocks), blocks == 1)) {
		out[0] = *r;
		return 1;
	}
	blocks = 0;
	for (u128 a = r->lo;; a++) {
		out[blocks++] = (struct addr_range){ .fam = r->fam, .lo = a, .hi = a };
		if (a == r->hi)
			return blocks;
	}
}

/* One address of a selector with each port range of the child's
 * protocol, when ports is the side with them. */
static void put_entry(FILE *f, const struct child *c, const char *addr, bool ports, bool *first)
{
	bool whole = true;

	if (c->proto < 0) {
		fprintf(f, "%s%s", *first ? "" : ", ", addr);
		*first = false;
		return;
	}
	for (size_t i = 0; ports && i < c->r->nkeys; i++) {
		uint32_t lo = c->r->keys[i].lo, hi = c->r->keys[i].hi;
		uint32_t plo = KEY((unsigned)c->proto, 0), phi = KEY((unsigned)c->proto, 0xffff);

		if (hi < plo || lo > phi)
			continue;
		lo = lo < plo ? plo : lo;
		hi = hi > phi ? phi : hi;
		if (KEY_PORT(lo) == 0 && KEY_PORT(hi) == 0xffff)
			break;
		whole = false;
		fprintf(f, "%s%s[", *first ? "" : ", ", addr);
		put_proto(f, c->proto);
		if (lo == hi)
			fprintf(f, "/%u]", KEY_PORT(lo));
		else
			fprintf(f, "/%u-%u]", KEY_PORT(lo), KEY_PORT(hi));
		*first = false;
	}
	if (whole) {
		fprintf(f, "%s%s[", *first ? "" : ", ", addr);
		put_proto(f, c->proto);
		fputc(']', f);
		*first = false;
	}
}

/* The entries of one selector: each address range (or dynamic) with each
 * port range of the child's protocol, when ports is the side with them. */
static void put_ts(FILE *f, const char *key, const struct child *c, const struct addr_set *s,
		   bool ports)
{
	size_t na = s->n ? s->n : 1;
	bool first = true;

	fprintf(f, "\t\t\t\t%s = ", key);
	for (size_t a = 0; a < na; a++) {
		struct addr_range one[PIECES_MAX];
		size_t np = s->n ? pieces(&s->v[a], one) : 1;

		for (size_t k = 0; k < np; k++) {
			char addr[128] = "dynamic";

			if (s->n)
				addr_range_format(&one[k], addr, sizeof(addr));
			put_entry(f, c, addr, ports, &first);
		}
	}
	fputc('\n', f);
}

/* The addresses of s, those of family fam only when fam >= 0. */
static void put_addrs(FILE *f, const char *key, const struct addr_set *s, int fam)
{
	bool first = true;

	fprintf(f, "\t\t%s = ", key);
	if (s->any) {
		fprintf(f, "%s\n", fam < 0 ? "%any" : fam == AF4 ? "%any4" : "%any6");
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (fam >= 0 && s->v[i].fam != (enum addr_family)fam)
			continue;
		struct addr_range one[PIECES_MAX];
		size_t n = pieces(&s->v[i], one);

		for (size_t k = 0; k < n; k++) {
			char a[128];

			addr_range_format(&one[k], a, sizeof(a));
			fprintf(f, "%s%s", first ? "" : ", ", a);
			first = false;
		}
	}
	fputc('\n', f);
}

static void put_child(FILE *f, const struct child *c)
{
	const struct rule *r = c->r;
	char algs[256];
	bool port_local = r->dir != DIR_OUT;

	model_alg_list(algs, sizeof(algs), r->ipsec.algorithms);
	fprintf(f, "\t\t\t# rule \"%s\" (%s %s): require-ipsec %s, encryption %s, mode %s\n",
		r->name, r->file, r->path, direction_name(r->dir),
		r->ipsec.encryption == ENC_REQUIRED ? "required" : "integrity-only-allowed",
		mode_name(r->ipsec.mode));
	fprintf(f, "\t\t\t# algorithms allowed: %s\n", algs);
	fprintf(f, "\t\t\t%s {\n", c->name);
	fprintf(f, "\t\t\t\tmode = %s\n", c->tunnel ? "tunnel" : "transport");
	put_ts(f, "local_ts", c, &c->lts, port_local);
	put_ts(f, "remote_ts", c, &c->rts, !port_local);
	fprintf(f, "\t\t\t\tesp_proposals = %s\n", c->esp);
	if (r->ipsec.has_reqid)
		fprintf(f, "\t\t\t\treqid = %u\n", r->ipsec.reqid);
	if (r->dir == DIR_OUT)
		fputs("\t\t\t\tstart_action = trap\n", f);
	fputs("\t\t\t}\n", f);
}

/* The remote's identity constraint: strongSwan reads the same DN,
 * FQDN, e-mail and IP forms, with '*' for a whole RDN value or a leading
 * label / user part. */
static void put_remote_id(FILE *f, const struct conn *c)
{
	const struct ident_pat *p = c->id;
	const char *v = p->san ? p->text + 4 : p->text;

	if (p->group)
		fprintf(f, "\t\t\t# identity \"%s\" of group @%s\n", p->text, p->group);
	if (strpbrk(v, "\\\"")) {
		fprintf(f, "\t\t\t# not written as id (escaped characters strongSwan's parser may read otherwise): sagated checks \"%s\"\n",
			p->text);
		return;
	}
	if (p->kind == IDENT_ANY) {
		fputs("\t\t\tid = %any\n", f);
		return;
	}
	if (p->san)
		fputs("\t\t\t# san: charon checks the identity the peer proves, which its certificate must hold\n", f);
	fprintf(f, p->kind == IDENT_DN ? "\t\t\tid = \"%s\"\n" : "\t\t\tid = %s\n", v);
}

static void put_conn(FILE *f, const struct ctx *x, const struct conn *c)
{
	fprintf(f, "\t%s {\n\t\tversion = 2\n", c->name);
	if (c->local) {
		put_addrs(f, "local_addrs", c->local, c->fam);
	} else if (x->o->nlocal) {
		struct addr_set s = { .v = (struct addr_range *)x->o->local, .n = x->o->nlocal };

		put_addrs(f, "local_addrs", &s, c->fam);
	}
	if (c->wildcard) {
		/* charon traps for one peer address only, unless the remote is
		 * any: then it negotiates with each trapped packet's destination,
		 * and the children's remote_ts keep that to the peers */
		fprintf(f, "\t\t# trap to several peers: IKE with each packet's destination, remote_ts limits them\n");
		put_addrs(f, "remote_addrs", &(struct addr_set){ .any = true }, c->fam);
	} else {
		put_addrs(f, "remote_addrs", c->remote, c->fam);
	}
	fputs("\t\tproposals = aes256gcm16-prfsha256-x25519, aes128gcm16-prfsha256-x25519\n", f);
	if (x->o->auth == IKE_AUTH_PSK) {
		fputs("\t\tlocal {\n\t\t\tauth = psk\n\t\t}\n"
		      "\t\tremote {\n\t\t\tauth = psk\n", f);
		if (c->id)
			put_remote_id(f, c);
		fputs("\t\t}\n"
		      "\t\t# fill in: the pre-shared key, in a secrets { ike-... { secret = ... } } section\n", f);
	} else {
		fputs("\t\tlocal {\n\t\t\tauth = pubkey\n"
		      "\t\t\t# fill in: certs = this host's certificate (in /etc/swanctl/x509)\n\t\t}\n"
		      "\t\tremote {\n\t\t\tauth = pubkey\n", f);
		if (c->id) {
			put_remote_id(f, c);
			fputs("\t\t\t# fill in: cacerts = the CA that issued the peers' certificates (else any CA charon trusts)\n", f);
		} else {
			fputs("\t\t\t# fill in: id = the identity the peers must prove (else any the CA vouches for)\n", f);
		}
		fputs("\t\t}\n", f);
	}
	fputs("\t\tchildren {\n", f);
	for (size_t i = 0; i < c->n; i++)
		put_child(f, &c->ch[i]);
	fputs("\t\t}\n\t}\n", f);
}

int ike_conf_write(FILE *f, const struct policy *p, const struct ike_conf_opts *o,
		   struct diag_list *d, struct ike_conf_stats *st)
{
	struct ctx x = { .p = p, .o = o, .d = d };
	int rc = 0;

	*st = (struct ike_conf_stats){ 0 };
	for (size_t i = 0; i < p->nrules && rc == 0; i++)
		if (p->rules[i].action == ACT_REQUIRE_IPSEC)
			rc = rule_children(&x, &p->rules[i], &st->rules);
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, p->file, "", NULL, "out of memory");
		ctx_fini(&x);
		return -1;
	}
	fprintf(f, "# swanctl.conf fragment made by sagate ike-config from %s:\n"
		"# one connection per peer set (or tunnel gateway), one child per\n"
		"# require-ipsec rule (and protocol).  Fill in the authentication where it\n"
		"# says so, put it in /etc/swanctl/conf.d/ and run swanctl --load-all.\n",
		p->file);
	if (!x.n)
		fputs("# The policy has no require-ipsec rule that IKE could serve.\n", f);
	else {
		fputs("connections {\n", f);
		for (size_t i = 0; i < x.n; i++) {
			put_conn(f, &x, &x.c[i]);
			st->children += x.c[i].n;
		}
		fputs("}\n", f);
	}
	st->connections = x.n;
	ctx_fini(&x);
	return ferror(f) ? -1 : 0;
}
