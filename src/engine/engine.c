#include "config.h"

#include "engine_int.h"
#include "engine_vici.h"
#include "elog.h"
#include "diag.h"
#include "parse.h"
#include "plan.h"
#include "sdnotify.h"
#include "state.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#define BUFLEN (65536 + 4096)
#define LOG_PER_SEC 100		/* decision lines per second, then one summary */
#define SWEEP_KEEP 60		/* seconds a hard-expired SA stays as a tombstone */
#define FAIL_OPEN_NAG 60	/* seconds between fail-open warnings */
#define COUNTERS_FILE "sagated.json"

/* ------------------------------------------------------------------ output */

/* The log's ring and writer thread, once sagated has started it: a line
 * is queued, never written by the thread that logs it (elog.h).  Set
 * before any other thread starts, cleared after they are joined. */
static struct elog *the_log;

/* Log line (malloc'ed, ending in a newline; consumed). */
static void emit(enum elog_to to, char *line)
{
	FILE *f = to == ELOG_OUT ? stdout : stderr;

	if (!line)
		return;
	if (the_log) {
		elog_push(the_log, to, line);
		return;
	}
	flockfile(f);	/* no log thread yet: one whole line, whatever the thread */
	fputs(line, f);
	fflush(f);
	funlockfile(f);
	free(line);
}

int engine_log_start(void)
{
	int err;

	if (the_log)
		return 0;
	fflush(stdout);
	fflush(stderr);
	the_log = elog_new(ENGINE_LOG_LINES, STDOUT_FILENO, STDERR_FILENO);
	if (!the_log)
		return ENOMEM;
	err = elog_start(the_log);
	if (err) {
		elog_free(the_log);
		the_log = NULL;
	}
	return err;
}

void engine_log_stop(int timeout_ms)
{
	if (!the_log)
		return;
	elog_stop(the_log, timeout_ms);
	elog_free(the_log);
	the_log = NULL;
}

unsigned long long engine_log_lost(void)
{
	return the_log ? elog_lost(the_log) : 0;
}

void engine_event(json_t *j)
{
	json_t *o = json_object();
	char t[48];
	char *s, *line;
	size_t n;

	if (!o || !j) {
		json_decref(o);
		json_decref(j);
		return;
	}
	elog_time(t, sizeof t);
	json_object_set_new(o, "time", json_string(t));
	json_object_update(o, j);
	json_decref(j);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	emit(ELOG_OUT, line);
}

void engine_msg(const char *event, const char *fmt, ...)
{
	char msg[512];
	char *line;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (asprintf(&line, "sagated: %s: %s\n", event, msg) >= 0)
		emit(ELOG_ERR, line);
	engine_event(json_pack("{s:s, s:s}", "event", event, "message", msg));
}

void engine_log_diags(struct diag_list *d)
{
	size_t errors = 0;

	for (size_t i = 0; i < d->count; i++) {
		const struct diag *x = &d->items[i];
		const char *sev = x->severity == DIAG_ERROR ? "error" : "warning";
		char event[64];

		if (x->file && *x->file)
			snprintf(event, sizeof event, "%s-%s", x->file, sev);
		else
			snprintf(event, sizeof event, "%s", sev);
		engine_msg(event, "%s", x->message ? x->message : "out of memory");
		errors += x->severity == DIAG_ERROR;
	}
	if (errors < d->errors)	/* errors there was no memory to store */
		engine_msg("error", "out of memory");
	diag_list_fini(d);
	diag_list_init(d);
}

void engine_log_tick(struct engine *e)
{
	uint64_t total = 0, n;

	for (unsigned i = 0; e->q && i < ENGINE_QUEUES(e); i++)
		total += elimit_count_read(&e->q[i].log_refused);
	n = elimit_report(&e->log, total);
	if (n)
		engine_event(json_pack("{s:s, s:I}", "event", "suppressed", "count", (json_int_t)n));
}

bool engine_log_admit(struct engine_queue *q, time_t now)
{
	return elimit_admit(&q->e->log, &q->log_refused, now);
}

/* ------------------------------------------------------------------ locks */

void engine_wrlock(struct engine *e)
{
	pthread_rwlock_wrlock(&e->lock);
	for (unsigned i = 0; e->q && i < ENGINE_QUEUES(e); i++)
		pthread_mutex_lock(&e->q[i].rd);
}

