/* fuzz_policy: libFuzzer target for the policy path, a policy file's
 * bytes through parse, classify, findings, compile, both printers and the
 * nft transaction builder (built in memory, never sent).
 *
 * The input is the policy file itself, written to a private directory
 * laid out like the tree (policies/fuzz.json beside a copy of rules/, and
 * policies/inc/ holding tests/bad/inc/), so that the shipped policies and
 * tests/bad/ work as seeds, includes and all.  Invariants checked:
 * a policy is returned exactly when there is no error; its bundle (what
 * apply keeps) parses back to the same rules and groups; every box the
 * classifier made is decided, at its corner, by the rule first-match
 * evaluation names; the plan, walked for that packet, reaches the same
 * rule or none.  Inputs over FUZZ_POLICY_MAX bytes are skipped: the
 * classifier is quadratic in crossing rules that name "local", and a
 * timeout must mean a loop, not a large policy. */
#include "config.h"

#include "bundle.h"
#include "classify.h"
#include "compile.h"
#include "diag.h"
#include "findings.h"
#include "nft_build.h"
#include "parse.h"
#include "plan.h"
#include "plan_print.h"
#include "plan_sim.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_POLICY_MAX 4096	/* bytes of policy; see above */
#define FUZZ_MAX_ELEMENTS 20000	/* a smaller cap than the default million */
#define FUZZ_BOXES_CHECKED 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], policy_path[128], bundle_path[128];
static FILE *devnull;

static void copy_file(const char *from, const char *to)
{
	char buf[8192];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;

	if (!in || !out) {
		fprintf(stderr, "fuzz_policy: cannot copy %s to %s: %s\n", from, to,
			strerror(errno));
		abort();
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	if (fclose(out) != 0)
		abort();
}

static void remove_dir(void)
{
	static const char *const files[] = {
		"policies/fuzz.json", "policies/bundle.json", "rules/services.json",
		"rules/hosts.json",
	};
	char p[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	if (system(p) != 0)
		fprintf(stderr, "fuzz_policy: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const inc[] = {
		"bad-defs.json", "cycle-a.json", "cycle-b.json", "hosts-admins.json",
		"hosts-bad.json", "includes-invalid.json", "invalid.json",
		"max-elements.json", "not-json.txt", "with-rules.json",
	};
	char from[512], to[512];

	snprintf(dir, sizeof(dir), "/tmp/sagate-fuzz-policy.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(to, sizeof(to), "%s/policies", dir);
	mkdir(to, 0700);
	snprintf(to, sizeof(to), "%s/policies/inc", dir);
	mkdir(to, 0700);
	snprintf(to, sizeof(to), "%s/rules", dir);
	mkdir(to, 0700);
	for (size_t i = 0; i < 2; i++) {
		const char *f = i ? "hosts.json" : "services.json";

		snprintf(from, sizeof(from), "%s/rules/%s", FUZZ_SRCDIR, f);
		snprintf(to, sizeof(to), "%s/rules/%s", dir, f);
		copy_file(from, to);
	}
	for (size_t i = 0; i < sizeof(inc) / sizeof(inc[0]); i++) {
		snprintf(from, sizeof(from), "%s/tests/bad/inc/%s", FUZZ_SRCDIR, inc[i]);
		snprintf(to, sizeof(to), "%s/policies/inc/%s", dir, inc[i]);
		copy_file(from, to);
	}
	snprintf(policy_path, sizeof(policy_path), "%s/policies/fuzz.json", dir);
	snprintf(bundle_path, sizeof(bundle_path), "%s/policies/bundle.json", dir);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	atexit(remove_dir);
	return 0;
}

static void write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		abort();
}

/* The first rule of p that matches k, written plainly: the reference the
 * classifier's boxes must agree with. */
static uint32_t first_match(const struct policy *p, const struct packet_key *k)
{
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *r = &p->rules[i];
		bool key = false;

		if (r->dir != k->dir || !addr_set_contains(&r->peers, k->fam, k->peer) ||
		    !addr_set_contains(&r->local, k->fam, k->local))
			continue;
		for (size_t j = 0; j < r->nkeys && !key; j++)
			key = r->keys[j].lo <= k->key && k->key <= r->keys[j].hi;
		if (key)
			return (uint32_t)i;
	}
	return CLASS_NONE;
}

static bool same_keys(const struct rule *a, const struct rule *b)
{
	if (a->nkeys != b->nkeys)
		return false;
	for (size_t i = 0; i < a->nkeys; i++)
		if (a->keys[i].lo != b->keys[i].lo || a->keys[i].hi != b->keys[i].hi)
			return false;
	return true;
}

/* parse(bundle(p)) decides every packet as p does (bundle.h): the same
 * rules, in order, with the same matches and decisions, and the same
 * host groups. */
static void check_bundle(const struct policy *p)
{
	json_t *j = bundle_from_policy(p);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	struct diag_list d;
	struct policy *q;

	if (!text)
		abort();
	write_file(bundle_path, text, strlen(text));
	free(text);
	json_decref(j);
	diag_list_init(&d);
	q = parse_policy_file(bundle_path, NULL, &d);
	if (!q) {
		fprintf(stderr, "the bundle of a good policy is refused: %s\n", diag_last(&d));
		abort();
	}
	if (q->nrules != p->nrules || q->ngroups != p->ngroups ||
	    q->defaults[DIR_IN] != p->defaults[DIR_IN] || q->defaults[DIR_OUT] != p->defaults[DIR_OUT]) {
		fprintf(stderr, "the bundle has %zu rules, %zu groups; the policy %zu, %zu\n",
			q->nrules, q->ngroups, p->nrules, p->ngroups);
		abort();
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct rule *a = &p->rules[i], *b = &q->rules[i];

		if (strcmp(a->name, b->name) != 0 || a->dir != b->dir ||
		    !addr_set_equal(&a->peers, &b->peers) || !addr_set_equal(&a->local, &b->local) ||
		    !same_keys(a, b) || !rule_same_decision(a, b)) {
			fprintf(stderr, "rule %zu (%s) differs in the bundle\n", i, a->name);
			abort();
		}
	}
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i].name, q->groups[i].name) != 0 ||
		    !addr_set_equal(&p->groups[i].set, &q->groups[i].set)) {
			fprintf(stderr, "group %s differs in the bundle\n", p->groups[i].name);
			abort();
		}
	policy_free(q);
	diag_list_fini(&d);
}

