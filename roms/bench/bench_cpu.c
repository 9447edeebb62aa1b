/*
 * bench_cpu - a CPU-bound benchmark ROM with a fixed workload: each round runs
 * a mixed loop (LCG fill, insertion sort, integer formatting, checksum; about
 * 14 % loads and 14 % stores, like firmware), word-copy memcpy passes over a
 * 4 KiB buffer, and a bitwise CRC-32 of that buffer. It prints the combined
 * checksum and, where DWT CYCCNT counts, the cycles it took, then exits 0.
 * About 400 million guest instructions in all (measured: see ROUNDS).
 *
 * Design decision: the ROM checks its own results without hard-coded
 * answers (the CRC against the standard check value of "123456789", every
 * sort for order, every copy for equality), so a wrong emulation fails the
 * run (exit 1) instead of producing a fast wrong number; the printed checksum
 * lets two platforms be compared.
 *
 * On our emulator virtual time advances one cycle per instruction, so the
 * CYCCNT figure is the guest instruction count; qemu has no CYCCNT.
 */
#include "rom.h"

#define ROUNDS 1000u
#define BUFFER_WORDS 1024u /* 4 KiB */
#define HALF_WORDS (BUFFER_WORDS / 2)
#define COPY_PASSES 16u
#define MIXED_PASSES 6u
#define MIXED_COUNT 96u
#define DIGITS_MAX 10u
#define TEXT_BYTES (MIXED_COUNT * (DIGITS_MAX + 1))

#define CRC32_POLYNOMIAL 0xEDB88320u /* reflected IEEE 802.3 */
#define CRC32_CHECK_INPUT "123456789"
#define CRC32_CHECK_VALUE 0xCBF43926u /* the published check value for that input */
#define LCG_MULTIPLIER 1664525u
#define LCG_INCREMENT 1013904223u
#define TEXT_HASH_MULTIPLIER 31u

static uint32_t buffer[BUFFER_WORDS];
static uint32_t values[MIXED_COUNT];
static char text[TEXT_BYTES];

