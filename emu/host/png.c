/*
 * png.c - writes 8-bit RGB images as PNG files (screenshots of the panel).
 *
 * Design decision: the image data goes into the zlib stream as stored
 * (uncompressed) deflate blocks, so the writer needs no zlib and no libpng and
 * stays a page of code. Screenshots are small (a 640x360 panel is 675 KiB), so
 * the size cost does not matter; every PNG reader accepts stored blocks.
 */
#include "panel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

#define PNG_IHDR_LENGTH 13u
#define PNG_BIT_DEPTH 8u
#define PNG_COLOUR_TYPE_RGB 2u /* truecolour, no alpha */
#define PNG_COMPRESSION_DEFLATE 0u
#define PNG_FILTER_METHOD_ADAPTIVE 0u
#define PNG_INTERLACE_NONE 0u
#define PNG_FILTER_TYPE_NONE 0u /* the per-row filter byte */
#define PNG_BYTES_PER_PIXEL 3u
/* The spec limits width and height to 2^31 - 1; we also keep a row in a uint32_t. */
#define PNG_MAX_DIMENSION 0x7fffffffu

/* zlib header (RFC 1950): CM = 8 (deflate), CINFO = 7 (32 KiB window), no
 * preset dictionary, FLEVEL 0, FCHECK making (CMF * 256 + FLG) % 31 == 0. */
#define ZLIB_CMF 0x78u
#define ZLIB_FLG 0x01u
#define ZLIB_ADLER32_BYTES 4u
#define ADLER32_MODULUS 65521u

/* Deflate stored block (RFC 1951 section 3.2.4): a header byte holding BFINAL
 * and BTYPE = 00 (the rest of that byte is padding), then LEN and NLEN. */
#define DEFLATE_BFINAL 0x01u
#define DEFLATE_STORED_HEADER_BYTES 5u
#define DEFLATE_STORED_MAX 65535u

#define CRC32_POLYNOMIAL 0xedb88320u /* reflected IEEE 802.3, as PNG uses */

struct png_out {
    FILE *f;
    uint32_t crc;            /* running CRC of the current chunk's type and data */
    uint32_t crc_table[256];
    bool failed;
    int error; /* errno of the first failed write */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void crc_table_init(uint32_t table[256])
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? CRC32_POLYNOMIAL ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
}

static void out_bytes(struct png_out *o, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o->crc = o->crc_table[(o->crc ^ p[i]) & 0xffu] ^ (o->crc >> 8);
    if (!o->failed && fwrite(p, 1, n, o->f) != n) {
        o->failed = true;
        o->error = errno;
    }
}

static void out_u8(struct png_out *o, uint8_t v)
{
    out_bytes(o, &v, 1);
}

static void out_be32(struct png_out *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    out_bytes(o, b, sizeof b);
}

static void out_le16(struct png_out *o, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    out_bytes(o, b, sizeof b);
}

/* The length is outside the CRC; the type starts it. */
static void chunk_begin(struct png_out *o, uint32_t length, const char type[4])
{
    out_be32(o, length);
    o->crc = 0xffffffffu;
    out_bytes(o, (const uint8_t *)type, 4);
}

static void chunk_end(struct png_out *o)
{
    uint32_t crc = o->crc ^ 0xffffffffu;
    out_be32(o, crc);
}

struct adler32 {
    uint32_t a, b;
};

static void adler32_update(struct adler32 *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s->a = (s->a + p[i]) % ADLER32_MODULUS;
        s->b = (s->b + s->a) % ADLER32_MODULUS;
    }
}

/*
 * The filtered image is the rows, each preceded by its filter byte. It is fed
 * to the stored blocks as a byte stream: a block boundary may fall anywhere,
 * including inside a row.
 */
struct raw_image {
    const uint8_t *rgb;
    size_t row_bytes; /* without the filter byte */
    size_t total;     /* height * (1 + row_bytes) */
};

