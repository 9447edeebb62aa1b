/*
 * spark-flash.c - build and inspect the Spark Core's flash images: the 2 MiB
 * external flash (SST25VF016B) and, through a state directory, the internal
 * flash the emulator runs from:
 *
 *   spark-flash create [--force] FILE        0xFF-filled image
 *   spark-flash put [--erase] FILE ADDR INPUT program INPUT at ADDR (NOR rules)
 *   spark-flash info IMAGE|STATE-DIR         a verdict per slot: empty, valid, invalid
 *   spark-flash keys IMAGE|STATE-DIR --new   fresh core key (0x2000) and server key (0x1000)
 *   spark-flash server-key IMAGE KEY [--address HOST[:PORT]]
 *   spark-flash dump FILE ADDR LEN            hex dump
 *
 * Design decision: the tool refuses rather than guesses: a wrong-size image,
 * a range past 2 MiB or a non-erased target is an error (exit 2) that names
 * the file and the problem; an image file is modified in place, only in the
 * bytes of the slots a command is about, and never truncated or resized, and
 * every input is checked and every key made before the first byte is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/flashimg.h"
#include "tools/flashinfo.h"
#include "tools/keyslot.h"

#define EXIT_USAGE 2
#define EXIT_FAILED 2
#define EXIT_INVALID 1 /* info: some slot is invalid */
#define PATH_LEN 4096
#define INT_FLASH_NAME "internal-flash.bin"
#define EXT_FLASH_NAME "external-flash.bin"
#define SERVER_PRIVATE_NAME "server-key.pem"
#define KEYGEN_TRIES 64 /* a fresh key misread by the firmware is rare (a field one byte short) */
#define ERR_LEN (PATH_LEN + 512)
#define DUMP_COLUMNS 16
#define MAX_POSITIONAL 3

static const char usage[] =
    "usage: spark-flash create [--force] FILE\n"
    "       spark-flash put [--erase] FILE ADDR INPUT\n"
    "       spark-flash info IMAGE|STATE-DIR\n"
    "       spark-flash keys IMAGE|STATE-DIR --new [--core-only] [--server-private PEM]\n"
    "       spark-flash server-key IMAGE|STATE-DIR KEY [--address HOST[:PORT]]\n"
    "       spark-flash dump FILE ADDR LEN\n"
    "FILE and IMAGE are 2 MiB SST25VF016B images (info also reads a 128 KiB internal\n"
    "flash image); a STATE-DIR is the emulator's, holding internal-flash.bin and\n"
    "external-flash.bin. ADDR and LEN are decimal or 0x-prefixed hex.\n"
    "create refuses an existing FILE unless --force; put refuses a target that is not\n"
    "erased unless --erase, which first erases the 4 KiB sectors the data touches.\n"
    "info prints a verdict per slot (empty, valid, invalid) and exits 1 if any is invalid.\n"
    "keys --new writes a fresh RSA-1024 core key at 0x2000 and prints its public key (PEM)\n"
    "on stdout; unless --core-only it also puts a server public key at 0x1000, from the\n"
    "server key pair in PEM (default IMAGE.server-key.pem, or STATE-DIR/server-key.pem),\n"
    "made there when missing. server-key writes KEY (RSA-2048, DER or PEM) at 0x1000\n"
    "and, with --address, the server address record at 0x1180.\n";

static int fail(const char *msg)
{
    fprintf(stderr, "spark-flash: %s\n", msg);
    return EXIT_FAILED;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "spark-flash: %s\n%s", what, usage);
    return EXIT_USAGE;
}

