/* engine_vici: sagated's follower of charon's vici socket, against a fake
 * charon on a unix socket: it syncs (registrations, list-conns, list-sas),
 * follows events, and fails closed and resyncs on a malformed packet and
 * on a lost connection. */
#include "config.h"

#include "engine_vici.h"
#include "vici_msg.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/sagate-vici-XXXXXX";
static char path[128];
static int lfd = -1;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static void setup(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/charon.vici", dir);
	strcpy(a.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(lfd, 4), 0);
}

static void teardown(void)
{
	close(lfd);
	unlink(path);
	rmdir(dir);
}

static void send_enc(int fd, struct vici_enc *e)
{
	cr_assert_eq(vici_enc_end(e), 0);
	cr_assert_eq(write(fd, e->data, e->len), (ssize_t)e->len);
	vici_enc_fini(e);
}

/* The next packet the client sends. */
static void next(int fd, struct vici_packet *p)
{
	static uint8_t buf[VICI_PACKET_MAX];
	char err[256];
	uint8_t h[4];
	size_t len;

	cr_assert_eq(read(fd, h, 4), 4, "the client sent nothing");
	len = (size_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
	cr_assert(len > 0 && len <= sizeof buf);
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, buf + got, len - got);

		cr_assert_gt(r, 0);
		got += (size_t)r;
	}
	cr_assert_eq(vici_packet_parse(buf, len, p, err, sizeof err), 0, "%s", err);
}

/* IKE_SA conn (uid 1, CN=app1) holding CHILD_SA uid with inbound SPI spi. */
static void ike_child(struct vici_enc *e, const char *conn, const char *state, const char *spi,
		      const char *uid)
{
	vici_enc_section(e, conn);
	vici_enc_kv(e, "uniqueid", "1");
	vici_enc_kv(e, "state", "ESTABLISHED");
	vici_enc_kv(e, "remote-id", "CN=app1");
	vici_enc_section(e, "child-sas");
	vici_enc_section(e, "pg");
	vici_enc_kv(e, "name", "pg");
	vici_enc_kv(e, "uniqueid", uid);
	vici_enc_kv(e, "reqid", "5");
	vici_enc_kv(e, "state", state);
	vici_enc_kv(e, "spi-in", spi);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
	vici_enc_section_end(e);
}

static void list_sa(int fd, const char *spi, const char *uid)
{
	struct vici_enc e;

	vici_enc_begin(&e, VICI_EVENT, "list-sa");
	ike_child(&e, "app", "INSTALLED", spi, uid);
	send_enc(fd, &e);
}

/* Accept the client and answer its sync as charon would, listing one
 * CHILD_SA with inbound SPI spi. */
static int serve_sync(const char *spi)
{
	int fd = accept(lfd, NULL, NULL);
	struct vici_packet p;
	struct vici_enc e;
	unsigned regs = 0;

	cr_assert_geq(fd, 0);
	for (;;) {
		next(fd, &p);
		if (p.type == VICI_EVENT_REGISTER) {
			regs++;
			vici_enc_begin(&e, VICI_EVENT_CONFIRM, NULL);
			send_enc(fd, &e);
			continue;
		}
		cr_assert_eq(p.type, VICI_CMD_REQUEST);
		if (!strcmp(p.name, "list-conns")) {
			vici_enc_begin(&e, VICI_EVENT, "list-conn");
			vici_enc_section(&e, "app");
			vici_enc_section(&e, "remote-1");
			vici_enc_kv(&e, "class", "public key");
			vici_enc_section_end(&e);
			vici_enc_section_end(&e);
			send_enc(fd, &e);
		} else {
			cr_assert_str_eq(p.name, "list-sas");
			cr_assert_eq(regs, 6, "registered for every event first");
			list_sa(fd, spi, "10");
		}
		vici_packet_fini(&p);
		vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
		send_enc(fd, &e);
		if (!strcmp(p.name, "list-sas"))
			return fd;
	}
}

/* What a lookup gives now: the id, "" for none. */
static const char *now(struct engine_vici *v, uint32_t spi)
{
	static char id[64];
	const struct sa_ident *s;

	pthread_rwlock_rdlock(&lock);
	s = engine_vici_lookup(v, spi, 5);
	snprintf(id, sizeof id, "%s%s%s", s ? s->id : "", s && s->auth ? "|" : "", s && s->auth ? s->auth : "");
	pthread_rwlock_unlock(&lock);
	return id;
}

