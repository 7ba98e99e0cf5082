// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Statistics: the two renderings an operator reads from
 * MOUNTPOINT/.vofirm/: stats.json and metrics (Prometheus text format,
 * version 0.0.4).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "vofirm/util.h"

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* File names are bytes; JSON and Prometheus text are UTF-8.  A name that
 * is not valid UTF-8 is shown with U+FFFD for its bad bytes, so that one
 * odd name never makes the whole document unreadable. */
static void prom_label(GString *o, const char *name)
{
	char *valid = g_utf8_make_valid(name, -1);

	for (const char *s = valid; *s; s++) {
		if (*s == '"' || *s == '\\')
			g_string_append_c(o, '\\');
		if (*s == '\n')
			g_string_append(o, "\\n");
		else
			g_string_append_c(o, *s);
	}
	g_free(valid);
}

struct file_row {
	struct inode *in; /* pinned until free_rows() */
	char *path;
	uint64_t size, reserved, degraded, unprotected;
	unsigned replicas;
	struct io_counters io;
	struct pf_file_stats pf;
};

/*
 * The files, as rows.  Their degraded bytes are read under each file's
 * rw, which comes before ns_lock: the files are pinned and named under
 * ns_lock, and looked into after it is dropped (as describe_loss does).
 */
static GArray *file_rows(struct fs *fs, const struct timespec *dl)
{
	GArray *rows = g_array_new(FALSE, TRUE, sizeof(struct file_row));
	GHashTableIter it;
	gpointer v;

	fs_mutex_lock(&fs->ns_lock);
	g_hash_table_iter_init(&it, fs->inodes);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct inode *in = v;
		struct file_row r = { .in = in };

		if (in->kind != INODE_FILE)
			continue;
		in->pinned++;
		r.path = inode_path(fs, in);
		g_array_append_val(rows, r);
	}
	fs_mutex_unlock(&fs->ns_lock);

	for (guint i = 0; i < rows->len; i++) {
		struct file_row *r = &g_array_index(rows, struct file_row, i);
		struct inode *in = r->in;

		file_degraded(fs, in, dl, &r->degraded, &r->unprotected, NULL);
		r->replicas = file_replicas(fs, in);
		r->size = __atomic_load_n(&in->size, __ATOMIC_RELAXED);
		r->reserved = file_reserved(fs, in);
		r->io.reads = ld(&in->io.reads);
		r->io.writes = ld(&in->io.writes);
		r->io.bytes_read = ld(&in->io.bytes_read);
		r->io.bytes_written = ld(&in->io.bytes_written);
		r->io.errors = 0;
		prefetch_file_stats(in, &r->pf);
	}
	return rows;
}

static void free_rows(struct fs *fs, GArray *rows)
{
	fs_mutex_lock(&fs->ns_lock);
	for (guint i = 0; i < rows->len; i++) {
		struct file_row *r = &g_array_index(rows, struct file_row, i);

		r->in->pinned--;
		inode_maybe_free(fs, r->in);
		g_free(r->path);
	}
	fs_mutex_unlock(&fs->ns_lock);
	g_array_free(rows, TRUE);
}

struct srv_row {
	const char *url;
	enum srv_state state;
	bool draining;
	uint64_t capacity, free, held;
	/* answering: up, and no STATS waited SILENT_MS unanswered;
	 * unanswered_ms: since when it has not answered (0: it does);
	 * figures_age_ms: how old capacity and free are (-1: not from it yet) */
	bool answering;
	uint64_t unanswered_ms;
	int64_t figures_age_ms;
};

/*
 * A server's figures as last seen, with how fresh they are.  Never waits
 * on the server, nor on fs->alloc_lock, which an allocation holds across
 * its requests to a server that may not answer: the fields it guards are
 * stored __atomic for this.
 */
