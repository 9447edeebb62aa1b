/*
 * flashinfo.c - one verdict per slot of a Spark Core's flashes (flashinfo.h).
 * Keys go to keyslot.c (libcrypto); firmware images are judged by their
 * vector table the way the bootloader and the copy to 0x08005000 see them.
 *
 * Design decision: lengths are never read from the data; an image's length
 * is "up to its last non-0xFF byte" inside the slot, so an erased tail, a
 * truncated copy or random bytes all give a bounded, honest answer.
 */
#include "flashinfo.h"

#include "flashimg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SRAM_BASE 0x20000000u
#define SRAM_END 0x20005000u /* the initial SP is the top of SRAM, so END itself is valid */
#define INT_FLASH_END (FLASHINFO_INT_BASE + FLASHINFO_INT_SIZE)
#define THUMB_BIT 1u
#define VECTOR_SP 0
#define VECTOR_RESET 4
#define VECTOR_MIN 8

/* Internal flash (spark-core-hardware.md §2): write-protected bootloader pages, flags page, firmware. */
#define BOOTLOADER_OFFSET 0x0000u
#define BOOTLOADER_SIZE 0x4000u
#define FLAGS_OFFSET 0x4C00u
#define FLAGS_SIZE 0x400u
#define FIRMWARE_OFFSET 0x5000u
#define FIRMWARE_SIZE (FLASHINFO_INT_SIZE - FIRMWARE_OFFSET) /* 108 KiB */
#define FIRMWARE_LINK (FLASHINFO_INT_BASE + FIRMWARE_OFFSET)

/* Flags page half-words (little-endian). */
#define FLAG_NVMEM_RESET 0x2
#define FLAG_OTA_UPDATE 0x4
#define FLAG_FACTORY_RESET 0x8
#define OTA_RUN_FIRMWARE 0x5000u
#define OTA_IMAGE_READY 0x0005u
#define OTA_COPY_STARTED 0x5555u
#define OTA_ENTER_DFU 0xFFFFu
#define FACTORY_RESET_REQUESTED 0xAAAAu
#define NVMEM_RESET_REQUESTED 0x0001u

/* External flash (hw_config.h). */
#define EXT_FACTORY 0x020000u
#define EXT_BACKUP 0x040000u
#define EXT_OTA 0x060000u
#define EXT_IMAGE_SLOT 0x20000u
#define EXT_SLOTS_END 0x080000u

#define ERASED 0xFF
#define VERSION_MARK "system firmware version: "
#define VERSION_MAX 15

static void line_set(struct flashinfo_line *l, uint32_t addr, const char *name, enum flashinfo_kind kind,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void line_set(struct flashinfo_line *l, uint32_t addr, const char *name, enum flashinfo_kind kind,
                     const char *fmt, ...)
{
    l->addr = addr;
    l->name = name;
    l->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->why, sizeof l->why, fmt, ap);
    va_end(ap);
}

