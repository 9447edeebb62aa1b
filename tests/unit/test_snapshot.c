/*
 * test_snapshot.c - the snapshot serializer (emu/snapshot.c): values round
 * trip, sections are checked by name and length, reads never pass the end,
 * events come back into the queue in their old order, and the file's checks
 * (magic, version, identity, length, CRC-32, the deflated payload) each name
 * what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "emu/snapshot.h"
#include "emu/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_crc32_check_value(void **state)
{
    (void)state;
    /* the CRC-32 check value of "123456789" */
    assert_int_equal(snap_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(snap_crc32(NULL, 0), 0);
}

struct thing {
    uint8_t a;
    bool b;
    uint16_t c;
    uint32_t d[3];
    uint64_t e;
    int f;
};

static void thing_fields(struct thing *t, struct snap_io *io)
{
    snap_io_u8(io, &t->a);
    snap_io_bool(io, &t->b);
    snap_io_u16(io, &t->c);
    SNAP_IO_U32S(io, t->d);
    snap_io_u64(io, &t->e);
    snap_io_int(io, &t->f);
    snap_io_check(io, t->f >= -5, "f out of range");
}

SNAP_DEFINE_PAIR(thing, struct thing, thing_fields)

static void test_round_trip_and_sections(void **state)
{
    (void)state;
    struct thing in = {0xA5, true, 0xBEEF, {1, 0x80000000u, 0xFFFFFFFFu}, 0x0123456789ABCDEFull, -3}, out;
    struct snap_writer w;
    snap_writer_init(&w);
    snap_begin(&w, "THING");
    thing_save(&in, &w);
    snap_end(&w);
    snap_begin(&w, "EMPTY");
    snap_end(&w);
    assert_false(w.failed);

    struct snap_reader r;
    snap_reader_init(&r, w.buf, w.len);
    memset(&out, 0, sizeof out);
    assert_true(snap_enter(&r, "THING"));
    thing_load(&out, &r);
    assert_true(snap_leave(&r));
    /* field by field: the struct's tail padding is not a value (garbage in `in`, zeros in `out`) */
    assert_int_equal(out.a, in.a);
    assert_int_equal(out.b, in.b);
    assert_int_equal(out.c, in.c);
    assert_memory_equal(out.d, in.d, sizeof in.d);
    assert_true(out.e == in.e);
    assert_int_equal(out.f, in.f);
    char next[32];
    snap_peek_section(&r, next, sizeof next);
    assert_string_equal(next, "EMPTY");
    assert_true(snap_enter(&r, "EMPTY"));
    assert_true(snap_leave(&r));
    assert_int_equal(r.pos, r.len);
    /* past the end: a missing section, named */
    assert_false(snap_enter(&r, "MORE"));
    assert_non_null(strstr(r.err, "section MORE: missing"));
    snap_reader_free(&r);

    /* a foreign section name */
    snap_reader_init(&r, w.buf, w.len);
    assert_false(snap_enter(&r, "OTHER"));
    assert_non_null(strstr(r.err, "found section 'THING'"));
    snap_reader_free(&r);

    /* a section read short, and one read past its end: each is the section's error */
    snap_reader_init(&r, w.buf, w.len);
    assert_true(snap_enter(&r, "THING"));
    (void)snap_get_u8(&r);
    assert_false(snap_leave(&r));
    assert_non_null(strstr(r.err, "section THING:"));
    assert_non_null(strstr(r.err, "not read"));
    snap_reader_free(&r);
    snap_reader_init(&r, w.buf, w.len);
    assert_true(snap_enter(&r, "EMPTY") == false); /* THING comes first */
    snap_reader_free(&r);

    /* a value out of range fails with the block's words; later reads give zeros */
    struct thing bad = in;
    bad.f = -9;
    struct snap_writer w2;
    snap_writer_init(&w2);
    snap_begin(&w2, "THING");
    thing_save(&bad, &w2);
    snap_end(&w2);
    snap_reader_init(&r, w2.buf, w2.len);
    assert_true(snap_enter(&r, "THING"));
    thing_load(&out, &r);
    assert_true(r.failed);
    assert_string_equal(r.err, "section THING: f out of range");
    assert_int_equal(snap_get_u32(&r), 0);
    snap_reader_free(&r);

    /* truncated inside a section: the length check catches it before any read */
    snap_reader_init(&r, w.buf, 20);
    assert_false(snap_enter(&r, "THING"));
    assert_non_null(strstr(r.err, "only"));
    snap_reader_free(&r);
    snap_writer_free(&w);
    snap_writer_free(&w2);
}

static int fired[8], nfired;
static void record(struct sim *sim, void *opaque)
{
    (void)sim;
    fired[nfired++] = (int)(intptr_t)opaque;
}

