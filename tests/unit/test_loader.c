/*
 * test_loader.c - the image loader: raw binaries, ARM ELF and Intel HEX, and
 * the messages a user sees when an image is wrong.
 *
 * Design decision: every ELF is built here, field by field with the <elf.h>
 * layouts, instead of coming from a cross toolchain, so each test controls the
 * exact bytes it corrupts and runs on any host.
 */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define ERRLEN 256
#define FLASH_START 0x08000000u
#define FLASH_BYTES (128u * 1024u)
#define SRAM_START 0x20000000u
#define SRAM_BYTES (20u * 1024u)
#define THUMB 1u

static const struct mem_region spark_regions[] = {
    {"flash", FLASH_START, FLASH_BYTES},
    {"SRAM", SRAM_START, SRAM_BYTES},
};

/* ---- an ELF writer ------------------------------------------------------ */

struct test_segment {
    uint32_t type;
    uint32_t vaddr, paddr;
    uint32_t filesz, memsz;
    uint8_t fill; /* file bytes are fill, fill+1, ... */
};

struct test_symbol {
    const char *name;
    uint32_t value, size;
    unsigned char info;
    uint16_t shndx; /* SHN_UNDEF, SHN_ABS or a section: 1 is the first segment's */
};

struct test_elf {
    unsigned char elf_class;
    bool big_endian;
    uint16_t machine;
    uint16_t type;
    uint32_t entry;
    const struct test_segment *segs;
    int nsegs;
    const struct test_symbol *syms;
    int nsyms;
    bool no_sections; /* a stripped file: no section header table at all */
};

/* Where the writer put things, so tests can corrupt exactly one field. */
struct elf_layout {
    size_t size;
    size_t phoff;
    size_t seg_off[8];
    size_t symtab_off;
    size_t shoff;
    int symtab_index;
};

struct writer {
    uint8_t *buf;
    size_t cap;
    bool big;
};

static void put(struct writer *w, size_t off, uint64_t v, size_t size)
{
    assert_true(off + size <= w->cap);
    for (size_t i = 0; i < size; i++)
        w->buf[off + (w->big ? size - 1 - i : i)] = (uint8_t)(v >> (8 * i));
}

#define PUT(w, base, type, field, v)                                                            \
    put((w), (base) + offsetof(type, field), (v), sizeof(((type *)0)->field))

static size_t align4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static const char shstrtab[] = "\0.text\0.symtab\0.strtab\0.shstrtab";
#define SHSTR_TEXT 1
#define SHSTR_SYMTAB 7
#define SHSTR_STRTAB 15
#define SHSTR_SHSTRTAB 23

static void put_shdr(struct writer *w, size_t at, uint32_t name, uint32_t type, uint32_t addr,
                     size_t off, size_t size, uint32_t link, uint32_t info, uint32_t entsize)
{
    PUT(w, at, Elf32_Shdr, sh_name, name);
    PUT(w, at, Elf32_Shdr, sh_type, type);
    PUT(w, at, Elf32_Shdr, sh_addr, addr);
    PUT(w, at, Elf32_Shdr, sh_offset, off);
    PUT(w, at, Elf32_Shdr, sh_size, size);
    PUT(w, at, Elf32_Shdr, sh_link, link);
    PUT(w, at, Elf32_Shdr, sh_info, info);
    PUT(w, at, Elf32_Shdr, sh_addralign, 4);
    PUT(w, at, Elf32_Shdr, sh_entsize, entsize);
}

/*
 * Layout: header, program headers, segment bytes, .symtab, .strtab,
 * .shstrtab, section headers last (so any truncation cuts them).
 * Sections: 0 null, 1..nsegs one PROGBITS per segment, then symtab, strtab,
 * shstrtab.
 */
static struct elf_layout build_elf(const struct test_elf *e, uint8_t *buf, size_t cap)
{
    struct writer w = {buf, cap, e->big_endian};
    struct elf_layout l = {0};
    memset(buf, 0, cap);
    assert_true(e->nsegs <= 8);

    size_t off = sizeof(Elf32_Ehdr);
    l.phoff = off;
    off += (size_t)e->nsegs * sizeof(Elf32_Phdr);
    for (int i = 0; i < e->nsegs; i++) {
        off = align4(off);
        l.seg_off[i] = off;
        for (uint32_t b = 0; b < e->segs[i].filesz; b++)
            put(&w, off + b, (uint8_t)(e->segs[i].fill + b), 1);
        size_t ph = l.phoff + (size_t)i * sizeof(Elf32_Phdr);
        PUT(&w, ph, Elf32_Phdr, p_type, e->segs[i].type);
        PUT(&w, ph, Elf32_Phdr, p_offset, off);
        PUT(&w, ph, Elf32_Phdr, p_vaddr, e->segs[i].vaddr);
        PUT(&w, ph, Elf32_Phdr, p_paddr, e->segs[i].paddr);
        PUT(&w, ph, Elf32_Phdr, p_filesz, e->segs[i].filesz);
        PUT(&w, ph, Elf32_Phdr, p_memsz, e->segs[i].memsz);
        PUT(&w, ph, Elf32_Phdr, p_flags, PF_R | PF_X);
        PUT(&w, ph, Elf32_Phdr, p_align, 4);
        off += e->segs[i].filesz;
    }

