/*
 * keyslot.c - check and make the Spark Core's keys with libcrypto (see
 * keyslot.h). OpenSSL parses and validates; the only byte-level code here is
 * the firmware's own view of a slot (fixed offsets, parity of a length byte),
 * which is what decides whether a Core can use a key.
 *
 * Design decision: the OpenSSL 3 provider APIs (OSSL_DECODER/OSSL_ENCODER,
 * EVP_PKEY params) are used throughout, never the deprecated RSA_* calls, so
 * the build stays -Werror clean and the structure of a DER blob (PKCS#1 or
 * PKCS#8, private or public) is named by the decoder that accepts it.
 */
#include "keyslot.h"

#include "flashimg.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUBLIC_EXPONENT 65537u
#define ERASED 0xFF
#define PEM_MARK "-----BEGIN"
#define FINGERPRINT_BYTES 8
#define MAX_KEY_FILE (64u * 1024u)
#define IPV4_TYPE 0
#define DOMAIN_TYPE 1
#define IPV4_LEN 4
#define MAX_DOMAIN_LEN (KEYSLOT_SERVER_PORT_OFFSET - 2) /* the name must end before the port */
#define BLANK_PORT 0xFFFFu

/* What the firmware assumes about every server key (spark-cloud.md §2): modulus at 33. */
static const uint8_t server_spki_prefix[] = {
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00, 0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00};
#define SERVER_MODULUS_OFFSET sizeof server_spki_prefix
/* The first bytes of the Particle cloud's public modulus (system_cloud_internal_constants.c). */
static const uint8_t particle_modulus_start[] = {0xbe, 0xcc, 0xbe, 0x43};

static void say(struct keyslot_report *r, enum keyslot_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct keyslot_report *r, enum keyslot_verdict v, const char *fmt, ...)
{
    r->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the last failure, and an empty error queue. */
static const char *openssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return why ? why : "no reason given";
}

static bool all_erased(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ERASED)
            return false;
    return true;
}

static size_t used_length(const uint8_t *p, size_t n)
{
    while (n > 0 && p[n - 1] == ERASED)
        n--;
    return n;
}

/* A DER blob as one structure ("type-specific" = PKCS#1, "PrivateKeyInfo" = PKCS#8, ...), or NULL. */
static EVP_PKEY *decode_der(const uint8_t *der, size_t len, const char *structure, int selection)
{
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&key, "DER", structure, "RSA", selection, NULL, NULL);
    if (!dctx)
        return NULL;
    const unsigned char *p = der;
    size_t left = len;
    if (!OSSL_DECODER_from_data(dctx, &p, &left) || left != 0) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    OSSL_DECODER_CTX_free(dctx);
    ERR_clear_error();
    return key;
}

/*
 * Which wrapper a DER blob has, asked of libcrypto's ASN.1 parsers: the
 * decoders above unwrap PKCS#8 and SubjectPublicKeyInfo on their own, so they
 * cannot tell a PKCS#1 key from a wrapped one.
 */
static bool is_pkcs8(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *info = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    bool yes = info && p == der + len;
    PKCS8_PRIV_KEY_INFO_free(info);
    ERR_clear_error();
    return yes;
}

static bool is_spki(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_PUBKEY *spki = d2i_X509_PUBKEY(NULL, &p, (long)len);
    bool yes = spki && p == der + len;
    X509_PUBKEY_free(spki);
    ERR_clear_error();
    return yes;
}

static BIGNUM *rsa_param(EVP_PKEY *key, const char *name)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(key, name, &bn)) {
        ERR_clear_error();
        return NULL;
    }
    return bn;
}

static bool has_private_part(EVP_PKEY *key)
{
    BIGNUM *d = rsa_param(key, OSSL_PKEY_PARAM_RSA_D);
    BN_free(d);
    return d != NULL;
}

static bool exponent_is_f4(EVP_PKEY *key)
{
    BIGNUM *e = rsa_param(key, OSSL_PKEY_PARAM_RSA_E);
    bool ok = e && BN_is_word(e, PUBLIC_EXPONENT);
    BN_free(e);
    return ok;
}

