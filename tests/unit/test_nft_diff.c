/* The incremental transaction (nft_diff), without a kernel: the same
 * plan gives an empty difference; a changed rule deletes and adds only
 * the elements that differ (kept + deleted = old, kept + added = new);
 * in engine mode the queue bank's change replaces ipsec_in's rules and
 * nothing else; no message ever touches the table, the flow bindings or
 * the cleartext-attempt sets; a layout change is refused. */
#include "config.h"

#include "classify.h"
#include "compile.h"
#include "gen.h"
#include "nft_diff.h"
#include "plan_file.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

static struct plan *compile_it(const struct policy *p, enum plan_mode mode, uint16_t queue)
{
	struct classes *c = classify(p, 0);
	struct plan *pl;

	cr_assert_not_null(c);
	pl = compile_plan(p, c, &(struct compile_opts){ .mode = mode, .queue = queue });
	cr_assert_not_null(pl);
	classes_free(c);
	return pl;
}

static struct policy *policy(uint64_t seed)
{
	struct gen_opts o = { .nrules = 40, .addr_span = 1u << 12, .port_span = 200,
			      .use_v6 = true };
	struct policy *p = gen_policy(&o, &seed);

	cr_assert_not_null(p);
	return p;
}

static size_t policy_elems(const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nsets; i++)
		if (!p->sets[i].binding && !p->sets[i].attempts && !p->sets[i].meter)
			n += p->sets[i].nelems;
	return n;
}

struct seen {
	size_t newsetelem, delsetelem, delrule, newrule, table, other_sets;
};

/* Every message of the batch: what it is, and no element message for the
 * packet path's sets. */
static void inspect(const struct nft_batch *b, struct seen *s)
{
	size_t n = nft_batch_iovec_len(b);
	struct iovec *iov = calloc(n, sizeof(*iov));

	cr_assert_not_null(iov);
	memset(s, 0, sizeof(*s));
	nft_batch_iovec(b, iov);
	for (size_t i = 0; i < n; i++) {
		const struct nlmsghdr *nlh = iov[i].iov_base;
		int len = (int)iov[i].iov_len;

		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			uint16_t t = nlh->nlmsg_type & 0xff;
			const struct nlattr *a;

			if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
				continue;	/* BATCH_BEGIN / BATCH_END */
			if (t == NFT_MSG_NEWTABLE || t == NFT_MSG_DELTABLE || t == NFT_MSG_DELSET)
				s->table++;
			/* a rule's anonymous set is the rule's; a named one is the table's */
			if (t == NFT_MSG_NEWSET)
				mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
					if (mnl_attr_get_type(a) == NFTA_SET_NAME &&
					    strncmp(mnl_attr_get_str(a), "__set", 5) != 0)
						s->table++;
			s->newrule += t == NFT_MSG_NEWRULE;
			s->delrule += t == NFT_MSG_DELRULE;
			if (t != NFT_MSG_NEWSETELEM && t != NFT_MSG_DELSETELEM)
				continue;
			t == NFT_MSG_NEWSETELEM ? s->newsetelem++ : s->delsetelem++;
			mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
				if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET) {
					const char *set = mnl_attr_get_str(a);

					s->other_sets += !strcmp(set, PLAN_BOUND_SET) ||
							 !strcmp(set, PLAN_ATTEMPTS4) ||
							 !strcmp(set, PLAN_ATTEMPTS6);
				}
		}
	}
	free(iov);
}

/* nft_build_diff from a (its rules named by p's) to b (of q). */
static struct nft_batch *diff(const struct plan *a, const struct policy *p, const struct plan *b,
			      const struct policy *q, struct nft_diff *x, struct diag_list *d)
{
	struct nft_names nm;
	struct nft_batch *bt;

	cr_assert_eq(nft_names_of(&nm, p), 0);
	bt = nft_build_diff(a, &nm, b, q, 0, 7, x, d);
	nft_names_fini(&nm);
	return bt;
}

Test(nft_diff, the_same_plan_sends_nothing)
{
	struct policy *p = policy(3);
	struct plan *a = compile_it(p, PLAN_KERNEL_ONLY, 0), *b = compile_it(p, PLAN_KERNEL_ONLY, 0);
	struct diag_list d;
	struct nft_diff x;
	struct nft_batch *bt;
	struct nft_batch_stats st;

	diag_list_init(&d);
	bt = diff(a, p, b, p, &x, &d);
	cr_assert_not_null(bt, "%s", diag_last(&d));
	nft_batch_get_stats(bt, &st);
	cr_expect_eq(st.messages, 2, "BATCH_BEGIN and BATCH_END only, got %zu", st.messages);
	cr_expect_eq(x.elems_added + x.elems_deleted + x.rules_added + x.rules_deleted, 0);
	cr_expect_eq(x.elems_kept, policy_elems(a));
	nft_batch_free(bt);
	diag_list_fini(&d);
	plan_free(a);
	plan_free(b);
	policy_free(p);
}

