/*
 * lockup.c - a fault inside the HardFault handler locks the core up: the
 * emulator stops with exit status 4 and a report naming the PC, its symbol and
 * the fault registers (checked by tests/integration/lockup.py). The ROM never
 * reports PASS itself: reaching the end of main would be the failure.
 */
#include "rom.h"

#define UNMAPPED ((volatile uint32_t *)0x60000000u)

void HardFault_Handler(void);
void HardFault_Handler(void)
{
    /* a second fault at priority -1: lockup */
    (void)*UNMAPPED;
    fail("the load in HardFault did not lock the core up");
}

int main(void)
{
    /* BusFault is disabled, so this load escalates to HardFault */
    (void)*UNMAPPED;
    fail("the first bus fault was not taken");
}
