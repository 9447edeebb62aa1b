/*
 * spark_core.c - the Spark Core board (first cut: the bare machine and images).
 */
#include "spark_core.h"

#include <stdlib.h>
#include <string.h>

struct spark_core {
    struct machine m;
    const struct options *opt;
};

int spark_core_create(struct spark_core **out, const struct options *opt, char *err, size_t errlen)
{
    struct image imgs[OPT_MAX_LOADS];
    int nimgs = 0;
    for (int i = 0; i < opt->nloads; i++) {
        const struct load_spec *l = &opt->loads[i];
        if (image_load(l->path, l->has_addr ? l->addr : FLASH_BASE, &imgs[nimgs], err, errlen)) {
            for (int j = 0; j < nimgs; j++)
                image_free(&imgs[j]);
            return -1;
        }
        nimgs++;
    }
    struct spark_core *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    b->opt = opt;
    struct machine_config cfg = {0};
    cfg.pacing = opt->pacing;
    cfg.speed = opt->speed;
    cfg.log_level = opt->log_level;
    for (int i = 0; i < 12; i++)
        cfg.uid[i] = (uint8_t)(0x30 + i);
    if (machine_init(&b->m, &cfg, err, errlen)) {
        free(b);
        return -1;
    }
    b->m.timeout_status = opt->timeout_status;
    for (int i = 0; i < nimgs; i++) {
        if (machine_load_image(&b->m, &imgs[i], err, errlen)) {
            for (int j = i; j < nimgs; j++)
                image_free(&imgs[j]);
            machine_free(&b->m);
            free(b);
            return -1;
        }
    }
    machine_reset(&b->m, RESET_POWER);
    *out = b;
    return 0;
}

struct machine *spark_core_machine(struct spark_core *b)
{
    return &b->m;
}

int spark_core_run(struct spark_core *b)
{
    return machine_run(&b->m, b->opt->run_for);
}

void spark_core_destroy(struct spark_core *b)
{
    machine_free(&b->m);
    free(b);
}