static void srv_row(struct fs *fs, struct server *s, struct srv_row *r)
{
	uint64_t now = vf_now_ms(), silent, fig;
	int64_t free_est;

	r->url = s->url;
	fs_mutex_lock(&s->lock);
	r->state = s->state;
	silent = __atomic_load_n(&s->silent_since, __ATOMIC_RELAXED);
	if (!silent && r->state == SRV_DOWN)
		silent = s->down_since;
	fs_mutex_unlock(&s->lock);
	r->unanswered_ms = silent && now > silent ? now - silent : 0;
	r->answering = r->state == SRV_UP && r->unanswered_ms < SILENT_MS;
	fig = __atomic_load_n(&s->figures_ms, __ATOMIC_RELAXED);
	r->figures_age_ms = fig ? (int64_t)(now > fig ? now - fig : 0) : -1;
	free_est = __atomic_load_n(&s->free_est, __ATOMIC_RELAXED);
	r->capacity = __atomic_load_n(&s->capacity, __ATOMIC_RELAXED);
	r->free = free_est > 0 ? (uint64_t)free_est * fs->slab_size : 0;
	r->held = (uint64_t)__atomic_load_n(&s->held, __ATOMIC_RELAXED) * fs->slab_size;
	r->draining = __atomic_load_n(&s->draining, __ATOMIC_RELAXED);
}

/* The transport's count of requests sent, or of the calls that sent
 * them (calls): how well its sends are batched. */
static uint64_t srv_tx(struct server *s, bool calls)
{
	struct vf_xport *x = __atomic_load_n(&s->x, __ATOMIC_ACQUIRE);

	if (!x)
		return 0;
	return __atomic_load_n(calls ? &x->tx_calls : &x->tx_requests, __ATOMIC_RELAXED);
}

/* A lost entry whose server joined the pool again in another entry
 * (servers.c, rejoin(): a new one, or an earlier one taken again): one
 * series per server URL in Prometheus, the live one, else the last lost
 * one (stats.json lists them all). */
static bool superseded(struct fs *fs, unsigned i, unsigned nsrv, const struct srv_row *r)
{
	if (r[i].state != SRV_LOST)
		return false;
	for (unsigned j = 0; j < nsrv; j++)
		if (j != i && !strcmp(fs->srv[j].url, fs->srv[i].url) &&
		    (r[j].state != SRV_LOST || j > i))
			return true;
	return false;
}

static const double quantiles[] = { 0.5, 0.9, 0.99 };

/* {"count": n, "p50": .., "p90": .., "p99": .., "mean": .., "max": ..} in µs */
static void json_hist(GString *o, const struct hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		n += __atomic_load_n(&h->count[i], __ATOMIC_RELAXED);
	g_string_append_printf(o, "{\"count\": %" PRIu64 ", ", n);
	for (unsigned q = 0; q < VF_ARRAY_SIZE(quantiles); q++)
		g_string_append_printf(o, "\"p%g\": %.1f, ", quantiles[q] * 100,
				       (double)hist_quantile(h, quantiles[q]) / 1000.0);
	g_string_append_printf(o, "\"mean\": %.1f, \"max\": %.1f}", (double)hist_mean(h) / 1000.0,
			       (double)__atomic_load_n(&h->max_ns, __ATOMIC_RELAXED) / 1000.0);
}

/* The daemon writes its few lines of JSON itself: only vofirmctl links json-glib. */
static void json_string(GString *out, const char *name)
{
	char *valid = g_utf8_make_valid(name, -1);

	g_string_append_c(out, '"');
	for (const char *s = valid; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", c);
		else if (c < 0x20)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (char)c);
	}
	g_string_append_c(out, '"');
	g_free(valid);
}

/* The mount's prefetch figures: its files' (rows) and those of files gone. */
static void mount_prefetch(struct fs *fs, GArray *rows, struct pf_mount_stats *m)
{
	prefetch_mount_stats(fs, m);
	for (guint i = 0; i < rows->len; i++)
		prefetch_mount_add(m, &g_array_index(rows, struct file_row, i).pf);
}

/* "demand_misses": .., ... of one file or of the mount */
static void json_pf_counters(GString *o, const struct pf_counters *c)
{
	g_string_append_printf(
		o,
		"\"demand_misses\": %" PRIu64 ", \"demand_pages\": %" PRIu64
		", \"prefetch_reads\": %" PRIu64 ", \"prefetched_pages\": %" PRIu64
		", \"issued_pages\": %" PRIu64 ", \"used\": %" PRIu64 ", \"wasted\": %" PRIu64
		", \"expired\": %" PRIu64 ", \"cached\": %" PRIu64 ", \"late\": %" PRIu64
		", \"pending\": %" PRIu64 ", \"dropped\": %" PRIu64 ", \"errors\": %" PRIu64
		", \"hugepage_bursts\": %" PRIu64 ", \"hit_rate\": %.4f, \"amplification\": %.3f",
		c->demand_misses, c->demand_pages, c->prefetch_reads, c->prefetched_pages,
		c->issued_pages, c->used, c->wasted, c->expired, c->cached, c->late, c->pending,
		c->dropped, c->errors, c->huge_bursts, pf_hit_rate(c), pf_amplification(c));
}