/* "1a2b3c4d5e6f7a8b": the start of the SHA-256 of the public key's SubjectPublicKeyInfo. */
static void fingerprint(EVP_PKEY *key, char out[2 * FINGERPRINT_BYTES + 1])
{
    out[0] = '\0';
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0) {
        ERR_clear_error();
        return;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)n, md);
    OPENSSL_free(der);
    for (int i = 0; i < FINGERPRINT_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool starts_with_pem(const uint8_t *p, size_t n)
{
    return n >= strlen(PEM_MARK) && !memcmp(p, PEM_MARK, strlen(PEM_MARK));
}

/* ---- the firmware's reading of the core key (handshake.cpp, 0.7.0) -------- */

struct core_field {
    const char *name, *param;
    size_t width; /* bytes the firmware reads */
    size_t step;  /* from the field's first byte to the next field's length byte */
};

/* N, then E assumed 65537 (02 03 01 00 01), then D, P, Q, DP, DQ, QP. */
static const struct core_field core_fields[] = {
    {"the modulus n", OSSL_PKEY_PARAM_RSA_N, 128, 135},
    {"the private exponent d", OSSL_PKEY_PARAM_RSA_D, 128, 129},
    {"the prime p", OSSL_PKEY_PARAM_RSA_FACTOR1, 64, 65},
    {"the prime q", OSSL_PKEY_PARAM_RSA_FACTOR2, 64, 65},
    {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1, 64, 65},
    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2, 64, 65},
    {"the coefficient qinv", OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 64, 65},
};
#define CORE_FIRST_LENGTH_BYTE 9 /* 30 82 LL LL 02 01 00 02 81 [81] */

/*
 * Read the slot as the firmware does: each field starts after its length byte,
 * one byte later when that length byte is odd (a leading zero), and is a fixed
 * number of bytes. True if every field comes out as the key's own number;
 * otherwise `why` names the first field the firmware gets wrong.
 */
static bool core_reader_agrees(const uint8_t *slot, size_t size, EVP_PKEY *key, char *why, size_t whylen)
{
    size_t limit = size < KEYSLOT_CORE_KEY_READ ? size : KEYSLOT_CORE_KEY_READ;
    size_t i = CORE_FIRST_LENGTH_BYTE;
    for (size_t f = 0; f < sizeof core_fields / sizeof core_fields[0]; f++) {
        const struct core_field *cf = &core_fields[f];
        if (i >= limit) {
            set_err(why, whylen, "the firmware's fixed-offset reader runs past its %u bytes before %s",
                    KEYSLOT_CORE_KEY_READ, cf->name);
            return false;
        }
        if (slot[i] & 1)
            i++;
        i++;
        BIGNUM *v = rsa_param(key, cf->param);
        uint8_t want[128];
        bool fits = v && BN_num_bytes(v) <= (int)cf->width && BN_bn2binpad(v, want, (int)cf->width) > 0;
        int len = v ? BN_num_bytes(v) : 0;
        BN_free(v);
        if (!fits || i + cf->width > limit || memcmp(slot + i, want, cf->width) != 0) {
            if (fits && len < (int)cf->width)
                set_err(why, whylen,
                        "the firmware reads the key at fixed offsets and takes %s from the wrong bytes: "
                        "it is %d bytes long, the reader assumes %zu; make another key",
                        cf->name, len, cf->width);
            else
                set_err(why, whylen,
                        "the firmware reads the key at fixed offsets and takes %s from the wrong bytes "
                        "(the DER layout is not the one it assumes: 4-byte header, version 0, e = 65537)",
                        cf->name);
            return false;
        }
        i += cf->step;
    }
    return true;
}

/* ---- checks --------------------------------------------------------------- */

static void describe_start(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    size_t k = n < 4 ? n : 4, at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && at + 4 < outlen; i++)
        at += (size_t)snprintf(out + at, outlen - at, "%s%02x", i ? " " : "", p[i]);
}

