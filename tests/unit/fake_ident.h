/* fake_ident: an identity source for unit tests, a fixed table of
 * (SPI, reqid) -> IKE identity, looked up the way sagated's vici client
 * will be (sa_ident_lookup_fn). */
#ifndef SAGATE_FAKE_IDENT_H
#define SAGATE_FAKE_IDENT_H

#include "sa_ident.h"

#include <stddef.h>
#include <stdint.h>

/** One entry; reqid 0 matches any reqid. */
struct fake_ident {
	uint32_t spi, reqid;
	struct sa_ident id;
};

/** The table: entries up to one with spi 0. */
struct fake_ident_table {
	const struct fake_ident *v;
	unsigned lookups;	/**< calls so far */
};

/** sa_ident_lookup_fn over a struct fake_ident_table. */
const struct sa_ident *fake_ident_lookup(void *ctx, uint32_t spi, uint32_t reqid);

#endif
