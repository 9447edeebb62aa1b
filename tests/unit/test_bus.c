/*
 * test_bus.c - address decoding as a bus master sees it: memories, the flash
 * alias at 0, mapped windows, bus faults, and the two bit-band aliases.
 *
 * Design decision: peripherals are replaced by a fake register block that
 * counts every access it receives, so a test can tell a bit-band write (one
 * read, one write of the whole word) from anything cleverer or sloppier.
 */
#include "bus.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* bus.h: the system-memory buffer also holds the option bytes, 1 KiB after it */
#define OPTBYTES_WINDOW 0x400u
#define SYSMEM_BUFFER_SIZE (SYSMEM_SIZE + OPTBYTES_WINDOW)
#define WINDOW_GRANULE 0x400u
#define FAKE_BLOCK_SIZE (4 * WINDOW_GRANULE) /* as large as the biggest window mapped here */

/* RM0008 addresses used as examples */
#define PWR_BASE 0x40007000u
#define PWR_CR 0x40007000u
#define PWR_CR_DBP_BIT 8u
#define RCC_BASE 0x40021000u
#define RCC_CR 0x40021000u
#define RCC_CR_PLLON_BIT 24u
#define RCC_CFGR 0x40021004u
#define RCC_CFGR_USBPRE_BIT 22u
#define RCC_BDCR 0x40021020u
#define RCC_BDCR_RTCEN_BIT 15u
#define SCS_BASE 0xE000E000u
#define SCB_CPUID_OFFSET 0xD00u
#define STM32F103CB_FLASH_KB 128u

/* ---- a register block that counts its accesses --------------------------- */

struct fake_block {
    uint32_t regs[FAKE_BLOCK_SIZE / 4];
    int reads, writes;
    uint32_t last_offset, last_value;
    unsigned last_size;
};

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1u;
}

static uint32_t fake_read(void *opaque, uint32_t offset, unsigned size)
{
    struct fake_block *b = opaque;
    b->reads++;
    b->last_offset = offset;
    b->last_size = size;
    return (b->regs[offset / 4] >> (8 * (offset & 3u))) & size_mask(size);
}

static void fake_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct fake_block *b = opaque;
    unsigned shift = 8 * (offset & 3u);
    uint32_t mask = size_mask(size) << shift;
    b->writes++;
    b->last_offset = offset;
    b->last_size = size;
    b->last_value = value;
    b->regs[offset / 4] = (b->regs[offset / 4] & ~mask) | ((value << shift) & mask);
}

static const struct mmio_ops fake_ops = {
    .name = "fake",
    .read = fake_read,
    .write = fake_write,
};

/* ---- the fixture --------------------------------------------------------- */

struct flash_store {
    int count;
    uint32_t offset, value;
    unsigned size;
};

struct rig {
    struct sim sim;
    struct bus bus;
    uint8_t flash[FLASH_SIZE];
    uint8_t sram[SRAM_SIZE];
    uint8_t sysmem[SYSMEM_BUFFER_SIZE];
    struct fake_block pwr, rcc, scs;
    struct flash_store fpec;
    char *log_text;
    size_t log_len;
};

static void record_flash_store(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    struct flash_store *f = opaque;
    f->count++;
    f->offset = offset;
    f->value = value;
    f->size = size;
}

