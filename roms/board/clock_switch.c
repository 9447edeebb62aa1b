/*
 * clock_switch.c - the core runs at HCLK as RCC configures it, and everything
 * that counts core cycles follows each switch. In four clock set-ups, one
 * after the other:
 *   1. after reset: HSI 8 MHz, no prescalers (what code before SystemInit sees);
 *   2. SystemInit's: PLL = HSE 8 MHz x 9 = 72 MHz, APB1 /2;
 *   3. the same with the AHB prescaler HPRE /2: HCLK 36 MHz;
 *   4. PLL = HSI/2 x 16 = 64 MHz, APB1 /2, APB2 /2 (72/64: not a whole
 *      number of virtual-time ticks per cycle);
 * TIM2 is set to count microseconds from its own input clock (PCLK1, doubled
 * when the APB1 prescaler is not 1), and over the same interval the ROM checks
 * that DWT CYCCNT advances HCLK cycles per microsecond and SysTick (clocked by
 * HCLK/8) HCLK/8, each within 1 %, and that a fixed instruction loop costs the
 * same number of cycles in every set-up but 9 times the microseconds at 8 MHz
 * as at 72 MHz. SPI1 (on PCLK2) shifts a frame at PCLK2 / 32: 8 bits are 256
 * PCLK2 cycles, measured in HCLK cycles from the DR write to BSY clear, with
 * TXE back at once (the frame went to the shift register), a second frame
 * waiting in the TX buffer (TXE clear, BSY staying set), and RXNE at the end.
 *
 * Design decision: TIM2 is the reference because its clock comes from the
 * same tree by a different path (the APB1 prescaler and the x2 timer rule), so
 * a core clock stuck at one rate, or a timer clock that ignores RCC, both
 * break a ratio.
 */
#include "rom.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021004u)
#define RCC_APB1ENR REG(0x4002101Cu)
#define FLASH_ACR REG(0x40022000u)
#define TIM2_CR1 REG(0x40000000u)
#define TIM2_EGR REG(0x40000014u)
#define TIM2_CNT REG(0x40000024u)
#define TIM2_PSC REG(0x40000028u)
#define TIM2_ARR REG(0x4000002Cu)
#define SPI1_CR1 REG(0x40013000u)
#define SPI1_SR REG(0x40013008u)
#define SPI1_DR REG(0x4001300Cu)

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_HSIRDY (1u << 1)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_CFGR_SW_MASK 3u
#define RCC_CFGR_SW_HSI 0u
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_SHIFT 2
#define RCC_CFGR_HPRE_DIV2 (8u << 4)
#define RCC_CFGR_PPRE1_DIV2 (4u << 8)
#define RCC_CFGR_PPRE2_DIV2 (4u << 11)
#define RCC_CFGR_PLLSRC_HSE (1u << 16)
#define RCC_CFGR_PLLMUL(n) (((n) - 2u) << 18)
#define RCC_APB1ENR_TIM2EN (1u << 0)
#define RCC_APB2ENR REG(0x40021018u)
#define RCC_APB2ENR_SPI1EN (1u << 12)
#define SPI_CR1_MASTER_DIV32 0x0364u /* SSM, SSI, SPE, BR = 100 (/32), MSTR */
#define SPI_SR_RXNE (1u << 0)
#define SPI_SR_TXE (1u << 1)
#define SPI_SR_BSY (1u << 7)
#define SPI_FRAME_PCLK_CYCLES 256u /* 8 bits x 32 */
#define FLASH_ACR_LATENCY_2 2u
#define FLASH_ACR_PRFTBE (1u << 4)
#define TIM_CR1_CEN (1u << 0)
#define TIM_EGR_UG (1u << 0)

#define POLL_LIMIT 1000000u
#define WINDOW_US 2000u     /* each measurement spans 2 ms of TIM2 time */
#define FIXED_LOOP_SPINS 20000u
#define TOLERANCE_PER_MILLE 10u

static void wait_for(uint32_t mask, uint32_t want, const char *what)
{
    for (uint32_t n = 0; (RCC_CR & mask) != want; n++)
        if (n == POLL_LIMIT)
            fail("%s never happened", what);
}

static void switch_to(uint32_t sw)
{
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | sw;
    for (uint32_t n = 0; ((RCC_CFGR >> RCC_CFGR_SWS_SHIFT) & RCC_CFGR_SW_MASK) != sw; n++)
        if (n == POLL_LIMIT)
            fail("SWS never followed SW = %u", (unsigned)sw);
}

