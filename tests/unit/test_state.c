/* state: the directory's layout, which apply-cli.sh and the man page
 * rely on (gen-NNNNNN, the current / previous links, the confirm files),
 * that what state_prepare writes reads back, and that a failure at any
 * step of recording or switching leaves the old state or the new one. */
#include "config.h"

#include "audit_util.h"
#include "fault.h"
#include "sha256.h"
#include "state.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>

static char dir[] = "/tmp/sagate-state-XXXXXX";

static void setup(void)
{
	tu_state_dir(dir);
}

static void teardown(void)
{
	tu_rm_rf(dir);
}

TestSuite(state, .init = setup, .fini = teardown);

static const char *const text = "{\"version\": 1, \"rules\": [{\"name\": \"r\", "
	"\"action\": \"permit\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432}]}";

/* The target of link `name` in the state directory. */
static void link_is(const char *name, const char *want)
{
	char path[PATH_MAX], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = readlink(path, target, sizeof(target) - 1);
	if (!want) {
		cr_assert_lt(n, 0, "%s exists", name);
		return;
	}
	cr_assert_gt(n, 0, "%s: %s", name, strerror(errno));
	target[n] = '\0';
	cr_assert_str_eq(target, want);
}

static unsigned prepare(struct policy *p, uint16_t queue)
{
	struct state_meta m = { .source = "p.json", .mode = PLAN_ENGINE, .queue = queue };
	struct diag_list d;
	unsigned gen;

	memcpy(m.sha256, p->sha256, sizeof(m.sha256));
	diag_list_init(&d);
	gen = state_prepare(dir, p, &m, &d);
	cr_assert_neq(gen, 0, "%s", d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
	return gen;
}

Test(state, names_and_paths)
{
	char buf[64];

	cr_assert_str_eq(state_file_name(STATE_CURRENT), "current");
	cr_assert_str_eq(state_file_name(STATE_PREVIOUS), "previous");
	cr_assert_str_eq(state_file_name(STATE_PENDING), "pending");
	cr_assert_str_eq(state_file_name(STATE_ROLLED_BACK), "rolled-back");
	cr_assert_str_eq(state_file_name(STATE_LOCK), "lock");
	cr_assert_eq(state_path(buf, sizeof(buf), "/var/lib/sagate", STATE_ROLLED_BACK), 0);
	cr_assert_str_eq(buf, "/var/lib/sagate/rolled-back");
	errno = 0;
	cr_assert_eq(state_path(buf, 16, "/var/lib/sagate", STATE_PENDING), -1);
	cr_assert_eq(errno, ENAMETOOLONG);
}

Test(state, generations_and_links)
{
	struct policy *p = tu_policy(text);
	struct diag_list d;
	struct state_meta m;
	char want[PATH_MAX];
	char *path;

	diag_list_init(&d);
	cr_assert_eq(prepare(p, 7), 1);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 0, "prepared is not current");
	cr_assert_eq(state_commit(dir, 1, &d), 0);
	link_is("current", "gen-000001");
	link_is("gen-000001/previous", NULL);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0);
	cr_assert_eq(prepare(p, 8), 2);
	link_is("gen-000002/previous", "../gen-000001");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0, "prepared changes nothing");
	cr_assert_eq(state_commit(dir, 2, &d), 0);
	link_is("current", "gen-000002");
	link_is("previous", "current/previous");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);

	cr_assert_eq(state_read_meta(dir, 2, &m, &d), 0);
	cr_assert_str_eq(m.source, "p.json");
	cr_assert_str_eq(m.sha256, p->sha256);
	cr_assert_eq(m.mode, PLAN_ENGINE);
	cr_assert_eq(m.queue, 8);
	cr_assert_eq(m.generation, 2);
	state_meta_fini(&m);
	snprintf(want, sizeof(want), "%s/gen-000002/policy.json", dir);
	cr_assert_str_eq(path = state_policy_path(dir, 2), want);
	cr_assert(state_owns(path));
	free(path);

	/* a rollback: 1 keeps its own target (none), 2 is never one */
	cr_assert_eq(state_swap(dir, &d), 0);
	link_is("current", "gen-000001");
	link_is("gen-000001/previous", NULL);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0);
	/* rollback --to 2: its target is the one it replaced */
	cr_assert_eq(state_switch_to(dir, 2, &d), 0);
	link_is("current", "gen-000002");
	link_is("gen-000002/previous", "../gen-000001");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);
	cr_assert_eq(state_swap(dir, &d), 0);
	cr_assert_eq(state_uncommit(dir, &d), 0);
	link_is("current", NULL);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 0);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0);

	cr_assert_eq(prepare(p, 9), 3);
	state_discard(dir, 3);
	snprintf(want, sizeof(want), "%s/gen-000003", dir);
	cr_assert_neq(access(want, F_OK), 0, "a discarded generation is gone");
	cr_assert_eq(d.errors, 0);
	diag_list_fini(&d);
	policy_free(p);
}

