/*
 * spark_core.h - the Spark Core board: an STM32F103CB wired to an SST25VF016B,
 * a CC3000, an RGB LED, the MODE and RESET buttons and the USB pull-up.
 */
#ifndef BOARDS_SPARK_CORE_H
#define BOARDS_SPARK_CORE_H

#include "emu/machine.h"
#include "emu/options.h"

struct spark_core;

/* Check every input, open the state, build and wire the board, load images, power on. */
int spark_core_create(struct spark_core **out, const struct options *opt, char *err, size_t errlen);
struct machine *spark_core_machine(struct spark_core *b);
int spark_core_run(struct spark_core *b);
void spark_core_destroy(struct spark_core *b);

#endif
