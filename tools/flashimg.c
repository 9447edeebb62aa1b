/*
 * flashimg.c - external-flash image library behind spark-flash: NOR-safe
 * programming, slot inspection (DER keys, firmware vector tables) and the
 * file operations, each returning a status and a message naming the file.
 *
 * Design decision: inspection never trusts a length it reads; a DER header or
 * a vector table is only believed when it fits inside its slot and points
 * where a Core image would point.
 */
#include "flashimg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* DER encoding (X.690). */
#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_LONG_FORM 0x80
#define DER_MAX_LENGTH_BYTES 3

/* Where a Spark Core vector table may point: 20 KiB SRAM, 128 KiB internal flash. */
#define SRAM_BASE 0x20000000u
#define SRAM_END 0x20005000u /* initial SP is the top of SRAM, so END itself is valid */
#define FLASH_BASE 0x08000000u
#define FLASH_END 0x08020000u
#define THUMB_BIT 1u
#define VECTOR_SP 0
#define VECTOR_RESET 4

const struct flashimg_slot flashimg_slots[] = {
    {"server public key", 0x001000, 2048},
    {"core private key", 0x002000, 1024},
    {"factory firmware", 0x020000, 0x20000},
    {"backup firmware", 0x040000, 0x20000},
    {"OTA download", 0x060000, 0x20000},
};
const size_t flashimg_slot_count = sizeof flashimg_slots / sizeof flashimg_slots[0];

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- in-memory operations ---------------------------------------------- */

void flashimg_sector_span(uint32_t addr, size_t len, uint32_t *start, uint32_t *end)
{
    *start = addr & ~(FLASHIMG_SECTOR_SIZE - 1);
    uint64_t last = (uint64_t)addr + len;
    *end = (uint32_t)((last + FLASHIMG_SECTOR_SIZE - 1) & ~(uint64_t)(FLASHIMG_SECTOR_SIZE - 1));
    if (len == 0)
        *end = *start;
}

enum flashimg_status flashimg_put(uint8_t *img, uint32_t addr, const uint8_t *data, size_t len,
                                  bool erase, uint32_t *bad_addr)
{
    if (addr > FLASHIMG_SIZE || len > FLASHIMG_SIZE - addr)
        return FLASHIMG_ERR_RANGE;
    if (erase) {
        uint32_t start, end;
        flashimg_sector_span(addr, len, &start, &end);
        memset(img + start, FLASHIMG_ERASED, end - start);
    } else {
        for (size_t i = 0; i < len; i++) {
            if (img[addr + i] != FLASHIMG_ERASED) {
                if (bad_addr)
                    *bad_addr = (uint32_t)(addr + i);
                return FLASHIMG_ERR_NOT_ERASED;
            }
        }
    }
    for (size_t i = 0; i < len; i++)
        img[addr + i] &= data[i];
    return FLASHIMG_OK;
}

size_t flashimg_der_length(const uint8_t *p, size_t avail)
{
    if (avail < 2 || p[0] != DER_SEQUENCE)
        return 0;
    size_t header = 2, content = p[1];
    if (p[1] & DER_LONG_FORM) {
        size_t n = p[1] & ~DER_LONG_FORM;
        if (n == 0 || n > DER_MAX_LENGTH_BYTES || avail < 2 + n)
            return 0;
        content = 0;
        for (size_t i = 0; i < n; i++)
            content = content << 8 | p[2 + i];
        header = 2 + n;
    }
    if (content > avail - header || content < 2)
        return 0;
    /* A key starts with an INTEGER (private key version) or a SEQUENCE (algorithm). */
    if (p[header] != DER_INTEGER && p[header] != DER_SEQUENCE)
        return 0;
    return header + content;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool plausible_vector_table(uint32_t sp, uint32_t reset)
{
    return sp >= SRAM_BASE && sp <= SRAM_END && (sp & 3) == 0 && reset >= FLASH_BASE &&
           reset < FLASH_END && (reset & THUMB_BIT);
}

struct flashimg_verdict flashimg_inspect(const uint8_t *area, size_t size)
{
    struct flashimg_verdict v = {FLASHIMG_EMPTY, 0, 0, 0};
    size_t used = size;
    while (used > 0 && area[used - 1] == FLASHIMG_ERASED)
        used--;
    if (used == 0)
        return v;

    size_t der = flashimg_der_length(area, size);
    if (der) {
        v.content = FLASHIMG_DER_KEY;
        v.length = der;
        return v;
    }
    if (size >= 8 && plausible_vector_table(le32(area + VECTOR_SP), le32(area + VECTOR_RESET))) {
        v.content = FLASHIMG_FIRMWARE;
        v.length = used;
        v.sp = le32(area + VECTOR_SP);
        v.reset = le32(area + VECTOR_RESET);
        return v;
    }
    v.content = FLASHIMG_OTHER;
    v.length = used;
    return v;
}

void flashimg_describe(const struct flashimg_verdict *v, char *buf, size_t len)
{
    switch (v->content) {
    case FLASHIMG_EMPTY:
        snprintf(buf, len, "empty");
        break;
    case FLASHIMG_DER_KEY:
        snprintf(buf, len, "a DER key of %zu bytes", v->length);
        break;
    case FLASHIMG_FIRMWARE:
        snprintf(buf, len,
                 "a firmware image of about %zu bytes with a plausible vector table "
                 "(SP 0x%08x, reset 0x%08x thumb)",
                 v->length, (unsigned)v->sp, (unsigned)v->reset);
        break;
    case FLASHIMG_OTHER:
        snprintf(buf, len, "something else (%zu bytes up to the last non-0xFF byte)", v->length);
        break;
    }
}

/* ---- files ---------------------------------------------------------------- */

static enum flashimg_status write_all(int fd, const uint8_t *buf, size_t len, off_t offset)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return FLASHIMG_ERR_IO;
        }
        buf += n;
        len -= (size_t)n;
        offset += n;
    }
    return FLASHIMG_OK;
}

