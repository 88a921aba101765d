// A service: listeners, each its own combination of an inbound, an outbound and a relay, run by one event loop
// per CPU. The mode front ends and `ferry run` only build a ServiceConfig.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inbound/inbound.h"
#include "support/log.h"
#include "support/privileges.h"
#include "core/net_address.h"
#include "engine/admission.h"
#include "engine/events.h"
#include "engine/inherited_sockets.h"
#include "engine/sniff.h"
#include "outbound/outbound.h"
#include "core/socket_util.h"
#include "relay/splice_pump.h"
#include "udp/udp_datagram.h"

namespace ferry {

namespace subnets {
class SubnetList;
}
namespace metrics {
class Registry;
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
    // Non-empty: a Unix stream socket at this path instead of `address` (moproxy's `--stats-bind /PATH`). A
    // stale socket file is replaced; the file is created before the privilege drop and given to its user, handed
    // to a successor with the other sockets, and removed at exit unless a successor took it.
    std::string unix_path;
    std::string where() const { return unix_path.empty() ? address.to_string() : unix_path; }
};

// The UDP path (udp/udp_datagram.h, udp/udp_relay.h): mmproxy's datagrams with a PROXY v2 header on the
// listener's addresses, a flow per client, replies back to the sender from the listening socket; or (tproxy)
// TPROXY'd datagrams, a flow per (client, original destination) from the client's own address, replies to the
// client from the original destination's address.
struct UdpServiceConfig {
    bool tproxy = false;  // transparent listening sockets with IP_RECVORIGDSTADDR; `targets` unused
    size_t max_flows = 0;  // per loop; at the cap a new flow evicts the least recently used one. 0: no cap
    udp::Targets targets;
    uint32_t mark = 0;              // SO_MARK on the flows' sockets when non-zero
    uint64_t close_after_ms = 60000;  // a flow without traffic either way for this long is closed; 0: never
    const subnets::SubnetList* allowed = nullptr;
    int verbose = 0;  // -v: 1 logs dropped datagrams, 2 flows opening and closing
};

// One listener: where it listens and the combination its connections are, inbound x outbound x relay, with its
// deadlines and the observer that hears its events. Immutable while it runs: Service::update() replaces it with a
// new one, and connections accepted before keep the one they started with (they hold a shared_ptr to it).
struct ListenerConfig {
    std::string name;  // `ferry run`'s [listener NAME] (Service::update matches listeners by it); empty in the modes
    std::vector<SocketAddress> listen;
    ListenOptions listen_options;
    size_t sockets_per_address = 1;  // SO_REUSEPORT sockets per address (at least one per loop)
    const Inbound* inbound = nullptr;
    const Outbound* outbound = nullptr;
    const subnets::SubnetList* allowed = nullptr;  // null or empty: every origin allowed
    uint64_t header_timeout_ms = 5000;
    uint64_t connect_timeout_ms = 10000;  // per attempt, unless the outbound sets the attempt's own
    uint64_t idle_timeout_ms = 0;         // 0: none
    uint64_t halfclose_timeout_ms = 0;    // once one direction is done: close after this long without traffic
    RelayMode relay_mode = RelayMode::Splice;
    // Interceptors (tproxy mode): the directions they want are copied through them, the others spliced.
    const InterceptorSet* interceptors = nullptr;
    // Hears every connection's events (log lines, counters); null: nobody (SilentObserver).
    const ConnectionObserver* observer = nullptr;
    // Set: the destination's name is read from the client's first bytes once the inbound knows the destination's
    // address (moproxy's --remote-dns; engine/sniff.h).
    std::optional<SniffConfig> sniff;
    // UDP on the same addresses (mmproxy -p udp / all): PROXY v2 datagrams, a flow per client; null: none.
    const UdpServiceConfig* udp = nullptr;
    bool tcp = true;  // false: UDP only
    // Owns what the pointers above point into when they are not the front end's own locals (a reload's new
    // objects): kept alive as long as a connection of this listener is.
    std::shared_ptr<const void> parts;
};

// Zero-downtime restarts (engine/takeover.h).
struct TakeoverConfig {
    std::string path;  // the takeover socket ("@name": abstract); empty: none
    // After a successor took over: how long the connections this process still carries may take to finish
    // before they are closed.
    uint64_t drain_timeout_ms = 30000;
    // The front end's state for a successor (moproxy's server statistics, mmproxy's routing), as text; called on
    // the main thread when a successor asks. Unset: none.
    std::function<std::string()> save_state;
    // Given the predecessor's state, before anything is bound (not called when there was no predecessor).
    std::function<void(std::string_view)> restore_state;
};

struct ServiceConfig {
    std::vector<std::shared_ptr<const ListenerConfig>> listeners;
    size_t threads = 0;  // 0: one loop per CPU in our affinity mask
    std::vector<ExtraListener> extra_listeners;  // one socket each, on the first loop
    // Called on the main thread for SIGHUP; when unset SIGHUP keeps its default action.
    std::function<void()> on_reload;
    OverloadConfig overload;  // engine/admission.h: the connection limits of the whole service
    // Counts every listener's connections, UDP flows and accept pauses (engine/metrics.h) when set: the stats
    // listener's /metrics and /status read it. Null: nothing counted.
    metrics::Registry* metrics = nullptr;
    TakeoverConfig takeover;
    // Other threads' loops the systemd watchdog must see progress from besides the service's own (the prober's),
    // by name ("ferry-prober"); each must run until Service::run returns.
    std::vector<std::pair<std::string, EventLoop*>> watched_loops;
    // Whom to become once every listener is bound (-user and its config keys): run() drops to it on the main
    // thread before on_ready and before any loop thread starts (support/privileges.h); a failure ends run()
    // with 1.
    std::optional<privileges::DropTarget> drop_to;
};

// How long a listener rests after accept() failed for lack of fds or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) before trying again: long enough not to spin, short enough that recovery is prompt (nginx uses
// 500 ms for the same purpose).
inline constexpr uint64_t kAcceptPauseMs = 500;

// Blocks SIGINT and SIGTERM (and SIGHUP with `with_reload`) in the calling thread (threads started later inherit
// it; run_service takes them with sigwait) and ignores SIGPIPE. A mode calls it before changing anything it must undo at exit (routing),
// so a signal in between cannot kill the process and leave the change behind. Returns the blocked set.
sigset_t block_shutdown_signals(bool with_reload = false);

// The number of CPUs this process may run on (sched_getaffinity), at least 1.
size_t available_cpus();

class Worker;
class ServiceNotify;

// The running service: the loops, their listeners and connections.
class Service {
public:
    explicit Service(ServiceConfig config);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    // Binds every listening socket (failing before anything runs), starts the loops, waits for SIGINT or
    // SIGTERM (calling config.on_reload for SIGHUP), stops them and returns 0; `on_ready` runs once all
    // listeners are bound (and privileges dropped, with config.drop_to). Returns 1 after logging the error when a
    // listener cannot be bound or the privileges cannot be dropped.
    // Sockets passed by systemd (LISTEN_FDS) and, with config.takeover.path, those of a running ferry there are
    // used before anything is bound fresh. With a takeover path it also serves a successor: once one commits,
    // it stops accepting, lets its connections finish within the drain deadline and returns 0.
    // Under systemd ($NOTIFY_SOCKET) it notifies READY=1 once the loops run, RELOADING=1/READY=1 around
    // on_reload, STOPPING=1 at the signal, STATUS= and the watchdog (engine/service_notify.h).
    int run(const std::function<void()>& on_ready = {});
    // After run(): whether a successor took over (the front end then leaves shared state, such as policy
    // routing, in place for it).
    bool handed_over() const { return handed_over_; }

