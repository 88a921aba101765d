/* An example interceptor plugin for `ferry tproxy`: replaces every FROM with TO in each block it sees.
 *
 *   make plugins          # builds build/plugins/replace.so (cc -shared -fPIC -Iinclude)
 *   ferry tproxy -interceptors 'plugin=build/plugins/replace.so:hello=howdy@up'
 *
 * The argument is "FROM=TO" (TO may be empty: FROM is then deleted). A match split across two blocks (two
 * reads) is not replaced: a rewriter that must catch those keeps the tail of each block per flow (open/close)
 * and emits what it still holds from eof(). The ABI: include/ferry/interceptor_abi.h. */
#include <stdlib.h>
#include <string.h>

#include "ferry/interceptor_abi.h"

struct replace {
    char* from;
    size_t from_len;
    char* to;
    size_t to_len;
    unsigned long long flows; /* flows opened, for the close() line: read-only sharing is all it needs */
};

static void* replace_init(const char* arg) {
    const char* eq = strchr(arg, '=');
    if (!eq || eq == arg) return NULL; /* FROM must not be empty */
    struct replace* r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->from_len = (size_t)(eq - arg);
    r->from = strndup(arg, r->from_len);
    r->to = strdup(eq + 1);
    r->to_len = strlen(r->to);
    if (!r->from || !r->to) {
        free(r->from);
        free(r->to);
        free(r);
        return NULL;
    }
    return r;
}

static void replace_fini(void* state) {
    struct replace* r = state;
    free(r->from);
    free(r->to);
    free(r);
}

/* The flow's state is the shared configuration itself: this plugin keeps nothing per flow. */
static void* replace_open(void* state, const struct ferry_flow_info* flow) {
    (void)flow;
    return state;
}

static int replace_data(void* state, int direction, const void* bytes, size_t len, ferry_emit_fn emit,
                        void* emit_ctx) {
    const struct replace* r = state;
    const char* p = bytes;
    const char* end = p + len;
    (void)direction;
    while (p < end) {
        const char* hit = (size_t)(end - p) >= r->from_len ? memmem(p, (size_t)(end - p), r->from, r->from_len) : NULL;
        if (!hit) return emit(emit_ctx, p, (size_t)(end - p));
        if (hit > p && emit(emit_ctx, p, (size_t)(hit - p)) != 0) return -1;
        if (r->to_len && emit(emit_ctx, r->to, r->to_len) != 0) return -1;
        p = hit + r->from_len;
    }
    return 0;
}

static const struct ferry_interceptor_v1 replace_api = {
    .abi_version = FERRY_INTERCEPTOR_ABI_VERSION,
    .name = "replace",
    .init = replace_init,
    .fini = replace_fini,
    .open = replace_open,
    .data = replace_data,
    .eof = NULL,
    .close = NULL,
};

const struct ferry_interceptor_v1* ferry_interceptor(void) { return &replace_api; }