void engine_wrunlock(struct engine *e)
{
	for (unsigned i = ENGINE_QUEUES(e); e->q && i-- > 0;)
		pthread_mutex_unlock(&e->q[i].rd);
	pthread_rwlock_unlock(&e->lock);
}

void engine_wrlock_cb(void *e)
{
	engine_wrlock(e);
}

void engine_wrunlock_cb(void *e)
{
	engine_wrunlock(e);
}

/* ------------------------------------------------------------------ policy */

/* Where the policy comes from: the file of --policy, or the current
 * generation, with the queue its table uses. */
struct psrc {
	char *path;
	uint16_t base;		/* bank A's first queue */
	unsigned count;		/* queues per bank */
	uint16_t queue;		/* the generation's table queues here */
	unsigned gen_count;	/* ...and to this many queues from there on */
	bool engine;		/* the generation was applied in engine mode */
	unsigned gen;		/* 0: --policy */
	char sha256[65];	/* the generation's applied digest */
};

/* Find what to load; caller frees ps->path.  0, or -1 with an error in d. */
static int policy_source(const struct engine_src *src, struct psrc *ps, struct diag_list *d)
{
	const char *dir;
	struct state_meta m;
	struct diag_list sd;

	memset(ps, 0, sizeof(*ps));
	ps->count = src->nqueues ? src->nqueues : 1;
	if (src->policy) {
		ps->path = strdup(src->policy);
		ps->base = ps->queue = src->queue >= 0 ? (uint16_t)src->queue : 0;
		return ps->path ? 0 : engine_fail(d, "", "out of memory");
	}
	dir = state_dir();
	ps->gen = state_generation(dir, STATE_CURRENT);
	if (!ps->gen)
		return engine_fail(d, "", "no applied policy in %s (use --policy FILE)", dir);
	memset(&m, 0, sizeof m);
	diag_list_init(&sd);
	if (state_read_meta(dir, ps->gen, &m, &sd) < 0) {
		char *s = sd.count ? diag_format(&sd.items[0]) : NULL;

		engine_fail(d, "", "generation %u: %s", ps->gen, s ? s : "cannot read meta");
		free(s);
		diag_list_fini(&sd);
		state_meta_fini(&m);
		return -1;
	}
	diag_list_fini(&sd);
	if (m.mode != PLAN_ENGINE)
		diag_add(d, DIAG_WARNING, "", "", NULL,
			 "generation %u was applied in kernel-only mode: nothing is queued", ps->gen);
	ps->base = src->queue >= 0 ? (uint16_t)src->queue : m.queue_base;
	if (!src->nqueues)
		ps->count = m.queue_count ? m.queue_count : 1;
	ps->queue = m.queue;
	ps->gen_count = m.queue_count ? m.queue_count : 1;
	ps->engine = m.mode == PLAN_ENGINE;
	memcpy(ps->sha256, m.sha256, sizeof(ps->sha256));
	state_meta_fini(&m);
	ps->path = state_policy_path(dir, ps->gen);
	return ps->path ? 0 : engine_fail(d, "", "out of memory");
}

/* Parse and classify path.  0, or -1 with errors in d: the parser's
 * findings, each whole in one message of "policy". */
static int policy_load(const char *path, bool bundle, struct policy **pol,
		       struct classes **cls, struct diag_list *d)
{
	struct parse_opts po = { .max_file_size = bundle || state_owns(path) ? STATE_MAX_BUNDLE : 0 };
	struct diag_list pd;

	diag_list_init(&pd);
	*cls = NULL;
	*pol = parse_policy_file(path, &po, &pd);
	if (!*pol || pd.errors) {
		for (size_t i = 0; i < pd.count; i++) {
			char *s = diag_format(&pd.items[i]);

			engine_fail(d, "policy", "%s", s ? s : "out of memory");
			free(s);
		}
		if (!pd.count)
			engine_fail(d, "policy", "%s: cannot be loaded", path);
		diag_list_fini(&pd);
		policy_free(*pol);
		*pol = NULL;
		return -1;
	}
	diag_list_fini(&pd);
	*cls = classify(*pol, 0);
	if (!*cls) {
		engine_fail(d, "", "out of memory while classifying %s", path);
		policy_free(*pol);
		*pol = NULL;
		return -1;
	}
	return 0;
}

