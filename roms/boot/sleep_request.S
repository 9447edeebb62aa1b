/*
 * sleep_request.S - a test firmware for 0x08005000 that asks the boot ROM for a
 * sleep mode through BKP_DR9, as Core firmware does before a reset.
 *
 * Design decision: the request value is the last literal, the word right after
 * the marker 0x51EE9DA7, so a test can patch one image into either request
 * (0xA5A5 Standby, 0xAnnn Stop). On its first start (DR9 still 0) it writes
 * the request and resets; on any later start it spins, so whether the ROM
 * started the watchdog shows as an IWDG reset 5 s later, or none.
 */
    .syntax unified
    .thumb

    .equ RCC_APB1ENR, 0x4002101C
    .equ RCC_APB1ENR_PWR_BKP, (3 << 27)
    .equ PWR_CR, 0x40007000
    .equ PWR_CR_DBP, (1 << 8)
    .equ BKP_DR9, 0x40006C24
    .equ SCB_AIRCR, 0xE000ED0C
    .equ AIRCR_SYSRESETREQ_KEY, 0x05FA0004

    .section .text
    .word 0x20005000
    .word reset + 1

    .global reset
    .thumb_func
reset:
    ldr r0, =RCC_APB1ENR
    ldr r1, [r0]
    orr r1, r1, #RCC_APB1ENR_PWR_BKP
    str r1, [r0]
    ldr r0, =PWR_CR
    ldr r1, [r0]
    orr r1, r1, #PWR_CR_DBP
    str r1, [r0]
    ldr r0, =BKP_DR9
    ldr r2, [r0]
    cbnz r2, spin
    ldr r1, request
    str r1, [r0]
    ldr r0, =SCB_AIRCR
    ldr r1, =AIRCR_SYSRESETREQ_KEY
    str r1, [r0]
spin:
    b spin

    .ltorg
    .align 2
    .word 0x51EE9DA7
request:
    .word 0xA5A5
