/*
 * png.c - writes 8-bit RGB images as PNG files (screenshots of the panel),
 * with libpng.
 *
 * Design decision: the file is written to "PATH.tmp" and renamed over PATH
 * only once libpng has finished it, so a reader (a test, a file manager) never
 * sees half a screenshot and a failed write leaves no file behind.
 */
#include "panel.h"

#include <errno.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PNG_BYTES_PER_PIXEL 3
/* libpng's own limit on width and height (PNG_USER_WIDTH_MAX) is 1 000 000 */
#define PNG_MAX_DIMENSION 1000000

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* libpng reports errors by longjmp; the message is kept for the caller. */
struct png_failure {
    char message[160];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/*
 * Everything libpng touches between setjmp and the end goes through this
 * function, whose locals the longjmp cannot leave half-updated.
 */
static int encode(FILE *f, const uint8_t *rgb, int width, int height, struct png_failure *failure)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, failure, on_png_error, on_png_warning);
    if (!png) {
        snprintf(failure->message, sizeof failure->message, "libpng: out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info)
            snprintf(failure->message, sizeof failure->message, "libpng: out of memory");
        free(rows);
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    rows = malloc(sizeof *rows * (size_t)height);
    if (!rows)
        png_error(png, "out of memory for the row table");
    for (int y = 0; y < height; y++)
        rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * PNG_BYTES_PER_PIXEL);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errlen)
{
    if (width <= 0 || height <= 0 || width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION) {
        set_err(err, errlen, "%s: cannot write a PNG of size %dx%d (1 to %d pixels each way)", path, width, height,
                PNG_MAX_DIMENSION);
        return -1;
    }
    size_t tmp_len = strlen(path) + sizeof ".tmp";
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, tmp_len, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        set_err(err, errlen, "%s: cannot create the PNG: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    struct png_failure failure = {""};
    int rc = encode(f, rgb, width, height, &failure);
    if (rc != 0)
        set_err(err, errlen, "%s: cannot write the PNG: %s", path, failure.message);
    if (fflush(f) != 0 || ferror(f)) {
        if (rc == 0)
            set_err(err, errlen, "%s: cannot write the PNG: %s", path, strerror(errno));
        rc = -1;
    }
    if (fclose(f) != 0 && rc == 0) {
        set_err(err, errlen, "%s: cannot write the PNG: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        set_err(err, errlen, "%s: cannot write the PNG: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        remove(tmp);
    free(tmp);
    return rc;
}
