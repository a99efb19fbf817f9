/* fake_sagated: sagated's control socket (handover.h) served by a child
 * process, for tests of what sagate does with sagated's answers: an
 * answer, none at all, or a connection closed without one.
 *
 * Each request is appended to a log as one line, "load G Q" or "live G
 * Q" (generation, queue), so that a test can put it in order with what
 * its fake kernel appends there. */
#ifndef SAGATE_TEST_FAKE_SAGATED_H
#define SAGATE_TEST_FAKE_SAGATED_H

#include <sys/types.h>

/** What the fake does with a request. */
enum fake_sagated_mode {
	FAKE_ANSWER,		/**< "ok" to every request */
	FAKE_SILENT,		/**< reads it, never answers, keeps the connection */
	FAKE_SILENT_LIVE,	/**< answers a load; a "live" never */
	FAKE_CLOSE_LIVE,	/**< answers a load; closes a "live" unanswered */
};

/** Listen on run_dir/sagated.ctl (run_dir made if missing) and serve in
 *  a child, until fake_sagated_stop.  Its pid. */
pid_t fake_sagated_start(const char *run_dir, enum fake_sagated_mode mode, const char *log);
/** End the child and remove its socket. */
void fake_sagated_stop(pid_t pid, const char *run_dir);

#endif