/* A decimal or 0x-prefixed number that fits in 32 bits, nothing after it. */
static bool parse_u32(const char *s, uint32_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static int cmd_create(const char *file, bool force)
{
    char err[ERR_LEN];
    if (flashimg_create_file(file, force, err, sizeof err) != FLASHIMG_OK)
        return fail(err);
    printf("%s: created a blank (0xFF) %u-byte image\n", file, FLASHIMG_SIZE);
    return 0;
}

static int cmd_put(const char *file, const char *addr_text, const char *input, bool erase)
{
    char err[ERR_LEN];
    uint32_t addr;
    if (!parse_u32(addr_text, &addr)) {
        snprintf(err, sizeof err, "%s: address '%s' is not a number (decimal or 0x-prefixed hex)",
                 file, addr_text);
        return fail(err);
    }
    if (addr >= FLASHIMG_SIZE) {
        snprintf(err, sizeof err, "%s: address '%s' is not inside the 2 MiB image (0..0x%x)", file,
                 addr_text, FLASHIMG_SIZE - 1);
        return fail(err);
    }
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    int rc = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (flashimg_load_file(file, img, err, sizeof err) != FLASHIMG_OK ||
        flashimg_read_input(input, FLASHIMG_SIZE, &data, &len, err, sizeof err) != FLASHIMG_OK) {
        rc = fail(err);
        goto out;
    }
    uint32_t bad = 0;
    switch (flashimg_put(img, addr, data, len, erase, &bad)) {
    case FLASHIMG_OK:
        break;
    case FLASHIMG_ERR_RANGE:
        snprintf(err, sizeof err,
                 "%s: %zu bytes of %s at 0x%06x go past the end of the 2 MiB image", file, len,
                 input, (unsigned)addr);
        rc = fail(err);
        goto out;
    case FLASHIMG_ERR_NOT_ERASED:
        snprintf(err, sizeof err,
                 "%s: 0x%06x is not erased (0x%02x); NOR flash only clears bits, "
                 "use --erase to erase the covered 4 KiB sectors first",
                 file, (unsigned)bad, img[bad]);
        rc = fail(err);
        goto out;
    default:
        rc = fail("internal error");
        goto out;
    }
    uint32_t start = addr, end = (uint32_t)(addr + len);
    if (erase)
        flashimg_sector_span(addr, len, &start, &end);
    if (flashimg_store_range(file, img, start, end - start, err, sizeof err) != FLASHIMG_OK) {
        rc = fail(err);
        goto out;
    }
    printf("%s: programmed %zu bytes at 0x%06x", file, len, (unsigned)addr);
    if (erase && end > start)
        printf(" (erased 0x%06x-0x%06x first)", (unsigned)start, (unsigned)(end - 1));
    printf("\n");
out:
    free(data);
    free(img);
    return rc;
}

/* ---- info --------------------------------------------------------------- */

static bool print_lines(const char *path, const char *title, const struct flashinfo_line *lines, size_t n,
                        bool internal)
{
    bool invalid = false;
    printf("%s: %s\n", path, title);
    for (size_t i = 0; i < n; i++) {
        const struct flashinfo_line *l = &lines[i];
        printf(internal ? "  0x%08x  %-18s %-8s %s\n" : "  0x%06x    %-18s %-8s %s\n", (unsigned)l->addr, l->name,
               flashinfo_kind_name(l->kind), l->why);
        invalid |= l->kind == FLASHINFO_INVALID;
    }
    return invalid;
}

/* Inspect one image file of a known kind; 0 if every slot is empty or valid, 1 if not, 2 on error. */
static int info_image(const char *path, bool internal)
{
    char err[ERR_LEN];
    size_t size = internal ? FLASHINFO_INT_SIZE : FLASHIMG_SIZE;
    uint8_t *img = malloc(size);
    if (!img)
        return fail("out of memory");
    if (flashimg_load_exact(path, img, size, internal ? "an internal flash image" : "an external flash image",
                            err, sizeof err) != FLASHIMG_OK) {
        free(img);
        return fail(err);
    }
    struct flashinfo_line lines[FLASHINFO_MAX_LINES];
    bool invalid;
    if (internal)
        invalid = print_lines(path, "internal flash, 128 KiB at 0x08000000", lines,
                              flashinfo_internal(img, lines, FLASHINFO_MAX_LINES), true);
    else
        invalid = print_lines(path, "external flash, 2 MiB", lines,
                              flashinfo_external(img, lines, FLASHINFO_MAX_LINES), false);
    free(img);
    return invalid ? EXIT_INVALID : 0;
}

static bool join(char *out, const char *dir, const char *name)
{
    return (size_t)snprintf(out, PATH_LEN, "%s/%s", dir, name) < PATH_LEN;
}

static int info_state_dir(const char *dir)
{
    char err[ERR_LEN], ext[PATH_LEN], in[PATH_LEN];
    if (!join(ext, dir, EXT_FLASH_NAME) || !join(in, dir, INT_FLASH_NAME))
        return fail("path too long");
    bool have_in = access(in, F_OK) == 0, have_ext = access(ext, F_OK) == 0;
    if (!have_in && !have_ext) {
        snprintf(err, sizeof err,
                 "%s: a directory without flash images: a state directory holds " INT_FLASH_NAME
                 " and " EXT_FLASH_NAME " (spark-emu --state makes them)",
                 dir);
        return fail(err);
    }
    int worst = 0;
    const char *paths[2] = {in, ext};
    bool have[2] = {have_in, have_ext};
    for (int i = 0; i < 2; i++) {
        if (!have[i]) {
            printf("%s: missing (the emulator creates it erased on its next run)\n", paths[i]);
            continue;
        }
        int rc = info_image(paths[i], i == 0);
        if (rc > worst)
            worst = rc;
    }
    return worst;
}

static int cmd_info(const char *path)
{
    char err[ERR_LEN];
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, sizeof err, "%s: cannot open: %s", path, strerror(errno));
        return fail(err);
    }
    if (S_ISDIR(st.st_mode))
        return info_state_dir(path);
    if (S_ISREG(st.st_mode) && st.st_size == (off_t)FLASHIMG_SIZE)
        return info_image(path, false);
    if (S_ISREG(st.st_mode) && st.st_size == (off_t)FLASHINFO_INT_SIZE)
        return info_image(path, true);
    if (!S_ISREG(st.st_mode))
        snprintf(err, sizeof err, "%s: not a regular file or a directory", path);
    else
        snprintf(err, sizeof err,
                 "%s: is %lld bytes; info reads a 2 MiB (%u-byte) external flash image, a 128 KiB "
                 "(%u-byte) internal flash image or a state directory",
                 path, (long long)st.st_size, FLASHIMG_SIZE, FLASHINFO_INT_SIZE);
    return fail(err);
}

