/*
 * state.c - the state directory and the images spark-emu starts from.
 *
 * The flash images are files mapped MAP_SHARED, so every completed program or
 * erase is in the page cache at once and survives a killed emulator. Design
 * decision: every input is checked before anything stored is created or
 * changed, so a bad option never costs the user data.
 */
#include "state.h"

#include "boards/spark_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXT_FLASH_SIZE SPARK_CORE_EXT_FLASH_SIZE
#define FIRMWARE_BASE SPARK_CORE_FIRMWARE_BASE
#define FLAGS_PAGE SPARK_CORE_FLAGS_PAGE
#define FLAGS_OTA_OFFSET 4u /* FLASH_OTA_Update_SysFlag */
#define FLAGS_RUN_FIRMWARE 0x5000u
#define BOOTLOADER_END SPARK_CORE_BOOTLOADER_END
#define FLASH_PAGE 1024u
#define INT_FLASH_NAME "internal-flash.bin"
#define EXT_FLASH_NAME "external-flash.bin"
#define DEFAULT_FIRMWARE "core_tinker.bin"

/* ---- files ------------------------------------------------------------ */

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Check that `path` is usable as an image of `size` bytes without changing anything. */
static int check_image_file(const char *path, size_t size, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* created later, erased */
        snprintf(err, errlen, "%s: cannot use as %s: %s", path, what, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (expected %s of %zu bytes)", path, what, size);
        return -1;
    }
    if ((size_t)st.st_size != size) {
        snprintf(err, errlen,
                 "%s: %lld bytes, but %s must be exactly %zu bytes (%zu KiB); the file is left as it is",
                 path, (long long)st.st_size, what, size, size / 1024);
        return -1;
    }
    if (access(path, R_OK | W_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read and write it (%s)", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -1;
    }
    strcpy(buf, dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
        return -1;
    }
    return 0;
}

/* Open (creating it erased if missing) and map an image file. */
static int map_image_file(struct mapped_file *f, const char *path, size_t size, char *err, size_t errlen)
{
    f->path = strdup(path);
    f->size = size;
    int fd = open(path, O_RDWR);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            f->created = true;
            uint8_t erased[4096];
            memset(erased, 0xFF, sizeof erased);
            for (size_t done = 0; done < size;) {
                ssize_t w = write(fd, erased, size - done < sizeof erased ? size - done : sizeof erased);
                if (w <= 0) {
                    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
                    close(fd);
                    unlink(path);
                    return -1;
                }
                done += (size_t)w;
            }
        }
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return -1;
    }
    f->data = p;
    return 0;
}

static void unmap_image_file(struct mapped_file *f)
{
    if (f->data)
        munmap(f->data, f->size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static char *default_state_dir(void)
{
    const char *env = getenv("SPARK_EMU_STATE");
    if (env && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg)
        return path_join(xdg, "spark-emu");
    const char *home = getenv("HOME");
    return path_join(home && *home ? home : "/tmp", ".local/state/spark-emu");
}

/* The project's boot ROM: $SPARK_EMU_BOOTROM, else the build tree's, else the installed one. */
static const char *bootrom_path(void)
{
    const char *env = getenv("SPARK_EMU_BOOTROM");
    if (env && *env)
        return env;
    if (access(SPARK_EMU_BOOTROM_BUILD, R_OK) == 0)
        return SPARK_EMU_BOOTROM_BUILD;
    return SPARK_EMU_BOOTROM_INSTALLED;
}

static char *default_firmware_path(void)
{
    const char *env = getenv("SPARK_EMU_FIRMWARE_DIR");
    if (env && *env)
        return path_join(env, DEFAULT_FIRMWARE);
    const char *xdg = getenv("XDG_CACHE_HOME");
    char *cache = xdg && *xdg ? strdup(xdg) : path_join(getenv("HOME") ? getenv("HOME") : "/tmp", ".cache");
    char *dir = path_join(cache, "spark-emu/firmware/particle-cli-2.16.0");
    char *p = path_join(dir, DEFAULT_FIRMWARE);
    free(cache);
    free(dir);
    return p;
}

/* ---- images ------------------------------------------------------------ */

static uint32_t image_word(const struct image *img, uint32_t addr, bool *found)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        if (addr >= s->addr && addr - s->addr + 4 <= s->size) {
            *found = true;
            const uint8_t *p = s->data + (addr - s->addr);
            return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        }
    }
    *found = false;
    return 0;
}

/*
 * A Core image must lie in [base, end) and start with a vector table whose
 * stack pointer the bootloader accepts ((SP & 0x2FFE0000) == 0x20000000) and
 * whose reset vector is a Thumb address inside the image's area.
 */
