/* apply-smoke: drive nft_apply from tests/netns/apply-smoke.sh.
 *
 *   apply-smoke apply POLICY [--engine] [--dry-run]   compile and apply
 *               [--queue-as-drop]                     (engine plan with its queue
 *                                                     verdicts made drops: for
 *                                                     kernels without nft queue)
 *   apply-smoke flush [--dry-run]                     delete table inet sagate
 *   apply-smoke overlap POLICY [--dry-run]            apply a plan with two
 *                                                     overlapping elements
 *   apply-smoke bench NRULES [--nft-out=FILE]         generated policy: time
 *                                                     classify+compile, apply;
 *                                                     FILE: the plan as nft text
 *   apply-smoke sets                                  the sets of table inet
 *                                                     sagate, anonymous ones too:
 *                                                     a line per attribute that
 *                                                     nft lists them by (flags,
 *                                                     key and data type, length)
 *                                                     and per user data TLV (hex)
 *
 * Diagnostics go to stdout, one per line.  Exit 0 on success, 1 when the
 * apply failed, 2 on a usage or setup error.  Run it inside a throwaway
 * network namespace: it changes the ruleset of the namespace it runs in.
 */
#include "config.h"

#include "classify.h"
#include "compile.h"
#include "gen.h"
#include "nft_apply.h"
#include "nft_talk.h"
#include "parse.h"
#include "plan.h"
#include "plan_print.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>

struct loaded {
	struct diag_list diags;
	struct policy *pol;
	struct classes *cls;
	struct plan *plan;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_diags(const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++) {
		char *s = diag_format(&d->items[i]);

		printf("%s\n", s ? s : "out of memory");
		free(s);
	}
}

static void unload(struct loaded *l)
{
	plan_free(l->plan);
	classes_free(l->cls);
	policy_free(l->pol);
	diag_list_fini(&l->diags);
}

static int load(const char *file, enum plan_mode mode, struct loaded *l)
{
	memset(l, 0, sizeof(*l));
	diag_list_init(&l->diags);
	l->pol = parse_policy_file(file, NULL, &l->diags);
	if (!l->pol) {
		print_diags(&l->diags);
		return -1;
	}
	l->cls = classify(l->pol, CLASSIFY_ANALYSE);
	if (l->cls)
		l->plan = compile_plan(l->pol, l->cls, &(struct compile_opts){ mode, 0, 0 });
	if (!l->plan) {
		fprintf(stderr, "%s: out of memory while compiling\n", file);
		return -1;
	}
	/* the apply's own diagnostics only */
	diag_list_fini(&l->diags);
	diag_list_init(&l->diags);
	return 0;
}

static int finish(struct loaded *l, int ret)
{
	print_diags(&l->diags);
	unload(l);
	return ret ? 1 : 0;
}

static int cmd_apply(const char *file, bool engine, bool dry_run, bool queue_as_drop)
{
	struct loaded l;

	if (load(file, engine ? PLAN_ENGINE : PLAN_KERNEL_ONLY, &l))
		return 2;
	for (size_t i = 0; queue_as_drop && i < l.plan->nchains; i++)
		for (size_t j = 0; j < l.plan->chains[i].nrules; j++)
			if (l.plan->chains[i].rules[j].verdict.kind == PV_QUEUE)
				l.plan->chains[i].rules[j].verdict.kind = PV_DROP;
	return finish(&l, nft_apply(l.plan, l.pol, dry_run, &l.diags));
}

static int cmd_flush(bool dry_run)
{
	struct diag_list d;
	int ret;

	diag_list_init(&d);
	ret = nft_flush_table(dry_run, &d);
	print_diags(&d);
	diag_list_fini(&d);
	return ret ? 1 : 0;
}

/* A copy of an interval element whose first field starts where the
 * original's does but ends elsewhere: the kernel must refuse it.  The copy
 * is attributed to another policy rule, whose name the error must carry. */
static int cmd_overlap(const char *file, bool dry_run)
{
	struct loaded l;

	if (load(file, PLAN_KERNEL_ONLY, &l))
		return 2;
	for (size_t i = 0; i < l.plan->nsets; i++) {
		struct plan_set *s = &l.plan->sets[i];
		struct plan_elem e;

		if (!s->interval || !s->nelems)
			continue;
		e = s->elems[0];
		if (e.hi[0] > e.lo[0])
			e.hi[0]--;
		else
			e.hi[0]++;	/* a single address: grow it */
		e.rule = (e.rule + 1) % (uint32_t)l.pol->nrules;
		if (plan_add_elem(s, &e)) {
			unload(&l);
			return 2;
		}
		printf("EXPECT_RULE %s\n", l.pol->rules[e.rule].name);
		printf("EXPECT_SET %s\n", s->name);
		return finish(&l, nft_apply(l.plan, l.pol, dry_run, &l.diags));
	}
	fprintf(stderr, "%s: no interval map with elements to break\n", file);
	unload(&l);
	return 2;
}

