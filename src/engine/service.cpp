#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "engine/service_notify.h"
#include "engine/takeover.h"
#include "support/version.h"

#include "support/log.h"
#include "support/subnets.h"
#include "udp/udp_relay.h"
#include "engine/worker.h"

namespace ferry {
namespace {

// Idle empty pipes each loop keeps for reuse. Pipes are only held while bytes wait, so even a busy loop needs
// few (HAProxy found about 0.2 per connection); the rest are closed to give their fds back.
constexpr size_t kIdlePipesPerLoop = 64;
// Pipe capacity (F_SETPIPE_SZ). A splice moves at most a pipe-full, so a bigger pipe means fewer syscalls per
// byte: on the stream and bulk workloads 256 KiB cut ferry's CPU per GB relayed from about 0.43 to 0.33 s
// against the default 64 KiB, and 1 MiB bought nothing more (bench/, 2026-11-21). Pages are taken only while
// bytes wait; above the per-user pipe limits the kernel refuses and the pipe keeps its default size.
constexpr int kPipeSize = 256 * 1024;
// Accepts per readable edge before the listener lets the loop serve other sockets; it re-drives itself after
// the batch so no edge is lost.
constexpr int kAcceptBatch = 64;
// How long a loop rests its listeners at the connection limit when none of its connections is still in its
// handshake (all are carrying traffic): short, because connections end all the time and the kernel's backlog
// holds the newcomers meanwhile.
constexpr uint64_t kLimitPauseMs = 100;
// The limiter key of the "connection limit reached" lines (source keys are never 0 for a real address).
constexpr uint64_t kLimitLogKey = 0;
constexpr uint64_t kPauseLogKey = 1;

bool is_resource_shortage(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

}  // namespace

sigset_t block_shutdown_signals(bool with_reload) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (with_reload) sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return signals;
}

size_t available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == -1) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? static_cast<size_t>(n) : 1;
}

// ---------------------------------------------------------------------------------------------- Listener

Listener::Listener(Worker& worker, Fd fd, std::shared_ptr<const ListenerContext> context)
    : worker_(worker), fd_(std::move(fd)), info_(context->info), context_(std::move(context)) {}

Listener::Listener(Worker& worker, Fd fd, ListenerInfo info, const AcceptHandler* handler)
    : worker_(worker), fd_(std::move(fd)), info_(std::move(info)), handler_(handler) {}

Listener::~Listener() { close(); }

void Listener::close() {
    if (closed_) return;
    closed_ = true;
    pause_.cancel();
    if (fd_) worker_.loop().remove(fd_.get());
    fd_.reset();
}

bool Listener::start() { return worker_.loop().add(fd_.get(), this, EPOLLIN); }

void Listener::on_io(uint32_t) {
    if (!paused_) accept_batch();
}

void Listener::on_timer() {
    paused_ = false;
    accept_batch();
}


void Listener::pause(int err, const char* during) {
    if (paused_) return;
    if (context_ && context_->metrics) context_->metrics->paused(false);
    // One pair of lines per episode: the first failure and the pause; "listener resumed" ends the episode.
    if (pauses_++ == 0 || !is_resource_shortage(err)) {
        FERRY_LOG(Error, "failed to accept new connection")
            .num("listenerNum", static_cast<int64_t>(info_.number))
            .str("protocol", "tcp")
            .str("listenAdr", info_.address_text)
            .str("error", std::string(during) + ": " + errno_text(err));
        FERRY_LOG(Warn, "pausing listener")
            .num("listenerNum", static_cast<int64_t>(info_.number))
            .str("listenAdr", info_.address_text)
            .num("pauseMs", static_cast<int64_t>(kAcceptPauseMs));
    }
    paused_ = true;
    worker_.loop().deadlines(kAcceptPauseMs).arm(pause_, worker_.loop().now_ms());
}

void Listener::pause_at_limit(uint64_t live, uint64_t limit) {
    if (paused_) return;
    if (context_ && context_->metrics) context_->metrics->paused(true);
    // Episodes can follow each other every 100 ms under a steady load at the limit: one line per interval.
    uint64_t not_logged = 0;
    Admission* a = worker_.admission();
    if (pauses_ == 0 && (!a || a->log_limiter().allow(kPauseLogKey, worker_.loop().now_ms(), &not_logged))) {
        ++pauses_;
        FERRY_LOG(Warn, "pausing listener")
            .num("listenerNum", static_cast<int64_t>(info_.number))
            .str("listenAdr", info_.address_text)
            .num("pauseMs", static_cast<int64_t>(kLimitPauseMs))
            .str("reason", "connection limit reached, every connection past its handshake")
            .num("connections", static_cast<int64_t>(live))
            .num("limit", static_cast<int64_t>(limit))
            .num("notLogged", static_cast<int64_t>(not_logged));
    }
    paused_ = true;
    worker_.loop().deadlines(kLimitPauseMs).arm(pause_, worker_.loop().now_ms());
}

