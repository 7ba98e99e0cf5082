// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the wire protocol decoder.  Any input must decode
 * without a memory error, and any input that decodes must encode back to
 * exactly the same bytes: the decoder accepts only canonical messages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vofirm/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vf_slab_desc descs[VF_MAX_SLABS_PER_MSG];
	static uint32_t ids[VF_MAX_SLABS_PER_MSG];
	struct vf_msg m;
	const char *why = NULL;
	uint8_t *out;
	long n;

	if (vf_msg_decode(data, size, &m, &why)) {
		if (!why)
			__builtin_trap(); /* every refusal names its reason */
		return 0;
	}
	if (m.hdr.flags & VF_HDR_F_REPLY && !m.hdr.status && m.hdr.type == VF_MSG_ALLOC) {
		for (uint32_t i = 0; i < m.alloc_rep.count; i++)
			vf_msg_slab_desc(&m, i, &descs[i]);
		m.alloc_rep.descs = descs;
	}
	if (m.hdr.flags & VF_HDR_F_REPLY && !m.hdr.status &&
	    (m.hdr.type == VF_MSG_LIST || m.hdr.type == VF_MSG_ACCEPT)) {
		for (uint32_t i = 0; i < m.list_rep.count; i++)
			vf_msg_slab_desc(&m, i, &descs[i]);
		m.list_rep.descs = descs;
	}
	if (!(m.hdr.flags & VF_HDR_F_REPLY) && m.hdr.type == VF_MSG_FREE) {
		for (uint32_t i = 0; i < m.free.count; i++)
			ids[i] = vf_msg_free_id(&m, i);
		m.free.ids = ids;
	}
	if (!(m.hdr.flags & VF_HDR_F_REPLY) && m.hdr.type == VF_MSG_GRANT) {
		for (uint32_t i = 0; i < m.grant.count; i++)
			ids[i] = vf_msg_grant_id(&m, i);
		m.grant.ids = ids;
	}
	out = malloc(size);
	n = vf_msg_encode(&m, out, size);
	if (n != (long)size || memcmp(out, data, size))
		__builtin_trap(); /* decode and encode disagree */
	free(out);
	return 0;
}
