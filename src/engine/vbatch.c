#include "config.h"

#include "vbatch.h"

bool vbatch_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

size_t vbatch_plan(struct vbatch_state *st, const struct vbatch_pkt *p, size_t n,
		   struct vbatch_msg *out)
{
	size_t m = 0;

	/* a queue this socket bound has numbered its packets from 1: what
	 * precedes the first id we were given may wait unread (a message
	 * we could not parse) and must not ride on its accept */
	if (n && !st->have_last)
		*st = (struct vbatch_state){ true, 0 };
	for (size_t i = 0; i < n; i++) {
		/* an id we have already covered cannot be waiting any more:
		 * a second verdict for it would be refused by the kernel */
		if (st->have_last && !vbatch_after(p[i].id, st->last))
			continue;
		if (st->have_last && p[i].id != st->last + 1 && p[i].accept) {
			/* drop whatever might wait in the gap first */
			if (m && !out[m - 1].accept)
				out[m - 1].id = p[i].id - 1;
			else
				out[m++] = (struct vbatch_msg){ p[i].id - 1, false };
		}
		/* a gap inside a drop run is simply dropped with it */
		if (m && out[m - 1].accept == p[i].accept)
			out[m - 1].id = p[i].id;
		else
			out[m++] = (struct vbatch_msg){ p[i].id, p[i].accept };
		st->have_last = true;
		st->last = p[i].id;
	}
	return m;
}
