#include "config.h"

#include "engine_probe.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static bool process_running(const char *proc, const char *name)
{
	DIR *d = opendir(proc);
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		char path[512], comm[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", proc, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		found = strcmp(comm, name) == 0;
	}
	if (d)
		closedir(d);
	return found;
}

/* Is queue number q bound (a line of nfnetlink_queue starts with it)?
 * The file lists the queues of the reader's network namespace only. */
static bool queue_bound(const char *proc, uint16_t q)
{
	char path[512], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/net/netfilter/nfnetlink_queue", proc);
	if (!(f = fopen(path, "r")))
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned n;

		found = sscanf(line, "%u", &n) == 1 && n == q;
	}
	fclose(f);
	return found;
}

enum engine_presence engine_presence(const char *proc, uint16_t q)
{
	if (!process_running(proc, "sagated"))
		return ENGINE_NOT_RUNNING;
	return queue_bound(proc, q) ? ENGINE_SERVING : ENGINE_QUEUE_UNBOUND;
}

const char *engine_presence_why(enum engine_presence p)
{
	switch (p) {
	case ENGINE_NOT_RUNNING:
		return "no sagated process runs: the kernel drops what it queues (no bypass)";
	case ENGINE_QUEUE_UNBOUND:
		return "sagated runs, but no program is bound to the queue in this network namespace: the kernel drops what it queues (no bypass)";
	case ENGINE_SERVING:
		break;
	}
	return "sagated serves the queue";
}
