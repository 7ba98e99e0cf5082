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

/*
 * The longest line read from QEMU.  The longest reply vofirmctl asks for is
 * query-memory-devices: about 300 bytes a device, and a VM has at most 256
 * DIMM slots and a few virtio-mem devices, so under 100 KiB; 1 MiB leaves
 * room and bounds what a peer that is not QEMU's monitor can make us hold.
 */
#define QMP_MAX_LINE (1u << 20)

/*
 * The most watched events kept unread.  vofirmctl waits for one event at a
 * time (DEVICE_DELETED of one device) and drops all others as they come:
 * more than this many of that one is not QEMU.
 */
#define QMP_MAX_EVENTS 1000

struct qmp {
	int fd;
	char *path;
	unsigned timeout_ms;
	unsigned next_id;
	bool broken;		       /* a command went unanswered: its reply may come any time */
	GString *in;		       /* bytes read, not yet a line */
	size_t scanned;		       /* bytes of in known to hold no newline */
	char *watch_event, *watch_dev; /* the event kept (qmp_watch), or NULL */
	GQueue *events;		       /* JsonNode *, watched events in arrival order */
};

/* The next line from QEMU, by deadline (vf_now_ms).  NULL on error (errno; logged
 * for a line over the limit). */
static char *read_line(struct qmp *q, uint64_t deadline)
{
	char buf[4096];

	for (;;) {
		char *nl = memchr(q->in->str + q->scanned, '\n', q->in->len - q->scanned);

		if (nl) {
			char *line = g_strndup(q->in->str, (gsize)(nl - q->in->str));

			g_string_erase(q->in, 0, nl - q->in->str + 1);
			q->scanned = 0;
			return line;
		}
		q->scanned = q->in->len;
		if (q->in->len > QMP_MAX_LINE) {
			char lim[32];

			vf_err("QMP %s: a message longer than %s without a newline (the limit): "
			       "not QEMU's monitor?",
			       q->path, vf_format_size(QMP_MAX_LINE, lim, sizeof(lim)));
			errno = EMSGSIZE;
			return NULL;
		}
		uint64_t now = vf_now_ms();
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

		if (now >= deadline) {
			errno = ETIMEDOUT;
			return NULL;
		}
		if (poll(&pfd, 1, (int)MIN(deadline - now, INT32_MAX)) <= 0)
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

/*
 * The next message from QEMU by deadline: 0 with *msg a reply or the
 * greeting, or with *msg NULL after an event (kept if watched, else
 * dropped); or -errno (logged for what QEMU sent).
 */
static int read_message(struct qmp *q, uint64_t deadline, JsonNode **msg)
{
	char *line = read_line(q, deadline), *why = NULL;
	JsonNode *v;

	*msg = NULL;
	if (!line)
		return -errno;
	v = jv_parse(line, &why);
	if (!v) {
		vf_err("QMP %s: malformed message from QEMU (%s): %.200s", q->path, why, line);
		g_free(why);
		g_free(line);
		return -EPROTO;
	}
	g_free(line);
	if (!jv_get(v, "event")) {
		*msg = v;
		return 0;
	}
	if (!q->watch_event || !event_matches(v, q->watch_event, q->watch_dev)) {
		json_node_unref(v);
		return 0;
	}
	if (q->events->length >= QMP_MAX_EVENTS) {
		vf_err("QMP %s: more than %u %s events unread (the limit): not QEMU's monitor?",
		       q->path, QMP_MAX_EVENTS, q->watch_event);
		json_node_unref(v);
		return -ENOBUFS;
	}
	g_queue_push_tail(q->events, v);
	return 0;
}

/* The next reply within timeout_ms, or NULL (errno).  With want_id, replies
 * to other commands (a late one) are dropped. */
static JsonNode *next_reply(struct qmp *q, unsigned timeout_ms, const char *want_id)
{
	uint64_t deadline = vf_now_ms() + timeout_ms; /* however many events come */

	for (;;) {
		JsonNode *v;
		int r = read_message(q, deadline, &v);

		if (r) {
			errno = -r;
			return NULL;
		}
		if (!v)
			continue;
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
		       "-qmp unix:%s,server=on,wait=off?)",
		       path, strerror(-r), path);
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
		vf_err("QMP socket %s: qmp_capabilities failed: %s", path,
		       err ? err : strerror(-r));
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
	g_free(q->watch_event);
	g_free(q->watch_dev);
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
		       "is unknown (vofirmctl list)",
		       q->path, cmd);
		saved = EIO;
		goto out;
	}
	snprintf(id, sizeof(id), "vofirmctl-%u", ++q->next_id);
	m = qmp_message(cmd, args, id);
	if (!m) {
		vf_err("QMP %s: %s not sent: a name or path in it is not UTF-8, which QMP "
		       "(JSON) cannot carry",
		       q->path, cmd);
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

void qmp_watch(struct qmp *q, const char *name, const char *dev)
{
	g_free(q->watch_event);
	g_free(q->watch_dev);
	q->watch_event = g_strdup(name);
	q->watch_dev = g_strdup(dev);
	g_queue_clear_full(q->events, (GDestroyNotify)json_node_unref);
}

int qmp_wait_event(struct qmp *q, unsigned timeout_ms)
{
	uint64_t deadline = vf_now_ms() + timeout_ms;

	while (g_queue_is_empty(q->events)) {
		JsonNode *v;
		int r = read_message(q, deadline, &v);

		if (r)
			return r;
		if (v)
			json_node_unref(v); /* a late reply */
	}
	json_node_unref(g_queue_pop_head(q->events));
	return 0;
}
