/* Compiler: the kernel's rule count does not grow with the policy, and
 * elements say exactly what the classes say. */
#include "config.h"

#include "audit_util.h"
#include "classify.h"
#include "compile.h"
#include "findings.h"
#include "gen.h"
#include "plan_print.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static struct plan *compile_generated(size_t nrules, size_t *elems)
{
	struct gen_opts o = { .nrules = nrules, .addr_span = 1u << 20,
			      .port_span = 60000, .use_v6 = true, .wide_pct = 2 };
	struct compile_opts co = { PLAN_ENGINE, 0, 0 };
	uint64_t s = 4242;
	struct policy *p = gen_policy(&o, &s);
	struct classes *c = classify(p, 0);
	struct plan *plan;

	cr_assert_not_null(c);
	plan = compile_plan(p, c, &co);
	cr_assert_not_null(plan);
	*elems = plan_elem_count(plan);
	classes_free(c);
	policy_free(p);
	return plan;
}

/* One map per kind: the kernel rule count is the same for every policy. */
Test(compile, kernel_rules_do_not_grow_with_policy_rules)
{
	size_t e10, e10k;
	struct plan *small, *large;

	setenv("SAGATE_BUCKET_LAYOUT_MIN", "1000000000", 1);
	small = compile_generated(10, &e10);
	large = compile_generated(10000, &e10k);
	unsetenv("SAGATE_BUCKET_LAYOUT_MIN");
	cr_assert_eq(plan_rule_count(small), plan_rule_count(large),
		     "10 rules -> %zu kernel rules, 10,000 rules -> %zu",
		     plan_rule_count(small), plan_rule_count(large));
	cr_assert_gt(e10k, 100 * e10, "elements: %zu vs %zu", e10k, e10);
	cr_log_info("10 rules: %zu kernel rules, %zu elements; 10,000 rules: %zu kernel rules, %zu elements",
		    plan_rule_count(small), e10, plan_rule_count(large), e10k);
	plan_free(small);
	plan_free(large);
}

/* The bucket layout adds two kernel rules (a bucket's chain) per several
 * hundred interval elements, and wide boxes do not fill every bucket:
 * bucket maps hold, on average, about the boxes that start in them. */
Test(compile, buckets_keep_maps_small)
{
	size_t e10, e10k, biggest = 0, buckets = 0, in_buckets = 0;
	struct plan *small = compile_generated(10, &e10);
	struct plan *large = compile_generated(10000, &e10k);
	size_t extra = plan_rule_count(large) - plan_rule_count(small);

	for (size_t i = 0; i < large->nsets; i++) {
		const struct plan_set *s = &large->sets[i];

		if (!strstr(s->name, "_b") || strstr(s->name, "_bucket"))
			continue;
		in_buckets += s->nelems;
		if (strstr(s->name, "_ports"))
			buckets++;
		if (s->nelems > biggest)
			biggest = s->nelems;
	}
	cr_assert_gt(buckets, 1, "a 10,000-rule policy should use buckets");
	/* two per bucket chain, two per direction and family for the wide maps */
	cr_assert_leq(extra, 2 * buckets + 8, "%zu extra kernel rules for %zu buckets", extra, buckets);
	cr_assert_leq(extra * 100, e10k, "%zu extra kernel rules for %zu elements", extra, e10k);
	/* a bucket ends by 1,024 boxes (BUCKET_MAX); this policy has about 18
	 * boxes per address, so its buckets end between 768 and 1,024 */
	cr_assert_leq(in_buckets, 2 * 1024 * buckets, "%zu elements in %zu buckets", in_buckets,
		      buckets);
	cr_log_info("10,000 rules: %zu buckets holding %zu elements (largest map %zu), %zu kernel rules",
		    buckets, in_buckets, biggest, plan_rule_count(large));
	plan_free(small);
	plan_free(large);
}

/* The map that sends a packet to its bucket is a concatenation (peer
 * address . protocol, every protocol in each element), which the kernel
 * keeps as pipapo, not a single-field interval map, which it keeps as an
 * rbtree whose lookup costs a new flow about twice as much here
 * (BENCHMARKS.md); its elements still cover the peer addresses in order,
 * one per bucket, with no gap. */
Test(compile, bucket_dispatch_is_a_concatenation)
{
	size_t e10k, maps = 0;
	struct plan *large = compile_generated(10000, &e10k);

	for (size_t i = 0; i < large->nsets; i++) {
		const struct plan_set *s = &large->sets[i];
		const char *suffix = strrchr(s->name, '_');

		if (!suffix || strcmp(suffix, "_bucket") || !s->nelems)
			continue;
		maps++;
		cr_assert(s->interval, "%s is not an interval map", s->name);
		cr_assert_eq(s->nfields, 2, "%s has %zu key fields, expected peer . l4proto",
			     s->name, s->nfields);
		cr_assert_eq(s->fields[1], PF_L4PROTO, "%s: second field is not the protocol",
			     s->name);
		for (size_t j = 0; j < s->nelems; j++) {
			const struct plan_elem *e = &s->elems[j];

			cr_assert(e->lo[1] == 0 && e->hi[1] == 255,
				  "%s element %zu does not hold every protocol", s->name, j);
			cr_assert(j == 0 || e->lo[0] == s->elems[j - 1].hi[0] + 1,
				  "%s element %zu does not start where the previous ends",
				  s->name, j);
		}
	}
	cr_assert_geq(maps, 2, "%zu bucket maps in use, expected IPv4 and IPv6 ones", maps);
	plan_free(large);
}