void Listener::accept_batch() {
    if (closed_) return;
    for (int i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = ::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            int err = errno;
            if (err == EAGAIN) return;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
            // Out of fds or memory (or anything unexpected): rest, then try again. Never spin, never exit.
            pause(err, "accept4");
            return;
        }
        if (pauses_ > 0) {
            FERRY_LOG(Info, "listener resumed")
                .num("listenerNum", static_cast<int64_t>(info_.number))
                .str("listenAdr", info_.address_text)
                .num("pauses", static_cast<int64_t>(pauses_));
            pauses_ = 0;
        }
        auto peer = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).unmapped();
        if (handler_)
            handler_->on_accept(worker_.loop(), Fd(fd), peer);
        else
            worker_.on_accepted(*this, Fd(fd), peer);
    }
    // Budget used up with connections possibly still queued: continue after this batch of events.
    worker_.loop().later([this] {
        if (!paused_) accept_batch();
    });
}

// ---------------------------------------------------------------------------------------------- Worker

Worker::Worker(size_t index) : index_(index), pipes_(kIdlePipesPerLoop, kPipeSize), scratch_(kScratchBytes) {}

Worker::~Worker() {
    close_all();
    udp_listeners_.clear();
}

bool Worker::add_udp_listener(Fd fd, const UdpServiceConfig& config, const SocketAddress& address,
                              metrics::ListenerMetrics* metrics) {
    udp_listeners_.push_back(std::make_unique<UdpListener>(*this, config, std::move(fd), address, metrics));
    return udp_listeners_.back()->start();
}

void Worker::add_listener(Fd fd, std::shared_ptr<const ListenerContext> context) {
    listeners_.push_back(std::make_unique<Listener>(*this, std::move(fd), std::move(context)));
    listeners_.back()->start();
}

void Worker::add_extra_listener(Fd fd, ListenerInfo info, const AcceptHandler* handler) {
    listeners_.push_back(std::make_unique<Listener>(*this, std::move(fd), std::move(info), handler));
    listeners_.back()->start();
}

void Worker::retarget(const ListenerConfig* old, const std::shared_ptr<const ListenerConfig>& next,
                      const ConnectionObserver* observer) {
    for (auto& l : listeners_) {
        if (l->serves() != old) continue;
        auto context = std::make_shared<ListenerContext>();
        context->info = l->info();
        context->info.name = next->name;
        context->config = next;
        context->observer = observer;
        meter_context(*context, metrics_);
        l->set_context(std::move(context));
    }
}

void Worker::remove_listeners_of(const ListenerConfig* old) {
    for (auto& l : listeners_) {
        if (!l || l->serves() != old) continue;
        // Events of this batch may still name it: destroyed at the end of the next one.
        struct Grave final : Deferred {
            std::unique_ptr<Listener> listener;
        };
        l->close();
        auto grave = std::make_unique<Grave>();
        grave->listener = std::move(l);
        loop_.destroy_later(std::move(grave));
    }
    std::erase(listeners_, nullptr);
}

void Worker::stop_accepting() {
    // Events of this batch may still name them: destroyed at the end of the next one.
    struct Grave final : Deferred {
        std::vector<std::unique_ptr<Listener>> listeners;
        std::vector<std::unique_ptr<UdpListener>> udp;
    };
    auto grave = std::make_unique<Grave>();
    for (auto& l : listeners_) l->close();
    for (auto& u : udp_listeners_) u->stop();
    grave->listeners = std::move(listeners_);
    grave->udp = std::move(udp_listeners_);
    listeners_.clear();
    udp_listeners_.clear();
    loop_.destroy_later(std::move(grave));
}

void Worker::on_accepted(Listener& listener, Fd fd, const SocketAddress& peer) {
    const std::shared_ptr<const ListenerContext>& context = listener.context();
    if (const subnets::SubnetList* allowed = context->config->allowed; allowed && !allowed->contains(peer)) {
        context->observer->origin_refused(context->info, peer, fd.get());
        return;
    }
    AdmissionTicket ticket;
    if (admission_) {
        if (const Refusal why = admission_->admit(peer, ticket); why != Refusal::None) {
            set_reset_on_close(fd.get());  // no TIME_WAIT left behind for an attacker's connections
            refuse(*context, peer, why);
            return;
        }
        if (admission_->over_limit()) make_room();
    }
    auto* c = new Connection(*this, context, std::move(fd), peer, ticket);
    c->next = connections_;
    if (connections_) connections_->prev = c;
    connections_ = c;
    c->start();
}

