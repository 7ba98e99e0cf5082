/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm wire protocol, version 3 (docs/protocol.md is the reference).
 *
 * Every message is a 24-byte header followed by `len` bytes of payload.
 * All integers are little-endian.  A message is decoded completely and
 * checked (length, bounds, reserved fields) before anything acts on it.
 */
#ifndef VOFIRM_PROTO_H
#define VOFIRM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VF_PROTO_MAGIC 0x4d464f56u /* "VOFM" as bytes on the wire */
#define VF_PROTO_VERSION 3
#define VF_HDR_SIZE 24u

#define VF_MAX_IO (1u << 20)			    /* largest READ/WRITE data */
#define VF_IO_HDR_SIZE 16u			    /* READ/WRITE fixed body */
#define VF_MAX_PAYLOAD (VF_MAX_IO + VF_IO_HDR_SIZE) /* the largest of any type */
#define VF_NAME_MAX 64u				    /* client name, printable ASCII */
#define VF_ERRMSG_MAX 256u			    /* error text in a failed reply */
#define VF_NONCE_LEN 32u
#define VF_MAC_LEN 32u		   /* HMAC-SHA256 */
#define VF_TOKEN_LEN 16u	   /* session token */
#define VF_INSTANCE_LEN 16u	   /* random id of one memd run */
#define VF_HELLO_FACTS_LEN 40u	   /* HELLO reply less its nonce: what the server MACs cover */
#define VF_MAX_SLABS_PER_MSG 4096u /* ALLOC/FREE count limit */
#define VF_SLAB_DESC_SIZE 16u
#define VF_STATS_NFIELDS 12u /* fields this version knows */
#define VF_STATS_MAX_NFIELDS 64u
#define VF_GRANT_LEN 32u	  /* a grant's token: the one-time capability */
#define VF_GRANT_TTL_MAX 3600000u /* ms a grant may wait for its ACCEPT */

enum vf_msg_type {
	VF_MSG_HELLO = 1,   /* open: client name; reply: challenge, pool facts */
	VF_MSG_LOGIN = 2,   /* authenticate, start or resume a session */
	VF_MSG_ALLOC = 3,   /* grant N slabs, all or nothing */
	VF_MSG_FREE = 4,    /* give slabs back, all or nothing */
	VF_MSG_STATS = 5,   /* pool and session counters */
	VF_MSG_READ = 6,    /* TCP data path: read from a granted slab */
	VF_MSG_WRITE = 7,   /* TCP data path: write to a granted slab */
	VF_MSG_BYE = 8,	    /* end the session, freeing its slabs */
	VF_MSG_LIST = 9,    /* the session's slabs with their current addr/rkey */
	VF_MSG_GRANT = 10,  /* share slabs of the session through a one-time grant */
	VF_MSG_ACCEPT = 11, /* another session redeems the grant: shared access */
	VF_MSG_GIVE = 12,   /* the issuer hands an accepted grant's slabs over */
	VF_MSG_REVOKE = 13, /* either side ends the grant: the issuer keeps them */
	VF_MSG_TYPE_MAX = VF_MSG_REVOKE,
};

#define VF_HDR_F_REPLY 0x0001u /* message is a reply to `tag` */

#define VF_HELLO_F_AUTH 0x0001u	   /* server requires HMAC authentication */
#define VF_LOGIN_F_RESUMED 0x0001u /* an existing session was resumed */

struct vf_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t len;	 /* payload bytes after the header */
	uint32_t status; /* replies: 0 or a positive Linux errno */
	uint64_t tag;	 /* chosen by the requester, echoed in the reply */
};

/* One granted slab.  addr/rkey are meaningful on RDMA only (0 on TCP). */
struct vf_slab_desc {
	uint32_t id;
	uint32_t rkey;
	uint64_t addr;
};

/* Counters reported by STATS, in wire order. */
struct vf_stats {
	uint64_t capacity;  /* bytes donated */
	uint64_t slab_size; /* bytes per slab */
	uint64_t slabs_total;
	uint64_t slabs_granted;
	uint64_t slabs_free;
	uint64_t clients;    /* sessions with a live connection */
	uint64_t sessions;   /* sessions, including ones within their lease */
	uint64_t bytes_read; /* by clients, all transports */
	uint64_t bytes_written;
	uint64_t reads;
	uint64_t writes;
	uint64_t session_slabs; /* slabs granted to the asking session */
};

/*
 * A decoded (or to-be-encoded) message.  Which member of the union is
 * valid depends on hdr.type and whether VF_HDR_F_REPLY is set; a reply
 * whose hdr.status is not 0 carries only `error`.
 *
 * Pointers in a decoded message point into the buffer that was decoded
 * and are valid only as long as that buffer is.
 */
