/*
 * state.h - what spark-emu keeps between runs, and the images it starts from:
 * the internal and external flash image files in the state directory (or
 * given with --internal-flash/--external-flash), the default images (the
 * project's boot ROM, Tinker from the npm cache), and --load, --bootloader
 * and --firmware.
 *
 * Design decision: every input is checked (state_check) before anything
 * stored is created or changed (state_open, state_program), so a bad option
 * never costs the user data.
 */
#ifndef EMU_STATE_H
#define EMU_STATE_H

#include "loader.h"
#include "machine.h"
#include "options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mapped_file {
    char *path;
    uint8_t *data;
    size_t size;
    bool created;
};

struct state {
    const struct options *opt;
    /* checked inputs */
    struct image loads[OPT_MAX_LOADS];
    int nloads;
    struct image bootloader, firmware;
    bool have_bootloader, have_firmware;
    const char *firmware_name; /* the firmware's file name, for the window; NULL if none given or default */
    char *state_dir, *int_path, *ext_path, *fw_default;
    /* the stored flashes */
    struct mapped_file int_flash, ext_flash;
    uint8_t *ext_mem; /* the external flash, a file's mapping or (--load alone) memory */
};

/* 1. Load and check every image, decide where the flashes live; nothing stored is changed. */
int state_check(struct state *st, const struct options *opt, char *err, size_t errlen);
/* 2. Create what is missing (erased) and map the flash image files. */
int state_open(struct state *st, char *err, size_t errlen);
/* The internal flash (FLASH_SIZE, NULL for fresh unsaved flash) and the external flash. */
uint8_t *state_internal_flash(struct state *st);
uint8_t *state_external_flash(struct state *st);
/*
 * 3. Program the images into the machine's flash as a programmer would and
 * mark the firmware valid. Sets *start_firmware_directly when the flash holds
 * no bootloader that would start it (or --bootloader none).
 */
int state_program(struct state *st, struct machine *m, bool *start_firmware_directly, char *err, size_t errlen);
/* Write the flashes back (msync), unmap them, free everything. */
void state_close(struct state *st);

#endif