/* The PLL from `cfgr_pll` (source and multiplier), with the bus prescalers in `cfgr_bus`. */
static void use_pll(uint32_t cfgr_pll, uint32_t cfgr_bus)
{
    switch_to(RCC_CFGR_SW_HSI);
    RCC_CR &= ~RCC_CR_PLLON;
    wait_for(RCC_CR_PLLRDY, 0, "PLLRDY clearing");
    RCC_CFGR = cfgr_pll | cfgr_bus;
    RCC_CR |= RCC_CR_PLLON;
    wait_for(RCC_CR_PLLRDY, RCC_CR_PLLRDY, "PLLRDY");
    switch_to(RCC_CFGR_SW_PLL);
}

static void tim2_count_us(uint32_t tim_mhz)
{
    TIM2_CR1 = 0;
    TIM2_PSC = tim_mhz - 1u;
    TIM2_ARR = 0xFFFFu;
    TIM2_EGR = TIM_EGR_UG; /* load the prescaler now */
    TIM2_CR1 = TIM_CR1_CEN;
}

static bool within(uint32_t value, uint32_t expected)
{
    uint32_t slack = expected * TOLERANCE_PER_MILLE / 1000u;
    return value + slack >= expected && value <= expected + slack;
}

/* A loop of a fixed instruction count: its cycles are the same at any clock. */
__attribute__((noinline)) static void fixed_loop(void)
{
    for (volatile uint32_t i = 0; i < FIXED_LOOP_SPINS; i++) {
    }
}

struct sample {
    uint32_t loop_cycles, loop_us;
};

/* Two frames on SPI1, back to back: HCLK cycles from the first DR write until BSY clears. */
static void spi1_frames(const char *what, uint32_t hclk_per_pclk2)
{
    SPI1_CR1 = SPI_CR1_MASTER_DIV32;
    (void)SPI1_DR;
    uint32_t start = DWT_CYCCNT;
    SPI1_DR = 0x5Au;
    uint32_t sr_first = SPI1_SR;
    SPI1_DR = 0xA5u;
    uint32_t sr_second = SPI1_SR;
    uint32_t one = 0, n = 0;
    while (!(SPI1_SR & SPI_SR_RXNE) && n++ < POLL_LIMIT) {
    }
    one = DWT_CYCCNT - start;
    uint32_t sr_after_one = SPI1_SR;
    (void)SPI1_DR;
    while ((SPI1_SR & SPI_SR_BSY) && n++ < POLL_LIMIT) {
    }
    uint32_t two = DWT_CYCCNT - start;
    uint32_t sr_end = SPI1_SR;
    (void)SPI1_DR;
    SPI1_CR1 = 0;
    rom_printf("%s: SPI1 frames end after %u and %u cycles\n", what, (unsigned)one, (unsigned)two);
    check((sr_first & (SPI_SR_TXE | SPI_SR_BSY)) == (SPI_SR_TXE | SPI_SR_BSY),
          "a frame written to an idle SPI moves to the shift register at once (TXE, BSY)");
    check((sr_second & (SPI_SR_TXE | SPI_SR_BSY)) == SPI_SR_BSY, "a second frame waits in the TX buffer (TXE clear)");
    check((sr_after_one & (SPI_SR_TXE | SPI_SR_BSY)) == (SPI_SR_TXE | SPI_SR_BSY),
          "the waiting frame follows the first without a gap (TXE, BSY still set)");
    check((sr_end & (SPI_SR_RXNE | SPI_SR_BSY)) == SPI_SR_RXNE, "after the second frame: RXNE, BSY clear");
    uint32_t frame = SPI_FRAME_PCLK_CYCLES * hclk_per_pclk2;
    /* the polling loops add a few cycles to each figure */
    if (one < frame || one > frame + frame / 16u || two < 2u * frame || two > 2u * frame + frame / 16u)
        fail("%s: SPI1 frames at PCLK2/32 should take %u HCLK cycles each; they ended after %u and %u", what,
             (unsigned)frame, (unsigned)one, (unsigned)two);
}

static struct sample measure(const char *what, uint32_t hclk_mhz, uint32_t tim_mhz, uint32_t hclk_per_pclk2)
{
    spi1_frames(what, hclk_per_pclk2);
    tim2_count_us(tim_mhz);
    SYST_RVR = SYST_RVR_RELOAD_MASK;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE; /* CLKSOURCE = 0: HCLK / 8 */