/* A policy without includes is recorded as it was; one with (no text)
 * as a bundle. */
Test(state, recorded_policy_reads_back)
{
	struct policy *p = tu_policy(text), *back;
	struct parse_opts po = { .max_file_size = STATE_MAX_BUNDLE };
	struct diag_list d;
	char *path;

	diag_list_init(&d);
	cr_assert_eq(prepare(p, 0), 1);
	path = state_policy_path(dir, 1);
	back = parse_policy_file(path, &po, &d);
	cr_assert_not_null(back);
	cr_assert_str_eq(back->sha256, p->sha256, "the bytes as they were");
	policy_free(back);
	free(path);

	free(p->text);
	p->text = NULL;
	cr_assert_eq(prepare(p, 0), 2);
	path = state_policy_path(dir, 2);
	back = parse_policy_file(path, &po, &d);
	cr_assert_not_null(back, "%s", d.count ? d.items[0].message : "?");
	cr_assert_eq(back->nrules, 1);
	cr_assert_str_eq(back->rules[0].name, "r");
	policy_free(back);
	free(path);
	diag_list_fini(&d);
	policy_free(p);
}

/* A state directory written before generations kept their rollback
 * target: the link `previous` still names it, and the next switch
 * records it the new way. */
Test(state, previous_link_of_older_directories)
{
	struct policy *p = tu_policy(text);
	struct diag_list d;
	char path[PATH_MAX];

	diag_list_init(&d);
	cr_assert_eq(prepare(p, 0), 1);
	cr_assert_eq(prepare(p, 0), 2);
	snprintf(path, sizeof(path), "%s/current", dir);
	cr_assert_eq(symlink("gen-000002", path), 0);
	snprintf(path, sizeof(path), "%s/previous", dir);
	cr_assert_eq(symlink("gen-000001", path), 0);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);
	cr_assert_eq(state_swap(dir, &d), 0);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 1);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0, "the one left is no target");
	link_is("previous", "current/previous");
	cr_assert_eq(d.errors, 0);
	diag_list_fini(&d);
	policy_free(p);
}

/* --- a failure at every step ---------------------------------------- */

/* Nothing in the directory but whole generations and the links: no
 * temporary file, no half-written generation. */
static void only_whole_generations(const char *when)
{
	DIR *dh = opendir(dir);
	struct dirent *e;

	cr_assert_not_null(dh);
	while ((e = readdir(dh))) {
		char path[PATH_MAX];
		unsigned g;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "current") || !strcmp(e->d_name, "previous") ||
		    !strcmp(e->d_name, "lock") || !strcmp(e->d_name, "pending") ||
		    !strcmp(e->d_name, "rolled-back"))
			continue;
		cr_assert(sscanf(e->d_name, "gen-%u", &g) == 1 && strlen(e->d_name) == 10,
			  "%s: stray file %s", when, e->d_name);
		snprintf(path, sizeof(path), "%s/%s/meta.json", dir, e->d_name);
		cr_assert_eq(access(path, F_OK), 0, "%s: %s has no meta.json", when, e->d_name);
		snprintf(path, sizeof(path), "%s/%s/policy.json", dir, e->d_name);
		cr_assert_eq(access(path, F_OK), 0, "%s: %s has no policy.json", when, e->d_name);
	}
	closedir(dh);
}