    int nsections = 0;
    size_t strtab_off = 0, strtab_size = 0, shstrtab_off = 0;
    if (!e->no_sections) {
        off = align4(off);
        l.symtab_off = off;
        off += (size_t)(e->nsyms + 1) * sizeof(Elf32_Sym);
        strtab_off = off;
        size_t str = 1; /* offset 0 is the empty name */
        put(&w, strtab_off, 0, 1);
        for (int i = 0; i < e->nsyms; i++) {
            size_t n = strlen(e->syms[i].name) + 1;
            assert_true(strtab_off + str + n <= cap);
            memcpy(buf + strtab_off + str, e->syms[i].name, n);
            size_t sym = l.symtab_off + (size_t)(i + 1) * sizeof(Elf32_Sym);
            PUT(&w, sym, Elf32_Sym, st_name, e->syms[i].name[0] ? str : 0);
            PUT(&w, sym, Elf32_Sym, st_value, e->syms[i].value);
            PUT(&w, sym, Elf32_Sym, st_size, e->syms[i].size);
            PUT(&w, sym, Elf32_Sym, st_info, e->syms[i].info);
            PUT(&w, sym, Elf32_Sym, st_shndx, e->syms[i].shndx);
            str += n;
        }
        strtab_size = str;
        off = strtab_off + strtab_size;
        shstrtab_off = off;
        assert_true(shstrtab_off + sizeof shstrtab <= cap);
        memcpy(buf + shstrtab_off, shstrtab, sizeof shstrtab);
        off += sizeof shstrtab;

        off = align4(off);
        l.shoff = off;
        nsections = 1 + e->nsegs + 3;
        l.symtab_index = 1 + e->nsegs;
        off += (size_t)nsections * sizeof(Elf32_Shdr);
        assert_true(off <= cap);
        for (int i = 0; i < e->nsegs; i++)
            put_shdr(&w, l.shoff + (size_t)(1 + i) * sizeof(Elf32_Shdr), SHSTR_TEXT,
                     SHT_PROGBITS, e->segs[i].vaddr, l.seg_off[i], e->segs[i].filesz, 0, 0, 0);
        size_t at = l.shoff + (size_t)l.symtab_index * sizeof(Elf32_Shdr);
        put_shdr(&w, at, SHSTR_SYMTAB, SHT_SYMTAB, 0, l.symtab_off,
                 (size_t)(e->nsyms + 1) * sizeof(Elf32_Sym), (uint32_t)l.symtab_index + 1,
                 (uint32_t)e->nsyms + 1, sizeof(Elf32_Sym));
        put_shdr(&w, at + sizeof(Elf32_Shdr), SHSTR_STRTAB, SHT_STRTAB, 0, strtab_off,
                 strtab_size, 0, 0, 0);
        put_shdr(&w, at + 2 * sizeof(Elf32_Shdr), SHSTR_SHSTRTAB, SHT_STRTAB, 0, shstrtab_off,
                 sizeof shstrtab, 0, 0, 0);
    }

    memcpy(buf, ELFMAG, SELFMAG);
    buf[EI_CLASS] = e->elf_class ? e->elf_class : ELFCLASS32;
    buf[EI_DATA] = e->big_endian ? ELFDATA2MSB : ELFDATA2LSB;
    buf[EI_VERSION] = EV_CURRENT;
    PUT(&w, 0, Elf32_Ehdr, e_type, e->type ? e->type : ET_EXEC);
    PUT(&w, 0, Elf32_Ehdr, e_machine, e->machine ? e->machine : EM_ARM);
    PUT(&w, 0, Elf32_Ehdr, e_version, EV_CURRENT);
    PUT(&w, 0, Elf32_Ehdr, e_entry, e->entry);
    PUT(&w, 0, Elf32_Ehdr, e_phoff, e->nsegs ? l.phoff : 0);
    PUT(&w, 0, Elf32_Ehdr, e_shoff, l.shoff);
    PUT(&w, 0, Elf32_Ehdr, e_flags, EF_ARM_EABI_VER5);
    PUT(&w, 0, Elf32_Ehdr, e_ehsize, sizeof(Elf32_Ehdr));
    PUT(&w, 0, Elf32_Ehdr, e_phentsize, sizeof(Elf32_Phdr));
    PUT(&w, 0, Elf32_Ehdr, e_phnum, (uint32_t)e->nsegs);
    PUT(&w, 0, Elf32_Ehdr, e_shentsize, e->no_sections ? 0 : sizeof(Elf32_Shdr));
    PUT(&w, 0, Elf32_Ehdr, e_shnum, (uint32_t)nsections);
    PUT(&w, 0, Elf32_Ehdr, e_shstrndx, e->no_sections ? 0 : (uint32_t)nsections - 1);
    l.size = off;
    return l;
}

/* A typical Cortex-M image: code, then .data's initialisers right after it in flash. */
static const struct test_segment firmware_segments[] = {
    {PT_LOAD, FLASH_START, FLASH_START, 0x40, 0x40, 0x10},
    /* .data runs from SRAM but its initial values live in flash (LMA) */
    {PT_LOAD, SRAM_START, FLASH_START + 0x40, 0x10, 0x20, 0xA0},
    /* .bss: nothing in the file, nothing to load */
    {PT_LOAD, SRAM_START + 0x20, SRAM_START + 0x20, 0, 0x100, 0},
};

static const struct test_symbol firmware_symbols[] = {
    {"main", (FLASH_START + 0x20) | THUMB, 0x10, ELF32_ST_INFO(STB_GLOBAL, STT_FUNC), 1},
    {"Reset_Handler", (FLASH_START + 0x08) | THUMB, 0x08, ELF32_ST_INFO(STB_GLOBAL, STT_FUNC), 1},
    {"counter", SRAM_START, 4, ELF32_ST_INFO(STB_GLOBAL, STT_OBJECT), 1},
    {"$t", FLASH_START + 0x08, 0, ELF32_ST_INFO(STB_LOCAL, STT_NOTYPE), 1},
    {"_estack", SRAM_START + SRAM_BYTES, 0, ELF32_ST_INFO(STB_GLOBAL, STT_NOTYPE), 1},
    {"firmware.c", 0, 0, ELF32_ST_INFO(STB_LOCAL, STT_FILE), SHN_ABS},
    {"printf", 0, 0, ELF32_ST_INFO(STB_GLOBAL, STT_FUNC), SHN_UNDEF},
};

static const struct test_elf firmware_elf = {
    .entry = (FLASH_START + 0x08) | THUMB,
    .segs = firmware_segments,
    .nsegs = 3,
    .syms = firmware_symbols,
    .nsyms = 7,
};

#define ELF_BUF 4096

/* ---- helpers ------------------------------------------------------------ */

struct tmpdir {
    char path[64];
};

static int make_tmpdir(void **state)
{
    struct tmpdir *t = calloc(1, sizeof *t);
    assert_non_null(t);
    strcpy(t->path, "/tmp/test_loader.XXXXXX");
    assert_non_null(mkdtemp(t->path));
    *state = t;
    return 0;
}

