/*
 * vtor_relocation - exceptions are vectored through the table VTOR points at,
 * read at the time each exception is taken:
 *   a copy of the vector table in SRAM with two entries replaced, selected by
 *   VTOR, routes an IRQ and PendSV to the SRAM table's handlers;
 *   changing an SRAM entry afterwards takes effect on the next exception;
 *   VTOR bits [6:0] read as zero;
 *   VTOR back at 0x08000000 and at 0 (the boot alias of flash) routes the IRQ
 *   to the flash table's handler again.
 *
 * Design decision: the SRAM table is aligned to 256 bytes, the next power of
 * two above 59 vectors * 4 bytes, as the ARMv7-M rules for TBLOFF require.
 */
#include "rom.h"

#define PRIORITY_A 0x80u

#define FLASH_TABLE 0x08000000u
#define BOOT_ALIAS_TABLE 0x00000000u
#define VTOR_RESERVED_BITS 0x7Fu

static uintptr_t sram_vectors[ROM_NUM_VECTORS] __attribute__((aligned(256)));

void TEST_IRQ_A_HANDLER(void) { log_event('F'); }
static void sram_irq_a_handler(void) { log_event('R'); }
static void sram_irq_a_handler_replaced(void) { log_event('S'); }
static void sram_pendsv_handler(void) { log_event('P'); }

static void take_irq_a(void)
{
    nvic_set_pending(TEST_IRQ_A);
    barrier_take_pending();
}

static void set_vtor(uint32_t table)
{
    SCB_VTOR = table;
    barrier_take_pending();
}

int main(void)
{
    nvic_set_priority(TEST_IRQ_A, PRIORITY_A);
    nvic_enable(TEST_IRQ_A);

    check_eq(SCB_VTOR, BOOT_ALIAS_TABLE, "VTOR out of reset");
    take_irq_a();
    expect_events("F", "VTOR=0: flash handler through the boot alias");

    for (unsigned i = 0; i < ROM_NUM_VECTORS; i++)
        sram_vectors[i] = rom_vectors[i];
    sram_vectors[EXC_IRQ0 + TEST_IRQ_A] = (uintptr_t)sram_irq_a_handler;
    sram_vectors[EXC_PENDSV] = (uintptr_t)sram_pendsv_handler;
    uint32_t sram_table = (uintptr_t)sram_vectors;

    set_vtor(sram_table | VTOR_RESERVED_BITS);
    check_eq(SCB_VTOR, sram_table, "VTOR holds the SRAM table, bits [6:0] read as zero");
    take_irq_a();
    expect_events("R", "IRQ through the SRAM table");
    SCB_ICSR = ICSR_PENDSVSET;
    barrier_take_pending();
    expect_events("P", "PendSV through the SRAM table");

    sram_vectors[EXC_IRQ0 + TEST_IRQ_A] = (uintptr_t)sram_irq_a_handler_replaced;
    dsb();
    take_irq_a();
    expect_events("S", "IRQ after its SRAM vector was replaced");

    set_vtor(FLASH_TABLE);
    check_eq(SCB_VTOR, FLASH_TABLE, "VTOR back at flash");
    take_irq_a();
    expect_events("F", "IRQ through the flash table again");

    set_vtor(BOOT_ALIAS_TABLE);
    take_irq_a();
    expect_events("F", "IRQ through the boot alias again");
    pass();
}
