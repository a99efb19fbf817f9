/* sha256: digest of a policy file, so status can say which file is live. */
#ifndef SAGATE_SHA256_H
#define SAGATE_SHA256_H

#include <stddef.h>

/** Write the lower-case hex SHA-256 of buf (64 chars + NUL) into out. */
void sha256_hex(const void *buf, size_t len, char out[65]);

#endif
