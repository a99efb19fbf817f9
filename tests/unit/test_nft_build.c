/* The netlink batch builder, without a kernel: what it says when a plan
 * cannot be built (one diagnostic, at the policy rule, and "out of
 * memory" only for an allocation), that a kernel error at an offset
 * inside a rule message points back at the statement and policy rule,
 * and that BATCH_BEGIN carries the ruleset generation. */
#include "config.h"

#include "classify.h"
#include "compile.h"
#include "gen.h"
#include "nft_build.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

static struct policy *pol;
static struct plan *plan;
static struct diag_list d;

static void setup(void)
{
	struct gen_opts o = { .nrules = 10, .addr_span = 1u << 16, .port_span = 1000,
			      .use_v6 = true };
	uint64_t seed = 7;
	struct classes *c;

	pol = gen_policy(&o, &seed);
	cr_assert_not_null(pol);
	c = classify(pol, 0);
	cr_assert_not_null(c);
	plan = compile_plan(pol, c, &(struct compile_opts){ PLAN_KERNEL_ONLY, 0, 0 });
	cr_assert_not_null(plan);
	classes_free(c);
	diag_list_init(&d);
}

static void teardown(void)
{
	diag_list_fini(&d);
	plan_free(plan);
	policy_free(pol);
}

/* A rule at the end of the last chain, named after policy rule 3. */
static struct plan_rule *add_rule(void)
{
	struct plan_rule *r = plan_add_rule(&plan->chains[plan->nchains - 1], pol->rules[3].name);

	cr_assert_not_null(r);
	return r;
}

static void add_stmt(struct plan_rule *r, enum plan_stmt_kind k, const char *str)
{
	cr_assert_lt(r->nstmts, sizeof(r->stmts) / sizeof(r->stmts[0]));
	r->stmts[r->nstmts++] = (struct plan_stmt){ k, 0, str };
}

/* The build fails with exactly one error, at policy rule 3, saying all of
 * the given parts and not "out of memory". */
static void expect_one_error(const char *const *parts)
{
	struct nft_batch *b = nft_build_plan(plan, pol, 0, &d);
	const struct diag *e = &d.items[0];

	cr_assert_null(b);
	cr_assert_eq(d.errors, 1, "%zu errors", d.errors);
	cr_log_info("%s", e->message);
	cr_assert_not_null(e->rule);
	cr_assert_str_eq(e->rule, pol->rules[3].name);
	cr_assert_null(strstr(e->message, "out of memory"), "%s", e->message);
	for (size_t i = 0; parts[i]; i++)
		cr_assert_not_null(strstr(e->message, parts[i]), "\"%s\" not in: %s", parts[i],
				   e->message);
}

TestSuite(nft_build, .init = setup, .fini = teardown);

Test(nft_build, a_plan_builds)
{
	struct nft_batch *b = nft_build_plan(plan, pol, 0, &d);

	cr_assert_not_null(b);
	cr_assert_eq(d.count, 0);
	nft_batch_free(b);
}

/* Eight neighbour-discovery statements are 64 expressions, the most a
 * rule is built with: the verdict is one too many. */
Test(nft_build, too_many_expressions_names_the_rule)
{
	static const char *const parts[] = { "more than 64 nf_tables expressions",
					     "statement \"accept\"", NULL };
	struct plan_rule *r = add_rule();

	for (int i = 0; i < 8; i++)
		add_stmt(r, PS_ICMPV6_ND, NULL);
	r->verdict.kind = PV_NONE;
	{
		struct nft_batch *b = nft_build_plan(plan, pol, 0, &d);

		cr_assert_not_null(b, "64 expressions must still build");
		nft_batch_free(b);
	}
	r->verdict.kind = PV_ACCEPT;
	expect_one_error(parts);
}

Test(nft_build, goto_without_a_chain)
{
	static const char *const parts[] = { "goto / jump without a chain", NULL };
	struct plan_rule *r = add_rule();

	add_stmt(r, PS_COUNTER, NULL);
	r->verdict.kind = PV_GOTO;
	expect_one_error(parts);
}

Test(nft_build, a_set_the_plan_does_not_have)
{
	static const char *const parts[] = { "statement \"vmap\"", "the plan has no set nope",
					     NULL };
	struct plan_rule *r = add_rule();

	add_stmt(r, PS_COUNTER, NULL);
	add_stmt(r, PS_VMAP, "nope");
	expect_one_error(parts);
}

/* The last NEWRULE message of the batch, and where its expression k starts. */
static const struct nlmsghdr *last_rule(const struct nft_batch *b, size_t k, uint32_t *off)
{
	size_t n = nft_batch_iovec_len(b);
	struct iovec *iov = calloc(n, sizeof(*iov));
	const struct nlmsghdr *rule = NULL;
	const struct nlattr *a, *x;

	cr_assert_not_null(iov);
	nft_batch_iovec(b, iov);
	for (size_t i = 0; i < n; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int left = (int)iov[i].iov_len;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_type == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE))
				rule = nlh;
	}
	free(iov);
	cr_assert_not_null(rule);
	*off = 0;
	mnl_attr_for_each(a, rule, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS)
			continue;
		mnl_attr_for_each_nested(x, a)
			if (k-- == 0)
				*off = (uint32_t)((const char *)x - (const char *)rule);
	}
	cr_assert_neq(*off, 0);
	return rule;
}

