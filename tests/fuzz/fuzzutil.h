/* fuzzutil.h — what the fuzz targets share: a scratch dir, temp files, failing loudly. */
#ifndef UDSRPC_FUZZUTIL_H
#define UDSRPC_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * A private directory for this process, made once (on tmpfs when /dev/shm
 * exists: the store's fsyncs and the loaders' temp files then cost no disk
 * I/O) and removed at exit. Borrowed; never NULL (aborts instead).
 */
const char *fuzz_scratch_dir(void);
/* Replace the file path with exactly len bytes of data; aborts on failure. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t len);
/*
 * An invariant broke: print why and abort, so that libFuzzer keeps the input
 * as a crash (a plain return would be taken as "input handled").
 */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A loader's contract: 0, or -errno with a one-line, non-empty message in err. */
void fuzz_check_err(int r, const char *err, size_t errlen, const char *who);

#endif
