/*
 * fuzz_snapshot.c - libFuzzer target for the snapshot loader's side of every
 * block (emu/snapshot.c and each block's field list): the first byte picks a
 * block, the rest is that block's section body as a hostile file would hold
 * it; the events it names go back into the queue, which then runs empty.
 *
 * Design decision: a snapshot's CRC and build identity keep damaged files out,
 * but a file can be forged, so what a field list reads (counts, lengths,
 * indexes, enums) must never take a block's own code outside its arrays. The
 * blocks are built once, on a bare struct sim, as the unit tests build them;
 * a load into a block only writes its fields, and every load starts from the
 * state the last one left, as a long-running process would.
 */
#include "emu/nvic.h"
#include "emu/snapshot.h"
#include "peripherals/ext/button.h"
#include "peripherals/ext/cc3000.h"
#include "peripherals/ext/rgb_led.h"
#include "peripherals/ext/sst25vf016b.h"
#include "peripherals/stm32f1/adc.h"
#include "peripherals/stm32f1/afio.h"
#include "peripherals/stm32f1/bkp.h"
#include "peripherals/stm32f1/crc.h"
#include "peripherals/stm32f1/dbgmcu.h"
#include "peripherals/stm32f1/dma.h"
#include "peripherals/stm32f1/exti.h"
#include "peripherals/stm32f1/flash.h"
#include "peripherals/stm32f1/gpio.h"
#include "peripherals/stm32f1/iwdg.h"
#include "peripherals/stm32f1/pwr.h"
#include "peripherals/stm32f1/rcc.h"
#include "peripherals/stm32f1/rtc.h"
#include "peripherals/stm32f1/spi.h"
#include "peripherals/stm32f1/tim.h"
#include "peripherals/stm32f1/usart.h"
#include "peripherals/stm32f1/usb.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct world {
    struct sim sim;
    struct bus bus;
    uint8_t *flash, *opt, *ext;
    struct stm32_rcc rcc;
    struct stm32_flash fpec;
    struct stm32_gpio gpio;
    struct stm32_afio afio;
    struct stm32_exti exti;
    struct stm32_bkp bkp;
    struct stm32_pwr pwr;
    struct stm32_rtc rtc;
    struct stm32_iwdg iwdg;
    struct stm32_dbgmcu dbgmcu;
    struct stm32_crc crc;
    struct stm32_tim tim;
    struct stm32_spi spi;
    struct stm32_dma dma;
    struct stm32_usart usart;
    struct stm32_adc adc;
    struct stm32_usb usb;
    struct nvic nvic;
    struct sst25 sst25;
    struct cc3000 cc3000;
    struct rgb_led led;
    struct button button;
} *w;

static void build(void)
{
    w = calloc(1, sizeof *w);
    w->flash = malloc(FLASH_SIZE);
    w->opt = malloc(STM32_OPTBYTES_SIZE);
    w->ext = malloc(SST25_SIZE);
    if (!w || !w->flash || !w->opt || !w->ext)
        abort();
    memset(w->flash, 0xFF, FLASH_SIZE);
    memset(w->ext, 0xFF, SST25_SIZE);
    stm32_flash_default_option_bytes(w->opt);
    sim_init(&w->sim);
    w->sim.log_level = LOG_ERROR;
    bus_init(&w->bus, &w->sim, w->flash, NULL, NULL);
    stm32_rcc_init(&w->rcc, &w->sim);
    stm32_flash_init(&w->fpec, &w->sim, &w->bus, w->flash, w->opt);
    stm32_gpio_init(&w->gpio, &w->sim, "GPIOA");
    stm32_afio_init(&w->afio, &w->sim);
    stm32_exti_init(&w->exti, &w->sim);
    stm32_bkp_init(&w->bkp, &w->sim);
    stm32_pwr_init(&w->pwr, &w->sim);
    stm32_rtc_init(&w->rtc, &w->sim);
    stm32_iwdg_init(&w->iwdg, &w->sim);
    stm32_dbgmcu_init(&w->dbgmcu, &w->sim);
    stm32_crc_init(&w->crc, &w->sim);
    stm32_tim_init(&w->tim, &w->sim, "TIM1", true, 8000000u);
    stm32_spi_init(&w->spi, &w->sim, "SPI2");
    stm32_dma_init(&w->dma, &w->sim, "DMA1");
    stm32_usart_init(&w->usart, &w->sim, "USART2", 8000000u);
    stm32_adc_init(&w->adc, &w->sim, "ADC1");
    stm32_usb_init(&w->usb, &w->sim);
    nvic_init(&w->nvic, &w->sim);
    sst25_init(&w->sst25, &w->sim, w->ext);
    cc3000_init(&w->cc3000, &w->sim, 0);
    rgb_led_init(&w->led, &w->sim);
    button_init(&w->button, &w->sim, "mode");
}

static void load(unsigned which, struct snap_reader *r)
{
    switch (which % 22) {
    case 0: stm32_rcc_load(&w->rcc, r); break;
    case 1: stm32_flash_load(&w->fpec, r); break;
    case 2: stm32_gpio_load(&w->gpio, r); break;
    case 3: stm32_afio_load(&w->afio, r); break;
    case 4: stm32_exti_load(&w->exti, r); break;
    case 5: stm32_bkp_snapshot_load(&w->bkp, r); break;
    case 6: stm32_pwr_load(&w->pwr, r); break;
    case 7: stm32_rtc_load(&w->rtc, r); break;
    case 8: stm32_iwdg_load(&w->iwdg, r); break;
    case 9: stm32_dbgmcu_load(&w->dbgmcu, r); break;
    case 10: stm32_crc_load(&w->crc, r); break;
    case 11: stm32_tim_load(&w->tim, r); break;
    case 12: stm32_spi_load(&w->spi, r); break;
    case 13: stm32_dma_load(&w->dma, r); break;
    case 14: stm32_usart_load(&w->usart, r); break;
    case 15: stm32_adc_load(&w->adc, r); break;
    case 16: stm32_usb_load(&w->usb, r); break;
    case 17: nvic_load(&w->nvic, r); break;
    case 18: sst25_load(&w->sst25, r); break;
    case 19: cc3000_load(&w->cc3000, r); break;
    case 20: rgb_led_load(&w->led, r); break;
    default: button_load(&w->button, r); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!w)
        build();
    if (size < 1)
        return 0;
    struct snap_reader r;
    snap_reader_init(&r, data + 1, size - 1);
    load(data[0], &r);
    if (r.failed && strncmp(r.err, "section ", 8) != 0)
        abort(); /* every failure names its section */
    /* the queue is rebuilt from whatever the block accepted, and then every event runs or goes */
    w->sim.nrefresh = 0;
    snap_restore_events(&r, &w->sim, w->sim.clock.now, w->sim.clock.seq + (uint64_t)r.nevents);
    for (int i = 0; i < w->sim.clock.count; i++)
        if (w->sim.clock.heap[i]->heap_index != i)
            abort();
    clock_clear(&w->sim.clock);
    snap_reader_free(&r);
    return 0;
}
