/*
 * thumb.h - a host-side decoder for the ARMv7-M Thumb instruction set (the
 * Cortex-M3 subset: no FPU, no DSP extension), used by the CPU core to count
 * instructions per block, to recognise idle loops and hints, and to work out
 * which memory an instruction touches.
 *
 * Design decision: every question is answered by one pass over the encoding
 * tables of the ARMv7-M ARM (DDI 0403, A5.2 and A5.3) into a small value on
 * the stack; nothing is allocated, cached or global, so the functions can be
 * called from any hook. Code is read as little-endian halfwords, byte by byte,
 * and never beyond the length the caller gives.
 */
#ifndef EMU_THUMB_H
#define EMU_THUMB_H

#include <stdbool.h>
#include <stdint.h>

/* Bits [15:11] of the first halfword of a 32-bit instruction (A5.1). */
#define THUMB_HW1_32BIT_MIN 0x1Du /* 0b11101; 0b11110 and 0b11111 also qualify */
#define THUMB_HW1_OP_SHIFT 11u

#define THUMB_REG_SP 13u
#define THUMB_REG_LR 14u
#define THUMB_REG_PC 15u

/* ITAdvance() (A7.3.3): the ITSTATE for the instruction after one executed with `it`. */
static inline uint8_t thumb_it_advance(uint8_t it)
{
    return (it & 7u) == 0 ? 0 : (uint8_t)((it & 0xE0u) | ((it << 1) & 0x1Fu));
}

/* The length in bytes (2 or 4) of the instruction whose first halfword is given. */
static inline unsigned thumb_insn_len(uint16_t first_halfword)
{
    return (first_halfword >> THUMB_HW1_OP_SHIFT) >= THUMB_HW1_32BIT_MIN ? 4u : 2u;
}

#define THUMB_MAX_DIV 8

/* What the CPU core needs to know about one translated block. */
struct thumb_block_info {
    uint16_t count;   /* instructions in [addr, addr+size) */
    bool has_store;   /* some instruction may write memory (STR*, STRD, STM*, PUSH, STREX*) */
    bool has_load;    /* some instruction may read memory (LDR*, LDRD, LDM*, POP, LDREX*, TBB/TBH;
                         PLD/PLI and other memory hints do not count) */
    bool has_special; /* skipping the block as a busy-wait would be wrong: SVC, BKPT, UDF, WFI,
                         WFE, SEV, YIELD, CPS, MSR, or an encoding an M3 does not execute */
    bool has_sev;     /* some instruction is SEV */
    bool self_loop;   /* the last instruction is B, B<c>, B.W, B<c>.W, CBZ or CBNZ to addr */
    uint8_t it_after; /* ITSTATE (IT[7:0]) after the last instruction, when an IT instruction in
                         the block leaves slots beyond its end; 0 otherwise */
    uint8_t ndiv;     /* SDIV/UDIV instructions, capped at THUMB_MAX_DIV */
    uint32_t div_addr[THUMB_MAX_DIV]; /* addresses of the first ndiv of them */
};

/*
 * Scan the block of guest address addr whose size bytes start at host pointer
 * code (as Unicorn's block hook gives). Never reads past code+size; a trailing
 * instruction cut off by the end is counted and marks the block has_special,
 * since nothing can be proved about it.
 */
void thumb_scan_block(const uint8_t *code, uint32_t addr, uint32_t size,
                      struct thumb_block_info *out);

struct thumb_mem_access {
    bool load, store;
    uint32_t addr;  /* lowest address touched */
    uint32_t bytes; /* bytes touched: the access size, 8 for LDRD/STRD, 4 per register for
                       LDM/STM/PUSH/POP */
};

/*
 * Decode the instruction at code (guest address pc; four bytes must be
 * readable if it is a 32-bit instruction) and compute the memory range it
 * accesses, from the register values before it executes. regs[13] is the
 * current SP; regs[15] is ignored: R15 reads as pc+4, and literal (PC-relative)
 * loads use Align(pc+4, 4). Returns false, with *out cleared, if the
 * instruction is not a load or store (memory hints such as PLD are not).
 */
bool thumb_mem_access(const uint8_t *code, uint32_t pc, const uint32_t regs[16],
                      struct thumb_mem_access *out);

/* If the instruction at code is SDIV or UDIV, give its divisor register Rm and
   whether it is signed, and return true. */
bool thumb_decode_divide(const uint8_t *code, unsigned *rm, bool *is_signed);

/*
 * If the instruction at code (address pc) is a direct branch, B, B<c>, B.W,
 * B<c>.W, CBZ, CBNZ or BL, give its target and return true. Indirect branches
 * (BX, BLX, POP {pc}, LDR pc, TBB/TBH) return false.
 */
bool thumb_branch_target(const uint8_t *code, uint32_t pc, uint32_t *target);

/* Which hint the instruction is. Unallocated hint encodings and DBG execute as
   NOPs on an M3, so they answer THUMB_HINT_NOP; IT is not a hint. */
enum thumb_hint {
    THUMB_HINT_NONE,
    THUMB_HINT_WFI,
    THUMB_HINT_WFE,
    THUMB_HINT_YIELD,
    THUMB_HINT_SEV,
    THUMB_HINT_NOP,
};

/* len is the number of bytes readable at code (an instruction length from
   Unicorn, or more); a 32-bit instruction with len < 4 answers THUMB_HINT_NONE. */
enum thumb_hint thumb_decode_hint(const uint8_t *code, unsigned len);

#endif
