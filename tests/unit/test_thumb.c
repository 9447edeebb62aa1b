/*
 * test_thumb.c - the Thumb decoder against encodings produced by
 * arm-none-eabi-as (binutils) for -mcpu=cortex-m3, with the source line and,
 * for branches and literals, the address objdump printed beside each vector.
 *
 * Design decision: every vector is copied into a heap buffer of exactly the
 * instruction's (or block's) length, so that under -fsanitize=address a read
 * one byte past the code the decoder was given fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "thumb.h"

/* One instruction: its halfwords as objdump prints them (hw[1] == 0 for 16-bit). */
struct encoding {
    const char *source;
    uint16_t hw[2];
};

/* Little-endian code bytes for n halfwords, in a buffer of exactly that size. */
static uint8_t *code_from_halfwords(const uint16_t *hw, size_t n)
{
    uint8_t *code = malloc(n > 0 ? n * 2 : 1);
    assert_non_null(code);
    for (size_t i = 0; i < n; i++) {
        code[2 * i] = (uint8_t)hw[i];
        code[2 * i + 1] = (uint8_t)(hw[i] >> 8);
    }
    return code;
}

static size_t encoding_halfwords(const struct encoding *e)
{
    return thumb_insn_len(e->hw[0]) / 2;
}

static uint8_t *code_from_encoding(const struct encoding *e)
{
    return code_from_halfwords(e->hw, encoding_halfwords(e));
}

/* ---- instruction length -------------------------------------------------- */

static void test_insn_len_follows_bits_15_to_11(void **state)
{
    (void)state;
    assert_int_equal(thumb_insn_len(0xE7FE), 2); /* b . : 11100 */
    assert_int_equal(thumb_insn_len(0xE800), 4); /* 11101: load/store multiple space */
    assert_int_equal(thumb_insn_len(0xE92D), 4); /* push.w */
    assert_int_equal(thumb_insn_len(0xF000), 4); /* 11110 */
    assert_int_equal(thumb_insn_len(0xF8D1), 4); /* 11111 */
    assert_int_equal(thumb_insn_len(0xDF00), 2); /* svc 0 */
    assert_int_equal(thumb_insn_len(0x4770), 2); /* bx lr */
    assert_int_equal(thumb_insn_len(0x0000), 2);
}

/* ---- memory access ------------------------------------------------------- */

#define PC_DEFAULT 0x08000100u
#define R0 0x20001000u
#define R1 0x20000100u
#define R2 0x00000010u /* an index */
#define R3 0x20000300u
#define R4 0x08004000u /* a branch table in flash */
#define R5 0x20000500u
#define R11 0x00000003u
#define SP 0x20004FF0u

static void fill_registers(uint32_t regs[16])
{
    for (unsigned i = 0; i < 16; i++)
        regs[i] = 0x20000000u + 0x100u * i;
    regs[0] = R0;
    regs[1] = R1;
    regs[2] = R2;
    regs[3] = R3;
    regs[4] = R4;
    regs[5] = R5;
    regs[11] = R11;
    regs[13] = SP;
    regs[14] = 0x08000123u;
    regs[15] = 0xDEADBEEFu; /* must be ignored: R15 comes from pc */
}

struct access_vector {
    struct encoding e;
    uint32_t pc;
    bool load, store;
    uint32_t addr, bytes;
};

static void check_accesses(const struct access_vector *v, size_t n)
{
    uint32_t regs[16];
    fill_registers(regs);
    for (size_t i = 0; i < n; i++) {
        struct thumb_mem_access out;
        uint8_t *code = code_from_encoding(&v[i].e);
        uint32_t pc = v[i].pc ? v[i].pc : PC_DEFAULT;
        bool ok = thumb_mem_access(code, pc, regs, &out);
        free(code);
        if (!ok || out.load != v[i].load || out.store != v[i].store || out.addr != v[i].addr ||
            out.bytes != v[i].bytes)
            fail_msg("%s: got %s load=%d store=%d addr=0x%08x bytes=%u, want load=%d store=%d "
                     "addr=0x%08x bytes=%u",
                     v[i].e.source, ok ? "true" : "false", out.load, out.store, out.addr,
                     out.bytes, v[i].load, v[i].store, v[i].addr, v[i].bytes);
    }
}

