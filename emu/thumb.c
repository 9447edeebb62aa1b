/*
 * thumb.c - decoding of ARMv7-M Thumb and Thumb-2 instructions (Cortex-M3:
 * no FPU, no DSP extension) for the CPU core: block scans, memory ranges,
 * divides, direct branches and hints.
 *
 * Design decision: one decoder, decode_insn(), walks the encoding tables of
 * the ARMv7-M ARM (DDI 0403E, A5.2 for 16-bit, A5.3 for 32-bit) and describes
 * the instruction in a struct insn on the caller's stack: classification
 * flags, branch target, and the addressing mode of a memory operand (base,
 * index, offset, whether the offset applies before the access). Every public
 * function is a thin question on that description, so the scan, the memory
 * range and the branch helpers can never disagree about an encoding.
 * Bit patterns are written in binary exactly as the manual's tables print
 * them, with the table named beside them, so they can be checked line by line.
 *
 * "Special" is deliberately wide: besides the instructions that change
 * execution state (SVC, BKPT, UDF, WFI, WFE, SEV, YIELD, CPS, MSR), every
 * encoding that a Cortex-M3 does not execute (DSP, coprocessor, BLX immediate,
 * unallocated space) is special, and so are the UNPREDICTABLE encodings that
 * Unicorn 2.0.1 refuses (wrong should-be bits, overlapping exclusive
 * operands, degenerate LDM/STM lists), so a busy-wait is never skipped over
 * an instruction that would have faulted. Other UNPREDICTABLE register
 * choices (SP or PC as a data-processing operand, say) are not looked for.
 */
#include "thumb.h"

#include <string.h>

#define HALFWORD_BYTES 2u
#define WORD_BYTES 4u
#define DOUBLEWORD_BYTES 8u

/* Reading R15 gives the address of the instruction plus 4 (A5.1.2). */
#define PC_READ_OFFSET 4u
/* Literal addressing uses Align(PC, 4). */
#define WORD_ALIGN_MASK (~3u)

#define NO_REGISTER 0xFFu

/* Hint numbers: bits [7:4] of the 16-bit hint, bits [7:0] of the 32-bit one (A5.2.5, A5.3.4). */
enum hint_op {
    HINT_OP_NOP = 0,
    HINT_OP_YIELD = 1,
    HINT_OP_WFE = 2,
    HINT_OP_WFI = 3,
    HINT_OP_SEV = 4,
};

enum insn_flag {
    INSN_LOAD = 1u << 0,
    INSN_STORE = 1u << 1,
    INSN_SPECIAL = 1u << 2,
    INSN_DIVIDE = 1u << 3,
    INSN_BRANCH = 1u << 4,      /* direct, no link: B, B<c>, B.W, B<c>.W, CBZ, CBNZ */
    INSN_BRANCH_LINK = 1u << 5, /* BL */
};

/*
 * The memory operand of a load or store. The access starts at
 *   base + (offset_applies ? offset + (index << shift) : 0)
 * where base is Align(PC, 4) for literal forms and R[base] otherwise.
 * Post-indexed forms access base and only write the offset back, so for them
 * offset_applies is false.
 */
struct mem_operand {
    uint8_t base;
    uint8_t index; /* NO_REGISTER when there is no register offset */
    uint8_t shift;
    bool literal;
    bool offset_applies;
    int32_t offset;
    uint32_t bytes;
};

struct insn {
    uint8_t len;
    uint8_t flags;
    enum thumb_hint hint;
    uint8_t div_rm;
    bool div_signed;
    uint32_t target;
    struct mem_operand mem;
};

