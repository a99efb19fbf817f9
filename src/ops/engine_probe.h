/* Is sagated there to answer a queue?  Read from /proc of the caller's
 * network namespace: audit reports it, explain folds it into what a
 * queued packet meets (no sagated on the queue: the kernel drops it,
 * since sagate's queue rules have no bypass). */
#ifndef SAGATE_ENGINE_PROBE_H
#define SAGATE_ENGINE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

enum engine_presence {
	ENGINE_SERVING,		/**< sagated runs and the queue is bound */
	ENGINE_NOT_RUNNING,	/**< no process named sagated */
	ENGINE_QUEUE_UNBOUND,	/**< sagated runs, but nothing holds the queue here */
};

/** What serves queue q; proc is the /proc to read (tests pass their own). */
enum engine_presence engine_presence(const char *proc, uint16_t q);

/** One sentence for a presence other than ENGINE_SERVING, naming queue q. */
const char *engine_presence_why(enum engine_presence p);

#endif
