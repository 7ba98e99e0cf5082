/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vofirm-memd internals.  One-way layers: main.c -> the transports
 * (tcp.c, rdma.c) -> the connection engine (conn.c) -> pool.c; settings.c
 * beside them.
 */
#ifndef VOFIRM_MEMD_H
#define VOFIRM_MEMD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vofirm/auth.h"
#include "vofirm/proto.h"
#include "vofirm/util.h"

#define MEMD_PENDING_PER_SOURCE 8u /* of those, from one address */
#define MEMD_HANDSHAKE_MS 10000u   /* HELLO and LOGIN, both, within this */
#define MEMD_MAX_LISTEN 16u
#define MEMD_MIN_SLAB (64ull << 10)
#define MEMD_MAX_SLAB (4ull << 30)

/* ---- settings.c ---- */

struct memd_settings {
	char *listen[MEMD_MAX_LISTEN];
	unsigned nlisten;
	uint64_t donate; /* 0: not given */
	uint64_t slab_size;
	uint64_t lease_ms;
	char *key_file;
	bool insecure_key_perms;
	bool no_auth;
	bool mlock;
	bool hugepages;
	unsigned max_clients;
	unsigned max_pending;
	int log_level;
};

void memd_settings_init(struct memd_settings *s);
void memd_settings_free(struct memd_settings *s);

/* One setting by its config-file key ("donate", "slab-size", ...).
 * `origin` names where it came from, for messages. 0 or -EINVAL. */
int memd_settings_set(struct memd_settings *s, const char *key, const char *value,
		      const char *origin);

/* The [memd] group of a GKeyFile.  0 or -errno; logs what is wrong. */
int memd_settings_load(struct memd_settings *s, const char *path);

/*
 * The command line over what is already in s (defaults, then the
 * --config file, which this loads).  Returns 0 to run, 1 when --help or
 * --version was answered, -EINVAL on a bad command line (logged).
 */
int memd_settings_parse_args(struct memd_settings *s, int argc, char **argv);

/* Checks the settings as a whole.  0 or -EINVAL (logged). */
int memd_settings_check(const struct memd_settings *s);

/* ---- pool.c ---- */

struct memd_session;

struct memd_slab {
	struct memd_session *owner;  /* read with __atomic; NULL when free */
	struct memd_session *shared; /* an accepted grant's grantee (__atomic) */
	struct memd_grant *grant;    /* the grant it is in, or NULL (p->lock) */
};

/*
 * A one-time grant (docs/protocol.md, "Grants"): the issuer shares slabs
 * of its own with whichever authenticated session first presents the
 * token, within the grant's lifetime; the issuer then gives them over
 * (GIVE), or either side ends the grant (REVOKE).  Under p->lock.
 */
struct memd_grant {
	struct memd_grant *next;
	uint64_t id; /* for logs */
	uint8_t token[VF_GRANT_LEN];
	struct memd_session *issuer;
	struct memd_session *grantee; /* NULL until accepted */
	uint64_t expires;	      /* vf_now_ms(); an ACCEPT after it is refused */
	uint32_t *ids;		      /* in id order */
	uint32_t n, cap;
};

#define MEMD_MAX_GRANTS 64u /* grants a session may have issued at once */

#define MEMD_POOL_MLOCK 0x1
#define MEMD_POOL_HUGEPAGES 0x2

struct memd_pool {
	pthread_mutex_t lock;
	pthread_cond_t detached_cv; /* a session lost its connection */
	uint8_t *base;
	uint64_t size;
	uint64_t slab_size;
	uint32_t nslabs;
	unsigned flags;
	uint64_t lease_ms;
	struct memd_slab *slabs;
	uint32_t *free_ids; /* stack of free slab ids */
	uint32_t nfree;
	uint32_t ngranted;
	/* Slabs of expired sessions wait here to be zeroed by the zeroer
	 * thread, so that a mass expiry never stalls the main loop; an
	 * allocation that needs them waits for it (bounded). */
	uint32_t *dirty_ids;
	uint32_t ndirty;
	uint32_t nzeroing; /* taken by the zeroer, not yet free */
	pthread_cond_t dirty_cv, zeroed_cv;
	pthread_t zeroer;
	bool zeroer_running, stopping;
	struct memd_session *sessions;
	unsigned nsessions;
	struct memd_grant *grants;
	uint64_t next_grant_id;
	unsigned nclients;
	uint64_t next_session_id;
	uint8_t instance[VF_INSTANCE_LEN];
	/* data path counters, updated with __atomic */
	uint64_t bytes_read, bytes_written, reads, writes;
};

