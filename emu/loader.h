/*
 * loader.h - guest images for --load, --bootloader and --firmware: raw binary,
 * ELF (32-bit little-endian ARM, via libelf) and Intel HEX.
 *
 * Design decision: an image is a list of byte runs at guest addresses, nothing
 * more; where the runs may go (flash, SRAM) and whether two images collide are
 * separate checks the caller makes against its own memory map. The format is
 * told by content; a name ending in .elf or .hex only has to agree with it (a
 * non-ELF "x.elf" is refused, never loaded as a raw binary). Every failure is a
 * status plus a message that names the file and what is wrong, because the
 * emulator prints it verbatim and exits with status 2.
 */
#ifndef EMU_LOADER_H
#define EMU_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a raw binary goes when the caller does not say: the start of flash. */
#define IMAGE_DEFAULT_BIN_ADDR 0x08000000u

/*
 * The largest file accepted. It bounds every allocation the loader makes on
 * hostile input; the Spark Core's largest memory (the 2 MiB SPI flash) as Intel
 * HEX is under 6 MiB.
 */
#define IMAGE_MAX_FILE_SIZE (16u * 1024u * 1024u)

struct image_segment {
    uint32_t addr;
    uint32_t size;
    uint8_t *data;
};

struct image_symbol {
    uint32_t addr; /* Thumb bit cleared for functions */
    uint32_t size;
    char *name;    /* points into image.strings */
};

enum image_format { IMAGE_BIN, IMAGE_ELF, IMAGE_IHEX };

struct image {
    char *path;
    enum image_format format;
    struct image_segment *segments; /* sorted by address, never overlapping */
    int nsegments;
    struct image_symbol *symbols;   /* sorted by address */
    int nsymbols;
    uint32_t entry;
    bool has_entry;
    char *strings;                  /* storage for every symbol name */
    uint32_t max_symbol_size;       /* bounds the backwards search in image_symbolize */
};

/*
 * Every function that can fail returns 0 on success and -1 on failure, with a
 * one-line message (no trailing newline) in err[errlen]. On failure *out holds
 * nothing, and image_free(out) is still safe.
 */

/* bin_addr: where a raw binary goes. */
int image_load(const char *path, uint32_t bin_addr, struct image *out, char *err, size_t errlen);
/* The same from a buffer (tests, fuzzing); name stands for the file in messages. */
int image_load_memory(const char *name, const uint8_t *data, size_t len, uint32_t bin_addr,
                      struct image *out, char *err, size_t errlen);
void image_free(struct image *img);

const char *image_format_name(enum image_format format);

/*
 * The name of the function or object symbol that contains addr, with the
 * distance from its start in *offset (callers print "name+0x12"); NULL if no
 * symbol contains addr. A symbol of size 0 contains only its own address.
 */
const char *image_symbolize(const struct image *img, uint32_t addr, uint32_t *offset);

struct mem_region {
    const char *name;
    uint32_t base, size;
};

/* Every segment must lie entirely inside one region. */
int image_check_fit(const struct image *img, const struct mem_region *regions, int nregions,
                    char *err, size_t errlen);
/* Two images must not overlap; the message names b as the one that overlaps a. */
int image_check_overlap(const struct image *a, const struct image *b, char *err, size_t errlen);

/*
 * Parse "FILE@ADDR" (ADDR hex with 0x, or decimal). *path is a new string the
 * caller frees. An '@' followed by text with a '/' in it belongs to the path, so
 * "dir@2/fw.bin" is a file name without an address.
 */
int image_parse_spec(const char *spec, char **path, uint32_t *addr, bool *has_addr, char *err,
                     size_t errlen);

#endif