struct vf_msg {
	struct vf_hdr hdr;
	union {
		struct {
			uint32_t features; /* 0 in version 2 */
			char name[VF_NAME_MAX + 1];
		} hello;
		struct {
			uint32_t flags;	   /* VF_HELLO_F_* */
			uint32_t lease_ms; /* how long a session outlives its connection */
			uint64_t slab_size;
			uint64_t capacity;
			uint8_t instance[VF_INSTANCE_LEN];
			uint8_t nonce[VF_NONCE_LEN];
		} hello_rep;
		struct {
			uint8_t token[VF_TOKEN_LEN]; /* all zero: new session */
			uint8_t nonce[VF_NONCE_LEN];
			uint8_t mac[VF_MAC_LEN]; /* all zero without auth */
		} login;
		struct {
			uint32_t flags;	 /* VF_LOGIN_F_* */
			uint32_t nslabs; /* slabs the session holds */
			uint8_t token[VF_TOKEN_LEN];
			uint8_t mac[VF_MAC_LEN]; /* server proof, zero without auth */
		} login_rep;
		struct {
			uint32_t count;
		} alloc;
		struct {
			uint32_t count;
			const struct vf_slab_desc *descs; /* encode side */
			const uint8_t *raw;		  /* decode side: vf_msg_slab_desc() */
		} alloc_rep;
		struct {
			uint32_t count;
			const uint32_t *ids; /* encode side */
			const uint8_t *raw;  /* decode side: vf_msg_free_id() */
		} free;
		struct vf_stats stats_rep;
		struct {
			uint32_t slab;
			uint32_t len;
			uint64_t off;
			const void *data; /* WRITE request only */
		} io;
		struct {
			uint32_t len;
			const void *data;
		} read_rep;
		struct {
			uint32_t flags; /* 0 in version 2 */
		} bye;
		struct {
			uint32_t first; /* index in the session's slabs, by id */
			uint32_t max;	/* 1..VF_MAX_SLABS_PER_MSG */
		} list;
		struct {
			uint32_t count;			  /* 0..max entries from `first` */
			uint32_t total;			  /* slabs the session holds */
			const struct vf_slab_desc *descs; /* encode side */
			const uint8_t *raw;		  /* decode side: vf_msg_slab_desc() */
		} list_rep;
		struct {
			uint8_t token[VF_GRANT_LEN]; /* all zero: a new grant */
			uint32_t ttl_ms;	     /* 1..VF_GRANT_TTL_MAX */
			uint32_t count;		     /* 1..VF_MAX_SLABS_PER_MSG */
			const uint32_t *ids;	     /* encode side */
			const uint8_t *raw;	     /* decode side: vf_msg_grant_id() */
		} grant;
		struct {
			uint8_t token[VF_GRANT_LEN];
			uint32_t total; /* slabs in the grant */
		} grant_rep;
		struct {
			uint8_t token[VF_GRANT_LEN];
			uint32_t first; /* index in the grant's slabs, by id */
			uint32_t max;	/* 1..VF_MAX_SLABS_PER_MSG */
		} accept;
		/* the ACCEPT reply is a list_rep: count, total, descriptors */
		struct {
			uint8_t token[VF_GRANT_LEN];
		} give; /* GIVE and REVOKE requests */
		struct {
			/* LOGIN refusals only: the server's MAC over the
			 * verdict (vf_auth_refusal_mac), zero without auth */
			uint8_t mac[VF_MAC_LEN];
			char msg[VF_ERRMSG_MAX + 1]; /* may be empty */
		} error;
	};
};

/*
 * Decode and check the fixed header.  Returns 0 or -EBADMSG (bad magic,
 * unknown type or flags, a payload longer than its type allows),
 * -EPROTONOSUPPORT (other version: h->version says which); *why names
 * the problem.  A receiver can trust h->len to be at most
 * vf_hdr_max_len(h) before it reads a byte of the payload.
 */
int vf_hdr_decode(const void *buf, struct vf_hdr *h, const char **why);

/* The longest payload a message of this type (request, reply or error
 * reply) may have. */
uint32_t vf_hdr_max_len(const struct vf_hdr *h);
void vf_hdr_encode(void *buf, const struct vf_hdr *h);

/*
 * Decode a payload whose header was decoded with vf_hdr_decode().
 * `len` must equal h->len.  Returns 0 or -EBADMSG with *why set.
 */
int vf_msg_decode_body(const struct vf_hdr *h, const void *payload, size_t len, struct vf_msg *m,
		       const char **why);

/* Header and payload in one buffer: the fuzzed entry point.  On
 * -EPROTONOSUPPORT m->hdr is the header as received (its version). */
int vf_msg_decode(const void *buf, size_t len, struct vf_msg *m, const char **why);

/*
 * Payload length the message will have on the wire (m->hdr.len is
 * ignored and computed), or -EINVAL for a message that cannot be
 * encoded (unknown type, count or length out of range).
 */
long vf_msg_payload_len(const struct vf_msg *m);

/*
 * Encode the header and the fixed part of the payload into buf (at most
 * `cap` bytes).  The version is VF_PROTO_VERSION, except for a HELLO
 * error reply whose hdr.version names an older one: the refusal of a peer
 * of that version, in a framing it can read.  Bulk data (WRITE request data, READ reply data) is not
 * copied: the caller sends it right after, *data_len bytes from the
 * message's data pointer.  Returns the number of bytes written into buf
 * or -EINVAL / -ENOSPC.
 */
long vf_msg_encode_head(const struct vf_msg *m, void *buf, size_t cap, size_t *data_len);

/* Encode the whole message, bulk data included. */
long vf_msg_encode(const struct vf_msg *m, void *buf, size_t cap);

/* Accessors for the arrays of a decoded message (ALLOC, LIST or ACCEPT
 * reply; FREE request; GRANT request). */
void vf_msg_slab_desc(const struct vf_msg *m, uint32_t i, struct vf_slab_desc *d);
uint32_t vf_msg_free_id(const struct vf_msg *m, uint32_t i);
uint32_t vf_msg_grant_id(const struct vf_msg *m, uint32_t i);

/* The HELLO reply's fields that the server's MACs cover, as on the wire:
 * flags, lease, slab size, capacity, instance (everything but the nonce). */
void vf_hello_facts(const struct vf_msg *hello_rep, uint8_t facts[VF_HELLO_FACTS_LEN]);

/* "HELLO", "READ", ...; "?" for an unknown type. */
const char *vf_msg_type_name(unsigned type);

#endif
