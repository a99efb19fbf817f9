/* json_arena: a bump allocator jansson uses while the command line parses
 * a policy file.
 *
 * Parsing a 100,000-rule policy made a million small allocations, and
 * freeing them (and glibc consolidating the holes at the next large
 * allocation) cost a seventh of the parse. */
#include "config.h"

#include "json_arena.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#define ARENA_BLOCK ((size_t)4 << 20)	/* bytes mapped at a time */
#define ARENA_ALIGN 16			/* as malloc's, for any value */

struct block {
	struct block *next;
	size_t size;		/* bytes mapped, this header included */
	size_t used;		/* bytes handed out, this header included */
	size_t pad;		/* keeps what follows ARENA_ALIGN-aligned */
};

static struct {
	bool on;
	struct block *head;	/* the block being filled, then older ones */
	json_malloc_t old_malloc;
	json_free_t old_free;
} arena;

static void *arena_malloc(size_t size)
{
	struct block *b = arena.head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	void *p;

	if (need < size)
		return NULL;
	if (!b || b->size - b->used < need) {
		size_t len = need > ARENA_BLOCK - sizeof(*b) ? need + sizeof(*b) : ARENA_BLOCK;

		if (len < need)
			return NULL;
		b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b == MAP_FAILED)
			return NULL;
		b->size = len;
		b->used = sizeof(*b);
		b->next = arena.head;
		arena.head = b;
	}
	p = (char *)b + b->used;
	b->used += need;
	return p;
}

/* Memory of the arena is freed with it; anything else (a value made
 * before the arena began) goes back to the allocator that made it. */
static void arena_free(void *p)
{
	uintptr_t a = (uintptr_t)p;

	if (!p)
		return;
	for (struct block *b = arena.head; b; b = b->next)
		if (a >= (uintptr_t)b && a < (uintptr_t)b + b->size)
			return;
	arena.old_free(p);
}

bool json_arena_begin(void)
{
	if (arena.on)
		return false;
	json_get_alloc_funcs(&arena.old_malloc, &arena.old_free);
	json_set_alloc_funcs(arena_malloc, arena_free);
	arena.on = true;
	return true;
}

void json_arena_end(void)
{
	struct block *b = arena.head, *next;

	if (!arena.on)
		return;
	json_set_alloc_funcs(arena.old_malloc, arena.old_free);
	for (; b; b = next) {
		next = b->next;
		munmap(b, b->size);
	}
	arena.head = NULL;
	arena.on = false;
}
