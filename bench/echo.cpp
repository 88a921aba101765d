// echo: the benchmark upstream. An edge-triggered epoll echo server meant never to be the bottleneck:
// one loop per thread, each with its own SO_REUSEPORT listener per address, read-then-write through a
// per-thread scratch buffer, and a per-connection buffer only while bytes wait for a slow reader.
//
//   echo --listen ADDR:PORT [--listen ADDR:PORT ...] [--threads N] [--buffer BYTES]
//
// ADDR is IPv4 (127.0.0.1) or bracketed IPv6 ([::1]). SIGTERM/SIGINT exit 0.
// Half-close: on EOF from the client the pending bytes are flushed, then shutdown(SHUT_WR), then close.
// Backpressure: while a connection's bytes cannot be flushed it is not read.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"

namespace {

// Bytes per read (the per-thread scratch) and per held-back connection's buffer. Measured with loadgen stream,
// 50 connections on loopback: 16 KiB cost the echo 1.2 CPU-s per GB, 64 KiB 0.72, 256 KiB 0.46 (the same as
// splice through a 256 KiB pipe, 0.43), so 256 KiB. Idle connections hold no buffer, whatever the size.
constexpr size_t kDefaultBufferSize = 256 * 1024;
// Read/write rounds per connection before the loop serves the others (one fast stream cannot starve them).
constexpr int kDriveBudget = 16;
// Connections accepted per listener event; the listener is level-triggered, so the rest come next round.
constexpr int kAcceptBatch = 64;
// Events per epoll_wait.
constexpr int kMaxEvents = 256;
// Bytes of empty per-connection buffers a thread keeps for reuse, so slow readers don't cost malloc churn.
constexpr size_t kFreeBufferBytes = 4 << 20;
// How long a listener rests after EMFILE/ENFILE (it would spin otherwise: the queued connection stays).
constexpr int kAcceptPauseMs = 100;

using ferry::Fd;  // the project's move-only fd owner (include/core/fd.h)

struct ListenAddress {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string text;
};

// Parses "1.2.3.4:80" or "[::1]:80" (ferry's own parser). Returns false on anything else.
bool parse_address(std::string_view text, ListenAddress& out) {
    auto a = ferry::parse_host_port(text);
    if (!a) return false;
    out = ListenAddress{};
    out.text = std::string(text);
    std::memcpy(&out.addr, a->sa(), a->length);
    out.len = a->length;
    return true;
}

// A bound, listening, non-blocking SO_REUSEPORT socket, or an invalid Fd with a message on stderr.
Fd open_listener(const ListenAddress& a) {
    Fd fd(::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        std::fprintf(stderr, "echo: socket: %s\n", std::strerror(errno));
        return Fd();
    }
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) {
        std::fprintf(stderr, "echo: setsockopt: %s\n", std::strerror(errno));
        return Fd();
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len) == -1) {
        std::fprintf(stderr, "echo: bind %s: %s\n", a.text.c_str(), std::strerror(errno));
        return Fd();
    }
    if (::listen(fd.get(), 4096) == -1) {
        std::fprintf(stderr, "echo: listen %s: %s\n", a.text.c_str(), std::strerror(errno));
        return Fd();
    }
    return fd;
}

// SO_REUSEPORT would let us join the listening group of another process of the same user (say, an echo left
// over from an earlier run) and silently share its connections: bind once without it, to find out.
bool address_free(const ListenAddress& a) {
    Fd fd(::socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return true;  // open_listener will report it
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT leftovers are fine
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len) == -1 && errno == EADDRINUSE) {
        std::fprintf(stderr, "echo: %s is already in use (another echo still running?)\n", a.text.c_str());
        return false;
    }
    return true;
}

void raise_nofile_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == -1) return;
    if (rl.rlim_cur == rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == -1)
        std::fprintf(stderr, "echo: cannot raise RLIMIT_NOFILE: %s\n", std::strerror(errno));
}

// What epoll_data.ptr points at: a listener, a connection, or the stop eventfd (nullptr).
struct Handler {
    enum class Kind : uint8_t { Listener, Connection } kind;
};

struct Listener : Handler {
    Fd fd;
    bool paused = false;
};

struct Connection : Handler {
    Fd fd;
    std::unique_ptr<char[]> pending;  // only while bytes wait for the client to read
    uint32_t pending_off = 0;
    uint32_t pending_len = 0;
    bool readable = false;
    bool writable = false;
    bool eof_in = false;    // the client finished sending
    bool fin_seen = false;  // an event reported EPOLLRDHUP/HUP/ERR: read until recv says 0 or fails
    bool queued = false;    // in the loop's re-drive list
    bool closed = false;    // in the graveyard
};

class Worker {
public:
    Worker(int stop_fd, size_t buffer_size) : stop_fd_(stop_fd), buffer_size_(buffer_size) {}

