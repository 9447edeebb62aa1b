/*
 * loader.c - reads raw binaries, ARM ELF executables and Intel HEX files into
 * a struct image, and checks images against a memory map and each other.
 *
 * Design decision: the file is held whole in memory (at most
 * IMAGE_MAX_FILE_SIZE bytes) and every size or offset the file claims is
 * checked against that length before anything is read or allocated from it, so
 * a hostile file can only be refused: the loader never reads past the buffer
 * and never allocates more than a small multiple of the file's size. ELF is
 * parsed with libelf, but the header fields a user is likely to get wrong
 * (machine, class, byte order, type, truncation) are checked here first on the
 * raw bytes, so the message can name the field and the value it should have.
 */
#include "loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* One past the last byte a 32-bit guest can address. */
#define ADDRESS_SPACE_END 0x100000000ull

/* ARM ELF marks Thumb functions by setting bit 0 of st_value. */
#define ARM_THUMB_BIT 1u

/* Intel HEX: a record is ':' LL AAAA TT DD.. CC, all in hex pairs. */
#define IHEX_START_CODE ':'
#define IHEX_OVERHEAD_BYTES 5u /* length, address (2), type, checksum */
#define IHEX_MAX_DATA_BYTES 255u
#define IHEX_MAX_RECORD_BYTES (IHEX_OVERHEAD_BYTES + IHEX_MAX_DATA_BYTES)
#define IHEX_SEGMENT_SIZE 0x10000u /* an extended segment address wraps within 64 KiB */
#define IHEX_SEGMENT_SHIFT 4       /* segment base = SBA * 16 */
#define IHEX_LINEAR_SHIFT 16       /* linear base = ULBA << 16 */

enum ihex_record_type {
    IHEX_DATA = 0x00,
    IHEX_END_OF_FILE = 0x01,
    IHEX_EXTENDED_SEGMENT_ADDRESS = 0x02,
    IHEX_START_SEGMENT_ADDRESS = 0x03,
    IHEX_EXTENDED_LINEAR_ADDRESS = 0x04,
    IHEX_START_LINEAR_ADDRESS = 0x05,
};

static const char *const ihex_record_names[] = {
    [IHEX_DATA] = "data",
    [IHEX_END_OF_FILE] = "end-of-file",
    [IHEX_EXTENDED_SEGMENT_ADDRESS] = "extended segment address",
    [IHEX_START_SEGMENT_ADDRESS] = "start segment address",
    [IHEX_EXTENDED_LINEAR_ADDRESS] = "extended linear address",
    [IHEX_START_LINEAR_ADDRESS] = "start linear address",
};

/* Data bytes each fixed-size Intel HEX record carries. */
static const unsigned ihex_record_lengths[] = {
    [IHEX_END_OF_FILE] = 0,
    [IHEX_EXTENDED_SEGMENT_ADDRESS] = 2,
    [IHEX_START_SEGMENT_ADDRESS] = 4,
    [IHEX_EXTENDED_LINEAR_ADDRESS] = 2,
    [IHEX_START_LINEAR_ADDRESS] = 4,
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *image_name(const struct image *img)
{
    return img->path ? img->path : "(image)";
}

const char *image_format_name(enum image_format format)
{
    switch (format) {
    case IMAGE_BIN:
        return "raw binary";
    case IMAGE_ELF:
        return "ELF";
    case IMAGE_IHEX:
        return "Intel HEX";
    }
    return "unknown";
}

void image_free(struct image *img)
{
    if (!img)
        return;
    for (int i = 0; i < img->nsegments; i++)
        free(img->segments[i].data);
    free(img->segments);
    free(img->symbols);
    free(img->strings);
    free(img->path);
    memset(img, 0, sizeof *img);
}

/* ---- building the segment list ------------------------------------------ */

/*
 * A run of bytes while an image is being read. origin says where it came from,
 * for messages: the ELF program header index or the HEX line number.
 */
struct piece {
    uint32_t addr;
    uint32_t size;
    size_t cap;
    uint8_t *data;
    int origin;
};

struct piece_list {
    struct piece *items;
    int count, cap;
};

static void piece_list_free(struct piece_list *list)
{
    for (int i = 0; i < list->count; i++)
        free(list->items[i].data);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static struct piece *piece_list_add(struct piece_list *list, uint32_t addr, int origin)
{
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        struct piece *items = realloc(list->items, (size_t)cap * sizeof *items);
        if (!items)
            return NULL;
        list->items = items;
        list->cap = cap;
    }
    struct piece *p = &list->items[list->count++];
    memset(p, 0, sizeof *p);
    p->addr = addr;
    p->origin = origin;
    return p;
}

/* Capacity doubles, so a file of many small records costs linear time. */
static int piece_append(struct piece *p, const uint8_t *bytes, size_t n)
{
    if (n == 0)
        return 0;
    size_t need = (size_t)p->size + n;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < need)
            cap *= 2;
        uint8_t *data = realloc(p->data, cap);
        if (!data)
            return -1;
        p->data = data;
        p->cap = cap;
    }
    memcpy(p->data + p->size, bytes, n);
    p->size = (uint32_t)need;
    return 0;
}

static int compare_pieces(const void *x, const void *y)
{
    const struct piece *a = x, *b = y;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    return (a->origin > b->origin) - (a->origin < b->origin);
}

/*
 * Sort the pieces, refuse any overlap (naming both origins), optionally merge
 * pieces that touch, and hand the data over to img->segments.
 */
static int pieces_to_segments(struct piece_list *list, const char *origin_kind, bool merge,
                              struct image *img, char *err, size_t errlen)
{
    const char *name = image_name(img);
    qsort(list->items, (size_t)list->count, sizeof *list->items, compare_pieces);