static int rig_setup(void **state)
{
    struct rig *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    sim_init(&r->sim);
    r->sim.log = open_memstream(&r->log_text, &r->log_len);
    if (!r->sim.log)
        return -1;
    for (uint32_t i = 0; i < FLASH_SIZE; i++)
        r->flash[i] = (uint8_t)(i * 7u + 3u);
    for (uint32_t i = 0; i < SRAM_SIZE; i++)
        r->sram[i] = (uint8_t)(i * 13u + 5u);
    for (uint32_t i = 0; i < SYSMEM_BUFFER_SIZE; i++)
        r->sysmem[i] = (uint8_t)(i * 11u + 1u);
    bus_init(&r->bus, &r->sim, r->flash, r->sram, r->sysmem);
    r->bus.flash_write = record_flash_store;
    r->bus.flash_write_opaque = &r->fpec;
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    fclose(r->sim.log);
    free(r->log_text);
    sim_free(&r->sim);
    free(r);
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t read_ok(struct bus *bus, uint32_t addr, unsigned size)
{
    uint32_t v = 0xDEADBEEFu;
    assert_int_equal(bus_read(bus, addr, size, &v), BUS_OK);
    return v;
}

/* The architectural definition (ARMv7-M B3.1.3): alias = base + byte_offset*32 + bit*4. */
static uint32_t alias_of(uint32_t alias_base, uint32_t region_base, uint32_t byte_addr,
                         unsigned bit_in_byte)
{
    return alias_base + (byte_addr - region_base) * 32u + bit_in_byte * 4u;
}

/* ---- bit-band arithmetic ------------------------------------------------- */

static void test_bitband_arithmetic_for_peripheral_alias(void **state)
{
    (void)state;
    static const struct { uint32_t alias, word; unsigned bit; } cases[] = {
        {0x420E0020u, PWR_CR, PWR_CR_DBP_BIT},
        {0x424200D8u, RCC_CFGR, RCC_CFGR_USBPRE_BIT},
        {0x42420060u, RCC_CR, RCC_CR_PLLON_BIT},
        {0x4242043Cu, RCC_BDCR, RCC_BDCR_RTCEN_BIT},
        {PERIPH_BB_BASE, PERIPH_BASE, 0},
        /* the last alias word: last byte of the peripheral space, bit 7 */
        {PERIPH_BB_BASE + PERIPH_SIZE * 32u - 4u, PERIPH_BASE + PERIPH_SIZE - 4u, 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(bitband_word(PERIPH_BB_BASE, PERIPH_BASE, cases[i].alias), cases[i].word);
        assert_int_equal(bitband_bit(PERIPH_BB_BASE, cases[i].alias), cases[i].bit);
    }
    /* a bit of byte 1 of a word is bit 8+n of the word: PWR_CR.DBP is byte 1, bit 0 */
    assert_int_equal(alias_of(PERIPH_BB_BASE, PERIPH_BASE, PWR_CR + 1, 0), 0x420E0020u);
}

static void test_bitband_arithmetic_for_sram_alias(void **state)
{
    (void)state;
    static const struct { uint32_t alias, word; unsigned bit; } cases[] = {
        {0x22000000u, SRAM_BASE, 0},
        {0x22000004u, SRAM_BASE, 1},
        {0x2200007Cu, SRAM_BASE, 31},
        {0x22000080u, SRAM_BASE + 4, 0},
        /* last byte of the 20 KiB SRAM (0x20004FFF), bit 7 */
        {0x2209FFFCu, SRAM_BASE + SRAM_SIZE - 4, 31},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(bitband_word(SRAM_BB_BASE, SRAM_BASE, cases[i].alias), cases[i].word);
        assert_int_equal(bitband_bit(SRAM_BB_BASE, cases[i].alias), cases[i].bit);
    }
    assert_int_equal(alias_of(SRAM_BB_BASE, SRAM_BASE, SRAM_BASE + SRAM_SIZE - 1, 7), 0x2209FFFCu);

    /* every bit of a few words, both ways round */
    static const uint32_t bytes[] = {SRAM_BASE, SRAM_BASE + 0x1235, SRAM_BASE + SRAM_SIZE - 1};
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            uint32_t alias = alias_of(SRAM_BB_BASE, SRAM_BASE, bytes[i], bit);
            assert_int_equal(bitband_word(SRAM_BB_BASE, SRAM_BASE, alias), bytes[i] & ~3u);
            assert_int_equal(bitband_bit(SRAM_BB_BASE, alias), 8 * (bytes[i] & 3u) + bit);
        }
    }
}