/* A lookup keyed by port has no "meta l4proto { tcp, udp, sctp }" before
 * it (a set lookup of its own on every new flow); that is sound because
 * every element of such a map names tcp, udp or sctp in its protocol
 * field, so th dport of another protocol matches nothing.  Both layouts. */
static void check_port_lookups(const struct plan *p, size_t *lookups)
{
	for (size_t c = 0; c < p->nchains; c++)
		for (size_t r = 0; r < p->chains[c].nrules; r++) {
			const struct plan_rule *pr = &p->chains[c].rules[r];
			bool guard = false;

			for (size_t i = 0; i < pr->nstmts; i++) {
				const struct plan_stmt *st = &pr->stmts[i];
				const struct plan_set *s = NULL;

				if (st->kind == PS_L4PROTO_PORTS)
					guard = true;
				if (st->kind != PS_VMAP)
					continue;
				for (size_t j = 0; j < p->nsets && !s; j++)
					if (!strcmp(p->sets[j].name, st->str))
						s = &p->sets[j];
				cr_assert_not_null(s, "vmap of unknown set %s", st->str);
				if (s->fields[s->nfields - 1] != PF_DPORT)
					continue;
				(*lookups)++;
				cr_assert(!guard, "chain %s: lookup in %s behind a protocol guard",
					  p->chains[c].name, s->name);
				for (size_t e = 0; e < s->nelems; e++) {
					unsigned lo = (unsigned)s->elems[e].lo[s->nfields - 2];
					unsigned hi = (unsigned)s->elems[e].hi[s->nfields - 2];

					cr_assert(lo == hi && (lo == 6 || lo == 17 || lo == 132),
						  "%s element %zu: protocol %u-%u in a map keyed by port",
						  s->name, e, lo, hi);
				}
			}
		}
}

Test(compile, port_lookups_have_no_protocol_guard)
{
	size_t elems, lookups = 0;
	struct plan *bucketed = compile_generated(10000, &elems);
	struct plan *one_map;

	setenv("SAGATE_BUCKET_LAYOUT_MIN", "1000000000", 1);
	one_map = compile_generated(10000, &elems);
	unsetenv("SAGATE_BUCKET_LAYOUT_MIN");
	check_port_lookups(bucketed, &lookups);
	check_port_lookups(one_map, &lookups);
	cr_assert_gt(lookups, 10, "only %zu lookups keyed by port checked", lookups);
	plan_free(bucketed);
	plan_free(one_map);
}

static struct rule make_rule(const char *name, enum action a, u128 peer_lo,
			     u128 peer_hi, uint32_t key_lo, uint32_t key_hi)
{
	struct rule r = { 0 };

	r.name = strdup(name);
	r.file = strdup("t");
	r.path = strdup("rules[0]");
	r.action = a;
	r.dir = DIR_IN;
	r.peers.v = calloc(1, sizeof(*r.peers.v));
	r.peers.v[0] = (struct addr_range){ AF4, peer_lo, peer_hi };
	r.peers.n = 1;
	r.local.v = calloc(2, sizeof(*r.local.v));
	r.local.v[0] = (struct addr_range){ AF4, 0, addr_max(AF4) };
	r.local.v[1] = (struct addr_range){ AF6, 0, addr_max(AF6) };
	r.local.n = 2;
	r.local.any = true;
	r.keys = calloc(1, sizeof(*r.keys));
	r.keys[0] = (struct key_range){ key_lo, key_hi };
	r.nkeys = 1;
	r.ipsec.algorithms = ALG_DEFAULT_SET;
	return r;
}

/* A host inside a network, the host first: its port is cut out of the
 * network's elements, the host's own element goes to the exact map, and
 * the network's any-protocol range is split per protocol field (tcp, udp
 * and sctp into the ports map, the rest into the protos map, no ICMPv6). */