void Worker::refuse(const ListenerContext& context, const SocketAddress& peer, Refusal why) {
    if (context.metrics) {  // every refusal, not only the logged ones
        context.metrics->accepted();
        context.metrics->failed(metrics::Failure::OverloadRefused, true);
    }
    uint64_t not_logged = 0;
    if (!admission_->log_limiter().allow(admission_->key(peer), loop_.now_ms(), &not_logged)) return;
    const OverloadConfig& c = admission_->config();
    const std::string reason =
        why == Refusal::SourceHandshakes
            ? "more than " + std::to_string(c.max_handshakes_per_source) + " of its connections in their handshake"
            : "more than " + std::to_string(c.max_connections_per_source) + " connections from this source";
    context.observer->overload_refused(context.info, peer, reason, not_logged);
}

void Worker::make_room() {
    Admission& a = *admission_;
    if (Connection* oldest = handshakes_oldest_) {
        a.counters.evicted.fetch_add(1, std::memory_order_relaxed);
        if (uint64_t not_logged = 0; a.log_limiter().allow(kLimitLogKey, loop_.now_ms(), &not_logged)) {
            FERRY_LOG(Warn, "connection limit reached, closing the oldest connections still in their handshake")
                .num("connections", static_cast<int64_t>(a.live()))
                .num("limit", static_cast<int64_t>(a.max_connections()))
                .num("closedSoFar", static_cast<int64_t>(a.counters.evicted.load(std::memory_order_relaxed)))
                .num("notLogged", static_cast<int64_t>(not_logged));
        }
        oldest->evict("closed to make room: " + std::to_string(a.live()) + " connections, the limit is " +
                      std::to_string(a.max_connections()) + ", and this was the oldest still in its handshake (" +
                      std::to_string(loop_.now_ms() - oldest->started_ms()) + " ms)");
        return;
    }
    a.counters.paused.fetch_add(1, std::memory_order_relaxed);
    for (auto& l : listeners_)
        if (!l->extra()) l->pause_at_limit(a.live(), a.max_connections());
}

void Worker::handshake_started(Connection& c) {
    c.handshake_prev = handshakes_newest_;
    c.handshake_next = nullptr;
    if (handshakes_newest_)
        handshakes_newest_->handshake_next = &c;
    else
        handshakes_oldest_ = &c;
    handshakes_newest_ = &c;
    c.in_handshake_list = true;
}

void Worker::handshake_finished(Connection& c) {
    if (!c.in_handshake_list) return;
    if (c.handshake_prev)
        c.handshake_prev->handshake_next = c.handshake_next;
    else
        handshakes_oldest_ = c.handshake_next;
    if (c.handshake_next)
        c.handshake_next->handshake_prev = c.handshake_prev;
    else
        handshakes_newest_ = c.handshake_prev;
    c.handshake_prev = c.handshake_next = nullptr;
    c.in_handshake_list = false;
}

void Worker::pause_listeners(int err) {
    for (auto& l : listeners_)
        if (!l->extra()) l->pause(err, "socket");
}

void Worker::unlink(Connection& c) {
    if (c.prev) c.prev->next = c.next; else connections_ = c.next;
    if (c.next) c.next->prev = c.prev;
    c.prev = c.next = nullptr;
}

void Worker::close_all() {
    while (connections_) {
        Connection* c = connections_;
        unlink(*c);
        c->close_now();
        delete c;
    }
}

void Worker::run() { loop_.run(); }

// ---------------------------------------------------------------------------------------------- Service

namespace {

// Raises the soft fd limit to the hard one; returns the limit now in force.
uint64_t raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : static_cast<uint64_t>(rl.rlim_cur);
}

const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        default: return "signal";
    }
}

const SilentObserver kSilent;

}  // namespace

void meter_context(ListenerContext& context, metrics::Registry* registry) {
    if (!registry) return;
    context.metrics = &registry->listener(context.info.name, context.info.address_text, metrics::Protocol::Tcp);
    auto metered = std::make_shared<metrics::MeteredObserver>(*context.observer, *context.metrics);
    context.observer = metered.get();
    context.metered = std::move(metered);
}

std::string Service::status_line(const std::string& stuck) const {
    std::vector<std::string> addresses;
    for (const auto& l : config_.listeners)
        for (const auto& a : l->listen) addresses.push_back(a.to_string());
    for (const auto& e : config_.extra_listeners) addresses.push_back(e.name + " " + e.where());
    return service_status(admission_ ? admission_->live() : 0, addresses, stuck);
}

