/* icmp: the names of ICMP and ICMPv6 message types, as nft spells them.
 *
 * A rule that names ICMP types keeps them in the port half of its
 * service keys: KEY(1, type) for ICMP, KEY(58, type) for ICMPv6 (see
 * model.h).  A rule for all of ICMP still covers KEY(1, 0)-KEY(1, 0xffff);
 * keys above 255 belong to no packet.
 */
#ifndef SAGATE_ICMP_H
#define SAGATE_ICMP_H

#include <stddef.h>

#define ICMP_TYPE_MAX 255

/** Is proto ICMP (1) or ICMPv6 (58)? */
int icmp_is_icmp(unsigned proto);
/** The type number of name for proto (1 or 58), or -1 when proto has no
 *  type of that name.  Case matters: nft's names are lower case. */
int icmp_type_number(unsigned proto, const char *name);
/** nft's name of a type of proto, or NULL when it has none. */
const char *icmp_type_name(unsigned proto, unsigned type);
/** The known name of proto nearest to name (one edit, or a case-only
 *  difference), or NULL: for "did you mean" hints. */
const char *icmp_type_suggest(unsigned proto, const char *name);
/** The known names of proto, ", "-separated, into buf (len > 0). */
void icmp_type_list(char *buf, size_t len, unsigned proto);

#endif
