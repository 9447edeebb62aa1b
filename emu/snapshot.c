/*
 * snapshot.c - the snapshot serializer and file (see snapshot.h).
 *
 * Design decision: a reader never trusts a length. Every read is bounds
 * checked against the open section, the first failure is kept with the
 * section's name, and later reads return zeros, so a block's load function is
 * straight-line code and its caller checks once.
 */
#include "snapshot.h"
#include "snapshot_id.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- writing ------------------------------------------------------------- */

void snap_writer_init(struct snap_writer *w)
{
    memset(w, 0, sizeof *w);
}

void snap_writer_free(struct snap_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void put(struct snap_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->failed = true;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void put_le(struct snap_writer *w, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, (size_t)bytes);
}

void snap_u8(struct snap_writer *w, uint8_t v) { put_le(w, v, 1); }
void snap_bool(struct snap_writer *w, bool v) { put_le(w, v ? 1 : 0, 1); }
void snap_u16(struct snap_writer *w, uint16_t v) { put_le(w, v, 2); }
void snap_u32(struct snap_writer *w, uint32_t v) { put_le(w, v, 4); }
void snap_u64(struct snap_writer *w, uint64_t v) { put_le(w, v, 8); }
void snap_i32(struct snap_writer *w, int32_t v) { put_le(w, (uint32_t)v, 4); }
void snap_bytes(struct snap_writer *w, const void *p, size_t n) { put(w, p, n); }

void snap_begin(struct snap_writer *w, const char *section)
{
    size_t n = strlen(section);
    snap_u8(w, (uint8_t)n);
    put(w, section, n);
    w->section_len_at = w->len;
    snap_u64(w, 0); /* patched by snap_end */
}

void snap_end(struct snap_writer *w)
{
    if (w->failed || !w->section_len_at)
        return;
    uint64_t n = w->len - w->section_len_at - 8;
    for (int i = 0; i < 8; i++)
        w->buf[w->section_len_at + (size_t)i] = (uint8_t)(n >> (8 * i));
    w->section_len_at = 0;
}

void snap_event(struct snap_writer *w, const struct event *e)
{
    snap_bool(w, event_pending(e));
    snap_u64(w, event_pending(e) ? e->when : 0);
    snap_u64(w, event_pending(e) ? e->seq : 0);
}

/* ---- reading ------------------------------------------------------------- */

void snap_reader_init(struct snap_reader *r, const uint8_t *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    r->buf = buf;
    r->len = len;
    r->section_end = len;
    snprintf(r->section, sizeof r->section, "header");
}

void snap_reader_free(struct snap_reader *r)
{
    free(r->events);
    r->events = NULL;
    r->nevents = r->events_cap = 0;
}

void snap_fail(struct snap_reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "section %s: %s", r->section, what);
}

bool snap_check(struct snap_reader *r, bool ok, const char *what)
{
    if (!ok)
        snap_fail(r, "%s", what);
    return ok;
}

static bool get(struct snap_reader *r, void *p, size_t n)
{
    if (!r->failed && (r->pos > r->section_end || n > r->section_end - r->pos))
        snap_fail(r, "ends after %zu bytes, %zu more were expected", r->pos, n);
    if (r->failed) {
        memset(p, 0, n);
        return false;
    }
    memcpy(p, r->buf + r->pos, n);
    r->pos += n;
    return true;
}

