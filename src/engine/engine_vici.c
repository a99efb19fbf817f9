/* engine_vici: the thread that follows charon's vici socket and keeps the
 * identity map of the CHILD_SAs (engine_vici.h). */
#include "config.h"

#include "engine_int.h"
#include "engine_vici.h"
#include "vici_io.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
/* a command's reply: list-sas waits for busy IKE_SAs, so be generous */
#define REPLY_MS 30000
/* a packet's bytes once its length has come */
#define PACKET_MS 5000

struct engine_vici {
	char *path;
	pthread_rwlock_t *lock;
	bool dump;
	/* under *lock */
	struct vici_idmap map;
	bool synced;
	/* the thread's */
	struct vici_io io;
	int stop_fd[2];
	pthread_t th;
	bool started;
	bool down_logged;	/* "vici-unavailable" said for this outage */
};

/* Wait for fd (or -1: nothing) to be readable, or the stop pipe, at most
 * ms (-1: forever): a vici_wait_fn, ctx the struct engine_vici.
 * VICI_IO_OK readable, VICI_IO_STOP, or VICI_IO_ERR with ETIMEDOUT. */
static int wait_in(void *ctx, int fd, int ms)
{
	struct engine_vici *v = ctx;
	struct pollfd p[2] = { { v->stop_fd[0], POLLIN, 0 }, { fd, POLLIN, 0 } };
	int r;

	do
		r = poll(p, fd < 0 ? 1 : 2, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return VICI_IO_ERR;
	if (p[0].revents)
		return VICI_IO_STOP;
	if (r == 0) {
		errno = ETIMEDOUT;
		return VICI_IO_ERR;
	}
	return VICI_IO_OK;
}

/* The whole map as an event (--identities); under the lock. */
static void dump_map(const struct engine_vici *v)
{
	json_t *sas = json_array();

	for (size_t i = 0; sas && v->synced && i < v->map.n; i++) {
		const struct vici_ident_sa *s = &v->map.sa[i];
		char spi[16];

		snprintf(spi, sizeof spi, "0x%08x", s->spi);
		json_array_append_new(sas, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s?, s:I, s:I}",
			"spi", spi, "reqid", (json_int_t)s->reqid, "conn", s->conn,
			"child", s->child, "id", s->ident.id, "auth", s->ident.auth,
			"ike_uid", (json_int_t)s->ike_uid, "child_uid", (json_int_t)s->child_uid));
	}
	engine_event(json_pack("{s:s, s:b, s:o}", "event", "identities", "synced", v->synced,
			       "sas", sas ? sas : json_null()));
}

/* A vici_event_fn, ctx the struct engine_vici. */
static int apply_event(void *ctx, const struct vici_packet *p, char *err, size_t errlen)
{
	struct engine_vici *v = ctx;
	char sub[256] = "";
	int r;

	pthread_rwlock_wrlock(v->lock);
	r = vici_idmap_event(&v->map, p->name, p->msg, sub, sizeof sub);
	if (r > 0 && v->dump && v->synced)
		dump_map(v);
	pthread_rwlock_unlock(v->lock);
	if (r < 0)
		snprintf(err, errlen, "event %s: %s", p->name, sub);
	return r < 0 ? VICI_IO_ERR : VICI_IO_OK;
}

static int subscribe(struct engine_vici *v, const char *event, char *err, size_t errlen)
{
	return vici_io_event(&v->io, event, true, REPLY_MS, apply_event, v, err, errlen);
}

static int command(struct engine_vici *v, const char *cmd, char *err, size_t errlen)
{
	return vici_io_command(&v->io, cmd, REPLY_MS, apply_event, v, err, errlen);
}

static void set_unsynced(struct engine_vici *v)
{
	pthread_rwlock_wrlock(v->lock);
	bool was = v->synced;

	v->synced = false;
	vici_idmap_clear(&v->map);
	if (v->dump && was)
		dump_map(v);
	pthread_rwlock_unlock(v->lock);
}

/* Connections loaded after the last list-conns (charon sends no event
 * for a loaded connection) are listed when their first SA appears: the
 * auth class of an SA is its connection's.  Only this thread writes the
 * map, so it reads it here without the lock. */
static int conns_refresh(struct engine_vici *v, char *err, size_t errlen)
{
	int r;

	if (!vici_idmap_conns_missing(&v->map))
		return VICI_IO_OK;
	r = command(v, "list-conns", err, errlen);
	if (r != VICI_IO_OK)
		return r;
	pthread_rwlock_wrlock(v->lock);
	r = vici_idmap_conns_settle(&v->map);
	if (v->dump && v->synced)
		dump_map(v);
	pthread_rwlock_unlock(v->lock);
	if (r < 0)
		snprintf(err, errlen, "out of memory");
	return r < 0 ? VICI_IO_ERR : VICI_IO_OK;
}