Test(nft_build, a_kernel_error_points_at_the_statement_and_rule)
{
	struct plan_rule *r = add_rule();
	struct nft_batch *b;
	const struct nlmsghdr *nlh;
	const struct diag *e;
	uint32_t off;

	add_stmt(r, PS_COUNTER, NULL);
	add_stmt(r, PS_LOG, "sagate test ");
	r->verdict.kind = PV_DROP;
	b = nft_build_plan(plan, pol, 0, &d);
	cr_assert_not_null(b);
	nlh = last_rule(b, 1, &off);	/* counter, log, immediate */
	cr_assert(nft_batch_has_seq(b, nlh->nlmsg_seq));
	nft_batch_report(b, nlh->nlmsg_seq, off, ENOENT, "test", &d);
	cr_assert_eq(d.errors, 1);
	e = &d.items[0];
	cr_assert_not_null(e->rule);
	cr_assert_str_eq(e->rule, pol->rules[3].name);
	cr_assert_str_eq(e->path, pol->rules[3].path);
	cr_assert_not_null(strstr(e->message, "statement \"log\" (expression \"log\")"), "%s",
			   e->message);
	cr_assert_not_null(strstr(e->message, "(kernel: test)"), "%s", e->message);
	nft_batch_free(b);
}

/* The generation of NFNL_BATCH_GENID in BATCH_BEGIN, or 0 without one. */
static uint32_t begin_genid(const struct nft_batch *b)
{
	size_t n = nft_batch_iovec_len(b);
	struct iovec *iov = calloc(n ? n : 1, sizeof(*iov));
	const struct nlmsghdr *nlh;
	const struct nlattr *a;
	uint32_t genid = 0;

	cr_assert(n >= 1 && iov);
	nft_batch_iovec(b, iov);
	nlh = iov[0].iov_base;
	cr_assert_eq(nlh->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFNL_BATCH_GENID) {
			cr_assert_eq(mnl_attr_get_payload_len(a), 4);
			genid = ntohl(mnl_attr_get_u32(a));
		}
	free(iov);
	return genid;
}

/* The ruleset generation the bindings were read in goes into BATCH_BEGIN
 * (network order, as the kernel reads it); 0 means no check, no
 * attribute. */
Test(nft_build, the_generation_read_is_in_batch_begin)
{
	struct nft_batch *b = nft_build_plan_bound(plan, pol, 0, 0x01020304, NULL, 0, &d);

	cr_assert_not_null(b);
	cr_assert_eq(begin_genid(b), 0x01020304);
	nft_batch_free(b);
	b = nft_build_plan_bound(plan, pol, 0, 0, NULL, 0, &d);
	cr_assert_not_null(b);
	cr_assert_eq(begin_genid(b), 0);
	nft_batch_free(b);
}

/* What one expression of a rule message does with skb fields: its name,
 * and for "meta" / "xfrm" the key and whether it writes (sreg). */
struct expr_seen {
	char name[16];
	uint32_t key;
	bool sets;
};

static size_t rule_exprs(const struct nlmsghdr *rule, struct expr_seen *out, size_t max)
{
	const struct nlattr *a, *x, *f, *g;
	size_t n = 0;

	mnl_attr_for_each(a, rule, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS)
			continue;
		mnl_attr_for_each_nested(x, a) {
			struct expr_seen s = { "", 0, false };

			mnl_attr_for_each_nested(f, x) {
				if (mnl_attr_get_type(f) == NFTA_EXPR_NAME)
					snprintf(s.name, sizeof(s.name), "%s", mnl_attr_get_str(f));
				if (mnl_attr_get_type(f) != NFTA_EXPR_DATA)
					continue;
				mnl_attr_for_each_nested(g, f) {
					/* NFTA_META_KEY and NFTA_XFRM_KEY are both 1 */
					if (mnl_attr_get_type(g) == NFTA_META_KEY)
						s.key = ntohl(mnl_attr_get_u32(g));
					if (mnl_attr_get_type(g) == NFTA_META_SREG)
						s.sets = true;
				}
			}
			cr_assert_lt(n, max);
			out[n++] = s;
		}
	}
	return n;
}

/* The packet mark is not sagate's: no rule of an engine-mode table writes
 * it.  The SPI goes to sagated in skb->priority, set once, by the queue
 * rule, from the xfrm expression's SPI. */
Test(nft_build, the_engine_hands_the_spi_over_in_the_priority_not_the_mark)
{
	struct compile_opts o = { PLAN_ENGINE, 0 };
	struct classes *c = classify(pol, 0);
	struct plan *ep = c ? compile_plan(pol, c, &o) : NULL;
	struct nft_batch *b = ep ? nft_build_plan(ep, pol, 0, &d) : NULL;
	size_t n, priority_sets = 0;
	struct iovec *iov;

	cr_assert_not_null(b);
	n = nft_batch_iovec_len(b);
	iov = calloc(n, sizeof(*iov));
	cr_assert_not_null(iov);
	nft_batch_iovec(b, iov);
	for (size_t i = 0; i < n; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int left = (int)iov[i].iov_len;

		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			struct expr_seen e[80];
			size_t ne;

			if (nlh->nlmsg_type != (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE))
				continue;
			ne = rule_exprs(nlh, e, sizeof(e) / sizeof(e[0]));
			for (size_t k = 0; k < ne; k++) {
				if (strcmp(e[k].name, "meta") || !e[k].sets)
					continue;
				cr_assert_neq(e[k].key, NFT_META_MARK, "a rule sets the packet mark");
				if (e[k].key != NFT_META_PRIORITY)
					continue;
				priority_sets++;
				cr_assert(k > 0 && !strcmp(e[k - 1].name, "xfrm") &&
					  e[k - 1].key == NFT_XFRM_KEY_SPI,
					  "the priority is not set from ipsec in spi");
				cr_assert(k + 1 < ne && !strcmp(e[k + 1].name, "queue"),
					  "the priority is set, but the packet not queued next");
			}
		}
	}
	cr_assert_eq(priority_sets, 1);
	free(iov);
	nft_batch_free(b);
	plan_free(ep);
	classes_free(c);
}
