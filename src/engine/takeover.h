// Zero-downtime restarts (HAProxy's -x, nginx's binary upgrade): a running ferry listens on a Unix socket, the
// takeover socket, for its successor. A new ferry started with the same path connects there first, receives every
// listening socket over SCM_RIGHTS with a manifest saying what each one serves, plus the front end's state (moproxy's
// server statistics, mmproxy's routing), starts accepting on them, and commits. The incumbent then stops accepting,
// drains its connections and exits. Clients queued in a socket's backlog are never refused: the socket itself
// never closes, it only changes hands.
//
// The conversation, one SOCK_SEQPACKET message each (so every message keeps its boundaries and its fds):
//   successor  -> incumbent  'H' + {"takeover":1,"pid":N,"version":"..."}
//   incumbent  -> successor  'M' + a piece of the manifest's JSON    (one or more)
//                            'F' with up to kFdsPerMessage sockets    (as many as the manifest lists, in order)
//                            'E'                                      (the end of the offer)
//   successor  -> incumbent  'C'   the successor accepts on every socket it took: stop accepting
//   incumbent  -> successor  'A'   stopped accepting (and no longer listens on the takeover socket)
// A successor that closes the connection before 'C' (its configuration failed, it could not bind) leaves the
// incumbent running as if nothing happened.
#pragma once

#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"
#include "engine/inherited_sockets.h"

namespace ferry::takeover {

inline constexpr int kProtocolVersion = 1;
// SCM_RIGHTS carries at most 253 fds per message (SCM_MAX_FD); a lower figure keeps the control buffer small.
inline constexpr size_t kFdsPerMessage = 64;
// The largest piece of manifest per message, well under the default socket send buffer.
inline constexpr size_t kManifestChunk = 32 * 1024;
// How long either side waits for the other's next message before giving up on the takeover.
inline constexpr int kExchangeTimeoutMs = 10000;

// One socket of the offer, in the order its fd is sent.
struct ManifestEntry {
    SocketKind kind = SocketKind::Tcp;
    SocketAddress address;  // as the listener's configuration names it (empty for the takeover socket)
    std::string name;       // the listener's name ("status" for a status listener), may be empty
    std::string path;       // SocketKind::Takeover: the takeover socket's path; Unix: the socket's path
};

struct Manifest {
    int64_t pid = 0;
    std::string version;  // the incumbent's ferry version
    std::vector<ManifestEntry> sockets;
    std::string state;    // the front end's state (ServiceConfig::save_state), opaque here
};

// {"takeover":1,"pid":N,"version":"...","sockets":[{"kind":"tcp","address":"...","name":"...","path":"..."}],
//  "state":"..."}. Throws std::bad_alloc when cJSON cannot allocate.
std::string encode_manifest(const Manifest& m);
// The inverse; nullopt with *error set for anything else (not JSON, another protocol version, an unknown kind,
// an address that does not parse, more than 65536 sockets).
std::optional<Manifest> parse_manifest(std::string_view text, std::string* error);

// The successor's hello: {"takeover":1,"pid":N,"version":"..."}.
std::string encode_hello(int64_t pid, std::string_view version);
// Its pid; nullopt with *error set when it is not a hello of this protocol.
std::optional<int64_t> parse_hello(std::string_view text, std::string* error);

// ---- the successor's side

struct Received {
    Fd connection;  // to the incumbent, until commit()
    Manifest manifest;
    std::vector<InheritedSocket> sockets;  // the manifest's entries with their fds
};

enum class RequestResult { NoIncumbent, Received, Failed };

// Connects to the takeover socket at `path`. Nobody there (no file, or a file nobody listens on: a stale one
// from a crash) is NoIncumbent, and the caller starts as usual; a conversation that fails half-way is Failed
// with *error set (the caller must not start: the incumbent still holds the addresses).
RequestResult request(std::string_view path, Received* out, std::string* error);

// Tells the incumbent to stop accepting and waits for it to confirm. False with *error set when it did not
// answer in time (it may still be accepting beside us, which loses nothing).
bool commit(Fd& connection, std::string* error);

// ---- the incumbent's side

// A listening SOCK_SEQPACKET socket on `path` (mode 0600; a stale file nobody listens on is replaced).
// Invalid Fd with *error set when it cannot be made, or when another process listens there already.
Fd listen(std::string_view path, std::string* error);

// Serves one successor on `connection` (accepted from the takeover socket, still blocking): checks that its user is
// root or ours (SO_PEERCRED), reads its hello, sends `manifest` with `fds` (one per manifest entry, in order).
// Returns the successor's pid, or nullopt with *error set (the caller closes the connection and carries on);
// *error stays empty for a connection closed before its hello (listen()'s check whether anybody is here).
std::optional<int64_t> offer(int connection, const Manifest& manifest, const std::vector<int>& fds,
                             std::string* error);

// What the successor said after the offer, read when the connection is readable: 'C' is Commit; end of file (or
// an error, or anything else) is Abandoned; nothing to read yet is Pending.
enum class Answer { Commit, Abandoned, Pending };
Answer read_answer(int connection);
// Confirms that we stopped accepting ('A'); errors are ignored (the successor goes on either way).
void acknowledge(int connection);

}  // namespace ferry::takeover