int engine_bank_load(struct engine *e, unsigned b, const char *path, unsigned gen,
		     const char *sha, bool bundle, struct diag_list *d)
{
	struct engine_bank *bk = &e->bank[b];
	struct policy *pol;
	struct classes *cls;
	char *p = strdup(path);

	if (!p)
		return engine_fail(d, "", "out of memory");
	if (policy_load(path, bundle, &pol, &cls, d) < 0) {
		free(p);
		return -1;
	}
	snprintf(bk->sha256, sizeof(bk->sha256), "%s", sha ? sha : pol->sha256);
	/* swap under the lock, free the old one after it */
	engine_wrlock(e);
	SWAP(bk->cls, cls);
	SWAP(bk->pol, pol);
	bk->generation = gen;
	engine_wrunlock(e);
	classes_free(cls);
	policy_free(pol);
	free(bk->policy_path);
	bk->policy_path = p;
	return 0;
}

/* The bank whose queues hold queue, or -1. */
static int bank_of(const struct engine *e, unsigned queue)
{
	if (queue < e->queue || queue >= e->queue + ENGINE_QUEUES(e))
		return -1;
	return (int)((queue - e->queue) / e->nqueues);
}

const struct engine_bank *engine_live_bank(const struct engine *e)
{
	return &e->bank[e->live > 0 ? e->live : 0];
}

/* Load what ps names: a --policy file into every bank, a generation
 * into the bank its table queues to. */
static int source_load(struct engine *e, const struct psrc *ps, struct diag_list *d)
{
	int b;

	if (!ps->gen) {
		for (unsigned i = 0; i < ENGINE_BANKS; i++)
			if (engine_bank_load(e, i, ps->path, 0, NULL, false, d) < 0)
				return -1;
		return 0;
	}
	b = bank_of(e, ps->queue);
	if (b < 0)
		return engine_fail(d, "", "generation %u queues to queue %u, but this sagated serves queues %u-%u: start it with the --queue of that apply",
				   ps->gen, ps->queue, e->queue, e->queue + ENGINE_QUEUES(e) - 1);
	if (engine_bank_load(e, (unsigned)b, ps->path, ps->gen, ps->sha256, true, d) < 0)
		return -1;
	e->live = b;
	return 0;
}

int engine_reload(struct engine *e, struct diag_list *d)
{
	struct psrc ps;
	int rc;

	if (policy_source(&e->src, &ps, d) < 0) {
		free(ps.path);
		return -1;
	}
	if (ps.gen && (ps.base != e->queue || ps.count != e->nqueues))
		diag_add(d, DIAG_WARNING, "", "", NULL,
			 "generation %u was applied with queues from %u, %u per bank; still serving queues from %u, %u per bank, until restarted",
			 ps.gen, ps.base, ps.count, e->queue, e->nqueues);
	rc = source_load(e, &ps, d);
	free(ps.path);
	return rc;
}


/* ------------------------------------------------------------------ counters */

void engine_counters(const struct engine *e, struct estats *sum)
{
	memset(sum, 0, sizeof *sum);
	for (unsigned i = 0; e->q && i < ENGINE_QUEUES(e); i++)
		estats_sum(sum, &e->q[i].st);
}

static json_t *opt_gen(unsigned gen)
{
	return gen ? json_integer(gen) : json_null();
}

/* Each queue's verdicts, so that a spread over a range can be seen:
 * "per_queue": [{"queue":Q,"verdicts":N}, ...] (both banks). */
static int per_queue_json(const struct engine *e, json_t *j)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && e->q && i < ENGINE_QUEUES(e); i++) {
		struct estats one;
		uint64_t n = 0;

		memset(&one, 0, sizeof(one));
		estats_sum(&one, &e->q[i].st);
		for (unsigned r = 0; r < ESTATS_REASONS; r++)
			n += one.by_reason[r];
		if (json_array_append_new(a, json_pack("{s:i, s:I}", "queue", (int)e->q[i].num,
						       "verdicts", (json_int_t)n)) < 0) {
			json_decref(a);
			return -1;
		}
	}
	return a && json_object_set_new(j, "per_queue", a) == 0 ? 0 : -1;
}

/* The handover's part of the counters file: the generation the live bank
 * serves, and each bank's policy (see sagated(8)). */
