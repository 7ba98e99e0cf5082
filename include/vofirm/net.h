/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Socket helpers for the TCP transport and vofirm-memd. */
#ifndef VOFIRM_NET_H
#define VOFIRM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "vofirm/proto.h"

/* Reads exactly len bytes.  0, -ECONNRESET on EOF, or -errno. */
int vf_read_full(int fd, void *buf, size_t len);

/* Writes a whole iovec (modified in place).  0 or -errno; no SIGPIPE. */
int vf_writev_full(int fd, struct iovec *iov, int iovcnt);
/* The same, with sendmsg() flags (MSG_MORE). */
int vf_writev_flags(int fd, struct iovec *iov, int iovcnt, int flags);
/*
 * vf_writev_full() for buffers that may be freed by another thread once
 * their bytes are sent, before the call returns (the TCP transport's
 * batches: a request's reply can come while later requests are still
 * being sent).  Nothing reads them after the call: a sanitizer build
 * checks them before it instead of after.  With about_to_wait, the
 * first try does not wait (MSG_DONTWAIT): about_to_wait() is called
 * before a call that would (vf_xport_set_wait_hook()).
 */
int vf_writev_unchecked(int fd, struct iovec *iov, int iovcnt, void (*about_to_wait)(void));

/*
 * Reads one message's header and payload into buf (cap bytes; VF_HDR_SIZE
 * + VF_MAX_PAYLOAD hold any message) and decodes it.  0, -ECONNRESET on a
 * clean EOF before a header, -EBADMSG/-EPROTONOSUPPORT (*why set; on the
 * latter m->hdr is the header as received, with the peer's version),
 * -EMSGSIZE (a valid message longer than cap: nothing of its payload is
 * read), or -errno.
 */
int vf_recv_msg(int fd, void *buf, size_t cap, struct vf_msg *m, const char **why);

/* Encodes and sends one message, bulk data included.  0 or -errno. */
int vf_send_msg(int fd, const struct vf_msg *m);
/* The same; with `more`, the kernel may hold it back for the next one
 * (MSG_MORE): the last message of a batch must be sent without. */
int vf_send_msg_more(int fd, const struct vf_msg *m, bool more);

/* "192.0.2.1:7471" / "[::1]:7471" for the peer of fd. */
void vf_peer_name(int fd, char *buf, size_t len);

/* Send/receive timeouts (SO_SNDTIMEO/SO_RCVTIMEO); 0 = none. */
int vf_sock_set_timeout(int fd, unsigned ms);

/* TCP_NODELAY, keepalive probing after `idle_s`. */
void vf_sock_tune(int fd, int idle_s);

#endif