    // Creates the epoll set and one listener per address. Returns false (with a message) on failure.
    bool setup(const std::vector<ListenAddress>& addrs) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_.valid()) {
            std::fprintf(stderr, "echo: epoll_create1: %s\n", std::strerror(errno));
            return false;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = nullptr;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_fd_, &ev) == -1) return false;
        for (const auto& a : addrs) {
            auto l = std::make_unique<Listener>();
            l->kind = Handler::Kind::Listener;
            l->fd = open_listener(a);
            if (!l->fd.valid()) return false;
            ev.events = EPOLLIN;
            ev.data.ptr = l.get();
            if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, l->fd.get(), &ev) == -1) return false;
            listeners_.push_back(std::move(l));
        }
        scratch_ = std::make_unique<char[]>(buffer_size_);
        return true;
    }

    void run() {
        epoll_event events[kMaxEvents];
        for (;;) {
            int timeout = redrive_.empty() ? (paused_ ? kAcceptPauseMs : -1) : 0;
            int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
            if (n == -1) {
                if (errno == EINTR) continue;
                std::fprintf(stderr, "echo: epoll_wait: %s\n", std::strerror(errno));
                return;
            }
            if (n == 0 && paused_) resume_listeners();
            for (int i = 0; i < n; ++i) {
                auto* h = static_cast<Handler*>(events[i].data.ptr);
                if (h == nullptr) return;  // stop eventfd
                if (h->kind == Handler::Kind::Listener) {
                    accept_some(static_cast<Listener*>(h));
                    continue;
                }
                auto* c = static_cast<Connection*>(h);
                if (c->closed) continue;
                if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
                if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->fin_seen = true;
                if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->writable = true;
                drive(c);
            }
            // Connections that stopped for the budget: their readiness produced no new edge, so drive them.
            std::vector<Connection*> again;
            again.swap(redrive_);
            for (Connection* c : again) {
                c->queued = false;
                if (!c->closed) drive(c);
            }
            graveyard_.clear();
        }
    }

private:
    void accept_some(Listener* l) {
        for (int i = 0; i < kAcceptBatch; ++i) {
            int fd = ::accept4(l->fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd == -1) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    pause_listener(l);
                    return;
                }
                std::fprintf(stderr, "echo: accept4: %s\n", std::strerror(errno));
                return;
            }
            auto c = std::make_unique<Connection>();
            c->kind = Handler::Kind::Connection;
            c->fd.reset(fd);
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            ev.data.ptr = c.get();
            if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == -1) continue;  // c closes fd
            c.release();  // owned by the epoll registration until close_connection
        }
    }

    void pause_listener(Listener* l) {
        if (!warned_emfile_) {
            std::fprintf(stderr, "echo: accept4: %s; pausing accepts for %d ms\n", std::strerror(errno),
                         kAcceptPauseMs);
            warned_emfile_ = true;
        }
        epoll_event ev{};
        ev.events = 0;
        ev.data.ptr = l;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, l->fd.get(), &ev);
        l->paused = true;
        paused_ = true;
    }

    void resume_listeners() {
        for (auto& l : listeners_) {
            if (!l->paused) continue;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = l.get();
            ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, l->fd.get(), &ev);
            l->paused = false;
        }
        paused_ = false;
    }

    std::unique_ptr<char[]> take_buffer() {
        if (free_buffers_.empty()) return std::make_unique<char[]>(buffer_size_);
        auto b = std::move(free_buffers_.back());
        free_buffers_.pop_back();
        return b;
    }

    void give_buffer(std::unique_ptr<char[]> b) {
        if (b && (free_buffers_.size() + 1) * buffer_size_ <= kFreeBufferBytes) free_buffers_.push_back(std::move(b));
    }

    // Moves bytes until the client's socket is empty or full, the budget runs out, or the connection ends.
    // Changes the connection's flags; closes it (into the graveyard) when both directions are done or on error.
    void drive(Connection* c) {
        for (int round = 0; round < kDriveBudget; ++round) {
            if (c->pending_len != 0) {
                if (!c->writable) return;  // EPOLLOUT will resume us; meanwhile we don't read (backpressure)
                ssize_t n = ::send(c->fd.get(), c->pending.get() + c->pending_off, c->pending_len, MSG_NOSIGNAL);
                if (n == -1) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        c->writable = false;
                        return;
                    }
                    if (errno == EINTR) continue;
                    close_connection(c);
                    return;
                }
                c->pending_off += static_cast<uint32_t>(n);
                c->pending_len -= static_cast<uint32_t>(n);
                if (c->pending_len == 0) {
                    c->pending_off = 0;
                    give_buffer(std::move(c->pending));
                }
                continue;
            }
            if (c->eof_in) {
                ::shutdown(c->fd.get(), SHUT_WR);
                close_connection(c);
                return;
            }
            if (!c->readable) return;
            ssize_t n = ::recv(c->fd.get(), scratch_.get(), buffer_size_, 0);
            if (n == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->readable = false;
                    return;
                }
                if (errno == EINTR) continue;
                close_connection(c);
                return;
            }
            if (n == 0) {
                c->eof_in = true;
                continue;
            }
            // A short read found the socket empty; more data or a FIN raises a new edge, so skip the recv
            // that would only say EAGAIN (one syscall less per request/response). Not once the FIN has been
            // reported: its edge is spent, and only another recv will see the end of the stream.
            if (static_cast<size_t>(n) < buffer_size_ && !c->fin_seen) c->readable = false;
            ssize_t sent = 0;
            if (c->writable) {
                sent = ::send(c->fd.get(), scratch_.get(), static_cast<size_t>(n), MSG_NOSIGNAL);
                if (sent == -1) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        c->writable = false;
                        sent = 0;
                    } else {
                        close_connection(c);
                        return;
                    }
                }
            }
            if (sent < n) {
                c->pending = take_buffer();
                std::memcpy(c->pending.get(), scratch_.get() + sent, static_cast<size_t>(n - sent));
                c->pending_off = 0;
                c->pending_len = static_cast<uint32_t>(n - sent);
            }
        }
        if (!c->queued) {
            c->queued = true;
            redrive_.push_back(c);
        }
    }

    void close_connection(Connection* c) {
        c->closed = true;
        c->fd.reset();  // also leaves the epoll set
        give_buffer(std::move(c->pending));
        graveyard_.emplace_back(c);
    }

    int stop_fd_;
    size_t buffer_size_;
    Fd epoll_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unique_ptr<char[]> scratch_;
    std::vector<std::unique_ptr<char[]>> free_buffers_;
    std::vector<Connection*> redrive_;
    std::vector<std::unique_ptr<Connection>> graveyard_;
    bool paused_ = false;
    bool warned_emfile_ = false;
};

