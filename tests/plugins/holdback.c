/* A test interceptor plugin (not an example): holds back the last byte of every block and sends it in front of
 * the next block, or from eof() when the direction ends, so that only an interceptor ABI with a working eof()
 * delivers every byte. A block that starts with "overflow" makes it emit 2 MiB without checking emit's result,
 * as careless C code would: ferry must reset the connection rather than pass on a stream with a hole. */
#include <stdlib.h>
#include <string.h>

#include "ferry/interceptor_abi.h"

struct flow {
    int held[2];              /* the held-back byte per direction, or -1 */
};

static void* hb_init(const char* arg) {
    (void)arg;
    return (void*)1;
}

static void* hb_open(void* state, const struct ferry_flow_info* info) {
    (void)state;
    (void)info;
    struct flow* f = malloc(sizeof *f);
    if (f) f->held[0] = f->held[1] = -1;
    return f;
}

static int hb_data(void* fs, int dir, const void* bytes, size_t len, ferry_emit_fn emit, void* ctx) {
    struct flow* f = fs;
    const unsigned char* p = bytes;
    if (len >= 8 && memcmp(p, "overflow", 8) == 0) {
        static char big[1 << 16];
        for (int i = 0; i < 32; ++i) emit(ctx, big, sizeof big); /* 2 MiB, results ignored */
        return 0;
    }
    if (len == 0) return 0;
    if (f->held[dir] >= 0) {
        unsigned char c = (unsigned char)f->held[dir];
        if (emit(ctx, &c, 1) != 0) return -1;
    }
    if (len > 1 && emit(ctx, p, len - 1) != 0) return -1;
    f->held[dir] = p[len - 1];
    return 0;
}

static int hb_eof(void* fs, int dir, ferry_emit_fn emit, void* ctx) {
    struct flow* f = fs;
    if (f->held[dir] < 0) return 0;
    unsigned char c = (unsigned char)f->held[dir];
    f->held[dir] = -1;
    return emit(ctx, &c, 1);
}

static void hb_close(void* fs, int reset, uint64_t up, uint64_t down) {
    (void)reset;
    (void)up;
    (void)down;
    free(fs);
}

static const struct ferry_interceptor_v1 api = {
    .abi_version = FERRY_INTERCEPTOR_ABI_VERSION,
    .name = "holdback",
    .init = hb_init,
    .fini = NULL,
    .open = hb_open,
    .data = hb_data,
    .eof = hb_eof,
    .close = hb_close,
};

const struct ferry_interceptor_v1* ferry_interceptor(void) { return &api; }
