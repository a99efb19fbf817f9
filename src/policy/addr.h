/* addr: IPv4 / IPv6 addresses as 128-bit integers, and intervals of them.
 *
 * Both families share one integer type so that the classifier can sweep
 * either with the same code; the family travels beside the value.
 */
#ifndef SAGATE_ADDR_H
#define SAGATE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 u128;

/** Address family of a value or interval. */
enum addr_family {
	AF4 = 0,	/**< IPv4: values are 0 .. 2^32-1 */
	AF6 = 1,	/**< IPv6 */
	AF_COUNT
};

/** A closed interval [lo, hi] of addresses of one family. */
struct addr_range {
	enum addr_family fam;
	u128 lo, hi;
};

/** Largest address of a family. */
u128 addr_max(enum addr_family fam);

/** Why addr_parse rejected its input. */
enum addr_parse_error {
	ADDR_OK,
	ADDR_BAD_SYNTAX,	/**< not an address, CIDR or range at all */
	ADDR_BAD_PREFIX,	/**< prefix length missing, not a number or too long */
	ADDR_HOST_BITS,		/**< CIDR with bits set below the prefix */
	ADDR_RANGE_REVERSED,	/**< range whose first address is above its last */
	ADDR_RANGE_MIXED,	/**< range from one family to the other */
};

/** Parse "192.0.2.1", "192.0.2.0/24", "192.0.2.1-192.0.2.9" or the IPv6
 *  forms.  On ADDR_HOST_BITS, *out still holds the network the user
 *  probably meant (host bits cleared), for the error message. */
enum addr_parse_error addr_parse(const char *s, struct addr_range *out);

/** Print one address (no prefix) into buf of at least 64 bytes. */
void addr_format(enum addr_family fam, u128 v, char *buf, size_t len);

/** Print a range the shortest way: "a", "a/len" or "a-b".  buf >= 128 bytes. */
void addr_range_format(const struct addr_range *r, char *buf, size_t len);

/** Split [lo, hi] into CIDR blocks; calls fn for each, in order.  Returns
 *  the number of blocks. */
size_t addr_range_cidrs(const struct addr_range *r,
			void (*fn)(enum addr_family, u128 net, unsigned plen, void *),
			void *arg);

#endif