Test(compile, elements_of_overlapping_rules)
{
	struct policy *p = policy_alloc();
	struct compile_opts co = { PLAN_KERNEL_ONLY, 0, 0 };
	struct classes *c;
	struct plan *plan;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	p->file = strdup("t.json");
	p->rules = calloc(2, sizeof(*p->rules));
	p->rules[0] = make_rule("host", ACT_REQUIRE_IPSEC, 0x0a000005, 0x0a000005,
				KEY(6, 5432), KEY(6, 5432));
	p->rules[1] = make_rule("net", ACT_PERMIT, 0x0a000000, 0x0a0000ff, 0, KEY_MAX);
	p->nrules = 2;
	c = classify(p, CLASSIFY_ANALYSE);
	plan = compile_plan(p, c, &co);
	f = open_memstream(&text, &len);
	plan_print_nft(f, plan, p);
	fclose(f);
	static const char *const want[] = {
		"10.0.0.5 . tcp . 5432 comment \"host\" : goto ipsec_in",
		/* the host's address: the network everywhere but 5432 */
		"10.0.0.5 . tcp . 0-5431 comment \"net\" : accept",
		"10.0.0.5 . tcp . 5433-65535 comment \"net\" : accept",
		"10.0.0.5 . udp . 0-65535 comment \"net\" : accept",
		/* around it: the whole network, per protocol field */
		"10.0.0.0-10.0.0.4 . tcp . 0-65535 comment \"net\" : accept",
		"10.0.0.6-10.0.0.255 . udp . 0-65535 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . 0-5 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . 7-16 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . 18-57 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . 59-131 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . sctp . 0-65535 comment \"net\" : accept",
		"10.0.0.0-10.0.0.4 . 133-255 comment \"net\" : accept",
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(text, want[i]), "missing \"%s\" in\n%s", want[i], text);
	/* the host; its address: tcp x2, udp, sctp + 5 port-less protocol
	 * runs; the two ranges around it: tcp, udp, sctp + 5 runs each */
	cr_assert_eq(plan_elem_count(plan), 1 + (4 + 5) + 2 * (3 + 5), "%zu elements",
		     plan_elem_count(plan));
	cr_assert_null(strstr(text, ". icmpv6 comment"), "no ICMPv6 elements for IPv4 peers");
	cr_assert_eq(c->info[0].boxes, 1);
	cr_assert(!c->info[1].redundant);
	free(text);
	plan_free(plan);
	classes_free(c);
	policy_free(p);
}

/* The bucket sets of a plan, as "name: element element ..." lines: an
 * element is its key fields, verdict and deciding rule's name. */
static char *bucket_contents(const struct plan *plan, const struct policy *p, size_t *nb)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*nb = 0;
	for (size_t i = 0; i < plan->nsets; i++) {
		const struct plan_set *s = &plan->sets[i];

		if (!strstr(s->name, "_b") || (!strstr(s->name, "_ports") && !strstr(s->name, "_protos")))
			continue;
		++*nb;
		fprintf(f, "%s:", s->name);
		for (size_t j = 0; j < s->nelems; j++) {
			const struct plan_elem *e = &s->elems[j];

			for (size_t k = 0; k < s->nfields; k++)
				fprintf(f, " %llx-%llx/%llx-%llx", (unsigned long long)(e->lo[k] >> 64),
					(unsigned long long)e->lo[k], (unsigned long long)(e->hi[k] >> 64),
					(unsigned long long)e->hi[k]);
			fprintf(f, " %d %s %s;", (int)e->verdict.kind,
				e->verdict.chain ? e->verdict.chain : "",
				e->rule == PLAN_NO_RULE ? "" : p->rules[e->rule].name);
		}
		fputc('\n', f);
	}
	fclose(f);
	return text;
}

/* How many lines of tb (bucket_contents) are lines of te, whole; tb is
 * cut up. */
static size_t lines_kept(char *tb, const char *te)
{
	char *line, *save = NULL;
	size_t kept = 0;

	for (line = strtok_r(tb, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);

		for (const char *q = te; (q = strstr(q, line)); q++)
			if ((q == te || q[-1] == '\n') && (q[l] == '\n' || !q[l])) {
				kept++;
				break;
			}
	}
	return kept;
}

/* A generated policy and an edit of it, each classified and compiled in
 * engine mode, with their bucket maps' contents (bucket_contents). */
struct edit_pair {
	struct policy *base, *edit;
	struct classes *cb, *ce;
	struct plan *pb, *pe;
	char *tb, *te;
	size_t nb, ne;
};

static void pair_compile(struct edit_pair *x)
{
	struct compile_opts co = { PLAN_ENGINE, 0, 0 };

	x->cb = classify(x->base, 0);
	x->ce = classify(x->edit, 0);
	cr_assert(x->cb && x->ce);
	x->pb = compile_plan(x->base, x->cb, &co);
	x->pe = compile_plan(x->edit, x->ce, &co);
	cr_assert(x->pb && x->pe);
	x->tb = bucket_contents(x->pb, x->base, &x->nb);
	x->te = bucket_contents(x->pe, x->edit, &x->ne);
	cr_assert_gt(x->nb, 20, "%zu bucket maps: the policy should use the bucket layout", x->nb);
}

static void pair_free(struct edit_pair *x)
{
	free(x->tb);
	free(x->te);
	plan_free(x->pb);
	plan_free(x->pe);
	classes_free(x->cb);
	classes_free(x->ce);
	policy_free(x->base);
	policy_free(x->edit);
}