const char *flashinfo_kind_name(enum flashinfo_kind kind)
{
    switch (kind) {
    case FLASHINFO_EMPTY:
        return "empty";
    case FLASHINFO_VALID:
        return "valid";
    case FLASHINFO_INVALID:
        return "invalid";
    case FLASHINFO_NOTE:
        break;
    }
    return "note";
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned le16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static size_t used_length(const uint8_t *p, size_t n)
{
    while (n > 0 && p[n - 1] == ERASED)
        n--;
    return n;
}

static bool sp_in_sram(uint32_t sp)
{
    return sp >= SRAM_BASE && sp <= SRAM_END && (sp & 3) == 0;
}

/* The start of some Core image: SP in SRAM and a Thumb reset vector in internal flash. */
static bool looks_like_vector_table(const uint8_t *p, size_t n)
{
    if (n < VECTOR_MIN)
        return false;
    uint32_t sp = le32(p + VECTOR_SP), reset = le32(p + VECTOR_RESET);
    return sp_in_sram(sp) && (reset & THUMB_BIT) && reset >= FLASHINFO_INT_BASE && reset < INT_FLASH_END;
}

/*
 * The Device OS version a firmware image announces ("system firmware version: 0.7.0" in 0.4 and later),
 * copied into out (empty if none); true if found.
 */
static bool system_version(const uint8_t *image, size_t len, char out[VERSION_MAX + 1])
{
    out[0] = '\0';
    const uint8_t *at = memmem(image, len, VERSION_MARK, strlen(VERSION_MARK));
    if (!at)
        return false;
    const uint8_t *v = at + strlen(VERSION_MARK), *end = image + len;
    size_t n = 0;
    while (v + n < end && n < VERSION_MAX && (isdigit(v[n]) || v[n] == '.'))
        n++;
    memcpy(out, v, n);
    out[n] = '\0';
    return n > 0;
}

/*
 * A firmware-sized slot: its image is linked at `link` and may be at most
 * `max` bytes. `empty_why` says what an erased slot means for the Core.
 */
static void check_image(struct flashinfo_line *l, uint32_t addr, const char *name, const uint8_t *area,
                        size_t size, uint32_t link, size_t max, const char *empty_why)
{
    size_t used = used_length(area, size);
    if (used == 0) {
        line_set(l, addr, name, FLASHINFO_EMPTY, "%s", empty_why);
        return;
    }
    if (used < VECTOR_MIN) {
        line_set(l, addr, name, FLASHINFO_INVALID, "only %zu bytes, too short for a vector table", used);
        return;
    }
    uint32_t sp = le32(area + VECTOR_SP), reset = le32(area + VECTOR_RESET);
    uint32_t handler = reset & ~THUMB_BIT;
    if (flashimg_der_length(area, size) && !sp_in_sram(sp)) {
        line_set(l, addr, name, FLASHINFO_INVALID, "holds a DER key (%zu bytes), not a firmware image",
                 flashimg_der_length(area, size));
        return;
    }
    if (!sp_in_sram(sp)) {
        line_set(l, addr, name, FLASHINFO_INVALID,
                 "no vector table: the initial SP 0x%08x is not inside SRAM (0x%08x-0x%08x)", (unsigned)sp,
                 SRAM_BASE, SRAM_END);
        return;
    }
    if (!(reset & THUMB_BIT)) {
        line_set(l, addr, name, FLASHINFO_INVALID,
                 "the reset vector 0x%08x is not a Thumb address (bit 0 clear): the core would fault",
                 (unsigned)reset);
        return;
    }
    if (handler < link + VECTOR_MIN || handler >= link + used) {
        const char *hint = "";
        if (link == FIRMWARE_LINK && handler >= FLASHINFO_INT_BASE && handler < FIRMWARE_LINK)
            hint = " (a bootloader, linked at 0x08000000?)";
        else if (link == FLASHINFO_INT_BASE && handler >= FIRMWARE_LINK && handler < INT_FLASH_END)
            hint = " (a firmware image, linked at 0x08005000?)";
        line_set(l, addr, name, FLASHINFO_INVALID,
                 "the reset handler 0x%08x is outside the image (0x%08x-0x%08x)%s", (unsigned)reset,
                 (unsigned)link, (unsigned)(link + used - 1), hint);
        return;
    }
    if (used > max) {
        line_set(l, addr, name, FLASHINFO_INVALID,
                 "an image of %zu bytes (to its last non-0xff byte), but only %zu fit at 0x%08x", used, max,
                 (unsigned)link);
        return;
    }
    char version[VERSION_MAX + 1];
    line_set(l, addr, name, FLASHINFO_VALID,
             "an image of %zu bytes (to its last non-0xff byte), SP 0x%08x, reset handler 0x%08x%s%s", used,
             (unsigned)sp, (unsigned)reset, system_version(area, used, version) ? ", Device OS " : "",
             version);
}

/* A key slot that holds the start of a firmware image: say so and where it ends. */
static bool firmware_in_key_slot(struct flashinfo_line *l, const uint8_t *img, uint32_t addr, const char *name,
                                 size_t slot_size, const char *mistake)
{
    if (!looks_like_vector_table(img + addr, slot_size))
        return false;
    size_t span = FIRMWARE_SIZE < FLASHIMG_SIZE - addr ? FIRMWARE_SIZE : FLASHIMG_SIZE - addr;
    size_t used = used_length(img + addr, span);
    line_set(l, addr, name, FLASHINFO_INVALID,
             "holds a firmware image, not a key%s (SP 0x%08x, reset 0x%08x; its data runs on to 0x%06x, "
             "%s the %zu-byte slot)",
             mistake, (unsigned)le32(img + addr + VECTOR_SP), (unsigned)le32(img + addr + VECTOR_RESET),
             (unsigned)(addr + used - 1), used > slot_size ? "past" : "inside", slot_size);
    return true;
}

/* Data in [start, end) of the external image, which belongs to no slot. */
static bool note_stray_data(struct flashinfo_line *l, const uint8_t *img, uint32_t start, uint32_t end)
{
    uint32_t first = start;
    while (first < end && img[first] == ERASED)
        first++;
    if (first == end)
        return false;
    uint32_t last = start + (uint32_t)used_length(img + start, end - start) - 1;
    line_set(l, first, "outside the slots", FLASHINFO_NOTE,
             "data at 0x%06x-0x%06x, where the Core keeps nothing", (unsigned)first, (unsigned)last);
    return true;
}

static void from_keyslot(struct flashinfo_line *l, uint32_t addr, const char *name,
                         const struct keyslot_report *r)
{
    line_set(l, addr, name, (enum flashinfo_kind)r->verdict, "%s", r->why);
}

size_t flashinfo_external(const uint8_t *img, struct flashinfo_line *lines, size_t max)
{
    struct flashinfo_line all[FLASHINFO_MAX_LINES];
    size_t n = 0;
    struct keyslot_report r;

    if (!firmware_in_key_slot(&all[n], img, KEYSLOT_SERVER_KEY_ADDR, "server public key", KEYSLOT_SERVER_KEY_AREA,
                              "")) {
        keyslot_check_server_public(img + KEYSLOT_SERVER_KEY_ADDR, KEYSLOT_SERVER_KEY_SIZE, &r);
        from_keyslot(&all[n], KEYSLOT_SERVER_KEY_ADDR, "server public key", &r);
    }
    n++;
    keyslot_check_server_address(img + KEYSLOT_SERVER_ADDRESS_ADDR, KEYSLOT_SERVER_ADDRESS_SIZE, &r);
    from_keyslot(&all[n++], KEYSLOT_SERVER_ADDRESS_ADDR, "server address", &r);
    if (!firmware_in_key_slot(&all[n], img, KEYSLOT_CORE_KEY_ADDR, "core private key", KEYSLOT_CORE_KEY_SIZE,
                              ": written to 0x2000 instead of 0x20000?")) {
        keyslot_check_core_private(img + KEYSLOT_CORE_KEY_ADDR, KEYSLOT_CORE_KEY_SIZE, &r);
        from_keyslot(&all[n], KEYSLOT_CORE_KEY_ADDR, "core private key", &r);
    }
    n++;
    check_image(&all[n++], EXT_FACTORY, "factory firmware", img + EXT_FACTORY, EXT_IMAGE_SLOT, FIRMWARE_LINK,
                FIRMWARE_SIZE, "erased: a factory reset (MODE held 10 s at reset) has nothing to restore");
    check_image(&all[n++], EXT_BACKUP, "backup firmware", img + EXT_BACKUP, EXT_IMAGE_SLOT, FIRMWARE_LINK,
                FIRMWARE_SIZE, "erased: no copy of the firmware taken before an update");
    check_image(&all[n++], EXT_OTA, "OTA download", img + EXT_OTA, EXT_IMAGE_SLOT, FIRMWARE_LINK,
                FIRMWARE_SIZE, "erased: no update downloaded");

    /* Gaps between the slots (the server key slot is 2 KiB: key, address record, 0xff). */
    static const uint32_t gaps[][2] = {
        {0, KEYSLOT_SERVER_KEY_ADDR},
        {KEYSLOT_SERVER_KEY_ADDR + KEYSLOT_SERVER_KEY_SIZE, KEYSLOT_CORE_KEY_ADDR},
        {KEYSLOT_CORE_KEY_ADDR + KEYSLOT_CORE_KEY_SIZE, EXT_FACTORY},
        {EXT_SLOTS_END, FLASHIMG_SIZE},
    };
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0] && n < FLASHINFO_MAX_LINES; g++)
        if (note_stray_data(&all[n], img, gaps[g][0], gaps[g][1]))
            n++;
    if (n > max)
        n = max;
    memcpy(lines, all, n * sizeof *lines);
    return n;
}