static void check_boxes(const struct policy *pol, const struct classes *c,
			const struct plan *plan)
{
	size_t step = c->nboxes / FUZZ_BOXES_CHECKED + 1;

	for (size_t i = 0; i < c->nboxes; i += step) {
		const struct class_box *b = &c->boxes[i];
		struct packet_key k = { b->dir, b->fam, b->peer_lo, b->local_lo, b->key_lo, NULL };
		struct plan_sim_pkt sp = { .key = k };
		struct plan_sim_result res;
		uint32_t want = first_match(pol, &k);

		if (want != b->rule) {
			fprintf(stderr, "box %zu is decided by rule %u, first match is %u\n",
				i, b->rule, want);
			abort();
		}
		if (!plan)
			continue;
		if (plan_sim_run(plan, &sp, &res, NULL) < 0) {
			fprintf(stderr, "the plan loops for box %zu\n", i);
			abort();
		}
		if (res.rule != CLASS_NONE && res.rule != b->rule) {
			fprintf(stderr, "box %zu: the plan reaches rule %u, the classes say %u\n",
				i, res.rule, b->rule);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_opts po = { 64u << 10 };
	struct compile_opts co = { size & 1 ? PLAN_KERNEL_ONLY : PLAN_ENGINE, 7 };
	struct diag_list d;
	struct policy *pol;
	struct classes *c = NULL;
	struct plan *plan = NULL;
	struct nft_batch *b;
	json_t *j;

	if (size > FUZZ_POLICY_MAX)
		return -1;	/* not added to the corpus */
	write_file(policy_path, data, size);
	diag_list_init(&d);
	pol = parse_policy_file(policy_path, &po, &d);
	if (!pol != !!d.errors) {
		fprintf(stderr, "parse: policy %p with %zu errors\n", (void *)pol, d.errors);
		abort();
	}
	if (!pol)
		goto out;
	check_bundle(pol);
	if (pol->max_elements == 0 || pol->max_elements > FUZZ_MAX_ELEMENTS)
		pol->max_elements = FUZZ_MAX_ELEMENTS;
	c = classify(pol, CLASSIFY_ANALYSE | CLASSIFY_LIMIT);
	if (!c)
		goto out;
	if (!c->over_limit)
		plan = compile_plan(pol, c, &co);
	if (compile_over_limit(pol, c, plan, &d) || !plan)
		goto out;
	findings_add(pol, c, co.mode, &d);
	check_boxes(pol, c, plan);
	if (plan_print_nft(devnull, plan, pol) < 0)
		abort();
	j = plan_to_json(plan, pol);
	if (!j)
		abort();
	json_decref(j);
	b = nft_build_plan(plan, pol, NFT_BUILD_CHECK, &d);
	if (!b) {
		fprintf(stderr, "nft_build_plan refused a compiled plan: %s\n", diag_last(&d));
		abort();
	}
	nft_batch_free(b);
out:
	for (size_t i = 0; i < d.count; i++)
		free(diag_format(&d.items[i]));
	plan_free(plan);
	classes_free(c);
	policy_free(pol);
	diag_list_fini(&d);
	return 0;
}