static int remove_tmpdir(void **state)
{
    struct tmpdir *t = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->path);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void load_bytes(const char *name, const uint8_t *data, size_t len, uint32_t bin_addr,
                       struct image *img)
{
    char err[ERRLEN] = "";
    int rc = image_load_memory(name, data, len, bin_addr, img, err, sizeof err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err);
}

static void expect_error(const char *name, const uint8_t *data, size_t len, const char *message)
{
    struct image img;
    char err[ERRLEN] = "";
    assert_int_equal(image_load_memory(name, data, len, FLASH_START, &img, err, sizeof err), -1);
    assert_string_equal(err, message);
    assert_null(img.segments);
    assert_null(img.path);
}

static void expect_error_containing(const char *name, const uint8_t *data, size_t len,
                                    const char *part)
{
    struct image img;
    char err[ERRLEN] = "";
    assert_int_equal(image_load_memory(name, data, len, FLASH_START, &img, err, sizeof err), -1);
    if (strncmp(err, name, strlen(name)) != 0 || !strstr(err, part))
        fail_msg("message \"%s\" should start with \"%s\" and contain \"%s\"", err, name, part);
    assert_null(img.segments);
}

/* ---- raw binaries ------------------------------------------------------- */

static void test_bin_goes_to_start_of_flash_by_default(void **state)
{
    (void)state;
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 7);
    struct image img;
    load_bytes("fw.bin", bytes, sizeof bytes, IMAGE_DEFAULT_BIN_ADDR, &img);
    assert_int_equal(img.format, IMAGE_BIN);
    assert_string_equal(img.path, "fw.bin");
    assert_int_equal(img.nsegments, 1);
    assert_int_equal(img.segments[0].addr, 0x08000000u);
    assert_int_equal(img.segments[0].size, sizeof bytes);
    assert_memory_equal(img.segments[0].data, bytes, sizeof bytes);
    assert_false(img.has_entry);
    assert_int_equal(img.nsymbols, 0);
    image_free(&img);
}

static void test_bin_goes_to_given_address_from_spec(void **state)
{
    struct tmpdir *t = *state;
    char path[128], spec[160];
    snprintf(path, sizeof path, "%s/fw.bin", t->path);
    snprintf(spec, sizeof spec, "%s@0x08005000", path);
    const uint8_t bytes[] = {1, 2, 3, 4, 5};
    write_file(path, bytes, sizeof bytes);

    char *file;
    uint32_t addr;
    bool has_addr;
    char err[ERRLEN] = "";
    assert_int_equal(image_parse_spec(spec, &file, &addr, &has_addr, err, sizeof err), 0);
    assert_true(has_addr);
    assert_int_equal(addr, 0x08005000u);
    assert_string_equal(file, path);

    struct image img;
    assert_int_equal(image_load(file, addr, &img, err, sizeof err), 0);
    assert_int_equal(img.nsegments, 1);
    assert_int_equal(img.segments[0].addr, 0x08005000u);
    assert_int_equal(img.segments[0].size, 5);
    assert_memory_equal(img.segments[0].data, bytes, sizeof bytes);
    image_free(&img);
    free(file);
}

static void test_bin_running_past_4gib_is_refused(void **state)
{
    (void)state;
    uint8_t bytes[0x200] = {0};
    struct image img;
    char err[ERRLEN];
    assert_int_equal(image_load_memory("fw.bin", bytes, sizeof bytes, 0xFFFFFF00u, &img, err,
                                       sizeof err),
                     -1);
    assert_string_equal(err, "fw.bin: 512 bytes at 0xffffff00 run past the end of the 32-bit "
                             "address space (0x100000100)");
}

static void test_format_is_told_by_content_not_name(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct image img;
    load_bytes("firmware.bin", elf, l.size, FLASH_START, &img);
    assert_int_equal(img.format, IMAGE_ELF);
    image_free(&img);

    const char hex[] = ":0100000055AA\n:00000001FF\n";
    load_bytes("firmware.bin", (const uint8_t *)hex, strlen(hex), FLASH_START, &img);
    assert_int_equal(img.format, IMAGE_IHEX);
    image_free(&img);

    /* starts with ':' but is not text: a binary whose first byte happens to be 0x3a */
    const uint8_t bin[] = {':', '1', '0', 0x00, 0x50, 0x00, 0x20};
    load_bytes("firmware", bin, sizeof bin, FLASH_START, &img);
    assert_int_equal(img.format, IMAGE_BIN);
    assert_int_equal(img.segments[0].size, sizeof bin);
    image_free(&img);
}

static void test_elf_name_with_other_content_is_refused(void **state)
{
    (void)state;
    const uint8_t bin[] = {0x00, 0x50, 0x00, 0x20, 0x09, 0x01, 0x00, 0x08};
    expect_error("fw.elf", bin, sizeof bin,
                 "fw.elf: named .elf but is not an ELF file: it starts with 00 50 00 20, not the "
                 "ELF magic 7f 45 4c 46");
    expect_error("FW.ELF", bin, 2,
                 "FW.ELF: named .elf but is not an ELF file: it starts with 00 50, not the ELF "
                 "magic 7f 45 4c 46");
    const char hex[] = ":0100000055AA\n:00000001FF\n";
    expect_error("fw.elf", (const uint8_t *)hex, strlen(hex),
                 "fw.elf: named .elf but holds Intel HEX text; rename it .hex, or give the ELF "
                 "file");
    /* a name that is only the suffix promises nothing */
    struct image img;
    load_bytes(".elf", bin, sizeof bin, FLASH_START, &img);
    assert_int_equal(img.format, IMAGE_BIN);
    image_free(&img);
}

static void test_hex_name_with_other_content_is_refused(void **state)
{
    (void)state;
    const uint8_t bin[] = {':', '1', '0', 0x00, 0x50, 0x00, 0x20};
    expect_error("firmware.hex", bin, sizeof bin,
                 "firmware.hex: named .hex but is not Intel HEX: byte 0x00 at offset 3 is not "
                 "text");
    const char text[] = "  \n10000000\n";
    expect_error("firmware.HEX", (const uint8_t *)text, strlen(text),
                 "firmware.HEX: named .hex but is not Intel HEX: byte 0x31 at offset 3, where the "
                 "first record's ':' should be");
    expect_error("blank.hex", (const uint8_t *)" \r\n", 3,
                 "blank.hex: named .hex but holds only blanks, no Intel HEX record");
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    expect_error("fw.hex", elf, l.size,
                 "fw.hex: named .hex but is an ELF file, not Intel HEX; rename it .elf");
}

