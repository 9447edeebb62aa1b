/*
 * fuzz_flashimg.c - libFuzzer target for the external-flash image library
 * (tools/flashimg.c) behind spark-flash: the input is what `spark-flash put`
 * would program and then what `spark-flash info` inspects.
 *
 * Input: 4 bytes little-endian address (taken modulo a little more than the
 * 2 MiB image, so ranges past its end are tried too), 1 byte of flags (bit 0:
 * --erase), then the data.
 *
 * Design decision: one 2 MiB image lives for the whole run and only the
 * sectors an input touched are erased again afterwards, which keeps an
 * execution fast; after each put the slots it touched are inspected, as
 * `info` would (the others are still erased).
 */
#include "tools/flashimg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 5
#define ADDRESS_SPAN (FLASHIMG_SIZE + 2u * FLASHIMG_SECTOR_SIZE)

static uint8_t *image;

static void check_verdict(const uint8_t *area, size_t size)
{
    struct flashimg_verdict v = flashimg_inspect(area, size);
    if (v.length > size)
        abort(); /* a verdict never claims more than its slot */
    char line[256];
    flashimg_describe(&v, line, sizeof line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!image) {
        image = malloc(FLASHIMG_SIZE);
        if (!image)
            abort();
        memset(image, FLASHIMG_ERASED, FLASHIMG_SIZE);
    }
    /* the bytes alone, as a slot's content and as a DER key */
    check_verdict(data, size);
    flashimg_der_length(data, size);
    if (size < HEADER_BYTES)
        return 0;

    uint32_t addr = ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                     (uint32_t)data[3] << 24) %
                    ADDRESS_SPAN;
    bool erase = data[4] & 1;
    const uint8_t *payload = data + HEADER_BYTES;
    size_t len = size - HEADER_BYTES;

    /* a first put on erased flash, then the same again: NOR refuses the second without erase */
    uint32_t bad = 0;
    enum flashimg_status st = flashimg_put(image, addr, payload, len, erase, &bad);
    if (st == FLASHIMG_OK) {
        for (size_t i = 0; i < len; i++)
            if ((image[addr + i] & payload[i]) != image[addr + i])
                abort(); /* programming only clears bits */
        st = flashimg_put(image, addr, payload, len, erase, &bad);
        if (st == FLASHIMG_ERR_NOT_ERASED && (bad < addr || bad >= addr + len))
            abort();
    } else if (st != FLASHIMG_ERR_RANGE) {
        abort(); /* an erased image takes any in-range put */
    }
    uint32_t start, end;
    flashimg_sector_span(addr, len, &start, &end);
    /* the slots this put changed; the others are still erased */
    for (size_t i = 0; i < flashimg_slot_count; i++) {
        const struct flashimg_slot *slot = &flashimg_slots[i];
        if (st == FLASHIMG_OK && start < slot->addr + slot->size && end > slot->addr)
            check_verdict(image + slot->addr, slot->size);
    }
    if (start < FLASHIMG_SIZE)
        memset(image + start, FLASHIMG_ERASED, (end < FLASHIMG_SIZE ? end : FLASHIMG_SIZE) - start);
    return 0;
}