void ConnectionObserver::listening(const ListenerInfo& l) const {
    FERRY_LOG(Info, "listening")
        .num("listenerNum", static_cast<int64_t>(l.number))
        .str("protocol", "tcp")
        .str("listenAdr", l.address_text);
}
void ConnectionObserver::origin_refused(const ListenerInfo&, const SocketAddress&, int) const {}
void ConnectionObserver::overload_refused(const ListenerInfo& l, const SocketAddress& peer, std::string_view reason,
                                          uint64_t not_logged) const {
    FERRY_LOG(Warn, "connection refused")
        .num("listenerNum", static_cast<int64_t>(l.number))
        .str("listenAdr", l.address_text)
        .str("remoteAddr", peer.to_string())
        .str("reason", reason)
        .num("notLogged", static_cast<int64_t>(not_logged));
}
void ConnectionObserver::accepted(const ConnectionView&) const {}
void ConnectionObserver::named(const ConnectionView&, std::string_view) const {}
void ConnectionObserver::dialing(const ConnectionView&) const {}
void ConnectionObserver::attempt_started(const ConnectionView&, const Attempt&, size_t) const {}
void ConnectionObserver::attempt_failed(const ConnectionView&, const Attempt&, std::string_view,
                                        std::optional<Fault>) const {}
void ConnectionObserver::established(const ConnectionView&, const Attempt&) const {}
void ConnectionObserver::failed(const ConnectionView&, Stage, std::string_view, std::string_view) const {}
void ConnectionObserver::closed(const ConnectionView&, const Attempt&, const CloseInfo&) const {}

// A listener's sockets, bound but not yet handed to the loops: one context and one socket per loop (or more)
// and address.
struct Service::Bound {
    std::shared_ptr<const ListenerConfig> config;
    struct Socket {
        Fd fd;
        std::shared_ptr<const ListenerContext> context;
        size_t worker = 0;
    };
    std::vector<Socket> sockets;
    struct Udp {
        Fd fd;
        SocketAddress address;
        size_t worker = 0;
        metrics::ListenerMetrics* metrics = nullptr;
    };
    std::vector<Udp> udp;
};

Service::Service(ServiceConfig config) : config_(std::move(config)) {}

Service::~Service() {
    if (!handed_over_) remove_unix_files();  // also after a start that failed half-way
}

bool Service::bind_listener(const std::shared_ptr<const ListenerConfig>& config, std::vector<Bound>& out,
                            std::string* error) {
    const size_t threads = workers_.size();
    const ConnectionObserver* observer = config->observer ? config->observer : &kSilent;
    Bound bound;
    bound.config = config;
    size_t number = next_number_;
    if (config->tcp) {
        for (const auto& address : config->listen) {
            // Every inherited socket is served, even more of them than we would bind ourselves.
            const size_t sockets = std::max({config->sockets_per_address, threads,
                                             inherited_.count(SocketKind::Tcp, address)});
            int first = -1;
            for (size_t i = 0; i < sockets; ++i, ++number) {
                std::string why;
                Fd fd = open_listening(SocketKind::Tcp, address, config->listen_options, first, &why);
                if (!fd) {
                    FERRY_LOG(Error, "failed to bind listener")
                        .num("listenerNum", static_cast<int64_t>(number))
                        .str("protocol", "tcp")
                        .str("listenAdr", address.to_string())
                        .str("error", why);
                    *error = "listen tcp " + address.to_string() + ": " + why;
                    return false;
                }
                if (first == -1) first = fd.get();
                remember(fd.get(), SocketKind::Tcp, address, config->name, config.get());
                auto context = std::make_shared<ListenerContext>();
                context->info.number = number;
                context->info.address = address;
                context->info.address_text = address.to_string();
                context->info.name = config->name;
                context->info.socket = i;
                context->config = config;
                context->observer = observer;
                meter_context(*context, config_.metrics);
                observer->listening(context->info);
                bound.sockets.push_back({std::move(fd), std::move(context), i % threads});
            }
        }
    }
    if (config->udp) {
        // A socket per loop. A datagram's flow is chosen by the client address in its PROXY header, which
        // SO_REUSEPORT's 4-tuple hash cannot see (one client's datagrams from several sender ports would get a
        // flow on each loop: two sockets with one 4-tuple, replies to the wrong one), so a BPF program steers
        // by that address; where it cannot be attached, one socket on the first loop.
        for (const auto& address : config->listen) {
            // Inherited sockets come with their steering program already attached to their group: exactly
            // those are served.
            const size_t inherited = inherited_.count(SocketKind::Udp, address);
            size_t sockets = inherited ? inherited : threads;
            for (size_t i = 0; i < sockets; ++i) {
                std::string why;
                Fd fd = inherited ? inherited_.take(SocketKind::Udp, address)
                                  : listen_udp(address, &why, config->udp->tproxy);
                if (!fd) {
                    FERRY_LOG(Error, "failed to bind listener")
                        .str("protocol", "udp")
                        .str("listenAdr", address.to_string())
                        .str("error", why);
                    *error = "listen udp " + address.to_string() + ": " + why;
                    return false;
                }
                remember(fd.get(), SocketKind::Udp, address, config->name, config.get());
                // TPROXY: the kernel's 4-tuple hash is (client, original destination), the flow key itself.
                if (i == 0 && sockets > 1 && !inherited && !config->udp->tproxy) {
                    if (int e = steer_udp_by_client(fd.get(), static_cast<unsigned>(sockets))) {
                        FERRY_LOG(Warn, "UDP on one event loop")
                            .str("listenAdr", address.to_string())
                            .str("error", "SO_ATTACH_REUSEPORT_CBPF: " + errno_text(e));
                        sockets = 1;
                    }
                }
                if (i == 0) {
                    FERRY_LOG(Info, "listening").str("protocol", "udp").str("listenAdr", address.to_string());
                }
                metrics::ListenerMetrics* counters =
                    config_.metrics ? &config_.metrics->listener(config->name, address.to_string(),
                                                                 metrics::Protocol::Udp)
                                    : nullptr;
                bound.udp.push_back({std::move(fd), address, i % threads, counters});
            }
        }
    }
    next_number_ = number;
    out.push_back(std::move(bound));
    return true;
}

