/* fault: a failure injected into the Nth system call that sagate's code
 * makes, for tests of what a failure at each step leaves behind.
 *
 * Compiled only into the tests that list fault.c: their link wraps the
 * calls (-Wl,--wrap=open and so on, FAULT_WRAP in Makefile.am), so
 * the calls that the static libraries' objects make go through
 * __wrap_open() here, and nothing of this is in sagate itself.  Calls
 * from shared libraries (libc's own, jansson's, Criterion's) are not
 * wrapped.  Disarmed, a wrapper only passes the call on.
 */
#ifndef SAGATE_TEST_FAULT_H
#define SAGATE_TEST_FAULT_H

#include <stdbool.h>

/** Count the wrapped calls from now on, and make call nth (counting from
 *  1) fail with an errno the call can return; 0: fail none. */
void fault_arm(unsigned nth);
/** Stop counting.  Returns how many calls were made since fault_arm. */
unsigned fault_disarm(void);
/** Did the armed failure happen? */
bool fault_fired(void);
/** The call that failed, as "rename(/tmp/.../current.tmp.123)". */
const char *fault_what(void);
/** Let the next fault_step() call fail like a wrapped call (a fake's
 *  own step: "kernel commit"); true when it must fail. */
bool fault_step(const char *what);

#endif
