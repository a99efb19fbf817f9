/* Forwarding of the network namespace against the policy's forward
 * cover: the finding check and audit share (forward.h). */
#include "config.h"

#include "forward.h"

#include <stdio.h>

/* 1 / 0 for a sysctl file holding a number, -1 when it cannot be read */
static int read_flag(const char *proc, const char *name)
{
	char path[512];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "%s/sys/net/%s", proc, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v < 0 ? -1 : v != 0;
}

int forward_read(const char *proc, bool *v4, bool *v6)
{
	int a = read_flag(proc, "ipv4/ip_forward");
	int b = read_flag(proc, "ipv6/conf/all/forwarding");

	*v4 = a == 1;
	*v6 = b == 1;
	return a < 0 && b < 0 ? -1 : 0;
}

/* The sentence, or NULL when there is nothing to say. */
static const char *uncovered(const struct policy *p, const char *proc, char *buf, size_t len)
{
	bool v4, v6;

	if (p->forward_covered || forward_read(proc, &v4, &v6) < 0 || (!v4 && !v6))
		return NULL;
	snprintf(buf, len,
		 "this network namespace forwards %s packets (%s) and the policy has no forward rule and no defaults.forward: traffic routed through this host, to containers, VMs or networks behind it, passes without sagate's filtering or require-ipsec; add forward rules, or \"defaults\": { \"forward\": \"block\" }",
		 v4 && v6 ? "IPv4 and IPv6" : v4 ? "IPv4" : "IPv6",
		 v4 && v6 ? "net.ipv4.ip_forward, net.ipv6.conf.all.forwarding" :
		 v4 ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding");
	return buf;
}

void forward_check(const struct policy *p, const char *proc, struct diag_list *d)
{
	char msg[512];

	if (uncovered(p, proc, msg, sizeof(msg)))
		diag_add(d, DIAG_WARNING, p->file, "", NULL, "%s", msg);
}

void audit_forward(const struct policy *p, const char *proc, struct audit_list *out)
{
	char msg[512];

	if (uncovered(p, proc, msg, sizeof(msg)))
		audit_add(out, AUDIT_WARNING, "forward-uncovered", NULL, NULL, "%s", msg);
}