/* The directory holds generations 1 and 2, 2 current. */
static void two_generations(struct policy *p)
{
	struct diag_list d;

	teardown();
	cr_assert_not_null(mkdtemp(strcpy(dir, "/tmp/sagate-state-XXXXXX")));
	diag_list_init(&d);
	cr_assert_eq(prepare(p, 0), 1);
	cr_assert_eq(state_commit(dir, 1, &d), 0);
	cr_assert_eq(prepare(p, 0), 2);
	cr_assert_eq(state_commit(dir, 2, &d), 0);
	diag_list_fini(&d);
}

static void is_state(unsigned cur, unsigned prev, const char *when)
{
	cr_assert_eq(state_generation(dir, STATE_CURRENT), cur, "%s: current is %u, not %u",
		     when, state_generation(dir, STATE_CURRENT), cur);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), prev, "%s: previous is %u, not %u",
		     when, state_generation(dir, STATE_PREVIOUS), prev);
	only_whole_generations(when);
}

/* Recording generation 3 and making it current: whatever step fails, the
 * directory says 2 (after 1) or 3 (after 2), never a mix, and a failed
 * attempt leaves no generation 3 behind. */
Test(state, a_failure_at_any_step_of_an_apply_leaves_old_or_new)
{
	struct state_meta m = { .source = "p.json", .mode = PLAN_ENGINE };
	struct policy *p = tu_policy(text);
	unsigned steps = 0;

	memcpy(m.sha256, p->sha256, sizeof(m.sha256));
	for (unsigned k = 1;; k++) {
		struct diag_list d;
		char when[600], path[PATH_MAX];
		unsigned gen;
		bool done;

		two_generations(p);
		diag_list_init(&d);
		fault_arm(k);
		gen = state_prepare(dir, p, &m, &d);
		done = gen && state_commit(dir, gen, &d) == 0;
		if (gen && !done)
			state_discard(dir, gen);	/* as live.c does */
		steps = fault_disarm();
		snprintf(when, sizeof(when), "failing %s (step %u)", fault_what(), k);
		if (!fault_fired()) {
			cr_assert(done, "without a failure the apply is done");
			is_state(3, 2, "no failure");
			diag_list_fini(&d);
			break;
		}
		if (done) {
			is_state(3, 2, when);
		} else {
			cr_assert_gt(d.errors, 0, "%s: a failure says so", when);
			is_state(2, 1, when);
			snprintf(path, sizeof(path), "%s/gen-000003", dir);
			cr_assert_neq(access(path, F_OK), 0, "%s: generation 3 left behind", when);
		}
		diag_list_fini(&d);
	}
	cr_assert_gt(steps, 8, "the apply was not counted (%u steps): is fault.c linked?", steps);
	policy_free(p);
}

/* Making the previous generation current (a rollback): 1 after 2, or
 * still 2 after 1. */
Test(state, a_failure_at_any_step_of_a_swap_leaves_old_or_new)
{
	struct policy *p = tu_policy(text);

	for (unsigned k = 1;; k++) {
		struct diag_list d;
		char when[600];
		int rc;

		two_generations(p);
		diag_list_init(&d);
		fault_arm(k);
		rc = state_swap(dir, &d);
		fault_disarm();
		snprintf(when, sizeof(when), "failing %s (step %u)", fault_what(), k);
		if (rc == 0)
			is_state(1, 0, fault_fired() ? when : "no failure");
		else
			is_state(2, 1, when);
		diag_list_fini(&d);
		if (!fault_fired())
			break;
	}
	policy_free(p);
}

