/* vici_io: the framing and exchanges on a vici socket, against a peer on
 * the other end of a socketpair: packets that come in pieces, lengths
 * at and over the limit, a peer that stops or closes mid-packet, the
 * wait hook's stop, and event registration confirmed or refused. */
#include "config.h"

#include "vici_io.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct vici_io io;
static int peer = -1;
static char err[512];
static unsigned waits;
static bool stop;

/* The tests' wait hook: poll, counting the calls. */
static int wait_poll(void *ctx, int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int r;

	waits++;
	if (stop)
		return VICI_IO_STOP;
	r = poll(&p, 1, ms);
	if (r < 0)
		return VICI_IO_ERR;
	if (r == 0) {
		errno = ETIMEDOUT;
		return VICI_IO_ERR;
	}
	return VICI_IO_OK;
}

/* io on one end of a socketpair of type type, peer on the other; with
 * hook, reads wait in wait_poll, the rest of a packet at most 100 ms. */
static void pair(int type, bool hook)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	vici_io_init(&io, hook ? wait_poll : NULL, NULL, 100);
	io.fd = sv[0];
	peer = sv[1];
	err[0] = 0;
	waits = 0;
	stop = false;
}

static void teardown(void)
{
	vici_io_fini(&io);
	if (peer >= 0)
		close(peer);
	peer = -1;
}

static void put(const void *b, size_t n)
{
	cr_assert_eq(write(peer, b, n), (ssize_t)n);
}

static void put_len(uint32_t len)
{
	uint8_t h[4] = { len >> 24, len >> 16, len >> 8, len };

	put(h, 4);
}

/* A packet of type t (name for named types), with key success = ok and
 * errmsg = msg when they are not NULL. */
static void put_pkt(enum vici_pkt t, const char *name, const char *ok, const char *msg)
{
	struct vici_enc e;

	vici_enc_begin(&e, t, name);
	if (ok)
		vici_enc_kv(&e, "success", ok);
	if (msg)
		vici_enc_kv(&e, "errmsg", msg);
	cr_assert_eq(vici_enc_end(&e), 0);
	put(e.data, e.len);
	vici_enc_fini(&e);
}