    int widest = -1; /* the earlier piece reaching furthest */
    uint64_t widest_end = 0;
    for (int i = 0; i < list->count; i++) {
        const struct piece *p = &list->items[i];
        if (widest >= 0 && p->addr < widest_end) {
            const struct piece *q = &list->items[widest];
            const struct piece *later = p->origin > q->origin ? p : q;
            const struct piece *earlier = later == p ? q : p;
            return fail(err, errlen,
                        "%s: data from %s %d (0x%08x-0x%08x) overlaps data from %s %d "
                        "(0x%08x-0x%08x)",
                        name, origin_kind, later->origin, later->addr,
                        (uint32_t)(later->addr + later->size - 1), origin_kind, earlier->origin,
                        earlier->addr, (uint32_t)(earlier->addr + earlier->size - 1));
        }
        uint64_t end = (uint64_t)p->addr + p->size;
        if (widest < 0 || end > widest_end) {
            widest = i;
            widest_end = end;
        }
    }

    int out = 0;
    for (int i = 0; i < list->count; i++) {
        struct piece *p = &list->items[i];
        struct piece *last = out ? &list->items[out - 1] : NULL;
        if (merge && last && (uint64_t)last->addr + last->size == p->addr) {
            if (piece_append(last, p->data, p->size) < 0)
                return fail(err, errlen, "%s: out of memory", name);
            free(p->data);
            p->data = NULL;
            p->size = 0;
            continue;
        }
        if (out != i) {
            list->items[out] = *p;
            p->data = NULL;
            p->size = 0;
        }
        out++;
    }

    img->segments = calloc((size_t)(out ? out : 1), sizeof *img->segments);
    if (!img->segments)
        return fail(err, errlen, "%s: out of memory", name);
    for (int i = 0; i < out; i++) {
        img->segments[i].addr = list->items[i].addr;
        img->segments[i].size = list->items[i].size;
        img->segments[i].data = list->items[i].data;
        list->items[i].data = NULL;
    }
    img->nsegments = out;
    list->count = 0;
    return 0;
}

/* ---- raw binary --------------------------------------------------------- */

static int load_bin(const uint8_t *data, size_t len, uint32_t addr, struct image *img, char *err,
                    size_t errlen)
{
    const char *name = image_name(img);
    if ((uint64_t)addr + len > ADDRESS_SPACE_END)
        return fail(err, errlen,
                    "%s: %zu bytes at 0x%08x run past the end of the 32-bit address space "
                    "(0x%09llx)",
                    name, len, addr, (unsigned long long)((uint64_t)addr + len));
    img->segments = calloc(1, sizeof *img->segments);
    if (!img->segments)
        return fail(err, errlen, "%s: out of memory", name);
    img->segments[0].data = malloc(len);
    if (!img->segments[0].data)
        return fail(err, errlen, "%s: out of memory (%zu bytes)", name, len);
    memcpy(img->segments[0].data, data, len);
    img->segments[0].addr = addr;
    img->segments[0].size = (uint32_t)len;
    img->nsegments = 1;
    return 0;
}

/* ---- ELF ---------------------------------------------------------------- */

static const struct {
    unsigned machine;
    const char *name;
} elf_machine_names[] = {
    {EM_SPARC, "SPARC"},   {EM_386, "i386"},       {EM_68K, "m68k"},     {EM_MIPS, "MIPS"},
    {EM_PPC, "PowerPC"},   {EM_PPC64, "PowerPC64"}, {EM_S390, "S/390"},   {EM_ARM, "ARM"},
    {EM_SH, "SuperH"},     {EM_IA_64, "IA-64"},    {EM_X86_64, "x86-64"}, {EM_AVR, "AVR"},
    {EM_XTENSA, "Xtensa"}, {EM_MSP430, "MSP430"},  {EM_AARCH64, "AArch64"}, {EM_RISCV, "RISC-V"},
};

static const char *elf_machine_name(unsigned machine)
{
    for (size_t i = 0; i < sizeof elf_machine_names / sizeof elf_machine_names[0]; i++)
        if (elf_machine_names[i].machine == machine)
            return elf_machine_names[i].name;
    return "unknown";
}

/* Header fields are read in the file's own byte order, before libelf sees it. */
static uint32_t read_field(const uint8_t *p, size_t size, bool big_endian)
{
    uint32_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint32_t)p[big_endian ? size - 1 - i : i] << (8 * i);
    return v;
}

#define EHDR_FIELD(d, field, big)                                                               \
    read_field((d) + offsetof(Elf32_Ehdr, field), sizeof(((Elf32_Ehdr *)0)->field), (big))

static bool has_elf_magic(const uint8_t *data, size_t len)
{
    /* A file cut inside the magic is a truncated ELF, not a tiny binary. */
    size_t n = len < SELFMAG ? len : SELFMAG;
    return memcmp(data, ELFMAG, n) == 0;
}

