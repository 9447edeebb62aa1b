/*
 * fuzz_options.c - libFuzzer target for the command line (emu/options.c): the
 * input is argv, its arguments separated by NUL bytes, parsed as spark-emu
 * parses its own; the first argument is also parsed as a duration and as a
 * --load FILE@ADDR spec.
 *
 * Design decision: each argument is a private heap copy of exactly its bytes,
 * so AddressSanitizer sees a read past any argument's end (options_parse also
 * writes into its arguments, as getopt programs may).
 */
#include "emu/loader.h"
#include "emu/options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = strdup("spark-emu");
    size_t start = 0;
    for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
        if (i < size && data[i] != '\0')
            continue;
        char *arg = malloc(i - start + 1);
        if (!arg)
            abort();
        memcpy(arg, data + start, i - start);
        arg[i - start] = '\0';
        argv[argc++] = arg;
        start = i + 1;
    }
    argv[argc] = NULL;

    if (argc > 1) {
        uint64_t cycles;
        parse_duration(argv[1], &cycles);
        char *path;
        uint32_t addr;
        bool has_addr;
        char err[512];
        if (image_parse_spec(argv[1], &path, &addr, &has_addr, err, sizeof err) == 0)
            free(path);
    }

    /* options_parse keeps pointers into argv: free the copies only afterwards */
    char **copy = malloc(sizeof argv);
    if (!copy)
        abort();
    memcpy(copy, argv, sizeof argv);
    struct options o;
    char err[512];
    options_parse(argc, copy, &o, err, sizeof err);
    options_free(&o);
    free(copy);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