/* sha256sum of a file, as the state's meta records it. */
static void file_digest(const char *path, char out[65])
{
	char *buf;
	size_t len;
	const char *kind;

	cr_assert_eq(read_file_limited(path, STATE_MAX_BUNDLE, &buf, &len, &kind), 0, "%s", path);
	sha256_hex(buf, len, out);
	free(buf);
}

Test(state, meta_records_the_digest_of_the_written_file)
{
	struct policy *p = tu_policy(text);
	struct state_meta m;
	struct diag_list d;
	char want[65], *path;

	diag_list_init(&d);
	cr_assert_eq(prepare(p, 0), 1);		/* kept byte for byte */
	free(p->text);
	p->text = NULL;
	cr_assert_eq(prepare(p, 0), 2);		/* flattened into a bundle */
	for (unsigned g = 1; g <= 2; g++) {
		cr_assert_eq(state_read_meta(dir, g, &m, &d), 0);
		path = state_policy_path(dir, g);
		file_digest(path, want);
		cr_assert_str_eq(m.bundle_sha256, want, "generation %u", g);
		cr_assert_str_eq(m.sha256, p->sha256, "the policy's own digest stays");
		state_meta_fini(&m);
		free(path);
	}
	diag_list_fini(&d);
	policy_free(p);
}

Test(state, meta_without_bundle_digest_reads)
{
	char path[PATH_MAX];
	struct state_meta m;
	struct diag_list d;
	FILE *f;

	snprintf(path, sizeof(path), "%s/gen-000001", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	strcat(path, "/meta.json");
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "{\"source\": \"p.json\", \"sha256\": \"%064d\", \"mode\": \"engine\", "
		"\"queue\": 0, \"applied_at\": 1, \"generation\": 1}\n", 0);
	fclose(f);
	diag_list_init(&d);
	cr_assert_eq(state_read_meta(dir, 1, &m, &d), 0, "a generation of an older sagate");
	cr_assert_str_eq(m.bundle_sha256, "");
	state_meta_fini(&m);
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "{\"source\": \"p.json\", \"sha256\": \"%064d\", \"bundle_sha256\": \"ab\", "
		"\"mode\": \"engine\", \"queue\": 0, \"applied_at\": 1, \"generation\": 1}\n", 0);
	fclose(f);
	cr_assert_eq(state_read_meta(dir, 1, &m, &d), -1, "a cut digest is damage");
	diag_list_fini(&d);
}

/* --- history: who applied, what became of it ------------------------- */

static void note(unsigned gen, enum state_note what, const char *command, unsigned to)
{
	struct state_actor who;
	struct diag_list d;

	state_actor_self(&who, command);
	diag_list_init(&d);
	cr_assert_eq(state_note(dir, gen, what, &who, to, &d), 0, "%s",
		     d.count ? d.items[0].message : "?");
	diag_list_fini(&d);
}

static void commit(unsigned gen)
{
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_eq(state_commit(dir, gen, &d), 0);
	diag_list_fini(&d);
}

/* The reported sequence, as the state directory sees it: 1 applied, 2
 * applied and rolled back at its confirm's expiry.  2 is no rollback
 * target, of 1 or of anything after it, until chosen explicitly. */
