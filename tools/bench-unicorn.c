/*
 * bench-unicorn.c - the reference for spark-emu's CPU benchmark: the same ROM
 * on bare Unicorn with nothing but one empty block hook, flash and RAM, and
 * just enough semihosting (BKPT 0xAB) to let the ROM print and exit.
 *
 *   bench-unicorn ROM.elf    prints "wall_seconds <s>" and exits with the ROM's status
 */
#include "emu/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#define FLASH_BASE 0x08000000u
#define FLASH_SIZE (128u * 1024u)
#define SRAM_BASE 0x20000000u
#define SRAM_SIZE (20u * 1024u)
#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

struct harness {
    uint8_t *flash, *sram;
    int status;
};

static void empty_block_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    (void)uc;
    (void)address;
    (void)size;
    (void)user;
}

/* The ROM's CYCCNT reads and SCS writes land here: inert, like a core with no debug blocks. */
static uint64_t ppb_read(uc_engine *uc, uint64_t offset, unsigned size, void *user)
{
    (void)uc;
    (void)offset;
    (void)size;
    (void)user;
    return 0;
}

static void ppb_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *user)
{
    (void)uc;
    (void)offset;
    (void)size;
    (void)value;
    (void)user;
}

static void intr_hook(uc_engine *uc, uint32_t intno, void *user)
{
    struct harness *h = user;
    uint32_t pc, op, arg, block[2] = {0, 0};
    uc_reg_read(uc, UC_ARM_REG_PC, &pc);
    if (intno != 7) {
        fprintf(stderr, "bench-unicorn: CPU exception %u at 0x%08x\n", intno, pc);
        h->status = 1;
        uc_emu_stop(uc);
        return;
    }
    uc_reg_read(uc, UC_ARM_REG_R0, &op);
    uc_reg_read(uc, UC_ARM_REG_R1, &arg);
    if (op == SYS_WRITE0) {
        char c;
        while (uc_mem_read(uc, arg++, &c, 1) == UC_ERR_OK && c)
            fputc(c, stdout);
    } else if (op == SYS_EXIT || op == SYS_EXIT_EXTENDED) {
        if (op == SYS_EXIT_EXTENDED)
            uc_mem_read(uc, arg, block, 8);
        else
            block[0] = arg;
        h->status = block[0] == ADP_STOPPED_APPLICATION_EXIT ? (int)block[1] : 1;
        uc_emu_stop(uc);
        return;
    }
    pc += 2;
    pc |= 1;
    uc_reg_write(uc, UC_ARM_REG_PC, &pc);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench-unicorn ROM.elf\n");
        return 2;
    }
    struct image img;
    char err[256];
    if (image_load(argv[1], FLASH_BASE, &img, err, sizeof err)) {
        fprintf(stderr, "bench-unicorn: %s\n", err);
        return 2;
    }
    struct harness h = {aligned_alloc(4096, FLASH_SIZE), aligned_alloc(4096, 32768), 1};
    memset(h.flash, 0xFF, FLASH_SIZE);
    memset(h.sram, 0, 32768);
    for (int i = 0; i < img.nsegments; i++) {
        struct image_segment *s = &img.segments[i];
        uint8_t *dst = s->addr >= SRAM_BASE ? h.sram + (s->addr - SRAM_BASE) : h.flash + (s->addr - FLASH_BASE);
        memcpy(dst, s->data, s->size);
    }
    uc_engine *uc;
    uc_hook hb, hi;
    if (uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &uc) || uc_ctl_set_cpu_model(uc, UC_CPU_ARM_CORTEX_M3) ||
        uc_mem_map_ptr(uc, FLASH_BASE, FLASH_SIZE, UC_PROT_READ | UC_PROT_EXEC, h.flash) ||
        uc_mem_map_ptr(uc, 0, FLASH_SIZE, UC_PROT_READ | UC_PROT_EXEC, h.flash) ||
        uc_mem_map_ptr(uc, SRAM_BASE, SRAM_SIZE, UC_PROT_ALL, h.sram) ||
        uc_mmio_map(uc, 0xE0000000u, 0x100000u, ppb_read, NULL, ppb_write, NULL) ||
        uc_hook_add(uc, &hb, UC_HOOK_BLOCK, (void *)empty_block_hook, &h, 1, 0) ||
        uc_hook_add(uc, &hi, UC_HOOK_INTR, (void *)intr_hook, &h, 1, 0)) {
        fprintf(stderr, "bench-unicorn: cannot set up Unicorn\n");
        return 2;
    }
    uint32_t sp, pc;
    memcpy(&sp, h.flash, 4);
    memcpy(&pc, h.flash + 4, 4);
    uc_reg_write(uc, UC_ARM_REG_SP, &sp);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uc_err e = uc_emu_start(uc, pc | 1, 0, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e != UC_ERR_OK) {
        fprintf(stderr, "bench-unicorn: %s\n", uc_strerror(e));
        return 1;
    }
    printf("wall_seconds %.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    uc_close(uc);
    image_free(&img);
    free(h.flash);
    free(h.sram);
    return h.status;
}