static void check_flags(struct flashinfo_line *l, const uint8_t *page)
{
    if (used_length(page, FLAGS_SIZE) == 0) {
        line_set(l, FLASHINFO_INT_BASE + FLAGS_OFFSET, "flags page", FLASHINFO_EMPTY,
                 "erased: the bootloader enters DFU mode (unless BKP_DR10 holds 0x5000)");
        return;
    }
    unsigned ota = le16(page + FLAG_OTA_UPDATE);
    const char *meaning;
    enum flashinfo_kind kind = FLASHINFO_VALID;
    switch (ota) {
    case OTA_RUN_FIRMWARE:
        meaning = "the bootloader runs the firmware at 0x08005000";
        break;
    case OTA_IMAGE_READY:
        meaning = "an update is ready: the bootloader copies it from external 0x60000 at the next reset";
        break;
    case OTA_COPY_STARTED:
        meaning = "an update copy was interrupted: the bootloader restores the backup from external 0x40000";
        break;
    case OTA_ENTER_DFU:
        meaning = "the bootloader enters DFU mode";
        break;
    default:
        meaning = "a value the bootloader does not know: it enters DFU mode";
        kind = FLASHINFO_INVALID;
        break;
    }
    line_set(l, FLASHINFO_INT_BASE + FLAGS_OFFSET, "flags page", kind, "FLASH_OTA_Update_SysFlag 0x%04x: %s%s%s",
             ota, meaning,
             le16(page + FLAG_FACTORY_RESET) == FACTORY_RESET_REQUESTED ? "; a factory reset is requested" : "",
             le16(page + FLAG_NVMEM_RESET) == NVMEM_RESET_REQUESTED
                 ? "; the firmware will delete the WiFi profiles"
                 : "");
}

size_t flashinfo_internal(const uint8_t *img, struct flashinfo_line *lines, size_t max)
{
    struct flashinfo_line all[3];
    check_image(&all[0], FLASHINFO_INT_BASE + BOOTLOADER_OFFSET, "bootloader", img + BOOTLOADER_OFFSET,
                BOOTLOADER_SIZE, FLASHINFO_INT_BASE + BOOTLOADER_OFFSET, BOOTLOADER_SIZE,
                "erased: nothing runs at power-on (a real Core needs JTAG/SWD then)");
    check_flags(&all[1], img + FLAGS_OFFSET);
    check_image(&all[2], FIRMWARE_LINK, "firmware", img + FIRMWARE_OFFSET, FIRMWARE_SIZE, FIRMWARE_LINK,
                FIRMWARE_SIZE, "erased: the bootloader has no firmware to run");
    size_t n = max < 3 ? max : 3;
    memcpy(lines, all, n * sizeof *lines);
    return n;
}