void keyslot_check_core_private(const uint8_t *slot, size_t size, struct keyslot_report *r)
{
    char start[16];
    if (all_erased(slot, size)) {
        say(r, KEYSLOT_EMPTY,
            "erased: the Core has no key of its own (it never makes one), so no handshake can succeed");
        return;
    }
    describe_start(slot, size, start, sizeof start);
    if (slot[0] == ERASED) {
        say(r, KEYSLOT_INVALID,
            "byte 0 is 0xff, so the firmware takes the slot for blank, yet %zu bytes of data follow",
            used_length(slot, size));
        return;
    }
    if (starts_with_pem(slot, size)) {
        say(r, KEYSLOT_INVALID,
            "a PEM text key; the Core reads binary DER: convert it with "
            "`openssl rsa -in k.pem -traditional -outform DER -out k.der`");
        return;
    }
    size_t der = flashimg_der_length(slot, size);
    if (!der) {
        say(r, KEYSLOT_INVALID, "not a DER key (it starts %s)", start);
        return;
    }
    if (is_pkcs8(slot, der)) {
        EVP_PKEY *p8 = decode_der(slot, der, "PrivateKeyInfo", OSSL_KEYMGMT_SELECT_KEYPAIR);
        say(r, KEYSLOT_INVALID,
            "a PKCS#8 key (RSA-%d, %zu bytes: what `particle keys new` makes with OpenSSL 3); the "
            "Core reads PKCS#1 at fixed offsets: convert it with "
            "`openssl rsa -in k.der -inform DER -traditional -outform DER -out k-pkcs1.der`",
            p8 ? EVP_PKEY_get_bits(p8) : 0, der);
        EVP_PKEY_free(p8);
        return;
    }
    if (is_spki(slot, der)) {
        say(r, KEYSLOT_INVALID, "a public key (SubjectPublicKeyInfo, %zu bytes); this slot holds the core's "
            "private key", der);
        return;
    }
    EVP_PKEY *key = decode_der(slot, der, "type-specific", OSSL_KEYMGMT_SELECT_KEYPAIR);
    if (!key || !has_private_part(key)) {
        EVP_PKEY *pub = key ? key : decode_der(slot, der, "type-specific", OSSL_KEYMGMT_SELECT_PUBLIC_KEY);
        if (pub)
            say(r, KEYSLOT_INVALID, "a public key (PKCS#1 RSAPublicKey, %zu bytes); this slot holds the core's "
                "private key", der);
        else
            say(r, KEYSLOT_INVALID, "a DER structure of %zu bytes that is not an RSA private key (%s)", der,
                start);
        EVP_PKEY_free(pub);
        return;
    }

    char why[KEYSLOT_WHY_LEN];
    int bits = EVP_PKEY_get_bits(key);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    int consistent = ctx ? EVP_PKEY_check(ctx) : 0;
    const char *reason = consistent == 1 ? NULL : openssl_reason();
    EVP_PKEY_CTX_free(ctx);
    if (bits != (int)KEYSLOT_CORE_BITS)
        say(r, KEYSLOT_INVALID,
            "an RSA-%d private key; the Core's firmware reads an RSA-1024 key at fixed offsets", bits);
    else if (!exponent_is_f4(key))
        say(r, KEYSLOT_INVALID, "the public exponent is not 65537, which the firmware assumes");
    else if (consistent != 1)
        say(r, KEYSLOT_INVALID, "a PKCS#1 RSA-1024 key whose numbers do not agree (%s): it is damaged",
            reason);
    else if (!core_reader_agrees(slot, size, key, why, sizeof why))
        say(r, KEYSLOT_INVALID, "a consistent PKCS#1 RSA-1024 key, but %s", why);
    else {
        char fp[2 * FINGERPRINT_BYTES + 1];
        fingerprint(key, fp);
        say(r, KEYSLOT_VALID, "RSA-1024 private key, PKCS#1 DER of %zu bytes, consistent; public key sha256 %s...",
            der, fp);
    }
    EVP_PKEY_free(key);
}

