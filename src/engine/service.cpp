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

Listener::Listener(Worker& worker, Fd fd, SocketAddress address, size_t number, const AcceptHandler* handler)
    : worker_(worker), fd_(std::move(fd)), address_(std::move(address)), address_text_(address_.to_string()),
      number_(number), handler_(handler) {}

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
            .num("listenerNum", static_cast<int64_t>(number_))
            .str("protocol", worker_.config().protocol_name)
            .str("listenAdr", address_text_)
            .str("error", std::string(during) + ": " + errno_text(err));
        FERRY_LOG(Warn, "pausing listener")
            .num("listenerNum", static_cast<int64_t>(number_))
            .str("listenAdr", address_text_)
            .num("pauseMs", static_cast<int64_t>(kAcceptPauseMs));
    }
    paused_ = true;
    worker_.loop().deadlines(kAcceptPauseMs).arm(pause_, worker_.loop().now_ms());
}

void Listener::accept_batch() {
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
                .num("listenerNum", static_cast<int64_t>(number_))
                .str("listenAdr", address_.to_string())
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

Worker::Worker(const ServiceConfig& config, size_t index)
    : config_(config),
      index_(index),
      header_deadlines(&loop_.deadlines(config.header_timeout_ms)),
      connect_deadlines(&loop_.deadlines(config.connect_timeout_ms)),
      idle_deadlines(config.idle_timeout_ms ? &loop_.deadlines(config.idle_timeout_ms) : nullptr),
      halfclose_deadlines(config.halfclose_timeout_ms ? &loop_.deadlines(config.halfclose_timeout_ms) : nullptr),
      pipes_(kIdlePipesPerLoop, kPipeSize),
      scratch_(ProxyHeaderInbound::kMaxHeader) {}

Worker::~Worker() {
    close_all();
    udp_listeners_.clear();
}

bool Worker::add_udp_listener(Fd fd, const SocketAddress& address) {
    udp_listeners_.push_back(std::make_unique<UdpListener>(*this, *config_.udp, std::move(fd), address));
    return udp_listeners_.back()->start();
}

void Worker::add_listener(Fd fd, const SocketAddress& address, size_t number, const AcceptHandler* handler) {
    listeners_.push_back(std::make_unique<Listener>(*this, std::move(fd), address, number, handler));
    listeners_.back()->start();
}

void Worker::on_accepted(const Listener& listener, Fd fd, const SocketAddress& peer) {
    if (config_.allowed && !config_.allowed->contains(peer)) {
        FERRY_LOG(Debug, "connection origin not in allowed subnets")
            .num("listenerNum", static_cast<int64_t>(listener.number()))
            .str("protocol", config_.protocol_name)
            .str("listenAdr", listener.address_text())
            .str("remoteAddr", peer.to_string())
            .str("localAddr", local_address(fd.get()).to_string())
            .boolean("dropConnection", true);
        return;
    }
    auto* c = new Connection(*this, listener, std::move(fd), peer);
    c->next = connections_;
    if (connections_) connections_->prev = c;
    connections_ = c;
    c->start();
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

// ---------------------------------------------------------------------------------------------- run_service

namespace {

void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

const char* signal_name(int sig) {
    switch (sig) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        default: return "signal";
    }
}

}  // namespace

int run_service(const ServiceConfig& config, const std::function<void()>& on_ready) {
    raise_fd_limit();
    const size_t threads = config.threads ? config.threads : available_cpus();

    sigset_t signals = block_shutdown_signals(static_cast<bool>(config.on_reload));

    std::vector<std::unique_ptr<Worker>> workers;
    for (size_t i = 0; i < threads; ++i) {
        workers.push_back(std::make_unique<Worker>(config, i));
        if (!workers.back()->loop().ok()) {
            FERRY_LOG(Fatal, "failed to create event loop").str("error", errno_text(errno));
            return 1;
        }
    }
    // Bind everything before anything runs: a bad address fails the start, not a thread later.
    size_t number = 0;
    for (const auto& address : config.listen) {
        const size_t sockets = std::max(config.listeners, threads);
        for (size_t i = 0; i < sockets; ++i, ++number) {
            std::string error;
            Fd fd = listen_tcp(address, config.listen_options, &error);
            if (!fd) {
                FERRY_LOG(Error, "failed to bind listener")
                    .num("listenerNum", static_cast<int64_t>(number))
                    .str("protocol", config.protocol_name)
                    .str("listenAdr", address.to_string())
                    .str("error", error);
                return 1;
            }
            if (config.log_listeners) {
                FERRY_LOG(Info, "listening")
                    .num("listenerNum", static_cast<int64_t>(number))
                    .str("protocol", config.protocol_name)
                    .str("listenAdr", address.to_string());
            }
            workers[i % threads]->add_listener(std::move(fd), address, number);
        }
    }
    if (config.udp) {
        // A socket per loop. A datagram's flow is chosen by the client address in its PROXY header, which
        // SO_REUSEPORT's 4-tuple hash cannot see (one client's datagrams from several sender ports would get a
        // flow on each loop: two sockets with one 4-tuple, replies to the wrong one), so a BPF program steers
        // by that address; where it cannot be attached, one socket on the first loop.
        for (const auto& address : config.udp->listen) {
            size_t sockets = threads;
            for (size_t i = 0; i < sockets; ++i) {
                std::string error;
                Fd fd = listen_udp(address, &error);
                if (!fd) {
                    FERRY_LOG(Error, "failed to bind listener")
                        .str("protocol", "udp")
                        .str("listenAdr", address.to_string())
                        .str("error", error);
                    return 1;
                }
                if (i == 0 && sockets > 1) {
                    if (int e = steer_udp_by_client(fd.get(), static_cast<unsigned>(sockets))) {
                        FERRY_LOG(Warn, "UDP on one event loop")
                            .str("listenAdr", address.to_string())
                            .str("error", "SO_ATTACH_REUSEPORT_CBPF: " + errno_text(e));
                        sockets = 1;
                    }
                }
                if (config.log_listeners && i == 0) {
                    FERRY_LOG(Info, "listening").str("protocol", "udp").str("listenAdr", address.to_string());
                }
                if (!workers[i]->add_udp_listener(std::move(fd), address)) {
                    FERRY_LOG(Fatal, "failed to create event loop").str("error", errno_text(errno));
                    return 1;
                }
            }
        }
    }
    for (const auto& extra : config.extra_listeners) {
        std::string error;
        ListenOptions options = config.listen_options;
        options.backlog = 128;
        Fd fd = listen_tcp(extra.address, options, &error);
        if (!fd) {
            FERRY_LOG(Error, "failed to bind listener").str("listener", extra.name).str("listenAdr", extra.address.to_string()).str("error", error);
            return 1;
        }
        FERRY_LOG(Info, "listening").str("listener", extra.name).str("listenAdr", extra.address.to_string());
        workers[0]->add_listener(std::move(fd), extra.address, number++, extra.handler);
    }
    if (on_ready) on_ready();

    std::vector<std::thread> loop_threads;
    for (auto& w : workers) loop_threads.emplace_back([&w] { w->run(); });

    int sig = 0;
    for (;;) {
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        FERRY_LOG(Info, "received SIGHUP, reloading");
        config.on_reload();
    }
    FERRY_LOG(Info, "received shutdown signal, closing").str("signal", signal_name(sig));
    for (auto& w : workers) w->loop().stop();
    for (auto& t : loop_threads) t.join();
    workers.clear();
    return 0;
}

}  // namespace ferry