/* Wait (2 s at most) until the lookup of spi gives want. */
static bool until(struct engine_vici *v, uint32_t spi, const char *want)
{
	for (int i = 0; i < 200; i++) {
		if (!strcmp(now(v, spi), want))
			return true;
		usleep(10000);
	}
	return false;
}

static bool until_unsynced(struct engine_vici *v)
{
	for (int i = 0; i < 200; i++) {
		bool s;

		pthread_rwlock_rdlock(&lock);
		s = engine_vici_synced(v);
		pthread_rwlock_unlock(&lock);
		if (!s)
			return true;
		usleep(10000);
	}
	return false;
}

static void child_updown_of(int fd, const char *conn, bool up, const char *spi, const char *uid)
{
	struct vici_enc e;

	vici_enc_begin(&e, VICI_EVENT, "child-updown");
	if (up)
		vici_enc_kv(&e, "up", "yes");
	ike_child(&e, conn, up ? "INSTALLED" : "DELETING", spi, uid);
	send_enc(fd, &e);
}

static void child_updown(int fd, bool up, const char *spi, const char *uid)
{
	child_updown_of(fd, "app", up, spi, uid);
}

/* A connection loaded after the sync: its first SA makes the client list
 * the connections again. */
static void late_conn(int fd)
{
	struct vici_packet p;
	struct vici_enc e;

	child_updown_of(fd, "late", true, "c4000001", "40");
	next(fd, &p);
	cr_assert_eq(p.type, VICI_CMD_REQUEST);
	cr_assert_str_eq(p.name, "list-conns");
	vici_packet_fini(&p);
	vici_enc_begin(&e, VICI_EVENT, "list-conn");
	vici_enc_section(&e, "late");
	vici_enc_section(&e, "remote-1");
	vici_enc_kv(&e, "class", "pre-shared key");
	vici_enc_section_end(&e);
	vici_enc_section_end(&e);
	send_enc(fd, &e);
	vici_enc_begin(&e, VICI_CMD_RESPONSE, NULL);
	send_enc(fd, &e);
}

Test(engine_vici, syncs_follows_and_fails_closed, .init = setup, .fini = teardown, .timeout = 20)
{
	static const uint8_t bad[] = { 0, 0, 0, 5, VICI_EVENT, 1, 'x', 9, 9 };
	struct engine_vici *v = engine_vici_start(path, &lock, false);
	int fd;

	cr_assert_not_null(v);
	cr_assert_str_eq(now(v, 0xc1000001), "", "nothing before the sync");
	fd = serve_sync("c1000001");
	cr_assert(until(v, 0xc1000001, "CN=app1|pubkey"), "after the sync: '%s'", now(v, 0xc1000001));
	child_updown(fd, true, "c2000001", "11");
	cr_assert(until(v, 0xc2000001, "CN=app1|pubkey"), "child-updown up: '%s'", now(v, 0xc2000001));
	child_updown(fd, false, "c1000001", "10");
	cr_assert(until(v, 0xc1000001, ""), "child-updown down");
	cr_assert_str_eq(now(v, 0xc2000001), "CN=app1|pubkey");
	late_conn(fd);
	cr_assert(until(v, 0xc4000001, "CN=app1|psk"), "a connection loaded late: '%s'", now(v, 0xc4000001));

	/* a malformed packet: everything is forgotten at once */
	cr_assert_eq(write(fd, bad, sizeof bad), (ssize_t)sizeof bad);
	cr_assert(until_unsynced(v), "still synced after a malformed packet");
	cr_assert_str_eq(now(v, 0xc2000001), "", "an identity while unsynced");
	close(fd);

	/* it reconnects and lists again; what was known before is gone */
	fd = serve_sync("c3000001");
	cr_assert(until(v, 0xc3000001, "CN=app1|pubkey"), "after the resync: '%s'", now(v, 0xc3000001));
	cr_assert_str_eq(now(v, 0xc2000001), "", "an SA from before the resync");

	/* charon goes away */
	close(fd);
	cr_assert(until_unsynced(v), "still synced after the connection was lost");
	cr_assert_str_eq(now(v, 0xc3000001), "");
	engine_vici_stop(v);
}