struct memd_session {
	struct memd_session *next, *prev;
	uint64_t id; /* for logs */
	uint8_t token[VF_TOKEN_LEN];
	char name[VF_NAME_MAX + 1];
	char peer[64];
	uint32_t nslabs;
	uint32_t nshared;	  /* slabs shared with it by accepted grants */
	unsigned ngrants;	  /* grants it issued */
	bool onesided;		  /* its connection reaches slabs by RDMA registrations */
	void *conn;		  /* attached connection, or NULL */
	void (*kick)(void *conn); /* drops the attached connection */
	uint64_t detached_at;	  /* vf_now_ms() when conn became NULL */
};

/* 0 or -errno, logged with the reason (mlock limits, huge pages). */
int pool_init(struct memd_pool *p, uint64_t size, uint64_t slab_size, uint64_t lease_ms,
	      unsigned flags);
void pool_destroy(struct memd_pool *p);

/*
 * Starts a session (token all zero) or resumes the one with `token`,
 * taking it over from a connection that still holds it.  -ESTALE: no
 * such session (its lease ran out, or this memd is not the one that
 * issued it); -EBUSY: the old connection would not let go.
 */
int pool_login(struct memd_pool *p, const uint8_t token[VF_TOKEN_LEN], const char *name,
	       const char *peer, void *conn, void (*kick)(void *conn), struct memd_session **out,
	       bool *resumed);

/* The connection is gone: the lease starts. */
void pool_detach(struct memd_pool *p, struct memd_session *s);

/* BYE: frees the session's slabs and the session itself. */
void pool_end_session(struct memd_pool *p, struct memd_session *s);

/* Grants n slabs, all or nothing: -ENOSPC with nothing changed. */
int pool_alloc(struct memd_pool *p, struct memd_session *s, uint32_t n, uint32_t *ids, char *why,
	       size_t whylen);

/* Frees n slabs, all or nothing: each must be granted to s, once. */
int pool_free(struct memd_pool *p, struct memd_session *s, uint32_t n, const uint32_t *ids,
	      char *why, size_t whylen);

/* The memory of slab id (any slab of the pool). */
uint8_t *pool_slab_mem(struct memd_pool *p, uint32_t id);

/* Checks that [off, off+len) lies in a slab granted to s; *mem points at it. */
int pool_io_check(struct memd_pool *p, struct memd_session *s, uint32_t slab, uint64_t off,
		  uint32_t len, uint8_t **mem, char *why, size_t whylen);

/* Frees sessions whose lease has run out (their slabs are zeroed by the
 * zeroer thread).  Returns ms until the next expiry (or UINT64_MAX). */
uint64_t pool_reap(struct memd_pool *p);

void pool_stats(struct memd_pool *p, struct memd_session *s, struct vf_stats *st);
void pool_log_stats(struct memd_pool *p);

/* A FREE of ids by s would be taken: each granted to s, in no grant, listed
 * once.  0, or -EPERM, -EBUSY or -EINVAL with why set (pool_free()'s). */
int pool_check_owned(struct memd_pool *p, struct memd_session *s, uint32_t n, const uint32_t *ids,
		     char *why, size_t whylen);

/* Up to max of the session's slab ids, in id order, from its first-th;
 * *total is how many it holds. */
uint32_t pool_list(struct memd_pool *p, struct memd_session *s, uint32_t first, uint32_t max,
		   uint32_t *ids, uint32_t *total);