/* ---- bit-band accesses --------------------------------------------------- */

static void test_sram_bitband_write_sets_and_clears_one_bit(void **state)
{
    struct rig *r = *state;
    const uint32_t last = SRAM_SIZE - 1;
    const uint32_t alias = alias_of(SRAM_BB_BASE, SRAM_BASE, SRAM_BASE + last, 7);
    uint8_t before[SRAM_SIZE];
    r->sram[last] = 0x35;
    memcpy(before, r->sram, sizeof before);

    assert_int_equal(read_ok(&r->bus, alias, 4), 0);
    assert_int_equal(bus_write(&r->bus, alias, 4, 1), BUS_OK);
    assert_int_equal(r->sram[last], 0xB5);
    assert_int_equal(read_ok(&r->bus, alias, 4), 1);
    assert_memory_equal(r->sram, before, last); /* nothing else moved */

    /* only bit 0 of the value written counts */
    assert_int_equal(bus_write(&r->bus, alias, 4, 2), BUS_OK);
    assert_int_equal(r->sram[last], 0x35);
    assert_int_equal(bus_write(&r->bus, alias, 1, 0xFF), BUS_OK);
    assert_int_equal(r->sram[last], 0xB5);

    /* bit 0 of the first byte, through the first alias word */
    r->sram[0] = 0xFE;
    assert_int_equal(bus_write(&r->bus, SRAM_BB_BASE, 4, 1), BUS_OK);
    assert_int_equal(r->sram[0], 0xFF);
}

static void test_peripheral_bitband_write_is_one_read_and_one_word_write(void **state)
{
    struct rig *r = *state;
    const uint32_t dbp = 0x420E0020u;
    const uint32_t pls = 0xE0u, pvde = 0x10u; /* PWR_CR fields that must survive */
    assert_int_equal(bus_map(&r->bus, PWR_BASE, WINDOW_GRANULE, &fake_ops, &r->pwr), 0);
    r->pwr.regs[0] = pls | pvde;

    assert_int_equal(bus_write(&r->bus, dbp, 4, 1), BUS_OK);
    assert_int_equal(r->pwr.reads, 1);
    assert_int_equal(r->pwr.writes, 1);
    assert_int_equal(r->pwr.last_offset, 0);
    assert_int_equal(r->pwr.last_size, 4);
    assert_int_equal(r->pwr.last_value, pls | pvde | (1u << PWR_CR_DBP_BIT));

    assert_int_equal(read_ok(&r->bus, dbp, 4), 1);
    assert_int_equal(r->pwr.reads, 2);
    assert_int_equal(r->pwr.writes, 1);

    assert_int_equal(bus_write(&r->bus, dbp, 4, 0), BUS_OK);
    assert_int_equal(r->pwr.reads, 3);
    assert_int_equal(r->pwr.writes, 2);
    assert_int_equal(r->pwr.last_value, pls | pvde);
    assert_int_equal(read_ok(&r->bus, dbp, 4), 0);
}

static void test_peripheral_bitband_reaches_each_register_of_a_block(void **state)
{
    struct rig *r = *state;
    assert_int_equal(bus_map(&r->bus, RCC_BASE, WINDOW_GRANULE, &fake_ops, &r->rcc), 0);
    r->rcc.regs[0] = 0x00000083u;          /* RCC_CR reset value */
    r->rcc.regs[1] = 1u << RCC_CFGR_USBPRE_BIT;

    assert_int_equal(bus_write(&r->bus, 0x42420060u, 4, 1), BUS_OK); /* RCC_CR.PLLON */
    assert_int_equal(r->rcc.regs[0], 0x00000083u | (1u << RCC_CR_PLLON_BIT));
    assert_int_equal(bus_write(&r->bus, 0x424200D8u, 4, 0), BUS_OK); /* RCC_CFGR.USBPRE */
    assert_int_equal(r->rcc.regs[1], 0);
    assert_int_equal(r->rcc.last_offset, RCC_CFGR - RCC_BASE);
    assert_int_equal(bus_write(&r->bus, 0x4242043Cu, 4, 1), BUS_OK); /* RCC_BDCR.RTCEN */
    assert_int_equal(r->rcc.regs[(RCC_BDCR - RCC_BASE) / 4], 1u << RCC_BDCR_RTCEN_BIT);
}