static inline uint16_t read_halfword(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline unsigned bits(uint32_t value, unsigned high, unsigned low)
{
    return (value >> low) & ((1u << (high - low + 1u)) - 1u);
}

static inline bool bit(uint32_t value, unsigned n)
{
    return (value >> n) & 1u;
}

/* SignExtend(value<width-1:0>, 32) */
static inline int32_t sign_extend(uint32_t value, unsigned width)
{
    uint32_t sign = 1u << (width - 1u);
    return (int32_t)((value ^ sign) - sign);
}

static void set_memory(struct insn *d, uint8_t flag, unsigned base, int32_t offset,
                       bool offset_applies, uint32_t bytes)
{
    d->flags |= flag;
    d->mem.base = (uint8_t)base;
    d->mem.index = NO_REGISTER;
    d->mem.shift = 0;
    d->mem.literal = false;
    d->mem.offset_applies = offset_applies;
    d->mem.offset = offset;
    d->mem.bytes = bytes;
}

static void set_literal(struct insn *d, uint8_t flag, int32_t offset, uint32_t bytes)
{
    set_memory(d, flag, THUMB_REG_PC, offset, true, bytes);
    d->mem.literal = true;
}

static void set_register_offset(struct insn *d, uint8_t flag, unsigned base, unsigned index,
                                unsigned shift, uint32_t bytes)
{
    set_memory(d, flag, base, 0, true, bytes);
    d->mem.index = (uint8_t)index;
    d->mem.shift = (uint8_t)shift;
}

static void set_branch(struct insn *d, uint8_t flag, uint32_t pc, int32_t imm32)
{
    d->flags |= flag;
    d->target = pc + PC_READ_OFFSET + (uint32_t)imm32;
}

/*
 * Bits the manual prints in parentheses, (0) or (1), "should be" that value;
 * otherwise the instruction is UNPREDICTABLE, and Unicorn's decoder raises
 * UNDEFINED for it. Either way it is no busy-wait to skip.
 */
static void require_should_be(struct insn *d, unsigned field, unsigned want)
{
    if (field != want)
        d->flags |= INSN_SPECIAL;
}

static inline bool is_sp_or_pc(unsigned reg)
{
    return reg == THUMB_REG_SP || reg == THUMB_REG_PC;
}

/* A hint's number, from either encoding, as the public enum. */
static enum thumb_hint hint_from_op(unsigned op)
{
    switch (op) {
    case HINT_OP_YIELD:
        return THUMB_HINT_YIELD;
    case HINT_OP_WFE:
        return THUMB_HINT_WFE;
    case HINT_OP_WFI:
        return THUMB_HINT_WFI;
    case HINT_OP_SEV:
        return THUMB_HINT_SEV;
    default:
        /* NOP, DBG and the unallocated hints all execute as NOP. */
        return THUMB_HINT_NOP;
    }
}

static void set_hint(struct insn *d, unsigned op)
{
    d->hint = hint_from_op(op);
    if (d->hint != THUMB_HINT_NOP)
        d->flags |= INSN_SPECIAL;
}

/* ---- 16-bit encodings (A5.2) ------------------------------------------- */

/* Load/store single data item, A5.2.4: sizes by opA:opB. */
static void decode16_load_store_register(uint16_t hw, struct insn *d)
{
    /* opB = hw[11:9]: STR STRH STRB LDRSB LDR LDRH LDRB LDRSH */
    static const uint8_t size_by_opb[8] = { 4, 2, 1, 1, 4, 2, 1, 2 };
    static const uint8_t store_opb_limit = 0b011; /* opB < 011 are the stores */
    unsigned opb = bits(hw, 11, 9);
    set_register_offset(d, opb < store_opb_limit ? INSN_STORE : INSN_LOAD, bits(hw, 5, 3),
                        bits(hw, 8, 6), 0, size_by_opb[opb]);
}

/* Miscellaneous 16-bit instructions, A5.2.5. */
static void decode16_misc(uint16_t hw, uint32_t pc, struct insn *d)
{
    unsigned op = bits(hw, 11, 8);

    /* CBZ/CBNZ: 1011 op 0 i 1 imm5 Rn, forward only. */
    if ((op & 0b0101) == 0b0001) {
        uint32_t imm32 = (bits(hw, 9, 9) << 6) | (bits(hw, 7, 3) << 1);
        set_branch(d, INSN_BRANCH, pc, (int32_t)imm32);
        return;
    }
    switch (op) {
    case 0b0000: /* ADD/SUB SP, SP, #imm7 */
    case 0b0010: /* SXTH SXTB UXTH UXTB */
        return;
    case 0b0100:
    case 0b0101: { /* PUSH: 1011 010 M register_list */
        unsigned n = (unsigned)__builtin_popcount(bits(hw, 8, 0));
        if (n == 0)
            d->flags |= INSN_SPECIAL; /* UNPREDICTABLE */
        set_memory(d, INSN_STORE, THUMB_REG_SP, -(int32_t)(WORD_BYTES * n), true, WORD_BYTES * n);
        return;
    }
    case 0b1100:
    case 0b1101: { /* POP: 1011 110 P register_list */
        unsigned n = (unsigned)__builtin_popcount(bits(hw, 8, 0));
        if (n == 0)
            d->flags |= INSN_SPECIAL;
        set_memory(d, INSN_LOAD, THUMB_REG_SP, 0, true, WORD_BYTES * n);
        return;
    }
    case 0b0110: /* CPS: 1011 0110 011 im (0)(0) I F; 0110 010x is SETEND, not on M */
        d->flags |= INSN_SPECIAL;
        return;
    case 0b1010: /* REV REV16 (10 is unallocated) REVSH */
        if (bits(hw, 7, 6) == 0b10)
            d->flags |= INSN_SPECIAL;
        return;
    case 0b1110: /* BKPT */
        d->flags |= INSN_SPECIAL;
        return;
    case 0b1111: /* IT when the mask is non-zero, hints otherwise */
        if (bits(hw, 3, 0) == 0)
            set_hint(d, bits(hw, 7, 4));
        return;
    default:
        d->flags |= INSN_SPECIAL;
        return;
    }
}

static void decode16(uint16_t hw, uint32_t pc, struct insn *d)
{
    unsigned rn = bits(hw, 5, 3);
    unsigned imm5 = bits(hw, 10, 6);
    uint8_t load_or_store = bit(hw, 11) ? INSN_LOAD : INSN_STORE;

    switch (bits(hw, 15, 12)) {
    case 0b0100:
        /* 01001x LDR (literal); 010000 data processing and 010001 special data/BX have no memory */
        if (bit(hw, 11))
            set_literal(d, INSN_LOAD, (int32_t)(bits(hw, 7, 0) * WORD_BYTES), WORD_BYTES);
        else if (bits(hw, 10, 8) == 0b111) /* BX, BLX: 010001 11 L Rm (0)(0)(0) */
            require_should_be(d, bits(hw, 2, 0), 0);
        return;
    case 0b0101:
        decode16_load_store_register(hw, d);
        return;
    case 0b0110: /* STR/LDR (immediate), imm5 * 4 */
        set_memory(d, load_or_store, rn, (int32_t)(imm5 * WORD_BYTES), true, WORD_BYTES);
        return;
    case 0b0111: /* STRB/LDRB (immediate) */
        set_memory(d, load_or_store, rn, (int32_t)imm5, true, 1);
        return;
    case 0b1000: /* STRH/LDRH (immediate), imm5 * 2 */
        set_memory(d, load_or_store, rn, (int32_t)(imm5 * HALFWORD_BYTES), true, HALFWORD_BYTES);
        return;
    case 0b1001: /* STR/LDR Rt, [SP, #imm8 * 4] */
        set_memory(d, load_or_store, THUMB_REG_SP, (int32_t)(bits(hw, 7, 0) * WORD_BYTES), true,
                   WORD_BYTES);
        return;
    case 0b1011:
        decode16_misc(hw, pc, d);
        return;
    case 0b1100: { /* STM Rn!, {list} / LDM Rn{!}, {list}: increment after */
        unsigned n = (unsigned)__builtin_popcount(bits(hw, 7, 0));
        if (n == 0)
            d->flags |= INSN_SPECIAL;
        set_memory(d, load_or_store, bits(hw, 10, 8), 0, true, WORD_BYTES * n);
        return;
    }
    case 0b1101: /* B<c> T1; cond 1110 is UDF, 1111 is SVC (A5.2.6) */
        if (bits(hw, 11, 9) == 0b111)
            d->flags |= INSN_SPECIAL;
        else
            set_branch(d, INSN_BRANCH, pc, sign_extend(bits(hw, 7, 0) << 1, 9));
        return;
    case 0b1110: /* 11100 B T2 (11101 is a 32-bit prefix and never reaches here) */
        set_branch(d, INSN_BRANCH, pc, sign_extend(bits(hw, 10, 0) << 1, 12));
        return;
    default: /* 00xxxx shifts, add, subtract, move, compare; 1010x ADR and ADD SP */
        return;
    }
}

/* ---- 32-bit encodings (A5.3) ------------------------------------------- */

/* Load Multiple and Store Multiple, A5.3.5 (includes PUSH.W and POP.W). */
static void decode32_load_store_multiple(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    /* LDM lists are P:M:'0':register_list, STM lists '0':M:'0':register_list. A set bit
       where a '0' belongs is UNPREDICTABLE; the range still counts it, as Unicorn
       transfers every listed register. */
    static const uint16_t load_list_reserved = 1u << THUMB_REG_SP;
    static const uint16_t store_list_reserved = (1u << THUMB_REG_SP) | (1u << THUMB_REG_PC);
    unsigned op = bits(hw1, 8, 7), rn = bits(hw1, 3, 0);
    bool load = bit(hw1, 4), writeback = bit(hw1, 5);
    unsigned n = (unsigned)__builtin_popcount(hw2);
    uint32_t bytes = WORD_BYTES * n;
    int32_t offset;

    if (op == 0b01) /* increment after: LDM, STM, POP.W */
        offset = 0;
    else if (op == 0b10) /* decrement before: LDMDB, STMDB, PUSH.W */
        offset = -(int32_t)bytes;
    else { /* 00 and 11 are SRS/RFE, which an M-profile core does not have */
        d->flags |= INSN_SPECIAL;
        return;
    }
    if (n < 2 || (hw2 & (load ? load_list_reserved : store_list_reserved)))
        d->flags |= INSN_SPECIAL;
    /* also UNPREDICTABLE: base PC, both PC and LR loaded, writeback to a listed base */
    if (rn == THUMB_REG_PC || (load && bit(hw2, THUMB_REG_PC) && bit(hw2, THUMB_REG_LR)) ||
        (writeback && bit(hw2, rn)))
        d->flags |= INSN_SPECIAL;
    set_memory(d, load ? INSN_LOAD : INSN_STORE, rn, offset, true, bytes);
}

/* Load/store dual or exclusive, table branch, A5.3.6. */
static void decode32_dual_exclusive_table(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    unsigned op1 = bits(hw1, 8, 7), op2 = bits(hw1, 5, 4), op3 = bits(hw2, 7, 4);
    unsigned rn = bits(hw1, 3, 0);
    bool load = bit(hw1, 4);
    uint8_t flag = load ? INSN_LOAD : INSN_STORE;

    if ((op1 & 0b10) || (op2 & 0b10)) {
        /* LDRD/STRD (immediate): 1110 100 P U 1 W L Rn | Rt Rt2 imm8 */
        bool p = bit(hw1, 8), u = bit(hw1, 7);
        int32_t imm32 = (int32_t)(bits(hw2, 7, 0) * WORD_BYTES);
        int32_t offset = u ? imm32 : -imm32;
        if (rn == THUMB_REG_PC && load) {
            /* LDRD (literal); writeback (W = 1, and so any P = 0 form) to PC is UNPREDICTABLE */
            if (bit(hw1, 5))
                d->flags |= INSN_SPECIAL;
            set_literal(d, INSN_LOAD, offset, DOUBLEWORD_BYTES);
        } else {
            if (rn == THUMB_REG_PC)
                d->flags |= INSN_SPECIAL; /* STRD with Rn = PC is UNPREDICTABLE */
            set_memory(d, flag, rn, offset, p, DOUBLEWORD_BYTES);
        }
        return;
    }
    /* every exclusive and table branch: UNPREDICTABLE with base PC; for exclusives also with
       Rt or Rd as SP or PC */
    if (rn == THUMB_REG_PC || ((op1 == 0b00 || bit(op3, 2)) && is_sp_or_pc(bits(hw2, 15, 12))))
        d->flags |= INSN_SPECIAL;
    if (op1 == 0b00) {
        /* STREX Rd, Rt, [Rn, #imm8 * 4] / LDREX Rt, [Rn, #imm8 * 4]: LDREX has (1111) for Rd */
        unsigned rd = bits(hw2, 11, 8), rt = bits(hw2, 15, 12);
        if (load)
            require_should_be(d, rd, 0b1111);
        else if (rd == rn || rd == rt || is_sp_or_pc(rd))
            d->flags |= INSN_SPECIAL; /* the status register overlaps an operand: UNPREDICTABLE */
        set_memory(d, flag, rn, (int32_t)(bits(hw2, 7, 0) * WORD_BYTES), true, WORD_BYTES);
        return;
    }
    switch (op3) {
    case 0b0000: /* TBB [Rn, Rm]: hw2 = (1111)(0000) 000 H Rm */
    case 0b0001: /* TBH [Rn, Rm, LSL #1] */
        if (!load)
            break;
        require_should_be(d, bits(hw2, 15, 8), 0xF0);
        set_register_offset(d, INSN_LOAD, rn, bits(hw2, 3, 0), op3, op3 ? HALFWORD_BYTES : 1u);
        return;
    case 0b0100: /* STREXB / LDREXB */
    case 0b0101: /* STREXH / LDREXH: Rt (1111) 010x Rd, or Rt (1111) 010x (1111) */
        require_should_be(d, bits(hw2, 11, 8), 0b1111);
        if (load)
            require_should_be(d, bits(hw2, 3, 0), 0b1111);
        else if (bits(hw2, 3, 0) == rn || bits(hw2, 3, 0) == bits(hw2, 15, 12) ||
                 is_sp_or_pc(bits(hw2, 3, 0)))
            d->flags |= INSN_SPECIAL;
        set_memory(d, flag, rn, 0, true, op3 == 0b0100 ? 1u : HALFWORD_BYTES);
        return;
    default:
        break;
    }
    d->flags |= INSN_SPECIAL;
}

/*
 * Store single data item (A5.3.10), load byte (A5.3.9), load halfword
 * (A5.3.8) and load word (A5.3.7) share one layout:
 *   hw1 = 1111 100 S U size L Rn   (S: sign-extend, U: imm12 form or literal add)
 *   hw2 = Rt imm12, or Rt 1 P U W imm8, or Rt 0 00000 imm2 Rm
 */
static void decode32_load_store_single(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    static const unsigned size_word = 0b10, size_reserved = 0b11;
    bool load = bit(hw1, 4), sign = bit(hw1, 8), up = bit(hw1, 7);
    unsigned size = bits(hw1, 6, 5);
    unsigned rn = bits(hw1, 3, 0), rt = bits(hw2, 15, 12);
    uint8_t flag = load ? INSN_LOAD : INSN_STORE;
    uint32_t bytes = 1u << size;
    /* With Rt = PC, byte and halfword loads in these forms are PLD, PLI or
       unallocated memory hints, which access nothing. */
    bool hint_form = false;

    if (size == size_reserved || (sign && (!load || size == size_word))) {
        d->flags |= INSN_SPECIAL;
        return;
    }
    if (rn == THUMB_REG_PC) {
        if (!load) {
            d->flags |= INSN_SPECIAL;
            return;
        }
        int32_t imm32 = (int32_t)bits(hw2, 11, 0);
        set_literal(d, INSN_LOAD, up ? imm32 : -imm32, bytes);
        hint_form = true;
    } else if (up) {
        set_memory(d, flag, rn, (int32_t)bits(hw2, 11, 0), true, bytes);
        hint_form = true;
    } else if (bit(hw2, 11)) {
        bool p = bit(hw2, 10), u = bit(hw2, 9), w = bit(hw2, 8);
        int32_t imm32 = (int32_t)bits(hw2, 7, 0);
        if (!p && !w) {
            d->flags |= INSN_SPECIAL;
            return;
        }
        /* P U W = 1 1 0 is the unprivileged LDRT/STRT family: same address. */
        set_memory(d, flag, rn, u ? imm32 : -imm32, p, bytes);
        hint_form = p && !u && !w;
    } else if (bits(hw2, 10, 6) == 0) {
        set_register_offset(d, flag, rn, bits(hw2, 3, 0), bits(hw2, 5, 4), bytes);
        hint_form = true;
    } else {
        d->flags |= INSN_SPECIAL;
        return;
    }
    if (load && size != size_word && rt == THUMB_REG_PC) {
        if (hint_form)
            d->flags &= (uint8_t)~INSN_LOAD;
        else
            d->flags |= INSN_SPECIAL; /* a writeback or unprivileged load into PC: UNPREDICTABLE */
    }
}

/* Branches and miscellaneous control, A5.3.4. */
static void decode32_branch_misc(uint16_t hw1, uint16_t hw2, uint32_t pc, struct insn *d)
{
    unsigned op = bits(hw1, 10, 4), op1 = bits(hw2, 14, 12);
    uint32_t s = bit(hw1, 10), j1 = bit(hw2, 13), j2 = bit(hw2, 11);
    uint32_t imm11 = bits(hw2, 10, 0);

    if (bit(op1, 0)) {
        /* B.W (T4) and BL: I1 = NOT(J1 EOR S), I2 = NOT(J2 EOR S) */
        uint32_t i1 = !(j1 ^ s), i2 = !(j2 ^ s);
        uint32_t imm = (s << 24) | (i1 << 23) | (i2 << 22) | (bits(hw1, 9, 0) << 12) | (imm11 << 1);
        set_branch(d, bit(op1, 2) ? INSN_BRANCH_LINK : INSN_BRANCH, pc, sign_extend(imm, 25));
        return;
    }
    if (bit(op1, 2)) { /* 1x0: BLX (immediate) switches to ARM state; an M-profile core has none */
        d->flags |= INSN_SPECIAL;
        return;
    }
    if ((op & 0b0111000) != 0b0111000) {
        /* B<c>.W (T3): cond = hw1[9:6]; imm = S:J2:J1:imm6:imm11:'0' */
        uint32_t imm = (s << 20) | (j2 << 19) | (j1 << 18) | (bits(hw1, 5, 0) << 12) | (imm11 << 1);
        set_branch(d, INSN_BRANCH, pc, sign_extend(imm, 21));
        return;
    }
    switch (op) {
    case 0b0111010: /* hints: 11110 0 111 01 0 (1111) | 10 (0) 0 (0) op1 op2; op1 must be 000 */
        if (bits(hw2, 10, 8) != 0)
            d->flags |= INSN_SPECIAL;
        else
            set_hint(d, bits(hw2, 7, 0));
        require_should_be(d, bits(hw1, 3, 0), 0b1111);
        require_should_be(d, bit(hw2, 13), 0);
        require_should_be(d, bit(hw2, 11), 0);
        return;
    case 0b0111011: /* miscellaneous control: 11110 0 111 01 1 (1111) | 10 (0) 0 (1111) op option */
        switch (bits(hw2, 7, 4)) {
        case 0b0010: /* CLREX */
        case 0b0100: /* DSB */
        case 0b0101: /* DMB */
        case 0b0110: /* ISB */
            break;
        default:
            d->flags |= INSN_SPECIAL;
            break;
        }
        require_should_be(d, bits(hw1, 3, 0), 0b1111);
        require_should_be(d, bit(hw2, 13), 0);
        require_should_be(d, bits(hw2, 11, 8), 0b1111);
        return;
    case 0b0111110:
    case 0b0111111: /* MRS: 11110 0 1111 1 (0) (1111) | 10 (0) 0 Rd SYSm */
        require_should_be(d, bit(hw1, 4), 0);
        require_should_be(d, bits(hw1, 3, 0), 0b1111);
        require_should_be(d, bit(hw2, 13), 0);
        return;
    default: /* MSR (011100x), UDF.W and unallocated space */
        d->flags |= INSN_SPECIAL;
        return;
    }
}

/* Data processing (modified immediate) A5.3.1 and (plain binary immediate) A5.3.3. */
static void decode32_data_processing_immediate(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    if (!bit(hw1, 9)) {
        /* AND BIC ORR ORN EOR - - - ADD - ADC SBC - SUB RSB - */
        static const uint16_t allocated = 0x6D1F;
        if (!bit(allocated, bits(hw1, 8, 5)))
            d->flags |= INSN_SPECIAL;
        return;
    }
    switch (bits(hw1, 8, 4)) {
    case 0b00000: /* ADDW */
    case 0b00100: /* MOVW */
    case 0b01010: /* SUBW */
    case 0b01100: /* MOVT */
        return;
    case 0b10010:
    case 0b11010: /* SSAT/USAT with ASR; with a zero shift SSAT16/USAT16 (DSP) */
        if (bits(hw2, 14, 12) == 0 && bits(hw2, 7, 6) == 0)
            d->flags |= INSN_SPECIAL;
        /* fall through */
    case 0b10000: /* SSAT */
    case 0b11000: /* USAT */
    case 0b10100: /* SBFX */
    case 0b10110: /* BFI, BFC */
    case 0b11100: { /* UBFX: all 11110 (0) 11 op Rn | 0 imm3 Rd imm2 (0) field */
        unsigned op = bits(hw1, 8, 4), field = bits(hw2, 4, 0);
        unsigned lsb = (bits(hw2, 14, 12) << 2) | bits(hw2, 7, 6);
        require_should_be(d, bit(hw1, 10), 0);
        require_should_be(d, bit(hw2, 5), 0);
        /* a field past bit 31 (SBFX, UBFX: widthm1) or ending before it starts (BFI: msb) */
        if (((op == 0b10100 || op == 0b11100) && lsb + field > 31) || (op == 0b10110 && field < lsb))
            d->flags |= INSN_SPECIAL;
        return;
    }
    default:
        d->flags |= INSN_SPECIAL;
        return;
    }
}

/* Data processing (shifted register), A5.3.11. */
static void decode32_data_processing_shifted(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    /* AND BIC ORR ORN EOR - (PKHBT: DSP) - ADD - ADC SBC - SUB RSB - */
    static const uint16_t allocated = 0x6D1F;
    if (!bit(allocated, bits(hw1, 8, 5)))
        d->flags |= INSN_SPECIAL;
    require_should_be(d, bit(hw2, 15), 0); /* hw2 = (0) imm3 Rd imm2 type Rm */
}

/* Data processing (register), A5.3.12, without the DSP extension. */
static void decode32_data_processing_register(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    unsigned op1 = bits(hw1, 7, 4), op2 = bits(hw2, 7, 4), rn = bits(hw1, 3, 0);

    if (bits(hw2, 15, 12) != 0b1111)
        goto undefined;
    if (!bit(op1, 3)) {
        if (op2 == 0b0000)
            return; /* LSL LSR ASR ROR (register) */
        /* SXTH UXTH SXTB UXTB: 1111 Rd 1 (0) rotate Rm; with Rn != PC they are the DSP
           extend-and-add forms */
        if (bit(op2, 3) && (op1 & 0b1010) == 0 && rn == THUMB_REG_PC) {
            require_should_be(d, bit(op2, 2), 0);
            return;
        }
        goto undefined;
    }
    if ((op1 & 0b1100) == 0b1000 && (op2 & 0b1100) == 0b1000) {
        /* miscellaneous operations, A5.3.15: REV REV16 RBIT REVSH, CLZ */
        unsigned mop1 = bits(op1, 1, 0), mop2 = bits(op2, 1, 0);
        if (mop1 == 0b01 || (mop1 == 0b11 && mop2 == 0b00))
            return;
    }
undefined: /* parallel add/subtract, QADD and friends, SEL: DSP only */
    d->flags |= INSN_SPECIAL;
}

/* Multiply, multiply accumulate (A5.3.16) and long multiply, divide (A5.3.17). */
static void decode32_multiply(uint16_t hw1, uint16_t hw2, struct insn *d)
{
    unsigned op1 = bits(hw1, 6, 4);
    if (!bit(hw1, 7)) {
        /* MLA, MUL (op2 00) and MLS (op2 01); the rest is DSP */
        if (op1 != 0 || bits(hw2, 7, 6) != 0 || bits(hw2, 5, 4) > 0b01)
            d->flags |= INSN_SPECIAL;
        return;
    }
    switch ((op1 << 4) | bits(hw2, 7, 4)) {
    case 0b0000000: /* SMULL */
    case 0b0100000: /* UMULL */
    case 0b1000000: /* SMLAL */
    case 0b1100000: /* UMLAL */
        return;
    case 0b0011111: /* SDIV */
    case 0b0111111: /* UDIV: hw2 = (1111) Rd 1111 Rm */
        require_should_be(d, bits(hw2, 15, 12), 0b1111);
        d->flags |= INSN_DIVIDE;
        d->div_rm = (uint8_t)bits(hw2, 3, 0);
        d->div_signed = op1 == 0b001;
        return;
    default:
        d->flags |= INSN_SPECIAL;
        return;
    }
}

static void decode32(uint16_t hw1, uint16_t hw2, uint32_t pc, struct insn *d)
{
    unsigned op1 = bits(hw1, 12, 11), op2 = bits(hw1, 10, 4);

    if (op1 == 0b01) {
        if (bit(op2, 6))
            d->flags |= INSN_SPECIAL; /* coprocessor: NOCP UsageFault on an M3 */
        else if (bit(op2, 5))
            decode32_data_processing_shifted(hw1, hw2, d);
        else if (bit(op2, 2))
            decode32_dual_exclusive_table(hw1, hw2, d);
        else
            decode32_load_store_multiple(hw1, hw2, d);
        return;
    }
    if (op1 == 0b10) {
        if (bit(hw2, 15))
            decode32_branch_misc(hw1, hw2, pc, d);
        else
            decode32_data_processing_immediate(hw1, hw2, d);
        return;
    }
    /* op1 == 0b11 */
    if (bit(op2, 6)) {
        d->flags |= INSN_SPECIAL; /* coprocessor */
        return;
    }
    switch (bits(op2, 5, 4)) {
    case 0b00:
    case 0b01: /* 00xxxxx: stores (000xxx0) and loads (00xxxx1) */
        decode32_load_store_single(hw1, hw2, d);
        return;
    case 0b10: /* 010xxxx */
        decode32_data_processing_register(hw1, hw2, d);
        return;
    default: /* 0110xxx multiply, 0111xxx long multiply and divide */
        decode32_multiply(hw1, hw2, d);
        return;
    }
}

/* hw2 is only looked at when hw1 starts a 32-bit instruction. */
static void decode_insn(uint16_t hw1, uint16_t hw2, uint32_t pc, struct insn *d)
{
    memset(d, 0, sizeof *d);
    d->hint = THUMB_HINT_NONE;
    d->len = (uint8_t)thumb_insn_len(hw1);
    if (d->len == WORD_BYTES)
        decode32(hw1, hw2, pc, d);
    else
        decode16(hw1, pc, d);
}

/* Decode from host memory that holds at least a whole instruction. */
static void decode_at(const uint8_t *code, uint32_t pc, struct insn *d)
{
    uint16_t hw1 = read_halfword(code);
    uint16_t hw2 = thumb_insn_len(hw1) == WORD_BYTES ? read_halfword(code + HALFWORD_BYTES) : 0;
    decode_insn(hw1, hw2, pc, d);
}

/* ---- public questions ---------------------------------------------------- */

void thumb_scan_block(const uint8_t *code, uint32_t addr, uint32_t size,
                      struct thumb_block_info *out)
{
    struct insn d;
    uint32_t offset = 0;
    uint8_t it = 0;

    memset(out, 0, sizeof *out);
    while (size - offset >= HALFWORD_BYTES) {
        uint16_t hw1 = read_halfword(code + offset);
        uint32_t pc = addr + offset;

        /* IT (A7.7.38): 1011 1111 firstcond mask, mask non-zero; it sets ITSTATE for what follows */
        if ((hw1 & 0xFF00u) == 0xBF00u && (hw1 & 0xFu) != 0)
            it = (uint8_t)(hw1 & 0xFFu);
        else
            it = thumb_it_advance(it);
        out->it_after = it;

        if (out->count < UINT16_MAX)
            out->count++;
        if (thumb_insn_len(hw1) > size - offset) {
            out->has_special = true;
            out->self_loop = false;
            return;
        }
        decode_at(code + offset, pc, &d);
        out->has_load |= (d.flags & INSN_LOAD) != 0;
        out->has_store |= (d.flags & INSN_STORE) != 0;
        out->has_special |= (d.flags & INSN_SPECIAL) != 0;
        out->has_sev |= d.hint == THUMB_HINT_SEV;
        if (d.flags & INSN_DIVIDE) {
            if (out->ndiv < THUMB_MAX_DIV)
                out->div_addr[out->ndiv++] = pc;
        }
        out->self_loop = (d.flags & INSN_BRANCH) && d.target == addr;
        offset += d.len;
    }
    if (offset != size) /* an odd trailing byte cannot hold an instruction */
        out->has_special = true;
}

static inline uint32_t read_register(const uint32_t regs[16], uint32_t pc, unsigned n)
{
    return n == THUMB_REG_PC ? pc + PC_READ_OFFSET : regs[n];
}

bool thumb_mem_access(const uint8_t *code, uint32_t pc, const uint32_t regs[16],
                      struct thumb_mem_access *out)
{
    struct insn d;
    const struct mem_operand *m = &d.mem;
    uint32_t address;

    memset(out, 0, sizeof *out);
    decode_at(code, pc, &d);
    if (!(d.flags & (INSN_LOAD | INSN_STORE)))
        return false;

    if (m->literal)
        address = (pc + PC_READ_OFFSET) & WORD_ALIGN_MASK;
    else
        address = read_register(regs, pc, m->base);
    if (m->offset_applies) {
        address += (uint32_t)m->offset;
        if (m->index != NO_REGISTER)
            address += read_register(regs, pc, m->index) << m->shift;
    }
    out->load = (d.flags & INSN_LOAD) != 0;
    out->store = (d.flags & INSN_STORE) != 0;
    out->addr = address;
    out->bytes = m->bytes;
    return true;
}

bool thumb_decode_divide(const uint8_t *code, unsigned *rm, bool *is_signed)
{
    struct insn d;
    decode_at(code, 0, &d);
    if (!(d.flags & INSN_DIVIDE))
        return false;
    *rm = d.div_rm;
    *is_signed = d.div_signed;
    return true;
}

bool thumb_branch_target(const uint8_t *code, uint32_t pc, uint32_t *target)
{
    struct insn d;
    decode_at(code, pc, &d);
    if (!(d.flags & (INSN_BRANCH | INSN_BRANCH_LINK)))
        return false;
    *target = d.target;
    return true;
}

enum thumb_hint thumb_decode_hint(const uint8_t *code, unsigned len)
{
    struct insn d;
    if (len < HALFWORD_BYTES || thumb_insn_len(read_halfword(code)) > len)
        return THUMB_HINT_NONE;
    decode_at(code, 0, &d);
    return d.hint;
}