#define LOAD true, false
#define STORE false, true
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_mem_16bit_immediate_and_sp_relative(void **state)
{
    static const struct access_vector v[] = {
        { { "ldr r0, [r1, #124]", { 0x6FC8 } }, 0, LOAD, R1 + 124, 4 },
        { { "str r2, [r3, #4]", { 0x605A } }, 0, STORE, R3 + 4, 4 },
        { { "ldrb r4, [r5, #31]", { 0x7FEC } }, 0, LOAD, R5 + 31, 1 },
        { { "strb r6, [r7, #0]", { 0x703E } }, 0, STORE, 0x20000700u, 1 },
        { { "ldrh r0, [r1, #62]", { 0x8FC8 } }, 0, LOAD, R1 + 62, 2 },
        { { "strh r2, [r3, #2]", { 0x805A } }, 0, STORE, R3 + 2, 2 },
        { { "ldr r3, [sp, #1020]", { 0x9BFF } }, 0, LOAD, SP + 1020, 4 },
        { { "str r4, [sp, #8]", { 0x9402 } }, 0, STORE, SP + 8, 4 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_16bit_register_offset_sizes(void **state)
{
    static const struct access_vector v[] = {
        { { "ldr r0, [r1, r2]", { 0x5888 } }, 0, LOAD, R1 + R2, 4 },
        { { "str r0, [r1, r2]", { 0x5088 } }, 0, STORE, R1 + R2, 4 },
        { { "strh r0, [r1, r2]", { 0x5288 } }, 0, STORE, R1 + R2, 2 },
        { { "strb r0, [r1, r2]", { 0x5488 } }, 0, STORE, R1 + R2, 1 },
        { { "ldrsb r0, [r1, r2]", { 0x5688 } }, 0, LOAD, R1 + R2, 1 },
        { { "ldrh r0, [r1, r2]", { 0x5A88 } }, 0, LOAD, R1 + R2, 2 },
        { { "ldrb r0, [r1, r2]", { 0x5C88 } }, 0, LOAD, R1 + R2, 1 },
        { { "ldrsh r0, [r1, r2]", { 0x5E88 } }, 0, LOAD, R1 + R2, 2 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_literal_uses_word_aligned_pc(void **state)
{
    /* objdump's resolved addresses; pc = 2 mod 4 rounds PC+4 down */
    static const struct access_vector v[] = {
        { { "ldr r0, [pc, #32]", { 0x4808 } }, 0x08000064, LOAD, 0x08000088, 4 },
        { { "ldr r0, [pc, #32]", { 0x4808 } }, 0x08000066, LOAD, 0x08000088, 4 },
        { { "ldr.w r1, [pc, #28]", { 0xF8DF, 0x101C } }, 0x0800006A, LOAD, 0x08000088, 4 },
        { { "ldr.w r1, [pc, #24]", { 0xF8DF, 0x1018 } }, 0x0800006E, LOAD, 0x08000088, 4 },
        { { "ldr.w r1, [pc, #-8]", { 0xF85F, 0x1008 } }, 0x08000072, LOAD, 0x0800006C, 4 },
        { { "ldrd r0, r1, [pc, #16]", { 0xE9DF, 0x0104 } }, 0x08000076, LOAD, 0x08000088, 8 },
        { { "ldrb.w r2, [pc, #12]", { 0xF89F, 0x200C } }, 0x0800007A, LOAD, 0x08000088, 1 },
        { { "ldrsh.w r2, [pc, #-2]", { 0xF93F, 0x2002 } }, 0x0800007E, LOAD, 0x0800007E, 2 },
        { { "ldrd r2, r3, [pc, #-16]", { 0xE95F, 0x2304 } }, 0x08000082, LOAD, 0x08000074, 8 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_32bit_immediate_forms_and_writeback(void **state)
{
    static const struct access_vector v[] = {
        { { "ldr.w r0, [r1, #4095]", { 0xF8D1, 0x0FFF } }, 0, LOAD, R1 + 4095, 4 },
        { { "str.w r0, [r1, #2048]", { 0xF8C1, 0x0800 } }, 0, STORE, R1 + 2048, 4 },
        { { "ldr.w r0, [r1, #-255]", { 0xF851, 0x0CFF } }, 0, LOAD, R1 - 255, 4 },
        { { "ldr.w r0, [r1, #255]!", { 0xF851, 0x0FFF } }, 0, LOAD, R1 + 255, 4 },
        /* post-indexed: the access is at Rn, the offset only goes back into Rn */
        { { "ldr.w r0, [r1], #-4", { 0xF851, 0x0904 } }, 0, LOAD, R1, 4 },
        { { "str.w r0, [r1, #-8]!", { 0xF841, 0x0D08 } }, 0, STORE, R1 - 8, 4 },
        { { "str.w r0, [r1], #16", { 0xF841, 0x0B10 } }, 0, STORE, R1, 4 },
        { { "ldrb.w r0, [r1, #4095]", { 0xF891, 0x0FFF } }, 0, LOAD, R1 + 4095, 1 },
        { { "strb.w r0, [r1, #1]", { 0xF881, 0x0001 } }, 0, STORE, R1 + 1, 1 },
        { { "ldrsb.w r0, [r1, #-1]", { 0xF911, 0x0C01 } }, 0, LOAD, R1 - 1, 1 },
        { { "ldrsh.w r0, [r1, #100]", { 0xF9B1, 0x0064 } }, 0, LOAD, R1 + 100, 2 },
        { { "strh.w r0, [r1, #-2]!", { 0xF821, 0x0D02 } }, 0, STORE, R1 - 2, 2 },
        { { "ldrsb.w r0, [r1], #3", { 0xF911, 0x0B03 } }, 0, LOAD, R1, 1 },
        { { "str.w r4, [sp, #-4]! (push.w {r4})", { 0xF84D, 0x4D04 } }, 0, STORE, SP - 4, 4 },
        { { "ldr.w r4, [sp], #4 (pop.w {r4})", { 0xF85D, 0x4B04 } }, 0, LOAD, SP, 4 },
        { { "ldr.w pc, [r1, #4]", { 0xF8D1, 0xF004 } }, 0, LOAD, R1 + 4, 4 },
        { { "ldr.w pc, [sp], #4", { 0xF85D, 0xFB04 } }, 0, LOAD, SP, 4 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_32bit_register_offset_shifts_index(void **state)
{
    static const struct access_vector v[] = {
        { { "ldr.w r0, [r1, r2, lsl #3]", { 0xF851, 0x0032 } }, 0, LOAD, R1 + (R2 << 3), 4 },
        { { "str.w r0, [r1, r2, lsl #2]", { 0xF841, 0x0022 } }, 0, STORE, R1 + (R2 << 2), 4 },
        { { "ldrh.w r0, [r1, r2, lsl #1]", { 0xF831, 0x0012 } }, 0, LOAD, R1 + (R2 << 1), 2 },
        { { "ldrsh.w r0, [r5, fp, lsl #3]", { 0xF935, 0x003B } }, 0, LOAD, R5 + (R11 << 3), 2 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_unprivileged_forms(void **state)
{
    static const struct access_vector v[] = {
        { { "ldrt r0, [r1, #8]", { 0xF851, 0x0E08 } }, 0, LOAD, R1 + 8, 4 },
        { { "strt r0, [r1, #8]", { 0xF841, 0x0E08 } }, 0, STORE, R1 + 8, 4 },
        { { "ldrbt r0, [r1, #1]", { 0xF811, 0x0E01 } }, 0, LOAD, R1 + 1, 1 },
        { { "strbt r0, [r1, #2]", { 0xF801, 0x0E02 } }, 0, STORE, R1 + 2, 1 },
        { { "ldrht r0, [r1, #4]", { 0xF831, 0x0E04 } }, 0, LOAD, R1 + 4, 2 },
        { { "strht r0, [r1, #6]", { 0xF821, 0x0E06 } }, 0, STORE, R1 + 6, 2 },
        { { "ldrsbt r0, [r1]", { 0xF911, 0x0E00 } }, 0, LOAD, R1, 1 },
        { { "ldrsht r0, [r1, #2]", { 0xF931, 0x0E02 } }, 0, LOAD, R1 + 2, 2 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_dual_is_eight_bytes_with_pre_and_post_index(void **state)
{
    static const struct access_vector v[] = {
        { { "ldrd r0, r1, [r3, #8]", { 0xE9D3, 0x0102 } }, 0, LOAD, R3 + 8, 8 },
        { { "ldrd r0, r1, [r3, #-8]!", { 0xE973, 0x0102 } }, 0, LOAD, R3 - 8, 8 },
        { { "strd r0, r1, [r3], #16", { 0xE8E3, 0x0104 } }, 0, STORE, R3, 8 },
        { { "strd r0, r1, [r3, #-1020]", { 0xE943, 0x01FF } }, 0, STORE, R3 - 1020, 8 },
        { { "ldrd r0, r1, [r3], #-4", { 0xE873, 0x0101 } }, 0, LOAD, R3, 8 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_multiple_counts_registers_and_decrements_before(void **state)
{
    static const struct access_vector v[] = {
        { { "stmia r0!, {r1, r2, r3}", { 0xC00E } }, 0, STORE, R0, 12 },
        { { "ldmia r0!, {r1, r2, r3}", { 0xC80E } }, 0, LOAD, R0, 12 },
        { { "ldmia r0, {r0, r1, r2, r3}", { 0xC80F } }, 0, LOAD, R0, 16 },
        { { "stmdb r0!, {r1, r2, r4}", { 0xE920, 0x0016 } }, 0, STORE, R0 - 12, 12 },
        { { "ldmdb r0, {r1, r2, r3}", { 0xE910, 0x000E } }, 0, LOAD, R0 - 12, 12 },
        { { "stmia.w r0, {r1, r2, r3, lr}", { 0xE880, 0x400E } }, 0, STORE, R0, 16 },
        { { "ldmia.w r0!, {r1, r2, r3, pc}", { 0xE8B0, 0x800E } }, 0, LOAD, R0, 16 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_push_pop_use_sp(void **state)
{
    static const struct access_vector v[] = {
        { { "push {r4, r5, r6, r7, lr}", { 0xB5F0 } }, 0, STORE, SP - 20, 20 },
        { { "pop {r4, r5, r6, r7, pc}", { 0xBDF0 } }, 0, LOAD, SP, 20 },
        { { "push {r0}", { 0xB401 } }, 0, STORE, SP - 4, 4 },
        { { "push.w {r4-r11, lr}", { 0xE92D, 0x4FF0 } }, 0, STORE, SP - 36, 36 },
        { { "pop.w {r4-r11, pc}", { 0xE8BD, 0x8FF0 } }, 0, LOAD, SP, 36 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_exclusive_forms(void **state)
{
    static const struct access_vector v[] = {
        { { "ldrex r0, [r1]", { 0xE851, 0x0F00 } }, 0, LOAD, R1, 4 },
        { { "ldrex r0, [r1, #1020]", { 0xE851, 0x0FFF } }, 0, LOAD, R1 + 1020, 4 },
        { { "strex r2, r0, [r1, #4]", { 0xE841, 0x0201 } }, 0, STORE, R1 + 4, 4 },
        { { "ldrexb r0, [r1]", { 0xE8D1, 0x0F4F } }, 0, LOAD, R1, 1 },
        { { "ldrexh r0, [r1]", { 0xE8D1, 0x0F5F } }, 0, LOAD, R1, 2 },
        { { "strexb r2, r0, [r1]", { 0xE8C1, 0x0F42 } }, 0, STORE, R1, 1 },
        { { "strexh r2, r0, [r1]", { 0xE8C1, 0x0F52 } }, 0, STORE, R1, 2 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_table_branch_reads_table_entry(void **state)
{
    /* TBB/TBH with Rn = PC read R15 = pc + 4, not word-aligned */
    static const struct access_vector v[] = {
        { { "tbb [r4, r2]", { 0xE8D4, 0xF002 } }, 0, LOAD, R4 + R2, 1 },
        { { "tbh [r4, r2, lsl #1]", { 0xE8D4, 0xF012 } }, 0, LOAD, R4 + 2 * R2, 2 },
        { { "tbb [pc, r2]", { 0xE8DF, 0xF002 } }, 0x08000102, LOAD, 0x08000106 + R2, 1 },
        { { "tbh [pc, r2, lsl #1]", { 0xE8DF, 0xF012 } }, 0x08000102, LOAD, 0x08000106 + 2 * R2,
          2 },
    };
    (void)state;
    check_accesses(v, N(v));
}

static void test_mem_non_memory_and_hints_return_false(void **state)
{
    static const struct encoding v[] = {
        { "pld [r0, #4]", { 0xF890, 0xF004 } },
        { "pld [r0, r1]", { 0xF810, 0xF001 } },
        { "pli [r0, #4]", { 0xF990, 0xF004 } },
        { "pld [r0, #-4]", { 0xF810, 0xFC04 } },
        { "pld [pc, #8]", { 0xF89F, 0xF008 } },
        { "bx lr", { 0x4770 } },
        { "adds r0, r1, #3", { 0x1CC8 } },
        { "add r0, sp, #8", { 0xA802 } },
        { "addw r0, pc, #4 (adr.w)", { 0xF20F, 0x0004 } },
        { "sdiv r0, r1, r2", { 0xFB91, 0xF0F2 } },
        { "b.w back_far", { 0xF7FF, 0xBFDD } },
        { "dmb sy", { 0xF3BF, 0x8F5F } },
        { "clrex", { 0xF3BF, 0x8F2F } },
        { "svc 0", { 0xDF00 } },
    };
    uint32_t regs[16];
    (void)state;
    fill_registers(regs);
    for (size_t i = 0; i < N(v); i++) {
        struct thumb_mem_access out = { true, true, 1, 1 };
        uint8_t *code = code_from_encoding(&v[i]);
        bool ok = thumb_mem_access(code, PC_DEFAULT, regs, &out);
        free(code);
        if (ok || out.load || out.store || out.addr || out.bytes)
            fail_msg("%s: reported as a memory access", v[i].source);
    }
}

/* ---- divide --------------------------------------------------------------- */

static void test_divide_gives_divisor_and_signedness(void **state)
{
    static const struct encoding sdiv = { "sdiv r0, r1, r2", { 0xFB91, 0xF0F2 } };
    static const struct encoding udiv = { "udiv r3, r4, fp", { 0xFBB4, 0xF3FB } };
    unsigned rm = 99;
    bool is_signed = false;
    uint8_t *code;
    (void)state;

    code = code_from_encoding(&sdiv);
    assert_true(thumb_decode_divide(code, &rm, &is_signed));
    assert_int_equal(rm, 2);
    assert_true(is_signed);
    free(code);

    code = code_from_encoding(&udiv);
    assert_true(thumb_decode_divide(code, &rm, &is_signed));
    assert_int_equal(rm, 11);
    assert_false(is_signed);
    free(code);
}

static void test_divide_rejects_multiplies_and_16bit(void **state)
{
    static const struct encoding v[] = {
        { "mul.w r0, r1, r2", { 0xFB01, 0xF002 } },
        { "mls r0, r1, r2, r3", { 0xFB01, 0x3012 } },
        { "smull r0, r1, r2, r3", { 0xFB82, 0x0103 } },
        { "umull r0, r1, r2, r3", { 0xFBA2, 0x0103 } },
        { "umlal r0, r1, r2, r3", { 0xFBE2, 0x0103 } },
        { "muls r0, r1 (16-bit)", { 0x4348 } },
        { "bx lr", { 0x4770 } },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        unsigned rm = 99;
        bool is_signed = true;
        uint8_t *code = code_from_encoding(&v[i]);
        bool ok = thumb_decode_divide(code, &rm, &is_signed);
        free(code);
        if (ok)
            fail_msg("%s: decoded as a divide", v[i].source);
        assert_int_equal(rm, 99);
    }
}

/* ---- branches ------------------------------------------------------------- */

struct branch_vector {
    struct encoding e;
    uint32_t pc, target;
};

static void test_branch_targets_match_objdump(void **state)
{
    static const struct branch_vector v[] = {
        { { "b.n 8000040 (self)", { 0xE7FE } }, 0x08000040, 0x08000040 },
        { { "b.w 8000000 (backward)", { 0xF7FF, 0xBFDD } }, 0x08000042, 0x08000000 },
        { { "bne.n 8000040 (backward)", { 0xD1FB } }, 0x08000046, 0x08000040 },
        { { "bne.w 8000000 (backward)", { 0xF47F, 0xAFDA } }, 0x08000048, 0x08000000 },
        { { "blt.w 800008c", { 0xF2C0, 0x801E } }, 0x0800004C, 0x0800008C },
        { { "beq.n 800008c", { 0xD01C } }, 0x08000050, 0x0800008C },
        { { "b.n 800008c", { 0xE01B } }, 0x08000052, 0x0800008C },
        { { "b.w 8001000", { 0xF000, 0xBFD4 } }, 0x08000054, 0x08001000 },
        { { "cbz r3, 800008c", { 0xB1C3 } }, 0x08000058, 0x0800008C },
        { { "cbnz r7, 8000090", { 0xB9CF } }, 0x0800005A, 0x08000090 },
        { { "cbz r0, 8100082 (largest offset, 126)", { 0xB3F8 } }, 0x08100000, 0x08100082 },
        { { "bl 8000000 (backward)", { 0xF7FF, 0xFFD0 } }, 0x0800005C, 0x08000000 },
        { { "bl 8001000", { 0xF000, 0xFFCE } }, 0x08000060, 0x08001000 },
        /* far targets exercise J1/J2 and, for T4, I1 = NOT(J1 EOR S) */
        { { "bne.w 80c0000 (J1=0 J2=1, backward)", { 0xF47F, 0x8FFE } }, 0x08100000, 0x080C0000 },
        { { "bgt.w 81e0000 (J1=1 J2=1)", { 0xF31F, 0xAFFC } }, 0x08100004, 0x081E0000 },
        { { "b.w 8000000 (5 MiB backward)", { 0xF6FF, 0xB7FE } }, 0x08500000, 0x08000000 },
        { { "bl 8000000 (5 MiB backward)", { 0xF6FF, 0xF7FC } }, 0x08500004, 0x08000000 },
        { { "b.w 8900010 (4 MiB forward)", { 0xF000, 0xB002 } }, 0x08500008, 0x08900010 },
        { { "bl 8900010 (4 MiB forward)", { 0xF000, 0xF000 } }, 0x0850000C, 0x08900010 },
        { { "b.w 8d00020 (8 MiB forward, I1=1)", { 0xF000, 0x9806 } }, 0x08500010, 0x08D00020 },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        uint32_t target = 0;
        uint8_t *code = code_from_encoding(&v[i].e);
        bool ok = thumb_branch_target(code, v[i].pc, &target);
        free(code);
        if (!ok || target != v[i].target)
            fail_msg("%s at 0x%08x: got %s 0x%08x, want 0x%08x", v[i].e.source, v[i].pc,
                     ok ? "true" : "false", target, v[i].target);
    }
}

static void test_branch_rejects_indirect_and_exceptions(void **state)
{
    static const struct encoding v[] = {
        { "bx lr", { 0x4770 } },
        { "blx r3", { 0x4798 } },
        { "mov pc, lr", { 0x46F7 } },
        { "pop {r4, r5, r6, r7, pc}", { 0xBDF0 } },
        { "ldr.w pc, [r1, #4]", { 0xF8D1, 0xF004 } },
        { "tbb [r4, r2]", { 0xE8D4, 0xF002 } },
        { "svc 171 (cond field 1111)", { 0xDFAB } },
        { "udf #0 (cond field 1110)", { 0xDE00 } },
        { "udf.w #0", { 0xF7F0, 0xA000 } },
        { "blx (immediate), not on M-profile", { 0xF000, 0xE800 } },
        { "msr PRIMASK, r0", { 0xF380, 0x8810 } },
        { "nop.w", { 0xF3AF, 0x8000 } },
        { "it eq", { 0xBF08 } },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        uint32_t target = 0x5555AAAA;
        uint8_t *code = code_from_encoding(&v[i]);
        bool ok = thumb_branch_target(code, PC_DEFAULT, &target);
        free(code);
        if (ok)
            fail_msg("%s: decoded as a direct branch to 0x%08x", v[i].source, target);
    }
}

/* ---- hints ---------------------------------------------------------------- */

struct hint_vector {
    struct encoding e;
    enum thumb_hint hint;
};

static void test_hints_both_widths(void **state)
{
    static const struct hint_vector v[] = {
        { { "wfi", { 0xBF30 } }, THUMB_HINT_WFI },
        { { "wfi.w", { 0xF3AF, 0x8003 } }, THUMB_HINT_WFI },
        { { "wfe", { 0xBF20 } }, THUMB_HINT_WFE },
        { { "wfe.w", { 0xF3AF, 0x8002 } }, THUMB_HINT_WFE },
        { { "yield", { 0xBF10 } }, THUMB_HINT_YIELD },
        { { "yield.w", { 0xF3AF, 0x8001 } }, THUMB_HINT_YIELD },
        { { "sev", { 0xBF40 } }, THUMB_HINT_SEV },
        { { "sev.w", { 0xF3AF, 0x8004 } }, THUMB_HINT_SEV },
        { { "nop", { 0xBF00 } }, THUMB_HINT_NOP },
        { { "nop.w", { 0xF3AF, 0x8000 } }, THUMB_HINT_NOP },
        { { "unallocated 16-bit hint 5 (sevl in v8)", { 0xBF50 } }, THUMB_HINT_NOP },
        { { "dbg #0", { 0xF3AF, 0x80F0 } }, THUMB_HINT_NOP },
        { { "unallocated 32-bit hint 0x10 (esb in v8)", { 0xF3AF, 0x8010 } }, THUMB_HINT_NOP },
        { { "it eq", { 0xBF08 } }, THUMB_HINT_NONE },
        { { "ite ne", { 0xBF14 } }, THUMB_HINT_NONE },
        { { "hint space with op1 != 000 (undefined)", { 0xF3AF, 0x8104 } }, THUMB_HINT_NONE },
        { { "bkpt 0", { 0xBE00 } }, THUMB_HINT_NONE },
        { { "svc 0", { 0xDF00 } }, THUMB_HINT_NONE },
        { { "isb sy", { 0xF3BF, 0x8F6F } }, THUMB_HINT_NONE },
        { { "b.n .", { 0xE7FE } }, THUMB_HINT_NONE },
        { { "movs r0, r0", { 0x0000 } }, THUMB_HINT_NONE },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        uint8_t *code = code_from_encoding(&v[i].e);
        enum thumb_hint h = thumb_decode_hint(code, thumb_insn_len(v[i].e.hw[0]));
        free(code);
        if (h != v[i].hint)
            fail_msg("%s: got hint %d, want %d", v[i].e.source, h, v[i].hint);
    }
}

static void test_hint_needs_whole_instruction(void **state)
{
    static const uint16_t wfi_w[] = { 0xF3AF, 0x8003 };
    static const uint16_t wfi[] = { 0xBF30 };
    uint8_t *code = code_from_halfwords(wfi_w, 1); /* only the first halfword exists */
    (void)state;
    assert_int_equal(thumb_decode_hint(code, 2), THUMB_HINT_NONE);
    assert_int_equal(thumb_decode_hint(code, 0), THUMB_HINT_NONE);
    free(code);
    code = code_from_halfwords(wfi, 1);
    assert_int_equal(thumb_decode_hint(code, 1), THUMB_HINT_NONE);
    assert_int_equal(thumb_decode_hint(code, 2), THUMB_HINT_WFI);
    free(code);
}

/* ---- block scan ----------------------------------------------------------- */

static struct thumb_block_info scan(const uint16_t *hw, size_t n, uint32_t addr)
{
    struct thumb_block_info info;
    uint8_t *code = code_from_halfwords(hw, n);
    thumb_scan_block(code, addr, (uint32_t)(n * 2), &info);
    free(code);
    return info;
}

static void test_scan_ldr_cmp_beq_is_a_loading_self_loop(void **state)
{
    /* 1: ldr r0, [r1]; cmp r0, #0; beq 1b   at 0x08000200 */
    static const uint16_t hw[] = { 0x6808, 0x2800, 0xD0FC };
    struct thumb_block_info info = scan(hw, N(hw), 0x08000200);
    (void)state;
    assert_int_equal(info.count, 3);
    assert_true(info.has_load);
    assert_false(info.has_store);
    assert_false(info.has_special);
    assert_true(info.self_loop);
    assert_int_equal(info.ndiv, 0);
}

static void test_scan_subs_bne_is_a_pure_self_loop(void **state)
{
    /* 2: subs r0, #1; bne 2b   at 0x08000206 */
    static const uint16_t hw[] = { 0x3801, 0xD1FD };
    struct thumb_block_info info = scan(hw, N(hw), 0x08000206);
    (void)state;
    assert_int_equal(info.count, 2);
    assert_false(info.has_load);
    assert_false(info.has_store);
    assert_false(info.has_special);
    assert_true(info.self_loop);
}

static void test_scan_wide_poll_loop_counts_instructions_not_halfwords(void **state)
{
    /* 3: ldr.w r2, [r3, #16]; tst.w r2, #32; beq.w 3b   at 0x0800020a (10 bytes) */
    static const uint16_t hw[] = { 0xF8D3, 0x2010, 0xF012, 0x0F20, 0xF43F, 0xAFFA };
    struct thumb_block_info info = scan(hw, N(hw), 0x0800020A);
    (void)state;
    assert_int_equal(info.count, 3);
    assert_true(info.has_load);
    assert_false(info.has_store);
    assert_false(info.has_special);
    assert_true(info.self_loop);
}

static void test_scan_store_loop_reports_store(void **state)
{
    /* 4: str r0, [r1]; b 4b   at 0x08000216 */
    static const uint16_t hw[] = { 0x6008, 0xE7FD };
    struct thumb_block_info info = scan(hw, N(hw), 0x08000216);
    (void)state;
    assert_int_equal(info.count, 2);
    assert_true(info.has_store);
    assert_false(info.has_load);
    assert_true(info.self_loop);
}

static void test_scan_records_divide_addresses(void **state)
{
    /* 5: sdiv r0, r1, r2; udiv r3, r4, r5; adds r0, #1; b.w 5b   at 0x0800021a */
    static const uint16_t hw[] = { 0xFB91, 0xF0F2, 0xFBB4, 0xF3F5, 0x3001, 0xF7FF, 0xBFF9 };
    struct thumb_block_info info = scan(hw, N(hw), 0x0800021A);
    (void)state;
    assert_int_equal(info.count, 4);
    assert_int_equal(info.ndiv, 2);
    assert_int_equal(info.div_addr[0], 0x0800021A);
    assert_int_equal(info.div_addr[1], 0x0800021E);
    assert_false(info.has_load);
    assert_false(info.has_store);
    assert_true(info.self_loop);
}

static void test_scan_caps_divides_at_max(void **state)
{
    /* nine times sdiv r0, r1, r2 */
    uint16_t hw[18];
    struct thumb_block_info info;
    (void)state;
    for (size_t i = 0; i < 9; i++) {
        hw[2 * i] = 0xFB91;
        hw[2 * i + 1] = 0xF0F2;
    }
    info = scan(hw, N(hw), 0x08000038);
    assert_int_equal(info.count, 9);
    assert_int_equal(info.ndiv, THUMB_MAX_DIV);
    for (unsigned i = 0; i < THUMB_MAX_DIV; i++)
        assert_int_equal(info.div_addr[i], 0x08000038 + 4 * i);
}

static void test_scan_branch_elsewhere_is_not_self_loop(void **state)
{
    /* 6: ldr r0, [r1]; cmp r0, #0; beq 0x08000200   at 0x08000228 */
    static const uint16_t loop_elsewhere[] = { 0x6808, 0x2800, 0xD0E8 };
    /* 8: movs r0, #0; bl 8b   at 0x08000232: a call, not a loop */
    static const uint16_t call_self[] = { 0x2000, 0xF7FF, 0xFFFD };
    /* b . followed by a nop: the branch is not the last instruction */
    static const uint16_t branch_not_last[] = { 0xE7FE, 0xBF00 };
    /* cbz r0, 800023c   at 0x08000238: forward only, never back to the start */
    static const uint16_t cbz_forward[] = { 0xB100 };
    (void)state;
    assert_false(scan(loop_elsewhere, N(loop_elsewhere), 0x08000228).self_loop);
    assert_false(scan(call_self, N(call_self), 0x08000232).self_loop);
    assert_false(scan(branch_not_last, N(branch_not_last), 0x08000100).self_loop);
    assert_false(scan(cbz_forward, N(cbz_forward), 0x08000238).self_loop);
}

static void test_scan_cbz_back_to_start_is_self_loop(void **state)
{
    /* 9: cbz r0, 10f; b 9b   at 0x08000238: the block ends in a B back to its start */
    static const uint16_t hw[] = { 0xB100, 0xE7FD };
    struct thumb_block_info info = scan(hw, N(hw), 0x08000238);
    (void)state;
    assert_int_equal(info.count, 2);
    assert_true(info.self_loop);
    assert_false(info.has_special);
}

static void test_scan_wfi_loop_is_special(void **state)
{
    /* 7: wfi; b 7b   at 0x0800022e */
    static const uint16_t hw[] = { 0xBF30, 0xE7FD };
    struct thumb_block_info info = scan(hw, N(hw), 0x0800022E);
    (void)state;
    assert_true(info.has_special);
    assert_true(info.self_loop);
}

static void test_scan_flags_each_special_instruction(void **state)
{
    static const struct encoding v[] = {
        { "svc 0", { 0xDF00 } },
        { "svc 171", { 0xDFAB } },
        { "bkpt 0", { 0xBE00 } },
        { "udf #0", { 0xDE00 } },
        { "udf.w #0", { 0xF7F0, 0xA000 } },
        { "wfi", { 0xBF30 } },
        { "wfi.w", { 0xF3AF, 0x8003 } },
        { "wfe", { 0xBF20 } },
        { "wfe.w", { 0xF3AF, 0x8002 } },
        { "yield", { 0xBF10 } },
        { "sev", { 0xBF40 } },
        { "sev.w", { 0xF3AF, 0x8004 } },
        { "cpsid i", { 0xB672 } },
        { "cpsie f", { 0xB661 } },
        { "msr PRIMASK, r0", { 0xF380, 0x8810 } },
        { "msr BASEPRI, r1", { 0xF381, 0x8811 } },
        { "blx (immediate)", { 0xF000, 0xE800 } },
        { "hint space with op1 != 000", { 0xF3AF, 0x8104 } },
        { "misc control op 0000 (unallocated)", { 0xF3BF, 0x8F0F } },
        { "unallocated 16-bit misc 1011 1000", { 0xB800 } },
        { "unallocated rev-space 1011 1010 10", { 0xBA88 } },
        { "qadd r0, r1, r2 (DSP)", { 0xFA82, 0xF081 } },
        { "sxtab r0, r1, r2 (DSP)", { 0xFA41, 0xF082 } },
        { "smlabb r0, r1, r2, r3 (DSP)", { 0xFB11, 0x3002 } },
        { "pkhbt r0, r1, r2 (DSP)", { 0xEAC1, 0x0002 } },
        { "uadd8 r0, r1, r2 (DSP)", { 0xFA81, 0xF042 } },
        { "sel r0, r1, r2 (DSP)", { 0xFAA1, 0xF082 } },
        { "smlalbb r0, r1, r2, r3 (DSP)", { 0xFBC2, 0x0183 } },
        { "ssat16 r0, #4, r1 (DSP)", { 0xF321, 0x0003 } },
        { "mrc p15, 0, r0, c1, c0, 0 (no coprocessor)", { 0xEE11, 0x0F10 } },
        { "ldc p14, c5, [r1, #4] (no coprocessor)", { 0xED91, 0x5E01 } },
        { "vadd.f32 s0, s1, s2 (no FPU)", { 0xEE30, 0x0A81 } },
        { "srsdb sp!, #19 (not on M)", { 0xE82D, 0xC013 } },
        { "ldr.w with op2 010000 (unallocated)", { 0xF851, 0x0400 } },
        { "ldr.w [r1], #+4 with P=0 W=0 (unallocated)", { 0xF851, 0x0A04 } },
        { "str.w r0, [pc, #4] (undefined)", { 0xF8CF, 0x0004 } },
        { "data-processing modified immediate op 0101", { 0xF0A1, 0x0001 } },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        struct thumb_block_info info;
        uint8_t *code = code_from_encoding(&v[i]);
        thumb_scan_block(code, PC_DEFAULT, thumb_insn_len(v[i].hw[0]), &info);
        free(code);
        if (!info.has_special || info.count != 1)
            fail_msg("%s: has_special=%d count=%u", v[i].source, info.has_special, info.count);
    }
}

/* UNPREDICTABLE encodings that Unicorn 2.0.1 (M3) refuses with UC_ERR_INSN_INVALID. */
static void test_scan_flags_unpredictable_encodings_unicorn_refuses(void **state)
{
    static const struct encoding v[] = {
        { "bx r0 with (0)(0)(0) = 001", { 0x4701 } },
        { "ldrex r9, [r3, #76] with Rd field 0111, not (1111)", { 0xE853, 0x9713 } },
        { "strex r0, r7, [r0, #256]: status register is the base", { 0xE840, 0x7040 } },
        { "sub.w (shifted register) with the (0) at hw2 bit 15 set", { 0xEBA0, 0xB527 } },
        { "sbfx r6, r3, #30, #6: field past bit 31", { 0xF343, 0x7685 } },
        { "ldmia.w r0!, {r0, r1}: writeback to a listed base", { 0xE8B0, 0x0003 } },
        { "ldmia.w r0, {r1}: fewer than two registers", { 0xE890, 0x0002 } },
        { "sxtb.w with the (0) at hw2 bit 6 set", { 0xFA4F, 0xFBCB } },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        struct thumb_block_info info;
        uint8_t *code = code_from_encoding(&v[i]);
        thumb_scan_block(code, PC_DEFAULT, thumb_insn_len(v[i].hw[0]), &info);
        free(code);
        if (!info.has_special || info.count != 1)
            fail_msg("%s: has_special=%d count=%u", v[i].source, info.has_special, info.count);
    }
}

static void test_scan_ordinary_instructions_are_not_special(void **state)
{
    static const struct encoding v[] = {
        { "nop", { 0xBF00 } },
        { "nop.w", { 0xF3AF, 0x8000 } },
        { "unallocated 16-bit hint 5", { 0xBF50 } },
        { "dbg #0", { 0xF3AF, 0x80F0 } },
        { "isb sy", { 0xF3BF, 0x8F6F } },
        { "dsb sy", { 0xF3BF, 0x8F4F } },
        { "dmb sy", { 0xF3BF, 0x8F5F } },
        { "clrex", { 0xF3BF, 0x8F2F } },
        { "mrs r0, PRIMASK", { 0xF3EF, 0x8010 } },
        { "bx lr", { 0x4770 } },
        { "blx r3", { 0x4798 } },
        { "blx r1", { 0x4788 } },
        { "mov pc, lr", { 0x46F7 } },
        { "ldr.w pc, [r1, #4]", { 0xF8D1, 0xF004 } },
        { "add.w r0, r1, #0xff00ff", { 0xF101, 0x10FF } },
        { "movw r0, #0x1234", { 0xF241, 0x2034 } },
        { "movt r0, #0x5678", { 0xF2C5, 0x6078 } },
        { "ubfx r0, r1, #3, #5", { 0xF3C1, 0x00C4 } },
        { "bfi r0, r1, #4, #4", { 0xF361, 0x1007 } },
        { "ssat r0, #8, r1", { 0xF301, 0x0007 } },
        { "usat r0, #8, r1, asr #3", { 0xF3A1, 0x00C8 } },
        { "and.w r0, r1, r2, lsl #3", { 0xEA01, 0x00C2 } },
        { "rsb r0, r1, r2", { 0xEBC1, 0x0002 } },
        { "lsl.w r0, r1, r2", { 0xFA01, 0xF002 } },
        { "sxth.w r0, r1", { 0xFA0F, 0xF081 } },
        { "uxtb.w r0, r1", { 0xFA5F, 0xF081 } },
        { "rbit r0, r1", { 0xFA91, 0xF0A1 } },
        { "clz r0, r1", { 0xFAB1, 0xF081 } },
        { "rev.w r0, r1", { 0xFA91, 0xF081 } },
        { "rev r0, r1", { 0xBA08 } },
        { "rev16 r0, r1", { 0xBA48 } },
        { "revsh r0, r1", { 0xBAC8 } },
        { "sxtb r0, r1", { 0xB248 } },
        { "add sp, #16", { 0xB004 } },
        { "sub sp, #16", { 0xB084 } },
        { "addw r0, pc, #4", { 0xF20F, 0x0004 } },
        { "mla r0, r1, r2, r3", { 0xFB01, 0x3002 } },
        { "mls r0, r1, r2, r3", { 0xFB01, 0x3012 } },
        { "smull r0, r1, r2, r3", { 0xFB82, 0x0103 } },
        { "umull r0, r1, r2, r3", { 0xFBA2, 0x0103 } },
        { "smlal r0, r1, r2, r3", { 0xFBC2, 0x0103 } },
        { "umlal r0, r1, r2, r3", { 0xFBE2, 0x0103 } },
        { "sdiv r0, r1, r2", { 0xFB91, 0xF0F2 } },
        { "udiv r3, r4, fp", { 0xFBB4, 0xF3FB } },
        { "bl 8000000", { 0xF7FF, 0xFFD0 } },
        { "tbb [r4, r2]", { 0xE8D4, 0xF002 } },
        { "ldrex r0, [r1]", { 0xE851, 0x0F00 } },
        { "pld [r0, #4]", { 0xF890, 0xF004 } },
        { "pop {r4, r5, r6, r7, pc}", { 0xBDF0 } },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        struct thumb_block_info info;
        uint8_t *code = code_from_encoding(&v[i]);
        thumb_scan_block(code, PC_DEFAULT, thumb_insn_len(v[i].hw[0]), &info);
        free(code);
        if (info.has_special || info.count != 1)
            fail_msg("%s: has_special=%d count=%u", v[i].source, info.has_special, info.count);
    }
}

static void test_scan_it_block_instructions_count_normally(void **state)
{
    /* it eq; moveq r0, #1; ite ne; addne r0, r0, r1; subeq r0, r0, r1 */
    static const uint16_t hw[] = { 0xBF08, 0x2001, 0xBF14, 0x1840, 0x1A40 };
    struct thumb_block_info info = scan(hw, N(hw), 0x0800004A);
    (void)state;
    assert_int_equal(info.count, 5);
    assert_false(info.has_special);
    assert_false(info.has_load);
    assert_false(info.has_store);
}

static void test_scan_memory_hints_are_not_loads(void **state)
{
    /* pld [r0, #4]; pld [r0, r1]; pli [r0, #4]; pld [r0, #-4]; pld [pc, #8] */
    static const uint16_t hw[] = { 0xF890, 0xF004, 0xF810, 0xF001, 0xF990, 0xF004,
                                   0xF810, 0xFC04, 0xF89F, 0xF008 };
    struct thumb_block_info info = scan(hw, N(hw), 0x080000E4);
    (void)state;
    assert_int_equal(info.count, 5);
    assert_false(info.has_load);
    assert_false(info.has_store);
    assert_false(info.has_special);
}

static void test_scan_each_load_and_store_kind(void **state)
{
    static const struct {
        struct encoding e;
        bool load, store;
    } v[] = {
        { { "ldr r0, [pc, #32]", { 0x4808 } }, LOAD },
        { { "ldrsh r0, [r1, r2]", { 0x5E88 } }, LOAD },
        { { "pop {r4, r5, r6, r7, pc}", { 0xBDF0 } }, LOAD },
        { { "ldmia r0!, {r1, r2, r3}", { 0xC80E } }, LOAD },
        { { "ldrd r0, r1, [r3, #8]", { 0xE9D3, 0x0102 } }, LOAD },
        { { "ldmdb r0, {r1, r2, r3}", { 0xE910, 0x000E } }, LOAD },
        { { "ldrex r0, [r1]", { 0xE851, 0x0F00 } }, LOAD },
        { { "ldrexb r0, [r1]", { 0xE8D1, 0x0F4F } }, LOAD },
        { { "tbh [r4, r2, lsl #1]", { 0xE8D4, 0xF012 } }, LOAD },
        { { "ldrsbt r0, [r1]", { 0xF911, 0x0E00 } }, LOAD },
        { { "str r4, [sp, #8]", { 0x9402 } }, STORE },
        { { "strb r0, [r1, r2]", { 0x5488 } }, STORE },
        { { "push {r0}", { 0xB401 } }, STORE },
        { { "stmia r0!, {r1, r2, r3}", { 0xC00E } }, STORE },
        { { "strd r0, r1, [r3], #16", { 0xE8E3, 0x0104 } }, STORE },
        { { "push.w {r4-r11, lr}", { 0xE92D, 0x4FF0 } }, STORE },
        { { "strex r2, r0, [r1, #4]", { 0xE841, 0x0201 } }, STORE },
        { { "strexh r2, r0, [r1]", { 0xE8C1, 0x0F52 } }, STORE },
        { { "strht r0, [r1, #6]", { 0xF821, 0x0E06 } }, STORE },
    };
    (void)state;
    for (size_t i = 0; i < N(v); i++) {
        struct thumb_block_info info;
        uint8_t *code = code_from_encoding(&v[i].e);
        thumb_scan_block(code, PC_DEFAULT, thumb_insn_len(v[i].e.hw[0]), &info);
        free(code);
        if (info.has_load != v[i].load || info.has_store != v[i].store || info.has_special)
            fail_msg("%s: has_load=%d has_store=%d has_special=%d", v[i].e.source, info.has_load,
                     info.has_store, info.has_special);
    }
}

static void test_scan_truncated_wide_instruction_stops_at_block_end(void **state)
{
    /* adds r0, #1 then the first halfword of ldr.w r2, [r3, #16]; size 4 */
    static const uint16_t hw[] = { 0x3001, 0xF8D3 };
    struct thumb_block_info info = scan(hw, N(hw), 0x08000300);
    (void)state;
    assert_int_equal(info.count, 2);
    assert_true(info.has_special);
    assert_false(info.has_load);
    assert_false(info.self_loop);
}

static void test_scan_odd_size_and_empty_block(void **state)
{
    static const uint16_t loop[] = { 0xE7FE, 0x0000 }; /* b . and one stray byte */
    struct thumb_block_info info;
    uint8_t *code = code_from_halfwords(loop, 2);
    (void)state;
    thumb_scan_block(code, 0x08000400, 3, &info);
    assert_int_equal(info.count, 1);
    assert_true(info.has_special);
    thumb_scan_block(code, 0x08000400, 0, &info);
    assert_int_equal(info.count, 0);
    assert_false(info.has_special);
    assert_false(info.self_loop);
    assert_false(info.has_load);
    assert_false(info.has_store);
    free(code);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insn_len_follows_bits_15_to_11),
        cmocka_unit_test(test_mem_16bit_immediate_and_sp_relative),
        cmocka_unit_test(test_mem_16bit_register_offset_sizes),
        cmocka_unit_test(test_mem_literal_uses_word_aligned_pc),
        cmocka_unit_test(test_mem_32bit_immediate_forms_and_writeback),
        cmocka_unit_test(test_mem_32bit_register_offset_shifts_index),
        cmocka_unit_test(test_mem_unprivileged_forms),
        cmocka_unit_test(test_mem_dual_is_eight_bytes_with_pre_and_post_index),
        cmocka_unit_test(test_mem_multiple_counts_registers_and_decrements_before),
        cmocka_unit_test(test_mem_push_pop_use_sp),
        cmocka_unit_test(test_mem_exclusive_forms),
        cmocka_unit_test(test_mem_table_branch_reads_table_entry),
        cmocka_unit_test(test_mem_non_memory_and_hints_return_false),
        cmocka_unit_test(test_divide_gives_divisor_and_signedness),
        cmocka_unit_test(test_divide_rejects_multiplies_and_16bit),
        cmocka_unit_test(test_branch_targets_match_objdump),
        cmocka_unit_test(test_branch_rejects_indirect_and_exceptions),
        cmocka_unit_test(test_hints_both_widths),
        cmocka_unit_test(test_hint_needs_whole_instruction),
        cmocka_unit_test(test_scan_ldr_cmp_beq_is_a_loading_self_loop),
        cmocka_unit_test(test_scan_subs_bne_is_a_pure_self_loop),
        cmocka_unit_test(test_scan_wide_poll_loop_counts_instructions_not_halfwords),
        cmocka_unit_test(test_scan_store_loop_reports_store),
        cmocka_unit_test(test_scan_records_divide_addresses),
        cmocka_unit_test(test_scan_caps_divides_at_max),
        cmocka_unit_test(test_scan_branch_elsewhere_is_not_self_loop),
        cmocka_unit_test(test_scan_cbz_back_to_start_is_self_loop),
        cmocka_unit_test(test_scan_wfi_loop_is_special),
        cmocka_unit_test(test_scan_flags_each_special_instruction),
        cmocka_unit_test(test_scan_flags_unpredictable_encodings_unicorn_refuses),
        cmocka_unit_test(test_scan_ordinary_instructions_are_not_special),
        cmocka_unit_test(test_scan_it_block_instructions_count_normally),
        cmocka_unit_test(test_scan_memory_hints_are_not_loads),
        cmocka_unit_test(test_scan_each_load_and_store_kind),
        cmocka_unit_test(test_scan_truncated_wide_instruction_stops_at_block_end),
        cmocka_unit_test(test_scan_odd_size_and_empty_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