/* ---- memories ------------------------------------------------------------ */

static void test_flash_reads_at_its_base_and_at_the_alias_at_zero(void **state)
{
    struct rig *r = *state;
    const uint32_t off = 0x1234;
    assert_int_equal(read_ok(&r->bus, FLASH_BASE, 4), le32(r->flash));
    assert_int_equal(read_ok(&r->bus, FLASH_BASE + off, 4), le32(r->flash + off));
    assert_int_equal(read_ok(&r->bus, off, 4), le32(r->flash + off));
    assert_int_equal(read_ok(&r->bus, FLASH_BASE + off + 2, 2),
                     (uint32_t)r->flash[off + 2] | (uint32_t)r->flash[off + 3] << 8);
    assert_int_equal(read_ok(&r->bus, off + 3, 1), r->flash[off + 3]);
    assert_int_equal(read_ok(&r->bus, FLASH_BASE + FLASH_SIZE - 4, 4),
                     le32(r->flash + FLASH_SIZE - 4));
    assert_int_equal(read_ok(&r->bus, FLASH_SIZE - 4, 4), le32(r->flash + FLASH_SIZE - 4));

    uint32_t v;
    assert_int_equal(bus_read(&r->bus, FLASH_BASE + FLASH_SIZE, 4, &v), BUS_FAULT);
    assert_int_equal(bus_read(&r->bus, FLASH_BASE + FLASH_SIZE - 2, 4, &v), BUS_FAULT);
    assert_int_equal(bus_read(&r->bus, FLASH_SIZE, 4, &v), BUS_FAULT);
}

static void test_flash_stores_go_to_the_flash_interface(void **state)
{
    struct rig *r = *state;
    uint8_t *before = malloc(FLASH_SIZE);
    assert_non_null(before);
    memcpy(before, r->flash, FLASH_SIZE);

    assert_int_equal(bus_write(&r->bus, FLASH_BASE + 0x5000, 2, 0xA5A5), BUS_OK);
    assert_int_equal(r->fpec.count, 1);
    assert_int_equal(r->fpec.offset, 0x5000);
    assert_int_equal(r->fpec.value, 0xA5A5);
    assert_int_equal(r->fpec.size, 2);

    /* through the alias at 0: the same offset into flash */
    assert_int_equal(bus_write(&r->bus, 0x5002, 2, 0x1234), BUS_OK);
    assert_int_equal(r->fpec.count, 2);
    assert_int_equal(r->fpec.offset, 0x5002);

    assert_memory_equal(r->flash, before, FLASH_SIZE); /* only the FPEC may change flash */
    free(before);
}

static void test_sram_is_little_endian_and_bounded(void **state)
{
    struct rig *r = *state;
    const uint32_t off = 0x10;
    assert_int_equal(bus_write(&r->bus, SRAM_BASE + off, 4, 0x11223344u), BUS_OK);
    assert_int_equal(r->sram[off], 0x44);
    assert_int_equal(r->sram[off + 3], 0x11);
    assert_int_equal(read_ok(&r->bus, SRAM_BASE + off + 2, 2), 0x1122);
    assert_int_equal(bus_write(&r->bus, SRAM_BASE + off + 1, 1, 0xAB), BUS_OK);
    assert_int_equal(read_ok(&r->bus, SRAM_BASE + off, 4), 0x1122AB44u);

    assert_int_equal(bus_write(&r->bus, SRAM_BASE + SRAM_SIZE - 4, 4, 0xCAFEF00Du), BUS_OK);
    assert_int_equal(read_ok(&r->bus, SRAM_BASE + SRAM_SIZE - 4, 4), 0xCAFEF00Du);

    uint32_t v;
    assert_int_equal(bus_read(&r->bus, SRAM_BASE + SRAM_SIZE, 4, &v), BUS_FAULT);
    assert_int_equal(bus_write(&r->bus, SRAM_BASE + SRAM_SIZE, 4, 0), BUS_FAULT);
    assert_int_equal(bus_read(&r->bus, SRAM_BASE + SRAM_SIZE - 2, 4, &v), BUS_FAULT);
}