/* ---- keys and server-key ---------------------------------------------------- */

/*
 * The external image a key command writes: IMAGE itself, or STATE-DIR's
 * external-flash.bin, which may be missing yet (*create: made erased, but only
 * once everything else has succeeded). `img` receives its current bytes.
 */
static int load_target(const char *target, char *path, bool *create, uint8_t *img)
{
    char err[ERR_LEN];
    struct stat st;
    *create = false;
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!join(path, target, EXT_FLASH_NAME))
            return fail("path too long");
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            *create = true;
            memset(img, FLASHIMG_ERASED, FLASHIMG_SIZE);
            return 0;
        }
    } else {
        if ((size_t)snprintf(path, PATH_LEN, "%s", target) >= PATH_LEN)
            return fail("path too long");
    }
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        snprintf(err, sizeof err, "%s: no such image (make one with `spark-flash create`)", path);
        return fail(err);
    }
    if (flashimg_load_file(path, img, err, sizeof err) != FLASHIMG_OK)
        return fail(err);
    return 0;
}

/* Write the slot bytes [addr, addr+len) of img into the image (made first if *create). */
static int store_slot(const char *path, bool *create, const uint8_t *img, uint32_t addr, size_t len)
{
    char err[ERR_LEN];
    if (*create) {
        if (flashimg_create_file(path, false, err, sizeof err) != FLASHIMG_OK)
            return fail(err);
        *create = false;
    }
    if (flashimg_store_range(path, img, addr, len, err, sizeof err) != FLASHIMG_OK)
        return fail(err);
    return 0;
}

/* Write text to a new file `path` (0600), never replacing an existing one. */
static int write_new_file(const char *path, const char *text)
{
    char err[ERR_LEN], tmp[PATH_LEN];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp)
        return fail("path too long");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, sizeof err, "%s: cannot create: %s", path, strerror(errno));
        return fail(err);
    }
    size_t len = strlen(text);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok;
    if (ok && link(tmp, path) != 0) {
        saved = errno;
        ok = false;
    }
    unlink(tmp);
    if (!ok) {
        snprintf(err, sizeof err, "%s: cannot write: %s", path, strerror(saved));
        return fail(err);
    }
    return 0;
}

/* The server key pair for keys --new: the PEM file's if it exists, else a fresh one (*made). */
static EVP_PKEY *server_key_pair(const char *pem_path, bool *made)
{
    char err[ERR_LEN];
    *made = false;
    if (access(pem_path, F_OK) == 0) {
        EVP_PKEY *key = keyslot_read_private_file(pem_path, err, sizeof err);
        if (!key)
            fail(err);
        return key;
    }
    *made = true;
    EVP_PKEY *key = keyslot_generate(KEYSLOT_SERVER_BITS);
    if (!key)
        fail("libcrypto could not make an RSA-2048 key");
    return key;
}