/* ---- ELF ---------------------------------------------------------------- */

static void test_elf_loads_file_bytes_at_physical_addresses(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct image img;
    load_bytes("fw.elf", elf, l.size, FLASH_START, &img);

    assert_int_equal(img.format, IMAGE_ELF);
    /* .bss has no file bytes and .data's zero-fill beyond p_filesz is the guest's job */
    assert_int_equal(img.nsegments, 2);
    assert_int_equal(img.segments[0].addr, FLASH_START);
    assert_int_equal(img.segments[0].size, 0x40);
    assert_int_equal(img.segments[0].data[0], 0x10);
    assert_int_equal(img.segments[0].data[0x3f], 0x4f);
    assert_int_equal(img.segments[1].addr, FLASH_START + 0x40); /* LMA, not SRAM */
    assert_int_equal(img.segments[1].size, 0x10);
    assert_int_equal(img.segments[1].data[0], 0xA0);
    assert_int_equal(img.segments[1].data[0xf], 0xAF);
    assert_true(img.has_entry);
    assert_int_equal(img.entry, (FLASH_START + 0x08) | THUMB);
    image_free(&img);
}

static void test_elf_keeps_only_named_function_and_object_symbols_sorted(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct image img;
    load_bytes("fw.elf", elf, l.size, FLASH_START, &img);

    assert_int_equal(img.nsymbols, 3);
    assert_string_equal(img.symbols[0].name, "Reset_Handler");
    assert_int_equal(img.symbols[0].addr, FLASH_START + 0x08); /* Thumb bit cleared */
    assert_int_equal(img.symbols[0].size, 8);
    assert_string_equal(img.symbols[1].name, "main");
    assert_int_equal(img.symbols[1].addr, FLASH_START + 0x20);
    assert_string_equal(img.symbols[2].name, "counter");
    assert_int_equal(img.symbols[2].addr, SRAM_START);
    image_free(&img);
}

static void test_symbolize_finds_containing_symbol_and_offset(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct image img;
    load_bytes("fw.elf", elf, l.size, FLASH_START, &img);

    uint32_t off = 0xdead;
    assert_string_equal(image_symbolize(&img, FLASH_START + 0x0c, &off), "Reset_Handler");
    assert_int_equal(off, 4);
    assert_string_equal(image_symbolize(&img, FLASH_START + 0x20, &off), "main");
    assert_int_equal(off, 0);
    assert_string_equal(image_symbolize(&img, FLASH_START + 0x2f, &off), "main");
    assert_int_equal(off, 0xf);
    assert_string_equal(image_symbolize(&img, SRAM_START + 3, &off), "counter");
    assert_int_equal(off, 3);
    /* just past a symbol's end, between symbols, before the first */
    assert_null(image_symbolize(&img, FLASH_START + 0x30, &off));
    assert_null(image_symbolize(&img, FLASH_START + 0x10, &off));
    assert_null(image_symbolize(&img, FLASH_START, &off));
    assert_null(image_symbolize(&img, SRAM_START + 4, &off));
    image_free(&img);
}

static void test_elf_without_section_headers_loads_without_symbols(void **state)
{
    (void)state;
    struct test_elf e = firmware_elf;
    e.no_sections = true;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    struct image img;
    load_bytes("stripped.elf", elf, l.size, FLASH_START, &img);
    assert_int_equal(img.nsegments, 2);
    assert_int_equal(img.nsymbols, 0);
    assert_null(image_symbolize(&img, FLASH_START + 0x20, NULL));
    image_free(&img);
}

static void test_elf_for_x86_64_is_refused(void **state)
{
    (void)state;
    /* An ELF64 header as an x86-64 toolchain writes it. */
    uint8_t hdr[sizeof(Elf64_Ehdr)] = {0};
    struct writer w = {hdr, sizeof hdr, false};
    memcpy(hdr, ELFMAG, SELFMAG);
    hdr[EI_CLASS] = ELFCLASS64;
    hdr[EI_DATA] = ELFDATA2LSB;
    hdr[EI_VERSION] = EV_CURRENT;
    PUT(&w, 0, Elf64_Ehdr, e_type, ET_EXEC);
    PUT(&w, 0, Elf64_Ehdr, e_machine, EM_X86_64);
    PUT(&w, 0, Elf64_Ehdr, e_version, EV_CURRENT);
    PUT(&w, 0, Elf64_Ehdr, e_ehsize, sizeof(Elf64_Ehdr));
    expect_error("x.elf", hdr, sizeof hdr, "x.elf: ELF for machine 62 (x86-64), expected ARM (40)");

    /* and a real host executable: this very test */
    struct image img;
    char err[ERRLEN] = "";
    assert_int_equal(image_load("/proc/self/exe", FLASH_START, &img, err, sizeof err), -1);
    if (!strstr(err, "expected ARM (40)"))
        fail_msg("host executable refused for the wrong reason: %s", err);
}

static void test_elf32_big_endian_is_refused(void **state)
{
    (void)state;
    struct test_elf e = firmware_elf;
    e.big_endian = true;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    expect_error("be.elf", elf, l.size,
                 "be.elf: big-endian ELF (ELFDATA2MSB), expected little-endian (ELFDATA2LSB) as "
                 "the Cortex-M3 runs");
}

static void test_elf_64bit_arm_and_relocatable_are_refused(void **state)
{
    (void)state;
    struct test_elf e = firmware_elf;
    uint8_t elf[ELF_BUF];
    e.type = ET_REL;
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    expect_error_containing("main.o", elf, l.size, "relocatable object (ET_REL)");

    e = firmware_elf;
    l = build_elf(&e, elf, sizeof elf);
    elf[EI_CLASS] = ELFCLASS64;
    expect_error("a64.elf", elf, l.size,
                 "a64.elf: 64-bit ELF (ELFCLASS64), expected 32-bit (ELFCLASS32)");
}