static int cmd_bench(size_t nrules, const char *nft_out)
{
	struct gen_opts o = { .nrules = nrules, .addr_span = 100000000, .port_span = 60000,
			      .wide_pct = 0 };
	struct nft_apply_stats st;
	struct diag_list d;
	struct policy *pol;
	struct classes *cls;
	struct plan *plan = NULL;
	uint64_t seed = 0x5a6a7e;
	double t0, t1, t2;
	int ret;

	diag_list_init(&d);
	pol = gen_policy(&o, &seed);
	if (!pol)
		return 2;
	t0 = now();
	cls = classify(pol, 0);
	t1 = now();
	if (cls)
		plan = compile_plan(pol, cls, &(struct compile_opts){ PLAN_KERNEL_ONLY, 0, 0 });
	t2 = now();
	if (!plan) {
		fprintf(stderr, "bench: out of memory\n");
		return 2;
	}
	printf("BENCH rules=%zu boxes=%zu elements=%zu kernel_rules=%zu classify=%.3fs compile=%.3fs\n",
	       nrules, cls->nboxes, plan_elem_count(plan), plan_rule_count(plan), t1 - t0, t2 - t1);
	fflush(stdout);
	if (nft_out) {
		FILE *f = fopen(nft_out, "w");

		if (!f || plan_print_nft(f, plan, pol) || fclose(f)) {
			perror(nft_out);
			return 2;
		}
	}
	ret = nft_apply_measured(plan, pol, false, &st, &d);
	printf("BENCH rules=%zu apply=%s build=%.3fs kernel=%.3fs messages=%zu pages=%zu bytes=%zu "
	       "set_elements=%zu\n", nrules, ret ? "failed" : "ok", st.build_seconds,
	       st.kernel_seconds, st.batch.messages, st.batch.pages, st.batch.bytes,
	       st.batch.elements);
	print_diags(&d);
	diag_list_fini(&d);
	plan_free(plan);
	classes_free(cls);
	policy_free(pol);
	return ret ? 1 : 0;
}

/* One line per attribute nft reads back to print a set (its type, typeof,
 * byte orders), and one per top-level TLV of its user data, so that the
 * script can check that each one we write is one nft writes. */
static int udata_cb(const struct nftnl_udata *attr, void *data)
{
	const uint8_t *v = nftnl_udata_get(attr);

	printf("set %s udata %u=", (const char *)data, nftnl_udata_type(attr));
	for (uint8_t i = 0; i < nftnl_udata_len(attr); i++)
		printf("%02x", v[i]);
	printf("\n");
	return 0;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	static const uint16_t attrs[] = { NFTNL_SET_FLAGS, NFTNL_SET_KEY_TYPE, NFTNL_SET_KEY_LEN,
					  NFTNL_SET_DATA_TYPE, NFTNL_SET_DATA_LEN };
	static const char *const names[] = { "flags", "key_type", "key_len", "data_type",
					     "data_len" };
	struct nftnl_set *s = nftnl_set_alloc();
	const char *name;
	const void *ud;
	uint32_t len = 0;

	(void)data;
	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		if (s)
			nftnl_set_free(s);
		return MNL_CB_ERROR;
	}
	name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (nftnl_set_is_set(s, attrs[i]))
			printf("set %s %s=%u\n", name, names[i], nftnl_set_get_u32(s, attrs[i]));
	ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
	if (ud)
		nftnl_udata_parse(ud, len, udata_cb, (void *)name);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int cmd_sets(void)
{
	struct nft_talk t;
	int ret;

	if (nft_talk_open(&t) < 0) {
		perror("netlink");
		return 2;
	}
	ret = nft_talk_dump_sets(&t, NFPROTO_INET, PLAN_TABLE, set_cb, NULL);
	if (ret < 0)
		perror("dumping the sets");
	nft_talk_close(&t);
	return ret < 0 ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: apply-smoke apply POLICY [--engine [--queue-as-drop]] [--dry-run]\n"
		"       apply-smoke flush [--dry-run]\n"
		"       apply-smoke overlap POLICY [--dry-run]\n"
		"       apply-smoke bench NRULES [--nft-out=FILE]\n"
		"       apply-smoke sets\n");
}

int main(int argc, char **argv)
{
	bool engine = false, dry_run = false, queue_as_drop = false;
	const char *nft_out = NULL;
	const char *args[2] = { NULL, NULL };
	size_t nargs = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--engine") == 0)
			engine = true;
		else if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = true;
		else if (strcmp(argv[i], "--queue-as-drop") == 0)
			queue_as_drop = true;
		else if (strncmp(argv[i], "--nft-out=", 10) == 0)
			nft_out = argv[i] + 10;
		else if (nargs < 2)
			args[nargs++] = argv[i];
		else
			nargs = 3;
	}
	if (nargs == 2 && strcmp(args[0], "apply") == 0)
		return cmd_apply(args[1], engine, dry_run, queue_as_drop);
	if (nargs == 1 && strcmp(args[0], "sets") == 0)
		return cmd_sets();
	if (nargs == 1 && strcmp(args[0], "flush") == 0)
		return cmd_flush(dry_run);
	if (nargs == 2 && strcmp(args[0], "overlap") == 0)
		return cmd_overlap(args[1], dry_run);
	if (nargs == 2 && strcmp(args[0], "bench") == 0)
		return cmd_bench(strtoul(args[1], NULL, 10), nft_out);
	usage();
	return 2;
}
