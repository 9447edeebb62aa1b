/*
 * keyslot.h - the Spark Core's RSA keys in its external flash, checked and
 * made with OpenSSL's libcrypto: the core private key at 0x2000 (PKCS#1,
 * RSA-1024), the server public key at 0x1000 (SubjectPublicKeyInfo, RSA-2048)
 * and the server address record at 0x1180.
 *
 * Design decision: a key is `valid` only if libcrypto finds it consistent AND
 * the firmware's own fixed-offset reading (../shared/docs/spark-cloud.md §2)
 * gets the same numbers out of the slot; a key OpenSSL likes but the Core
 * misreads is `invalid`, with the reason.
 */
#ifndef TOOLS_KEYSLOT_H
#define TOOLS_KEYSLOT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYSLOT_SERVER_KEY_ADDR 0x001000u
#define KEYSLOT_SERVER_KEY_SIZE 2048u      /* what particle-cli writes: key, 0xFF, address record */
#define KEYSLOT_SERVER_KEY_AREA 384u       /* the key's part of it; the address record follows */
#define KEYSLOT_SERVER_ADDRESS_ADDR 0x001180u
#define KEYSLOT_SERVER_ADDRESS_SIZE 128u
#define KEYSLOT_SERVER_PORT_OFFSET 66u     /* big-endian port inside the address record */
#define KEYSLOT_SERVER_SPKI_LEN 294u       /* SubjectPublicKeyInfo of an RSA-2048 key, e = 65537 */
#define KEYSLOT_SERVER_BITS 2048u
#define KEYSLOT_CORE_KEY_ADDR 0x002000u
#define KEYSLOT_CORE_KEY_SIZE 1024u
#define KEYSLOT_CORE_KEY_READ 612u         /* bytes the firmware reads */
#define KEYSLOT_CORE_BITS 1024u
#define KEYSLOT_DEFAULT_PORT 5683u
#define KEYSLOT_WHY_LEN 640

enum keyslot_verdict { KEYSLOT_EMPTY, KEYSLOT_VALID, KEYSLOT_INVALID };

struct keyslot_report {
    enum keyslot_verdict verdict;
    char why[KEYSLOT_WHY_LEN];
};

/* The 1024-byte core private key slot (0x2000). */
void keyslot_check_core_private(const uint8_t *slot, size_t size, struct keyslot_report *r);
/* The server key slot at 0x1000 (2 KiB; the key itself must fit in its first 384 bytes). */
void keyslot_check_server_public(const uint8_t *area, size_t size, struct keyslot_report *r);
/* The 128-byte server address record (0x1180). */
void keyslot_check_server_address(const uint8_t *rec, size_t size, struct keyslot_report *r);

/* ---- making keys ---------------------------------------------------------- */

/* A fresh RSA key of `bits` with e = 65537, or NULL. */
EVP_PKEY *keyslot_generate(unsigned bits);
/*
 * The 1024-byte slot image of a core private key: PKCS#1 DER, then 0xFF. Returns
 * false (and says why) if the key is not RSA-1024 or the firmware's fixed-offset
 * reader would misread its DER (a field one byte short); try another key then.
 */
bool keyslot_core_slot(EVP_PKEY *key, uint8_t slot[KEYSLOT_CORE_KEY_SIZE], char *why, size_t whylen);
/* The 384-byte key area at 0x1000: SubjectPublicKeyInfo DER, then 0xFF. False if not RSA-2048, e = 65537. */
bool keyslot_server_area(EVP_PKEY *key, uint8_t area[KEYSLOT_SERVER_KEY_AREA], char *why, size_t whylen);
/*
 * The 128-byte address record for HOST[:PORT] as particle-cli lays it out:
 * type 0 + 4 bytes for a dotted IPv4 address, type 1 + the name otherwise,
 * 0xFF fill, the port big-endian at +66 (0xFFFF, i.e. 5683, without one).
 */
bool keyslot_address_record(const char *host_port, uint8_t rec[KEYSLOT_SERVER_ADDRESS_SIZE], char *why,
                            size_t whylen);

/* PEM text (malloc'd, NUL-terminated) of the public key, or of the private key (PKCS#8). */
char *keyslot_public_pem(EVP_PKEY *key);
char *keyslot_private_pem(EVP_PKEY *key);
/* A public key from a file: DER or PEM, SubjectPublicKeyInfo or PKCS#1, or the public half of a private key. */
EVP_PKEY *keyslot_read_public_file(const char *path, char *err, size_t errlen);
/* A key pair from a file: DER or PEM, PKCS#1 or PKCS#8 (unencrypted). */
EVP_PKEY *keyslot_read_private_file(const char *path, char *err, size_t errlen);

#endif
