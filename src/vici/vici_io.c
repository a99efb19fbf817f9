/* vici_io: framing and request/answer exchanges on a vici socket
 * (vici_io.h).  A packet is read whole or not at all: its 32-bit length
 * is checked against VICI_PACKET_MAX before a byte of it is read, and a
 * packet cut short (the peer closed, or the rest did not come in time)
 * is an error, never half a packet handed to the decoder. */
#include "config.h"

#include "vici_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* the first size the buffer takes: most packets are a few hundred bytes */
#define BUF_MIN 4096

void vici_io_init(struct vici_io *io, vici_wait_fn wait, void *wait_ctx, int packet_ms)
{
	*io = (struct vici_io){ .fd = -1, .wait = wait, .wait_ctx = wait_ctx, .packet_ms = packet_ms };
}

void vici_io_close(struct vici_io *io)
{
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
}

void vici_io_fini(struct vici_io *io)
{
	vici_io_close(io);
	free(io->buf);
	io->buf = NULL;
	io->cap = 0;
}

int vici_io_connect(struct vici_io *io, const char *path, int timeout_s, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = -1, e;

	vici_io_close(io);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    (timeout_s > 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
			       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	io->fd = fd;
	return VICI_IO_OK;
fail:
	e = errno;
	snprintf(err, errlen, "cannot reach charon's vici socket: %s%s", strerror(e),
		 e == ENOENT || e == ECONNREFUSED ? " (is charon running, with the vici plugin?)" :
		 e == EACCES ? " (the socket is root's unless strongswan.conf gives it a group)" : "");
	if (fd >= 0)
		close(fd);
	errno = e;
	return VICI_IO_ERR;
}

int vici_io_send(struct vici_io *io, struct vici_enc *e, const char *what, char *err, size_t errlen)
{
	const uint8_t *b;
	size_t n;

	if (vici_enc_end(e) < 0) {
		snprintf(err, errlen, "%s: cannot encode the request", what);
		return VICI_IO_ERR;
	}
	for (b = e->data, n = e->len; n;) {
		ssize_t w = send(io->fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: writing to charon: %s", what,
				 w == 0 ? "nothing sent" :
				 errno == EAGAIN || errno == EWOULDBLOCK ? "no room in time" : strerror(errno));
			return VICI_IO_ERR;
		}
		b += w;
		n -= (size_t)w;
	}
	return VICI_IO_OK;
}

/* n bytes into b, *got of them so far; the peer closing is ECONNRESET. */
static int read_full(struct vici_io *io, uint8_t *b, size_t n, size_t *got, int ms)
{
	for (*got = 0; *got < n;) {
		ssize_t r;

		if (io->wait) {
			int w = io->wait(io->wait_ctx, io->fd, ms);

			if (w != VICI_IO_OK)
				return w;
		}
		r = recv(io->fd, b + *got, n - *got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return VICI_IO_ERR;
		}
		*got += (size_t)r;
	}
	return VICI_IO_OK;
}

static void read_error(char *err, size_t errlen, bool started, size_t got, size_t len)
{
	int e = errno;

	if (e == ECONNRESET)
		snprintf(err, errlen, "charon closed the connection%s", started ? " mid-packet" : "");
	else if (e != EAGAIN && e != EWOULDBLOCK && e != ETIMEDOUT)
		snprintf(err, errlen, "reading from charon: %s", strerror(e));
	else if (!started)
		snprintf(err, errlen, "reading from charon: no answer in time");
	else
		snprintf(err, errlen, "reading from charon: a packet stopped short (%zu of %zu bytes in time)",
			 got, len);
}

