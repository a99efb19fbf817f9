/* restore: which generation a boot puts back (the confirmed one; a
 * damaged one falls back to the one before it; an unconfirmed apply is
 * rolled back; nothing usable is an error that says what to do), in a
 * temporary state directory, without a kernel. */
#include "config.h"

#include "audit_util.h"
#include "restore.h"
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char dir[] = "/tmp/sagate-restore-XXXXXX";

static void setup(void)
{
	tu_state_dir(dir);
}

static void teardown(void)
{
	tu_rm_rf(dir);
}

TestSuite(restore, .init = setup, .fini = teardown);

static const char *const db = "{\"version\": 1, \"rules\": [{\"name\": \"pg\", "
	"\"action\": \"require-ipsec\", \"peers\": \"10.0.0.5\", \"protocol\": \"tcp\", \"ports\": 5432}]}";
static const char *const web = "{\"version\": 1, \"rules\": [{\"name\": \"https\", "
	"\"action\": \"permit\", \"protocol\": \"tcp\", \"ports\": 443}]}";

/* Apply text as the next generation (recorded as a bundle when bundle),
 * in mode with queue, and make it current. */
static unsigned applied(const char *text, bool bundle, enum plan_mode mode, uint16_t queue)
{
	struct policy *p = tu_policy(text);
	struct state_meta m = { .source = "policies/x.json", .mode = mode, .queue = queue };
	struct diag_list d;
	unsigned gen;

	memcpy(m.sha256, p->sha256, sizeof(m.sha256));
	if (bundle) {
		free(p->text);
		p->text = NULL;
	}
	diag_list_init(&d);
	gen = state_prepare(dir, p, &m, &d);
	cr_assert_neq(gen, 0);
	cr_assert_eq(state_commit(dir, gen, &d), 0);
	diag_list_fini(&d);
	policy_free(p);
	return gen;
}

/* Generations 1 (db, kept byte for byte) and 2 (web), 2 current. */
static void two_applied(void)
{
	applied(db, false, PLAN_ENGINE, 0);
	applied(web, false, PLAN_ENGINE, 0);
}

/* Overwrite file name of generation gen with text. */
static void put(unsigned gen, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/gen-%06u/%s", dir, gen, name);
	cr_assert_not_null(f = fopen(path, "w"), "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Write file name of the state directory itself. */
static void put_top(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "w"), "%s", path);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* The message of the first diagnostic of severity sev that holds what. */
static const char *said(const struct diag_list *d, enum diag_severity sev, const char *what)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->items[i].severity == sev && strstr(d->items[i].message, what))
			return d->items[i].message;
	return NULL;
}

static void dump(const struct diag_list *d)
{
	for (size_t i = 0; i < d->count; i++)
		cr_log_info("%s: %s", d->items[i].file, d->items[i].message);
}

Test(restore, nothing_applied_says_what_to_do)
{
	struct restore r;
	struct diag_list d;

	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_NOTHING);
	cr_assert_eq(r.generation, 0);
	cr_assert_eq(d.errors, 1);
	cr_assert_not_null(said(&d, DIAG_ERROR, "sagate apply FILE"));
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0, "nothing to do is not a failure to do it");
	restore_fini(&r);
	diag_list_fini(&d);
}

Test(restore, the_current_generation_as_applied)
{
	struct restore r;
	struct diag_list d;
	char *want;

	applied(db, true, PLAN_ENGINE, 0);
	cr_assert_eq(applied(web, false, PLAN_KERNEL_ONLY, 7), 2);
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	dump(&d);
	cr_assert_eq(d.count, 0, "nothing to warn about");
	cr_assert_eq(r.generation, 2);
	cr_assert_eq(r.meta.mode, PLAN_KERNEL_ONLY);
	cr_assert_eq(r.plan->mode, PLAN_KERNEL_ONLY);
	cr_assert_eq(r.meta.queue, 7);
	want = compile_table_comment("policies/x.json", r.meta.sha256);
	cr_assert_str_eq(r.plan->comment, want, "the table names the source and digest applied");
	free(want);
	cr_assert_eq(r.rolled_back, 0);
	cr_assert_eq(r.nskipped, 0);
	cr_assert(!r.unverified);
	restore_fini(&r);
	diag_list_fini(&d);
}