char *fs_stats_json(struct fs *fs)
{
	GString *o = g_string_new("{\n  \"slab_size\": ");
	/* a file held exclusively past this shows its copies as last counted */
	struct timespec dl = vf_deadline_ms(FIGURES_WAIT_MS);
	GArray *rows = file_rows(fs, &dl);
	uint64_t cap = 0, free_b = 0, held = 0;
	unsigned nsrv = fs_nsrv(fs);
	struct repl_stats rs;

	fs_repl_stats(fs, &rs, &dl);
	g_string_append_printf(o, "%" PRIu64 ",\n", fs->slab_size);
	if (fs->st.hdr) {
		struct state_hdr *h = fs->st.hdr;

		/* the processes: the supervisor keeps the mount, workers come and go */
		g_string_append_printf(o,
				       "  \"supervisor_pid\": %d,\n  \"worker_pid\": %d,\n"
				       "  \"worker_restarts\": %u,\n  \"restart_error\": ",
				       (int)h->supervisor_pid, (int)getpid(),
				       __atomic_load_n(&h->worker_restarts, __ATOMIC_ACQUIRE));
		if (h->restart_error[0]) {
			char err[sizeof(h->restart_error)];

			snprintf(err, sizeof(err), "%s", h->restart_error);
			json_string(o, err);
		} else {
			g_string_append(o, "null");
		}
		g_string_append(o, ",\n");
	}
	g_string_append(o, "  \"servers\": [");
	for (unsigned i = 0; i < nsrv; i++) {
		struct server *s = &fs->srv[i];
		struct srv_row r;

		srv_row(fs, s, &r);
		if (r.state != SRV_LOST) {
			cap += r.capacity;
			free_b += r.free;
		}
		held += r.held;
		g_string_append_printf(o, "%s\n    {\"url\": ", i ? "," : "");
		json_string(o, r.url);
		g_string_append_printf(
			o,
			", \"state\": \"%s\", \"draining\": %s, \"capacity\": %" PRIu64
			", \"free\": %" PRIu64 ", \"held\": %" PRIu64 ", \"reads\": %" PRIu64
			", \"writes\": %" PRIu64 ", \"bytes_read\": %" PRIu64
			", \"bytes_written\": %" PRIu64 ", \"errors\": %" PRIu64
			", \"requests_sent\": %" PRIu64 ", \"send_calls\": %" PRIu64
			", \"entry\": %u, \"rejoins\": %u"
			", \"answering\": %s, \"unanswered_ms\": %" PRIu64 ", \"figures_age_ms\": ",
			srv_state_name(r.state), r.draining ? "true" : "false", r.capacity, r.free,
			r.held, ld(&s->io.reads), ld(&s->io.writes), ld(&s->io.bytes_read),
			ld(&s->io.bytes_written), ld(&s->io.errors), srv_tx(s, false),
			srv_tx(s, true), i, __atomic_load_n(&s->rejoins, __ATOMIC_RELAXED),
			r.answering ? "true" : "false", r.unanswered_ms);
		if (r.figures_age_ms < 0)
			g_string_append(o, "null");
		else
			g_string_append_printf(o, "%" PRId64, r.figures_age_ms);
		for (int w = 0; w < 2; w++) {
			g_string_append_printf(o, ", \"%s_latency_us\": ", w ? "write" : "read");
			json_hist(o, w ? &s->write_lat : &s->read_lat);
		}
		g_string_append(o, "}");
	}
	/* the FUSE handlers' time, next to the servers' above: the rest of a
	 * fault is the kernel's (docs/performance.md, where the time goes) */
	g_string_append(o, "\n  ],\n  \"page_path\": {\"fuse_read_us\": ");
	json_hist(o, &fs->fuse_read_lat);
	g_string_append(o, ", \"fuse_write_us\": ");
	json_hist(o, &fs->fuse_write_lat);
	{
		struct awrite_stats aw;

		awrite_stats(fs, &aw);
		g_string_append_printf(o,
				       ", \"async_writes\": {\"taken\": %" PRIu64
				       ", \"retried\": %" PRIu64 ", \"in_flight\": %" PRIu64 "}",
				       aw.taken, aw.retried, aw.in_flight);
	}
	{
		struct fa_stats fa;

		fetchahead_stats(fs, &fa);
		g_string_append_printf(o,
				       ", \"fetch_ahead\": {\"max\": %" PRIu64
				       ", \"windows\": %" PRIu64 ", \"bytes\": %" PRIu64
				       ", \"used_bytes\": %" PRIu64 ", \"dropped_bytes\": %" PRIu64
				       ", \"waits\": %" PRIu64 ", \"stale\": %" PRIu64
				       ", \"errors\": %" PRIu64 ", \"reclaimed\": %" PRIu64 "}",
				       fs->set.fetch_ahead, fa.windows, fa.bytes, fa.used_bytes,
				       fa.dropped_bytes, fa.waits, fa.stale, fa.errors,
				       fa.reclaimed);
	}
	g_string_append(o, "},");
	g_string_append_printf(o,
			       "\n  \"pool\": {\"capacity\": %" PRIu64 ", \"free\": %" PRIu64
			       ", \"used\": %" PRIu64 ", \"held_by_this_mount\": %" PRIu64 "},",
			       cap, free_b, cap - free_b, held);
	g_string_append_printf(
		o,
		"\n  \"replication\": {\"replicas\": %u, \"degraded_bytes\": %" PRIu64
		", \"unprotected_bytes\": %" PRIu64 ", \"lost_bytes\": %" PRIu64
		", \"repair_done_bytes\": %" PRIu64 ", \"repair_rate_bytes_per_s\": %" PRIu64
		", \"repair_rate_limit_bytes_per_s\": %" PRIu64
		", \"repair_rate_busy_limit_bytes_per_s\": %" PRIu64
		", \"repair_rate_limit_in_force_bytes_per_s\": %" PRIu64
		", \"repair_blocked_extents\": %" PRIu64 ", \"repair_waiting_extents\": %" PRIu64
		", \"repair_handoff_extents\": %" PRIu64 "},\n  \"files\": [",
		fs->set.replicas, rs.degraded_bytes, rs.unprotected_bytes, rs.lost_bytes,
		rs.repair_done_bytes, rs.repair_rate_bps, fs->set.repair_rate,
		fs->set.repair_rate_busy, rs.repair_rate_limit, rs.repair_blocked,
		rs.repair_waiting, rs.repair_handoff);
	{
		struct pf_mount_stats m;

		mount_prefetch(fs, rows, &m);
		/* before "files": the mount's prefetch, as one object */
		g_string_truncate(o, o->len - strlen("\n  \"files\": ["));
		g_string_append_printf(o, "\n  \"prefetch\": {\"mode\": \"%s\", ",
				       prefetch_mode_name(prefetch_mode_parse(fs->set.prefetch)));
		json_pf_counters(o, &m.c);
		g_string_append_printf(o,
				       ", \"throttled\": %" PRIu64 ", \"server_down\": %" PRIu64
				       ", \"helpers_started\": %" PRIu64 ", \"helpers\": %u"
				       ", \"hugepage_trap_files\": %u},\n  \"files\": [",
				       m.throttled, m.server_down, m.helpers, m.helpers_live,
				       m.trap_files);
	}
	for (guint i = 0; i < rows->len; i++) {
		struct file_row *r = &g_array_index(rows, struct file_row, i);

		g_string_append_printf(o, "%s\n    {\"path\": ", i ? "," : "");
		json_string(o, r->path);
		g_string_append_printf(
			o,
			", \"size\": %" PRIu64 ", \"reserved\": %" PRIu64
			", \"replicas\": %u, \"degraded_bytes\": %" PRIu64
			", \"unprotected_bytes\": %" PRIu64 ", \"reads\": %" PRIu64
			", \"writes\": %" PRIu64 ", \"bytes_read\": %" PRIu64
			", \"bytes_written\": %" PRIu64 ", \"prefetch\": {\"verdict\": ",
			r->size, r->reserved, r->replicas, r->degraded, r->unprotected, r->io.reads,
			r->io.writes, r->io.bytes_read, r->io.bytes_written);
		json_string(o, r->pf.verdict);
		g_string_append_printf(o, ", \"depth\": %u, \"hugepage_trap\": %s, ", r->pf.depth,
				       r->pf.hugepage_trap ? "true" : "false");
		json_pf_counters(o, &r->pf.c);
		g_string_append(o, "}}");
	}
	g_string_append(o, "\n  ]\n}\n");
	free_rows(fs, rows);
	return g_string_free(o, FALSE);
}