Test(state, a_rolled_back_generation_is_never_the_rollback_target)
{
	struct policy *p = tu_policy(text);
	struct diag_list d;

	diag_list_init(&d);
	commit(prepare(p, 0));
	commit(prepare(p, 0));
	cr_assert_eq(state_swap(dir, &d), 0);
	note(2, STATE_NOTE_EXPIRED, "expiry", 1);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 1);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0, "the rejected 2 is offered");
	cr_assert(state_rejected(dir, 2));
	cr_assert_not(state_rejected(dir, 1));
	/* 3 over 1, then rollback --to 2 (from 3): 2's target is 3 */
	commit(prepare(p, 0));
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);
	cr_assert_eq(state_switch_to(dir, 2, &d), 0);
	note(2, STATE_NOTE_REINSTATED, "rollback --to", 0);
	cr_assert_not(state_rejected(dir, 2), "chosen explicitly: no longer rejected");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 3);
	/* 3 rolled back by an admin (while 2 names it): 2's target passes
	 * over it to 3's own, 1 */
	note(3, STATE_NOTE_ROLLED_BACK, "rollback", 2);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);
	cr_assert_eq(state_target(dir, 2), 1);
	/* rollback --to 1, 2 rejected: 1 -> 2 (rejected) -> 3 (rejected)
	 * -> 1, a loop, ends in none */
	cr_assert_eq(state_switch_to(dir, 1, &d), 0);
	note(2, STATE_NOTE_ROLLED_BACK, "rollback", 1);
	link_is("gen-000001/previous", "../gen-000002");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 0, "every one behind 1 rejected");
	note(3, STATE_NOTE_REINSTATED, "rollback --to", 0);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 3, "1 -> 2 (rejected) -> 3");
	cr_assert_eq(state_switch_to(dir, 7, &d), -1, "no generation 7");
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 1);
	diag_list_fini(&d);
	policy_free(p);
}

