// A service: listen addresses plus one inbound, one outbound and the relay, run by one event loop per CPU.
// The mode front ends (mmproxy, later moproxy, srcproxy, tproxy) only build a ServiceConfig.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/connection_log.h"
#include "inbound/inbound.h"
#include "support/log.h"
#include "core/net_address.h"
#include "outbound/outbound.h"
#include "core/socket_util.h"
#include "relay/splice_pump.h"
#include "udp/udp_datagram.h"

namespace ferry {

namespace subnets {
class SubnetList;
}

class EventLoop;
struct InterceptorSet;

// A listener whose connections are not proxied (the moproxy status page): each accepted socket is handed over
// on the loop that accepted it.
class AcceptHandler {
public:
    virtual void on_accept(EventLoop& loop, Fd fd, const SocketAddress& peer) const = 0;

protected:
    ~AcceptHandler() = default;
};

struct ExtraListener {
    SocketAddress address;
    const AcceptHandler* handler = nullptr;
    std::string name;  // for the log ("status")
};

// The mmproxy mode's UDP path (udp/udp_datagram.h): datagrams with a PROXY v2 header on `listen`, a flow
// per client, replies back to the sender from the listening socket.
struct UdpServiceConfig {
    std::vector<SocketAddress> listen;
    udp::Targets targets;
    uint32_t mark = 0;              // SO_MARK on the flows' sockets when non-zero
    uint64_t close_after_ms = 60000;  // a flow without traffic either way for this long is closed; 0: never
    const subnets::SubnetList* allowed = nullptr;
    int verbose = 0;  // -v: 1 logs dropped datagrams, 2 flows opening and closing
};

struct ServiceConfig {
    std::vector<SocketAddress> listen;
    ListenOptions listen_options;
    size_t listeners = 1;  // SO_REUSEPORT sockets per address (at least one per loop)
    size_t threads = 0;    // 0: one loop per CPU in our affinity mask
    const Inbound* inbound = nullptr;
    const Outbound* outbound = nullptr;
    const subnets::SubnetList* allowed = nullptr;  // null or empty: every origin allowed
    uint64_t header_timeout_ms = 5000;
    uint64_t connect_timeout_ms = 10000;
    uint64_t idle_timeout_ms = 0;       // 0: none
    uint64_t halfclose_timeout_ms = 0;  // once one direction is done: close after this long without traffic
    RelayMode relay_mode = RelayMode::Splice;
    int verbose = 0;               // go-mmproxy's -v: 1 logs per-connection errors, 2 every state change
    log::Level drop_level = log::Level::Debug;  // the level of per-connection failure lines (at verbose >= 1)
    std::string protocol_name = "tcp";
    // Per-connection lines name the destination the client asked for (moproxy) instead of go-mmproxy's
    // clientAddr (the PROXY header's source).
    bool log_destination = false;
    // Interceptors (tproxy mode): the directions they want are copied through them, the others spliced.
    const InterceptorSet* interceptors = nullptr;
    // The "listening" line per listening socket (a mode that prints its own start-up line turns it off).
    bool log_listeners = true;
    // When set, per-connection events are logged through it (whatever `verbose`), instead of the zap lines.
    const ConnectionLog* connection_log = nullptr;
    std::vector<ExtraListener> extra_listeners;  // one socket each, on the first loop
    // UDP listeners (mmproxy -p udp / all); null: none.
    const UdpServiceConfig* udp = nullptr;
    // Called on the main thread for SIGHUP; when unset SIGHUP keeps its default action.
    std::function<void()> on_reload;
};

// How long a listener rests after accept() failed for lack of fds or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) before trying again: long enough not to spin, short enough that recovery is prompt (nginx uses
// 500 ms for the same purpose).
inline constexpr uint64_t kAcceptPauseMs = 500;

// Blocks SIGINT and SIGTERM (and SIGHUP with `with_reload`) in the calling thread (threads started later inherit it; run_service takes them
// with sigwait) and ignores SIGPIPE. A mode calls it before changing anything it must undo at exit (routing),
// so a signal in between cannot kill the process and leave the change behind. Returns the blocked set.
sigset_t block_shutdown_signals(bool with_reload = false);

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
size_t available_cpus();

// Binds every listening socket (failing before anything runs), starts the loops, waits for SIGINT or SIGTERM,
// stops them and returns 0; `on_ready` runs once all listeners are bound. Returns 1 after logging the error
// when a listener cannot be bound.
int run_service(const ServiceConfig& config, const std::function<void()>& on_ready = {});

}  // namespace ferry
