// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
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
	GQueue *events;   /* JsonNode *, in arrival order */
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
static JsonNode *next_reply(struct qmp *q, unsigned timeout_ms, const char *want_id)
{
	for (;;) {
		char *line = read_line(q, timeout_ms), *why = NULL;
		JsonNode *v;

		if (!line)
			return NULL;
		v = jv_parse(line, &why);
		if (!v) {
			vf_err("QMP %s: malformed message from QEMU (%s): %.200s", q->path, why, line);
			g_free(why);
			g_free(line);
			errno = EPROTO;
			return NULL;
		}
		g_free(line);
		if (jv_get(v, "event")) {
			g_queue_push_tail(q->events, v);
			continue;
		}
		if (want_id && g_strcmp0(jv_str(jv_get(v, "id")), want_id)) {
			json_node_unref(v);
			continue;
		}
		return v;
	}
}

int qmp_open(const char *path, unsigned timeout_ms, struct qmp **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	JsonNode *greeting;
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
	if (!greeting || !jv_get(greeting, "QMP")) {
		vf_err("QMP socket %s: no QMP greeting (%s)", path,
		       greeting ? "not QEMU's monitor?" : strerror(errno));
		if (greeting)
			json_node_unref(greeting);
		qmp_close(q);
		return -EPROTO;
	}
	json_node_unref(greeting);
	r = qmp_cmd(q, "qmp_capabilities", NULL, NULL, &err);
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
	g_queue_free_full(q->events, (GDestroyNotify)json_node_unref);
	g_string_free(q->in, TRUE);
	g_free(q->path);
	g_free(q);
}

char *qmp_message(const char *cmd, JsonObject *args, const char *id)
{
	JsonObject *m = json_object_new();
	JsonNode *root = json_node_init_object(json_node_alloc(), m);
	char *text, *line = NULL;

	json_object_set_string_member(m, "execute", cmd);
	if (args)
		json_object_set_object_member(m, "arguments", json_object_ref(args));
	json_object_set_string_member(m, "id", id);
	json_object_unref(m);
	text = jv_text(root);
	json_node_unref(root);
	if (text)
		line = g_strconcat(text, "\n", NULL);
	g_free(text);
	return line;
}

int qmp_cmd(struct qmp *q, const char *cmd, JsonObject *args, JsonNode **ret, char **err)
{
	char id[32], *m = NULL;
	JsonNode *r, *e, *val;
	size_t done = 0, len;
	int saved;

	if (ret)
		*ret = NULL;
	if (err)
		*err = NULL;
	if (q->broken) {
		vf_err("QMP %s: %s not sent: an earlier command got no answer, so QEMU's state "
		       "is unknown (vofirmctl list)", q->path, cmd);
		saved = EIO;
		goto out;
	}
	snprintf(id, sizeof(id), "vofirmctl-%u", ++q->next_id);
	m = qmp_message(cmd, args, id);
	if (!m) {
		vf_err("QMP %s: %s not sent: a name or path in it is not UTF-8, which QMP "
		       "(JSON) cannot carry", q->path, cmd);
		saved = EINVAL;
		goto out;
	}
	len = strlen(m);
	while (done < len) {
		ssize_t n = write(q->fd, m + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			vf_err("QMP %s: %s: cannot send: %s", q->path, cmd, strerror(saved));
			q->broken = true;
			goto out;
		}
		done += (size_t)n;
	}
	r = next_reply(q, q->timeout_ms, id);
	if (!r) {
		saved = errno;
		vf_err("QMP %s: %s: no reply: %s", q->path, cmd, strerror(saved));
		q->broken = true; /* its reply may still come: nothing after this is sent */
		goto out;
	}
	e = jv_get(r, "error");
	val = jv_get(r, "return");
	if (e) {
		if (err)
			*err = g_strdup(jv_str(jv_get(e, "desc")) ?: "unknown error");
		saved = EIO;
	} else if (!val) {
		vf_err("QMP %s: %s: a reply with neither \"return\" nor \"error\"", q->path, cmd);
		saved = EPROTO;
	} else {
		if (ret)
			*ret = json_node_copy(val);
		saved = 0;
	}
	json_node_unref(r);
out:
	if (args)
		json_object_unref(args);
	g_free(m);
	return -saved;
}

static bool event_matches(JsonNode *ev, const char *name, const char *dev)
{
	const char *d;

	if (g_strcmp0(jv_str(jv_get(ev, "event")), name))
		return false;
	if (!dev)
		return true;
	d = jv_str(jv_get(jv_get(ev, "data"), "device"));
	return d && !strcmp(d, dev);
}

int qmp_wait_event(struct qmp *q, const char *name, const char *dev, unsigned timeout_ms)
{
	uint64_t deadline = vf_now_ms() + timeout_ms;

	for (;;) {
		for (GList *l = q->events->head; l; l = l->next)
			if (event_matches(l->data, name, dev)) {
				json_node_unref(l->data);
				g_queue_delete_link(q->events, l);
				return 0;
			}
		uint64_t now = vf_now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		char *line = read_line(q, (unsigned)(deadline - now));

		if (!line)
			return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
		JsonNode *v = jv_parse(line, NULL);

		g_free(line);
		if (v && jv_get(v, "event"))
			g_queue_push_tail(q->events, v);
		else if (v)
			json_node_unref(v);
	}
}
