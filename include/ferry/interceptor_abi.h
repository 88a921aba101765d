/* ferry's interceptor plugin ABI, version 1: a C interface, so an interceptor can be written in C (or anything
 * that exports C symbols), built as a shared object and loaded by `ferry tproxy -interceptors plugin=PATH[:ARG]`
 * without rebuilding ferry. conf/interceptor-replace.c is a complete example.
 *
 * The shared object exports one function, ferry_interceptor(), returning a pointer to a static
 * struct ferry_interceptor_v1 whose abi_version is FERRY_INTERCEPTOR_ABI_VERSION.
 *
 * Threads: init and fini run once, on the main thread. open, data and close of one flow run on the event-loop
 * thread that owns the flow (never concurrently for one flow); different flows run on different threads at the
 * same time, so anything shared between flows (the init state) must be read-only or locked. Calls must not
 * block: they run inside the event loop.
 *
 * Data: `data` is called with each block of one direction: what one read(2) returned (at most 16 KiB), or,
 * behind another interceptor, what that one passed on (up to 1 MiB, possibly 0 bytes). It passes on what it
 * wants sent in its place by calling `emit` zero or more times; emit copies the bytes at once. What it emits for
 * one block may be shorter or longer than the block, up to 1 MiB: past that emit returns -1 and the connection
 * is reset, whatever data returns. Returning non-zero resets the connection too. When the direction reaches
 * EOF, `eof` may emit what it held back (a partial match, a frame remainder); it goes out before the
 * half-close. Directions a plugin was not configured for never reach it (and stay on the splice path).
 *
 * Lifetimes: `bytes`, `emit`, `emit_ctx` and the ferry_flow_info strings are valid only during the call that
 * gets them (bytes point into a buffer the event loop reuses). Nothing may unwind (a C++ exception, longjmp)
 * across these calls. */
#ifndef FERRY_INTERCEPTOR_ABI_H
#define FERRY_INTERCEPTOR_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_INTERCEPTOR_ABI_VERSION 1u

/* Directions. */
#define FERRY_DIR_UP 0   /* client -> server */
#define FERRY_DIR_DOWN 1 /* server -> client */

struct ferry_flow_info {
    const char* client;      /* the client's address, "192.0.2.1:40000" or "[2001:db8::1]:40000" */
    const char* server;      /* the original destination, same form */
    int family;              /* AF_INET or AF_INET6 */
};

/* Appends len bytes to what is sent on; returns 0, or -1 when the 1 MiB limit for this block is reached. */
typedef int (*ferry_emit_fn)(void* emit_ctx, const void* bytes, size_t len);

struct ferry_interceptor_v1 {
    uint32_t abi_version; /* FERRY_INTERCEPTOR_ABI_VERSION */
    const char* name;     /* for ferry's log */
    /* Once at start with the text after "PATH:" ("" when none). Returns the plugin's state (any non-NULL
     * pointer), or NULL to refuse to start (ferry then exits with an error naming the plugin). May be NULL. */
    void* (*init)(const char* arg);
    /* Once at exit. May be NULL. */
    void (*fini)(void* plugin_state);
    /* A new flow, once both its connections are up. Returns the flow's state (may be NULL). May be NULL. */
    void* (*open)(void* plugin_state, const struct ferry_flow_info* flow);
    /* A block read in `direction`: emit what to send on. Required. */
    int (*data)(void* flow_state, int direction, const void* bytes, size_t len, ferry_emit_fn emit, void* emit_ctx);
    /* `direction` reached EOF: emit what is still held back, if anything. Non-zero resets. May be NULL. */
    int (*eof)(void* flow_state, int direction, ferry_emit_fn emit, void* emit_ctx);
    /* The flow ended (`reset`: not with a clean close both ways); bytes_up/down: what was sent on towards the
     * server and towards the client (after the interceptors). May be NULL. */
    void (*close)(void* flow_state, int reset, uint64_t bytes_up, uint64_t bytes_down);
};

/* The one symbol ferry looks up. */
const struct ferry_interceptor_v1* ferry_interceptor(void);

#ifdef __cplusplus
}
#endif

#endif /* FERRY_INTERCEPTOR_ABI_H */
