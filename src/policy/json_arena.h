/* json_arena: a bump allocator jansson uses while the command line parses
 * a policy file.
 *
 * The file's JSON tree is built in a few large blocks and dropped with
 * them at once, instead of a million small mallocs and frees. */
#ifndef SAGATE_JSON_ARENA_H
#define SAGATE_JSON_ARENA_H

#include <stdbool.h>

/** From now on jansson allocates from the arena.  jansson's allocator is
 *  one for the whole process: only a single-threaded caller may use
 *  this, and nothing jansson allocates until json_arena_end may be used
 *  after it.  False (and nothing changes) when an arena is already
 *  active. */
bool json_arena_begin(void);

/** Give jansson its previous allocator back and unmap every block: all
 *  JSON values made since json_arena_begin are gone (do not decref
 *  them). */
void json_arena_end(void);

#endif
