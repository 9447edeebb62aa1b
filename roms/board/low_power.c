/*
 * low_power.c - Stop and Standby entry (WFI with SCB_SCR.SLEEPDEEP):
 *  1. Stop (PDDS = 0): the RTC alarm on EXTI17 wakes the core about 2 s later;
 *     SysTick stood still meanwhile (its clock stops); the alarm handler ran.
 *  2. Standby (PDDS = 1): the RTC alarm wakes the chip with a reset; SRAM is
 *     lost, BKP and the RTC counter are kept, PWR_CSR.SBF and WUF are set.
 * The phase is kept in BKP_DR2, which survives Standby.
 */
#include "rom.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_APB1ENR REG(0x4002101Cu)
#define RCC_BDCR REG(0x40021020u)
#define PWR_CR REG(0x40007000u)
#define PWR_CSR REG(0x40007004u)
#define BKP_DR1 REG(0x40006C04u)
#define BKP_DR2 REG(0x40006C08u)
#define RTC_CRL REG(0x40002804u)
#define RTC_PRLH REG(0x40002808u)
#define RTC_PRLL REG(0x4000280Cu)
#define RTC_CNTH REG(0x40002818u)
#define RTC_CNTL REG(0x4000281Cu)
#define RTC_ALRH REG(0x40002820u)
#define RTC_ALRL REG(0x40002824u)
#define EXTI_IMR REG(0x40010400u)
#define EXTI_RTSR REG(0x40010408u)
#define EXTI_PR REG(0x40010414u)
#define NVIC_ISER1 REG(0xE000E104u)

#define RCC_APB1ENR_BKPEN (1u << 27)
#define RCC_APB1ENR_PWREN (1u << 28)
#define RCC_BDCR_LSEON (1u << 0)
#define RCC_BDCR_LSERDY (1u << 1)
#define RCC_BDCR_RTCSEL_LSE (1u << 8)
#define RCC_BDCR_RTCEN (1u << 15)
#define PWR_CR_LPDS (1u << 0)
#define PWR_CR_PDDS (1u << 1)
#define PWR_CR_CWUF (1u << 2)
#define PWR_CR_CSBF (1u << 3)
#define PWR_CR_DBP (1u << 8)
#define PWR_CSR_WUF (1u << 0)
#define PWR_CSR_SBF (1u << 1)
#define RTC_CRL_ALRF (1u << 1)
#define RTC_CRL_RSF (1u << 3)
#define RTC_CRL_CNF (1u << 4)
#define RTC_CRL_RTOFF (1u << 5)
#define EXTI_LINE_RTC_ALARM (1u << 17)
#define IRQ_RTC_ALARM 41u
#define SCB_SCR_SLEEPDEEP (1u << 2)

#define NOT_YET 0x5A5Au
#define PHASE_STANDBY 0x0002u
#define SRAM_MARKER 0xC0FFEE42u

NOINIT static uint32_t sram_marker;
static volatile uint32_t ticks, alarms;

void SysTick_Handler(void);
void SysTick_Handler(void) { ticks++; }

void RTCAlarm_IRQHandler(void);
void RTCAlarm_IRQHandler(void)
{
    RTC_CRL &= ~RTC_CRL_ALRF;
    EXTI_PR = EXTI_LINE_RTC_ALARM;
    alarms++;
}

static void rtc_wait_write(void)
{
    while (!(RTC_CRL & RTC_CRL_RTOFF)) {
    }
}

static uint32_t rtc_counter(void)
{
    return RTC_CNTH << 16 | (RTC_CNTL & 0xFFFFu);
}

static void rtc_alarm_in(uint32_t seconds)
{
    uint32_t at = rtc_counter() + seconds;
    rtc_wait_write();
    RTC_CRL |= RTC_CRL_CNF;
    RTC_ALRH = at >> 16;
    RTC_ALRL = at & 0xFFFFu;
    RTC_CRL &= ~(RTC_CRL_CNF | RTC_CRL_ALRF);
    rtc_wait_write();
}

int main(void)
{
    RCC_APB1ENR |= RCC_APB1ENR_PWREN | RCC_APB1ENR_BKPEN;
    PWR_CR |= PWR_CR_DBP;

    if ((BKP_DR2 & 0xFFFFu) == PHASE_STANDBY) {
        check(PWR_CSR & PWR_CSR_SBF, "PWR_CSR.SBF: the chip was in Standby");
        check(PWR_CSR & PWR_CSR_WUF, "PWR_CSR.WUF: a wake-up event (the RTC alarm) ended it");
        check(sram_marker != SRAM_MARKER, "SRAM is lost in Standby");
        check_eq(BKP_DR1 & 0xFFFFu, NOT_YET, "the backup registers survive Standby");
        check(rtc_counter() >= 4, "the RTC kept counting through Standby");
        PWR_CR |= PWR_CR_CSBF | PWR_CR_CWUF;
        check(!(PWR_CSR & (PWR_CSR_SBF | PWR_CSR_WUF)), "CSBF and CWUF clear the flags");
        pass();
    }
    check(!(PWR_CSR & PWR_CSR_SBF), "a power-on is not a Standby wake-up");

    /* LSE, RTC at 1 Hz from 0 */
    RCC_BDCR |= RCC_BDCR_LSEON;
    while (!(RCC_BDCR & RCC_BDCR_LSERDY)) {
    }
    RCC_BDCR |= RCC_BDCR_RTCSEL_LSE | RCC_BDCR_RTCEN;
    RTC_CRL &= ~RTC_CRL_RSF;
    while (!(RTC_CRL & RTC_CRL_RSF)) {
    }
    rtc_wait_write();
    RTC_CRL |= RTC_CRL_CNF;
    RTC_PRLH = 0;
    RTC_PRLL = 32767;
    RTC_CNTH = 0;
    RTC_CNTL = 0;
    RTC_CRL &= ~RTC_CRL_CNF;
    rtc_wait_write();

    /* the alarm reaches the core through EXTI line 17 (rising) and NVIC line 41 */
    EXTI_IMR |= EXTI_LINE_RTC_ALARM;
    EXTI_RTSR |= EXTI_LINE_RTC_ALARM;
    NVIC_ISER1 = 1u << (IRQ_RTC_ALARM - 32);

    /* SysTick at 1 ms (from the 8 MHz reset clock: 8000 ticks) */
    SYST_RVR = 7999;
    SYST_CVR = 0;
    SYST_CSR = 7;

    /* 1. Stop */
    rtc_alarm_in(2);
    uint32_t before = ticks;
    PWR_CR = (PWR_CR & ~PWR_CR_PDDS) | PWR_CR_LPDS;
    SCB_SCR |= SCB_SCR_SLEEPDEEP;
    __asm volatile("wfi");
    SCB_SCR &= ~SCB_SCR_SLEEPDEEP;
    uint32_t stopped_ticks = ticks - before;
    check_eq(alarms, 1, "the RTC alarm interrupt ended Stop mode");
    check(rtc_counter() >= 1, "about 2 s of RTC time passed in Stop mode");
    check(stopped_ticks < 20, "SysTick did not count during Stop mode");

    /* 2. Standby */
    BKP_DR1 = NOT_YET;
    BKP_DR2 = PHASE_STANDBY;
    sram_marker = SRAM_MARKER;
    SYST_CSR = 0;
    rtc_alarm_in(2);
    PWR_CR |= PWR_CR_CWUF | PWR_CR_PDDS;
    SCB_SCR |= SCB_SCR_SLEEPDEEP;
    for (;;)
        __asm volatile("wfi");
}