static void test_system_memory_is_readable_and_ignores_stores(void **state)
{
    struct rig *r = *state;
    /* the flash-size word (in KiB) and the first word of the unique ID */
    r->sysmem[FLASHSIZE_ADDR - SYSMEM_BASE] = STM32F103CB_FLASH_KB;
    r->sysmem[FLASHSIZE_ADDR - SYSMEM_BASE + 1] = 0;
    assert_int_equal(read_ok(&r->bus, FLASHSIZE_ADDR, 2), STM32F103CB_FLASH_KB);
    assert_int_equal(read_ok(&r->bus, UID_ADDR, 4), le32(r->sysmem + (UID_ADDR - SYSMEM_BASE)));
    assert_int_equal(read_ok(&r->bus, SYSMEM_BASE, 4), le32(r->sysmem));
    assert_int_equal(read_ok(&r->bus, OPTBYTES_BASE, 4), le32(r->sysmem + SYSMEM_SIZE));

    uint32_t uid = read_ok(&r->bus, UID_ADDR, 4);
    assert_int_equal(bus_write(&r->bus, UID_ADDR, 4, ~uid), BUS_OK);
    assert_int_equal(read_ok(&r->bus, UID_ADDR, 4), uid);
}

static void test_unmapped_addresses_are_bus_faults(void **state)
{
    struct rig *r = *state;
    static const uint32_t holes[] = {
        FLASH_SIZE,                         /* past the alias of flash at 0 */
        0x10000000u,
        SYSMEM_BASE - 4,
        SRAM_BASE + SRAM_SIZE,
        SRAM_BB_BASE + SRAM_SIZE * 32u,     /* alias of SRAM that does not exist */
        0x30000000u,
        0x60000000u,
        0xA0000000u,
        PPB_BASE + PPB_SIZE,
        0xFFFFFFFCu,
    };
    for (size_t i = 0; i < sizeof holes / sizeof holes[0]; i++) {
        uint32_t v = 0;
        assert_int_equal(bus_read(&r->bus, holes[i], 4, &v), BUS_FAULT);
        assert_int_equal(bus_write(&r->bus, holes[i], 4, 0), BUS_FAULT);
    }
}

/* ---- windows ------------------------------------------------------------- */

static void test_bus_map_refuses_overlapping_or_unaligned_windows(void **state)
{
    struct rig *r = *state;
    struct bus *bus = &r->bus;
    const uint32_t base = 0x40010000u;
    struct fake_block other = {0};

    assert_int_equal(bus_map(bus, base, WINDOW_GRANULE, &fake_ops, &r->pwr), 0);
    assert_int_equal(bus_map(bus, base, WINDOW_GRANULE, &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, base - WINDOW_GRANULE, 2 * WINDOW_GRANULE, &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, base + 2 * WINDOW_GRANULE + 4, WINDOW_GRANULE, &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, base + 2 * WINDOW_GRANULE, WINDOW_GRANULE + 0x100, &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, base + 2 * WINDOW_GRANULE, 0, &fake_ops, &other), -1);
    /* outside the peripheral and PPB spaces, or running off their end */
    assert_int_equal(bus_map(bus, SRAM_BASE, WINDOW_GRANULE, &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, PERIPH_BASE + PERIPH_SIZE - WINDOW_GRANULE, 2 * WINDOW_GRANULE,
                             &fake_ops, &other), -1);
    assert_int_equal(bus_map(bus, PPB_BASE + PPB_SIZE - WINDOW_GRANULE, 2 * WINDOW_GRANULE,
                             &fake_ops, &other), -1);

    /* the refusals left the first window in place, and a neighbour fits */
    const struct bus_window *w = bus_find(bus, base + 0x10);
    assert_non_null(w);
    assert_ptr_equal(w->opaque, &r->pwr);
    assert_int_equal(bus_map(bus, base + WINDOW_GRANULE, WINDOW_GRANULE, &fake_ops, &other), 0);
    assert_ptr_equal(bus_find(bus, base + WINDOW_GRANULE)->opaque, &other);
    assert_ptr_equal(bus_find(bus, base + WINDOW_GRANULE - 1)->opaque, &r->pwr);
    assert_null(bus_find(bus, base - 1));
}