/*
 * Grants.  Each returns 0 or -errno with why set: -EPERM a slab that is
 * not the session's, -EBUSY a slab already in a grant, -EACCES a token
 * that names no grant this session may use (forged, used, withdrawn, or
 * accepted by another session), -ETIME a grant past its lifetime,
 * -EINVAL a GIVE before the ACCEPT, -EMFILE too many grants.
 */
/* Adds n slabs to the grant `token` names (all zero: a new one, whose
 * token is written there); *total is its size after. */
int pool_grant(struct memd_pool *p, struct memd_session *s, uint8_t token[VF_GRANT_LEN],
	       uint32_t ttl_ms, uint32_t n, const uint32_t *ids, uint32_t *total, char *why,
	       size_t whylen);
/* Redeems (or, for the session that did, pages through) the grant: up to
 * max of its slab ids from its first-th into ids; *total its size. */
int pool_accept(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
		uint32_t first, uint32_t max, uint32_t *ids, uint32_t *count, uint32_t *total,
		char *why, size_t whylen);
/* The issuer gives an accepted grant's slabs to its grantee and the grant
 * ends; ids (room for the grant's size, from pool_grant_size) gets them, for the
 * caller to revoke its own access. */
int pool_give(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
	      uint32_t **ids, uint32_t *n, char *why, size_t whylen);
/* Either side ends the grant; the issuer keeps the slabs.  *ids, *n: the
 * slabs (malloc'd) the grantee loses, for the caller to revoke when the
 * grantee is the caller; *kick is set when the grantee is another session
 * whose connection must be dropped (RDMA registrations). */
int pool_revoke(struct memd_pool *p, struct memd_session *s, const uint8_t token[VF_GRANT_LEN],
		uint32_t **ids, uint32_t *n, char *why, size_t whylen);

/* ---- conn.c: the connection engine, the same on every transport ---- */

struct memd_conn;
struct memd_server;

/* What a connection does differently on each transport. */
struct memd_conn_ops {
	const char *name; /* "tcp", "rdma" */
	bool data_path;	  /* READ/WRITE messages (TCP); else one-sided verbs */
	int (*recv)(struct memd_conn *c, struct vf_msg *m, const char **why);
	int (*send)(struct memd_conn *c, const struct vf_msg *m);
	void (*set_timeout)(struct memd_conn *c, unsigned ms); /* 0: none */
	void (*kick)(struct memd_conn *c);		       /* break it; from any thread */
	/* make granted slabs reachable by this client (RDMA: register them in
	 * its protection domain) and fill descs; revoke before a free */
	int (*grant)(struct memd_conn *c, const uint32_t *ids, uint32_t n,
		     struct vf_slab_desc *descs);
	void (*revoke)(struct memd_conn *c, const uint32_t *ids, uint32_t n);
	void (*revoke_all)(struct memd_conn *c);
	/* optional: LOGIN succeeded, its reply is next; give the connection
	 * what requests need (kept small until now: peers without the key
	 * get no more than a handshake needs).  0 or -errno (closed). */
	int (*logged_in)(struct memd_conn *c);
	/* the transport's resources and its struct that embeds c */
	void (*destroy)(struct memd_conn *c);
};

/* A connection as the engine sees it; each transport embeds one in its
 * own struct (container_of).  Receive buffers are the transport's. */
struct memd_conn {
	struct memd_conn *next, *prev;
	struct memd_server *srv;
	const struct memd_conn_ops *ops;
	pthread_t thread;
	char peer[64];		    /* "host:port" */
	char source[64];	    /* "host": for the per-address limit */
	char who[VF_NAME_MAX + 96]; /* "'name' at peer" once known, for logs */
	/* under srv->lock: */
	bool logged_in;		   /* counts in nclients, else in npending */
	const char *dropped;	   /* why the engine kicked it before login */
	uint64_t deadline;	   /* vf_now_ms() by which LOGIN must be done */
	struct memd_session *sess; /* set once logged in */
	uint32_t ids[VF_MAX_SLABS_PER_MSG];
	struct vf_slab_desc descs[VF_MAX_SLABS_PER_MSG];
};

