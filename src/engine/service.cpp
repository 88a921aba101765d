#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

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

bool Worker::add_udp_listener(Fd fd, const UdpServiceConfig& config, const SocketAddress& address) {
    udp_listeners_.push_back(std::make_unique<UdpListener>(*this, config, std::move(fd), address));
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
    };
    std::vector<Udp> udp;
};

Service::Service(ServiceConfig config) : config_(std::move(config)) {}

Service::~Service() = default;

bool Service::bind_listener(const std::shared_ptr<const ListenerConfig>& config, std::vector<Bound>& out,
                            std::string* error) {
    const size_t threads = workers_.size();
    const ConnectionObserver* observer = config->observer ? config->observer : &kSilent;
    Bound bound;
    bound.config = config;
    size_t number = next_number_;
    if (config->tcp) {
        for (const auto& address : config->listen) {
            const size_t sockets = std::max(config->sockets_per_address, threads);
            for (size_t i = 0; i < sockets; ++i, ++number) {
                std::string why;
                Fd fd = listen_tcp(address, config->listen_options, &why);
                if (!fd) {
                    FERRY_LOG(Error, "failed to bind listener")
                        .num("listenerNum", static_cast<int64_t>(number))
                        .str("protocol", "tcp")
                        .str("listenAdr", address.to_string())
                        .str("error", why);
                    *error = "listen tcp " + address.to_string() + ": " + why;
                    return false;
                }
                auto context = std::make_shared<ListenerContext>();
                context->info.number = number;
                context->info.address = address;
                context->info.address_text = address.to_string();
                context->info.name = config->name;
                context->info.socket = i;
                context->config = config;
                context->observer = observer;
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
            size_t sockets = threads;
            for (size_t i = 0; i < sockets; ++i) {
                std::string why;
                Fd fd = listen_udp(address, &why);
                if (!fd) {
                    FERRY_LOG(Error, "failed to bind listener")
                        .str("protocol", "udp")
                        .str("listenAdr", address.to_string())
                        .str("error", why);
                    *error = "listen udp " + address.to_string() + ": " + why;
                    return false;
                }
                if (i == 0 && sockets > 1) {
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
                bound.udp.push_back({std::move(fd), address, i});
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
            w.loop().post([&w, fd = std::make_shared<Fd>(std::move(u.fd)), config = b.config, address = u.address] {
                if (!w.add_udp_listener(std::move(*fd), *config->udp, address)) {
                    FERRY_LOG(Error, "failed to start UDP listener")
                        .str("listenAdr", address.to_string())
                        .str("error", errno_text(errno));
                }
            });
        }
    }
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
        if (!workers_.back()->loop().ok()) {
            FERRY_LOG(Fatal, "failed to create event loop").str("error", errno_text(errno));
            return 1;
        }
    }
    // Bind everything before anything runs: a bad address fails the start, not a thread later.
    std::vector<Bound> bound;
    for (const auto& listener : config_.listeners) {
        std::string error;
        if (!bind_listener(listener, bound, &error)) return 1;
    }
    for (const auto& extra : config_.extra_listeners) {
        std::string error;
        ListenOptions options;
        options.backlog = 128;
        Fd fd = listen_tcp(extra.address, options, &error);
        if (!fd) {
            FERRY_LOG(Error, "failed to bind listener")
                .str("listener", extra.name)
                .str("listenAdr", extra.address.to_string())
                .str("error", error);
            return 1;
        }
        FERRY_LOG(Info, "listening").str("listener", extra.name).str("listenAdr", extra.address.to_string());
        ListenerInfo info;
        info.number = next_number_++;
        info.address = extra.address;
        info.address_text = extra.address.to_string();
        info.name = extra.name;
        workers_[0]->add_extra_listener(std::move(fd), std::move(info), extra.handler);
    }
    // Bound, so the privileges that binding took can go; before on_ready and the threads, which would keep them.
    if (config_.drop_to && !privileges::drop_and_log(*config_.drop_to)) return 1;
    attach(bound);  // runs first thing on each loop
    if (on_ready) on_ready();

    std::vector<std::thread> loop_threads;
    for (auto& w : workers_) loop_threads.emplace_back([&w] { w->run(); });

    int sig = 0;
    for (;;) {
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        FERRY_LOG(Info, "received SIGHUP, reloading");
        config_.on_reload();
    }
    FERRY_LOG(Info, "received shutdown signal, closing").str("signal", signal_name(sig));
    for (auto& w : workers_) w->loop().stop();
    for (auto& t : loop_threads) t.join();
    workers_.clear();
    return 0;
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