    uint16_t t0 = (uint16_t)TIM2_CNT;
    while ((uint16_t)TIM2_CNT == t0) {
    }
    t0 = (uint16_t)TIM2_CNT;
    uint32_t c0 = DWT_CYCCNT, s0 = SYST_CVR;
    while ((uint16_t)((uint16_t)TIM2_CNT - t0) < WINDOW_US) {
    }
    uint32_t c1 = DWT_CYCCNT, s1 = SYST_CVR;
    uint16_t us = (uint16_t)((uint16_t)TIM2_CNT - t0);
    uint32_t cycles = c1 - c0;
    uint32_t systicks = (s0 - s1) & SYST_RVR_RELOAD_MASK;
    rom_printf("%s: %u us, %u CYCCNT cycles, %u SysTick counts\n", what, (unsigned)us, (unsigned)cycles,
               (unsigned)systicks);
    if (!within(cycles, hclk_mhz * us))
        fail("%s: CYCCNT counted %u cycles in %u us, expected %u MHz", what, (unsigned)cycles, (unsigned)us,
             (unsigned)hclk_mhz);
    if (!within(systicks * 8u, hclk_mhz * us))
        fail("%s: SysTick (HCLK/8) counted %u in %u us, expected %u", what, (unsigned)systicks, (unsigned)us,
             (unsigned)(hclk_mhz * us / 8u));

    struct sample s;
    uint16_t l0 = (uint16_t)TIM2_CNT;
    uint32_t k0 = DWT_CYCCNT;
    fixed_loop();
    s.loop_cycles = DWT_CYCCNT - k0;
    s.loop_us = (uint16_t)((uint16_t)TIM2_CNT - l0);
    SYST_CSR = 0;
    rom_printf("%s: fixed loop %u cycles, %u us\n", what, (unsigned)s.loop_cycles, (unsigned)s.loop_us);
    return s;
}

int main(void)
{
    if (!cyccnt_start())
        fail("DWT CYCCNT does not count");
    RCC_APB1ENR |= RCC_APB1ENR_TIM2EN;
    RCC_APB2ENR |= RCC_APB2ENR_SPI1EN;
    check(((RCC_CFGR >> RCC_CFGR_SWS_SHIFT) & RCC_CFGR_SW_MASK) == RCC_CFGR_SW_HSI, "reset runs on the HSI");

    struct sample hsi = measure("HSI 8 MHz", 8u, 8u, 1u);

    /* SystemInit: HSE, flash latency 2, PLL x9, APB1 /2 (TIM2 gets 2 x 36 MHz) */
    RCC_CR |= RCC_CR_HSEON;
    wait_for(RCC_CR_HSERDY, RCC_CR_HSERDY, "HSERDY");
    FLASH_ACR = FLASH_ACR_PRFTBE | FLASH_ACR_LATENCY_2;
    use_pll(RCC_CFGR_PLLSRC_HSE | RCC_CFGR_PLLMUL(9u), RCC_CFGR_PPRE1_DIV2);
    struct sample pll72 = measure("PLL 72 MHz", 72u, 72u, 1u);

    /* HPRE /2: HCLK 36 MHz, PCLK1 18 MHz, TIM2 36 MHz */
    RCC_CFGR |= RCC_CFGR_HPRE_DIV2;
    struct sample ahb36 = measure("PLL 72 MHz, AHB /2", 36u, 36u, 1u);

    /* HSI/2 x 16 = 64 MHz: 9/8 ticks of virtual time per cycle; PCLK2 32 MHz */
    use_pll(RCC_CFGR_PLLMUL(16u), RCC_CFGR_PPRE1_DIV2 | RCC_CFGR_PPRE2_DIV2);
    struct sample pll64 = measure("PLL 64 MHz", 64u, 64u, 2u);

    /* the same instructions, the same cycles, at every clock */
    check(within(pll72.loop_cycles, hsi.loop_cycles), "the fixed loop costs the same cycles at 72 MHz as at 8 MHz");
    check(within(ahb36.loop_cycles, hsi.loop_cycles), "... at 36 MHz");
    check(within(pll64.loop_cycles, hsi.loop_cycles), "... at 64 MHz");
    /* so it takes 9 times as long at 8 MHz as at 72 MHz */
    check(within(hsi.loop_us, 9u * pll72.loop_us), "the fixed loop takes 9 times as long on the HSI");
    check(within(ahb36.loop_us, 2u * pll72.loop_us), "... and twice as long with HPRE /2");
    pass();
}
