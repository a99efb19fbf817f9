/* bundle: a parsed policy written back as one self-contained policy file
 * (no includes, host groups and services expanded).
 *
 * The apply stage keeps the bundle of what it applied, so rollback, the
 * engine, audit and explain read exactly what the kernel holds even after
 * the original files were edited.  parse(bundle(p)) decides every packet
 * as p does.  Rules name addresses, not groups; the groups are kept
 * besides, under "hosts" with their addresses resolved, so that the
 * parsed bundle has p's groups (names, addresses, order) for the audit.
 */
#ifndef SAGATE_BUNDLE_H
#define SAGATE_BUNDLE_H

#include "model.h"

#include <jansson.h>

/** The policy as JSON in the policy language; NULL on OOM. */
json_t *bundle_from_policy(const struct policy *p);

#endif