Test(restore, a_bundle_is_checked_against_its_digest)
{
	struct restore r;
	struct diag_list d;

	applied(web, false, PLAN_ENGINE, 0);
	applied(db, true, PLAN_ENGINE, 0);	/* flattened: its digest is not the policy's */
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.generation, 2);
	cr_assert_eq(d.count, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

/* A damaged current generation falls back to the previous one, with a
 * warning that names it and what is wrong. */
static void damaged_current(const char *file, const char *text, const char *why)
{
	struct restore r;
	struct diag_list d;
	const char *w;

	applied(db, false, PLAN_ENGINE, 0);
	applied(web, true, PLAN_ENGINE, 0);
	put(2, file, text);
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	dump(&d);
	cr_assert_eq(r.generation, 1);
	cr_assert_eq(r.nskipped, 1);
	cr_assert_eq(r.skipped[0].generation, 2);
	cr_assert_not_null(strstr(r.skipped[0].why, why), "%s", r.skipped[0].why);
	cr_assert_not_null(w = said(&d, DIAG_WARNING, "generation 2 is damaged"));
	cr_assert_not_null(strstr(w, why), "%s", w);
	cr_assert_not_null(strstr(w, "restoring generation 1"), "%s", w);
	cr_assert_eq(d.errors, 0);
	cr_assert_str_eq(r.pol->rules[0].name, "pg");
	restore_fini(&r);
	diag_list_fini(&d);
}

Test(restore, another_valid_policy_in_place_is_damage)
{
	damaged_current("policy.json", db, "does not match the digest meta.json records");
}

Test(restore, a_truncated_policy_is_damage)
{
	damaged_current("policy.json", "{\"version\": 1, \"ru", "policy.json: invalid JSON");
}

Test(restore, an_unreadable_meta_is_damage)
{
	damaged_current("meta.json", "", "meta.json: cannot read");
}

Test(restore, a_meta_without_its_fields_is_damage)
{
	damaged_current("meta.json", "{\"source\": \"x\"}", "meta.json: damaged state file");
}

Test(restore, nothing_usable_fails_and_says_what_to_do)
{
	struct restore r;
	struct diag_list d;

	two_applied();
	put(1, "policy.json", "garbage");
	put(2, "policy.json", db);
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_DAMAGED);
	dump(&d);
	cr_assert_eq(r.generation, 0);
	cr_assert_eq(r.nskipped, 2);
	cr_assert_eq(r.skipped[0].generation, 2);
	cr_assert_eq(r.skipped[1].generation, 1);
	cr_assert_not_null(said(&d, DIAG_WARNING, "generation 2 is damaged"));
	cr_assert_not_null(said(&d, DIAG_WARNING, "generation 1 is damaged"));
	cr_assert_null(said(&d, DIAG_WARNING, "restoring"));
	cr_assert_eq(d.errors, 1);
	cr_assert_not_null(said(&d, DIAG_ERROR, "sagate apply FILE"));
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 2, "the state is left for inspection");
	cr_assert_eq(state_generation(dir, STATE_PREVIOUS), 1);
	restore_fini(&r);
	diag_list_fini(&d);
}

/* An apply --confirm whose confirm never came (its watcher died with
 * the machine) is rolled back to the generation before it. */
