// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vofirm-rdma-idle: a peer without the key that opens RDMA connections to
 * vofirm-memd and never says HELLO.  For the security test of memd's
 * admission over RDMA (tests/guest/rdma.sh).
 *
 *   vofirm-rdma-idle HOST PORT COUNT SECONDS [SOURCE]
 *
 * Asks for COUNT connections one after another, prints how many were
 * established and how many rejected, then holds the established ones for
 * SECONDS and prints how many the server closed meanwhile.  Exit status
 * 0, or 1 when RDMA itself failed (no device, no route).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/rdma_cma.h>

#define MAX_CONNS 64

struct peer {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	int established, closed;
};

/* The next CM event: its type and the id it is for; -1 after tmo_ms. */
static int next_event(struct rdma_event_channel *ec, int tmo_ms, struct rdma_cm_id **id)
{
	struct pollfd pfd = { .fd = ec->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	int type;

	if (poll(&pfd, 1, tmo_ms) <= 0 || rdma_get_cm_event(ec, &ev))
		return -1;
	type = ev->event;
	*id = ev->id;
	rdma_ack_cm_event(ev);
	return type;
}

static int wait_for(struct rdma_event_channel *ec, struct rdma_cm_id *id, int want)
{
	struct rdma_cm_id *got;
	int type;

	do {
		type = next_event(ec, 5000, &got);
	} while (type >= 0 && got != id);
	return type == want ? 0 : type < 0 ? -ETIMEDOUT : -ECONNREFUSED;
}

static int connect_one(struct rdma_event_channel *ec, struct addrinfo *ai, struct addrinfo *src,
		       struct peer *p)
{
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1 }
	};
	struct rdma_conn_param cp = { .retry_count = 7, .rnr_retry_count = 7 };
	struct rdma_cm_id *got;
	int type;

	if (rdma_create_id(ec, &p->id, p, RDMA_PS_TCP) ||
	    rdma_resolve_addr(p->id, src ? src->ai_addr : NULL, ai->ai_addr, 2000) ||
	    wait_for(ec, p->id, RDMA_CM_EVENT_ADDR_RESOLVED) || rdma_resolve_route(p->id, 2000) ||
	    wait_for(ec, p->id, RDMA_CM_EVENT_ROUTE_RESOLVED))
		return -EHOSTUNREACH;
	p->pd = ibv_alloc_pd(p->id->verbs);
	p->cq = p->pd ? ibv_create_cq(p->id->verbs, 4, NULL, NULL, 0) : NULL;
	if (!p->cq)
		return -ENOMEM;
	qa.send_cq = qa.recv_cq = p->cq;
	if (rdma_create_qp(p->id, p->pd, &qa) || rdma_connect(p->id, &cp))
		return -errno;
	do {
		type = next_event(ec, 5000, &got);
	} while (type >= 0 && got != p->id);
	if (type == RDMA_CM_EVENT_ESTABLISHED)
		p->established = 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *src = NULL;
	struct peer peers[MAX_CONNS];
	struct rdma_event_channel *ec;
	struct rdma_cm_id *got;
	int n, seconds, est = 0, rej = 0, closed = 0, type;
	time_t end;

	if (argc < 5 || argc > 6 || (n = atoi(argv[3])) < 1 || n > MAX_CONNS ||
	    (seconds = atoi(argv[4])) < 0) {
		fprintf(stderr, "usage: vofirm-rdma-idle HOST PORT COUNT(1-%d) SECONDS [SOURCE]\n",
			MAX_CONNS);
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai) ||
	    (argc == 6 && getaddrinfo(argv[5], NULL, &hints, &src))) {
		fprintf(stderr, "vofirm-rdma-idle: cannot resolve %s\n", argv[argc == 6 ? 5 : 1]);
		return 1;
	}
	ec = rdma_create_event_channel();
	if (!ec) {
		perror("vofirm-rdma-idle: rdma_create_event_channel");
		return 1;
	}
	memset(peers, 0, sizeof(peers));
	for (int i = 0; i < n; i++) {
		int ret = connect_one(ec, ai, src, &peers[i]);

		if (ret == -EHOSTUNREACH || ret == -ENOMEM) {
			fprintf(stderr, "vofirm-rdma-idle: connection %d: %s\n", i, strerror(-ret));
			return 1;
		}
		if (peers[i].established)
			est++;
		else
			rej++;
	}
	printf("established=%d rejected=%d\n", est, rej);
	fflush(stdout);
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		type = next_event(ec, 500, &got);
		if (type != RDMA_CM_EVENT_DISCONNECTED)
			continue;
		for (int i = 0; i < n; i++)
			if (peers[i].id == got && peers[i].established && !peers[i].closed) {
				peers[i].closed = 1;
				closed++;
			}
	}
	printf("closed by the server=%d of %d\n", closed, est);
	freeaddrinfo(ai);
	return 0; /* the process's exit releases the ids */
}