void keyslot_check_server_public(const uint8_t *area, size_t size, struct keyslot_report *r)
{
    char start[16];
    /* The key's own part ends at the address record; a longer blob (a private key) may run past it. */
    size_t key_part = size < KEYSLOT_SERVER_KEY_AREA ? size : KEYSLOT_SERVER_KEY_AREA;
    if (all_erased(area, key_part)) {
        say(r, KEYSLOT_EMPTY, "erased: the firmware uses its built-in key of Particle's cloud");
        return;
    }
    describe_start(area, size, start, sizeof start);
    if (area[0] == ERASED) {
        say(r, KEYSLOT_INVALID,
            "byte 0 is 0xff, so the firmware takes the slot for blank (and uses Particle's key), yet "
            "%zu bytes of data follow",
            used_length(area, key_part));
        return;
    }
    if (starts_with_pem(area, size)) {
        say(r, KEYSLOT_INVALID,
            "a PEM text key; the firmware reads binary DER: convert it with "
            "`openssl rsa -pubin -in k.pem -outform DER -out k.der`");
        return;
    }
    size_t der = flashimg_der_length(area, size);
    if (!der) {
        say(r, KEYSLOT_INVALID, "not a DER key (it starts %s)", start);
        return;
    }
    EVP_PKEY *key = is_spki(area, der)
                        ? decode_der(area, der, "SubjectPublicKeyInfo", OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
                        : NULL;
    if (key) {
        int bits = EVP_PKEY_get_bits(key);
        bool f4 = exponent_is_f4(key);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        int ok = ctx ? EVP_PKEY_public_check(ctx) : 0;
        const char *reason = ok == 1 ? NULL : openssl_reason();
        EVP_PKEY_CTX_free(ctx);
        if (bits != (int)KEYSLOT_SERVER_BITS)
            say(r, KEYSLOT_INVALID,
                "an RSA-%d public key; the firmware takes a 2048-bit modulus at offset %zu", bits,
                SERVER_MODULUS_OFFSET);
        else if (!f4)
            say(r, KEYSLOT_INVALID, "the public exponent is not 65537, which the firmware assumes");
        else if (ok != 1)
            say(r, KEYSLOT_INVALID, "an RSA-2048 public key that libcrypto rejects (%s)", reason);
        else if (der != KEYSLOT_SERVER_SPKI_LEN || memcmp(area, server_spki_prefix, sizeof server_spki_prefix))
            say(r, KEYSLOT_INVALID,
                "an RSA-2048 public key whose encoding (%zu bytes) does not put the modulus at offset "
                "%zu, where the firmware takes it",
                der, SERVER_MODULUS_OFFSET);
        else {
            bool particle = !memcmp(area + SERVER_MODULUS_OFFSET, particle_modulus_start,
                                    sizeof particle_modulus_start);
            char fp[2 * FINGERPRINT_BYTES + 1];
            fingerprint(key, fp);
            say(r, KEYSLOT_VALID, "RSA-2048 public key, SubjectPublicKeyInfo DER; sha256 %s...%s", fp,
                particle ? " (its modulus starts like Particle's cloud key)" : " (not Particle's cloud key)");
        }
        EVP_PKEY_free(key);
        return;
    }
    bool wrapped = is_pkcs8(area, der);
    key = wrapped ? NULL : decode_der(area, der, "type-specific", OSSL_KEYMGMT_SELECT_PUBLIC_KEY);
    if (key && !has_private_part(key)) {
        say(r, KEYSLOT_INVALID,
            "a PKCS#1 RSAPublicKey (RSA-%d) without the SubjectPublicKeyInfo wrapper the firmware's "
            "fixed offsets assume: convert it with "
            "`openssl rsa -RSAPublicKey_in -inform DER -in k.der -pubout -outform DER -out k-spki.der`",
            EVP_PKEY_get_bits(key));
        EVP_PKEY_free(key);
        return;
    }
    EVP_PKEY_free(key);
    key = decode_der(area, der, wrapped ? "PrivateKeyInfo" : "type-specific", OSSL_KEYMGMT_SELECT_KEYPAIR);
    if (key) {
        say(r, KEYSLOT_INVALID,
            "a private key (RSA-%d): this slot holds the server's public key (written to 0x1000 instead "
            "of 0x2000?)",
            EVP_PKEY_get_bits(key));
        EVP_PKEY_free(key);
        return;
    }
    say(r, KEYSLOT_INVALID, "a DER structure of %zu bytes that is not an RSA public key (%s)", der, start);
}

static unsigned record_port(const uint8_t *rec, size_t size, bool *is_default)
{
    unsigned port = BLANK_PORT;
    if (size >= KEYSLOT_SERVER_PORT_OFFSET + 2)
        port = (unsigned)rec[KEYSLOT_SERVER_PORT_OFFSET] << 8 | rec[KEYSLOT_SERVER_PORT_OFFSET + 1];
    *is_default = port == 0 || port == BLANK_PORT;
    return *is_default ? KEYSLOT_DEFAULT_PORT : port;
}

void keyslot_check_server_address(const uint8_t *rec, size_t size, struct keyslot_report *r)
{
    bool dflt;
    unsigned port = record_port(rec, size, &dflt);
    const char *port_note = dflt ? " (the default)" : "";
    if (size < 2 || rec[0] == ERASED) {
        say(r, KEYSLOT_EMPTY, "erased: the firmware connects to device.spark.io, port %u%s", port, port_note);
        return;
    }
    unsigned type = rec[0], len = rec[1];
    if (type == IPV4_TYPE) {
        if (len != IPV4_LEN)
            say(r, KEYSLOT_INVALID, "an IPv4 record of length %u (4 expected)", len);
        else
            say(r, KEYSLOT_VALID, "IPv4 %u.%u.%u.%u, port %u%s", rec[2], rec[3], rec[4], rec[5], port,
                port_note);
        return;
    }
    if (type == DOMAIN_TYPE) {
        if (len == 0 || len > MAX_DOMAIN_LEN || len + 2u > size) {
            say(r, KEYSLOT_INVALID, "a domain-name record of length %u (1..%u fit before the port)", len,
                (unsigned)MAX_DOMAIN_LEN);
            return;
        }
        char name[MAX_DOMAIN_LEN + 1];
        for (unsigned i = 0; i < len; i++) {
            if (!isgraph(rec[2 + i])) {
                say(r, KEYSLOT_INVALID, "a domain-name record whose byte %u (0x%02x) is not a name character",
                    i, rec[2 + i]);
                return;
            }
            name[i] = (char)rec[2 + i];
        }
        name[len] = '\0';
        say(r, KEYSLOT_VALID, "domain name %s, port %u%s", name, port, port_note);
        return;
    }
    say(r, KEYSLOT_INVALID,
        "type 0x%02x is neither 0 (IPv4) nor 1 (domain name): the firmware falls back to device.spark.io",
        type);
}

/* ---- making keys ---------------------------------------------------------- */

EVP_PKEY *keyslot_generate(unsigned bits)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (!key)
        ERR_clear_error();
    return key;
}