/* A one-rule edit moves at most the bucket boundaries next to it: a rule
 * over a /24 in the middle of the generated addresses, added last, with
 * the service keys of an existing rule (so the classifier cuts no other
 * box differently), changes the bucket it falls into (and maybe a
 * neighbour); every other bucket keeps its name and its elements.  (With
 * every 512th box starting a bucket, all the buckets after the new boxes
 * moved.) */
Test(compile, one_rule_edit_keeps_other_buckets)
{
	struct gen_opts o = { .nrules = 10000, .addr_span = 1u << 20,
			      .port_span = 60000, .use_v6 = true, .wide_pct = 2 };
	uint64_t s1 = 4242, s2 = 4242;
	struct edit_pair x = { .base = gen_policy(&o, &s1), .edit = gen_policy(&o, &s2) };
	const struct rule *like = NULL;
	size_t kept;

	for (size_t i = 0; i < x.base->nrules && !like; i++)
		if (x.base->rules[i].dir == DIR_IN && x.base->rules[i].peers.n &&
		    x.base->rules[i].peers.v[0].fam == AF4 && x.base->rules[i].nkeys)
			like = &x.base->rules[i];
	cr_assert_not_null(like);
	x.edit->rules = realloc(x.edit->rules, (x.edit->nrules + 1) * sizeof(*x.edit->rules));
	cr_assert_not_null(x.edit->rules);
	x.edit->rules[x.edit->nrules++] = make_rule("added", ACT_PERMIT, 0x0ac80000, 0x0ac800ff,
						    like->keys[0].lo, like->keys[0].hi);
	pair_compile(&x);
	cr_assert_neq(plan_elem_count(x.pb), plan_elem_count(x.pe), "the added rule adds elements");
	kept = lines_kept(x.tb, x.te);
	/* two maps per bucket: the one the rule lands in, and one neighbour */
	cr_assert_geq(kept + 4, x.nb, "%zu of %zu bucket maps kept their name and elements", kept, x.nb);
	cr_log_info("%zu of %zu bucket maps unchanged, %zu after the edit", kept, x.nb, x.ne);
	/* the hash is fixed: the same policy cuts into the same buckets, with
	 * the same names, everywhere (IPv4: the start in hex; IPv6: a hash
	 * of it, here of ::) */
	cr_assert_not_null(plan_find_set(x.pb, "in4_b00000000_ports"));
	cr_assert_not_null(plan_find_set(x.pb, "in4_b0a001400_ports"));
	cr_assert_not_null(plan_find_set(x.pb, "in6_bb4d055fcf2cbbd7b_ports"));
	pair_free(&x);
}

/* Bucket maps of plan a that are not in plan b by name: how many. */
static size_t maps_only_in(const struct plan *a, struct plan *b)
{
	size_t n = 0;

	for (size_t i = 0; i < a->nsets; i++)
		if (!plan_find_set(b, a->sets[i].name))
			n++;
	return n;
}

/* The edits an admin makes most: one rule's port changed, one rule added
 * before the others, each with a port no other rule names.  A new port
 * is a new column of the classifier's segment tree, which moves where the
 * tree's nodes fall for every key after it; unless boxes that continue
 * each other are merged, the boxes of rules all over the policy come out
 * cut differently, and so do the bucket boundaries that depend on box
 * counts (bench/incr-apply: 44 of 431 maps renamed at 100,000 rules, and
 * the incremental apply impossible).  Now only the bucket the edited
 * rule falls into and a neighbour may change; every other map keeps its
 * name and its elements. */
Test(compile, port_change_and_add_keep_other_buckets)
{
	struct gen_opts o = { .nrules = 10000, .addr_span = 1u << 20,
			      .port_span = 60000, .use_v6 = true, .wide_pct = 2 };

	for (int kind = 0; kind < 2; kind++) {
		uint64_t s1 = 4242, s2 = 4242;
		struct edit_pair x = { .base = gen_policy(&o, &s1), .edit = gen_policy(&o, &s2) };
		const struct policy *base = x.base;
		struct policy *edit = x.edit;
		size_t kept, like = base->nrules;
		const char *what = kind ? "add" : "port";

		/* an IPv4 tcp rule of one host from the middle of the policy */
		for (size_t i = base->nrules / 2; i < base->nrules && like == base->nrules; i++)
			if (base->rules[i].dir == DIR_IN && base->rules[i].peers.n == 1 &&
			    base->rules[i].peers.v[0].fam == AF4 &&
			    base->rules[i].peers.v[0].lo == base->rules[i].peers.v[0].hi &&
			    base->rules[i].nkeys && KEY_PROTO(base->rules[i].keys[0].lo) == 6 &&
			    KEY_PROTO(base->rules[i].keys[0].hi) == 6)
				like = i;
		cr_assert_lt(like, base->nrules);
		if (kind == 0) {
			edit->rules[like].keys[0] = (struct key_range){ KEY(6, 61001), KEY(6, 61001) };
		} else {
			edit->rules = realloc(edit->rules, (edit->nrules + 1) * sizeof(*edit->rules));
			cr_assert_not_null(edit->rules);
			memmove(&edit->rules[1], &edit->rules[0], edit->nrules * sizeof(*edit->rules));
			edit->nrules++;
			edit->rules[0] = make_rule("added", ACT_PERMIT, 0x0a080000, 0x0a0800ff,
						   KEY(6, 61002), KEY(6, 61002));
		}
		pair_compile(&x);
		cr_assert_str_neq(x.tb, x.te, "%s: the edit changes some bucket", what);
		kept = lines_kept(x.tb, x.te);
		cr_log_info("%s: %zu of %zu bucket maps unchanged, %zu after the edit; %zu maps renamed",
			    what, kept, x.nb, x.ne, maps_only_in(x.pb, x.pe));
		/* two maps per bucket: the one the rule lands in, and one neighbour */
		cr_assert_leq(maps_only_in(x.pb, x.pe), 4, "%s: %zu maps of the base are gone", what,
			      maps_only_in(x.pb, x.pe));
		cr_assert_leq(maps_only_in(x.pe, x.pb), 4, "%s: %zu maps are new", what,
			      maps_only_in(x.pe, x.pb));
		cr_assert_geq(kept * 4, x.nb * 3, "%s: %zu of %zu bucket maps kept their name and elements",
			      what, kept, x.nb);
		pair_free(&x);
	}
}