static void test_window_receives_offset_from_its_base_and_access_size(void **state)
{
    struct rig *r = *state;
    assert_int_equal(bus_map(&r->bus, RCC_BASE, WINDOW_GRANULE, &fake_ops, &r->rcc), 0);
    assert_int_equal(bus_map(&r->bus, SCS_BASE, FAKE_BLOCK_SIZE, &fake_ops, &r->scs), 0);
    r->rcc.regs[1] = 0x0000ABCDu;
    r->scs.regs[SCB_CPUID_OFFSET / 4] = 0x411FC231u;

    assert_int_equal(read_ok(&r->bus, RCC_CFGR, 2), 0xABCD);
    assert_int_equal(r->rcc.last_offset, 4);
    assert_int_equal(r->rcc.last_size, 2);
    assert_int_equal(read_ok(&r->bus, SCS_BASE + SCB_CPUID_OFFSET, 4), 0x411FC231u);
    assert_int_equal(r->scs.last_offset, SCB_CPUID_OFFSET);

    assert_int_equal(bus_write(&r->bus, RCC_BASE + 0x19, 1, 0x5A), BUS_OK);
    assert_int_equal(r->rcc.last_offset, 0x19);
    assert_int_equal(r->rcc.last_size, 1);
    assert_int_equal(r->rcc.regs[0x18 / 4], 0x5A00u);
}

static void test_unmodelled_peripheral_address_reads_zero_and_warns_once(void **state)
{
    struct rig *r = *state;
    const uint32_t usart3 = 0x40004800u; /* nothing mapped there in this rig */

    assert_int_equal(read_ok(&r->bus, usart3, 4), 0);
    assert_int_equal(read_ok(&r->bus, usart3, 4), 0);
    assert_int_equal(bus_write(&r->bus, usart3, 4, 0x1234), BUS_OK);
    fflush(r->sim.log);
    assert_non_null(r->log_text);
    const char *first = strstr(r->log_text, "0x40004800");
    assert_non_null(first);
    /* one warning per direction, not one per access */
    const char *second = strstr(first + 1, "0x40004800");
    assert_non_null(second);
    assert_null(strstr(second + 1, "0x40004800"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, rig_setup, rig_teardown)
        T(test_bitband_arithmetic_for_peripheral_alias),
        T(test_bitband_arithmetic_for_sram_alias),
        T(test_sram_bitband_write_sets_and_clears_one_bit),
        T(test_peripheral_bitband_write_is_one_read_and_one_word_write),
        T(test_peripheral_bitband_reaches_each_register_of_a_block),
        T(test_flash_reads_at_its_base_and_at_the_alias_at_zero),
        T(test_flash_stores_go_to_the_flash_interface),
        T(test_sram_is_little_endian_and_bounded),
        T(test_system_memory_is_readable_and_ignores_stores),
        T(test_unmapped_addresses_are_bus_faults),
        T(test_bus_map_refuses_overlapping_or_unaligned_windows),
        T(test_window_receives_offset_from_its_base_and_access_size),
        T(test_unmodelled_peripheral_address_reads_zero_and_warns_once),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