// Hands bound sockets to their loops, through each loop's queue (before the loops run, it is the first thing
// each one does).
void Service::attach(std::vector<Bound>& bound) {
    for (Bound& b : bound) {
        for (auto& s : b.sockets) {
            Worker& w = *workers_[s.worker];
            w.loop().post([&w, fd = std::make_shared<Fd>(std::move(s.fd)), context = s.context]() mutable {
                w.add_listener(std::move(*fd), std::move(context));
            });
        }
        for (auto& u : b.udp) {
            Worker& w = *workers_[u.worker];
            w.loop().post([&w, fd = std::make_shared<Fd>(std::move(u.fd)), config = b.config, address = u.address,
                           counters = u.metrics] {
                if (!w.add_udp_listener(std::move(*fd), *config->udp, address, counters)) {
                    FERRY_LOG(Error, "failed to start UDP listener")
                        .str("listenAdr", address.to_string())
                        .str("error", errno_text(errno));
                }
            });
        }
    }
}

Fd Service::open_extra(const ExtraListener& extra, std::string* error) {
    if (extra.unix_path.empty()) {
        ListenOptions options;
        options.backlog = 128;
        Fd fd = open_listening(SocketKind::Tcp, extra.address, options, -1, error);
        if (fd) remember(fd.get(), SocketKind::Tcp, extra.address, extra.name, nullptr);
        return fd;
    }
    const std::string& path = extra.unix_path;
    Fd fd = inherited_.take_path(SocketKind::Unix, path);
    if (!fd) {
        fd = listen_unix(path, SOCK_STREAM, false, 128, error);
        if (!fd) return fd;
        // Bound as root, served after the drop: the user we become owns it, as moproxy's own user would.
        if (config_.drop_to && ::chown(path.c_str(), config_.drop_to->identity.uid, config_.drop_to->identity.gid)) {
            FERRY_LOG(Warn, "could not give the socket file to the user").str("listenAdr", path)
                .str("error", "chown: " + errno_text(errno));
        }
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) unix_files_.push_back({path, st.st_dev, st.st_ino});
    remember(fd.get(), SocketKind::Unix, {}, extra.name, nullptr, path);
    return fd;
}

void Service::remove_unix_files() {
    for (const UnixFile& f : unix_files_) {
        struct stat st;
        // Only our own file: not one another process put there since.
        if (::stat(f.path.c_str(), &st) != 0 || st.st_dev != f.device || st.st_ino != f.inode) continue;
        if (::unlink(f.path.c_str()) == -1) {
            FERRY_LOG(Warn, "could not remove the socket file").str("listenAdr", f.path)
                .str("error", "unlink: " + errno_text(errno));
        }
    }
    unix_files_.clear();
}

Fd Service::open_listening(SocketKind kind, const SocketAddress& address, const ListenOptions& options,
                           int share_with, std::string* error) {
    if (Fd fd = inherited_.take(kind, address)) {
        if (kind == SocketKind::Tcp) adopt_listener(fd.get(), options);
        return fd;
    }
    Fd fd = kind == SocketKind::Tcp ? listen_tcp(address, options, error) : listen_udp(address, error);
    if (!fd && share_with != -1) {
        // An inherited socket without SO_REUSEPORT (systemd's, unless ReusePort=yes) holds the address: the
        // other loops watch that same socket.
        fd.reset(::fcntl(share_with, F_DUPFD_CLOEXEC, 0));
        if (!fd) *error = "dup: " + errno_text(errno);
    }
    return fd;
}