/* nft's strings have no escapes: whatever the source path holds, the
 * table comment is one line without a quote, and says the path. */
Test(compile, table_comment_escapes_the_path)
{
	char *c = compile_table_comment("/etc/a\"b\\c\nflush ruleset\t\x7f.json",
					"0123456789abcdef0123");
	char buf[8];

	cr_assert_str_eq(c, "sagate policy /etc/a\\x22b\\\\c\\nflush ruleset\\t\\x7f.json "
			 "sha256 0123456789abcdef");
	free(c);
	/* whole escapes only, when it must cut */
	cr_assert_eq(plan_escape(buf, sizeof(buf), "ab\ncd"), 6);
	cr_assert_str_eq(buf, "ab\\ncd");
	cr_assert_eq(plan_escape(buf, sizeof(buf), "abcdef\n"), 6);
	cr_assert_str_eq(buf, "abcdef");
}

/* A long path keeps its file name, escaped, and the comment stays within
 * the 127 bytes nft allows, with a slash in the path or without. */
Test(compile, table_comment_of_a_long_path)
{
	char path[400], *c;

	memset(path, 'd', sizeof(path));
	path[0] = '/';
	path[200] = '/';
	memset(path + 201, '\n', 100);
	path[sizeof(path) - 1] = '\0';
	c = compile_table_comment(path, "0123456789abcdef0123");
	cr_assert_leq(strlen(c), 127, "%zu bytes: %s", strlen(c), c);
	cr_assert_null(strchr(c, '\n'));
	cr_assert(strncmp(c, "sagate policy .../\\n\\n", 22) == 0, "%s", c);
	cr_assert(strstr(c, "\\n sha256 0123456789abcdef"), "cut inside an escape: %s", c);
	free(c);
	c = compile_table_comment(path + 201, "0123456789abcdef0123");
	cr_assert_leq(strlen(c), 127, "%zu bytes: %s", strlen(c), c);
	free(c);
}

/* A policy's max_elements holds at exactly its element count: at the
 * count the plan is the one without a limit; one below, the policy is
 * over, whichever stage notices (the classifier then holds no boxes, the
 * plan no more elements than the limit); below its boxes, the classifier
 * stops. */
Test(compile, element_limit_is_exact)
{
	struct gen_opts o = { .nrules = 200, .addr_span = 4096, .port_span = 2000,
			      .use_v6 = true, .use_local = true, .wide_pct = 10 };
	struct compile_opts co = { PLAN_ENGINE, 0, 0 };
	size_t stopped = 0;

	for (uint64_t seed = 1; seed <= 12; seed++) {
		uint64_t s = seed * 7919;
		struct policy *p = gen_policy(&o, &s);
		struct classes *c = classify(p, 0), *lc;
		struct plan *plan = compile_plan(p, c, &co), *lp;
		size_t n = plan_elem_count(plan);
		struct diag_list d;

		diag_list_init(&d);
		p->max_elements = n;
		lc = classify(p, CLASSIFY_LIMIT);
		cr_assert(lc && !lc->over_limit && lc->nboxes == c->nboxes);
		lp = compile_plan(p, lc, &co);
		cr_assert_eq(plan_elem_count(lp), n);
		cr_assert(!compile_over_limit(p, lc, lp, &d) && d.count == 0);
		classes_free(lc);
		plan_free(lp);
		p->max_elements = n - 1;
		lc = classify(p, CLASSIFY_LIMIT);
		cr_assert_not_null(lc);
		lp = lc->over_limit ? NULL : compile_plan(p, lc, &co);
		if (lc->over_limit) {
			stopped++;
			cr_assert_eq(lc->nboxes, 0);
		} else {
			cr_assert_eq(lp->elems_needed, n);
			cr_assert_eq(plan_elem_count(lp), n - 1);
		}
		cr_assert(compile_over_limit(p, lc, lp, &d) && d.errors == 1);
		classes_free(lc);
		plan_free(lp);
		/* fewer than its boxes: the classifier stops */
		p->max_elements = c->nboxes - 1;
		lc = classify(p, CLASSIFY_LIMIT);
		cr_assert(lc && lc->over_limit && lc->nboxes == 0);
		cr_assert(compile_over_limit(p, lc, NULL, &d) && d.errors == 2);
		classes_free(lc);
		diag_list_fini(&d);
		classes_free(c);
		plan_free(plan);
		policy_free(p);
	}
	cr_log_info("one below the count: %zu of 12 stopped in the classifier", stopped);
}