[[noreturn]] void usage(int status) {
    std::fprintf(status == 0 ? stdout : stderr,
                 "usage: echo --listen ADDR:PORT [--listen ADDR:PORT ...] [--threads N] [--buffer BYTES]\n"
                 "  ADDR: IPv4 or [IPv6]; --threads: event loops, each with its own SO_REUSEPORT listener\n"
                 "  (default 1); --buffer: bytes per read, and per connection while its client doesn't read\n"
                 "  (default %zu). SIGTERM/SIGINT exit 0.\n",
                 kDefaultBufferSize);
    std::exit(status);
}

bool parse_count(const char* text, long min, long max, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) return false;
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<ListenAddress> addrs;
    long threads = 1;
    long buffer = static_cast<long>(kDefaultBufferSize);
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string_view value;
        bool has_inline = false;
        if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_inline = true;
        }
        if (arg == "--help" || arg == "-h") usage(0);
        if (!has_inline) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "echo: %s needs a value\n", argv[i]);
                usage(2);
            }
            value = argv[++i];
        }
        std::string v(value);
        if (arg == "--listen") {
            ListenAddress a;
            if (!parse_address(v, a)) {
                std::fprintf(stderr, "echo: bad --listen address '%s' (want IP:PORT or [IPv6]:PORT)\n", v.c_str());
                return 2;
            }
            addrs.push_back(std::move(a));
        } else if (arg == "--threads") {
            if (!parse_count(v.c_str(), 1, 1024, threads)) {
                std::fprintf(stderr, "echo: bad --threads '%s'\n", v.c_str());
                return 2;
            }
        } else if (arg == "--buffer") {
            if (!parse_count(v.c_str(), 512, 16 << 20, buffer)) {
                std::fprintf(stderr, "echo: bad --buffer '%s' (512 .. 16777216)\n", v.c_str());
                return 2;
            }
        } else {
            std::fprintf(stderr, "echo: unknown option '%s'\n", std::string(arg).c_str());
            usage(2);
        }
    }
    if (addrs.empty()) {
        std::fprintf(stderr, "echo: at least one --listen is required\n");
        usage(2);
    }

    for (const auto& a : addrs)
        if (!address_free(a)) return 1;
    raise_nofile_limit();
    ::signal(SIGPIPE, SIG_IGN);

    // Block the stop signals in every thread; main waits for them with sigwait.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    Fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop.valid()) {
        std::fprintf(stderr, "echo: eventfd: %s\n", std::strerror(errno));
        return 1;
    }
    std::vector<std::unique_ptr<Worker>> workers;
    for (long t = 0; t < threads; ++t) {
        auto w = std::make_unique<Worker>(stop.get(), static_cast<size_t>(buffer));
        if (!w->setup(addrs)) return 1;
        workers.push_back(std::move(w));
    }
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w] { w->run(); });

    int sig = 0;
    sigwait(&stop_signals, &sig);
    uint64_t one = 1;
    if (::write(stop.get(), &one, sizeof one) == -1) std::_Exit(0);
    for (auto& t : running) t.join();
    // Connections still open are leaked on purpose: the process is ending and closing 9,000 of them one by
    // one only delays the exit.
    return 0;
}