static void prom_head(GString *o, const char *name, const char *type, const char *help)
{
	g_string_append_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *fs_stats_prometheus(struct fs *fs)
{
	static const struct {
		const char *name, *type, *help;
	} srv_metrics[] = {
		{ "vofirm_server_up", "gauge", "1 when the memory server is connected" },
		{ "vofirm_server_lost", "gauge",
		  "1 when the server's data for this mount is lost" },
		{ "vofirm_server_capacity_bytes", "gauge", "memory the server donates" },
		{ "vofirm_server_free_bytes", "gauge", "memory the server has free" },
		{ "vofirm_server_held_bytes", "gauge", "memory this mount holds on the server" },
		{ "vofirm_server_reads_total", "counter", "read requests to the server" },
		{ "vofirm_server_writes_total", "counter", "write requests to the server" },
		{ "vofirm_server_read_bytes_total", "counter", "bytes read from the server" },
		{ "vofirm_server_written_bytes_total", "counter", "bytes written to the server" },
		{ "vofirm_server_errors_total", "counter", "requests that failed" },
		{ "vofirm_server_requests_sent_total", "counter",
		  "requests sent to the server (data and control)" },
		{ "vofirm_server_send_calls_total", "counter",
		  "system calls (TCP) or work requests (RDMA) that sent them" },
		{ "vofirm_server_draining", "gauge",
		  "1 while the server is drained: no new memory there, its copies move off" },
		{ "vofirm_server_answering", "gauge",
		  "1 when the server is up and answers (0: down, or a request to it has "
		  "waited unanswered; its figures are the last seen)" },
	};
	static const struct {
		const char *name, *type, *help;
	} repl_metrics[] = {
		{ "vofirm_replication_replicas", "gauge",
		  "copies of each extent the mount keeps unless a file asks otherwise" },
		{ "vofirm_replication_degraded_bytes", "gauge",
		  "file bytes with fewer healthy copies than asked" },
		{ "vofirm_replication_unprotected_bytes", "gauge",
		  "file bytes with one healthy copy left while more were asked" },
		{ "vofirm_replication_lost_bytes", "gauge",
		  "file bytes with no healthy copy left" },
		{ "vofirm_replication_repair_done_bytes_total", "counter",
		  "bytes copied by repairs (rebuilt or moved copies)" },
		{ "vofirm_replication_repair_rate_bytes_per_second", "gauge",
		  "repair copy rate, measured over the last window" },
		{ "vofirm_replication_repair_rate_limit_bytes_per_second", "gauge",
		  "the most a repair may copy per second (--repair-rate; 0: no limit)" },
		{ "vofirm_replication_repair_rate_busy_limit_bytes_per_second", "gauge",
		  "the same while the files are in use (--repair-rate-busy; 0: --repair-rate)" },
		{ "vofirm_replication_repair_rate_limit_in_force_bytes_per_second", "gauge",
		  "the limit the repair's last chunk went at (0: none)" },
		{ "vofirm_replication_repair_blocked_extents", "gauge",
		  "extents whose missing copy found no server with room" },
		{ "vofirm_replication_repair_waiting_extents", "gauge",
		  "extents whose missing copy waits for a server that is down" },
		{ "vofirm_replication_repair_handoff_extents", "gauge",
		  "extents whose copies wait for a pending handoff of their file to another "
		  "mount (a live migration) to be committed or aborted" },
	};
	GString *o = g_string_new(NULL);
	/* a file held exclusively past this shows its copies as last counted */
	struct timespec dl = vf_deadline_ms(FIGURES_WAIT_MS);
	GArray *rows = file_rows(fs, &dl);
	struct srv_row r[FS_MAX_SERVERS];
	unsigned nsrv = fs_nsrv(fs);
	struct repl_stats rs;

	fs_repl_stats(fs, &rs, &dl);
	{
		uint64_t v[] = { fs->set.replicas,     rs.degraded_bytes,
				 rs.unprotected_bytes, rs.lost_bytes,
				 rs.repair_done_bytes, rs.repair_rate_bps,
				 fs->set.repair_rate,  fs->set.repair_rate_busy,
				 rs.repair_rate_limit, rs.repair_blocked,
				 rs.repair_waiting,    rs.repair_handoff };

		/* the mount as the label: a host may run several */
		for (unsigned m = 0; m < VF_ARRAY_SIZE(repl_metrics); m++) {
			prom_head(o, repl_metrics[m].name, repl_metrics[m].type,
				  repl_metrics[m].help);
			g_string_append_printf(o, "%s{mount=\"", repl_metrics[m].name);
			prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
			g_string_append_printf(o, "\"} %" PRIu64 "\n", v[m]);
		}
	}
	{
		struct awrite_stats aw;
		const char *names[] = { "vofirm_fs_async_writes_total",
					"vofirm_fs_async_writes_retried_total" };
		const char *helps[] = {
			"FUSE writes answered asynchronously, when every copy had them",
			"of those, writes that failed somewhere and were finished the "
			"synchronous way (stale copies, waits for a server)"
		};

		awrite_stats(fs, &aw);
		for (unsigned m = 0; m < 2; m++) {
			prom_head(o, names[m], "counter", helps[m]);
			g_string_append_printf(o, "%s{mount=\"", names[m]);
			prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
			g_string_append_printf(o, "\"} %" PRIu64 "\n", m ? aw.retried : aw.taken);
		}
	}
	{
		struct fa_stats fa;
		const struct {
			const char *name, *help;
			uint64_t *v;
		} fm[] = {
			{ "vofirm_fs_fetch_ahead_bytes_total",
			  "bytes read from the servers ahead of a sequential reader", &fa.bytes },
			{ "vofirm_fs_fetch_ahead_used_bytes_total",
			  "of those, bytes that answered a READ", &fa.used_bytes },
			{ "vofirm_fs_fetch_ahead_dropped_bytes_total",
			  "of those, bytes dropped unused (the reader went elsewhere)",
			  &fa.dropped_bytes },
			{ "vofirm_fs_fetch_ahead_stale_total",
			  "windows dropped because their range was written since (or the file "
			  "was truncated, punched or handed off)",
			  &fa.stale },
		};

		fetchahead_stats(fs, &fa);
		for (unsigned m = 0; m < VF_ARRAY_SIZE(fm); m++) {
			prom_head(o, fm[m].name, "counter", fm[m].help);
			g_string_append_printf(o, "%s{mount=\"", fm[m].name);
			prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
			g_string_append_printf(o, "\"} %" PRIu64 "\n", *fm[m].v);
		}
	}
	if (fs->st.hdr) {
		prom_head(o, "vofirm_fs_worker_restarts_total", "counter",
			  "workers started after the first (crashes and planned restarts)");
		g_string_append(o, "vofirm_fs_worker_restarts_total{mount=\"");
		prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
		g_string_append_printf(
			o, "\"} %u\n",
			__atomic_load_n(&fs->st.hdr->worker_restarts, __ATOMIC_ACQUIRE));
	}
	for (unsigned i = 0; i < nsrv; i++)
		srv_row(fs, &fs->srv[i], &r[i]);
	for (unsigned m = 0; m < VF_ARRAY_SIZE(srv_metrics); m++) {
		prom_head(o, srv_metrics[m].name, srv_metrics[m].type, srv_metrics[m].help);
		for (unsigned i = 0; i < nsrv; i++) {
			struct server *s = &fs->srv[i];
			if (superseded(fs, i, nsrv, r))
				continue;
			uint64_t v[] = { r[i].state == SRV_UP,
					 r[i].state == SRV_LOST,
					 r[i].capacity,
					 r[i].free,
					 r[i].held,
					 ld(&s->io.reads),
					 ld(&s->io.writes),
					 ld(&s->io.bytes_read),
					 ld(&s->io.bytes_written),
					 ld(&s->io.errors),
					 srv_tx(s, false),
					 srv_tx(s, true),
					 r[i].draining,
					 r[i].answering };

			g_string_append_printf(o, "%s{server=\"", srv_metrics[m].name);
			prom_label(o, r[i].url);
			g_string_append_printf(o, "\"} %" PRIu64 "\n", v[m]);
		}
	}
	prom_head(o, "vofirm_server_figures_age_seconds", "gauge",
		  "how old the server's capacity and free figures are (refreshed by df, "
		  "the stats files and the heartbeat; none before the server first answers)");
	for (unsigned i = 0; i < nsrv; i++) {
		if (superseded(fs, i, nsrv, r) || r[i].figures_age_ms < 0)
			continue;
		g_string_append(o, "vofirm_server_figures_age_seconds{server=\"");
		prom_label(o, r[i].url);
		g_string_append_printf(o, "\"} %.3f\n", (double)r[i].figures_age_ms / 1000.0);
	}
	for (int w = 0; w < 2; w++) {
		const char *name = w ? "vofirm_server_write_latency_seconds"
				     : "vofirm_server_read_latency_seconds";

		prom_head(o, name, "summary",
			  w ? "time to write a piece to the server"
			    : "time to read a piece from the server");
		for (unsigned i = 0; i < nsrv; i++) {
			const struct hist *h = w ? &fs->srv[i].write_lat : &fs->srv[i].read_lat;
			uint64_t count = 0;

			if (superseded(fs, i, nsrv, r))
				continue;
			for (unsigned q = 0; q < VF_ARRAY_SIZE(quantiles); q++) {
				g_string_append_printf(o, "%s{server=\"", name);
				prom_label(o, r[i].url);
				g_string_append_printf(
					o, "\",quantile=\"%g\"} %.9f\n", quantiles[q],
					(double)hist_quantile(h, quantiles[q]) / 1e9);
			}
			for (unsigned b = 0; b < HIST_BUCKETS; b++)
				count += ld(&h->count[b]);
			g_string_append_printf(o, "%s_count{server=\"", name);
			prom_label(o, r[i].url);
			g_string_append_printf(o, "\"} %" PRIu64 "\n", count);
		}
	}
	static const struct {
		const char *name, *type, *help;
	} file_metrics[] = {
		{ "vofirm_file_size_bytes", "gauge", "size of the file" },
		{ "vofirm_file_reserved_bytes", "gauge", "remote memory reserved for the file" },
		{ "vofirm_file_reads_total", "counter", "FUSE reads of the file" },
		{ "vofirm_file_writes_total", "counter", "FUSE writes to the file" },
		{ "vofirm_file_read_bytes_total", "counter", "bytes read from the file" },
		{ "vofirm_file_written_bytes_total", "counter", "bytes written to the file" },
		{ "vofirm_file_replicas", "gauge", "copies of each extent the file asks for" },
		{ "vofirm_file_degraded_bytes", "gauge",
		  "bytes of the file with fewer healthy copies than asked" },
		{ "vofirm_file_unprotected_bytes", "gauge",
		  "bytes of the file with one healthy copy left while more were asked" },
		{ "vofirm_file_prefetch_demand_misses_total", "counter",
		  "demand READs (page cache misses) of the file" },
		{ "vofirm_file_prefetch_prefetched_pages_total", "counter",
		  "pages of the file read ahead by the prefetcher" },
		{ "vofirm_file_prefetch_used_pages_total", "counter",
		  "prefetched pages of the file used before they were evicted" },
		{ "vofirm_file_prefetch_wasted_pages_total", "counter",
		  "prefetched pages of the file missed again" },
		{ "vofirm_file_prefetch_depth", "gauge",
		  "accesses its leading stream reads ahead (0: no trend)" },
	};
	{
		static const struct {
			const char *name, *type, *help;
		} pf_metrics[] = {
			{ "vofirm_prefetch_demand_misses_total", "counter",
			  "demand READs (page cache misses) of the mount's files" },
			{ "vofirm_prefetch_demand_pages_total", "counter",
			  "pages the misses asked for" },
			{ "vofirm_prefetch_prefetched_pages_total", "counter",
			  "pages read ahead by the prefetcher" },
			{ "vofirm_prefetch_used_pages_total", "counter",
			  "prefetched pages used before they were evicted" },
			{ "vofirm_prefetch_wasted_pages_total", "counter",
			  "prefetched pages missed again (evicted before use)" },
			{ "vofirm_prefetch_expired_pages_total", "counter",
			  "prefetched pages whose stream ended before them" },
			{ "vofirm_prefetch_cached_pages_total", "counter",
			  "pages asked for that the page cache held already (nothing read)" },
			{ "vofirm_prefetch_late_pages_total", "counter",
			  "pages asked for that a demand miss read first" },
			{ "vofirm_prefetch_pending_pages", "gauge",
			  "prefetched pages not yet known used or not" },
			{ "vofirm_prefetch_dropped_pages_total", "counter",
			  "pages not prefetched: busy link, server down, queue full, punched" },
			{ "vofirm_prefetch_errors_total", "counter", "prefetch READs that failed" },
			{ "vofirm_prefetch_throttled_total", "counter",
			  "windows not asked for while demand misses filled the link" },
			{ "vofirm_prefetch_server_down_total", "counter",
			  "windows dropped because a server of the range was not up" },
			{ "vofirm_prefetch_hugepage_trap_files", "gauge",
			  "files read in 2 MiB bursts around single misses (MADV_HUGEPAGE: "
			  "QEMU without libvofirm-qemu.so)" },
		};
		struct pf_mount_stats pm;

		mount_prefetch(fs, rows, &pm);
		uint64_t v[] = { pm.c.demand_misses, pm.c.demand_pages, pm.c.prefetched_pages,
				 pm.c.used,	     pm.c.wasted,	pm.c.expired,
				 pm.c.cached,	     pm.c.late,		pm.c.pending,
				 pm.c.dropped,	     pm.c.errors,	pm.throttled,
				 pm.server_down,     pm.trap_files };

		for (unsigned m = 0; m < VF_ARRAY_SIZE(pf_metrics); m++) {
			prom_head(o, pf_metrics[m].name, pf_metrics[m].type, pf_metrics[m].help);
			g_string_append_printf(o, "%s{mount=\"", pf_metrics[m].name);
			prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
			g_string_append_printf(o, "\"} %" PRIu64 "\n", v[m]);
		}
		prom_head(o, "vofirm_prefetch_hit_ratio", "gauge",
			  "prefetched pages used, of those known used or not");
		g_string_append(o, "vofirm_prefetch_hit_ratio{mount=\"");
		prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
		g_string_append_printf(o, "\"} %.4f\n", pf_hit_rate(&pm.c));
		prom_head(o, "vofirm_prefetch_amplification_ratio", "gauge",
			  "pages read from the file system per page a miss needed");
		g_string_append(o, "vofirm_prefetch_amplification_ratio{mount=\"");
		prom_label(o, fs->set.mountpoint ? fs->set.mountpoint : "");
		g_string_append_printf(o, "\"} %.4f\n", pf_amplification(&pm.c));
		prom_head(
			o, "vofirm_file_prefetch_verdict", "gauge",
			"the prefetch detector's verdict on the file: 0 none, 1 random, "
			"2 sequential, 3 reverse, 4 strided, 5 hugepage-trap (stats.json names it)");
		for (guint i = 0; i < rows->len; i++) {
			struct file_row *f = &g_array_index(rows, struct file_row, i);
			const char *vd = f->pf.verdict;
			int code = !strcmp(vd, "random")	  ? 1
				   : !strcmp(vd, "sequential")	  ? 2
				   : !strcmp(vd, "reverse")	  ? 3
				   : !strncmp(vd, "strided", 7)	  ? 4
				   : !strcmp(vd, "hugepage-trap") ? 5
								  : 0;

			g_string_append(o, "vofirm_file_prefetch_verdict{path=\"");
			prom_label(o, f->path);
			g_string_append_printf(o, "\"} %d\n", code);
		}
	}
	for (unsigned m = 0; m < VF_ARRAY_SIZE(file_metrics); m++) {
		prom_head(o, file_metrics[m].name, file_metrics[m].type, file_metrics[m].help);
		for (guint i = 0; i < rows->len; i++) {
			struct file_row *f = &g_array_index(rows, struct file_row, i);
			uint64_t v[] = { f->size,
					 f->reserved,
					 f->io.reads,
					 f->io.writes,
					 f->io.bytes_read,
					 f->io.bytes_written,
					 f->replicas,
					 f->degraded,
					 f->unprotected,
					 f->pf.c.demand_misses,
					 f->pf.c.prefetched_pages,
					 f->pf.c.used,
					 f->pf.c.wasted,
					 f->pf.depth };

			g_string_append_printf(o, "%s{path=\"", file_metrics[m].name);
			prom_label(o, f->path);
			g_string_append_printf(o, "\"} %" PRIu64 "\n", v[m]);
		}
	}
	free_rows(fs, rows);
	return g_string_free(o, FALSE);
}