/* Everything a user might get wrong, checked on the raw header. */
static int check_elf_header(const char *name, const uint8_t *d, size_t len, char *err,
                            size_t errlen)
{
    if (len < sizeof(Elf32_Ehdr))
        return fail(err, errlen, "%s: file is %zu bytes, too short for an ELF header (%zu bytes)",
                    name, len, sizeof(Elf32_Ehdr));
    unsigned data = d[EI_DATA];
    if (data != ELFDATA2LSB && data != ELFDATA2MSB)
        return fail(err, errlen,
                    "%s: ELF byte order (EI_DATA) is %u, expected %u (ELFDATA2LSB, little-endian)",
                    name, data, ELFDATA2LSB);
    bool big = data == ELFDATA2MSB;

    unsigned machine = EHDR_FIELD(d, e_machine, big);
    if (machine != EM_ARM)
        return fail(err, errlen, "%s: ELF for machine %u (%s), expected ARM (%u)", name, machine,
                    elf_machine_name(machine), EM_ARM);
    if (d[EI_CLASS] == ELFCLASS64)
        return fail(err, errlen, "%s: 64-bit ELF (ELFCLASS64), expected 32-bit (ELFCLASS32)",
                    name);
    if (d[EI_CLASS] != ELFCLASS32)
        return fail(err, errlen, "%s: ELF class (EI_CLASS) is %u, expected %u (ELFCLASS32)", name,
                    d[EI_CLASS], ELFCLASS32);
    if (big)
        return fail(err, errlen,
                    "%s: big-endian ELF (ELFDATA2MSB), expected little-endian (ELFDATA2LSB) "
                    "as the Cortex-M3 runs",
                    name);
    if (d[EI_VERSION] != EV_CURRENT)
        return fail(err, errlen, "%s: ELF version (EI_VERSION) is %u, expected %u (EV_CURRENT)",
                    name, d[EI_VERSION], EV_CURRENT);

    unsigned type = EHDR_FIELD(d, e_type, false);
    if (type == ET_REL)
        return fail(err, errlen,
                    "%s: relocatable object (ET_REL), expected an executable (ET_EXEC); link it "
                    "first",
                    name);
    if (type == ET_DYN)
        return fail(err, errlen,
                    "%s: shared object or position-independent executable (ET_DYN), expected "
                    "an executable (ET_EXEC) linked at fixed addresses",
                    name);
    if (type != ET_EXEC)
        return fail(err, errlen, "%s: ELF type (e_type) is %u, expected %u (ET_EXEC)", name, type,
                    ET_EXEC);

    /*
     * Both tables are checked here because libelf quietly clamps a program
     * header count that does not fit the file, which would turn a truncated
     * file into a shorter valid one.
     */
    uint32_t shoff = EHDR_FIELD(d, e_shoff, false);
    uint64_t shnum = EHDR_FIELD(d, e_shnum, false);
    unsigned shentsize = EHDR_FIELD(d, e_shentsize, false);
    const uint8_t *section0 = NULL;
    if (shoff != 0) {
        if (shentsize != sizeof(Elf32_Shdr))
            return fail(err, errlen,
                        "%s: section header entries are %u bytes (e_shentsize), expected %zu",
                        name, shentsize, sizeof(Elf32_Shdr));
        if ((uint64_t)shoff + sizeof(Elf32_Shdr) > len)
            return fail(err, errlen,
                        "%s: section header table at file offset 0x%x is past the end of the "
                        "file (%zu bytes, truncated?)",
                        name, shoff, len);
        section0 = d + shoff;
        /* Counts too large for the ELF header live in section 0 (extended numbering). */
        if (shnum == 0)
            shnum = read_field(section0 + offsetof(Elf32_Shdr, sh_size), sizeof(Elf32_Word),
                               false);
        if ((uint64_t)shoff + shnum * sizeof(Elf32_Shdr) > len)
            return fail(err, errlen,
                        "%s: section header table (%llu entries at file offset 0x%x) runs past "
                        "the end of the file (%zu bytes, truncated?)",
                        name, (unsigned long long)shnum, shoff, len);
    }

    uint32_t phoff = EHDR_FIELD(d, e_phoff, false);
    uint64_t phnum = EHDR_FIELD(d, e_phnum, false);
    unsigned phentsize = EHDR_FIELD(d, e_phentsize, false);
    if (phnum == PN_XNUM) {
        if (!section0)
            return fail(err, errlen,
                        "%s: e_phnum is PN_XNUM but there is no section 0 to hold the count",
                        name);
        phnum = read_field(section0 + offsetof(Elf32_Shdr, sh_info), sizeof(Elf32_Word), false);
    }
    if (phnum == 0)
        return fail(err, errlen, "%s: no program headers, so nothing to load (is it linked?)",
                    name);
    if (phentsize != sizeof(Elf32_Phdr))
        return fail(err, errlen,
                    "%s: program header entries are %u bytes (e_phentsize), expected %zu", name,
                    phentsize, sizeof(Elf32_Phdr));
    if ((uint64_t)phoff + phnum * sizeof(Elf32_Phdr) > len)
        return fail(err, errlen,
                    "%s: program header table (%llu entries at file offset 0x%x) runs past the "
                    "end of the file (%zu bytes, truncated?)",
                    name, (unsigned long long)phnum, phoff, len);
    return 0;
}

static int elf_failure(const char *name, const char *what, char *err, size_t errlen)
{
    return fail(err, errlen, "%s: %s: %s", name, what, elf_errmsg(-1));
}

