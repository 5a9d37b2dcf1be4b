/*
 * Fuzz what ringwatch-agent reads from outside: policy lines (host updates,
 * the policy file) and ring-buffer records (written by BPF programs, formatted
 * to JSON).  Checks: no crash, bounded output, results consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/bpf/agent/event_json.c"
#include "guest/bpf/agent/policy.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_policy(const uint8_t *data, size_t size)
{
	struct rw_policy_cmd cmd;
	char line[RW_POLICY_LINE_MAX + 64], err[256];
	size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	int rc;

	memcpy(line, data, n);
	line[n] = '\0';
	err[0] = '\0';
	rc = rw_policy_parse_line(line, &cmd, err, sizeof(err));
	if (rc < -1 || rc > 1 || (rc == -1 && !err[0]) || strlen(err) >= sizeof(err))
		abort();
	if (rc == 1 && (cmd.op < RW_POL_MODULE_ALLOW || cmd.op > RW_POL_RESTART))
		abort();
	if (rc == 1 && (cmd.name[sizeof(cmd.name) - 1] != '\0'))
		abort();
}

static void fuzz_record(const uint8_t *data, size_t size)
{
	struct rw_bpf_event ev;
	char out[RW_EVENT_JSON_MAX];
	int n;

	memset(&ev, 0, sizeof(ev));
	memcpy(&ev, data, size < sizeof(ev) ? size : sizeof(ev));
	n = rw_event_to_json(&ev, sizeof(ev), out, sizeof(out));
	/* A whole record always fits and is one line of printable ASCII. */
	if (n <= 0 || (size_t)n != strlen(out))
		abort();
	for (int i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			abort();
	/* Any other length is refused. */
	if (size != sizeof(ev) && size <= sizeof(ev) &&
	    rw_event_to_json(data, size, out, sizeof(out)) != -1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_policy(data + 1, size - 1);
	else
		fuzz_record(data + 1, size - 1);
	return 0;
}