static int banks_json(const struct engine *e, json_t *j)
{
	json_t *banks = json_array();

	for (unsigned i = 0; banks && i < ENGINE_BANKS; i++) {
		const struct engine_bank *b = &e->bank[i];

		if (json_array_append_new(banks, json_pack("{s:i, s:i, s:o, s:o, s:o, s:b}",
				"queue", (int)b->first, "queues", (int)e->nqueues,
				"generation", opt_gen(b->pol ? b->generation : 0),
				"sha256", b->pol ? json_string(b->sha256) : json_null(),
				"policy", b->pol && b->policy_path ? json_string(b->policy_path) : json_null(),
				"live", e->live == (int)i)) < 0) {
			json_decref(banks);
			return -1;
		}
	}
	if (banks && per_queue_json(e, j) < 0) {
		json_decref(banks);
		return -1;
	}
	if (!banks || json_object_set_new(j, "generation", opt_gen(e->live >= 0 ?
					  e->bank[e->live].generation : 0)) < 0 ||
	    json_object_set_new(j, "banks", banks) < 0)
		return -1;
	return 0;
}

int engine_write_counters(struct engine *e, bool stopped, struct diag_list *d)
{
	struct estats sum;
	struct estats_info info = {
		.pid = (long)getpid(), .started = (uint64_t)e->started,
		.now = (uint64_t)time(NULL), .stopped = stopped,
		.queue_first = e->queue, .queue_count = e->nqueues,
		.fail_open = e->src.fail_open, .policy = engine_live_bank(e)->policy_path,
		.sha256 = engine_live_bank(e)->pol ? engine_live_bank(e)->sha256 : NULL,
		.sas = e->sas ? xfrm_cache_count(e->sas) : 0, .x_enobufs = e->x_enobufs,
		.log_lost = engine_log_lost(),
	};
	const char *dir = e->src.run_dir ? e->src.run_dir : estats_run_dir();
	json_t *j;
	int rc;

	engine_counters(e, &sum);
	j = estats_json(&sum, &info);
	if (j && banks_json(e, j) < 0) {
		json_decref(j);
		j = NULL;
	}
	rc = j ? estats_write(dir, COUNTERS_FILE, j) : -1;
	if (!j)
		errno = ENOMEM;
	if (rc < 0 && !e->counters_warned) {
		/* once: a read-only run dir must not flood the log */
		diag_add(d, DIAG_WARNING, "", "", NULL, "cannot write %s/%s: %s", dir, COUNTERS_FILE,
			 strerror(errno));
		e->counters_warned = true;
	}
	json_decref(j);
	return rc;
}

static void fail_open_nag(const struct engine *e)
{
	engine_msg("warning", "FAIL-OPEN: packets that overflow queues %u-%u are ACCEPTED "
		   "without an IPsec check (--fail-open)", e->queue, e->queue + ENGINE_QUEUES(e) - 1);
}

/* ------------------------------------------------------------------ life */

static int life_init(struct engine *e, const struct engine_src *src, struct diag_list *d)
{
	pthread_rwlockattr_t ra;
	int err;

	memset(e, 0, sizeof *e);
	e->src = *src;
	e->stop_fd[0] = e->stop_fd[1] = e->fail_fd[0] = e->fail_fd[1] = -1;
	e->ctl_fd = -1;
	e->live = -1;
	e->started = time(NULL);
	elimit_init(&e->log, LOG_PER_SEC);
	pthread_mutex_init(&e->xmu, NULL);
	e->xmu_ok = true;
	/* writers first: an SA update must not starve behind a flood */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&e->lock, &ra);
	if (err) {
		pthread_rwlockattr_destroy(&ra);
		return engine_fail(d, "", "rwlock: %s", strerror(err));
	}
	pthread_rwlockattr_destroy(&ra);
	e->lock_ok = true;
	if (pipe2(e->stop_fd, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(e->fail_fd, O_CLOEXEC | O_NONBLOCK) < 0)
		return engine_fail(d, "", "pipe: %s", strerror(errno));
	e->buflen = BUFLEN;
	e->buf = malloc(e->buflen);
	e->sas = xfrm_cache_alloc();
	if (!e->buf || !e->sas)
		return engine_fail(d, "", "out of memory");
	return 0;
}