static uint64_t get_le(struct snap_reader *r, int bytes)
{
    uint8_t b[8];
    if (!get(r, b, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

uint8_t snap_get_u8(struct snap_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t snap_get_u16(struct snap_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t snap_get_u32(struct snap_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t snap_get_u64(struct snap_reader *r) { return get_le(r, 8); }
int32_t snap_get_i32(struct snap_reader *r) { return (int32_t)(uint32_t)get_le(r, 4); }
void snap_get_bytes(struct snap_reader *r, void *p, size_t n) { get(r, p, n); }

bool snap_get_bool(struct snap_reader *r)
{
    uint8_t v = snap_get_u8(r);
    snap_check(r, v <= 1, "a flag is neither 0 nor 1");
    return v == 1;
}

/* The section header at r->pos: its name and length. */
static bool section_header(const struct snap_reader *r, char *name, size_t namelen, size_t *hdr, uint64_t *len)
{
    if (r->pos >= r->len)
        return false;
    size_t n = r->buf[r->pos];
    if (n == 0 || n >= namelen || r->len - r->pos < 1 + n + 8)
        return false;
    memcpy(name, r->buf + r->pos + 1, n);
    name[n] = '\0';
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | r->buf[r->pos + 1 + n + (size_t)i];
    *hdr = 1 + n + 8;
    *len = v;
    return true;
}

void snap_peek_section(const struct snap_reader *r, char *name, size_t len)
{
    size_t hdr;
    uint64_t n;
    if (r->pos >= r->len)
        snprintf(name, len, "%s", "");
    else if (!section_header(r, name, len, &hdr, &n))
        snprintf(name, len, "%s", "?");
}

bool snap_enter(struct snap_reader *r, const char *section)
{
    if (r->failed)
        return false;
    char name[sizeof r->section];
    size_t hdr;
    uint64_t n;
    if (r->pos >= r->len) {
        snprintf(r->section, sizeof r->section, "%s", section);
        snap_fail(r, "missing: the snapshot ends before it");
        return false;
    }
    if (!section_header(r, name, sizeof name, &hdr, &n)) {
        snprintf(r->section, sizeof r->section, "%s", section);
        snap_fail(r, "expected here, found an unreadable section header at payload offset %zu", r->pos);
        return false;
    }
    snprintf(r->section, sizeof r->section, "%s", section);
    if (strcmp(name, section) != 0) {
        snap_fail(r, "expected here, found section '%s' (a snapshot of another machine?)", name);
        return false;
    }
    if (n > r->len - r->pos - hdr) {
        snap_fail(r, "says %llu bytes, only %zu are left", (unsigned long long)n, r->len - r->pos - hdr);
        return false;
    }
    r->pos += hdr;
    r->section_end = r->pos + (size_t)n;
    return true;
}

bool snap_leave(struct snap_reader *r)
{
    if (r->failed)
        return false;
    if (r->pos != r->section_end) {
        snap_fail(r, "%zu bytes were not read (written by another layout of this block?)", r->section_end - r->pos);
        return false;
    }
    r->section_end = r->len;
    return true;
}

void snap_get_event(struct snap_reader *r, struct event *e)
{
    bool scheduled = snap_get_bool(r);
    uint64_t when = snap_get_u64(r), seq = snap_get_u64(r);
    if (r->failed || !scheduled)
        return;
    if (r->nevents == r->events_cap) {
        int cap = r->events_cap ? r->events_cap * 2 : 64;
        struct snap_restored_event *ev = realloc(r->events, (size_t)cap * sizeof *ev);
        if (!ev) {
            snap_fail(r, "out of memory");
            return;
        }
        r->events = ev;
        r->events_cap = cap;
    }
    r->events[r->nevents++] = (struct snap_restored_event){e, when, seq};
}

void snap_restore_events(struct snap_reader *r, struct sim *sim, uint64_t now, uint64_t seq)
{
    clock_clear(&sim->clock);
    sim->clock.now = now;
    for (int i = 0; i < r->nevents; i++)
        event_restore(sim, r->events[i].e, r->events[i].when, r->events[i].seq);
    sim->clock.seq = seq;
}

/* ---- one field list for both directions ------------------------------------ */

void snap_io_u8(struct snap_io *io, uint8_t *v)
{
    if (io->w)
        snap_u8(io->w, *v);
    else
        *v = snap_get_u8(io->r);
}

void snap_io_bool(struct snap_io *io, bool *v)
{
    if (io->w)
        snap_bool(io->w, *v);
    else
        *v = snap_get_bool(io->r);
}

void snap_io_u16(struct snap_io *io, uint16_t *v)
{
    if (io->w)
        snap_u16(io->w, *v);
    else
        *v = snap_get_u16(io->r);
}

void snap_io_u32(struct snap_io *io, uint32_t *v)
{
    if (io->w)
        snap_u32(io->w, *v);
    else
        *v = snap_get_u32(io->r);
}

void snap_io_u64(struct snap_io *io, uint64_t *v)
{
    if (io->w)
        snap_u64(io->w, *v);
    else
        *v = snap_get_u64(io->r);
}

void snap_io_int(struct snap_io *io, int *v)
{
    if (io->w)
        snap_i32(io->w, (int32_t)*v);
    else
        *v = (int)snap_get_i32(io->r);
}

void snap_io_unsigned(struct snap_io *io, unsigned *v)
{
    if (io->w)
        snap_u32(io->w, (uint32_t)*v);
    else
        *v = (unsigned)snap_get_u32(io->r);
}

void snap_io_bytes(struct snap_io *io, void *p, size_t n)
{
    if (io->w)
        snap_bytes(io->w, p, n);
    else
        snap_get_bytes(io->r, p, n);
}

void snap_io_event(struct snap_io *io, struct event *e)
{
    if (io->w)
        snap_event(io->w, e);
    else
        snap_get_event(io->r, e);
}

bool snap_io_check(struct snap_io *io, bool ok, const char *what)
{
    return io->w ? true : snap_check(io->r, ok, what);
}

/* ---- the file ------------------------------------------------------------ */

const char *snap_build_identity(void)
{
    return "spark-emu " SPARK_EMU_BUILD_ID;
}

uint32_t snap_crc32(const uint8_t *p, size_t n)
{
    /* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), bit by nibble */
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15u];
        crc = (crc >> 4) ^ nibble[crc & 15u];
    }
    return ~crc;
}

static void le(uint8_t *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t from_le(const uint8_t *b, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

int snap_file_write(const char *path, const struct snap_writer *w, char *err, size_t errlen)
{
    if (w->failed) {
        snprintf(err, errlen, "%s: out of memory while taking the snapshot", path);
        return -1;
    }
    /* the payload deflated: the flashes are mostly erased, a snapshot shrinks from 2.3 MB to a few hundred KB */
    uLongf zlen = compressBound((uLong)w->len);
    uint8_t *z = malloc(zlen);
    if (!z || compress2(z, &zlen, w->buf, (uLong)w->len, 1) != Z_OK) {
        free(z);
        snprintf(err, errlen, "%s: cannot compress the snapshot", path);
        return -1;
    }
    const char *id = snap_build_identity();
    size_t idlen = strlen(id);
    uint8_t hdr[8 + 4 + 2 + 256 + 8 + 8 + 4];
    size_t h = 0;
    memcpy(hdr, SNAP_MAGIC, 8);
    h = 8;
    le(hdr + h, SNAP_FORMAT_VERSION, 4);
    h += 4;
    le(hdr + h, idlen, 2);
    h += 2;
    memcpy(hdr + h, id, idlen);
    h += idlen;
    le(hdr + h, w->len, 8);
    h += 8;
    le(hdr + h, zlen, 8);
    h += 8;
    le(hdr + h, snap_crc32(z, zlen), 4);
    h += 4;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        free(z);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write the snapshot: %s", tmp, strerror(errno));
        free(tmp);
        free(z);
        return -1;
    }
    bool ok = fwrite(hdr, 1, h, f) == h && fwrite(z, 1, zlen, f) == zlen;
    free(z);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot write the snapshot: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int snap_file_read(const char *path, uint8_t **payload, size_t *len, char *err, size_t errlen)
{
    *payload = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--snapshot-load %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1u << 20;
            uint8_t *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "--snapshot-load %s: out of memory", path);
                return -1;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool rerr = ferror(f);
    fclose(f);
    int rc = -1;
    if (rerr) {
        snprintf(err, errlen, "--snapshot-load %s: cannot read it", path);
        goto out;
    }
    if (n < 14 || memcmp(buf, SNAP_MAGIC, 8) != 0) {
        snprintf(err, errlen, "--snapshot-load %s: not a spark-emu snapshot (bad magic)", path);
        goto out;
    }
    uint32_t version = (uint32_t)from_le(buf + 8, 4);
    if (version != SNAP_FORMAT_VERSION) {
        snprintf(err, errlen, "--snapshot-load %s: snapshot format version %u, this spark-emu reads version %u",
                 path, version, SNAP_FORMAT_VERSION);
        goto out;
    }
    size_t idlen = (size_t)from_le(buf + 12, 2);
    if (n < 14 + idlen + 20) {
        snprintf(err, errlen, "--snapshot-load %s: truncated: the header is cut off after %zu bytes", path, n);
        goto out;
    }
    const char *id = snap_build_identity();
    if (idlen != strlen(id) || memcmp(buf + 14, id, idlen) != 0) {
        snprintf(err, errlen, "--snapshot-load %s: made by another build (%.*s), this is %s", path,
                 (int)(idlen < 200 ? idlen : 200), (const char *)(buf + 14), id);
        goto out;
    }
    size_t h = 14 + idlen;
    uint64_t plen = from_le(buf + h, 8), zlen = from_le(buf + h + 8, 8);
    uint32_t crc = (uint32_t)from_le(buf + h + 16, 4);
    h += 20;
    if (zlen != n - h) {
        snprintf(err, errlen, "--snapshot-load %s: %s: the header says %llu payload bytes, the file has %zu", path,
                 zlen > n - h ? "truncated" : "trailing bytes", (unsigned long long)zlen, n - h);
        goto out;
    }
    uint32_t actual = snap_crc32(buf + h, (size_t)zlen);
    if (actual != crc) {
        snprintf(err, errlen, "--snapshot-load %s: damaged: checksum 0x%08x, the header says 0x%08x", path, actual,
                 crc);
        goto out;
    }
    if (plen > (64u << 20)) {
        snprintf(err, errlen, "--snapshot-load %s: damaged: the header says %llu bytes uncompressed", path,
                 (unsigned long long)plen);
        goto out;
    }
    uint8_t *payload_buf = malloc(plen ? (size_t)plen : 1);
    uLongf got = (uLongf)plen;
    int zr = payload_buf ? uncompress(payload_buf, &got, buf + h, (uLong)zlen) : Z_MEM_ERROR;
    if (zr != Z_OK || got != plen) {
        free(payload_buf);
        snprintf(err, errlen, "--snapshot-load %s: damaged: the payload does not inflate to its %llu bytes (%s)", path,
                 (unsigned long long)plen, zr == Z_OK ? "short" : zError(zr));
        goto out;
    }
    *payload = payload_buf;
    *len = (size_t)plen;
    rc = 0;
out:
    free(buf);
    return rc;
}
