// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp.h"
#include "vofirm/log.h"
#include "vofirm/util.h"

struct qmp {
	int fd;
	char *path;
	unsigned timeout_ms;
	unsigned next_id;
	bool broken;      /* a command went unanswered: its reply may come any time */
	GString *in;      /* bytes read, not yet a line */
	GQueue *events;   /* struct jv *, in arrival order */
};

/* The next JSON line from QEMU, within timeout_ms.  NULL on error (errno). */
static char *read_line(struct qmp *q, unsigned timeout_ms)
{
	uint64_t deadline = vf_now_ms() + timeout_ms;
	char buf[4096];

	for (;;) {
		char *nl = memchr(q->in->str, '\n', q->in->len);

		if (nl) {
			char *line = g_strndup(q->in->str, (gsize)(nl - q->in->str));

			g_string_erase(q->in, 0, nl - q->in->str + 1);
			return line;
		}
		uint64_t now = vf_now_ms();
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

		if (now >= deadline) {
			errno = ETIMEDOUT;
			return NULL;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = read(q->fd, buf, sizeof(buf));

		if (n == 0) {
			errno = ECONNRESET;
			return NULL;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		g_string_append_len(q->in, buf, n);
	}
}

/* The next reply (events are queued), or NULL.  With want_id, replies to
 * other commands (a late one) are dropped. */
static struct jv *next_reply(struct qmp *q, unsigned timeout_ms, const char *want_id)
{
	for (;;) {
		char *line = read_line(q, timeout_ms);
		const char *why;
		struct jv *v;

		if (!line)
			return NULL;
		v = json_parse(line, &why);
		if (!v) {
			vf_err("QMP %s: malformed message from QEMU (%s): %.200s", q->path, why, line);
			g_free(line);
			errno = EPROTO;
			return NULL;
		}
		g_free(line);
		if (json_get(v, "event")) {
			g_queue_push_tail(q->events, v);
			continue;
		}
		if (want_id && g_strcmp0(json_str(json_get(v, "id")), want_id)) {
			json_free(v);
			continue;
		}
		return v;
	}
}

int qmp_open(const char *path, unsigned timeout_ms, struct qmp **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	struct jv *greeting, *ret = NULL;
	char *err = NULL;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		vf_err("QMP socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	q = g_new0(struct qmp, 1);
	q->path = g_strdup(path);
	q->timeout_ms = timeout_ms;
	q->in = g_string_new(NULL);
	q->events = g_queue_new();
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		vf_err("cannot connect to QMP socket %s: %s (is QEMU running with "
		       "-qmp unix:%s,server=on,wait=off?)", path, strerror(-r), path);
		qmp_close(q);
		return r;
	}
	greeting = next_reply(q, timeout_ms, NULL);
	if (!greeting || !json_get(greeting, "QMP")) {
		vf_err("QMP socket %s: no QMP greeting (%s)", path,
		       greeting ? "not QEMU's monitor?" : strerror(errno));
		json_free(greeting);
		qmp_close(q);
		return -EPROTO;
	}
	json_free(greeting);
	r = qmp_cmd(q, "qmp_capabilities", NULL, &ret, &err);
	json_free(ret);
	if (r) {
		vf_err("QMP socket %s: qmp_capabilities failed: %s", path, err ? err : strerror(-r));
		g_free(err);
		qmp_close(q);
		return r;
	}
	*out = q;
	return 0;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	g_queue_free_full(q->events, (GDestroyNotify)json_free);
	g_string_free(q->in, TRUE);
	g_free(q->path);
	g_free(q);
}

int qmp_cmd(struct qmp *q, const char *cmd, const char *args, struct jv **ret, char **err)
{
	GString *m = g_string_new("{\"execute\": ");
	char id[32];
	struct jv *r, *e;
	size_t done = 0;
	int saved;

	*ret = NULL;
	if (err)
		*err = NULL;
	if (q->broken) {
		vf_err("QMP %s: %s not sent: an earlier command got no answer, so QEMU's state "
		       "is unknown (vofirmctl list)", q->path, cmd);
		g_string_free(m, TRUE);
		return -EIO;
	}
	snprintf(id, sizeof(id), "vofirmctl-%u", ++q->next_id);
	json_escape(m, cmd);
	if (args)
		g_string_append_printf(m, ", \"arguments\": %s", args);
	g_string_append_printf(m, ", \"id\": \"%s\"}\n", id);
	while (done < m->len) {
		ssize_t n = write(q->fd, m->str + done, m->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			vf_err("QMP %s: %s: cannot send: %s", q->path, cmd, strerror(saved));
			g_string_free(m, TRUE);
			q->broken = true;
			return -saved;
		}
		done += (size_t)n;
	}
	g_string_free(m, TRUE);
	r = next_reply(q, q->timeout_ms, id);
	if (!r) {
		saved = errno;
		vf_err("QMP %s: %s: no reply: %s", q->path, cmd, strerror(saved));
		q->broken = true; /* its reply may still come: nothing after this is sent */
		return -saved;
	}
	e = json_get(r, "error");
	if (e) {
		if (err)
			*err = g_strdup(json_str(json_get(e, "desc")) ?: "unknown error");
		json_free(r);
		return -EIO;
	}
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->keys[i], "return")) {
			*ret = r->items[i];
			r->items[i] = g_new0(struct jv, 1);
		}
	json_free(r);
	return 0;
}

static bool event_matches(struct jv *ev, const char *name, const char *dev)
{
	const char *d;

	if (g_strcmp0(json_str(json_get(ev, "event")), name))
		return false;
	if (!dev)
		return true;
	d = json_str(json_get(json_get(ev, "data"), "device"));
	return d && !strcmp(d, dev);
}

int qmp_wait_event(struct qmp *q, const char *name, const char *dev, unsigned timeout_ms)
{
	uint64_t deadline = vf_now_ms() + timeout_ms;

	for (;;) {
		for (GList *l = q->events->head; l; l = l->next)
			if (event_matches(l->data, name, dev)) {
				json_free(l->data);
				g_queue_delete_link(q->events, l);
				return 0;
			}
		uint64_t now = vf_now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		char *line = read_line(q, (unsigned)(deadline - now));

		if (!line)
			return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
		struct jv *v = json_parse(line, NULL);

		g_free(line);
		if (v && json_get(v, "event"))
			g_queue_push_tail(q->events, v);
		else
			json_free(v);
	}
}