bool keyslot_core_slot(EVP_PKEY *key, uint8_t slot[KEYSLOT_CORE_KEY_SIZE], char *why, size_t whylen)
{
    if (EVP_PKEY_get_bits(key) != (int)KEYSLOT_CORE_BITS || !exponent_is_f4(key)) {
        set_err(why, whylen, "the core key must be RSA-1024 with e = 65537");
        return false;
    }
    unsigned char *der = NULL;
    size_t len = 0;
    OSSL_ENCODER_CTX *ectx =
        OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_KEYPAIR, "DER", "type-specific", NULL);
    bool ok = ectx && OSSL_ENCODER_to_data(ectx, &der, &len) && len <= KEYSLOT_CORE_KEY_SIZE;
    OSSL_ENCODER_CTX_free(ectx);
    if (!ok) {
        set_err(why, whylen, "cannot encode the key as PKCS#1 DER (%s)", openssl_reason());
        OPENSSL_free(der);
        return false;
    }
    memset(slot, ERASED, KEYSLOT_CORE_KEY_SIZE);
    memcpy(slot, der, len);
    OPENSSL_free(der);
    return core_reader_agrees(slot, KEYSLOT_CORE_KEY_SIZE, key, why, whylen);
}

bool keyslot_server_area(EVP_PKEY *key, uint8_t area[KEYSLOT_SERVER_KEY_AREA], char *why, size_t whylen)
{
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) != (int)KEYSLOT_SERVER_BITS ||
        !exponent_is_f4(key)) {
        set_err(why, whylen, "the server key must be RSA-2048 with e = 65537 (this one is %s-%d)",
                EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RSA" : "not RSA", EVP_PKEY_get_bits(key));
        return false;
    }
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    if (len != (int)KEYSLOT_SERVER_SPKI_LEN || memcmp(der, server_spki_prefix, sizeof server_spki_prefix)) {
        set_err(why, whylen, "the key's SubjectPublicKeyInfo is not the 294-byte form the firmware reads");
        OPENSSL_free(der);
        ERR_clear_error();
        return false;
    }
    memset(area, ERASED, KEYSLOT_SERVER_KEY_AREA);
    memcpy(area, der, (size_t)len);
    OPENSSL_free(der);
    return true;
}

static bool is_dotted(const char *s)
{
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && *s != '.')
            return false;
    return true;
}

