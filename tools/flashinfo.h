/*
 * flashinfo.h - what each slot of a Spark Core's flash holds, and whether the
 * Core can use it: one verdict (`empty`, `valid`, `invalid`) and a reason per
 * slot of the external flash (keys, server address, firmware images) and of
 * the internal flash (bootloader, flags page, firmware). spark-flash info
 * prints these lines.
 *
 * Design decision: a verdict says what the Core would do with the bytes, not
 * only what they are: a key slot holding a firmware image is `invalid` with the
 * likely mistake named, not "something else".
 */
#ifndef TOOLS_FLASHINFO_H
#define TOOLS_FLASHINFO_H

#include "keyslot.h"

#include <stddef.h>
#include <stdint.h>

#define FLASHINFO_INT_SIZE (128u * 1024u) /* the STM32F103CB's flash, internal-flash.bin */
#define FLASHINFO_INT_BASE 0x08000000u
#define FLASHINFO_MAX_LINES 16

enum flashinfo_kind {
    FLASHINFO_EMPTY = KEYSLOT_EMPTY,
    FLASHINFO_VALID = KEYSLOT_VALID,
    FLASHINFO_INVALID = KEYSLOT_INVALID,
    FLASHINFO_NOTE, /* not a slot: data found outside every slot */
};

struct flashinfo_line {
    uint32_t addr; /* external: offset in the 2 MiB image; internal: bus address */
    const char *name;
    enum flashinfo_kind kind;
    char why[KEYSLOT_WHY_LEN];
};

/* The lines for a 2 MiB external flash image; returns how many were filled. */
size_t flashinfo_external(const uint8_t *img, struct flashinfo_line *lines, size_t max);
/* The lines for a 128 KiB internal flash image (bootloader, flags page, firmware). */
size_t flashinfo_internal(const uint8_t *img, struct flashinfo_line *lines, size_t max);
/* "empty", "valid", "invalid" or "note". */
const char *flashinfo_kind_name(enum flashinfo_kind kind);

#endif