static int check_core_image(const struct image *img, uint32_t base, uint32_t end, const char *what,
                            char *err, size_t errlen)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        if (s->addr < base || s->addr > end || s->size > end - s->addr) {
            snprintf(err, errlen,
                     "%s: %u bytes at 0x%08x end at 0x%08x, outside the %s area 0x%08x-0x%08x "
                     "(at most %u bytes, %u KiB): it does not fit",
                     img->path, s->size, s->addr, s->addr + s->size, what, base, end, end - base,
                     (end - base) / 1024);
            return -1;
        }
    }
    bool f1, f2;
    uint32_t sp = image_word(img, base, &f1), reset = image_word(img, base + 4, &f2);
    if (!f1 || !f2) {
        snprintf(err, errlen, "%s: no vector table at 0x%08x (the image does not start there)", img->path, base);
        return -1;
    }
    if ((sp & 0x2FFE0000u) != 0x20000000u || sp > SRAM_BASE + SRAM_SIZE) {
        snprintf(err, errlen,
                 "%s: not a Core %s image: its vector table's initial stack pointer is 0x%08x, not an "
                 "address in the 20 KiB of SRAM (0x20000000-0x20005000)",
                 img->path, what, sp);
        return -1;
    }
    if (!(reset & 1u) || (reset & ~1u) < base || (reset & ~1u) >= end) {
        snprintf(err, errlen,
                 "%s: not a Core %s image: its reset vector 0x%08x is not a Thumb address inside "
                 "0x%08x-0x%08x",
                 img->path, what, reset, base, end);
        return -1;
    }
    return 0;
}

/* Program an image the way a programmer would: erase the pages it covers, then write it. */
static void program_image(struct machine *m, const struct image *img)
{
    for (int i = 0; i < img->nsegments; i++) {
        const struct image_segment *s = &img->segments[i];
        uint32_t off = s->addr - FLASH_BASE;
        uint32_t first = off & ~(FLASH_PAGE - 1), last = (off + s->size + FLASH_PAGE - 1) & ~(FLASH_PAGE - 1);
        memset(m->flash + first, 0xFF, last - first);
        memcpy(m->flash + off, s->data, s->size);
        cpu_invalidate(m, FLASH_BASE + first, last - first);
        cpu_invalidate(m, first, last - first);
    }
}

/* FLASH_OTA_Update_SysFlag = 0x5000: a bootloader jumps to the firmware. */
static void mark_firmware_valid(struct machine *m)
{
    uint8_t *page = m->flash + (FLAGS_PAGE - FLASH_BASE);
    uint16_t cur = (uint16_t)(page[FLAGS_OTA_OFFSET] | page[FLAGS_OTA_OFFSET + 1] << 8);
    if (cur == FLAGS_RUN_FIRMWARE)
        return;
    if ((cur & FLAGS_RUN_FIRMWARE) != FLAGS_RUN_FIRMWARE) {
        /* bits would have to go from 0 to 1: erase the page, keep the other flags */
        uint8_t copy[FLASH_PAGE];
        memcpy(copy, page, FLASH_PAGE);
        memset(page, 0xFF, FLASH_PAGE);
        memcpy(page, copy, FLASH_PAGE);
    }
    page[FLAGS_OTA_OFFSET] = FLAGS_RUN_FIRMWARE & 0xFF;
    page[FLAGS_OTA_OFFSET + 1] = FLAGS_RUN_FIRMWARE >> 8;
}

/* ---- the three steps ----------------------------------------------------- */