static int load_elf_segments(Elf *elf, size_t len, const uint8_t *data, struct image *img,
                             char *err, size_t errlen)
{
    const char *name = image_name(img);
    GElf_Ehdr ehdr;
    if (!gelf_getehdr(elf, &ehdr))
        return elf_failure(name, "cannot read the ELF header", err, errlen);
    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0)
        return elf_failure(name, "cannot read the program header count", err, errlen);
    /* check_elf_header() made sure the whole table is in the file */
    if (phnum == 0 || ehdr.e_phoff + (uint64_t)phnum * sizeof(Elf32_Phdr) > len)
        return fail(err, errlen, "%s: libelf reads %zu program headers at file offset 0x%llx, "
                    "which the file (%zu bytes) cannot hold",
                    name, phnum, (unsigned long long)ehdr.e_phoff, len);

    struct piece_list list = {0};
    uint64_t total = 0;
    int rc = 0;
    for (size_t i = 0; i < phnum && rc == 0; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph)) {
            rc = fail(err, errlen, "%s: cannot read program header %zu: %s", name, i,
                      elf_errmsg(-1));
            break;
        }
        if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
            continue;
        if (ph.p_offset + ph.p_filesz > len) {
            rc = fail(err, errlen,
                      "%s: segment %zu claims %llu bytes at file offset 0x%llx but the file is "
                      "only %zu bytes (truncated?)",
                      name, i, (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_offset,
                      len);
            break;
        }
        if (ph.p_filesz > ph.p_memsz) {
            rc = fail(err, errlen,
                      "%s: segment %zu has %llu bytes in the file but only %llu in memory "
                      "(p_filesz > p_memsz)",
                      name, i, (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
            break;
        }
        if (ph.p_paddr + ph.p_filesz > ADDRESS_SPACE_END) {
            rc = fail(err, errlen,
                      "%s: segment %zu (%llu bytes at 0x%08llx) runs past the end of the 32-bit "
                      "address space",
                      name, i, (unsigned long long)ph.p_filesz, (unsigned long long)ph.p_paddr);
            break;
        }
        /* Segments may share file bytes; the total must still stay bounded. */
        total += ph.p_filesz;
        if (total > IMAGE_MAX_FILE_SIZE) {
            rc = fail(err, errlen,
                      "%s: loadable segments add up to more than %u bytes, more than an image "
                      "may hold",
                      name, IMAGE_MAX_FILE_SIZE);
            break;
        }
        struct piece *p = piece_list_add(&list, (uint32_t)ph.p_paddr, (int)i);
        if (!p || piece_append(p, data + ph.p_offset, ph.p_filesz) < 0)
            rc = fail(err, errlen, "%s: out of memory", name);
    }
    if (rc == 0 && list.count == 0)
        rc = fail(err, errlen, "%s: no loadable segment (PT_LOAD with file contents)", name);
    if (rc == 0)
        rc = pieces_to_segments(&list, "segment", false, img, err, errlen);
    piece_list_free(&list);
    if (rc == 0) {
        img->entry = (uint32_t)ehdr.e_entry;
        img->has_entry = true;
    }
    return rc;
}

/*
 * At one address, the narrowest sized symbol sorts last so that the backwards
 * search in image_symbolize meets it first; zero-sized ones (labels) sort first.
 */
static int compare_symbols(const void *x, const void *y)
{
    const struct image_symbol *a = x, *b = y;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if ((a->size == 0) != (b->size == 0))
        return a->size == 0 ? -1 : 1;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int load_elf_symbols(Elf *elf, Elf_Scn *symscn, size_t symindex, size_t shnum,
                            struct image *img, char *err, size_t errlen)
{
    const char *name = image_name(img);
    GElf_Shdr symsh, strsh;
    if (!gelf_getshdr(symscn, &symsh))
        return elf_failure(name, "cannot read the symbol table header", err, errlen);
    if (symsh.sh_entsize != sizeof(Elf32_Sym))
        return fail(err, errlen,
                    "%s: symbol table (section %zu) has %llu-byte entries, expected %zu", name,
                    symindex, (unsigned long long)symsh.sh_entsize, sizeof(Elf32_Sym));
    if (symsh.sh_link == SHN_UNDEF || symsh.sh_link >= shnum)
        return fail(err, errlen,
                    "%s: symbol table (section %zu) links to string table section %u, but the "
                    "file has sections 1-%zu",
                    name, symindex, symsh.sh_link, shnum - 1);
    Elf_Scn *strscn = elf_getscn(elf, symsh.sh_link);
    if (!strscn || !gelf_getshdr(strscn, &strsh))
        return elf_failure(name, "cannot read the string table header", err, errlen);
    if (strsh.sh_type != SHT_STRTAB)
        return fail(err, errlen,
                    "%s: symbol table (section %zu) links to section %u of type %u, expected a "
                    "string table (SHT_STRTAB, %u)",
                    name, symindex, symsh.sh_link, strsh.sh_type, SHT_STRTAB);

    Elf_Data *symdata = elf_getdata(symscn, NULL);
    if (!symdata)
        return elf_failure(name, "cannot read the symbol table", err, errlen);
    Elf_Data *strdata = elf_getdata(strscn, NULL);
    if (!strdata)
        return elf_failure(name, "cannot read the symbol string table", err, errlen);

    /* A private, NUL-terminated copy: names can then never run off its end. */
    size_t strsize = strdata->d_buf ? strdata->d_size : 0;
    img->strings = malloc(strsize + 1);
    if (!img->strings)
        return fail(err, errlen, "%s: out of memory", name);
    if (strsize)
        memcpy(img->strings, strdata->d_buf, strsize);
    img->strings[strsize] = '\0';

    size_t nsyms = symdata->d_size / sizeof(Elf32_Sym);
    img->symbols = calloc(nsyms ? nsyms : 1, sizeof *img->symbols);
    if (!img->symbols)
        return fail(err, errlen, "%s: out of memory", name);

    int count = 0;
    uint32_t max_size = 0;
    for (size_t i = 1; i < nsyms; i++) { /* entry 0 is the null symbol */
        GElf_Sym sym;
        if (!gelf_getsym(symdata, (int)i, &sym))
            return elf_failure(name, "cannot read a symbol", err, errlen);
        unsigned type = GELF_ST_TYPE(sym.st_info);
        /* Mapping symbols ($t, $d) and linker-script labels are STT_NOTYPE. */
        if (type != STT_FUNC && type != STT_OBJECT)
            continue;
        if (sym.st_shndx == SHN_UNDEF)
            continue;
        if (sym.st_name >= strsize)
            return fail(err, errlen,
                        "%s: symbol %zu has name offset 0x%x, outside its string table "
                        "(section %u, %zu bytes)",
                        name, i, sym.st_name, symsh.sh_link, strsize);
        char *symname = img->strings + sym.st_name;
        if (symname[0] == '\0' || symname[0] == '$')
            continue;
        uint32_t addr = (uint32_t)sym.st_value;
        if (type == STT_FUNC)
            addr &= ~ARM_THUMB_BIT;
        img->symbols[count].addr = addr;
        img->symbols[count].size = (uint32_t)sym.st_size;
        img->symbols[count].name = symname;
        if (img->symbols[count].size > max_size)
            max_size = img->symbols[count].size;
        count++;
    }
    qsort(img->symbols, (size_t)count, sizeof *img->symbols, compare_symbols);
    img->nsymbols = count;
    img->max_symbol_size = max_size;
    return 0;
}

/* Every section's bytes must be in the file; then the first symbol table is read. */
static int load_elf_sections(Elf *elf, size_t len, struct image *img, char *err, size_t errlen)
{
    const char *name = image_name(img);
    GElf_Ehdr ehdr;
    if (!gelf_getehdr(elf, &ehdr))
        return elf_failure(name, "cannot read the ELF header", err, errlen);
    size_t shnum;
    if (elf_getshdrnum(elf, &shnum) != 0)
        return elf_failure(name, "cannot read the section count", err, errlen);
    if (shnum == 0)
        return 0;
    if (ehdr.e_shoff + (uint64_t)shnum * sizeof(Elf32_Shdr) > len)
        return fail(err, errlen,
                    "%s: section header table (%zu entries at file offset 0x%llx) runs past "
                    "the end of the file (%zu bytes, truncated?)",
                    name, shnum, (unsigned long long)ehdr.e_shoff, len);

    Elf_Scn *symscn = NULL;
    size_t symindex = 0;
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        size_t index = elf_ndxscn(scn);
        if (!gelf_getshdr(scn, &sh))
            return fail(err, errlen, "%s: cannot read section header %zu: %s", name, index,
                        elf_errmsg(-1));
        if (sh.sh_type != SHT_NOBITS && sh.sh_offset + sh.sh_size > len)
            return fail(err, errlen,
                        "%s: section %zu claims %llu bytes at file offset 0x%llx but the file "
                        "is only %zu bytes (truncated?)",
                        name, index, (unsigned long long)sh.sh_size,
                        (unsigned long long)sh.sh_offset, len);
        if (sh.sh_type == SHT_SYMTAB && !symscn) {
            symscn = scn;
            symindex = index;
        }
    }
    if (!symscn)
        return 0;
    return load_elf_symbols(elf, symscn, symindex, shnum, img, err, errlen);
}

static int load_elf(const uint8_t *data, size_t len, struct image *img, char *err, size_t errlen)
{
    const char *name = image_name(img);
    if (check_elf_header(name, data, len, err, errlen) < 0)
        return -1;
    if (elf_version(EV_CURRENT) == EV_NONE)
        return elf_failure(name, "libelf", err, errlen);

    /* elf_memory() wants a writable buffer and may convert it in place. */
    char *copy = malloc(len);
    if (!copy)
        return fail(err, errlen, "%s: out of memory (%zu bytes)", name, len);
    memcpy(copy, data, len);
    Elf *elf = elf_memory(copy, len);
    int rc;
    if (!elf)
        rc = elf_failure(name, "not a valid ELF file", err, errlen);
    else if (elf_kind(elf) != ELF_K_ELF)
        rc = fail(err, errlen, "%s: libelf does not recognise it as an ELF file", name);
    else {
        rc = load_elf_segments(elf, len, data, img, err, errlen);
        if (rc == 0)
            rc = load_elf_sections(elf, len, img, err, errlen);
    }
    if (elf)
        elf_end(elf);
    free(copy);
    return rc;
}

/* ---- Intel HEX ---------------------------------------------------------- */

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_text(uint8_t c)
{
    return (c >= ' ' && c <= '~') || is_blank(c);
}

/*
 * HEX is told by a first non-blank ':' in a file that is all text. Requiring
 * text rather than a perfect first record means a HEX file with a typo is
 * reported as a HEX error at its line, not loaded silently as a raw binary.
 */
static bool looks_like_ihex(const uint8_t *data, size_t len)
{
    size_t i = 0;
    while (i < len && is_blank(data[i]))
        i++;
    if (i == len || data[i] != IHEX_START_CODE)
        return false;
    for (; i < len; i++)
        if (!is_text(data[i]))
            return false;
    return true;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

struct ihex_state {
    struct piece_list pieces;
    uint32_t base;     /* from the last 02 or 04 record */
    bool segmented;    /* 02 addressing: offsets wrap within 64 KiB */
    int entry_line;
};

static int ihex_add_data(struct ihex_state *st, uint32_t addr, const uint8_t *bytes, size_t n,
                         int line)
{
    if (n == 0)
        return 0;
    struct piece *last = st->pieces.count ? &st->pieces.items[st->pieces.count - 1] : NULL;
    if (!last || (uint64_t)last->addr + last->size != addr) {
        last = piece_list_add(&st->pieces, addr, line);
        if (!last)
            return -1;
    }
    return piece_append(last, bytes, n);
}

static int ihex_set_entry(struct ihex_state *st, struct image *img, uint32_t entry, int line,
                          char *err, size_t errlen)
{
    if (img->has_entry && img->entry != entry)
        return fail(err, errlen, "%s:%d: start address 0x%08x differs from 0x%08x given on line %d",
                    image_name(img), line, entry, img->entry, st->entry_line);
    img->entry = entry;
    img->has_entry = true;
    st->entry_line = line;
    return 0;
}

static int ihex_record(struct ihex_state *st, struct image *img, const uint8_t *rec, int line,
                       char *err, size_t errlen)
{
    const char *name = image_name(img);
    unsigned count = rec[0];
    uint32_t offset = (uint32_t)rec[1] << 8 | rec[2];
    unsigned type = rec[3];
    const uint8_t *payload = rec + 4;

    if (type > IHEX_START_LINEAR_ADDRESS)
        return fail(err, errlen,
                    "%s:%d: unknown record type 0x%02x, expected 00-05 (data, end-of-file, "
                    "extended segment/linear address, start segment/linear address)",
                    name, line, type);
    if (type != IHEX_DATA && count != ihex_record_lengths[type])
        return fail(err, errlen, "%s:%d: %s record (type %02x) has %u data bytes, expected %u",
                    name, line, ihex_record_names[type], type, count,
                    ihex_record_lengths[type]);

    switch ((enum ihex_record_type)type) {
    case IHEX_DATA:
        if (st->segmented) {
            uint32_t first = IHEX_SEGMENT_SIZE - offset;
            if (first > count)
                first = count;
            if (ihex_add_data(st, st->base + offset, payload, first, line) < 0 ||
                ihex_add_data(st, st->base, payload + first, count - first, line) < 0)
                return fail(err, errlen, "%s: out of memory", name);
        } else {
            uint64_t addr = (uint64_t)st->base + offset;
            if (addr + count > ADDRESS_SPACE_END)
                return fail(err, errlen,
                            "%s:%d: %u data bytes at 0x%08llx run past the end of the 32-bit "
                            "address space",
                            name, line, count, (unsigned long long)addr);
            if (ihex_add_data(st, (uint32_t)addr, payload, count, line) < 0)
                return fail(err, errlen, "%s: out of memory", name);
        }
        return 0;
    case IHEX_END_OF_FILE:
        return 0;
    case IHEX_EXTENDED_SEGMENT_ADDRESS:
        st->base = ((uint32_t)payload[0] << 8 | payload[1]) << IHEX_SEGMENT_SHIFT;
        st->segmented = true;
        return 0;
    case IHEX_EXTENDED_LINEAR_ADDRESS:
        st->base = ((uint32_t)payload[0] << 8 | payload[1]) << IHEX_LINEAR_SHIFT;
        st->segmented = false;
        return 0;
    case IHEX_START_SEGMENT_ADDRESS: {
        uint32_t cs = (uint32_t)payload[0] << 8 | payload[1];
        uint32_t ip = (uint32_t)payload[2] << 8 | payload[3];
        return ihex_set_entry(st, img, (cs << IHEX_SEGMENT_SHIFT) + ip, line, err, errlen);
    }
    case IHEX_START_LINEAR_ADDRESS:
        return ihex_set_entry(st, img,
                              (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                                  (uint32_t)payload[2] << 8 | payload[3],
                              line, err, errlen);
    }
    return 0;
}

/* Decode one non-blank line [s, e) into rec; returns the record's byte count or -1. */
static int ihex_decode_line(const char *name, int line, const uint8_t *s, const uint8_t *e,
                            uint8_t *rec, char *err, size_t errlen)
{
    if (*s != IHEX_START_CODE)
        return fail(err, errlen, "%s:%d: line starts with '%c', expected ':' (an Intel HEX record)",
                    name, line, *s);
    size_t ndigits = (size_t)(e - s - 1);
    for (size_t i = 0; i < ndigits; i++) {
        uint8_t c = s[1 + i];
        if (hex_value(c) >= 0)
            continue;
        /* Columns count from 1 at the ':'. */
        if (c >= '!' && c <= '~')
            return fail(err, errlen, "%s:%d: column %zu: '%c' is not a hex digit", name, line,
                        i + 2, c);
        return fail(err, errlen, "%s:%d: column %zu: byte 0x%02x (a blank?) is not a hex digit",
                    name, line, i + 2, c);
    }
    if (ndigits % 2)
        return fail(err, errlen, "%s:%d: odd number of hex digits (%zu), a record is whole bytes",
                    name, line, ndigits);
    size_t nbytes = ndigits / 2;
    if (nbytes < IHEX_OVERHEAD_BYTES)
        return fail(err, errlen,
                    "%s:%d: record of %zu bytes is too short; even an empty one has %u (length, "
                    "address, type, checksum)",
                    name, line, nbytes, IHEX_OVERHEAD_BYTES);
    if (nbytes > IHEX_MAX_RECORD_BYTES)
        return fail(err, errlen,
                    "%s:%d: record of %zu bytes, longer than the longest possible (%u)",
                    name, line, nbytes, IHEX_MAX_RECORD_BYTES);
    for (size_t i = 0; i < nbytes; i++)
        rec[i] = (uint8_t)(hex_value(s[1 + 2 * i]) << 4 | hex_value(s[2 + 2 * i]));
    if (rec[0] + IHEX_OVERHEAD_BYTES != nbytes)
        return fail(err, errlen, "%s:%d: length field says %u data bytes but the record has %zu",
                    name, line, rec[0], nbytes - IHEX_OVERHEAD_BYTES);
    uint8_t sum = 0;
    for (size_t i = 0; i + 1 < nbytes; i++)
        sum = (uint8_t)(sum + rec[i]);
    uint8_t expected = (uint8_t)(0x100 - sum);
    if (rec[nbytes - 1] != expected)
        return fail(err, errlen, "%s:%d: checksum 0x%02x, expected 0x%02x", name, line,
                    rec[nbytes - 1], expected);
    return (int)nbytes;
}

static int load_ihex(const uint8_t *data, size_t len, struct image *img, char *err,
                     size_t errlen)
{
    const char *name = image_name(img);
    struct ihex_state st = {0};
    uint8_t rec[IHEX_MAX_RECORD_BYTES];
    int eof_line = 0;
    int line = 0;
    int rc = 0;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        line++;
        size_t start = pos;
        while (pos < len && data[pos] != '\n')
            pos++;
        size_t end = pos;
        if (pos < len)
            pos++;
        while (start < end && is_blank(data[start]))
            start++;
        while (end > start && is_blank(data[end - 1]))
            end--;
        if (start == end)
            continue;
        if (eof_line) {
            rc = fail(err, errlen, "%s:%d: record after the end-of-file record on line %d", name,
                      line, eof_line);
            break;
        }
        if (ihex_decode_line(name, line, data + start, data + end, rec, err, errlen) < 0) {
            rc = -1;
            break;
        }
        rc = ihex_record(&st, img, rec, line, err, errlen);
        if (rc == 0 && rec[3] == IHEX_END_OF_FILE)
            eof_line = line;
    }
    if (rc == 0 && !eof_line)
        rc = fail(err, errlen,
                  "%s: no end-of-file record (:00000001FF) after line %d; is the file "
                  "truncated?",
                  name, line);
    if (rc == 0 && st.pieces.count == 0)
        rc = fail(err, errlen, "%s: no data records, nothing to load", name);
    if (rc == 0)
        rc = pieces_to_segments(&st.pieces, "line", true, img, err, errlen);
    piece_list_free(&st.pieces);
    return rc;
}

/* ---- what the file name promises ---------------------------------------- */

static bool name_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n > m && strcasecmp(name + n - m, suffix) == 0;
}

/*
 * A name ending in .elf or .hex (any case) is a promise about the content: a
 * file that breaks it is refused rather than loaded as a raw binary, which
 * would run garbage and hide the real mistake (a wrong or damaged file).
 */
static int check_name_promise(const char *name, const uint8_t *data, size_t len, char *err,
                              size_t errlen)
{
    bool elf = has_elf_magic(data, len);
    if (name_has_suffix(name, ".elf")) {
        if (elf)
            return 0;
        char first[3 * SELFMAG] = "";
        for (size_t i = 0; i < len && i < SELFMAG; i++)
            snprintf(first + 3 * i, sizeof first - 3 * i, "%02x%s", data[i],
                     i + 1 < len && i + 1 < SELFMAG ? " " : "");
        if (looks_like_ihex(data, len))
            return fail(err, errlen,
                        "%s: named .elf but holds Intel HEX text; rename it .hex, or give the "
                        "ELF file",
                        name);
        return fail(err, errlen,
                    "%s: named .elf but is not an ELF file: it starts with %s, not the ELF magic "
                    "7f 45 4c 46",
                    name, first);
    }
    if (name_has_suffix(name, ".hex")) {
        if (elf)
            return fail(err, errlen,
                        "%s: named .hex but is an ELF file, not Intel HEX; rename it .elf", name);
        size_t i = 0;
        while (i < len && is_blank(data[i]))
            i++;
        if (i == len)
            return fail(err, errlen, "%s: named .hex but holds only blanks, no Intel HEX record",
                        name);
        if (data[i] != IHEX_START_CODE)
            return fail(err, errlen,
                        "%s: named .hex but is not Intel HEX: byte 0x%02x at offset %zu, where "
                        "the first record's ':' should be",
                        name, data[i], i);
        for (; i < len; i++)
            if (!is_text(data[i]))
                return fail(err, errlen,
                            "%s: named .hex but is not Intel HEX: byte 0x%02x at offset %zu is "
                            "not text",
                            name, data[i], i);
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------- */

int image_load_memory(const char *name, const uint8_t *data, size_t len, uint32_t bin_addr,
                      struct image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!name)
        name = "(memory)";
    if (len == 0)
        return fail(err, errlen, "%s: file is empty", name);
    if (!data)
        return fail(err, errlen, "%s: no data", name);
    if (len > IMAGE_MAX_FILE_SIZE)
        return fail(err, errlen, "%s: file is %zu bytes, more than an image may have (%u)", name,
                    len, IMAGE_MAX_FILE_SIZE);
    if (check_name_promise(name, data, len, err, errlen) < 0)
        return -1;
    out->path = strdup(name);
    if (!out->path)
        return fail(err, errlen, "%s: out of memory", name);

    int rc;
    if (has_elf_magic(data, len)) {
        out->format = IMAGE_ELF;
        rc = load_elf(data, len, out, err, errlen);
    } else if (looks_like_ihex(data, len)) {
        out->format = IMAGE_IHEX;
        rc = load_ihex(data, len, out, err, errlen);
    } else {
        out->format = IMAGE_BIN;
        rc = load_bin(data, len, bin_addr, out, err, errlen);
    }
    if (rc != 0)
        image_free(out);
    return rc;
}

static int open_failure(const char *path, int errnum, char *err, size_t errlen)
{
    char buf[128];
    switch (errnum) {
    case ENOENT:
        return fail(err, errlen, "%s: no such file", path);
    case EACCES:
        return fail(err, errlen, "%s: permission denied (the file is not readable)", path);
    case ENOTDIR:
        return fail(err, errlen, "%s: a directory in the path is not a directory", path);
    default:
        return fail(err, errlen, "%s: cannot open: %s", path,
                    strerror_r(errnum, buf, sizeof buf));
    }
}

int image_load(const char *path, uint32_t bin_addr, struct image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return fail(err, errlen, "empty image file name");
    /* O_NONBLOCK: opening a FIFO must not hang waiting for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return open_failure(path, errno, err, errlen);

    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0) {
        char ebuf[128];
        rc = fail(err, errlen, "%s: cannot stat: %s", path, strerror_r(errno, ebuf, sizeof ebuf));
    } else if (S_ISDIR(st.st_mode)) {
        rc = fail(err, errlen, "%s: is a directory, expected an image file", path);
    } else if (!S_ISREG(st.st_mode)) {
        rc = fail(err, errlen, "%s: not a regular file, expected an image file", path);
    } else if (st.st_size == 0) {
        rc = fail(err, errlen, "%s: file is empty", path);
    } else if ((uint64_t)st.st_size > IMAGE_MAX_FILE_SIZE) {
        rc = fail(err, errlen, "%s: file is %lld bytes, more than an image may have (%u)", path,
                  (long long)st.st_size, IMAGE_MAX_FILE_SIZE);
    } else {
        size_t want = (size_t)st.st_size;
        buf = malloc(want);
        if (!buf)
            rc = fail(err, errlen, "%s: out of memory (%zu bytes)", path, want);
        /* A file that shrinks meanwhile is read as it now is; growth is ignored. */
        while (rc == 0 && got < want) {
            ssize_t n = read(fd, buf + got, want - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                char ebuf[128];
                rc = fail(err, errlen, "%s: read error: %s", path,
                          strerror_r(errno, ebuf, sizeof ebuf));
            } else if (n == 0) {
                break;
            } else {
                got += (size_t)n;
            }
        }
    }
    close(fd);
    if (rc == 0)
        rc = image_load_memory(path, buf, got, bin_addr, out, err, errlen);
    free(buf);
    return rc;
}

/* ---- queries and checks ------------------------------------------------- */

const char *image_symbolize(const struct image *img, uint32_t addr, uint32_t *offset)
{
    if (!img || img->nsymbols <= 0)
        return NULL;
    /* lo: the first symbol starting above addr */
    int lo = 0, hi = img->nsymbols;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (img->symbols[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo - 1; i >= 0; i--) {
        const struct image_symbol *s = &img->symbols[i];
        uint32_t distance = addr - s->addr;
        /* Symbols further back start even earlier; none is large enough to reach. */
        if (distance != 0 && distance >= img->max_symbol_size)
            break;
        if (distance < s->size || distance == 0) {
            if (offset)
                *offset = distance;
            return s->name;
        }
    }
    return NULL;
}

int image_check_fit(const struct image *img, const struct mem_region *regions, int nregions,
                    char *err, size_t errlen)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *seg = &img->segments[i];
        uint64_t end = (uint64_t)seg->addr + seg->size;
        const struct mem_region *home = NULL;
        for (int r = 0; r < nregions && !home; r++)
            if (seg->addr >= regions[r].base &&
                seg->addr - regions[r].base < regions[r].size)
                home = &regions[r];
        if (home) {
            uint64_t home_end = (uint64_t)home->base + home->size;
            if (end > home_end)
                return fail(err, errlen,
                            "%s: %u bytes at 0x%08x end at 0x%08llx, past the end of %s "
                            "(0x%08llx)",
                            image_name(img), seg->size, seg->addr, (unsigned long long)end,
                            home->name, (unsigned long long)home_end);
            continue;
        }
        if (!err || !errlen)
            return -1;
        int used = snprintf(err, errlen,
                            "%s: %u bytes at 0x%08x are outside every region an image may go to (",
                            image_name(img), seg->size, seg->addr);
        for (int r = 0; r < nregions && used >= 0 && (size_t)used < errlen; r++)
            used += snprintf(err + used, errlen - (size_t)used, "%s%s 0x%08x-0x%08llx",
                             r ? ", " : "", regions[r].name, regions[r].base,
                             (unsigned long long)((uint64_t)regions[r].base + regions[r].size - 1));
        if (used >= 0 && (size_t)used < errlen)
            snprintf(err + used, errlen - (size_t)used, ")");
        return -1;
    }
    return 0;
}

