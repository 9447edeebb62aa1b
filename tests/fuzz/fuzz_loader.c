/*
 * fuzz_loader.c - libFuzzer target for the image loader (emu/loader.c): the
 * input is a whole image file, told apart by content (raw binary, ELF, Intel
 * HEX) as --load does, then checked against the Core's memory map.
 *
 * Design decision: every input is loaded three times, under a name that
 * promises nothing, one that promises ELF and one that promises HEX, so the
 * name checks and all three parsers see every input.
 */
#include "emu/loader.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define FLASH_BASE 0x08000000u

static const struct mem_region core_regions[] = {
    {"internal flash", 0x08000000u, 128u * 1024u},
    {"SRAM", 0x20000000u, 20u * 1024u},
};

static void exercise(const char *name, const uint8_t *data, size_t size)
{
    struct image img;
    char err[512];
    if (image_load_memory(name, data, size, FLASH_BASE, &img, err, sizeof err) == 0) {
        if (img.nsegments <= 0)
            abort(); /* a loaded image always holds bytes */
        for (int i = 0; i < img.nsegments; i++) {
            const struct image_segment *s = &img.segments[i];
            if (s->size == 0 || (uint64_t)s->addr + s->size > 0x100000000ull)
                abort();
            if (i && s->addr < (uint64_t)img.segments[i - 1].addr + img.segments[i - 1].size)
                abort(); /* sorted, never overlapping */
            volatile uint8_t last = s->data[s->size - 1];
            (void)last;
        }
        uint32_t offset;
        for (int i = 0; i < img.nsymbols; i++)
            image_symbolize(&img, img.symbols[i].addr + 1, &offset);
        image_symbolize(&img, img.entry, &offset);
        image_check_fit(&img, core_regions, 2, err, sizeof err);
        image_check_overlap(&img, &img, err, sizeof err);
    }
    image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    exercise("fuzz-image", data, size);
    exercise("fuzz.elf", data, size);
    exercise("fuzz.hex", data, size);
    return 0;
}
