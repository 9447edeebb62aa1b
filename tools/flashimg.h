/*
 * flashimg.h - build and inspect 2 MiB external-flash (SST25VF016B) images
 * of a Spark Core: NOR-safe programming, the Core's slot map, and a verdict
 * on what each slot holds. Used by tools/spark-flash.c and its unit test.
 *
 * Design decision: the image is edited in memory and only the bytes that
 * changed are written back in place (never truncating or resizing the file),
 * so a mistaken command cannot shrink or blank an image that the emulator
 * may be using at the same moment.
 */
#ifndef TOOLS_FLASHIMG_H
#define TOOLS_FLASHIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLASHIMG_SIZE (2u * 1024u * 1024u)
#define FLASHIMG_SECTOR_SIZE 0x1000u
#define FLASHIMG_ERASED 0xFF

enum flashimg_status {
    FLASHIMG_OK = 0,
    FLASHIMG_ERR_RANGE,      /* the range goes past the end of the image */
    FLASHIMG_ERR_NOT_ERASED, /* the target is not erased (and no erase was asked for) */
    FLASHIMG_ERR_EXISTS,     /* the file exists and overwriting was not asked for */
    FLASHIMG_ERR_SIZE,       /* the file is not exactly FLASHIMG_SIZE bytes */
    FLASHIMG_ERR_IO,         /* the operating system refused (errno in the message) */
};

/* ---- in-memory operations ---------------------------------------------- */

/*
 * Program `len` bytes at `addr` with NOR semantics (bits only go 1 -> 0).
 * Unless `erase`, every target byte must be erased (0xFF); otherwise nothing
 * changes, FLASHIMG_ERR_NOT_ERASED is returned and *bad_addr (if not NULL) is
 * the first byte that is not. With `erase`, the 4 KiB sectors the range
 * touches are erased first. Nothing changes on FLASHIMG_ERR_RANGE.
 */
enum flashimg_status flashimg_put(uint8_t *img, uint32_t addr, const uint8_t *data, size_t len,
                                  bool erase, uint32_t *bad_addr);
/* The sector-aligned range [*start, *end) that covers [addr, addr+len). */
void flashimg_sector_span(uint32_t addr, size_t len, uint32_t *start, uint32_t *end);

/* Length of the DER SEQUENCE at p (header included), or 0 if p does not hold one within avail. */
size_t flashimg_der_length(const uint8_t *p, size_t avail);

enum flashimg_content {
    FLASHIMG_EMPTY,    /* all 0xFF */
    FLASHIMG_DER_KEY,  /* a DER SEQUENCE that fits the slot */
    FLASHIMG_FIRMWARE, /* a Cortex-M3 vector table that points into SRAM and flash */
    FLASHIMG_OTHER,
};

struct flashimg_verdict {
    enum flashimg_content content;
    size_t length;     /* DER: exact length; firmware: up to the last non-0xFF byte */
    uint32_t sp, reset; /* firmware: initial SP and reset vector */
};

struct flashimg_verdict flashimg_inspect(const uint8_t *area, size_t size);
/* "empty", "a DER key of N bytes", ...: one line without a newline. */
void flashimg_describe(const struct flashimg_verdict *v, char *buf, size_t len);

/* The slots of the Core's external flash (hw_config.h addresses). */
struct flashimg_slot {
    const char *name;
    uint32_t addr, size;
};
extern const struct flashimg_slot flashimg_slots[];
extern const size_t flashimg_slot_count;

/* ---- files: `err` receives "PATH: what is wrong" ----------------------- */

/* A new 0xFF-filled image; an existing file is refused unless `force`. */
enum flashimg_status flashimg_create_file(const char *path, bool force, char *err, size_t errlen);
/* Read a whole image into img (FLASHIMG_SIZE bytes); the file must be exactly that size. */
enum flashimg_status flashimg_load_file(const char *path, uint8_t *img, char *err, size_t errlen);
/* Read a whole file that must be exactly `size` bytes; `what` names it in the message ("an image"). */
enum flashimg_status flashimg_load_exact(const char *path, uint8_t *buf, size_t size, const char *what,
                                         char *err, size_t errlen);
/* Write img[addr, addr+len) back into the existing image file, in place. */
enum flashimg_status flashimg_store_range(const char *path, const uint8_t *img, uint32_t addr,
                                          size_t len, char *err, size_t errlen);
/* Read a whole input file (at most `max` bytes) into a malloc'd buffer. */
enum flashimg_status flashimg_read_input(const char *path, size_t max, uint8_t **data, size_t *len,
                                         char *err, size_t errlen);

#endif
