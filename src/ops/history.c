/* The generations of the state directory as `sagate history` lists them:
 * each one's meta and outcome read, and what became of it decided. */
#include "config.h"

#include "history.h"
#include "live.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const outcome_names[] = {
	[HISTORY_LIVE] = "live",
	[HISTORY_CONFIRMED] = "confirmed",
	[HISTORY_PENDING] = "unconfirmed-pending",
	[HISTORY_ROLLED_BACK] = "rolled-back",
	[HISTORY_SUPERSEDED] = "superseded",
	[HISTORY_DAMAGED] = "damaged",
};

const char *history_outcome_name(enum history_outcome o)
{
	return outcome_names[o];
}

/* Entry e of generation gen; -1 only when memory ran out. */
static int entry_read(const char *dir, unsigned gen, const struct live_pending *p,
		      unsigned cur, struct history_entry *e)
{
	struct diag_list q;
	int rc = 0;

	e->generation = gen;
	diag_list_init(&q);
	if (state_read_meta(dir, gen, &e->meta, &q) < 0) {
		e->outcome = HISTORY_DAMAGED;
		if (!(e->why = strdup(q.count ? q.items[0].message : "meta.json cannot be read")))
			rc = -1;
		diag_list_fini(&q);
		return rc;
	}
	/* a damaged outcome.json hides only what became of it */
	state_read_outcome(dir, gen, &e->what, &q);
	diag_list_fini(&q);
	if (gen == cur)
		e->outcome = p->generation == gen ? HISTORY_PENDING :
			     e->what.confirmed ? HISTORY_CONFIRMED : HISTORY_LIVE;
	else
		e->outcome = e->what.rolled_back ? HISTORY_ROLLED_BACK : HISTORY_SUPERSEDED;
	return 0;
}

int history_read(const char *dir, struct history *h, struct diag_list *d)
{
	struct live_pending p = { 0 };
	unsigned *gens, target;
	long n;

	memset(h, 0, sizeof(*h));
	n = state_list(dir, &gens);
	if (n < 0 && errno == ENOENT)
		return 0;
	if (n < 0) {
		diag_add(d, DIAG_ERROR, dir, "", NULL, "cannot read the state directory: %s",
			 strerror(errno));
		return -1;
	}
	h->current = state_generation(dir, STATE_CURRENT);
	target = state_generation(dir, STATE_PREVIOUS);
	/* an unreadable pending record is status's to report: none here */
	{
		struct diag_list q;

		diag_list_init(&q);
		if (live_pending_get(dir, &p, &q) != 1)
			p = (struct live_pending){ 0 };
		diag_list_fini(&q);
	}
	h->pending_deadline = p.deadline;
	h->pending_watcher = p.watcher;
	if (n && !(h->v = calloc((size_t)n, sizeof(*h->v)))) {
		free(gens);
		diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
		return -1;
	}
	for (long i = 0; i < n; i++) {
		struct history_entry *e = &h->v[h->n++];

		if (entry_read(dir, gens[i], &p, h->current, e) < 0) {
			free(gens);
			diag_add(d, DIAG_ERROR, dir, "", NULL, "out of memory");
			return -1;
		}
		e->target = gens[i] == target;
	}
	free(gens);
	return 0;
}

void history_fini(struct history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		state_meta_fini(&h->v[i].meta);
		free(h->v[i].why);
	}
	free(h->v);
	memset(h, 0, sizeof(*h));
}