static int cmd_keys(const char *target, bool core_only, const char *server_private)
{
    char err[ERR_LEN], path[PATH_LEN], pem_path[PATH_LEN];
    bool create;
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    int rc = load_target(target, path, &create, img);
    if (rc) {
        free(img);
        return rc;
    }
    struct stat st;
    bool is_dir = stat(target, &st) == 0 && S_ISDIR(st.st_mode);
    if (server_private)
        snprintf(pem_path, sizeof pem_path, "%s", server_private);
    else if (is_dir ? !join(pem_path, target, SERVER_PRIVATE_NAME)
                    : (size_t)snprintf(pem_path, sizeof pem_path, "%s.%s", target, SERVER_PRIVATE_NAME) >=
                          sizeof pem_path) {
        free(img);
        return fail("path too long");
    }

    EVP_PKEY *server = NULL, *core = NULL;
    char *server_pem = NULL, *core_pem = NULL;
    bool made_server = false, wrote_pem = false;
    uint8_t area[KEYSLOT_SERVER_KEY_AREA], slot[KEYSLOT_CORE_KEY_SIZE];
    rc = EXIT_FAILED;

    if (!core_only) {
        server = server_key_pair(pem_path, &made_server);
        if (!server)
            goto out;
        if (!keyslot_server_area(server, area, err, sizeof err)) {
            fprintf(stderr, "spark-flash: %s: %s (use --server-private for another file)\n", pem_path, err);
            goto out;
        }
        if (made_server && !(server_pem = keyslot_private_pem(server))) {
            fail("libcrypto could not write the server key as PEM");
            goto out;
        }
    }
    for (int i = 0; i < KEYGEN_TRIES && !core; i++) {
        core = keyslot_generate(KEYSLOT_CORE_BITS);
        if (core && !keyslot_core_slot(core, slot, err, sizeof err)) {
            EVP_PKEY_free(core);
            core = NULL;
        }
    }
    if (!core || !(core_pem = keyslot_public_pem(core))) {
        fail("libcrypto could not make an RSA-1024 key the Core reads");
        goto out;
    }

    /* Everything is made: now write, the server's private key first (it is what a cloud needs). */
    if (made_server) {
        if (write_new_file(pem_path, server_pem))
            goto out;
        wrote_pem = true;
    }
    if (!core_only) {
        memcpy(img + KEYSLOT_SERVER_KEY_ADDR, area, sizeof area);
        if (store_slot(path, &create, img, KEYSLOT_SERVER_KEY_ADDR, sizeof area))
            goto out;
    }
    memcpy(img + KEYSLOT_CORE_KEY_ADDR, slot, sizeof slot);
    if (store_slot(path, &create, img, KEYSLOT_CORE_KEY_ADDR, sizeof slot))
        goto out;
    wrote_pem = false; /* kept: the image now holds its public half */

    fprintf(stderr, "%s: wrote a new RSA-1024 core private key (PKCS#1 DER) at 0x%06x\n", path,
            KEYSLOT_CORE_KEY_ADDR);
    if (!core_only)
        fprintf(stderr, "%s: wrote the server public key at 0x%06x; its private key is in %s (%s)\n", path,
                KEYSLOT_SERVER_KEY_ADDR, pem_path, made_server ? "made now" : "kept");
    fputs(core_pem, stdout);
    rc = 0;
out:
    if (wrote_pem)
        unlink(pem_path);
    EVP_PKEY_free(server);
    EVP_PKEY_free(core);
    free(server_pem);
    free(core_pem);
    free(img);
    return rc;
}

static int cmd_server_key(const char *target, const char *key_file, const char *address)
{
    char err[ERR_LEN], path[PATH_LEN];
    bool create;
    uint8_t area[KEYSLOT_SERVER_KEY_AREA], rec[KEYSLOT_SERVER_ADDRESS_SIZE];
    if (address && !keyslot_address_record(address, rec, err, sizeof err)) {
        fprintf(stderr, "spark-flash: --address %s\n", err);
        return EXIT_USAGE;
    }
    EVP_PKEY *key = keyslot_read_public_file(key_file, err, sizeof err);
    if (!key)
        return fail(err);
    bool ok = keyslot_server_area(key, area, err, sizeof err);
    EVP_PKEY_free(key);
    if (!ok) {
        fprintf(stderr, "spark-flash: %s: %s\n", key_file, err);
        return EXIT_FAILED;
    }
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    int rc = load_target(target, path, &create, img);
    if (!rc) {
        /* With an address, the whole 2 KiB as particle-cli writes it; without, the key only. */
        size_t len = sizeof area;
        if (address) {
            len = KEYSLOT_SERVER_KEY_SIZE;
            memset(img + KEYSLOT_SERVER_KEY_ADDR, FLASHIMG_ERASED, len);
            memcpy(img + KEYSLOT_SERVER_ADDRESS_ADDR, rec, sizeof rec);
        }
        memcpy(img + KEYSLOT_SERVER_KEY_ADDR, area, sizeof area);
        rc = store_slot(path, &create, img, KEYSLOT_SERVER_KEY_ADDR, len);
    }
    if (!rc) {
        printf("%s: wrote the server public key at 0x%06x", path, KEYSLOT_SERVER_KEY_ADDR);
        if (address)
            printf(" and the address %s at 0x%06x", address, KEYSLOT_SERVER_ADDRESS_ADDR);
        printf("\n");
    }
    free(img);
    return rc;
}