static void unconfirmed(const char *file, const char *text)
{
	struct restore r;
	struct diag_list d;

	two_applied();
	put_top(file, text);
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	dump(&d);
	cr_assert_eq(r.rolled_back, 2);
	cr_assert_eq(r.generation, 1);
	cr_assert(r.confirm_file);
	cr_assert_not_null(said(&d, DIAG_WARNING,
				"generation 2 was applied with --confirm and never confirmed: rolled back to generation 1"));
	cr_assert_eq(d.errors, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

/* No watcher holds the record (ops/live.h): it went with the machine. */
Test(restore, a_pending_confirm_is_rolled_back)
{
	unconfirmed("pending", "{\"generation\": 2, \"replaces\": 1, \"deadline\": 1, \"token\": \"00\"}");
}

Test(restore, an_unreadable_pending_guards_current)
{
	unconfirmed("pending", "{\"gener");
}

Test(restore, a_leftover_confirm_file_of_a_done_rollback_changes_nothing)
{
	struct restore r;
	struct diag_list d;

	two_applied();
	diag_list_init(&d);
	cr_assert_eq(state_swap(dir, &d), 0);	/* the watcher rolled back ... */
	put_top("pending", "{\"generation\": 2, \"replaces\": 1}");	/* ... and died */
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.generation, 1);
	cr_assert_eq(r.rolled_back, 0);
	cr_assert(r.confirm_file);
	cr_assert_eq(d.count, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

Test(restore, an_unconfirmed_first_apply_leaves_nothing)
{
	struct restore r;
	struct diag_list d;

	applied(db, false, PLAN_ENGINE, 0);
	put_top("pending", "{\"generation\": 1, \"replaces\": 0, \"deadline\": 1}");
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_NOTHING);
	dump(&d);
	cr_assert_eq(r.rolled_back, 1);
	cr_assert_not_null(said(&d, DIAG_WARNING, "never confirmed: not restored"));
	cr_assert_not_null(said(&d, DIAG_ERROR, "no policy was confirmed before generation 1"));
	cr_assert_eq(restore_apply(dir, &r, true, &d), 0);
	cr_assert(exists("current") && exists("pending"), "a dry run changes nothing");
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0);
	cr_assert(!exists("current"), "the unconfirmed generation is no longer current");
	cr_assert(!exists("pending"));
	cr_assert(exists("gen-000001/policy.json"), "but it is kept");
	restore_fini(&r);
	diag_list_fini(&d);

	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_NOTHING, "and the next boot agrees");
	cr_assert_eq(r.rolled_back, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

Test(restore, an_unconfirmed_apply_over_a_damaged_one_loads_neither)
{
	struct restore r;
	struct diag_list d;

	two_applied();
	put(1, "policy.json", "");
	put_top("pending", "{\"generation\": 2, \"replaces\": 1}");
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_DAMAGED);
	dump(&d);
	cr_assert_eq(r.rolled_back, 2);
	cr_assert_eq(r.nskipped, 1);
	cr_assert_eq(r.skipped[0].generation, 1);
	cr_assert_not_null(said(&d, DIAG_ERROR, "no usable generation"));
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0);
	restore_fini(&r);
	diag_list_fini(&d);

	/* generation 2 is no longer current, and with it goes its rollback
	 * target (gen-000002/previous): the next boot finds nothing confirmed */
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_NOTHING,
		     "the next boot does not take generation 2 for confirmed");
	cr_assert_eq(r.generation, 0);
	cr_assert_eq(r.rolled_back, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

/* A generation from before bundle_sha256: a policy kept byte for byte
 * still has the digest it was applied with; a bundle can only parse. */
Test(restore, generations_of_an_older_sagate)
{
	static const char meta[] = "{\"source\": \"policies/x.json\", \"sha256\": \"%s\", "
		"\"mode\": \"engine\", \"queue\": 0, \"applied_at\": 1, \"generation\": %u}";
	struct state_meta m;
	struct restore r;
	struct diag_list d;
	char text[512];

	applied(web, false, PLAN_ENGINE, 0);
	applied(db, true, PLAN_ENGINE, 0);
	diag_list_init(&d);
	for (unsigned g = 1; g <= 2; g++) {
		cr_assert_eq(state_read_meta(dir, g, &m, &d), 0);
		snprintf(text, sizeof(text), meta, m.sha256, g);
		state_meta_fini(&m);
		put(g, "meta.json", text);
	}
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.generation, 2);
	cr_assert(r.unverified);
	cr_assert_not_null(said(&d, DIAG_WARNING, "records no digest of its policy.json"));
	restore_fini(&r);
	diag_list_fini(&d);

	diag_list_init(&d);
	cr_assert_eq(state_swap(dir, &d), 0);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.generation, 1);
	cr_assert(!r.unverified, "a policy kept byte for byte is checked by its own digest");
	cr_assert_eq(d.count, 0);
	restore_fini(&r);
	diag_list_fini(&d);
}

/* Generations 1 and 2 applied; 2 with --confirm. */
static void pending_of_2(void)
{
	if (!state_generation(dir, STATE_CURRENT))
		two_applied();
	put_top("pending", "{\"generation\": 2, \"replaces\": 1, \"deadline\": 1, \"token\": \"00\"}");
}

/* A process that holds the pending record locked, as a watcher does
 * (ops/live.h: its liveness is that lock), and waits to be killed. */
static pid_t fake_watcher(void)
{
	char path[PATH_MAX];
	int fds[2];
	pid_t pid;
	char c;

	snprintf(path, sizeof(path), "%s/pending", dir);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDONLY);

		close(fds[0]);
		if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &c, 1), 1, "the watcher holds its record");
	close(fds[0]);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(restore, a_confirm_whose_watcher_runs_is_left_to_it)
{
	struct restore r;
	struct diag_list d;
	pid_t w;

	pending_of_2();
	w = fake_watcher();
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_WAITING);
	dump(&d);
	cr_assert(r.waiting);
	cr_assert_eq(r.rolled_back, 0);
	cr_assert_eq(r.generation, 0);
	cr_assert_not_null(said(&d, DIAG_ERROR, "an apply --confirm is waiting for its confirm"));
	cr_assert_eq(restore_apply(dir, &r, false, &d), 0);
	cr_assert_eq(state_generation(dir, STATE_CURRENT), 2, "nothing changed");
	cr_assert(exists("pending"));
	restore_fini(&r);
	diag_list_fini(&d);
	stop(w);
}

/* A killed watcher lets go of its record at once, reaped or not. */
Test(restore, a_killed_watcher_not_yet_reaped_is_gone)
{
	struct restore r;
	struct diag_list d;
	siginfo_t si;
	pid_t w;

	pending_of_2();
	w = fake_watcher();
	kill(w, SIGKILL);
	cr_assert_eq(waitid(P_PID, (id_t)w, &si, WEXITED | WNOWAIT), 0, "a zombie now");
	diag_list_init(&d);
	cr_assert_eq(restore_choose(dir, &r, &d), RESTORE_CHOSEN);
	cr_assert_eq(r.rolled_back, 2);
	restore_fini(&r);
	diag_list_fini(&d);
	waitpid(w, NULL, 0);
}
