/*
 * fuzz_script.c - libFuzzer target for the scenario language's parser
 * (emu/host/script_parse.c): the input is a whole script file.
 *
 * Design decision: the input is read through fmemopen, the way the emulator
 * reads a script through fopen, so line splitting, over-long lines and NUL
 * bytes inside lines take the same paths; every step the parser accepts is
 * checked for what the runner relies on.
 */
#include "emu/host/script_parse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0; /* fmemopen of zero bytes is EINVAL on older glibc */
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        abort();
    struct script_steps sc;
    char err[512];
    err[0] = '\0';
    int rc = script_parse_stream(&sc, "fuzz/input.scn", f, err, sizeof err);
    fclose(f);
    if (rc) {
        /* an error names the script, its line and column */
        if (strncmp(err, "fuzz/input.scn:", 15) != 0 && strcmp(err, "out of memory") != 0)
            abort();
        if (sc.steps || sc.nsteps)
            abort();
        return 0;
    }
    if (sc.wifi_profiles < -1 || sc.wifi_profiles > 7)
        abort();
    for (int i = 0; i < sc.nsteps; i++) {
        const struct step *s = &sc.steps[i];
        if (!s->text || s->line < 1)
            abort();
        if ((s->kind == STEP_RUN || s->kind == STEP_SCREENSHOT || s->kind == STEP_SNAPSHOT) && !s->arg)
            abort();
        if (s->kind == STEP_HOLD && s->duration == 0)
            abort();
        if ((s->kind == STEP_EXPECT_LED || s->kind == STEP_EXPECT_RESET || s->kind == STEP_EXPECT_USB) &&
            s->duration == 0)
            abort();
    }
    script_steps_free(&sc);
    return 0;
}