static uint32_t crc32_bitwise(const uint8_t *data, uint32_t length)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < length; i++) {
        crc ^= data[i];
        for (unsigned bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (CRC32_POLYNOMIAL & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* A plain word loop, kept from becoming a library memcpy call. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) static void
copy_words(uint32_t *restrict dst, const uint32_t *restrict src, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        dst[i] = src[i];
}

static void insertion_sort(uint32_t *a, uint32_t count)
{
    for (uint32_t i = 1; i < count; i++) {
        uint32_t key = a[i];
        uint32_t j = i;
        while (j > 0 && a[j - 1] > key) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = key;
    }
}

/* Digits least significant first, then reversed in place: a store-heavy loop. */
static char *format_decimal(char *out, uint32_t value)
{
    char *end = out;
    do {
        *end++ = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (char *low = out, *high = end - 1; low < high; low++, high--) {
        char swap = *low;
        *low = *high;
        *high = swap;
    }
    return end;
}

static uint32_t mixed_round(uint32_t seed)
{
    uint32_t lcg = seed;
    for (uint32_t i = 0; i < MIXED_COUNT; i++) {
        lcg = lcg * LCG_MULTIPLIER + LCG_INCREMENT;
        values[i] = lcg >> 12;
    }

    insertion_sort(values, MIXED_COUNT);
    for (uint32_t i = 1; i < MIXED_COUNT; i++)
        if (values[i - 1] > values[i])
            fail("insertion sort left %u before %u", (unsigned)values[i - 1],
                 (unsigned)values[i]);

    char *end = text;
    for (uint32_t i = 0; i < MIXED_COUNT; i++) {
        end = format_decimal(end, values[i]);
        *end++ = ',';
    }

    uint32_t hash = 0;
    for (const char *p = text; p < end; p++)
        hash = hash * TEXT_HASH_MULTIPLIER + (uint8_t)*p;
    return hash;
}

static void copy_round(uint32_t stir)
{
    for (uint32_t pass = 0; pass < COPY_PASSES; pass++) {
        uint32_t *low = &buffer[0], *high = &buffer[HALF_WORDS];
        if (pass % 2 == 0)
            copy_words(high, low, HALF_WORDS);
        else
            copy_words(low, high, HALF_WORDS);
        buffer[(stir + pass) % BUFFER_WORDS] ^= stir;
    }
}

static void check_copy(void)
{
    copy_words(&buffer[HALF_WORDS], &buffer[0], HALF_WORDS);
    for (uint32_t i = 0; i < HALF_WORDS; i++)
        if (buffer[i] != buffer[HALF_WORDS + i])
            fail("word copy differs at word %u", (unsigned)i);
}

enum phase {
    PHASE_MIXED,
    PHASE_MEMCPY,
    PHASE_CRC32,
    PHASE_COUNT,
};

#define BILLION 1000000000u

/*
 * A CYCCNT read that the compiler cannot move work across: GCC may move a
 * volatile read past a call it knows only reads memory, so memory clobbers
 * fence the read on both sides; timestamp_after() also makes `result` be
 * computed before the read.
 */
static inline uint32_t timestamp(void)
{
    __asm volatile("" ::: "memory");
    uint32_t now = DWT_CYCCNT;
    __asm volatile("" ::: "memory");
    return now;
}

static inline uint32_t timestamp_after(uint32_t result)
{
    __asm volatile("" : "+r"(result)::"memory");
    return timestamp();
}

static void print_cycles(const char *phase, uint64_t cycles)
{
    if (cycles >= BILLION)
        rom_printf("bench_cpu: %s cycles (DWT CYCCNT) %u%09u\n", phase,
                   (unsigned)(cycles / BILLION), (unsigned)(cycles % BILLION));
    else
        rom_printf("bench_cpu: %s cycles (DWT CYCCNT) %u\n", phase, (unsigned)cycles);
}

int main(void)
{
    if (crc32_bitwise((const uint8_t *)CRC32_CHECK_INPUT, sizeof CRC32_CHECK_INPUT - 1) !=
        CRC32_CHECK_VALUE)
        fail("CRC-32 of \"%s\" is not 0x%08x", CRC32_CHECK_INPUT, (unsigned)CRC32_CHECK_VALUE);

    uint32_t lcg = 1;
    for (uint32_t i = 0; i < BUFFER_WORDS; i++) {
        lcg = lcg * LCG_MULTIPLIER + LCG_INCREMENT;
        buffer[i] = lcg;
    }

    bool counting = cyccnt_start();
    uint64_t cycles[PHASE_COUNT] = {0};
    uint32_t checksum = 0;
    for (uint32_t round = 0; round < ROUNDS; round++) {
        uint32_t t0 = timestamp();
        uint32_t mixed = 0;
        for (uint32_t pass = 0; pass < MIXED_PASSES; pass++)
            mixed ^= mixed_round(round ^ checksum ^ pass);
        uint32_t t1 = timestamp_after(mixed);
        copy_round(mixed);
        uint32_t t2 = timestamp();
        uint32_t crc = crc32_bitwise((const uint8_t *)buffer, sizeof buffer);
        uint32_t t3 = timestamp_after(crc);
        checksum = ((checksum << 5) | (checksum >> 27)) ^ crc ^ mixed;
        cycles[PHASE_MIXED] += t1 - t0;
        cycles[PHASE_MEMCPY] += t2 - t1;
        cycles[PHASE_CRC32] += t3 - t2;
    }
    check_copy();

    rom_printf("bench_cpu: %u rounds, checksum 0x%08x\n", ROUNDS, (unsigned)checksum);
    if (!counting) {
        rom_printf("bench_cpu: guest instruction count unknown (DWT CYCCNT does not count)\n");
        return 0;
    }
    static const char *const phase_names[PHASE_COUNT] = {"mixed", "memcpy", "crc32"};
    uint64_t total = 0;
    for (unsigned phase = 0; phase < PHASE_COUNT; phase++) {
        print_cycles(phase_names[phase], cycles[phase]);
        total += cycles[phase];
    }
    print_cycles("total", total);
    return 0;
}