int engine_init(struct engine *e, const struct engine_src *src, struct diag_list *d)
{
	struct psrc ps;
	int rc;

	if (life_init(e, src, d) < 0)
		return -1;
	if (policy_source(src, &ps, d) < 0) {
		free(ps.path);
		return -1;
	}
	e->queue = ps.base;
	e->nqueues = ps.count;
	if ((unsigned)e->queue + ENGINE_QUEUES(e) - 1 > 65535) {
		free(ps.path);
		return engine_fail(d, "", "queues %u-%u (two banks of %u): beyond 65535", e->queue,
				   e->queue + ENGINE_QUEUES(e) - 1, e->nqueues);
	}
	for (unsigned i = 0; i < ENGINE_BANKS; i++)
		e->bank[i].first = (uint16_t)(e->queue + i * e->nqueues);
	/* an explicit --queue that is not the applied table's range: served
	 * as asked, but said, since what falls outside it is dropped */
	if (ps.gen && ps.engine && (ps.gen_count != e->nqueues ||
	    (ps.queue != e->bank[0].first && ps.queue != e->bank[1].first)))
		diag_add(d, DIAG_WARNING, "", "", NULL,
			 "generation %u's table spreads new flows over queues %u-%u, but this sagated serves banks %u-%u and %u-%u (--queue): what the table queues outside the bank is dropped; start sagated without --queue to serve the applied range",
			 ps.gen, ps.queue, ps.queue + ps.gen_count - 1, e->bank[0].first,
			 e->bank[0].first + e->nqueues - 1, e->bank[1].first,
			 e->bank[1].first + e->nqueues - 1);
	rc = source_load(e, &ps, d);
	free(ps.path);
	return rc;
}

/* The SPI comes in NFQA_PRIORITY (see engine_queue.c), which kernels
 * before 5.18 do not send: say so once, loudly.  Only a warning: a
 * distribution kernel may have it backported, and without it every
 * queued flow is dropped (drop-no-spi), never admitted. */
static void kernel_nag(void)
{
	struct utsname u;

	if (uname(&u) == 0 && !kernel_at_least(u.release, 5, 18))
		engine_msg("warning", "kernel %s may not hand queued packets' priority to "
			   "sagated (NFQA_PRIORITY, Linux 5.18): without it no SPI arrives and "
			   "every require-ipsec flow is dropped (drop-no-spi)", u.release);
}

int engine_open(struct engine *e, struct diag_list *d)
{
	kernel_nag();
	if (e->src.fail_open)
		fail_open_nag(e);
	if (engine_xfrm_setup(e, d) < 0)
		return -1;
	if (engine_queues_alloc(e, d) < 0)
		return -1;
	for (unsigned i = 0; i < ENGINE_QUEUES(e); i++)
		if (eq_open(e, &e->q[i], (uint16_t)(e->queue + i), d) < 0)
			return -1;
	if (e->src.vici && !(e->vici = engine_vici_start_with(e->src.vici, engine_wrlock_cb,
							     engine_wrunlock_cb, e, false)))
		return engine_fail(d, "", "cannot start the vici follower: %s", strerror(errno));
	/* identity rules ask the follower; without one (--vici none) they
	 * fail closed (decide.c) */
	if (e->vici) {
		e->ident_lookup = engine_vici_lookup;
		e->ident_ctx = e->vici;
	}
	return engine_ctl_open(e, d);
}

int engine_queues_alloc(struct engine *e, struct diag_list *d)
{
	struct engine_queue *q;
	size_t size = ENGINE_QUEUES(e) * sizeof *q;

	/* each on its own cache lines (calloc aligns to 16 bytes only) */
	if (posix_memalign((void **)&q, _Alignof(struct engine_queue), size))
		return engine_fail(d, "", "out of memory");
	memset(q, 0, size);
	for (unsigned i = 0; i < ENGINE_QUEUES(e); i++) {
		pthread_mutex_init(&q[i].rd, NULL);
		q[i].e = e;
		q[i].num = (uint16_t)(e->queue + i);
		q[i].bank = i / e->nqueues;
	}
	/* only now do writers (engine_wrlock) see the queues' locks */
	e->q = q;
	return 0;
}

/* The main loop's parts below log what went wrong: the loop owns the log. */

/* Once a second: sweep, flush the log limiter, write the counters. */
static void tick(struct engine *e, time_t now)
{
	struct diag_list d;

	diag_list_init(&d);
	engine_wrlock(e);
	xfrm_cache_sweep(e->sas, (uint64_t)now, SWEEP_KEEP);
	engine_wrunlock(e);
	engine_log_tick(e);
	engine_write_counters(e, false, &d);
	engine_log_diags(&d);
	if (e->src.fail_open && now - e->started >= FAIL_OPEN_NAG &&
	    (now - e->started) % FAIL_OPEN_NAG == 0)
		fail_open_nag(e);
}