static int cmd_dump(const char *file, const char *addr_text, const char *len_text)
{
    char err[ERR_LEN];
    uint32_t addr, len;
    if (!parse_u32(addr_text, &addr) || !parse_u32(len_text, &len))
        return usage_error("dump: ADDR and LEN must be numbers");
    if (addr > FLASHIMG_SIZE || len > FLASHIMG_SIZE - addr) {
        snprintf(err, sizeof err, "%s: range 0x%06x+%u is past the end of the 2 MiB image", file,
                 (unsigned)addr, (unsigned)len);
        return fail(err);
    }
    uint8_t *img = malloc(FLASHIMG_SIZE);
    if (!img)
        return fail("out of memory");
    if (flashimg_load_file(file, img, err, sizeof err) != FLASHIMG_OK) {
        free(img);
        return fail(err);
    }
    for (uint32_t row = 0; row < len; row += DUMP_COLUMNS) {
        uint32_t n = len - row < DUMP_COLUMNS ? len - row : DUMP_COLUMNS;
        printf("%06x ", (unsigned)(addr + row));
        for (uint32_t i = 0; i < DUMP_COLUMNS; i++) {
            if (i < n)
                printf(" %02x", img[addr + row + i]);
            else
                printf("   ");
        }
        printf("  |");
        for (uint32_t i = 0; i < n; i++) {
            uint8_t c = img[addr + row + i];
            putchar(c >= 0x20 && c < 0x7F ? c : '.');
        }
        printf("|\n");
    }
    free(img);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }

    bool force = false, erase = false, new_keys = false, core_only = false;
    const char *server_private = NULL, *address = NULL;
    const char *pos[MAX_POSITIONAL];
    int npos = 0;
    bool is_keys = !strcmp(cmd, "keys"), is_server_key = !strcmp(cmd, "server-key");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--force") && !strcmp(cmd, "create"))
            force = true;
        else if (!strcmp(a, "--erase") && !strcmp(cmd, "put"))
            erase = true;
        else if (!strcmp(a, "--new") && is_keys)
            new_keys = true;
        else if (!strcmp(a, "--core-only") && is_keys)
            core_only = true;
        else if ((!strcmp(a, "--server-private") && is_keys) || (!strcmp(a, "--address") && is_server_key)) {
            if (i + 1 >= argc) {
                char what[256];
                snprintf(what, sizeof what, "%s: %s needs a value", cmd, a);
                return usage_error(what);
            }
            *(is_keys ? &server_private : &address) = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            char what[256];
            snprintf(what, sizeof what, "%s: unknown option '%s'", cmd, a);
            return usage_error(what);
        } else if (npos < MAX_POSITIONAL)
            pos[npos++] = a;
        else
            return usage_error("too many arguments");
    }

    if (!strcmp(cmd, "create") && npos == 1)
        return cmd_create(pos[0], force);
    if (!strcmp(cmd, "put") && npos == 3)
        return cmd_put(pos[0], pos[1], pos[2], erase);
    if (!strcmp(cmd, "info") && npos == 1)
        return cmd_info(pos[0]);
    if (is_keys && npos == 1) {
        if (!new_keys)
            return usage_error("keys: say --new to replace the keys with fresh ones");
        if (server_private && core_only)
            return usage_error("keys: --server-private and --core-only exclude each other");
        return cmd_keys(pos[0], core_only, server_private);
    }
    if (is_server_key && npos == 2)
        return cmd_server_key(pos[0], pos[1], address);
    if (!strcmp(cmd, "dump") && npos == 3)
        return cmd_dump(pos[0], pos[1], pos[2]);
    char what[256];
    snprintf(what, sizeof what, "'%s': unknown command or wrong number of arguments", cmd);
    return usage_error(what);
}