/* ICMP types: a rule for some types of ICMP fills the df_icmp map (the
 * types in the port half of the key), one more kernel rule per family
 * that has one; the rest of ICMP under a later rule stays in df_protos
 * only where it is all of ICMP. */
Test(compile, icmp_types_go_to_the_icmp_map)
{
	struct policy *p = policy_alloc();
	struct compile_opts co = { PLAN_KERNEL_ONLY, 0, 0 };
	struct classes *c;
	struct plan *plan, *plain;
	char *text = NULL;
	size_t len = 0, before;
	FILE *f;

	p->file = strdup("t.json");
	p->rules = calloc(2, sizeof(*p->rules));
	p->rules[0] = make_rule("ping", ACT_PERMIT, 0x0a000000, 0x0a0000ff,
				KEY(1, 8), KEY(1, 8));
	p->rules[1] = make_rule("icmp", ACT_BLOCK, 0x0a000005, 0x0a000005,
				KEY(1, 0), KEY(1, 0xffff));
	p->nrules = 1;
	c = classify(p, 0);
	plain = compile_plan(p, c, &co);
	classes_free(c);
	p->nrules = 2;
	c = classify(p, 0);
	plan = compile_plan(p, c, &co);
	f = open_memstream(&text, &len);
	plan_print_nft(f, plan, p);
	fclose(f);
	static const char *const want[] = {
		"map in4_icmp {\n\t\ttype ipv4_addr . icmp_type : verdict\n\t\tflags interval",
		"10.0.0.0/24 . echo-request comment \"ping\" : accept",
		"10.0.0.5 . 0-7 comment \"icmp\" : drop",
		"10.0.0.5 . 9-255 comment \"icmp\" : drop",
		"meta l4proto icmp ip saddr . icmp type vmap @in4_icmp",
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(text, want[i]), "missing \"%s\" in\n%s", want[i], text);
	cr_assert_null(strstr(text, "in6_icmp"), "no ICMPv6 types, no in6_icmp");
	cr_assert_null(strstr(text, ". icmp comment"), "no whole-ICMP element: %s", text);
	cr_assert_eq(plan_elem_count(plan), 3);
	/* ping alone: the same maps and lookups, fewer elements */
	before = plan_rule_count(plain);
	cr_assert_eq(plan_rule_count(plan), before);
	cr_assert_not_null(plan_find_set(plain, "in4_icmp"));
	cr_assert_null(plan_find_set(plain, "in6_icmp"));
	free(text);
	plan_free(plan);
	plan_free(plain);
	classes_free(c);
	policy_free(p);
}

/* A policy without ICMP types has no df_icmp map and no lookup of one:
 * shipped policies compile as they did. */
Test(compile, no_icmp_map_without_icmp_types)
{
	struct policy *p = policy_alloc();
	struct compile_opts co = { PLAN_KERNEL_ONLY, 0, 0 };
	struct classes *c;
	struct plan *plan;

	p->file = strdup("t.json");
	p->rules = calloc(1, sizeof(*p->rules));
	p->rules[0] = make_rule("icmp", ACT_PERMIT, 0x0a000000, 0x0a0000ff,
				KEY(1, 0), KEY(1, 0xffff));
	p->nrules = 1;
	c = classify(p, 0);
	plan = compile_plan(p, c, &co);
	for (size_t i = 0; i < plan->nsets; i++)
		cr_assert_null(strstr(plan->sets[i].name, "icmp"), "%s", plan->sets[i].name);
	cr_assert_eq(plan_elem_count(plan), 1);
	plan_free(plan);
	classes_free(c);
	policy_free(p);
}

/* "limit": the rule's elements goto its limit chain, which drops a
 * source past its meter (one set per family) and then accepts; the maps
 * and base chains are as without it. */