int image_check_overlap(const struct image *a, const struct image *b, char *err, size_t errlen)
{
    /* Both segment lists are sorted: one merge-like pass finds the lowest overlap. */
    int i = 0, j = 0;
    while (i < a->nsegments && j < b->nsegments) {
        const struct image_segment *sa = &a->segments[i], *sb = &b->segments[j];
        uint64_t a_end = (uint64_t)sa->addr + sa->size;
        uint64_t b_end = (uint64_t)sb->addr + sb->size;
        uint64_t lo = sa->addr > sb->addr ? sa->addr : sb->addr;
        uint64_t hi = a_end < b_end ? a_end : b_end;
        if (lo < hi)
            return fail(err, errlen, "%s overlaps %s at 0x%08llx-0x%08llx", image_name(b),
                        image_name(a), (unsigned long long)lo, (unsigned long long)(hi - 1));
        if (a_end < b_end)
            i++;
        else
            j++;
    }
    return 0;
}

/* Hex with 0x, or decimal; exactly 32 bits, nothing else on the string. */
static bool parse_address(const char *s, uint32_t *value)
{
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        int digit = base == 16 ? hex_value((uint8_t)*s) : (*s >= '0' && *s <= '9' ? *s - '0' : -1);
        if (digit < 0)
            return false;
        v = v * base + (unsigned)digit;
        if (v > UINT32_MAX)
            return false;
    }
    *value = (uint32_t)v;
    return true;
}

int image_parse_spec(const char *spec, char **path, uint32_t *addr, bool *has_addr, char *err,
                     size_t errlen)
{
    *path = NULL;
    *addr = 0;
    *has_addr = false;
    if (!spec || !*spec)
        return fail(err, errlen, "empty image argument, expected FILE or FILE@ADDR");
    const char *at = strrchr(spec, '@');
    if (at && strchr(at + 1, '/'))
        at = NULL;
    size_t pathlen = at ? (size_t)(at - spec) : strlen(spec);
    if (pathlen == 0)
        return fail(err, errlen, "%s: no file name before '@', expected FILE@ADDR", spec);
    if (at) {
        if (at[1] == '\0')
            return fail(err, errlen,
                        "%s: no address after '@', expected e.g. %.*s@0x08005000", spec,
                        (int)pathlen, spec);
        if (!parse_address(at + 1, addr))
            return fail(err, errlen,
                        "%s: address '%s' is not a 32-bit number, expected hex with 0x "
                        "(0x08005000) or decimal",
                        spec, at + 1);
        *has_addr = true;
    }
    *path = strndup(spec, pathlen);
    if (!*path) {
        *has_addr = false;
        return fail(err, errlen, "out of memory");
    }
    return 0;
}