enum flashimg_status flashimg_create_file(const char *path, bool force, char *err, size_t errlen)
{
    int flags = O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        if (errno == EEXIST) {
            set_err(err, errlen, "%s: already exists (use --force to overwrite it)", path);
            return FLASHIMG_ERR_EXISTS;
        }
        set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return FLASHIMG_ERR_IO;
    }
    uint8_t *blank = malloc(FLASHIMG_SIZE);
    if (!blank) {
        close(fd);
        set_err(err, errlen, "%s: out of memory", path);
        return FLASHIMG_ERR_IO;
    }
    memset(blank, FLASHIMG_ERASED, FLASHIMG_SIZE);
    enum flashimg_status st = write_all(fd, blank, FLASHIMG_SIZE, 0);
    int saved = errno;
    free(blank);
    if (close(fd) != 0 && st == FLASHIMG_OK) {
        st = FLASHIMG_ERR_IO;
        saved = errno;
    }
    if (st != FLASHIMG_OK)
        set_err(err, errlen, "%s: cannot write: %s", path, strerror(saved));
    return st;
}

static enum flashimg_status check_file_size(int fd, const char *path, size_t size, const char *what,
                                           char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return FLASHIMG_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        return FLASHIMG_ERR_SIZE;
    }
    if (st.st_size != (off_t)size) {
        set_err(err, errlen, "%s: is %lld bytes; %s must be exactly %zu bytes (%zu KiB)", path,
                (long long)st.st_size, what, size, size / 1024);
        return FLASHIMG_ERR_SIZE;
    }
    return FLASHIMG_OK;
}

static enum flashimg_status check_image_size(int fd, const char *path, char *err, size_t errlen)
{
    return check_file_size(fd, path, FLASHIMG_SIZE, "an external flash image", err, errlen);
}

static enum flashimg_status read_all(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return FLASHIMG_ERR_IO;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return done == len ? FLASHIMG_OK : FLASHIMG_ERR_SIZE;
}

enum flashimg_status flashimg_load_exact(const char *path, uint8_t *buf, size_t size, const char *what,
                                         char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return FLASHIMG_ERR_IO;
    }
    enum flashimg_status st = check_file_size(fd, path, size, what, err, errlen);
    if (st == FLASHIMG_OK) {
        st = read_all(fd, buf, size);
        if (st != FLASHIMG_OK)
            set_err(err, errlen, "%s: cannot read: %s", path,
                    st == FLASHIMG_ERR_IO ? strerror(errno) : "the file shrank while reading");
    }
    close(fd);
    return st;
}

enum flashimg_status flashimg_load_file(const char *path, uint8_t *img, char *err, size_t errlen)
{
    return flashimg_load_exact(path, img, FLASHIMG_SIZE, "an external flash image", err, errlen);
}

enum flashimg_status flashimg_store_range(const char *path, const uint8_t *img, uint32_t addr,
                                          size_t len, char *err, size_t errlen)
{
    if (addr > FLASHIMG_SIZE || len > FLASHIMG_SIZE - addr) {
        set_err(err, errlen, "%s: range 0x%06x+%zu is past the end of the 2 MiB image", path,
                (unsigned)addr, len);
        return FLASHIMG_ERR_RANGE;
    }
    int fd = open(path, O_WRONLY); /* no O_CREAT, no O_TRUNC: the file stays what it is */
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot open for writing: %s", path, strerror(errno));
        return FLASHIMG_ERR_IO;
    }
    enum flashimg_status st = check_image_size(fd, path, err, errlen);
    if (st == FLASHIMG_OK) {
        st = write_all(fd, img + addr, len, addr);
        if (st != FLASHIMG_OK)
            set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    }
    if (close(fd) != 0 && st == FLASHIMG_OK) {
        set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        st = FLASHIMG_ERR_IO;
    }
    return st;
}

enum flashimg_status flashimg_read_input(const char *path, size_t max, uint8_t **data, size_t *len,
                                         char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return FLASHIMG_ERR_IO;
    }
    /* One byte more than allowed tells "too big" from "exactly max". */
    uint8_t *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return FLASHIMG_ERR_IO;
    }
    size_t n = fread(buf, 1, max + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        set_err(err, errlen, "%s: cannot read", path);
        return FLASHIMG_ERR_IO;
    }
    if (n > max) {
        free(buf);
        set_err(err, errlen, "%s: is larger than the %zu bytes that fit", path, max);
        return FLASHIMG_ERR_RANGE;
    }
    *data = buf;
    *len = n;
    return FLASHIMG_OK;
}