Test(compile, limit_chain_and_meters)
{
	struct policy *p = policy_alloc();
	struct compile_opts co = { PLAN_KERNEL_ONLY, 0, 0 };
	struct classes *c;
	struct plan *plain, *plan;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	p->file = strdup("t.json");
	p->rules = calloc(1, sizeof(*p->rules));
	p->rules[0] = make_rule("ssh", ACT_PERMIT, 0, 0xffffffff, KEY(6, 22), KEY(6, 22));
	p->nrules = 1;
	c = classify(p, 0);
	plain = compile_plan(p, c, &co);
	p->rules[0].limit = (struct rule_limit){ 6, 60, 3 };
	plan = compile_plan(p, c, &co);
	f = open_memstream(&text, &len);
	plan_print_nft(f, plan, p);
	fclose(f);
	static const char *const want[] = {
		"set limit_0_4 {\n\t\ttype ipv4_addr\n\t\tsize 65536\n\t\tflags dynamic,timeout\n\t\ttimeout 120s\n\t}",
		"0.0.0.0/0 . tcp . 22 comment \"ssh\" : goto limit_0",
		"chain limit_0 {\n\t\tupdate @limit_0_4 { ip saddr limit rate over 6/minute burst 3 packets } counter drop comment \"ssh\"\n"
		"\t\tupdate @limit_0_6 { ip6 saddr limit rate over 6/minute burst 3 packets } counter drop comment \"ssh\"\n"
		"\t\taccept comment \"ssh\"\n\t}",
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(text, want[i]), "missing \"%s\" in\n%s", want[i], text);
	cr_assert_eq(plan_rule_count(plan), plan_rule_count(plain) + 3, "the limit chain's three rules");
	cr_assert_eq(plan_elem_count(plan), plan_elem_count(plain));
	free(text);
	plan_free(plan);
	plan_free(plain);
	classes_free(c);
	policy_free(p);
}

/* The queue verdict of a plan (engine mode): the first one met. */
static struct plan_verdict queue_verdict(const struct plan *p)
{
	for (size_t i = 0; i < p->nchains; i++)
		for (size_t k = 0; k < p->chains[i].nrules; k++)
			if (p->chains[i].rules[k].verdict.kind == PV_QUEUE)
				return p->chains[i].rules[k].verdict;
	cr_assert_fail("the plan queues nothing");
	return (struct plan_verdict){ PV_NONE, NULL, 0, 0 };
}

static const char queued_text[] =
	"{\"version\": 1, %s \"rules\": ["
	" {\"name\": \"pg\", \"action\": \"require-ipsec\", \"peers\": \"10.0.0.5\","
	"  \"protocol\": \"tcp\", \"ports\": 5432}]}";

/* compile_opts.queues, else the policy's "queues", else one queue; a
 * range is printed (and built) as a fanout over it, one queue as before. */
Test(compile, new_require_ipsec_flows_spread_over_the_queue_range)
{
	char text[512], v[64];
	struct policy *one, *three;
	struct classes *c1, *c3;
	struct plan *p;
	struct plan_verdict q;

	snprintf(text, sizeof(text), queued_text, "");
	one = tu_policy(text);
	snprintf(text, sizeof(text), queued_text, "\"queues\": 3,");
	three = tu_policy(text);
	cr_assert_eq(three->queues, 3);
	c1 = classify(one, 0);
	c3 = classify(three, 0);

	p = compile_plan(one, c1, &(struct compile_opts){ PLAN_ENGINE, 10, 0 });
	q = queue_verdict(p);
	plan_format_verdict(v, sizeof(v), &q);
	cr_assert_eq(p->queue_count, 1);
	cr_assert_str_eq(v, "queue num 10");
	plan_free(p);

	p = compile_plan(three, c3, &(struct compile_opts){ PLAN_ENGINE, 10, 0 });
	q = queue_verdict(p);
	plan_format_verdict(v, sizeof(v), &q);
	cr_assert_eq(p->queue_count, 3);
	cr_assert(q.queue == 10 && q.queues == 3);
	cr_assert_str_eq(v, "queue num 10-12 fanout");
	plan_free(p);

	/* the command line's number beats the policy's */
	p = compile_plan(three, c3, &(struct compile_opts){ PLAN_ENGINE, 10, 8 });
	q = queue_verdict(p);
	plan_format_verdict(v, sizeof(v), &q);
	cr_assert_str_eq(v, "queue num 10-17 fanout");
	plan_free(p);

	/* never past queue 65535, never past sagated's 64 */
	cr_assert_eq(compile_queue_count(three, &(struct compile_opts){ PLAN_ENGINE, 65534, 0 }), 2);
	cr_assert_eq(compile_queue_count(NULL, &(struct compile_opts){ PLAN_ENGINE, 0, 100 }), 64);
	classes_free(c1);
	classes_free(c3);
	policy_free(one);
	policy_free(three);
}

/* A policy of n require-ipsec rules whose ESP the default drops
 * (ipsec-unreachable each), the last `acked` of them accepting it, and
 * one cleartext port open to a /8 (cleartext-wide). */
static struct policy *unreachable_policy(int n, int acked)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct policy *p;

	cr_assert_not_null(f);
	fputs("{\"version\": 1, \"rules\": [{\"name\": \"wide\", \"action\": \"permit\", "
	      "\"peers\": \"10.0.0.0/8\", \"protocol\": \"tcp\", \"ports\": [80]}", f);
	for (int i = 0; i < n; i++)
		fprintf(f, ", {\"name\": \"r%d\", \"action\": \"require-ipsec\", \"peers\": \"192.0.2.%d\", "
			"\"protocol\": \"tcp\", \"ports\": [%d]%s}", i, i + 1, 1000 + i,
			i >= n - acked ? ", \"accept-findings\": [\"ipsec-unreachable\"]" : "");
	fputs("]}", f);
	cr_assert_eq(fclose(f), 0);
	p = tu_policy(text);
	free(text);
	return p;
}