/* Section headers are last, so every cut must be an error; the whole file loads. */
static void test_truncated_elf_fails_at_every_length(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    for (size_t len = 0; len <= l.size; len++) {
        /* a private copy of exactly len bytes, so ASan sees any read past its end */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, elf, len);
        struct image img;
        char err[ERRLEN] = "";
        int rc = image_load_memory("t.elf", copy, len, FLASH_START, &img, err, sizeof err);
        if (len < l.size) {
            if (rc != -1 || strncmp(err, "t.elf: ", 7) != 0)
                fail_msg("cut at %zu of %zu: rc %d, message \"%s\"", len, l.size, rc, err);
            assert_null(img.segments);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(img.nsegments, 2);
        }
        image_free(&img);
        free(copy);
    }
    expect_error("t.elf", elf, 0, "t.elf: file is empty");
    expect_error("t.elf", elf, 3, "t.elf: file is 3 bytes, too short for an ELF header (52 bytes)");
    char expected[ERRLEN];
    snprintf(expected, sizeof expected,
             "t.elf: section header table (7 entries at file offset 0x%zx) runs past the end "
             "of the file (%zu bytes, truncated?)",
             l.shoff, l.size - 1);
    expect_error("t.elf", elf, l.size - 1, expected);
}

static void test_truncated_stripped_elf_names_the_cut_segment(void **state)
{
    (void)state;
    struct test_elf e = firmware_elf;
    e.no_sections = true;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    char expected[ERRLEN];
    snprintf(expected, sizeof expected,
             "s.elf: segment 1 claims 16 bytes at file offset 0x%zx but the file is only %zu "
             "bytes (truncated?)",
             l.seg_off[1], l.size - 1);
    expect_error("s.elf", elf, l.size - 1, expected);
    expect_error("s.elf", elf, sizeof(Elf32_Ehdr) + 10,
                 "s.elf: program header table (3 entries at file offset 0x34) runs past the end "
                 "of the file (62 bytes, truncated?)");
}

static void test_segment_offset_past_end_of_file_is_refused(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct writer w = {elf, sizeof elf, false};
    PUT(&w, l.phoff + 1 * sizeof(Elf32_Phdr), Elf32_Phdr, p_offset, 0x1000);
    char expected[ERRLEN];
    snprintf(expected, sizeof expected,
             "x.elf: segment 1 claims 16 bytes at file offset 0x1000 but the file is only %zu "
             "bytes (truncated?)",
             l.size);
    expect_error("x.elf", elf, l.size, expected);

    /* a size that would wrap a 32-bit sum must not slip through, nor be allocated */
    l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, l.phoff, Elf32_Phdr, p_filesz, 0xFFFFFFF0u);
    PUT(&w, l.phoff, Elf32_Phdr, p_memsz, 0xFFFFFFF0u);
    expect_error_containing("x.elf", elf, l.size, "segment 0 claims 4294967280 bytes");
}

static void test_overlapping_segments_in_one_elf_are_refused(void **state)
{
    (void)state;
    const struct test_segment segs[] = {
        {PT_LOAD, FLASH_START, FLASH_START, 0x40, 0x40, 0},
        {PT_LOAD, SRAM_START, FLASH_START + 0x3c, 0x10, 0x10, 0},
    };
    struct test_elf e = {.segs = segs, .nsegs = 2};
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    expect_error("o.elf", elf, l.size,
                 "o.elf: data from segment 1 (0x0800003c-0x0800004b) overlaps data from "
                 "segment 0 (0x08000000-0x0800003f)");
}

static void test_elf_with_no_loadable_bytes_is_refused(void **state)
{
    (void)state;
    const struct test_segment segs[] = {{PT_LOAD, SRAM_START, SRAM_START, 0, 0x100, 0}};
    struct test_elf e = {.segs = segs, .nsegs = 1};
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&e, elf, sizeof elf);
    expect_error("bss.elf", elf, l.size,
                 "bss.elf: no loadable segment (PT_LOAD with file contents)");
}

static void test_bogus_symbol_and_section_indices_are_refused(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct writer w = {elf, sizeof elf, false};
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, l.symtab_off + 2 * sizeof(Elf32_Sym), Elf32_Sym, st_name, 0x7FFFFFF0u);
    expect_error_containing("y.elf", elf, l.size, "symbol 2 has name offset 0x7ffffff0");

    l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, l.shoff + (size_t)l.symtab_index * sizeof(Elf32_Shdr), Elf32_Shdr, sh_link, 999);
    expect_error_containing("y.elf", elf, l.size,
                            "symbol table (section 4) links to string table section 999");

    l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, l.shoff + (size_t)l.symtab_index * sizeof(Elf32_Shdr), Elf32_Shdr, sh_link, 1);
    expect_error_containing("y.elf", elf, l.size, "expected a string table");

    /* a section count far beyond what the file holds */
    l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, 0, Elf32_Ehdr, e_shnum, 0xFFFE);
    expect_error_containing("y.elf", elf, l.size, "section header table (65534 entries");

    l = build_elf(&firmware_elf, elf, sizeof elf);
    PUT(&w, l.shoff + (size_t)l.symtab_index * sizeof(Elf32_Shdr), Elf32_Shdr, sh_size,
        0x40000000u);
    expect_error_containing("y.elf", elf, l.size, "section 4 claims 1073741824 bytes");
}

/* Deterministic byte corruption: any outcome but a crash, a leak or a bad image. */
static void test_corrupted_elf_never_yields_a_bad_image(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF], copy[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    uint32_t x = 0x12345678u; /* xorshift32 */
    int loaded = 0;
    for (int round = 0; round < 4000; round++) {
        memcpy(copy, elf, l.size);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* mostly headers, where the interesting fields are */
            size_t headers = sizeof(Elf32_Ehdr) + 3 * sizeof(Elf32_Phdr);
            size_t at = (x >> 8) % (round % 2 ? l.size : headers);
            copy[at] = (uint8_t)x;
        }
        struct image img;
        char err[ERRLEN] = "";
        int rc = image_load_memory("m.elf", copy, l.size, FLASH_START, &img, err, sizeof err);
        if (rc == 0) {
            loaded++;
            assert_true(img.nsegments > 0);
            for (int i = 0; i < img.nsegments; i++) {
                assert_true(img.segments[i].size > 0);
                assert_true((uint64_t)img.segments[i].addr + img.segments[i].size <=
                            0x100000000ull);
                if (i)
                    assert_true(img.segments[i].addr >=
                                (uint64_t)img.segments[i - 1].addr + img.segments[i - 1].size);
            }
            for (int i = 1; i < img.nsymbols; i++)
                assert_true(img.symbols[i].addr >= img.symbols[i - 1].addr);
            image_symbolize(&img, FLASH_START + 0x24, NULL);
        } else {
            assert_int_equal(rc, -1);
            if (strncmp(err, "m.elf: ", 7) != 0)
                fail_msg("round %d: message \"%s\" does not name the file", round, err);
        }
        image_free(&img);
    }
    /* flips in unused bytes must still load: the check is not "refuse everything" */
    assert_true(loaded > 0);
}