static void out_raw_range(struct png_out *o, struct adler32 *adler, const struct raw_image *img,
                          size_t start, size_t len)
{
    size_t stride = img->row_bytes + 1;
    while (len > 0) {
        size_t row = start / stride, col = start % stride;
        size_t n;
        if (col == 0) {
            uint8_t filter = PNG_FILTER_TYPE_NONE;
            out_u8(o, filter);
            adler32_update(adler, &filter, 1);
            n = 1;
        } else {
            n = stride - col;
            if (n > len)
                n = len;
            const uint8_t *p = img->rgb + row * img->row_bytes + (col - 1);
            out_bytes(o, p, n);
            adler32_update(adler, p, n);
        }
        start += n;
        len -= n;
    }
}

int png_write_rgb(const char *path, const uint8_t *rgb, int width, int height, char *err, size_t errlen)
{
    if (width <= 0 || height <= 0 || (uint64_t)width > PNG_MAX_DIMENSION ||
        (uint64_t)height > PNG_MAX_DIMENSION) {
        set_err(err, errlen, "png %s: size %dx%d is not a valid image size (1..%u each)", path, width,
                height, PNG_MAX_DIMENSION);
        return -1;
    }
    struct raw_image img = {rgb, (size_t)width * PNG_BYTES_PER_PIXEL, 0};
    uint64_t total = (uint64_t)height * (img.row_bytes + 1);
    uint64_t blocks = (total + DEFLATE_STORED_MAX - 1) / DEFLATE_STORED_MAX;
    uint64_t idat_length = 2 + blocks * DEFLATE_STORED_HEADER_BYTES + total + ZLIB_ADLER32_BYTES;
    /* A chunk length is at most 2^31 - 1; larger images would need several IDATs
     * and are far beyond any panel we draw. */
    if (idat_length > 0x7fffffffu) {
        set_err(err, errlen, "png %s: %dx%d is too large for one IDAT chunk", path, width, height);
        return -1;
    }
    img.total = (size_t)total;

    struct png_out o = {0};
    crc_table_init(o.crc_table);
    o.f = fopen(path, "wb");
    if (!o.f) {
        set_err(err, errlen, "png %s: cannot create: %s", path, strerror(errno));
        return -1;
    }

    out_bytes(&o, PNG_SIGNATURE, sizeof PNG_SIGNATURE);

    chunk_begin(&o, PNG_IHDR_LENGTH, "IHDR");
    out_be32(&o, (uint32_t)width);
    out_be32(&o, (uint32_t)height);
    out_u8(&o, PNG_BIT_DEPTH);
    out_u8(&o, PNG_COLOUR_TYPE_RGB);
    out_u8(&o, PNG_COMPRESSION_DEFLATE);
    out_u8(&o, PNG_FILTER_METHOD_ADAPTIVE);
    out_u8(&o, PNG_INTERLACE_NONE);
    chunk_end(&o);

    chunk_begin(&o, (uint32_t)idat_length, "IDAT");
    out_u8(&o, ZLIB_CMF);
    out_u8(&o, ZLIB_FLG);
    struct adler32 adler = {1, 0};
    for (size_t done = 0; done < img.total;) {
        size_t len = img.total - done;
        if (len > DEFLATE_STORED_MAX)
            len = DEFLATE_STORED_MAX;
        bool last = done + len == img.total;
        out_u8(&o, last ? DEFLATE_BFINAL : 0);
        out_le16(&o, (uint16_t)len);
        out_le16(&o, (uint16_t)~len);
        out_raw_range(&o, &adler, &img, done, len);
        done += len;
    }
    out_be32(&o, (adler.b << 16) | adler.a);
    chunk_end(&o);

    chunk_begin(&o, 0, "IEND");
    chunk_end(&o);

    if (fclose(o.f) != 0 && !o.failed) {
        o.failed = true;
        o.error = errno;
    }
    if (o.failed) {
        set_err(err, errlen, "png %s: write failed: %s", path, strerror(o.error));
        remove(path);
        return -1;
    }
    return 0;
}
