/* engine_vici: sagated's follower of charon's vici socket, a thread that
 * keeps the map from a CHILD_SA's inbound SPI to its IKE identity
 * (vici_ident.h) current, for the verdict's identity rules.
 *
 * The thread connects, registers for the list-sa, list-conn, ike-updown,
 * ike-rekey, child-updown and child-rekey events, lists the connections
 * (list-conns) and the SAs (list-sas), and from then on applies each
 * event as it comes.  Until that listing has completed, and from the
 * moment the connection is lost or a packet or message is not what
 * charon sends, lookups return NULL (the verdict drops: fail closed);
 * the map is cleared and the thread reconnects and lists again, after
 * 1 s, then doubling to 30 s while charon stays away.  A missing or
 * refused socket is logged once per outage (event "vici-unavailable"),
 * the start of a sync and its end too ("vici-synced", "vici-lost").
 *
 * Locking: the map is written under the rwlock handed to
 * engine_vici_start, held for writing (or the lock engine_vici_start_with
 * takes with its functions); engine_vici_lookup must be called with it
 * held for reading (the queue threads hold their read lock of the engine
 * while they decide a burst), and what it returns is valid until then.
 */
#ifndef SAGATE_ENGINE_VICI_H
#define SAGATE_ENGINE_VICI_H

#include "vici_ident.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/** charon's socket where strongSwan puts it by default. */
#define ENGINE_VICI_DEFAULT "/var/run/charon.vici"

struct engine_vici;

/** Start the follower of the socket at path; writes under lock.  With
 *  dump, every change of the map (and each sync and loss) is also logged
 *  as an "identities" event listing every SA (sagated --identities).
 *  NULL on error (errno). */
struct engine_vici *engine_vici_start(const char *path, pthread_rwlock_t *lock, bool dump);
/** engine_vici_start with a lock of the caller's: the follower writes
 *  the map between wrlock(lock) and wrunlock(lock) (sagated's engine:
 *  engine_wrlock). */
struct engine_vici *engine_vici_start_with(const char *path, void (*wrlock)(void *),
					   void (*wrunlock)(void *), void *lock, bool dump);
/** Stop the thread, close the socket, free everything.  NULL is fine. */
void engine_vici_stop(struct engine_vici *v);
/** The identity of the SA with that inbound SPI (host order) and reqid
 *  (0: any), or NULL: unknown, or not synced with charon.  An
 *  sa_ident_lookup_fn; ctx is the struct engine_vici.  Call under the
 *  lock, held for reading. */
const struct sa_ident *engine_vici_lookup(void *ctx, uint32_t spi, uint32_t reqid);
/** Synced with charon now (under the lock). */
bool engine_vici_synced(const struct engine_vici *v);

#endif