/* ---- two images, and the memory map ------------------------------------- */

static void test_overlapping_images_are_reported(void **state)
{
    (void)state;
    static uint8_t a_bytes[0x5100], b_bytes[0x100];
    struct image a, b, c;
    load_bytes("a.bin", a_bytes, sizeof a_bytes, 0x08000000u, &a);
    load_bytes("b.bin", b_bytes, sizeof b_bytes, 0x08005000u, &b);
    load_bytes("c.bin", b_bytes, sizeof b_bytes, 0x08005100u, &c);
    char err[ERRLEN] = "";
    assert_int_equal(image_check_overlap(&a, &b, err, sizeof err), -1);
    assert_string_equal(err, "b.bin overlaps a.bin at 0x08005000-0x080050ff");
    /* touching is not overlapping */
    assert_int_equal(image_check_overlap(&a, &c, err, sizeof err), 0);
    assert_int_equal(image_check_overlap(&b, &c, err, sizeof err), 0);
    image_free(&a);
    image_free(&b);
    image_free(&c);
}

static void test_overlap_between_elf_and_bin_finds_the_second_segment(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    uint8_t patch[4] = {0};
    struct image fw, p;
    load_bytes("fw.elf", elf, l.size, FLASH_START, &fw);
    load_bytes("patch.bin", patch, sizeof patch, FLASH_START + 0x4e, &p);
    char err[ERRLEN] = "";
    assert_int_equal(image_check_overlap(&fw, &p, err, sizeof err), -1);
    assert_string_equal(err, "patch.bin overlaps fw.elf at 0x0800004e-0x0800004f");
    image_free(&fw);
    image_free(&p);
}

static void test_image_past_end_of_flash_is_refused(void **state)
{
    (void)state;
    static uint8_t bytes[204800];
    struct image img;
    char err[ERRLEN] = "";
    load_bytes("fw.bin", bytes, sizeof bytes, 0x08005000u, &img);
    assert_int_equal(image_check_fit(&img, spark_regions, 2, err, sizeof err), -1);
    assert_string_equal(err, "fw.bin: 204800 bytes at 0x08005000 end at 0x08037000, past the end "
                             "of flash (0x08020000)");
    image_free(&img);

    load_bytes("ram.bin", bytes, 16, 0x30000000u, &img);
    assert_int_equal(image_check_fit(&img, spark_regions, 2, err, sizeof err), -1);
    assert_string_equal(err, "ram.bin: 16 bytes at 0x30000000 are outside every region an image "
                             "may go to (flash 0x08000000-0x0801ffff, SRAM "
                             "0x20000000-0x20004fff)");
    image_free(&img);

    /* exactly filling flash fits */
    load_bytes("full.bin", bytes, FLASH_BYTES, FLASH_START, &img);
    assert_int_equal(image_check_fit(&img, spark_regions, 2, err, sizeof err), 0);
    image_free(&img);
}

static void test_elf_data_initialisers_fit_flash_not_sram(void **state)
{
    (void)state;
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    struct image img;
    load_bytes("fw.elf", elf, l.size, FLASH_START, &img);
    char err[ERRLEN] = "";
    /* only flash offered: fits, because .data is loaded at its LMA */
    assert_int_equal(image_check_fit(&img, spark_regions, 1, err, sizeof err), 0);
    image_free(&img);
}

/* ---- Intel HEX ---------------------------------------------------------- */

/* One record with its checksum, appended to buf. */
static void hex_record(char *buf, size_t cap, unsigned type, unsigned addr, const uint8_t *data,
                       unsigned n)
{
    size_t len = strlen(buf);
    unsigned sum = n + (addr >> 8) + (addr & 0xff) + type;
    len += (size_t)snprintf(buf + len, cap - len, ":%02X%04X%02X", n, addr, type);
    for (unsigned i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%02X", data[i]);
        sum += data[i];
    }
    snprintf(buf + len, cap - len, "%02X\r\n", (0x100 - (sum & 0xff)) & 0xff);
}

