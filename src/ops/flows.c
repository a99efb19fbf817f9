#include "config.h"

#include "ct_flows.h"
#include "flows.h"
#include "revoke.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A failure here comes after the commit: say what it leaves, as a warning. */
static void not_ended(struct diag_list *d, const struct diag_list *why)
{
	diag_add(d, DIAG_WARNING, "", "", NULL,
		 "established flows were not checked against the new policy (%s): flows it no longer admits keep flowing",
		 why->count ? why->items[0].message : "unknown error");
}

void flows_end(const struct plan *p, const struct policy *pol, struct flows_tally *t,
	       struct diag_list *d)
{
	struct addr_range *locals = NULL;
	struct ct_conn *conn = NULL;
	struct ct_table tab = { 0 };
	struct diag_list why;
	size_t nlocals = 0;
	int last_err = 0;

	memset(t, 0, sizeof(*t));
	diag_list_init(&why);
	/* read after the commit: an entry made since was admitted by the
	 * new table, and is judged so */
	if (ct_dump(&tab, &why) < 0 || ct_local_addrs(&locals, &nlocals, &why) < 0 ||
	    !(conn = ct_open(&why))) {
		not_ended(d, &why);
		goto out;
	}
	t->ran = true;
	for (size_t i = 0; i < tab.n; i++) {
		struct revoke_result res;
		bool aborted;
		int rc;

		if (!revoke_judge(p, pol, locals, nlocals, &tab.v[i].flow, &res)) {
			t->kept += res.verdict == REVOKE_KEEP;
			continue;
		}
		/* the socket first, while the entry still lets its reset out */
		aborted = ct_abort_socket(conn, &tab.v[i], res.key.dir == DIR_IN) > 0;
		t->sockets += aborted;
		rc = ct_delete(conn, &tab.v[i]);
		if (rc > 0 || (rc == 0 && aborted))
			t->ended++;
		else if (rc < 0) {
			t->failed++;
			last_err = errno;
		}
	}
	if (t->failed)
		diag_add(d, DIAG_WARNING, "", "", NULL,
			 "%u established flows the new policy no longer admits could not be ended: %s",
			 t->failed, strerror(last_err));
out:
	ct_close(conn);
	ct_table_fini(&tab);
	free(locals);
	diag_list_fini(&why);
}
