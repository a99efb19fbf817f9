/* vici_dump: asks charon, over its vici socket, for the connections it has
 * loaded (list-conns) and the SAs it holds (list-sas), once, for the
 * audit.  The only file of the CLI's side of vici with a socket (kernel
 * layer); sagated's follower is engine_vici.c.
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
#include "vici_view.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define VICI_DUMP_TIMEOUT 10

static int open_socket(const char *path, struct diag_list *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = VICI_DUMP_TIMEOUT };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "socket path too long");
		return -1;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		diag_add(d, DIAG_ERROR, path, "", NULL,
			 "cannot reach charon's vici socket: %s%s", strerror(errno),
			 errno == ENOENT || errno == ECONNREFUSED ? " (is charon running, with the vici plugin?)" :
			 errno == EACCES ? " (the socket is root's unless strongswan.conf gives it a group)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_packet(int fd, enum vici_pkt t, const char *name)
{
	struct vici_enc e;
	int rc;

	vici_enc_begin(&e, t, name);
	rc = vici_enc_end(&e) < 0 ? -1 : send_all(fd, e.data, e.len);
	vici_enc_fini(&e);
	return rc;
}

/* Read one packet into p.  0, or -1 with the reason in d. */
static int read_packet(int fd, const char *path, struct vici_packet *p, struct diag_list *d)
{
	uint8_t hdr[4], *buf;
	char err[160];
	uint32_t len;
	int rc;

	if (recv_all(fd, hdr, 4) < 0) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "reading from charon: %s",
			 errno == EAGAIN ? "no answer in time" : strerror(errno));
		return -1;
	}
	memcpy(&len, hdr, 4);
	len = ntohl(len);
	if (len == 0 || len > VICI_PACKET_MAX) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "charon sent a packet of %u bytes", len);
		return -1;
	}
	if (!(buf = malloc(len))) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "out of memory");
		return -1;
	}
	rc = recv_all(fd, buf, len);
	if (rc < 0)
		diag_add(d, DIAG_ERROR, path, "", NULL, "reading from charon: %s", strerror(errno));
	else if ((rc = vici_packet_parse(buf, len, p, err, sizeof(err))) < 0)
		diag_add(d, DIAG_ERROR, path, "", NULL, "charon's answer does not decode: %s", err);
	free(buf);
	return rc;
}

/* Register for event, expecting its confirmation (or unregister). */
static int event_register(int fd, const char *path, const char *event, bool on,
			  struct diag_list *d)
{
	struct vici_packet p;
	bool ok;

	if (send_packet(fd, on ? VICI_EVENT_REGISTER : VICI_EVENT_UNREGISTER, event) < 0) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "writing to charon: %s", strerror(errno));
		return -1;
	}
	if (read_packet(fd, path, &p, d) < 0)
		return -1;
	ok = p.type == VICI_EVENT_CONFIRM;
	vici_packet_fini(&p);
	if (!ok)
		diag_add(d, DIAG_ERROR, path, "", NULL, "charon refused the event %s", event);
	return ok ? 0 : -1;
}

typedef int (*view_add_fn)(struct ike_view *, const struct vici_node *, char *, size_t);

/* One streamed query: command cmd, its events named event, each added
 * to v by add. */
static int query(int fd, const char *path, const char *cmd, const char *event, view_add_fn add,
		 struct ike_view *v, struct diag_list *d)
{
	struct vici_packet p;
	char err[256];
	int rc = 0;

	if (event_register(fd, path, event, true, d) < 0)
		return -1;
	if (send_packet(fd, VICI_CMD_REQUEST, cmd) < 0) {
		diag_add(d, DIAG_ERROR, path, "", NULL, "writing to charon: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		if (read_packet(fd, path, &p, d) < 0)
			return -1;
		if (p.type == VICI_CMD_RESPONSE) {
			vici_packet_fini(&p);
			break;
		}
		if (p.type == VICI_CMD_UNKNOWN) {
			vici_packet_fini(&p);
			diag_add(d, DIAG_ERROR, path, "", NULL, "charon does not know the command %s", cmd);
			return -1;
		}
		if (p.type == VICI_EVENT && !strcmp(p.name, event) && rc == 0 &&
		    add(v, p.msg, err, sizeof(err)) < 0) {
			diag_add(d, DIAG_ERROR, path, "", NULL, "%s: %s", cmd, err);
			rc = -1;	/* read on to the response, then fail */
		}
		vici_packet_fini(&p);
	}
	return event_register(fd, path, event, false, d) < 0 ? -1 : rc;
}

int vici_dump_view(const char *path, struct ike_view *v, struct diag_list *d)
{
	int fd = open_socket(path, d), rc;

	*v = (struct ike_view){ 0 };
	if (fd < 0)
		return -1;
	rc = query(fd, path, "list-conns", "list-conn", vici_view_add_conns, v, d);
	if (rc == 0)
		rc = query(fd, path, "list-sas", "list-sa", vici_view_add_sas, v, d);
	close(fd);
	if (rc < 0)
		ike_view_fini(v);
	return rc;
}