void Service::remember(int fd, SocketKind kind, const SocketAddress& address, const std::string& name,
                       const ListenerConfig* owner, const std::string& path) {
    if (config_.takeover.path.empty()) return;
    Registered r;
    r.fd.reset(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!r.fd) {
        FERRY_LOG(Warn, "a successor will not get this socket")
            .str("listenAdr", path.empty() ? address.to_string() : path)
            .str("error", "dup: " + errno_text(errno));
        return;
    }
    r.kind = kind;
    r.address = address;
    r.name = name;
    r.owner = owner;
    r.path = path;
    registry_.push_back(std::move(r));
}

bool Service::take_over(std::string* error) {
    std::vector<std::string> notes;
    inherited_.adopt_systemd(&notes, error);
    for (const auto& note : notes) FERRY_LOG(Warn, "socket from systemd not used").str("note", note);
    if (!error->empty()) return false;
    if (!inherited_.empty()) {
        FERRY_LOG(Info, "using sockets from systemd");
    }
    const TakeoverConfig& t = config_.takeover;
    if (t.path.empty()) return true;
    takeover::Received received;
    switch (takeover::request(t.path, &received, error)) {
        case takeover::RequestResult::NoIncumbent: return true;
        case takeover::RequestResult::Failed: *error = "taking over from " + t.path + ": " + *error; return false;
        case takeover::RequestResult::Received: break;
    }
    FERRY_LOG(Info, "taking over")
        .str("takeoverSocket", t.path)
        .num("fromPid", received.manifest.pid)
        .str("fromVersion", received.manifest.version)
        .num("sockets", static_cast<int64_t>(received.sockets.size()));
    for (auto& socket : received.sockets) inherited_.add(std::move(socket));
    if (t.restore_state && !received.manifest.state.empty()) t.restore_state(received.manifest.state);
    takeover_predecessor_ = std::move(received.connection);
    return true;
}

int Service::run(const std::function<void()>& on_ready) {
    const uint64_t nofile = raise_fd_limit();
    admission_ = std::make_unique<Admission>(config_.overload, nofile);
    FERRY_LOG(Debug, "connection limit")
        .num("maxConnections", static_cast<int64_t>(admission_->max_connections()))
        .num("openFileLimit", static_cast<int64_t>(nofile));
    const size_t threads = config_.threads ? config_.threads : available_cpus();

    sigset_t signals = block_shutdown_signals(static_cast<bool>(config_.on_reload));

    for (size_t i = 0; i < threads; ++i) {
        workers_.push_back(std::make_unique<Worker>(i));
        workers_.back()->set_admission(admission_.get());
        workers_.back()->set_metrics(config_.metrics);
        if (!workers_.back()->loop().ok()) {
            FERRY_LOG(Fatal, "failed to create event loop").str("error", errno_text(errno));
            return 1;
        }
    }
    if (std::string error; !take_over(&error)) {
        FERRY_LOG(Fatal, "failed to take over").str("error", error);
        return 1;
    }
    // Bind everything before anything runs: a bad address fails the start, not a thread later.
    std::vector<Bound> bound;
    for (const auto& listener : config_.listeners) {
        std::string error;
        if (!bind_listener(listener, bound, &error)) return 1;
    }
    for (const auto& extra : config_.extra_listeners) {
        std::string error;
        Fd fd = open_extra(extra, &error);
        if (!fd) {
            FERRY_LOG(Error, "failed to bind listener")
                .str("listener", extra.name)
                .str("listenAdr", extra.where())
                .str("error", error);
            return 1;
        }
        FERRY_LOG(Info, "listening").str("listener", extra.name).str("listenAdr", extra.where());
        ListenerInfo info;
        info.number = next_number_++;
        info.address = extra.address;
        info.address_text = extra.where();
        info.name = extra.name;
        workers_[0]->add_extra_listener(std::move(fd), std::move(info), extra.handler);
    }
    if (const std::string& path = config_.takeover.path; !path.empty()) {
        takeover_listener_ = inherited_.take_takeover(path);
        std::string error;
        if (!takeover_listener_) takeover_listener_ = takeover::listen(path, &error);
        if (!takeover_listener_) {
            FERRY_LOG(Error, "failed to listen for a successor").str("takeoverSocket", path).str("error", error);
            return 1;
        }
    }
    for (auto& unused : inherited_.release_rest()) {
        // The predecessor left this file to us, and we do not serve it: nobody else will remove it.
        if (unused.kind == SocketKind::Unix) ::unlink(unused.path.c_str());
        FERRY_LOG(Info, "inherited socket not used, closed")
            .str("protocol", std::string(socket_kind_name(unused.kind)))
            .str("listenAdr", unused.path.empty() ? unused.address.to_string() : unused.path);
    }
    // Bound (and the takeover socket made), so the privileges that binding took can go; before on_ready and the
    // threads, which would keep them.
    if (config_.drop_to && !privileges::drop_and_log(*config_.drop_to)) return 1;
    attach(bound);  // runs first thing on each loop
    if (on_ready) on_ready();

    ServiceNotify notify = ServiceNotify::from_environment();
    std::vector<std::thread> loop_threads;
    for (auto& w : workers_) {
        std::string name = "ferry-loop-" + std::to_string(w->index());
        notify.watch(name, w->loop());
        loop_threads.emplace_back([&w, name] {
            pthread_setname_np(pthread_self(), name.c_str());
            w->run();
        });
    }
    for (const auto& [name, loop] : config_.watched_loops) notify.watch(name, *loop);
    notify.started(monotonic_us());

    if (takeover_predecessor_) {
        // Our loops accept on every socket now: the predecessor may stop.
        std::string error;
        if (takeover::commit(takeover_predecessor_, &error)) {
            FERRY_LOG(Info, "took over, the predecessor stopped accepting");
        } else {
            FERRY_LOG(Warn, "took over, but the predecessor did not confirm").str("error", error);
        }
    }
    const int sig = wait_for_signals(signals, notify);
    if (sig != 0) {
        FERRY_LOG(Info, "received shutdown signal, closing").str("signal", signal_name(sig));
        notify.stopping("stopping: " + status_line({}));
    }
    for (auto& w : workers_) w->loop().stop();
    for (auto& t : loop_threads) t.join();
    workers_.clear();
    if (!handed_over_ && !config_.takeover.path.empty() && config_.takeover.path[0] != '@')
        ::unlink(config_.takeover.path.c_str());  // a successor found nobody there anyway
    if (!handed_over_) remove_unix_files();  // a successor serves them on
    return 0;
}