static void test_ihex_extended_linear_address_places_data_in_flash(void **state)
{
    (void)state;
    char hex[2048] = "";
    /* hand-checked records: ULBA 0x0800, entry 0x08000101 */
    strcat(hex, ":020000040800F2\n");
    uint8_t bytes[40];
    for (unsigned i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(0xC0 + i);
    hex_record(hex, sizeof hex, 0x00, 0x0000, bytes, 16);
    hex_record(hex, sizeof hex, 0x00, 0x0010, bytes + 16, 16);
    hex_record(hex, sizeof hex, 0x00, 0x0020, bytes + 32, 8);
    /* a second area after a jump: a new segment */
    hex_record(hex, sizeof hex, 0x00, 0x5000, bytes, 4);
    strcat(hex, ":0400000508000101ED\n");
    strcat(hex, ":00000001FF\n");

    struct image img;
    load_bytes("fw.hex", (const uint8_t *)hex, strlen(hex), 0, &img);
    assert_int_equal(img.format, IMAGE_IHEX);
    assert_int_equal(img.nsegments, 2);
    assert_int_equal(img.segments[0].addr, 0x08000000u);
    assert_int_equal(img.segments[0].size, 40);
    assert_memory_equal(img.segments[0].data, bytes, 40);
    assert_int_equal(img.segments[1].addr, 0x08005000u);
    assert_int_equal(img.segments[1].size, 4);
    assert_true(img.has_entry);
    assert_int_equal(img.entry, 0x08000101u);
    image_free(&img);
}

static void test_ihex_segment_address_and_out_of_order_records(void **state)
{
    (void)state;
    char hex[1024] = "";
    const uint8_t lo[] = {1, 2}, hi[] = {3, 4};
    const uint8_t sba[] = {0x10, 0x00}; /* segment 0x1000: base 0x10000 */
    hex_record(hex, sizeof hex, 0x02, 0, sba, 2);
    hex_record(hex, sizeof hex, 0x00, 0x0102, hi, 2);
    hex_record(hex, sizeof hex, 0x00, 0x0100, lo, 2);
    hex_record(hex, sizeof hex, 0x01, 0, NULL, 0);
    struct image img;
    load_bytes("seg.hex", (const uint8_t *)hex, strlen(hex), 0, &img);
    /* later records below earlier ones still merge into one segment */
    assert_int_equal(img.nsegments, 1);
    assert_int_equal(img.segments[0].addr, 0x10100u);
    assert_int_equal(img.segments[0].size, 4);
    assert_memory_equal(img.segments[0].data, ((const uint8_t[]){1, 2, 3, 4}), 4);
    assert_false(img.has_entry);
    image_free(&img);
}

static void test_ihex_bad_checksum_names_line_and_expected_value(void **state)
{
    (void)state;
    char hex[2048] = "";
    strcat(hex, ":020000040800F2\n");
    uint8_t bytes[16] = {0};
    for (unsigned i = 0; i < 10; i++)
        hex_record(hex, sizeof hex, 0x00, 0x100 + 16 * i, bytes, 16);
    strcat(hex, ":01000000C23C\n"); /* line 12: sum 0xc3, so the checksum must be 0x3d */
    strcat(hex, ":00000001FF\n");
    expect_error("a.hex", (const uint8_t *)hex, strlen(hex),
                 "a.hex:12: checksum 0x3c, expected 0x3d");
}

static void test_ihex_missing_eof_record_is_refused(void **state)
{
    (void)state;
    const char hex[] = ":020000040800F2\n:0100000055AA\n";
    expect_error("b.hex", (const uint8_t *)hex, strlen(hex),
                 "b.hex: no end-of-file record (:00000001FF) after line 2; is the file truncated?");
}

static void test_ihex_malformed_lines_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text, *message;
    } cases[] = {
        {":0100000055AA\n:0100010G55A9\n:00000001FF\n",
         "c.hex:2: column 9: 'G' is not a hex digit"},
        {"\n\n:0100000055A\n", "c.hex:3: odd number of hex digits (11), a record is whole bytes"},
        {":0200000055AA\n:00000001FF\n",
         "c.hex:1: length field says 2 data bytes but the record has 1"},
        {":00000006FA\n:00000001FF\n", "c.hex:1: unknown record type 0x06, expected 00-05 (data, "
                                       "end-of-file, extended segment/linear address, start "
                                       "segment/linear address)"},
        {":0100000401FA\n:00000001FF\n", "c.hex:1: extended linear address record (type 04) has 1 "
                                         "data bytes, expected 2"},
        {":0000000100\n", "c.hex:1: checksum 0x00, expected 0xff"},
        {":00000001FF\n:0100000055AA\n", "c.hex:2: record after the end-of-file record on line 1"},
        {":00000001FF\n", "c.hex: no data records, nothing to load"},
        {":0100000055AA\nrubbish\n:00000001FF\n", "c.hex:2: line starts with 'r', expected ':' (an "
                                                  "Intel HEX record)"},
        {":01FFFF0055AC\n:02000004FFFFFC\n:02FFFF000102FD\n:00000001FF\n",
         "c.hex:3: 2 data bytes at 0xffffffff run past the end of the 32-bit address space"},
        {":01001000559A\n:02001000666622\n:00000001FF\n",
         "c.hex: data from line 2 (0x00000010-0x00000011) overlaps data from line 1 "
         "(0x00000010-0x00000010)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error("c.hex", (const uint8_t *)cases[i].text, strlen(cases[i].text),
                     cases[i].message);
}

/* ---- files -------------------------------------------------------------- */