bool keyslot_address_record(const char *host_port, uint8_t rec[KEYSLOT_SERVER_ADDRESS_SIZE], char *why,
                            size_t whylen)
{
    char host[MAX_DOMAIN_LEN + 2];
    const char *colon = strrchr(host_port, ':');
    size_t hlen = colon ? (size_t)(colon - host_port) : strlen(host_port);
    if (hlen == 0 || hlen > MAX_DOMAIN_LEN) {
        set_err(why, whylen, "'%s': the host must be 1 to %u characters", host_port, (unsigned)MAX_DOMAIN_LEN);
        return false;
    }
    memcpy(host, host_port, hlen);
    host[hlen] = '\0';
    unsigned port = BLANK_PORT;
    if (colon) {
        char *end;
        errno = 0;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || errno || p == 0 || p > 65535 || !isdigit((unsigned char)colon[1])) {
            set_err(why, whylen, "'%s': the port must be a number from 1 to 65535", host_port);
            return false;
        }
        port = (unsigned)p;
    }
    memset(rec, ERASED, KEYSLOT_SERVER_ADDRESS_SIZE);
    if (is_dotted(host)) {
        unsigned a[IPV4_LEN];
        char extra;
        if (sscanf(host, "%u.%u.%u.%u%c", &a[0], &a[1], &a[2], &a[3], &extra) != IPV4_LEN || a[0] > 255 ||
            a[1] > 255 || a[2] > 255 || a[3] > 255) {
            set_err(why, whylen, "'%s' is not an IPv4 address (a.b.c.d, each 0-255)", host);
            return false;
        }
        rec[0] = IPV4_TYPE;
        rec[1] = IPV4_LEN;
        for (int i = 0; i < IPV4_LEN; i++)
            rec[2 + i] = (uint8_t)a[i];
    } else {
        for (size_t i = 0; i < hlen; i++) {
            if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-') {
                set_err(why, whylen, "'%s' is not a host name (letters, digits, '.', '-')", host);
                return false;
            }
        }
        rec[0] = DOMAIN_TYPE;
        rec[1] = (uint8_t)hlen;
        memcpy(rec + 2, host, hlen);
    }
    rec[KEYSLOT_SERVER_PORT_OFFSET] = (uint8_t)(port >> 8);
    rec[KEYSLOT_SERVER_PORT_OFFSET + 1] = (uint8_t)port;
    return true;
}

static char *bio_text(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

char *keyslot_public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = bio && PEM_write_bio_PUBKEY(bio, key) ? bio_text(bio) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

char *keyslot_private_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ? bio_text(bio) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

/* A key from a whole file, DER or PEM, any structure, with `selection` (public or key pair). */
static EVP_PKEY *read_key_file(const char *path, int selection, const char *what, char *err, size_t errlen)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (flashimg_read_input(path, MAX_KEY_FILE, &data, &len, err, errlen) != FLASHIMG_OK)
        return NULL;
    if (len == 0) {
        set_err(err, errlen, "%s: is empty; expected %s (DER or PEM)", path, what);
        free(data);
        return NULL;
    }
    EVP_PKEY *key = NULL;
    static const char *const inputs[] = {"DER", "PEM"};
    for (size_t i = 0; i < 2 && !key; i++) {
        OSSL_DECODER_CTX *dctx =
            OSSL_DECODER_CTX_new_for_pkey(&key, inputs[i], NULL, "RSA", selection, NULL, NULL);
        const unsigned char *p = data;
        size_t left = len;
        if (dctx && !OSSL_DECODER_from_data(dctx, &p, &left)) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        OSSL_DECODER_CTX_free(dctx);
    }
    ERR_clear_error();
    free(data);
    if (!key)
        set_err(err, errlen, "%s: not %s that libcrypto can read (DER or PEM)", path, what);
    return key;
}

EVP_PKEY *keyslot_read_private_file(const char *path, char *err, size_t errlen)
{
    return read_key_file(path, OSSL_KEYMGMT_SELECT_KEYPAIR, "an RSA private key", err, errlen);
}

EVP_PKEY *keyslot_read_public_file(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = read_key_file(path, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "an RSA key", err, errlen);
    return key ? key : read_key_file(path, OSSL_KEYMGMT_SELECT_KEYPAIR, "an RSA key", err, errlen);
}