/* The engine's part of a new connection from peer ("host:port"). */
void memd_conn_init(struct memd_conn *c, struct memd_server *srv, const struct memd_conn_ops *ops,
		    const char *peer);

/*
 * A new connection counts from here: it is admitted as pending (-EBUSY
 * with too many from its address, or when stopping: the caller still
 * owns c), and its handshake deadline runs.  memd_conn_run() then starts
 * its thread (handshake, then requests); a connection admitted but never
 * run (RDMA: never established) is memd_conn_abandon()ed (unlisted and
 * destroyed).  memd_conn_start() is admit + run, destroying c if refused,
 * for transports whose connection is whole when it arrives.
 */
int memd_conn_admit(struct memd_server *srv, struct memd_conn *c);
int memd_conn_run(struct memd_conn *c);
void memd_conn_abandon(struct memd_conn *c);
int memd_conn_start(struct memd_server *srv, struct memd_conn *c);

/* A listener: how connections arrive on one transport. */
struct memd_listener;

struct memd_listener_ops {
	const char *name;      /* "tcp", "rdma" */
	enum vf_scheme scheme; /* the URLs it serves */
	/* Binds and listens; logs the address bound, or why not.  0 or -errno. */
	int (*start)(struct memd_server *srv, const struct vf_url *u, struct memd_listener **out);
	/* The main loop saw l->fd readable: take the connection. */
	void (*accept)(struct memd_listener *l);
	/* Take no more connections (optional). */
	void (*close)(struct memd_listener *l);
	/* Once no connection is left: frees l. */
	void (*destroy)(struct memd_listener *l);
};

/* The common part of a listener; each transport embeds one. */
struct memd_listener {
	const struct memd_listener_ops *ops;
	struct memd_server *srv;
	int fd; /* polled by the main loop; -1: the listener has its own thread */
};

struct memd_server {
	struct memd_pool *pool;
	struct vf_key key;
	bool auth;
	unsigned max_clients;
	struct memd_listener *listeners[MEMD_MAX_LISTEN];
	unsigned nlisten;

	/*
	 * Admission.  A connection that has not logged in is pending: there
	 * are at most max_pending of them (the oldest makes room for a new
	 * one), max_pending_per_source from one address, and each has
	 * MEMD_HANDSHAKE_MS for HELLO and LOGIN together.  A LOGIN that
	 * starts a session is refused at max_clients; one that resumes a
	 * session always gets in, so peers without the key can never keep a
	 * client from its memory.
	 */
	unsigned max_pending;
	unsigned max_pending_per_source;

	pthread_mutex_t lock; /* the list, the counts, stopping */
	pthread_cond_t idle_cv;
	struct memd_conn *conns;
	unsigned nconns; /* threads */
	unsigned npending, nclients;
	bool stopping;
};

int server_init(struct memd_server *srv, struct memd_pool *pool, const struct vf_key *key,
		unsigned max_clients, unsigned max_pending);

/* Ends handshakes past their deadline.  The main loop calls it at least
 * once a second; returns ms until the next deadline (or UINT64_MAX). */
uint64_t server_expire_handshakes(struct memd_server *srv);

/* Listens on url with the first of ops[] that serves its scheme. */
int server_listen(struct memd_server *srv, const char *url,
		  const struct memd_listener_ops *const *ops, unsigned nops);

/* Closes the listeners, drops every connection and waits for their
 * threads (at most timeout_ms).  Returns how many are still running;
 * when none, the listeners are freed too. */
unsigned server_stop(struct memd_server *srv, unsigned timeout_ms);

/* ---- the transports: tcp.c, rdma.c ---- */

extern const struct memd_listener_ops memd_tcp_listener;
extern const struct memd_listener_ops memd_rdma_listener;

#endif
