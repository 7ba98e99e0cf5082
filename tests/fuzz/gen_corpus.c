// SPDX-License-Identifier: GPL-2.0-or-later
/* Writes one valid message of each kind into DIR: the fuzzer's seeds. */
#include <stdio.h>
#include <string.h>

#include "vofirm/proto.h"

static uint8_t buf[VF_HDR_SIZE + VF_MAX_PAYLOAD];

static int put(const char *dir, const char *name, struct vf_msg *m)
{
	char path[512];
	long n = vf_msg_encode(m, buf, sizeof(buf));
	FILE *f;

	if (n < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n)
		return 1;
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	static uint8_t data[4096];
	struct vf_slab_desc d[2] = { { 1, 2, 3 }, { 4, 5, 6 } };
	uint32_t ids[2] = { 1, 2 };
	struct vf_msg m;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
#define MSG(t, r) (memset(&m, 0, sizeof(m)), m.hdr.type = (t), m.hdr.flags = (r), m.hdr.tag = 42)
	MSG(VF_MSG_HELLO, 0); strcpy(m.hello.name, "seed"); bad |= put(argv[1], "hello", &m);
	MSG(VF_MSG_HELLO, 1); m.hello_rep.slab_size = 1 << 20; m.hello_rep.capacity = 4 << 20;
	bad |= put(argv[1], "hello-rep", &m);
	MSG(VF_MSG_LOGIN, 0); bad |= put(argv[1], "login", &m);
	MSG(VF_MSG_LOGIN, 1); m.login_rep.token[0] = 1; bad |= put(argv[1], "login-rep", &m);
	MSG(VF_MSG_ALLOC, 0); m.alloc.count = 2; bad |= put(argv[1], "alloc", &m);
	MSG(VF_MSG_ALLOC, 1); m.alloc_rep.count = 2; m.alloc_rep.descs = d;
	bad |= put(argv[1], "alloc-rep", &m);
	MSG(VF_MSG_FREE, 0); m.free.count = 2; m.free.ids = ids; bad |= put(argv[1], "free", &m);
	MSG(VF_MSG_FREE, 1); bad |= put(argv[1], "free-rep", &m);
	MSG(VF_MSG_STATS, 0); bad |= put(argv[1], "stats", &m);
	MSG(VF_MSG_STATS, 1); m.stats_rep.capacity = 7; bad |= put(argv[1], "stats-rep", &m);
	MSG(VF_MSG_READ, 0); m.io.len = 4096; bad |= put(argv[1], "read", &m);
	MSG(VF_MSG_READ, 1); m.read_rep.len = 64; m.read_rep.data = data;
	bad |= put(argv[1], "read-rep", &m);
	MSG(VF_MSG_WRITE, 0); m.io.len = 64; m.io.data = data; bad |= put(argv[1], "write", &m);
	MSG(VF_MSG_WRITE, 1); bad |= put(argv[1], "write-rep", &m);
	MSG(VF_MSG_BYE, 0); bad |= put(argv[1], "bye", &m);
	MSG(VF_MSG_LIST, 0); m.list.max = 16; bad |= put(argv[1], "list", &m);
	MSG(VF_MSG_LIST, 1); m.list_rep.count = 2; m.list_rep.total = 5; m.list_rep.descs = d;
	bad |= put(argv[1], "list-rep", &m);
	MSG(VF_MSG_ALLOC, 1); m.hdr.status = 28; strcpy(m.error.msg, "pool full");
	bad |= put(argv[1], "error", &m);
	if (bad)
		perror("gen_corpus");
	return bad;
}