Test(nft_diff, a_changed_rule_changes_only_its_elements)
{
	struct policy *p = policy(5), *q = policy(5);
	struct plan *a, *b;
	struct diag_list d;
	struct nft_diff x;
	struct nft_batch *bt;
	struct seen s;
	size_t r = 0;

	/* a permit rule becomes a block */
	while (r < q->nrules && q->rules[r].action != ACT_PERMIT)
		r++;
	cr_assert_lt(r, q->nrules);
	q->rules[r].action = ACT_BLOCK;
	a = compile_it(p, PLAN_KERNEL_ONLY, 0);
	b = compile_it(q, PLAN_KERNEL_ONLY, 0);
	diag_list_init(&d);
	bt = diff(a, p, b, q, &x, &d);
	cr_assert_not_null(bt, "%s", diag_last(&d));
	cr_expect_gt(x.elems_added + x.elems_deleted, 0, "a change that changes nothing");
	cr_expect_gt(x.elems_kept, 0, "every element was replaced");
	cr_expect_eq(x.elems_kept + x.elems_deleted, policy_elems(a));
	cr_expect_eq(x.elems_kept + x.elems_added, policy_elems(b));
	inspect(bt, &s);
	cr_expect_eq(s.table, 0, "the diff touched the table or a set");
	cr_expect_eq(s.other_sets, 0, "the diff touched the bindings or the attempt sets");
	cr_expect_eq(s.delrule + s.newrule, 0);
	cr_expect_gt(s.newsetelem + s.delsetelem, 0);
	nft_batch_free(bt);
	diag_list_fini(&d);
	plan_free(a);
	plan_free(b);
	policy_free(p);
	policy_free(q);
}

Test(nft_diff, the_engine_bank_switch_replaces_ipsec_in)
{
	struct policy *p = policy(9);
	struct plan *a = compile_it(p, PLAN_ENGINE, 0), *b = compile_it(p, PLAN_ENGINE, 1);
	struct diag_list d;
	struct nft_diff x;
	struct nft_batch *bt;
	struct seen s;

	diag_list_init(&d);
	bt = diff(a, p, b, p, &x, &d);
	cr_assert_not_null(bt, "%s", diag_last(&d));
	cr_expect_eq(x.chains_replaced, 1, "%zu chains replaced, ipsec_in alone expected",
		     x.chains_replaced);
	cr_expect_eq(x.elems_added + x.elems_deleted, 0);
	inspect(bt, &s);
	cr_expect_eq(s.delrule, 1);
	cr_expect_eq(s.newrule, x.rules_added);
	cr_expect_eq(s.other_sets + s.table, 0);
	nft_batch_free(bt);
	diag_list_fini(&d);
	plan_free(a);
	plan_free(b);
	policy_free(p);
}

Test(nft_diff, another_mode_is_refused)
{
	struct policy *p = policy(11);
	struct plan *a = compile_it(p, PLAN_ENGINE, 0), *b = compile_it(p, PLAN_KERNEL_ONLY, 0);
	struct diag_list d;
	struct nft_diff x;
	char why[256];

	cr_expect_not(nft_diff_possible(a, b, why, sizeof(why)));
	cr_expect(strstr(why, "mode"), "%s", why);
	diag_list_init(&d);
	cr_expect_null(diff(a, p, b, p, &x, &d));
	cr_expect_eq(d.errors, 1);
	diag_list_fini(&d);
	plan_free(a);
	plan_free(b);
	policy_free(p);
}

/* A plan kept in a file (plan_file.h) reads back as the plan: the
 * difference from it to the plan compiled again is empty, in both modes;
 * a file cut short or of another kind is refused. */
Test(nft_diff, a_kept_plan_reads_back_as_compiled)
{
	char path[] = "/tmp/sagate-plan-XXXXXX";
	int fd = mkstemp(path);
	uint8_t tag[PLAN_FILE_TAG], back[PLAN_FILE_TAG];

	cr_assert_geq(fd, 0);
	close(fd);
	for (int i = 0; i < PLAN_FILE_TAG; i++)
		tag[i] = (uint8_t)(i * 7 + 1);
	for (int mode = 0; mode < 2; mode++) {
		struct policy *p = policy(13 + mode);
		struct plan *a = compile_it(p, mode ? PLAN_KERNEL_ONLY : PLAN_ENGINE, 0);
		struct plan_file f;
		struct diag_list d;
		struct nft_diff x;
		struct nft_batch *bt;
		struct nft_batch_stats st;

		cr_assert_eq(plan_file_write(path, a, p, tag), 0, "%s", strerror(errno));
		cr_assert_eq(plan_file_tag(path, back), 0);
		cr_expect_eq(memcmp(tag, back, sizeof(tag)), 0);
		cr_assert_eq(plan_file_read(path, &f), 0, "%s", strerror(errno));
		cr_expect_eq(f.nnames, p->nrules);
		cr_expect_eq(f.plan->nsets, a->nsets);
		cr_expect_eq(f.plan->nchains, a->nchains);
		cr_expect_str_eq(f.plan->comment ? f.plan->comment : "", a->comment ? a->comment : "");
		diag_list_init(&d);
		bt = nft_build_diff(f.plan, &(struct nft_names){ f.names, f.nnames }, a, p, 0, 7,
				    &x, &d);
		cr_assert_not_null(bt, "%s", diag_last(&d));
		nft_batch_get_stats(bt, &st);
		cr_expect_eq(st.messages, 2, "%zu messages from a plan to itself", st.messages);
		cr_expect_eq(x.elems_kept, policy_elems(a));
		cr_expect_eq(x.rules_added + x.chains_added + x.chains_deleted, 0);
		nft_batch_free(bt);
		diag_list_fini(&d);
		plan_file_fini(&f);
		/* cut short: refused */
		cr_assert_eq(truncate(path, 200), 0);
		cr_expect_eq(plan_file_read(path, &f), -1);
		cr_expect_eq(errno, EINVAL);
		plan_file_fini(&f);
		plan_free(a);
		policy_free(p);
	}
	cr_assert_eq(truncate(path, 3), 0);
	cr_expect_eq(plan_file_tag(path, back), -1);
	unlink(path);
}
