// SPDX-License-Identifier: GPL-2.0-or-later
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* an AddressSanitizer build (GCC says so one way, older Clang another) */
#if defined(__SANITIZE_ADDRESS__)
#define VF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VF_ASAN 1
#endif
#endif
#ifdef VF_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "vofirm/net.h"

int vf_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* sendmsg() past the sanitizers' interceptor, whose check of what was
 * sent reads the buffers after the call */
static ssize_t sendmsg_raw(int fd, const struct msghdr *mh, int flags)
{
	return syscall(SYS_sendmsg, fd, mh, flags);
}

/* about_to_wait: see vf_writev_unchecked() */
static int writev_loop(int fd, struct iovec *iov, int iovcnt, int flags, bool raw,
		       void (*about_to_wait)(void))
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	int nowait = about_to_wait ? MSG_DONTWAIT : 0;

	while (mh.msg_iovlen) {
		ssize_t n = raw ? sendmsg_raw(fd, &mh, MSG_NOSIGNAL | flags | nowait)
				: sendmsg(fd, &mh, MSG_NOSIGNAL | flags | nowait);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && nowait) {
				about_to_wait();
				nowait = 0; /* the rest as the socket says */
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n >= mh.msg_iov->iov_len) {
				n -= (ssize_t)mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
				mh.msg_iov->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

int vf_recv_msg(int fd, void *buf, size_t cap, struct vf_msg *m, const char **why)
{
	struct vf_hdr h;
	int ret;

	ret = vf_read_full(fd, buf, VF_HDR_SIZE);
	if (ret)
		return ret;
	ret = vf_hdr_decode(buf, &h, why);
	if (ret) {
		m->hdr = h; /* the version, for a refusal the peer can read */
		return ret;
	}
	if (h.len > cap - VF_HDR_SIZE) {
		if (why)
			*why = "message longer than this receiver accepts here";
		return -EMSGSIZE;
	}
	ret = vf_read_full(fd, (char *)buf + VF_HDR_SIZE, h.len);
	if (ret)
		return ret == -ECONNRESET ? -EPIPE : ret;
	return vf_msg_decode_body(&h, (char *)buf + VF_HDR_SIZE, h.len, m, why);
}

static int writev_full(int fd, struct iovec *iov, int iovcnt, int flags)
{
	return writev_loop(fd, iov, iovcnt, flags, false, NULL);
}

int vf_writev_full(int fd, struct iovec *iov, int iovcnt)
{
	return writev_full(fd, iov, iovcnt, 0);
}

int vf_writev_flags(int fd, struct iovec *iov, int iovcnt, int flags)
{
	return writev_full(fd, iov, iovcnt, flags);
}

int vf_writev_unchecked(int fd, struct iovec *iov, int iovcnt, void (*about_to_wait)(void))
{
#ifdef VF_ASAN
	/* every buffer is whole and live now (its owner cannot free it
	 * before its bytes are sent): checked here, as the interceptor of
	 * sendmsg() would have after the call */
	for (int i = 0; i < iovcnt; i++) {
		char *bad = __asan_region_is_poisoned(iov[i].iov_base, iov[i].iov_len);

		if (bad)
			__asan_report_error(__builtin_return_address(0), __builtin_frame_address(0),
					    __builtin_frame_address(0), bad, 0,
					    iov[i].iov_len -
						    (size_t)(bad - (char *)iov[i].iov_base));
	}
#endif
	return writev_loop(fd, iov, iovcnt, 0, true, about_to_wait);
}

static int send_msg(int fd, const struct vf_msg *m, int flags)
{
	uint8_t head[VF_HDR_SIZE + 8 + VF_MAX_SLABS_PER_MSG * VF_SLAB_DESC_SIZE];
	struct iovec iov[2];
	size_t bulk;
	long n = vf_msg_encode_head(m, head, sizeof(head), &bulk);

	if (n < 0)
		return (int)n;
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_len = bulk;
	iov[1].iov_base = (void *)(m->hdr.type == VF_MSG_WRITE ? m->io.data : m->read_rep.data);
	return writev_full(fd, iov, bulk ? 2 : 1, flags);
}

int vf_send_msg(int fd, const struct vf_msg *m)
{
	return send_msg(fd, m, 0);
}

int vf_send_msg_more(int fd, const struct vf_msg *m, bool more)
{
	return send_msg(fd, m, more ? MSG_MORE : 0);
}

void vf_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

int vf_sock_set_timeout(int fd, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

void vf_sock_tune(int fd, int idle_s)
{
	int one = 1, cnt = 3, intvl = 5;

	/* best effort: a socket without these still works */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}