int vici_io_read(struct vici_io *io, struct vici_packet *p, int ms, char *err, size_t errlen)
{
	uint8_t hdr[4];
	size_t len, got;
	char why[256];
	int r;

	r = read_full(io, hdr, 4, &got, ms);
	if (r != VICI_IO_OK) {
		if (r == VICI_IO_ERR)
			read_error(err, errlen, got > 0, got, 4);
		return r;
	}
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > VICI_PACKET_MAX) {
		snprintf(err, errlen, "charon sent a packet of %zu bytes (1-%d expected)", len,
			 VICI_PACKET_MAX);
		return VICI_IO_ERR;
	}
	if (len > io->cap) {
		size_t cap = io->cap * 2 > BUF_MIN ? io->cap * 2 : BUF_MIN;
		uint8_t *nb;

		if (cap < len)
			cap = len;
		if (cap > VICI_PACKET_MAX)
			cap = VICI_PACKET_MAX;
		if (!(nb = realloc(io->buf, cap))) {
			snprintf(err, errlen, "reading from charon: out of memory");
			return VICI_IO_ERR;
		}
		io->buf = nb;
		io->cap = cap;
	}
	r = read_full(io, io->buf, len, &got, io->packet_ms);
	if (r != VICI_IO_OK) {
		if (r == VICI_IO_ERR)
			read_error(err, errlen, true, got, len);
		return r;
	}
	if (vici_packet_parse(io->buf, len, p, why, sizeof why) < 0) {
		snprintf(err, errlen, "charon's packet does not decode: %s", why);
		return VICI_IO_ERR;
	}
	return VICI_IO_OK;
}

int vici_io_exchange(struct vici_io *io, struct vici_enc *e, enum vici_pkt want, const char *what,
		     int ms, vici_event_fn on_event, void *ctx, char *err, size_t errlen)
{
	int r = vici_io_send(io, e, what, err, errlen);

	while (r == VICI_IO_OK) {
		struct vici_packet p;
		bool done = false;

		if ((r = vici_io_read(io, &p, ms, err, errlen)) != VICI_IO_OK)
			break;
		if (p.type == VICI_EVENT) {
			if (on_event)
				r = on_event(ctx, &p, err, errlen);
		} else if (p.type == want) {
			const char *ok = vici_str(p.msg, "success");
			const char *msg = vici_str(p.msg, "errmsg");

			if (ok && strcmp(ok, "yes")) {
				snprintf(err, errlen, "%s failed: %s", what, msg ? msg : "(no message)");
				r = VICI_IO_ERR;
			}
			done = true;
		} else {
			snprintf(err, errlen, "%s: %s", what,
				 p.type == VICI_CMD_UNKNOWN ? "charon does not know this command" :
				 p.type == VICI_EVENT_UNKNOWN ? "charon does not know this event" :
				 "answered out of order");
			if (p.type != VICI_CMD_UNKNOWN && p.type != VICI_EVENT_UNKNOWN)
				snprintf(err + strlen(err), errlen - strlen(err), " (packet type %u)", p.type);
			r = VICI_IO_ERR;
		}
		vici_packet_fini(&p);
		if (done)
			break;
	}
	return r;
}

int vici_io_event(struct vici_io *io, const char *event, bool on, int ms,
		  vici_event_fn on_event, void *ctx, char *err, size_t errlen)
{
	struct vici_enc e;
	char what[VICI_NAME_MAX + 32];
	int r;

	snprintf(what, sizeof what, "%s %s", on ? "registering for" : "unregistering from", event);
	vici_enc_begin(&e, on ? VICI_EVENT_REGISTER : VICI_EVENT_UNREGISTER, event);
	r = vici_io_exchange(io, &e, VICI_EVENT_CONFIRM, what, ms, on_event, ctx, err, errlen);
	vici_enc_fini(&e);
	return r;
}

int vici_io_command(struct vici_io *io, const char *cmd, int ms,
		    vici_event_fn on_event, void *ctx, char *err, size_t errlen)
{
	struct vici_enc e;
	int r;

	vici_enc_begin(&e, VICI_CMD_REQUEST, cmd);
	r = vici_io_exchange(io, &e, VICI_CMD_RESPONSE, cmd, ms, on_event, ctx, err, errlen);
	vici_enc_fini(&e);
	return r;
}
