/* nft_report: an error the kernel returned for one message of a batch,
 * mapped back to the policy rule (and statement or element) that made it. */
#include "config.h"

#include "nft_build.h"
#include "nft_build_int.h"
#include "plan_print.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

/* --- errors back to the policy ------------------------------------------- */

/* "chain C rule N "comment", its anonymous set, statement "S" (expression
 * "E")": a chain name, a comment the kernel kept, and a little more. */
#define RULE_AT_MAX 640

static const struct mark *find_mark(const struct nft_batch *b, const struct origin *o,
				    uint32_t off)
{
	const struct mark *m = NULL;

	for (size_t i = 0; off && i < o->nmarks; i++) {
		if (b->marks[o->mark0 + i].off > off)
			break;
		m = &b->marks[o->mark0 + i];
	}
	return m;
}

static const char *stmt_name(enum plan_stmt_kind k)
{
	switch (k) {
	case PS_IIF_LO: return "iif \"lo\"";
	case PS_OIF_LO: return "oif \"lo\"";
	case PS_CT_STATE: return "ct state";
	case PS_CT_MARK_SET_BIT: return "ct mark &";
	case PS_SECPATH_MISSING: return "meta ipsec missing";
	case PS_RT_IPSEC_MISSING: return "rt ipsec missing";
	case PS_IPSEC_REQID_NE: return "ipsec in reqid";
	case PS_ICMPV6_ND: return "icmpv6 type { nd-* }";
	case PS_L4PROTO_PORTS: return "meta l4proto { tcp, udp, sctp }";
	case PS_L4PROTO_IS: return "meta l4proto icmp / ipv6-icmp";
	case PS_VMAP: return "vmap";
	case PS_COUNTER: return "counter";
	case PS_LIMIT: return "limit";
	case PS_LOG: return "log";
	case PS_CT_MARK_OR: return "ct mark set";
	case PS_PRIORITY_SET_SPI: return "meta priority set ipsec in spi";
	case PS_CT_MARK_SET_REQID: return "ct mark set ipsec reqid";
	case PS_BIND_ADD: return "add @" PLAN_BOUND_SET;
	case PS_BIND_MISSING: return "ct mark . ipsec in reqid != @" PLAN_BOUND_SET;
	case PS_ATTEMPT_UPDATE: return "update @" PLAN_ATTEMPTS4 " / @" PLAN_ATTEMPTS6;
	case PS_METER_OVER: return "update @limit_* { saddr limit rate over ... }";
	case PS_CT_DIRECTION: return "ct direction";
	}
	return "?";
}

/* The policy rule a plan rule stands for: its comment is the rule's name
 * in the per-rule chains (log_N). */
static const struct rule *rule_by_name(const struct nft_batch *b, const char *name)
{
	for (size_t i = 0; b->pol && name && i < b->pol->nrules; i++)
		if (strcmp(b->pol->rules[i].name, name) == 0)
			return &b->pol->rules[i];
	return NULL;
}

/* ", statement "S"" for statement stmt of pr (STMT_VERDICT: its verdict),
 * or "" for none. */
static void stmt_where(char *buf, size_t len, const struct plan_rule *pr, uint32_t stmt)
{
	char v[96];

	buf[0] = '\0';
	if (stmt == STMT_VERDICT) {
		plan_format_verdict(v, sizeof(v), &pr->verdict);
		snprintf(buf, len, ", statement \"%s\"", v);
	} else if (stmt < pr->nstmts) {
		snprintf(buf, len, ", statement \"%s\"", stmt_name(pr->stmts[stmt].kind));
	}
}

/* "chain C rule N "comment"WHERE" in buf, for plan rule ri of chain ci;
 * returns the policy rule it stands for, if any. */
static const struct rule *rule_at(const struct nft_batch *b, uint32_t ci, uint32_t ri,
				  const char *where, char *buf, size_t len)
{
	const struct plan_chain *c = &b->plan->chains[ci];
	const struct plan_rule *pr = &c->rules[ri];

	snprintf(buf, len, "chain %s rule %u%s%s%s%s", c->name, ri + 1,
		 pr->comment ? " \"" : "", pr->comment ? pr->comment : "",
		 pr->comment ? "\"" : "", where);
	return rule_by_name(b, pr->comment);
}

int nftb_rule_fail(struct nft_batch *b, uint32_t ci, uint32_t ri, uint32_t stmt,
		   const char *fmt, ...)
{
	char where[160], at[RULE_AT_MAX];
	const struct rule *r;
	va_list ap;
	int ret;

	stmt_where(where, sizeof(where), &b->plan->chains[ci].rules[ri], stmt);
	r = rule_at(b, ci, ri, where, at, sizeof(at));
	va_start(ap, fmt);
	ret = nftb_vfail(b, r, at, fmt, ap);
	va_end(ap);
	return ret;
}

