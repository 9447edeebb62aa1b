/*
 * snapshot.h - whole-machine snapshots: a small serializer every block uses to
 * write its own state (xxx_save) and read it back (xxx_load), and the file
 * around it (--snapshot-save, --snapshot-load, docs/design.md "Snapshots").
 *
 * Design decision: nothing is saved as raw struct bytes. Each block writes
 * its fields one by one into a tagged section (name + length), and its load
 * reads them in the same order; a section that is missing, foreign, or read
 * to a different length is an error naming the section. Pointers (lines,
 * event callbacks, the bus) are never saved: they are wiring, rebuilt by the
 * board before the state is loaded into it. An embedded `struct event` is
 * saved as (scheduled, when, seq), and the queue is rebuilt from all of them
 * after the load with the same sequence numbers, so equal-time events fire in
 * the order they would have.
 *
 * File: magic "SPKSNAP\0", u32 format version, u16 length and the build
 * identity string, u64 payload length, u64 stored length, u32 CRC-32 of the
 * stored bytes, then the payload (its sections) deflated with zlib. All
 * numbers little-endian.
 */
#ifndef EMU_SNAPSHOT_H
#define EMU_SNAPSHOT_H

#include "sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "SPKSNAP"    /* 8 bytes with its NUL */
#define SNAP_FORMAT_VERSION 1u

/* ---- writing ------------------------------------------------------------- */

struct snap_writer {
    uint8_t *buf;
    size_t len, cap;
    bool failed;          /* out of memory: the snapshot is not written */
    size_t section_len_at; /* where the open section's length goes; 0: none open */
};

void snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
void snap_begin(struct snap_writer *w, const char *section);
void snap_end(struct snap_writer *w);
void snap_u8(struct snap_writer *w, uint8_t v);
void snap_bool(struct snap_writer *w, bool v);
void snap_u16(struct snap_writer *w, uint16_t v);
void snap_u32(struct snap_writer *w, uint32_t v);
void snap_u64(struct snap_writer *w, uint64_t v);
void snap_i32(struct snap_writer *w, int32_t v);
void snap_bytes(struct snap_writer *w, const void *p, size_t n);
/* An embedded event: scheduled?, when, seq. */
void snap_event(struct snap_writer *w, const struct event *e);

/* ---- reading ------------------------------------------------------------- */

struct snap_restored_event {
    struct event *e;
    uint64_t when, seq;
};

struct snap_reader {
    const uint8_t *buf;
    size_t len, pos;
    bool failed;            /* sticky: every later read returns 0 */
    char err[256];
    char section[32];       /* the section being read, for messages */
    size_t section_end;
    /* events read so far that were scheduled: the queue is rebuilt from them */
    struct snap_restored_event *events;
    int nevents, events_cap;
};

void snap_reader_init(struct snap_reader *r, const uint8_t *buf, size_t len);
void snap_reader_free(struct snap_reader *r);
/* Enter the next section, which must be `section`; false (and r->err) otherwise. */
bool snap_enter(struct snap_reader *r, const char *section);
/* Leave it: every byte must have been read. */
bool snap_leave(struct snap_reader *r);
/* The name of the next section, or "" at the end ("?" if unreadable). */
void snap_peek_section(const struct snap_reader *r, char *name, size_t len);
uint8_t snap_get_u8(struct snap_reader *r);
bool snap_get_bool(struct snap_reader *r);
uint16_t snap_get_u16(struct snap_reader *r);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
int32_t snap_get_i32(struct snap_reader *r);
void snap_get_bytes(struct snap_reader *r, void *p, size_t n);
/* An embedded event (initialised already): cancelled now, queued again by snap_restore_events. */
void snap_get_event(struct snap_reader *r, struct event *e);
/* A value out of range for the block: fail with "section: what". Returns !cond... as a check. */
bool snap_check(struct snap_reader *r, bool ok, const char *what);
void snap_fail(struct snap_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty the queue and put every restored event back with its own time and sequence number. */
void snap_restore_events(struct snap_reader *r, struct sim *sim, uint64_t now, uint64_t seq);

/* ---- one field list for both directions ------------------------------------ */

/*
 * A block describes its state once, in a function that passes each field to
 * these: the same function then saves (io->w) or loads (io->r), so the two
 * can never disagree on order or width. Loading checks nothing but the
 * framing; a block adds snap_io_check() for values its code relies on (an
 * index, a count).
 */
struct snap_io {
    struct snap_writer *w; /* saving, or */
    struct snap_reader *r; /* loading */
};
void snap_io_u8(struct snap_io *io, uint8_t *v);
void snap_io_bool(struct snap_io *io, bool *v);
void snap_io_u16(struct snap_io *io, uint16_t *v);
void snap_io_u32(struct snap_io *io, uint32_t *v);
void snap_io_u64(struct snap_io *io, uint64_t *v);
void snap_io_int(struct snap_io *io, int *v);
void snap_io_unsigned(struct snap_io *io, unsigned *v);
void snap_io_bytes(struct snap_io *io, void *p, size_t n);
void snap_io_event(struct snap_io *io, struct event *e);
/* Loading: fail with `what` unless ok (saving: nothing). Returns ok. */
bool snap_io_check(struct snap_io *io, bool ok, const char *what);
#define SNAP_IO_U16S(io, a) for (size_t i_ = 0; i_ < sizeof(a) / sizeof((a)[0]); i_++) snap_io_u16((io), &(a)[i_])
#define SNAP_IO_U32S(io, a) for (size_t i_ = 0; i_ < sizeof(a) / sizeof((a)[0]); i_++) snap_io_u32((io), &(a)[i_])
#define SNAP_IO_BOOLS(io, a) for (size_t i_ = 0; i_ < sizeof(a) / sizeof((a)[0]); i_++) snap_io_bool((io), &(a)[i_])

/* The usual pair, from a block's field list: xxx_save(const struct xxx *, w) and xxx_load(struct xxx *, r). */
#define SNAP_DEFINE_PAIR(prefix, type, fields)                                                                 \
    void prefix##_save(const type *d, struct snap_writer *w)                                                  \
    {                                                                                                          \
        struct snap_io io = {w, NULL};                                                                         \
        fields((type *)d, &io);                                                                                \
    }                                                                                                          \
    void prefix##_load(type *d, struct snap_reader *r)                                                        \
    {                                                                                                          \
        struct snap_io io = {NULL, r};                                                                         \
        fields(d, &io);                                                                                        \
    }

/* ---- the file ------------------------------------------------------------ */

/* The build identity written into every snapshot: a snapshot loads only into the same build. */
const char *snap_build_identity(void);
uint32_t snap_crc32(const uint8_t *p, size_t n);
/* Write the payload as a snapshot file (through FILE.tmp and a rename). */
int snap_file_write(const char *path, const struct snap_writer *w, char *err, size_t errlen);
/*
 * Read and check a snapshot file: magic, format version, build identity,
 * length and checksum. On success *payload (malloc'd) and *len hold the
 * payload; on failure err names the file and the problem.
 */
int snap_file_read(const char *path, uint8_t **payload, size_t *len, char *err, size_t errlen);

#endif