static size_t kind_count(const struct diag_list *d, const char *kind, bool acked)
{
	size_t n = 0;

	for (size_t i = 0; i < d->count; i++)
		n += d->items[i].kind && strcmp(d->items[i].kind, kind) == 0 &&
		     d->items[i].acknowledged == acked;
	return n;
}

/* Capped, a list keeps the first 5 findings of each kind (and
 * acknowledgement) worded exactly as an uncapped one does, and counts
 * the rest by kind, never worded; other kinds are kept. */
Test(compile, findings_past_the_cap_are_counted_not_worded)
{
	struct policy *p = unreachable_policy(23, 7);
	struct classes *c = classify(p, CLASSIFY_ANALYSE);
	struct diag_list all, few;
	size_t k = 0;

	cr_assert_not_null(c);
	diag_list_init(&all);
	diag_list_init(&few);
	findings_add(p, c, PLAN_ENGINE, &all);
	diag_list_cap(&few, 5);
	findings_add(p, c, PLAN_ENGINE, &few);

	cr_assert_eq(kind_count(&all, "ipsec-unreachable", false), 16);
	cr_assert_eq(kind_count(&all, "ipsec-unreachable", true), 7);
	cr_assert_eq(all.ntallies, 0, "an uncapped list counts nothing apart");
	cr_assert_eq(kind_count(&few, "ipsec-unreachable", false), 5);
	cr_assert_eq(kind_count(&few, "ipsec-unreachable", true), 5);
	cr_assert_eq(kind_count(&few, "cleartext-wide", false), 1, "another kind is kept");
	cr_assert_eq(few.count, 11);
	cr_assert_eq(diag_omitted(&few, DIAG_WARNING, false), 11);
	cr_assert_eq(diag_omitted(&few, DIAG_WARNING, true), 2);
	cr_assert_eq(diag_omitted(&few, DIAG_ERROR, false), 0);
	cr_assert_eq(few.errors, 0);
	for (size_t i = 0; i < few.ntallies; i++) {
		const struct diag_tally *t = &few.tallies[i];

		cr_assert_str_eq(t->file, p->file);
		if (strcmp(t->kind, "ipsec-unreachable") == 0)
			cr_assert_eq(t->omitted, t->acknowledged ? 2 : 11);
		else
			cr_assert_eq(t->omitted, 0, "%s", t->kind);
	}
	/* the kept ones are the first ones, in the same words */
	for (size_t i = 0; i < all.count && k < few.count; i++) {
		if (strcmp(all.items[i].rule ? all.items[i].rule : "", few.items[k].rule ? few.items[k].rule : "") != 0)
			continue;
		cr_assert_str_eq(all.items[i].message, few.items[k].message);
		cr_assert_eq(all.items[i].acknowledged, few.items[k].acknowledged);
		k++;
	}
	cr_assert_eq(k, few.count, "kept findings out of order or reworded");
	cr_assert_str_eq(few.items[5].rule, "r4");
	diag_list_fini(&all);
	diag_list_fini(&few);
	classes_free(c);
	policy_free(p);
}

/* The cap: per kind, errors still counted as errors, findings without a
 * kind (parse errors, kernel errors) always kept; cap 0 keeps none. */
Test(compile, diag_cap_counts_errors_and_keeps_kindless)
{
	struct diag_list d;

	diag_list_init(&d);
	diag_list_cap(&d, 1);
	cr_assert(diag_admit(&d, DIAG_ERROR, "f", "k1", false));
	diag_add(&d, DIAG_ERROR, "f", "", NULL, "first");
	cr_assert_not(diag_admit(&d, DIAG_ERROR, "f", "k1", false));
	cr_assert_not(diag_admit(&d, DIAG_ERROR, "f", "k1", false));
	cr_assert(diag_admit(&d, DIAG_WARNING, "f", "k2", false));
	cr_assert(diag_admit(&d, DIAG_WARNING, "f", NULL, false));
	cr_assert(diag_admit(&d, DIAG_WARNING, "f", NULL, false));
	cr_assert_eq(d.errors, 3);
	cr_assert_eq(diag_omitted(&d, DIAG_ERROR, false), 2);
	diag_list_cap(&d, 0);
	cr_assert_not(diag_admit(&d, DIAG_WARNING, "f", "k3", true));
	cr_assert_eq(diag_omitted(&d, DIAG_WARNING, true), 1);
	diag_list_cap(&d, SIZE_MAX);
	cr_assert(diag_admit(&d, DIAG_WARNING, "f", "k3", true));
	diag_list_fini(&d);
	cr_assert_eq(d.ntallies, 0);
}