static void test_empty_file_is_refused(void **state)
{
    struct tmpdir *t = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/fw.bin", t->path);
    write_file(path, "", 0);
    struct image img;
    char err[ERRLEN] = "", expected[ERRLEN];
    assert_int_equal(image_load(path, FLASH_START, &img, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: file is empty", path);
    assert_string_equal(err, expected);
    expect_error("fw.bin", (const uint8_t *)"", 0, "fw.bin: file is empty");
}

static void test_missing_file_is_refused(void **state)
{
    struct tmpdir *t = *state;
    char path[128], expected[ERRLEN], err[ERRLEN] = "";
    snprintf(path, sizeof path, "%s/nothing.elf", t->path);
    struct image img;
    assert_int_equal(image_load(path, FLASH_START, &img, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: no such file", path);
    assert_string_equal(err, expected);
    assert_null(img.segments);
}

static void test_directory_is_refused(void **state)
{
    struct tmpdir *t = *state;
    char expected[ERRLEN], err[ERRLEN] = "";
    struct image img;
    assert_int_equal(image_load(t->path, FLASH_START, &img, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: is a directory, expected an image file", t->path);
    assert_string_equal(err, expected);
}

static void test_unreadable_file_is_refused(void **state)
{
    struct tmpdir *t = *state;
    if (geteuid() == 0)
        skip(); /* root reads anything */
    char path[128], expected[ERRLEN], err[ERRLEN] = "";
    snprintf(path, sizeof path, "%s/secret.bin", t->path);
    write_file(path, "abc", 3);
    assert_int_equal(chmod(path, 0), 0);
    struct image img;
    assert_int_equal(image_load(path, FLASH_START, &img, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: permission denied (the file is not readable)", path);
    assert_string_equal(err, expected);
}

static void test_fifo_is_refused_without_blocking(void **state)
{
    struct tmpdir *t = *state;
    char path[128], expected[ERRLEN], err[ERRLEN] = "";
    snprintf(path, sizeof path, "%s/pipe", t->path);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct image img;
    assert_int_equal(image_load(path, FLASH_START, &img, err, sizeof err), -1);
    snprintf(expected, sizeof expected, "%s: not a regular file, expected an image file", path);
    assert_string_equal(err, expected);
}

static void test_elf_file_round_trip(void **state)
{
    struct tmpdir *t = *state;
    char path[128], err[ERRLEN] = "";
    snprintf(path, sizeof path, "%s/fw.elf", t->path);
    uint8_t elf[ELF_BUF];
    struct elf_layout l = build_elf(&firmware_elf, elf, sizeof elf);
    write_file(path, elf, l.size);
    struct image img;
    assert_int_equal(image_load(path, 0x20000000u, &img, err, sizeof err), 0);
    assert_int_equal(img.format, IMAGE_ELF);
    assert_string_equal(img.path, path);
    assert_int_equal(img.segments[0].addr, FLASH_START); /* bin_addr does not apply */
    image_free(&img);
}

/* ---- FILE@ADDR ---------------------------------------------------------- */

static void test_parse_spec_accepts_hex_decimal_and_plain_paths(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *path;
        bool has_addr;
        uint32_t addr;
    } good[] = {
        {"fw.bin@0x08005000", "fw.bin", true, 0x08005000u},
        {"fw.bin@0X8005000", "fw.bin", true, 0x08005000u},
        {"fw.bin@4096", "fw.bin", true, 4096},
        {"fw.bin@0xffffffff", "fw.bin", true, 0xFFFFFFFFu},
        {"fw.elf", "fw.elf", false, 0},
        {"me@host/fw.bin", "me@host/fw.bin", false, 0},
        {"a@b@0x10", "a@b", true, 0x10},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char *path = NULL;
        uint32_t addr = 1;
        bool has = !good[i].has_addr;
        char err[ERRLEN] = "";
        if (image_parse_spec(good[i].spec, &path, &addr, &has, err, sizeof err) != 0)
            fail_msg("%s: %s", good[i].spec, err);
        assert_string_equal(path, good[i].path);
        assert_int_equal(has, good[i].has_addr);
        if (has)
            assert_int_equal(addr, good[i].addr);
        free(path);
    }
}

static void test_parse_spec_refuses_bad_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *message;
    } bad[] = {
        {"fw.bin@", "fw.bin@: no address after '@', expected e.g. fw.bin@0x08005000"},
        {"@0x100", "@0x100: no file name before '@', expected FILE@ADDR"},
        {"fw.bin@0x0800G000", "fw.bin@0x0800G000: address '0x0800G000' is not a 32-bit number, "
                              "expected hex with 0x (0x08005000) or decimal"},
        {"fw.bin@0x100000000", "fw.bin@0x100000000: address '0x100000000' is not a 32-bit number, "
                               "expected hex with 0x (0x08005000) or decimal"},
        {"fw.bin@0x", "fw.bin@0x: address '0x' is not a 32-bit number, expected hex with 0x "
                      "(0x08005000) or decimal"},
        {"fw.bin@-1", "fw.bin@-1: address '-1' is not a 32-bit number, expected hex with 0x "
                      "(0x08005000) or decimal"},
        {"", "empty image argument, expected FILE or FILE@ADDR"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *path = (char *)"untouched";
        uint32_t addr;
        bool has;
        char err[ERRLEN] = "";
        assert_int_equal(image_parse_spec(bad[i].spec, &path, &addr, &has, err, sizeof err), -1);
        assert_string_equal(err, bad[i].message);
        assert_null(path);
        assert_false(has);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bin_goes_to_start_of_flash_by_default),
        cmocka_unit_test_setup_teardown(test_bin_goes_to_given_address_from_spec, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test(test_bin_running_past_4gib_is_refused),
        cmocka_unit_test(test_format_is_told_by_content_not_name),
        cmocka_unit_test(test_elf_name_with_other_content_is_refused),
        cmocka_unit_test(test_hex_name_with_other_content_is_refused),
        cmocka_unit_test(test_elf_loads_file_bytes_at_physical_addresses),
        cmocka_unit_test(test_elf_keeps_only_named_function_and_object_symbols_sorted),
        cmocka_unit_test(test_symbolize_finds_containing_symbol_and_offset),
        cmocka_unit_test(test_elf_without_section_headers_loads_without_symbols),
        cmocka_unit_test(test_elf_for_x86_64_is_refused),
        cmocka_unit_test(test_elf32_big_endian_is_refused),
        cmocka_unit_test(test_elf_64bit_arm_and_relocatable_are_refused),
        cmocka_unit_test(test_truncated_elf_fails_at_every_length),
        cmocka_unit_test(test_truncated_stripped_elf_names_the_cut_segment),
        cmocka_unit_test(test_segment_offset_past_end_of_file_is_refused),
        cmocka_unit_test(test_overlapping_segments_in_one_elf_are_refused),
        cmocka_unit_test(test_elf_with_no_loadable_bytes_is_refused),
        cmocka_unit_test(test_bogus_symbol_and_section_indices_are_refused),
        cmocka_unit_test(test_corrupted_elf_never_yields_a_bad_image),
        cmocka_unit_test(test_overlapping_images_are_reported),
        cmocka_unit_test(test_overlap_between_elf_and_bin_finds_the_second_segment),
        cmocka_unit_test(test_image_past_end_of_flash_is_refused),
        cmocka_unit_test(test_elf_data_initialisers_fit_flash_not_sram),
        cmocka_unit_test(test_ihex_extended_linear_address_places_data_in_flash),
        cmocka_unit_test(test_ihex_segment_address_and_out_of_order_records),
        cmocka_unit_test(test_ihex_bad_checksum_names_line_and_expected_value),
        cmocka_unit_test(test_ihex_missing_eof_record_is_refused),
        cmocka_unit_test(test_ihex_malformed_lines_name_the_line),
        cmocka_unit_test_setup_teardown(test_empty_file_is_refused, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_missing_file_is_refused, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_directory_is_refused, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_unreadable_file_is_refused, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_fifo_is_refused_without_blocking, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_elf_file_round_trip, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_parse_spec_accepts_hex_decimal_and_plain_paths),
        cmocka_unit_test(test_parse_spec_refuses_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
