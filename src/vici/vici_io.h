/* vici_io: one connection to charon's vici socket, packet by packet:
 * connecting, sending a request, reading one framed packet, and the
 * exchange of a request for its answer with the events that come before
 * it.  Kernel layer (it holds a socket); the audit's one-shot dump
 * (vici_dump.c) and sagated's follower (engine/engine_vici.c) both talk
 * through it, so the framing, its limits and the wording of every error
 * are here once.  The packets themselves are vici_msg.h's.
 *
 * Waiting is the caller's: with no wait hook, reads block in recv() (a
 * socket's SO_RCVTIMEO, as vici_io_connect sets it on request, bounds
 * them); with one, each read first asks the hook, which can poll other
 * descriptors too (the follower's stop pipe) and end the read early.
 *
 * Errors are text in the caller's buffer, complete phrases a log line
 * can carry after the socket's path: "reading from charon: no answer in
 * time", "charon sent a packet of 0 bytes (1-524288 expected)",
 * "list-sas failed: ...".
 */
#ifndef SAGATE_VICI_IO_H
#define SAGATE_VICI_IO_H

#include "vici_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** What each function returns. */
enum vici_io_rc {
	VICI_IO_OK = 0,
	VICI_IO_ERR = -1,	/**< err says what */
	VICI_IO_STOP = -2,	/**< the wait hook asked to stop; err untouched */
};

/** Wait until fd is readable, at most ms (-1: without limit).
 *  VICI_IO_OK: readable; VICI_IO_STOP; or VICI_IO_ERR with errno
 *  (ETIMEDOUT: nothing came in time). */
typedef int (*vici_wait_fn)(void *ctx, int fd, int ms);

/** An event packet that came while waiting for an answer.  VICI_IO_OK
 *  reads on; anything else ends the exchange with that code (with
 *  VICI_IO_ERR, the function has written err). */
typedef int (*vici_event_fn)(void *ctx, const struct vici_packet *p, char *err, size_t errlen);

/** One connection.  fd is the caller's to set (vici_io_connect, or a
 *  socket of its own); the struct owns it from then on. */
struct vici_io {
	int fd;			/**< -1: none */
	vici_wait_fn wait;	/**< NULL: block in recv() */
	void *wait_ctx;
	int packet_ms;		/**< the rest of a packet once its length has come (with wait) */
	uint8_t *buf;		/**< the packet being read; grows to the largest seen */
	size_t cap;
};

/** No connection yet.  wait and packet_ms as in struct vici_io. */
void vici_io_init(struct vici_io *io, vici_wait_fn wait, void *wait_ctx, int packet_ms);
/** Close the connection (if any); io can connect again. */
void vici_io_close(struct vici_io *io);
/** Close, and free the buffer. */
void vici_io_fini(struct vici_io *io);

/** Connect io (closed first) to the unix socket at path.  timeout_s > 0
 *  also bounds each send and recv on it (SO_SNDTIMEO, SO_RCVTIMEO).
 *  VICI_IO_OK, or VICI_IO_ERR with errno and err ("cannot reach charon's
 *  vici socket: ...", with a hint at the likely cause). */
int vici_io_connect(struct vici_io *io, const char *path, int timeout_s, char *err, size_t errlen);

/** End e (vici_enc_end) and send it whole; what names the request in
 *  err.  e stays the caller's to vici_enc_fini. */
int vici_io_send(struct vici_io *io, struct vici_enc *e, const char *what, char *err, size_t errlen);

/** Read one packet, waiting at most ms for its first byte (with a wait
 *  hook; without, the socket's own timeout).  On VICI_IO_OK the caller
 *  frees p with vici_packet_fini; on anything else p holds nothing. */
int vici_io_read(struct vici_io *io, struct vici_packet *p, int ms, char *err, size_t errlen);

/** Send e, then read until the answer of type want, handing each event
 *  before it to on_event (NULL: events are ignored), waiting at most ms
 *  for each packet.  An answer of another type is an error; so is a
 *  command response whose "success" key is there and not "yes" (list
 *  commands answer without one). */
int vici_io_exchange(struct vici_io *io, struct vici_enc *e, enum vici_pkt want, const char *what,
		     int ms, vici_event_fn on_event, void *ctx, char *err, size_t errlen);

/** Register for the event named event (on) or unregister from it, and
 *  wait for charon's confirmation: vici_io_exchange for EVENT_CONFIRM. */
int vici_io_event(struct vici_io *io, const char *event, bool on, int ms,
		  vici_event_fn on_event, void *ctx, char *err, size_t errlen);

/** Send the command cmd (no message) and read to its response:
 *  vici_io_exchange for CMD_RESPONSE. */
int vici_io_command(struct vici_io *io, const char *cmd, int ms,
		    vici_event_fn on_event, void *ctx, char *err, size_t errlen);

#endif