/* One connection's life: sync, then follow.  VICI_IO_STOP or VICI_IO_ERR (err). */
static int session(struct engine_vici *v, char *err, size_t errlen)
{
	static const char *const events[] = {
		"list-conn", "list-sa", "ike-updown", "ike-rekey", "child-updown", "child-rekey",
	};
	size_t n;
	int r = VICI_IO_OK;

	for (size_t i = 0; r == VICI_IO_OK && i < sizeof(events) / sizeof(events[0]); i++)
		r = subscribe(v, events[i], err, errlen);
	if (r == VICI_IO_OK)
		r = command(v, "list-conns", err, errlen);
	if (r == VICI_IO_OK)
		r = command(v, "list-sas", err, errlen);
	if (r == VICI_IO_OK)
		r = conns_refresh(v, err, errlen);	/* loaded during the listing */
	if (r != VICI_IO_OK)
		return r;
	pthread_rwlock_wrlock(v->lock);
	v->synced = true;
	n = v->map.n;
	if (v->dump)
		dump_map(v);
	pthread_rwlock_unlock(v->lock);
	engine_event(json_pack("{s:s, s:s, s:I}", "event", "vici-synced", "socket", v->path,
			       "sas", (json_int_t)n));
	for (;;) {
		struct vici_packet p;

		r = vici_io_read(&v->io, &p, -1, err, errlen);
		if (r != VICI_IO_OK)
			return r;
		if (p.type != VICI_EVENT) {
			snprintf(err, errlen, "unexpected packet type %u while following events", p.type);
			r = VICI_IO_ERR;
		} else
			r = apply_event(v, &p, err, errlen);
		vici_packet_fini(&p);
		if (r == VICI_IO_OK)
			r = conns_refresh(v, err, errlen);
		if (r != VICI_IO_OK)
			return r;
	}
}

static void *run(void *arg)
{
	struct engine_vici *v = arg;
	int backoff = BACKOFF_MIN_MS;

	for (;;) {
		char err[512] = "";
		int r;

		if (vici_io_connect(&v->io, v->path, 0, err, sizeof err) != VICI_IO_OK) {
			if (!v->down_logged)
				engine_msg("vici-unavailable",
					   "%s: %s; SAs have no IKE identity until it can (retrying)",
					   v->path, err);
			v->down_logged = true;
		} else {
			v->down_logged = false;
			backoff = BACKOFF_MIN_MS;
			r = session(v, err, sizeof err);
			vici_io_close(&v->io);
			set_unsynced(v);
			if (r == VICI_IO_STOP)
				break;
			engine_msg("vici-lost", "%s: %s; SAs have no IKE identity until resynced",
				   v->path, err);
		}
		if (wait_in(v, -1, backoff) == VICI_IO_STOP)
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

struct engine_vici *engine_vici_start(const char *path, pthread_rwlock_t *lock, bool dump)
{
	struct engine_vici *v = calloc(1, sizeof(*v));
	int err;

	if (!v)
		return NULL;
	vici_io_init(&v->io, wait_in, v, PACKET_MS);
	v->stop_fd[0] = v->stop_fd[1] = -1;
	v->lock = lock;
	v->dump = dump;
	vici_idmap_init(&v->map);
	v->path = strdup(path);
	if (!v->path || pipe2(v->stop_fd, O_CLOEXEC) < 0)
		goto fail;
	err = pthread_create(&v->th, NULL, run, v);
	if (err) {
		errno = err;
		goto fail;
	}
	v->started = true;
	return v;
fail:
	err = errno;
	engine_vici_stop(v);
	errno = err;
	return NULL;
}

void engine_vici_stop(struct engine_vici *v)
{
	if (!v)
		return;
	if (v->started) {
		ssize_t r;

		do
			r = write(v->stop_fd[1], "x", 1);
		while (r < 0 && errno == EINTR);
		pthread_join(v->th, NULL);
	}
	if (v->stop_fd[0] >= 0)
		close(v->stop_fd[0]);
	if (v->stop_fd[1] >= 0)
		close(v->stop_fd[1]);
	vici_idmap_fini(&v->map);
	vici_io_fini(&v->io);
	free(v->path);
	free(v);
}

const struct sa_ident *engine_vici_lookup(void *ctx, uint32_t spi, uint32_t reqid)
{
	const struct engine_vici *v = ctx;

	return v && v->synced ? vici_idmap_lookup(&v->map, spi, reqid) : NULL;
}

bool engine_vici_synced(const struct engine_vici *v)
{
	return v && v->synced;
}