Test(state, outcomes_read_back)
{
	struct policy *p = tu_policy(text);
	struct state_outcome o;
	struct diag_list d;
	char path[PATH_MAX];
	FILE *f;

	diag_list_init(&d);
	cr_assert_eq(prepare(p, 0), 1);
	cr_assert_eq(state_read_outcome(dir, 1, &o, &d), 0);
	cr_assert_not(o.confirmed || o.rolled_back || o.reinstated, "nothing happened yet");
	note(1, STATE_NOTE_CONFIRMED, "confirm", 0);
	note(1, STATE_NOTE_EXPIRED, "expiry", 0);
	cr_assert_eq(state_read_outcome(dir, 1, &o, &d), 0);
	cr_assert(o.confirmed && o.rolled_back && o.by_expiry && !o.reinstated);
	cr_assert_str_eq(o.confirmed_by.command, "confirm");
	cr_assert_eq(o.rolled_back_by.uid, (long)getuid());
	cr_assert_str_eq(o.rolled_back_by.command, "expiry");
	cr_assert_eq(o.rolled_back_to, 0);
	note(1, STATE_NOTE_ROLLED_BACK, "rollback", 4);
	cr_assert_eq(state_read_outcome(dir, 1, &o, &d), 0);
	cr_assert(o.rolled_back && !o.by_expiry && o.rolled_back_to == 4);
	note(1, STATE_NOTE_REINSTATED, "restore", 0);
	cr_assert_eq(state_read_outcome(dir, 1, &o, &d), 0);
	cr_assert(o.confirmed && !o.rolled_back && o.reinstated);
	cr_assert_str_eq(o.reinstated_by.command, "restore");
	cr_assert_eq(d.errors, 0);
	/* damaged: an error naming the file, and no rejection */
	snprintf(path, sizeof(path), "%s/gen-000001/outcome.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("{\"rolled_back\": {\"at\": \"x\"}}\n", f);
	fclose(f);
	cr_assert_eq(state_read_outcome(dir, 1, &o, &d), -1);
	cr_assert_not_null(strstr(d.items[d.count - 1].file, "gen-000001/outcome.json"));
	cr_assert_not(state_rejected(dir, 1));
	/* the next note starts a damaged record anew */
	note(1, STATE_NOTE_ROLLED_BACK, "rollback", 0);
	cr_assert(state_rejected(dir, 1));
	/* a discarded generation takes its outcome with it */
	state_discard(dir, 1);
	snprintf(path, sizeof(path), "%s/gen-000001", dir);
	cr_assert_neq(access(path, F_OK), 0);
	diag_list_fini(&d);
	policy_free(p);
}

/* meta.json says who applied it, with which command and --confirm, and
 * the policy file's absolute path; an older one's lack of them reads as
 * unknown. */
Test(state, meta_records_who_and_where)
{
	struct state_meta in = { .source = "p.json", .mode = PLAN_ENGINE, .confirm = 30 };
	struct policy *p = tu_policy(text);
	char cwd[PATH_MAX], want[PATH_MAX + 16], path[PATH_MAX];
	struct state_meta m;
	struct diag_list d;
	FILE *f;
	unsigned gen;

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	cr_assert_not_null(f = fopen("p.json", "w"));
	fputs(text, f);
	fclose(f);
	memcpy(in.sha256, p->sha256, sizeof(in.sha256));
	diag_list_init(&d);
	gen = state_prepare(dir, p, &in, &d);
	cr_assert_eq(chdir(cwd), 0);
	cr_assert_eq(gen, 1);
	cr_assert_eq(state_read_meta(dir, 1, &m, &d), 0);
	cr_assert_str_eq(m.source, "p.json", "as the admin named it");
	snprintf(want, sizeof(want), "%s/p.json", dir);
	cr_assert_str_eq(m.source_path, want);
	cr_assert_eq(m.applied_by.uid, (long)getuid());
	cr_assert_str_eq(m.applied_by.command, "apply");
	cr_assert_eq(m.applied_by.at, m.applied_at);
	cr_assert_eq(m.confirm, 30);
	state_meta_fini(&m);
	/* a rewrite of the meta (a rollback's new queue) keeps them */
	cr_assert_eq(state_set_queue(dir, 1, 5, &d), 0);
	cr_assert_eq(state_read_meta(dir, 1, &m, &d), 0);
	cr_assert_eq(m.queue, 5);
	cr_assert_str_eq(m.source_path, want);
	cr_assert_eq(m.confirm, 30);
	cr_assert_str_eq(m.applied_by.command, "apply");
	state_meta_fini(&m);
	/* written by an older sagate */
	snprintf(path, sizeof(path), "%s/gen-000001/meta.json", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fprintf(f, "{\"source\": \"p.json\", \"sha256\": \"%064d\", \"mode\": \"engine\", "
		"\"queue\": 0, \"applied_at\": 7, \"generation\": 1}\n", 0);
	fclose(f);
	cr_assert_eq(state_read_meta(dir, 1, &m, &d), 0);
	cr_assert_null(m.source_path);
	cr_assert_eq(m.applied_by.uid, -1);
	cr_assert_eq(m.applied_by.at, 7);
	cr_assert_eq(m.confirm, 0);
	state_meta_fini(&m);
	cr_assert_eq(d.errors, 0);
	diag_list_fini(&d);
	policy_free(p);
}

Test(state, generations_are_listed_newest_first)
{
	struct policy *p = tu_policy(text);
	char path[PATH_MAX];
	unsigned *g;

	for (int i = 0; i < 3; i++)
		prepare(p, 0);
	snprintf(path, sizeof(path), "%s/gen-000009.tmp.1234", dir);	/* not one */
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(state_list(dir, &g), 3);
	cr_assert(g[0] == 3 && g[1] == 2 && g[2] == 1);
	free(g);
	cr_assert_eq(state_list("/nonexistent/sagate", &g), -1);
	cr_assert_null(g);
	policy_free(p);
}

/* Each rollback goes one step further back, so pruning keeps the chain
 * of rollback targets behind current, however old. */
Test(state, pruning_keeps_the_rollback_chain)
{
	struct policy *p = tu_policy(text);
	struct diag_list d;

	diag_list_init(&d);
	commit(prepare(p, 0));
	commit(prepare(p, 0));
	/* 3 .. 3 + STATE_KEEP, each rolled back at once: 2 stays current,
	 * and 1 its target */
	for (unsigned i = 0; i <= STATE_KEEP; i++) {
		unsigned g = prepare(p, 0);

		commit(g);
		cr_assert_eq(state_swap(dir, &d), 0);
		note(g, STATE_NOTE_ROLLED_BACK, "rollback", 2);
	}
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 2);
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1, "1 was pruned");
	cr_assert(state_generation_exists(dir, 1));
	cr_assert_not(state_generation_exists(dir, 3), "old rolled back ones go");
	diag_list_fini(&d);
	policy_free(p);
}