int Service::wait_for_signals(sigset_t signals, ServiceNotify& notify) {
    Fd sigfd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
    uint64_t drain_deadline = 0;  // while draining: when the rest is closed (monotonic ms)
    auto status = [this](const std::string& stuck) { return status_line(stuck); };
    for (;;) {
        notify.on_time(monotonic_us(), status);  // READY=1, the watchdog and STATUS= when due
        // One successor at a time: the next waits in the takeover socket's backlog.
        pollfd fds[2];
        fds[0] = pollfd{sigfd.get(), POLLIN, 0};
        fds[1] = pollfd{successor_ ? successor_.get() : takeover_listener_.get(), POLLIN, 0};
        const nfds_t n = fds[1].fd == -1 ? 1 : 2;
        int timeout = handed_over_ ? 100 : -1;
        const int notify_ms = notify.wait_ms(monotonic_us());
        if (notify_ms >= 0 && (timeout < 0 || notify_ms < timeout)) timeout = notify_ms;
        if (::poll(fds, n, timeout) == -1 && errno != EINTR) {
            FERRY_LOG(Error, "poll").str("error", errno_text(errno));
            return 0;
        }
        signalfd_siginfo info;
        while (::read(sigfd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            const int sig = static_cast<int>(info.ssi_signo);
            if (sig != SIGHUP) return sig;
            if (handed_over_) {
                FERRY_LOG(Info, "received SIGHUP while draining, ignored");
                continue;
            }
            FERRY_LOG(Info, "received SIGHUP, reloading");
            notify.reloading(monotonic_us());
            config_.on_reload();
            notify.reloaded(status_line({}));
        }
        if (n == 2 && fds[1].revents != 0 && !successor_) {
            serve_successor();
        } else if (n == 2 && fds[1].revents != 0) {
            switch (takeover::read_answer(successor_.get())) {
                case takeover::Answer::Pending: break;
                case takeover::Answer::Abandoned:
                    FERRY_LOG(Warn, "the successor gave up, carrying on").num("successorPid", successor_pid_);
                    successor_.reset();
                    break;
                case takeover::Answer::Commit:
                    hand_over();
                    notify.stopping("handed over to a successor, draining: " + status_line({}));
                    drain_deadline = monotonic_ms() + config_.takeover.drain_timeout_ms;
                    break;
            }
        }
        if (handed_over_) {
            const uint64_t live = admission_->live();
            if (live == 0) {
                FERRY_LOG(Info, "drained, exiting");
                return 0;
            }
            if (monotonic_ms() >= drain_deadline) {
                FERRY_LOG(Warn, "drain deadline reached, closing the remaining connections")
                    .num("connections", static_cast<int64_t>(live))
                    .num("drainTimeoutMs", static_cast<int64_t>(config_.takeover.drain_timeout_ms));
                return 0;
            }
        }
    }
}

void Service::serve_successor() {
    Fd connection(::accept4(takeover_listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) return;
    takeover::Manifest manifest;
    manifest.pid = ::getpid();
    manifest.version = FERRY_VERSION;
    std::vector<int> fds;
    for (const auto& r : registry_) {
        manifest.sockets.push_back({r.kind, r.address, r.name, r.path});
        fds.push_back(r.fd.get());
    }
    manifest.sockets.push_back({SocketKind::Takeover, {}, {}, config_.takeover.path});
    fds.push_back(takeover_listener_.get());
    if (config_.takeover.save_state) manifest.state = config_.takeover.save_state();
    std::string error;
    auto pid = takeover::offer(connection.get(), manifest, fds, &error);
    if (!pid) {
        if (!error.empty()) {
            FERRY_LOG(Warn, "takeover refused").str("error", error);
        }
        return;
    }
    FERRY_LOG(Info, "offered our sockets to a successor")
        .num("successorPid", *pid)
        .num("sockets", static_cast<int64_t>(fds.size()));
    successor_pid_ = *pid;
    successor_ = std::move(connection);
}

void Service::hand_over() {
    // Stop accepting everywhere before confirming: once the successor hears back, it is the only one that
    // accepts, and the only one that listens for the next successor.
    std::mutex mutex;
    std::condition_variable stopped;
    size_t pending = workers_.size();
    for (auto& w : workers_) {
        Worker* worker = w.get();
        worker->loop().post([worker, &mutex, &stopped, &pending] {
            worker->stop_accepting();
            std::lock_guard lock(mutex);
            if (--pending == 0) stopped.notify_one();
        });
    }
    {
        std::unique_lock lock(mutex);
        stopped.wait(lock, [&] { return pending == 0; });
    }
    registry_.clear();
    takeover_listener_.reset();
    takeover::acknowledge(successor_.get());
    successor_.reset();
    handed_over_ = true;
    FERRY_LOG(Info, "handed over to the successor, draining")
        .num("successorPid", successor_pid_)
        .num("connections", static_cast<int64_t>(admission_->live()))
        .num("drainTimeoutMs", static_cast<int64_t>(config_.takeover.drain_timeout_ms));
}

std::vector<std::string> Service::update(std::vector<std::shared_ptr<const ListenerConfig>> next) {
    std::vector<std::string> errors;
    std::vector<std::shared_ptr<const ListenerConfig>> kept;
    std::vector<Bound> bound;
    auto same_sockets = [](const ListenerConfig& a, const ListenerConfig& b) {
        return a.listen == b.listen && a.tcp == b.tcp && (a.udp != nullptr) == (b.udp != nullptr) &&
               a.listen_options.transparent == b.listen_options.transparent &&
               a.sockets_per_address == b.sockets_per_address;
    };
    // The listening sockets of each current listener, by number, and their contexts.
    for (auto& config : next) {
        const ListenerConfig* old = nullptr;
        for (const auto& current : config_.listeners)
            if (current->name == config->name) old = current.get();
        if (old && same_sockets(*old, *config) && !config->udp) {
            for (auto& r : registry_)
                if (r.owner == old) r.owner = config.get();
            // Same sockets, new combination: each loop swaps the context of its sockets.
            const ConnectionObserver* observer = config->observer ? config->observer : &kSilent;
            for (auto& w : workers_) {
                Worker* worker = w.get();
                worker->loop().post([worker, old, config, observer] { worker->retarget(old, config, observer); });
            }
            kept.push_back(config);
            continue;
        }
        std::string error;
        if (!bind_listener(config, bound, &error)) {
            errors.push_back("listener " + config->name + ": " + error);
            if (old) {
                for (const auto& current : config_.listeners)
                    if (current.get() == old) kept.push_back(current);
            }
            continue;
        }
        if (old) {
            std::erase_if(registry_, [old](const Registered& r) { return r.owner == old; });
            for (auto& w : workers_) {
                Worker* worker = w.get();
                worker->loop().post([worker, old] { worker->remove_listeners_of(old); });
            }
        }
        kept.push_back(config);
    }
    // Listeners that are gone stop accepting.
    for (const auto& current : config_.listeners) {
        bool stays = false;
        for (const auto& k : kept) stays = stays || k->name == current->name;
        if (stays) continue;
        const ListenerConfig* old = current.get();
        std::erase_if(registry_, [old](const Registered& r) { return r.owner == old; });
        for (auto& w : workers_) {
            Worker* worker = w.get();
            worker->loop().post([worker, old] { worker->remove_listeners_of(old); });
        }
    }
    attach(bound);
    config_.listeners = std::move(kept);
    return errors;
}

int run_service(ServiceConfig config, const std::function<void()>& on_ready) {
    Service service(std::move(config));
    return service.run(on_ready);
}

}  // namespace ferry