int state_check(struct state *st, const struct options *opt, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->opt = opt;

    const char *bl_path = opt->bootloader;
    if (!bl_path && !opt->bootloader_none && opt->nloads == 0) {
        const char *env = getenv("SPARK_EMU_BOOTLOADER");
        if (env && *env)
            bl_path = env;
    }
    for (int i = 0; i < opt->nloads; i++) {
        const struct load_spec *l = &opt->loads[i];
        if (image_load(l->path, l->has_addr ? l->addr : FLASH_BASE, &st->loads[st->nloads], err, errlen))
            return -1;
        st->nloads++;
    }
    if (bl_path) {
        if (image_load(bl_path, FLASH_BASE, &st->bootloader, err, errlen))
            return -1;
        st->have_bootloader = true;
        if (check_core_image(&st->bootloader, FLASH_BASE, BOOTLOADER_END, "bootloader", err, errlen))
            return -1;
    }
    if (opt->firmware) {
        if (image_load(opt->firmware, FIRMWARE_BASE, &st->firmware, err, errlen))
            return -1;
        st->have_firmware = true;
        if (check_core_image(&st->firmware, FIRMWARE_BASE, FLASH_BASE + FLASH_SIZE, "firmware", err, errlen))
            return -1;
    }

    /* where the flashes live: --load alone runs on fresh, unsaved flashes */
    bool ephemeral = st->nloads > 0 && !opt->state_dir && !opt->int_flash;
    if (!ephemeral) {
        st->state_dir = opt->state_dir ? strdup(opt->state_dir) : default_state_dir();
        st->int_path = opt->int_flash ? strdup(opt->int_flash) : path_join(st->state_dir, INT_FLASH_NAME);
    }
    if (opt->ext_flash || !ephemeral)
        st->ext_path = opt->ext_flash ? strdup(opt->ext_flash) : path_join(st->state_dir, EXT_FLASH_NAME);
    if (st->int_path && check_image_file(st->int_path, FLASH_SIZE, "an internal flash image", err, errlen))
        return -1;
    if (st->ext_path && check_image_file(st->ext_path, EXT_FLASH_SIZE, "an external flash image", err, errlen))
        return -1;
    bool fresh = !st->int_path || access(st->int_path, F_OK) != 0;

    /* defaults on a fresh state: the project's boot ROM, and Tinker from the npm cache */
    bool user_bl = st->have_bootloader;
    if (fresh && !st->have_bootloader && !opt->bootloader_none && st->nloads == 0 && !opt->snapshot_load) {
        const char *rom = bootrom_path();
        if (access(rom, R_OK) != 0) {
            snprintf(err, errlen,
                     "the project's boot ROM %s is missing (build it with ninja, set SPARK_EMU_BOOTROM, "
                     "or give --bootloader FILE or --bootloader none)",
                     rom);
            return -1;
        }
        if (image_load(rom, FLASH_BASE, &st->bootloader, err, errlen))
            return -1;
        st->have_bootloader = true;
        if (check_core_image(&st->bootloader, FLASH_BASE, BOOTLOADER_END, "bootloader", err, errlen))
            return -1;
    }
    if (fresh && !st->have_firmware && !user_bl && st->nloads == 0 && !opt->snapshot_load) {
        st->fw_default = default_firmware_path();
        if (access(st->fw_default, R_OK) != 0) {
            snprintf(err, errlen,
                     "no --firmware given and the default firmware %s is not there; run "
                     "tools/fetch-firmware.sh (or tools/setup.sh), or give --firmware FILE",
                     st->fw_default);
            return -1;
        }
        if (image_load(st->fw_default, FIRMWARE_BASE, &st->firmware, err, errlen))
            return -1;
        st->have_firmware = true;
        if (check_core_image(&st->firmware, FIRMWARE_BASE, FLASH_BASE + FLASH_SIZE, "firmware", err, errlen))
            return -1;
    }

    st->firmware_name = opt->firmware ? opt->firmware : st->fw_default ? DEFAULT_FIRMWARE : NULL;
    if (st->firmware_name && strrchr(st->firmware_name, '/'))
        st->firmware_name = strrchr(st->firmware_name, '/') + 1;
    return 0;
}

int state_open(struct state *st, char *err, size_t errlen)
{
    const struct options *opt = st->opt;
    if (st->state_dir && !opt->int_flash && mkdir_p(st->state_dir, err, errlen))
        return -1;
    if (st->int_path && map_image_file(&st->int_flash, st->int_path, FLASH_SIZE, err, errlen))
        return -1;
    if (st->ext_path) {
        if (!opt->ext_flash && st->state_dir && mkdir_p(st->state_dir, err, errlen))
            return -1;
        if (map_image_file(&st->ext_flash, st->ext_path, EXT_FLASH_SIZE, err, errlen))
            return -1;
        st->ext_mem = st->ext_flash.data;
    } else {
        st->ext_mem = malloc(EXT_FLASH_SIZE);
        if (!st->ext_mem) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memset(st->ext_mem, 0xFF, EXT_FLASH_SIZE);
    }
    return 0;
}

uint8_t *state_internal_flash(struct state *st)
{
    return st->int_flash.data;
}

uint8_t *state_external_flash(struct state *st)
{
    return st->ext_mem;
}

int state_program(struct state *st, struct machine *m, bool *start_firmware_directly, char *err, size_t errlen)
{
    const struct options *opt = st->opt;
    for (int i = 0; i < st->nloads; i++) {
        if (machine_load_image(m, &st->loads[i], err, errlen)) /* the machine takes each one it loads */
            return -1;
    }
    st->nloads = 0;
    bool had_bootloader = st->have_bootloader;
    if (st->have_bootloader) {
        program_image(m, &st->bootloader);
        image_free(&st->bootloader);
        st->have_bootloader = false;
    }
    if (st->have_firmware) {
        program_image(m, &st->firmware);
        mark_firmware_valid(m);
        image_free(&st->firmware);
        st->have_firmware = false;
    }
    uint32_t bl_sp;
    memcpy(&bl_sp, m->flash, 4);
    *start_firmware_directly =
        opt->nloads == 0 && (opt->bootloader_none || (!had_bootloader && bl_sp == 0xFFFFFFFFu));
    return 0;
}

void state_close(struct state *st)
{
    for (int i = 0; i < st->nloads; i++)
        image_free(&st->loads[i]);
    if (st->have_bootloader)
        image_free(&st->bootloader);
    if (st->have_firmware)
        image_free(&st->firmware);
    if (st->int_flash.data)
        msync(st->int_flash.data, st->int_flash.size, MS_SYNC);
    if (st->ext_flash.data)
        msync(st->ext_flash.data, st->ext_flash.size, MS_SYNC);
    unmap_image_file(&st->int_flash);
    if (st->ext_flash.data)
        unmap_image_file(&st->ext_flash);
    else
        free(st->ext_mem);
    free(st->state_dir);
    free(st->int_path);
    free(st->ext_path);
    free(st->fw_default);
    memset(st, 0, sizeof *st);
}
