/* vbatch: turn the verdicts of one burst of queued packets into as few
 * NFQNL_MSG_VERDICT_BATCH messages as keep "exactly one verdict per
 * packet, drop by default".
 *
 * A batch verdict for id N applies to every packet of the queue still
 * waiting whose id is N or before (serial order, as the kernel compares
 * them).  Ids grow by one per packet of a queue, and one socket reads one
 * queue in order, so a run of packets with consecutive ids and the same
 * verdict is one message.  A gap in the ids (a packet lost to an overrun,
 * or a message we could not read) could hide a packet still waiting:
 * before an accepting run that follows a gap, the gap is dropped
 * explicitly, so no packet is ever accepted without being decided.
 *
 * Pure: no socket, no allocation.
 */
#ifndef SAGATE_VBATCH_H
#define SAGATE_VBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One decided packet, in the order the queue delivered it. */
struct vbatch_pkt {
	uint32_t id;		/**< the kernel's packet id */
	bool accept;
};

/** One verdict message to send: every waiting packet up to id. */
struct vbatch_msg {
	uint32_t id;		/**< the last id the message covers */
	bool accept;
};

/** What a queue's verdicts so far imply for the next burst. */
struct vbatch_state {
	bool have_last;		/**< a verdict was planned since the queue was bound */
	uint32_t last;		/**< the last id covered by a planned verdict (0: none) */
};

/** Is id a after id b in the kernel's wrapping order? */
bool vbatch_after(uint32_t a, uint32_t b);

/** Plan the messages for n packets (ids increasing, as delivered) into
 *  out, which must hold 2 * n entries; updates st.  Returns how many
 *  messages.  A state without a verdict yet (have_last false) is a queue
 *  this socket bound: the kernel numbers its packets from 1, so ids
 *  before the first one given are a gap like any other, dropped before
 *  an accept. */
size_t vbatch_plan(struct vbatch_state *st, const struct vbatch_pkt *p, size_t n,
		   struct vbatch_msg *out);

#endif