static void test_events_come_back_in_order(void **state)
{
    (void)state;
    struct sim a, b;
    sim_init(&a);
    sim_init(&b);
    struct event ea[4], eb[4];
    for (int i = 0; i < 4; i++) {
        event_init(&ea[i], record, (void *)(intptr_t)i, "a");
        event_init(&eb[i], record, (void *)(intptr_t)i, "b");
    }
    /* equal times fire in scheduling order: 2 before 0 at t=100, then 3 at 200; 1 is not scheduled */
    event_schedule(&a, &ea[2], 100);
    event_schedule(&a, &ea[1], 50);
    event_schedule(&a, &ea[0], 100);
    event_schedule(&a, &ea[3], 200);
    event_cancel(&a, &ea[1]);
    a.clock.now = 10;

    struct snap_writer w;
    snap_writer_init(&w);
    snap_begin(&w, "EV");
    for (int i = 0; i < 4; i++)
        snap_event(&w, &ea[i]);
    snap_end(&w);

    /* b has its own queue with an event scheduled that is not in the snapshot */
    event_schedule(&b, &eb[1], 5);
    struct snap_reader r;
    snap_reader_init(&r, w.buf, w.len);
    assert_true(snap_enter(&r, "EV"));
    for (int i = 0; i < 4; i++)
        snap_get_event(&r, &eb[i]);
    assert_true(snap_leave(&r));
    snap_restore_events(&r, &b, a.clock.now, a.clock.seq);
    assert_false(event_pending(&eb[1]));
    assert_int_equal(b.clock.count, 3);
    assert_int_equal(b.clock.deadline, 100);
    assert_int_equal(b.clock.seq, a.clock.seq);
    b.clock.now = 1000;
    nfired = 0;
    clock_run_due(&b);
    assert_int_equal(nfired, 3);
    assert_int_equal(fired[0], 2);
    assert_int_equal(fired[1], 0);
    assert_int_equal(fired[2], 3);
    snap_reader_free(&r);
    snap_writer_free(&w);
    clock_free(&a.clock);
    clock_free(&b.clock);
}

static char *write_snapshot(const uint8_t *payload, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/test_snapshot_%d.snap", (int)getpid());
    struct snap_writer w;
    snap_writer_init(&w);
    snap_bytes(&w, payload, n);
    char err[256];
    assert_int_equal(snap_file_write(path, &w, err, sizeof err), 0);
    snap_writer_free(&w);
    return path;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void flip(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

/* Damage the stored payload at `at` and give the header the checksum of what is stored now. */
static void corrupt_keeping_crc(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    uint8_t *b = malloc((size_t)n);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    size_t idlen = (size_t)(b[12] | b[13] << 8), h = 14 + idlen + 20;
    for (long i = at; i < at + 16 && i < n; i++)
        b[i] ^= 0x5A;
    uint32_t crc = snap_crc32(b + h, (size_t)n - h);
    for (int i = 0; i < 4; i++)
        b[h - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(b);
}

static void patch(const char *path, long at, uint8_t value)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, at, SEEK_SET);
    fputc(value, f);
    fclose(f);
}

static void expect_error(const char *path, const char *words)
{
    uint8_t *p;
    size_t n;
    char err[512];
    assert_int_equal(snap_file_read(path, &p, &n, err, sizeof err), -1);
    assert_null(p);
    if (!strstr(err, words))
        fail_msg("expected '%s' in: %s", words, err);
}

static void test_file_checks(void **state)
{
    (void)state;
    uint8_t payload[300];
    for (int i = 0; i < 300; i++)
        payload[i] = (uint8_t)(i * 7);
    char *path = write_snapshot(payload, sizeof payload);
    uint8_t *p;
    size_t n;
    char err[512];
    assert_int_equal(snap_file_read(path, &p, &n, err, sizeof err), 0);
    assert_int_equal(n, sizeof payload);
    assert_memory_equal(p, payload, n);
    free(p);
    long size = file_size(path);

    flip(path, size - 10); /* one bit of the stored payload */
    expect_error(path, "damaged: checksum");
    path = write_snapshot(payload, sizeof payload);
    corrupt_keeping_crc(path, size - 40); /* a consistent checksum over bytes that do not inflate */
    expect_error(path, "damaged: the payload does not inflate");
    path = write_snapshot(payload, sizeof payload);
    assert_int_equal(truncate(path, size - 1), 0);
    expect_error(path, "truncated");
    path = write_snapshot(payload, sizeof payload);
    patch(path, 0, 'X');
    expect_error(path, "bad magic");
    path = write_snapshot(payload, sizeof payload);
    patch(path, 8, 99); /* the format version */
    expect_error(path, "format version 99");
    path = write_snapshot(payload, sizeof payload);
    patch(path, 14, 'X'); /* the first letter of the build identity */
    expect_error(path, "made by another build");
    expect_error("/nonexistent/x.snap", "No such file");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_round_trip_and_sections),
        cmocka_unit_test(test_events_come_back_in_order),
        cmocka_unit_test(test_file_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