/* The packet io sent, as the peer reads it. */
static void got_pkt(enum vici_pkt t, const char *name)
{
	uint8_t buf[512];
	struct vici_packet p;
	char why[256];
	ssize_t n = recv(peer, buf, sizeof buf, MSG_DONTWAIT);

	cr_assert_gt(n, 4, "io sent nothing");
	cr_assert_eq((size_t)n, 4 + ((size_t)buf[2] << 8 | buf[3]), "one packet, whole");
	cr_assert_eq(vici_packet_parse(buf + 4, (size_t)n - 4, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(p.type, t);
	cr_assert_str_eq(p.name, name);
	vici_packet_fini(&p);
}

/* What is left unread on io's end. */
static ssize_t unread(void)
{
	uint8_t b[64];
	ssize_t n = recv(io.fd, b, sizeof b, MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN ? 0 : n;
}

TestSuite(vici_io, .fini = teardown, .timeout = 20);

Test(vici_io, a_packet_that_comes_a_byte_at_a_time_is_read_whole)
{
	for (int hook = 0; hook < 2; hook++) {
		struct vici_packet p;
		struct vici_enc e;

		pair(SOCK_SEQPACKET, hook);	/* each byte its own record: every recv is short */
		vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
		vici_enc_kv(&e, "success", "yes");
		cr_assert_eq(vici_enc_end(&e), 0);
		for (size_t i = 0; i < e.len; i++)
			put(e.data + i, 1);
		put(e.data, 4);	/* and the same again: its length, then the rest at once */
		put(e.data + 4, e.len - 4);
		for (int k = 0; k < 2; k++) {
			cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_OK, "%s", err);
			cr_assert_eq(p.type, VICI_CMD_RESPONSE);
			cr_assert_str_eq(vici_str(p.msg, "success"), "yes");
			vici_packet_fini(&p);
		}
		if (hook)
			cr_assert_eq(waits, e.len + 2, "one wait per recv: %u", waits);	/* 1 + 1 for the second */
		vici_enc_fini(&e);
		teardown();
	}
}

Test(vici_io, a_packet_that_stops_short_is_an_error_when_the_rest_does_not_come)
{
	struct vici_packet p;
	struct timeval tv = { .tv_usec = 100000 };

	/* with a wait hook: its timeout */
	pair(SOCK_STREAM, true);
	put_len(10);
	put("abcde", 5);
	cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "reading from charon: a packet stopped short (5 of 10 bytes in time)");
	teardown();

	/* blocking, with the socket's own timeout (the audit's dump) */
	pair(SOCK_STREAM, false);
	cr_assert_eq(setsockopt(io.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	put("\0\0", 2);
	cr_assert_eq(vici_io_read(&io, &p, -1, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "reading from charon: a packet stopped short (2 of 4 bytes in time)");
	cr_assert_eq(vici_io_read(&io, &p, -1, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "reading from charon: no answer in time");
}

Test(vici_io, a_length_over_the_limit_or_zero_is_refused_before_its_bytes)
{
	static const uint32_t bad[] = { VICI_PACKET_MAX + 1, 0, 0xffffffff };
	struct vici_packet p;
	char want[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pair(SOCK_STREAM, true);
		put_len(bad[i]);
		put("\1following", 10);
		cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_ERR);
		snprintf(want, sizeof want, "charon sent a packet of %u bytes (1-%d expected)", bad[i],
			 VICI_PACKET_MAX);
		cr_assert_str_eq(err, want);
		cr_assert_eq(io.cap, 0, "no buffer taken for it");
		cr_assert_eq(unread(), 10, "nothing read past the length");
		teardown();
	}
}

/* A valid CMD_RESPONSE of exactly VICI_PACKET_MAX bytes: eight keys k0-k7,
 * each 6 bytes of framing and its value. */
static uint8_t *max_packet(void)
{
	uint8_t *b = malloc(4 + VICI_PACKET_MAX), *q = b;
	size_t left = VICI_PACKET_MAX - 1 - 8 * 6;

	cr_assert_not_null(b);
	*q++ = VICI_PACKET_MAX >> 24;
	*q++ = VICI_PACKET_MAX >> 16 & 0xff;
	*q++ = VICI_PACKET_MAX >> 8 & 0xff;
	*q++ = VICI_PACKET_MAX & 0xff;
	*q++ = VICI_CMD_RESPONSE;
	for (int k = 0; k < 8; k++) {
		size_t v = k < 7 ? VICI_VALUE_MAX : left;

		*q++ = VICI_KEY_VALUE;
		*q++ = 2;
		*q++ = 'k';
		*q++ = (uint8_t)('0' + k);
		*q++ = (uint8_t)(v >> 8);
		*q++ = (uint8_t)v;
		memset(q, 'x', v);
		q += v;
		left -= k < 7 ? v : 0;
	}
	cr_assert_eq(q - b, 4 + VICI_PACKET_MAX);
	return b;
}

static void *write_all(void *arg)
{
	const uint8_t *b = arg;

	for (size_t n = 0; n < 4 + VICI_PACKET_MAX;) {
		ssize_t w = write(peer, b + n, 4 + VICI_PACKET_MAX - n);

		if (w <= 0)
			break;
		n += (size_t)w;
	}
	return NULL;
}

Test(vici_io, a_packet_of_the_largest_length_is_read)
{
	uint8_t *b = max_packet();
	struct vici_packet p;
	pthread_t th;
	const struct vici_node *k7;

	pair(SOCK_STREAM, true);
	io.packet_ms = 5000;
	cr_assert_eq(pthread_create(&th, NULL, write_all, b), 0);
	cr_assert_eq(vici_io_read(&io, &p, 5000, err, sizeof err), VICI_IO_OK, "%s", err);
	pthread_join(th, NULL);
	k7 = vici_get(p.msg, "k7", VICI_N_KV);
	cr_assert_not_null(k7);
	cr_assert_eq(k7->vlen, VICI_PACKET_MAX - 1 - 8 * 6 - 7 * VICI_VALUE_MAX);
	vici_packet_fini(&p);
	free(b);
}

Test(vici_io, a_peer_that_closes_mid_packet_is_named)
{
	/* what the peer sends before it closes, and what io says */
	static const struct {
		const char *sent;
		size_t n;
		bool hook;
		const char *want;
	} cases[] = {
		{ "", 0, true, "charon closed the connection" },
		{ "\0\0", 2, true, "charon closed the connection mid-packet" },
		{ "\0\0\0\x14\1abcd", 9, false, "charon closed the connection mid-packet" },
	};
	struct vici_packet p;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pair(SOCK_STREAM, cases[i].hook);
		put(cases[i].sent, cases[i].n);
		close(peer);
		peer = -1;
		cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_ERR);
		cr_assert_str_eq(err, cases[i].want);
		teardown();
	}
}

Test(vici_io, a_packet_that_does_not_decode_is_an_error)
{
	struct vici_packet p;

	pair(SOCK_STREAM, true);
	put_len(3);
	put("\x09zz", 3);	/* no packet type 9 */
	cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_ERR);
	cr_assert(!strncmp(err, "charon's packet does not decode: ", 33), "%s", err);
}

Test(vici_io, the_wait_hook_stops_a_read)
{
	struct vici_packet p;

	pair(SOCK_STREAM, true);
	put_pkt(VICI_EVENT_CONFIRM, NULL, NULL, NULL);
	stop = true;
	strcpy(err, "untouched");
	cr_assert_eq(vici_io_read(&io, &p, 100, err, sizeof err), VICI_IO_STOP);
	cr_assert_str_eq(err, "untouched");
	cr_assert_gt(unread(), 0, "the packet is still there");
}

static unsigned events;

static int count_event(void *ctx, const struct vici_packet *p, char *e, size_t elen)
{
	events++;
	if (ctx) {
		snprintf(e, elen, "event %s refused", p->name);
		return VICI_IO_ERR;
	}
	return VICI_IO_OK;
}

Test(vici_io, an_event_registration_is_confirmed_or_refused)
{
	pair(SOCK_STREAM, true);

	/* confirmed, after an event of an earlier registration */
	events = 0;
	put_pkt(VICI_EVENT, "ike-updown", NULL, NULL);
	put_pkt(VICI_EVENT_CONFIRM, NULL, NULL, NULL);
	cr_assert_eq(vici_io_event(&io, "child-updown", true, 100, count_event, NULL, err, sizeof err),
		     VICI_IO_OK, "%s", err);
	cr_assert_eq(events, 1);
	got_pkt(VICI_EVENT_REGISTER, "child-updown");

	cr_assert_eq(vici_io_event(&io, "child-updown", false, 100, NULL, NULL, err, sizeof err),
		     VICI_IO_ERR);	/* no answer */
	cr_assert_str_eq(err, "reading from charon: no answer in time");
	got_pkt(VICI_EVENT_UNREGISTER, "child-updown");
	put_pkt(VICI_EVENT_CONFIRM, NULL, NULL, NULL);
	cr_assert_eq(vici_io_event(&io, "child-updown", false, 100, NULL, NULL, err, sizeof err),
		     VICI_IO_OK, "%s", err);
	got_pkt(VICI_EVENT_UNREGISTER, "child-updown");

	/* refused: charon knows no such event */
	put_pkt(VICI_EVENT_UNKNOWN, NULL, NULL, NULL);
	cr_assert_eq(vici_io_event(&io, "nope", true, 100, NULL, NULL, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "registering for nope: charon does not know this event");

	/* answered by something else */
	put_pkt(VICI_CMD_RESPONSE, NULL, NULL, NULL);
	cr_assert_eq(vici_io_event(&io, "list-sa", true, 100, NULL, NULL, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "registering for list-sa: answered out of order (packet type 1)");

	/* an event the caller refuses ends the exchange before the answer */
	events = 0;
	put_pkt(VICI_EVENT, "child-rekey", NULL, NULL);
	put_pkt(VICI_EVENT_CONFIRM, NULL, NULL, NULL);
	cr_assert_eq(vici_io_event(&io, "ike-rekey", true, 100, count_event, &events, err, sizeof err),
		     VICI_IO_ERR);
	cr_assert_str_eq(err, "event child-rekey refused");
	cr_assert_eq(events, 1);
	cr_assert_gt(unread(), 0, "the confirmation is not read");
}

Test(vici_io, a_command_succeeds_fails_or_is_unknown)
{
	pair(SOCK_STREAM, true);

	put_pkt(VICI_EVENT, "list-sa", NULL, NULL);
	put_pkt(VICI_CMD_RESPONSE, NULL, NULL, NULL);	/* list commands answer {} */
	events = 0;
	cr_assert_eq(vici_io_command(&io, "list-sas", 100, count_event, NULL, err, sizeof err),
		     VICI_IO_OK, "%s", err);
	cr_assert_eq(events, 1);
	got_pkt(VICI_CMD_REQUEST, "list-sas");

	put_pkt(VICI_CMD_RESPONSE, NULL, "yes", NULL);
	cr_assert_eq(vici_io_command(&io, "initiate", 100, NULL, NULL, err, sizeof err), VICI_IO_OK,
		     "%s", err);

	put_pkt(VICI_CMD_RESPONSE, NULL, "no", "boom");
	cr_assert_eq(vici_io_command(&io, "initiate", 100, NULL, NULL, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "initiate failed: boom");

	put_pkt(VICI_CMD_UNKNOWN, NULL, NULL, NULL);
	cr_assert_eq(vici_io_command(&io, "list-nothing", 100, NULL, NULL, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "list-nothing: charon does not know this command");
}

Test(vici_io, connect_names_the_likely_cause)
{
	char path[200];

	vici_io_init(&io, NULL, NULL, 0);
	cr_assert_eq(vici_io_connect(&io, "/nonexistent/charon.vici", 1, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "cannot reach charon's vici socket: No such file or directory"
			      " (is charon running, with the vici plugin?)");
	cr_assert_eq(io.fd, -1);
	memset(path, 'a', sizeof path - 1);
	path[sizeof path - 1] = 0;
	cr_assert_eq(vici_io_connect(&io, path, 0, err, sizeof err), VICI_IO_ERR);
	cr_assert_str_eq(err, "cannot reach charon's vici socket: File name too long");
}