static void do_reload(struct engine *e)
{
	struct diag_list d;
	int rc;

	sd_notify_reloading();
	diag_list_init(&d);
	rc = engine_reload(e, &d);
	engine_log_diags(&d);
	if (rc < 0)
		engine_msg("reload-failed", "keeping the policy loaded from %s",
			   engine_live_bank(e)->policy_path);
	else
		engine_event(json_pack("{s:s, s:s, s:s, s:I, s:o}", "event", "reloaded",
				       "policy", engine_live_bank(e)->policy_path,
				       "sha256", engine_live_bank(e)->sha256,
				       "rules", (json_int_t)engine_live_bank(e)->pol->nrules,
				       "generation", opt_gen(engine_live_bank(e)->generation)));
	sd_notify_send("READY=1");
}


int engine_run(struct engine *e, volatile sig_atomic_t *stop, volatile sig_atomic_t *hup)
{
	struct diag_list d;
	sigset_t none;
	time_t last = 0;

	diag_list_init(&d);
	for (unsigned i = 0; i < ENGINE_QUEUES(e); i++)
		if (eq_start(&e->q[i], &d) < 0) {
			engine_log_diags(&d);
			return -1;
		}
	sigemptyset(&none);
	while (!*stop && !__atomic_load_n(&e->failed, __ATOMIC_ACQUIRE)) {
		struct pollfd p[3] = {
			{ mnl_socket_get_fd(e->xnl), POLLIN, 0 },
			{ e->fail_fd[0], POLLIN, 0 },
			{ e->ctl_fd, POLLIN, 0 },
		};
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		time_t now;

		if (*hup) {
			*hup = 0;
			do_reload(e);
		}
		pthread_mutex_lock(&e->xmu);
		engine_xfrm_dump(e, &d);
		pthread_mutex_unlock(&e->xmu);
		engine_log_diags(&d);
		if (ppoll(p, 3, &ts, &none) < 0 && errno != EINTR) {
			engine_msg("error", "poll: %s", strerror(errno));
			return -1;
		}
		now = time(NULL);
		if (now != last) {
			tick(e, now);
			last = now;
		}
		/* SA changes first: a packet may ride on an SA just announced */
		if ((p[0].revents & POLLIN) && engine_xfrm_drain(e) < 0)
			return -1;
		/* a queue thread may have drained the socket for us */
		engine_ct_review(e);
		if (p[2].revents & POLLIN) {
			engine_ctl_serve(e, &d);
			engine_log_diags(&d);
		}
	}
	return __atomic_load_n(&e->failed, __ATOMIC_ACQUIRE) ? -1 : 0;
}

static void close_fds(int fd[2])
{
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
}

void engine_stop(struct engine *e, struct diag_list *d)
{
	char c = 1;

	/* no handover to a sagated that is going away */
	engine_ctl_close(e);
	/* the stop pipe is never read: every thread sees it readable */
	if (e->q && e->stop_fd[1] >= 0 && write(e->stop_fd[1], &c, 1) < 0)
		engine_fail(d, "", "cannot stop the queue threads: %s", strerror(errno));
	for (unsigned i = 0; e->q && i < ENGINE_QUEUES(e); i++)
		eq_close(&e->q[i], d);
	e->ident_lookup = NULL;
	e->ident_ctx = NULL;
	engine_vici_stop(e->vici);
	e->vici = NULL;
}

void engine_fini(struct engine *e)
{
	struct diag_list unheard;

	/* a no-op after the caller's engine_stop, which heard its errors */
	diag_list_init(&unheard);
	engine_stop(e, &unheard);
	diag_list_fini(&unheard);
	engine_log_tick(e);
	if (e->xnl)
		mnl_socket_close(e->xnl);
	close_fds(e->stop_fd);
	close_fds(e->fail_fd);
	for (unsigned i = 0; e->q && i < ENGINE_QUEUES(e); i++)
		pthread_mutex_destroy(&e->q[i].rd);
	free(e->q);
	for (unsigned i = 0; i < ENGINE_BANKS; i++) {
		classes_free(e->bank[i].cls);
		policy_free(e->bank[i].pol);
		free(e->bank[i].policy_path);
	}
	xfrm_cache_free(e->sas);
	free(e->buf);
	if (e->lock_ok)
		pthread_rwlock_destroy(&e->lock);
	if (e->xmu_ok)
		pthread_mutex_destroy(&e->xmu);
	memset(e, 0, sizeof *e);
}