    // From the main thread while running (in on_reload): the listeners become `next`. A listener whose name and
    // addresses are unchanged keeps its sockets and takes the new combination for the connections it accepts
    // from now on; one whose addresses changed, or a new one, is bound first (a bind failure keeps the old one
    // and is returned as an error); one that is gone stops accepting. Connections already accepted are not
    // touched. Returns the errors (empty: all applied).
    std::vector<std::string> update(std::vector<std::shared_ptr<const ListenerConfig>> next);
    // Before run(): what SIGHUP does (a front end whose reload needs the Service itself).
    void set_on_reload(std::function<void()> fn) { config_.on_reload = std::move(fn); }

private:
    struct Bound;
    // A listening socket as a successor would receive it: our own duplicate of it, and what it serves.
    struct Registered {
        Fd fd;
        SocketKind kind = SocketKind::Tcp;
        SocketAddress address;
        std::string name;
        const ListenerConfig* owner = nullptr;  // null for the extra listeners
        std::string path;                       // SocketKind::Unix
    };
    // A Unix socket file this process serves, removed at exit (when it is still the same file) unless handed over.
    struct UnixFile {
        std::string path;
        dev_t device = 0;
        ino_t inode = 0;
    };
    Fd open_extra(const ExtraListener& extra, std::string* error);
    void remove_unix_files();
    Fd open_listening(SocketKind kind, const SocketAddress& address, const ListenOptions& options,
                      int share_with, std::string* error);
    void remember(int fd, SocketKind kind, const SocketAddress& address, const std::string& name,
                  const ListenerConfig* owner, const std::string& path = {});
    bool take_over(std::string* error);
    // The main thread's wait: signals, the takeover socket, the drain, and the systemd notifications.
    int wait_for_signals(sigset_t signals, ServiceNotify& notify);
    void serve_successor();
    void hand_over();
    bool bind_listener(const std::shared_ptr<const ListenerConfig>& config, std::vector<Bound>& out,
                       std::string* error);
    void attach(std::vector<Bound>& bound);
    std::string status_line(const std::string& stuck) const;  // STATUS= for systemd

    ServiceConfig config_;
    std::unique_ptr<Admission> admission_;
    std::vector<std::unique_ptr<Worker>> workers_;
    size_t next_number_ = 0;  // ListenerInfo::number of the next listening socket
    InheritedSockets inherited_;  // from systemd or a predecessor, until bound listeners took them
    std::vector<Registered> registry_;  // with a takeover path only
    std::vector<UnixFile> unix_files_;
    Fd takeover_listener_;              // where a successor finds us
    Fd takeover_predecessor_;           // to the ferry we took over from, until we commit
    Fd successor_;                      // a successor that has our offer, until it commits or gives up
    int64_t successor_pid_ = 0;
    bool handed_over_ = false;
};

// Service(config).run(on_ready): for front ends that never update their listeners.
int run_service(ServiceConfig config, const std::function<void()>& on_ready = {});

}  // namespace ferry
