/* vici_dump: asks charon, over its vici socket, for the connections it has
 * loaded (list-conns) and the SAs it holds (list-sas), once, for the
 * audit.  Kernel layer, like the connection it talks through
 * (vici_io.c, shared with sagated's follower engine_vici.c).
 *
 * Each query is charon's streaming pattern: register for the event it
 * streams (list-conn, list-sa), send the command, take events until the
 * command's response, unregister.  A reply that does not decode, or a
 * wait longer than VICI_DUMP_TIMEOUT seconds, ends the query with an
 * error: the audit then says charon could not be read, and never
 * reports a half-read view as complete.
 */
#include "config.h"

#include "vici_dump.h"
#include "vici_io.h"
#include "vici_view.h"

#include <string.h>

#define VICI_DUMP_TIMEOUT 10

typedef int (*view_add_fn)(struct ike_view *, const struct vici_node *, char *, size_t);

/* One streamed query's events: those named event added to v by add;
 * the first that does not fit is kept in err, and the query reads on to
 * the command's response. */
struct query {
	const char *event;
	view_add_fn add;
	struct ike_view *v;
	char err[256];
	bool failed;
};

static int on_event(void *ctx, const struct vici_packet *p, char *err, size_t errlen)
{
	struct query *q = ctx;

	if (!q->failed && !strcmp(p->name, q->event) && q->add(q->v, p->msg, q->err, sizeof q->err) < 0)
		q->failed = true;
	return VICI_IO_OK;
}

/* One streamed query: command cmd, its events named event, each added
 * to v by add. */
static int query(struct vici_io *io, const char *path, const char *cmd, const char *event,
		 view_add_fn add, struct ike_view *v, struct diag_list *d)
{
	struct query q = { .event = event, .add = add, .v = v };
	char err[512];

	if (vici_io_event(io, event, true, -1, NULL, NULL, err, sizeof err) != VICI_IO_OK ||
	    vici_io_command(io, cmd, -1, on_event, &q, err, sizeof err) != VICI_IO_OK) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "%s", err);
		return -1;
	}
	if (q.failed) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "%s: %s", cmd, q.err);
		return -1;
	}
	if (vici_io_event(io, event, false, -1, NULL, NULL, err, sizeof err) != VICI_IO_OK) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "%s", err);
		return -1;
	}
	return 0;
}

int vici_dump_view(const char *path, struct ike_view *v, struct diag_list *d)
{
	struct vici_io io;
	char err[512];
	int rc;

	*v = (struct ike_view){ 0 };
	vici_io_init(&io, NULL, NULL, 0);
	if (vici_io_connect(&io, path, VICI_DUMP_TIMEOUT, err, sizeof err) != VICI_IO_OK) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "%s", err);
		return -1;
	}
	rc = query(&io, path, "list-conns", "list-conn", vici_view_add_conns, v, d);
	if (rc == 0)
		rc = query(&io, path, "list-sas", "list-sa", vici_view_add_sas, v, d);
	vici_io_fini(&io);
	if (rc < 0)
		ike_view_fini(v);
	return rc;
}