static void report_rule(const struct nft_batch *b, const struct origin *o, uint32_t off,
			const char *what, struct diag_list *d)
{
	const struct plan_rule *pr = &b->plan->chains[o->obj].rules[o->idx];
	const struct mark *m = o->kind == O_RULE ? find_mark(b, o, off) : NULL;
	char where[200], at[RULE_AT_MAX];
	size_t n;

	n = (size_t)snprintf(where, sizeof(where), "%s",
			     o->kind == O_ANON ? ", its anonymous set" : "");
	if (m)
		stmt_where(where + n, sizeof(where) - n, pr, m->what);
	n = strlen(where);
	if (m && m->expr && m->expr < ARRAY_SIZE(expr_names))
		snprintf(where + n, sizeof(where) - n, " (expression \"%s\")", expr_names[m->expr]);
	nftb_diag(b, rule_at(b, o->obj, o->idx, where, at, sizeof(at)), d, at, what);
}

static void report_elems(const struct nft_batch *b, const struct origin *o, uint32_t off,
			 const char *what, struct diag_list *d)
{
	const struct plan_set *s = &b->plan->sets[o->obj];
	const struct mark *m = find_mark(b, o, off);
	const struct plan_elem *e = &s->elems[m ? m->what : o->idx];
	const struct rule *r = nftb_elem_rule(b, e);
	char key[512], v[96];

	plan_format_elem_key(key, sizeof(key), s, e);
	plan_format_verdict(v, sizeof(v), &e->verdict);
	if (m)
		diag_add(d, DIAG_ERROR, r ? r->file : b->pol ? b->pol->file : "nft", r ? r->path : "",
			 r ? r->name : NULL, "map %s element %s : %s: %s", s->name, key, v, what);
	else
		diag_add(d, DIAG_ERROR, b->pol ? b->pol->file : "nft", "", NULL,
			 "map %s, elements %u to %zu (the first from rule \"%s\"): %s", s->name,
			 o->idx + 1, (size_t)o->idx + o->nmarks, r ? r->name : "?", what);
}

void nft_batch_report(const struct nft_batch *b, uint32_t seq, uint32_t offset,
		      int err, const char *kmsg, struct diag_list *d)
{
	const char *file = b->pol ? b->pol->file : "nft";
	const struct origin *o;
	const struct mark *m;
	char what[512];

	snprintf(what, sizeof(what), "%s%s%s%s", strerror(err), kmsg && *kmsg ? " (kernel: " : "",
		 kmsg && *kmsg ? kmsg : "", kmsg && *kmsg ? ")" : "");
	if (!nft_batch_has_seq(b, seq)) {
		diag_add(d, DIAG_ERROR, file, "", NULL, "kernel error for a message not sent: %s", what);
		return;
	}
	o = &b->msgs[seq - b->seq0];
	m = (o->kind == O_RULE) ? find_mark(b, o, offset) : NULL;
	if (err == ENOENT && m && m->expr != X_LOOKUP && m->expr != X_IMMEDIATE) {
		size_t n = strlen(what);

		snprintf(what + n, sizeof(what) - n,
			 "; this kernel has no nf_tables \"%s\" expression", expr_names[m->expr]);
	}
	switch ((enum origin_kind)o->kind) {
	case O_BATCH:
		diag_add(d, DIAG_ERROR, file, "", NULL, "transaction: %s%s", what,
			 err == EPERM ? " (changing nf_tables needs CAP_NET_ADMIN)" : "");
		break;
	case O_TABLE:
		diag_add(d, DIAG_ERROR, file, "", NULL, "%s table inet %s: %s",
			 o->type == NFT_MSG_DELTABLE ? "deleting" : "creating", PLAN_TABLE, what);
		break;
	case O_CHAIN:
		diag_add(d, DIAG_ERROR, file, "", NULL, "chain %s: %s",
			 b->plan->chains[o->obj].name, what);
		break;
	case O_SET:
		diag_add(d, DIAG_ERROR, file, "", NULL, "map %s: %s", b->plan->sets[o->obj].name, what);
		break;
	case O_ELEMS:
		report_elems(b, o, offset, what, d);
		break;
	case O_ANON:
	case O_RULE:
		report_rule(b, o, offset, what, d);
		break;
	case O_OLD_CHAIN:
		diag_add(d, DIAG_ERROR, file, "", NULL, "chain %s (live): %s",
			 b->old->chains[o->obj].name, what);
		break;
	case O_OLD_ELEMS:
		diag_add(d, DIAG_ERROR, file, "", NULL, "map %s, deleting elements %u to %zu: %s",
			 b->old->sets[o->obj].name, o->idx + 1, (size_t)o->idx + o->nmarks, what);
		break;
	}
}
