/*
 * snapshot.c - --snapshot-save FILE@TIME and the scenario's `snapshot save`:
 * when virtual time reaches a requested instant the machine calls back here
 * (machine.h, snap_take) and the whole board is written to the file.
 *
 * Design decision: requests are kept sorted by time and the machine is only
 * ever told the next one, so a run without snapshots pays nothing but one
 * compare per block. Several requests for one instant share one capture.
 */
#include "host.h"

#include "emu/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REQUESTS 32

struct host_snapshots {
    struct host *h;
    struct request {
        char *path;
        uint64_t at;
        bool taken;
    } req[MAX_REQUESTS];
    int n;
};

/* A file can be written where it is asked for: its folder exists and is writable. */
static int check_writable(const char *what, const char *path, char *err, size_t errlen)
{
    char *copy = strdup(path);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *dir = dirname(copy);
    int ok = access(dir, W_OK);
    if (ok != 0)
        snprintf(err, errlen, "%s %s: cannot write in %s: %s", what, path, dir, strerror(errno));
    free(copy);
    return ok != 0 ? -1 : 0;
}

static uint64_t next_at(const struct host_snapshots *s)
{
    uint64_t at = UINT64_MAX;
    for (int i = 0; i < s->n; i++)
        if (!s->req[i].taken && s->req[i].at < at)
            at = s->req[i].at;
    return at;
}

static void take(struct machine *m, enum snap_resume where)
{
    struct host_snapshots *s = m->snap_opaque;
    uint64_t at = next_at(s);
    struct snap_writer w;
    snap_writer_init(&w);
    char err[512] = "";
    bool saved = false;
    for (int i = 0; i < s->n; i++) {
        struct request *q = &s->req[i];
        if (q->taken || q->at != at)
            continue;
        q->taken = true;
        if (!saved) {
            spark_core_snapshot_save(s->h->board, &w, where, at);
            saved = true;
        }
        if (snap_file_write(q->path, &w, err, sizeof err)) {
            sim_log(&m->sim, LOG_ERROR, "--snapshot-save: %s", err);
            m->exit_requested = true;
            m->exit_status = EXIT_BAD_INPUT;
            m->sim.attention = true;
        } else {
            static const char *const point[] = {"the run loop", "a block's start", "a fetch stall", "a block's events"};
            sim_log(&m->sim, LOG_INFO, "snapshot %s for %.6f s: taken at %.6f s, at %s (%zu bytes before compression)",
                    q->path, (double)at / SIM_HZ, (double)m->sim.clock.now / SIM_HZ, point[where], w.len);
        }
    }
    snap_writer_free(&w);
    machine_want_snapshot(m, next_at(s));
}

static int add(struct host_snapshots *s, const char *path, uint64_t at, char *err, size_t errlen)
{
    if (s->n == MAX_REQUESTS) {
        snprintf(err, errlen, "at most %d snapshots in one run", MAX_REQUESTS);
        return -1;
    }
    char *p = strdup(path);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->req[s->n++] = (struct request){p, at, false};
    return 0;
}

int host_snapshot_request(struct host *h, const char *path, uint64_t at, char *err, size_t errlen)
{
    struct host_snapshots *s = h->snapshots;
    if (!s || check_writable("snapshot save", path, err, errlen) || add(s, path, at, err, errlen))
        return -1;
    if (h->m)
        machine_want_snapshot(h->m, next_at(s));
    return 0;
}

static int snapshots_create(struct host *h, void **self, char *err, size_t errlen)
{
    const struct options *opt = h->opt;
    struct host_snapshots *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->h = h;
    *self = s;
    h->snapshots = s;
    for (int i = 0; i < opt->nsnapshot_saves; i++) {
        const struct snapshot_spec *q = &opt->snapshot_saves[i];
        if (opt->run_for && q->at > opt->run_for && !opt->snapshot_load) {
            snprintf(err, errlen, "--snapshot-save %s@%.3fs: after the end of the run (--run-for %.3fs)", q->path,
                     (double)q->at / SIM_HZ, (double)opt->run_for / SIM_HZ);
            return -1;
        }
        if (check_writable("--snapshot-save", q->path, err, errlen) || add(s, q->path, q->at, err, errlen))
            return -1;
    }
    return 0;
}

static int snapshots_attach(struct host *h, void *self, char *err, size_t errlen)
{
    struct host_snapshots *s = self;
    struct machine *m = h->m;
    for (int i = 0; i < s->n; i++)
        if (s->req[i].at < m->sim.clock.now && m->run_origin != UINT64_MAX && s->req[i].at < m->run_origin) {
            snprintf(err, errlen, "--snapshot-save %s: %.6f s is before the loaded snapshot's instant (%.6f s)",
                     s->req[i].path, (double)s->req[i].at / SIM_HZ, (double)m->run_origin / SIM_HZ);
            return -1;
        }
    m->snap_take = take;
    m->snap_opaque = s;
    machine_want_snapshot(m, next_at(s));
    return 0;
}

static void snapshots_ended(struct host *h, void *self)
{
    struct host_snapshots *s = self;
    for (int i = 0; i < s->n; i++)
        if (!s->req[i].taken)
            sim_log(&h->m->sim, LOG_WARN, "snapshot %s at %.6f s not taken: the run ended at %.6f s", s->req[i].path,
                    (double)s->req[i].at / SIM_HZ, (double)h->m->sim.clock.now / SIM_HZ);
}

static void snapshots_destroy(struct host *h, void *self)
{
    struct host_snapshots *s = self;
    for (int i = 0; i < s->n; i++)
        free(s->req[i].path);
    free(s);
    h->snapshots = NULL;
}

const struct host_adapter host_snapshots = {
    .name = "snapshots",
    .create = snapshots_create,
    .attach = snapshots_attach,
    .ended = snapshots_ended,
    .destroy = snapshots_destroy,
};
