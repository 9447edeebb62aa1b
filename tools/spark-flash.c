/*
 * spark-flash.c - build and inspect the 2 MiB external-flash images the
 * emulator uses for the Core's SST25VF016B:
 *
 *   spark-flash create [--force] FILE        0xFF-filled image
 *   spark-flash put [--erase] FILE ADDR INPUT program INPUT at ADDR (NOR rules)
 *   spark-flash info FILE                     what each slot holds
 *   spark-flash dump FILE ADDR LEN            hex dump
 *
 * Design decision: the tool refuses rather than guesses: a wrong-size image,
 * a range past 2 MiB or a non-erased target is an error (exit 2) that names
 * the file and the problem; the image file is modified in place and never
 * truncated or resized.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/flashimg.h"

#define EXIT_USAGE 2
#define EXIT_FAILED 2
#define ERR_LEN 512
#define DUMP_COLUMNS 16
#define MAX_POSITIONAL 3

static const char usage[] =
    "usage: spark-flash create [--force] FILE\n"
    "       spark-flash put [--erase] FILE ADDR INPUT\n"
    "       spark-flash info FILE\n"
    "       spark-flash dump FILE ADDR LEN\n"
    "FILE is a 2 MiB SST25VF016B image; ADDR and LEN are decimal or 0x-prefixed hex.\n"
    "create refuses an existing FILE unless --force; put refuses a target that is not\n"
    "erased unless --erase, which first erases the 4 KiB sectors the data touches.\n";

static int fail(const char *msg)
{
    fprintf(stderr, "spark-flash: %s\n", msg);
    return EXIT_FAILED;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "spark-flash: %s\n%s", what, usage);
    return EXIT_USAGE;
}

/* A decimal or 0x-prefixed number that fits in 32 bits, nothing after it. */
static bool parse_u32(const char *s, uint32_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int cmd_create(const char *file, bool force)
{
    char err[ERR_LEN];
    if (flashimg_create_file(file, force, err, sizeof err) != FLASHIMG_OK)
        return fail(err);
    printf("%s: created a blank (0xFF) %u-byte image\n", file, FLASHIMG_SIZE);
    return 0;
}

static int cmd_put(const char *file, const char *addr_text, const char *input, bool erase)
{
    char err[ERR_LEN];
    uint32_t addr;
    if (!parse_u32(addr_text, &addr)) {
        snprintf(err, sizeof err, "%s: address '%s' is not a number (decimal or 0x-prefixed hex)",
                 file, addr_text);
        return fail(err);
    }
    if (addr >= FLASHIMG_SIZE) {
        snprintf(err, sizeof err, "%s: address '%s' is not inside the 2 MiB image (0..0x%x)", file,
                 addr_text, FLASHIMG_SIZE - 1);
        return fail(err);
    }
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    int rc = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (flashimg_load_file(file, img, err, sizeof err) != FLASHIMG_OK ||
        flashimg_read_input(input, FLASHIMG_SIZE, &data, &len, err, sizeof err) != FLASHIMG_OK) {
        rc = fail(err);
        goto out;
    }
    uint32_t bad = 0;
    switch (flashimg_put(img, addr, data, len, erase, &bad)) {
    case FLASHIMG_OK:
        break;
    case FLASHIMG_ERR_RANGE:
        snprintf(err, sizeof err,
                 "%s: %zu bytes of %s at 0x%06x go past the end of the 2 MiB image", file, len,
                 input, (unsigned)addr);
        rc = fail(err);
        goto out;
    case FLASHIMG_ERR_NOT_ERASED:
        snprintf(err, sizeof err,
                 "%s: 0x%06x is not erased (0x%02x); NOR flash only clears bits, "
                 "use --erase to erase the covered 4 KiB sectors first",
                 file, (unsigned)bad, img[bad]);
        rc = fail(err);
        goto out;
    default:
        rc = fail("internal error");
        goto out;
    }
    uint32_t start = addr, end = (uint32_t)(addr + len);
    if (erase)
        flashimg_sector_span(addr, len, &start, &end);
    if (flashimg_store_range(file, img, start, end - start, err, sizeof err) != FLASHIMG_OK) {
        rc = fail(err);
        goto out;
    }
    printf("%s: programmed %zu bytes at 0x%06x", file, len, (unsigned)addr);
    if (erase && end > start)
        printf(" (erased 0x%06x-0x%06x first)", (unsigned)start, (unsigned)(end - 1));
    printf("\n");
out:
    free(data);
    free(img);
    return rc;
}

static int cmd_info(const char *file)
{
    char err[ERR_LEN];
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    if (flashimg_load_file(file, img, err, sizeof err) != FLASHIMG_OK) {
        free(img);
        return fail(err);
    }
    printf("%s: %u-byte external flash image\n", file, FLASHIMG_SIZE);
    for (size_t i = 0; i < flashimg_slot_count; i++) {
        const struct flashimg_slot *s = &flashimg_slots[i];
        struct flashimg_verdict v = flashimg_inspect(img + s->addr, s->size);
        char what[256];
        flashimg_describe(&v, what, sizeof what);
        printf("  0x%06x %-18s (%6u bytes): %s\n", (unsigned)s->addr, s->name, (unsigned)s->size,
               what);
    }
    free(img);
    return 0;
}

static int cmd_dump(const char *file, const char *addr_text, const char *len_text)
{
    char err[ERR_LEN];
    uint32_t addr, len;
    if (!parse_u32(addr_text, &addr) || !parse_u32(len_text, &len))
        return usage_error("dump: ADDR and LEN must be numbers");
    if (addr > FLASHIMG_SIZE || len > FLASHIMG_SIZE - addr) {
        snprintf(err, sizeof err, "%s: range 0x%06x+%u is past the end of the 2 MiB image", file,
                 (unsigned)addr, (unsigned)len);
        return fail(err);
    }
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    if (flashimg_load_file(file, img, err, sizeof err) != FLASHIMG_OK) {
        free(img);
        return fail(err);
    }
    for (uint32_t row = 0; row < len; row += DUMP_COLUMNS) {
        uint32_t n = len - row < DUMP_COLUMNS ? len - row : DUMP_COLUMNS;
        printf("%06x ", (unsigned)(addr + row));
        for (uint32_t i = 0; i < DUMP_COLUMNS; i++) {
            if (i < n)
                printf(" %02x", img[addr + row + i]);
            else
                printf("   ");
        }
        printf("  |");
        for (uint32_t i = 0; i < n; i++) {
            uint8_t c = img[addr + row + i];
            putchar(c >= 0x20 && c < 0x7F ? c : '.');
        }
        printf("|\n");
    }
    free(img);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }

    bool force = false, erase = false;
    const char *pos[MAX_POSITIONAL];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--force") && !strcmp(cmd, "create"))
            force = true;
        else if (!strcmp(argv[i], "--erase") && !strcmp(cmd, "put"))
            erase = true;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            char what[256];
            snprintf(what, sizeof what, "%s: unknown option '%s'", cmd, argv[i]);
            return usage_error(what);
        } else if (npos < MAX_POSITIONAL)
            pos[npos++] = argv[i];
        else
            return usage_error("too many arguments");
    }

    if (!strcmp(cmd, "create") && npos == 1)
        return cmd_create(pos[0], force);
    if (!strcmp(cmd, "put") && npos == 3)
        return cmd_put(pos[0], pos[1], pos[2], erase);
    if (!strcmp(cmd, "info") && npos == 1)
        return cmd_info(pos[0]);
    if (!strcmp(cmd, "dump") && npos == 3)
        return cmd_dump(pos[0], pos[1], pos[2]);
    char what[256];
    snprintf(what, sizeof what, "'%s': unknown command or wrong number of arguments", cmd);
    return usage_error(what);
}
