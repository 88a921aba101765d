// streamer: the soak's integrity peer. A client and a server that move deterministic pseudo-random streams both
// ways through a relay, in messages of mixed sizes, with a chosen half-close order, and hash what each side sent
// and received (SHA-256, ferry's own implementation) so that a script can compare the four digests per connection.
//
//   streamer server --listen ADDR [--listen ADDR ...] --log FILE [--rst-after BYTES] [--timeout S]
//   streamer client --connect ADDR [--connect ADDR ...] --log FILE [--seed N] [--id-base N]
//                   (--bytes TOTAL [--max-conn-bytes N] | --connections N --up-bytes N --down-bytes N)
//                   [--concurrency C] [--orders both,client,server] [--header none|v1|v2|mixed]
//                   [--timeout S]
//
// Every connection starts (after an optional PROXY header, which a relay consumes) with a 64-byte preamble that
// is part of the client's stream and of its hash: magic, connection id, seed, the client's total bytes, the
// bytes the server is to send back and the half-close order. The orders:
//   both    each side sends everything, then shuts down its write side, whenever it is done;
//   client  the client sends everything and shuts down first; the server sends half of its stream, waits for
//           the client's EOF, then sends the rest (bytes must still flow after the client's half-close);
//   server  the server sends everything and shuts down first; the client sends half, waits for the server's
//           EOF, then sends the rest.
// Writes and reads have sizes drawn log-uniformly from 1 byte to 256 KiB, so a relay sees tiny and large
// segments, and reads that split writes anywhere.
//
// Each side writes one JSON line per connection to --log: the client {"id","order","up","down","sent",
// "sha256_sent","received","sha256_received","error","elapsed","t_end" (wall clock),"local"}, the server
// {"id","peer","bytes_in","sha256_in","bytes_out","sha256_out","error"}. The client also prints a summary line
// on stdout. With --rst-after the server reads that many bytes of each connection, writes nothing and resets it
// (SO_LINGER 0): an upstream that fails mid-stream. Exit status: 0 the run completed (connection errors are in
// the log), 2 bad arguments, 1 setup error.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"
#include "support/sha256.h"
#include "tool_util.h"

namespace {

using ferry::Fd;
using ferry::SocketAddress;
using soak::errno_name;
using soak::json_str;
using soak::parse_addr;
using soak::parse_u64;

constexpr size_t kPreambleSize = 64;
constexpr char kMagic[8] = {'F', 'R', 'R', 'Y', 'S', 'O', 'A', 'K'};
// Largest write and read; log-uniform sizes from 1 byte up to this.
constexpr size_t kMaxIo = 256 * 1024;
enum class Order : uint8_t { Both = 0, ClientFirst = 1, ServerFirst = 2 };

const char* order_name(Order o) {
    switch (o) {
        case Order::Both: return "both";
        case Order::ClientFirst: return "client";
        case Order::ServerFirst: return "server";
    }
    return "?";
}

// xoshiro256**: fast enough (several GB/s) that generating the streams costs little next to hashing them.
class Rng {
public:
    explicit Rng(uint64_t seed) {
        for (auto& w : s_) w = splitmix(seed);
    }
    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Log-uniform in [lo, hi].
    uint64_t log_uniform(uint64_t lo, uint64_t hi) {
        const double a = std::log(static_cast<double>(lo)), b = std::log(static_cast<double>(hi) + 1);
        const double u = static_cast<double>(next() >> 11) / 9007199254740992.0;
        return std::clamp<uint64_t>(static_cast<uint64_t>(std::exp(a + (b - a) * u)), lo, hi);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static uint64_t splitmix(uint64_t& x) {
        uint64_t z = (x += 0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
    uint64_t s_[4];
};

// The byte stream of one direction of one connection: a function of (seed, id, direction) only.
class Stream {
public:
    Stream(uint64_t seed, uint64_t id, int direction)
        : data_(seed ^ (id * 0x100000001b3) ^ (direction ? 0xd0d0d0d0ull : 0ull)),
          sizes_(seed + id * 3 + direction + 1) {}
    // Fills `buf` with the next `len` bytes of the stream.
    void fill(char* buf, size_t len) {
        while (len >= 8) {
            uint64_t v = data_.next();
            std::memcpy(buf, &v, 8);
            buf += 8;
            len -= 8;
        }
        if (len) {
            uint64_t v = data_.next();
            std::memcpy(buf, &v, len);
        }
    }
    size_t next_size() { return sizes_.log_uniform(1, kMaxIo); }

private:
    Rng data_;
    Rng sizes_;
};

std::string hex(const ferry::Sha256Digest& d) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::byte b : d) {
        out.push_back(digits[static_cast<unsigned>(b) >> 4]);
        out.push_back(digits[static_cast<unsigned>(b) & 15]);
    }
    return out;
}

void put64(char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t get64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

struct Plan {
    uint64_t id = 0;
    uint64_t seed = 0;
    uint64_t up = 0;    // the client's bytes, preamble included
    uint64_t down = 0;  // the server's bytes
    Order order = Order::Both;
};

void encode_preamble(const Plan& p, char* out) {
    std::memset(out, 0, kPreambleSize);
    std::memcpy(out, kMagic, sizeof kMagic);
    put64(out + 8, p.id);
    put64(out + 16, p.seed);
    put64(out + 24, p.up);
    put64(out + 32, p.down);
    out[40] = static_cast<char>(p.order);
}

std::optional<Plan> decode_preamble(const char* in) {
    if (std::memcmp(in, kMagic, sizeof kMagic) != 0 || static_cast<uint8_t>(in[40]) > 2) return std::nullopt;
    Plan p;
    p.id = get64(in + 8);
    p.seed = get64(in + 16);
    p.up = get64(in + 24);
    p.down = get64(in + 32);
    p.order = static_cast<Order>(in[40]);
    return p;
}

// What one side of one connection saw in each direction.
struct Counter {
    ferry::Sha256 hash;
    uint64_t bytes = 0;
    void add(const char* p, size_t n) {
        hash.update(std::as_bytes(std::span(p, n)));
        bytes += n;
    }
};

// A one-shot flag between a connection's two threads.
class Event {
public:
    void set() {
        std::lock_guard lock(mu_);
        set_ = true;
        cv_.notify_all();
    }
    // False when `timeout_s` passed first.
    bool wait(double timeout_s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [this] { return set_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool set_ = false;
};

// Sends `count` bytes of `stream` in mixed-size writes. Returns "" or an error.
std::string send_stream(int fd, Stream& stream, uint64_t count, Counter& out, std::vector<char>& buf) {
    while (count > 0) {
        size_t n = std::min<uint64_t>(stream.next_size(), count);
        stream.fill(buf.data(), n);
        size_t off = 0;
        while (off < n) {
            ssize_t w = ::send(fd, buf.data() + off, n - off, MSG_NOSIGNAL);
            if (w == -1) {
                if (errno == EINTR) continue;
                return errno_name(errno);
            }
            out.add(buf.data() + off, static_cast<size_t>(w));
            off += static_cast<size_t>(w);
        }
        count -= n;
    }
    return "";
}

void set_timeouts(int fd, double s) {
    timeval tv{static_cast<time_t>(s), static_cast<suseconds_t>((s - std::floor(s)) * 1e6)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

class LogFile {
public:
    bool open(const std::string& path) {
        f_ = std::fopen(path.c_str(), "a");
        return f_ != nullptr;
    }
    void write(const std::string& line) {
        std::lock_guard lock(mu_);
        std::fputs(line.c_str(), f_);
        std::fputc('\n', f_);
        std::fflush(f_);
    }

private:
    std::mutex mu_;
    FILE* f_ = nullptr;
};

[[noreturn]] void usage(int status) {
    std::fputs(
        "usage: streamer server --listen ADDR [--listen ADDR ...] --log FILE [--rst-after BYTES] [--timeout S]\n"
        "       streamer client --connect ADDR [--connect ADDR ...] --log FILE [--seed N] [--id-base N]\n"
        "                (--bytes TOTAL [--max-conn-bytes N] | --connections N --up-bytes N --down-bytes N)\n"
        "                [--concurrency C] [--orders both,client,server] [--header none|v1|v2|mixed] [--timeout S]\n",
        status ? stderr : stdout);
    std::exit(status);
}

// ------------------------------------------------------------------------------------------------ server

struct ServerOptions {
    std::vector<SocketAddress> listen;
    std::string log;
    uint64_t rst_after = 0;
    double timeout_s = 120;
};

// --rst-after: a sink that resets the connection once it has read that many bytes (and never writes).
void serve_reset(Fd conn, SocketAddress peer, const ServerOptions& opt, LogFile& log) {
    const int fd = conn.get();
    set_timeouts(fd, opt.timeout_s);
    Counter in;
    std::vector<char> buf(kMaxIo);
    std::string error;
    while (in.bytes < opt.rst_after) {
        ssize_t r = ::recv(fd, buf.data(), std::min<uint64_t>(kMaxIo, opt.rst_after - in.bytes), 0);
        if (r == -1 && errno == EINTR) continue;
        if (r == -1) error = errno_name(errno);
        else if (r == 0) error = "EOF";
        if (r <= 0) break;
        in.add(buf.data(), static_cast<size_t>(r));
    }
    if (error.empty()) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        error = "reset by --rst-after";
    }
    conn.reset();
    log.write("{\"id\":null,\"peer\":" + json_str(peer.to_string()) + ",\"bytes_in\":" + std::to_string(in.bytes) +
              ",\"error\":" + json_str(error) + "}");
}

void serve(Fd conn, SocketAddress peer, const ServerOptions& opt, LogFile& log) {
    if (opt.rst_after) {
        serve_reset(std::move(conn), peer, opt, log);
        return;
    }
    const int fd = conn.get();
    set_timeouts(fd, opt.timeout_s);
    Counter in, out;
    std::mutex mu;
    std::string read_error, write_error;
    std::optional<Plan> plan;
    Event plan_known, eof_read;

    // The reader: the preamble first, then everything up to EOF.
    std::thread reader([&] {
        std::vector<char> buf(kMaxIo);
        char pre[kPreambleSize];
        size_t have = 0;
        Rng sizes(peer.port() * 7919 + 1);
        for (;;) {
            ssize_t r = ::recv(fd, buf.data(), sizes.log_uniform(1, kMaxIo), 0);
            if (r == -1) {
                if (errno == EINTR) continue;
                std::lock_guard lock(mu);
                read_error = errno_name(errno);
                break;
            }
            if (r == 0) break;
            in.add(buf.data(), static_cast<size_t>(r));
            if (have < kPreambleSize) {
                size_t take = std::min(kPreambleSize - have, static_cast<size_t>(r));
                std::memcpy(pre + have, buf.data(), take);
                have += take;
                if (have == kPreambleSize) {
                    std::lock_guard lock(mu);
                    plan = decode_preamble(pre);
                    if (!plan) read_error = "bad preamble";
                    plan_known.set();
                    if (!plan) break;
                }
            }
        }
        plan_known.set();
        eof_read.set();
    });

    // The writer, on this thread.
    std::string err;
    if (plan_known.wait(opt.timeout_s)) {
        std::optional<Plan> p;
        {
            std::lock_guard lock(mu);
            p = plan;
        }
        if (p) {
            Stream stream(p->seed, p->id, 1);
            std::vector<char> buf(kMaxIo);
            uint64_t first = p->order == Order::ClientFirst ? p->down / 2 : p->down;
            err = send_stream(fd, stream, first, out, buf);
            if (err.empty() && first < p->down) {
                if (!eof_read.wait(opt.timeout_s)) err = "timeout waiting for the client's EOF";
                else err = send_stream(fd, stream, p->down - first, out, buf);
            }
            if (err.empty() && ::shutdown(fd, SHUT_WR) == -1) err = errno_name(errno);
        }
    } else {
        err = "timeout waiting for the preamble";
    }
    if (!err.empty()) ::shutdown(fd, SHUT_RDWR);  // the reader must not wait for a stream that will not end
    reader.join();
    conn.reset();
    const std::string& error = !read_error.empty() ? read_error : err;
    std::string line = "{\"id\":" + (plan ? std::to_string(plan->id) : std::string("null")) +
                       ",\"peer\":" + json_str(peer.to_string()) + ",\"bytes_in\":" + std::to_string(in.bytes) +
                       ",\"sha256_in\":\"" + hex(in.hash.finish()) + "\",\"bytes_out\":" + std::to_string(out.bytes) +
                       ",\"sha256_out\":\"" + hex(out.hash.finish()) +
                       "\",\"error\":" + (error.empty() ? std::string("null") : json_str(error)) + "}";
    log.write(line);
}

int run_server(const ServerOptions& opt) {
    LogFile log;
    if (!log.open(opt.log)) {
        std::fprintf(stderr, "streamer: cannot open %s\n", opt.log.c_str());
        return 1;
    }
    std::vector<Fd> listeners;
    for (const SocketAddress& a : opt.listen) {
        Fd s(::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
        int one = 1;
        ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (a.is_v6()) ::setsockopt(s.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (::bind(s.get(), a.sa(), a.length) == -1 || ::listen(s.get(), 1024) == -1) {
            std::fprintf(stderr, "streamer: listen %s: %s\n", a.to_string().c_str(), std::strerror(errno));
            return 1;
        }
        listeners.push_back(std::move(s));
    }
    std::vector<pollfd> pfds;
    for (const Fd& l : listeners) pfds.push_back({l.get(), POLLIN, 0});
    for (;;) {
        if (::poll(pfds.data(), pfds.size(), -1) == -1) {
            if (errno == EINTR) continue;
            return 1;
        }
        for (const pollfd& p : pfds) {
            if (!(p.revents & POLLIN)) continue;
            SocketAddress peer;
            socklen_t len = sizeof peer.storage;
            int c = ::accept4(p.fd, peer.sa(), &len, SOCK_CLOEXEC);
            if (c == -1) continue;
            peer.length = len;
            std::thread(serve, Fd(c), peer.unmapped(), std::cref(opt), std::ref(log)).detach();
        }
    }
}

// ------------------------------------------------------------------------------------------------ client

struct ClientOptions {
    std::vector<SocketAddress> connect;
    std::string log;
    uint64_t seed = 1;
    uint64_t id_base = 0;
    uint64_t bytes_total = 0;  // --bytes: plan connections until this many bytes (both ways) are planned
    uint64_t max_conn_bytes = 256ull << 20;
    uint64_t connections = 0;  // fixed plans
    uint64_t up_bytes = 0;
    uint64_t down_bytes = 0;
    unsigned concurrency = 8;
    std::vector<Order> orders{Order::Both, Order::ClientFirst, Order::ServerFirst};
    soak::HeaderKind header = soak::HeaderKind::None;
    double timeout_s = 120;
};

std::vector<Plan> make_plans(const ClientOptions& opt) {
    std::vector<Plan> plans;
    Rng rng(opt.seed * 31 + 7);
    uint64_t planned = 0;
    for (uint64_t i = 0;; ++i) {
        Plan p;
        p.id = opt.id_base + i;
        p.seed = opt.seed;
        p.order = opt.orders[i % opt.orders.size()];
        if (opt.bytes_total) {
            if (planned >= opt.bytes_total) break;
            // Mostly both ways; one connection in eight is one-sided (the other way carries nothing or only
            // the preamble), which a relay must finish as cleanly.
            p.up = kPreambleSize + rng.log_uniform(1, opt.max_conn_bytes);
            p.down = rng.log_uniform(1, opt.max_conn_bytes);
            switch (rng.next() % 8) {
                case 0: p.up = kPreambleSize; break;
                case 1: p.down = 0; break;
                default: break;
            }
        } else {
            if (i >= opt.connections) break;
            p.up = kPreambleSize + opt.up_bytes;
            p.down = opt.down_bytes;
        }
        planned += p.up + p.down;
        plans.push_back(p);
    }
    return plans;
}

struct ClientTotals {
    std::atomic<uint64_t> ok{0}, errors{0}, bytes_up{0}, bytes_down{0};
};

void run_connection(const Plan& plan, const ClientOptions& opt, LogFile& log, ClientTotals& totals) {
    const SocketAddress& to = opt.connect[plan.id % opt.connect.size()];
    const double t0 = soak::mono_s();
    Counter sent, received;
    std::string error, local;
    std::mutex mu;
    Fd fd(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto fail = [&](std::string e) {
        std::lock_guard lock(mu);
        if (error.empty()) error = std::move(e);
    };
    if (!fd.valid()) {
        fail(errno_name(errno));
    } else {
        set_timeouts(fd.get(), opt.timeout_s);
        if (::connect(fd.get(), to.sa(), to.length) == -1) fail(errno_name(errno));
    }
    if (error.empty()) {
        SocketAddress me;
        socklen_t len = sizeof me.storage;
        if (::getsockname(fd.get(), me.sa(), &len) == 0) {
            me.length = len;
            local = me.to_string();
        }
        Event eof_read;
        std::thread reader([&] {
            std::vector<char> buf(kMaxIo);
            Rng sizes(plan.id * 104729 + 3);
            for (;;) {
                ssize_t r = ::recv(fd.get(), buf.data(), sizes.log_uniform(1, kMaxIo), 0);
                if (r == -1) {
                    if (errno == EINTR) continue;
                    fail(errno_name(errno));
                    break;
                }
                if (r == 0) break;
                received.add(buf.data(), static_cast<size_t>(r));
            }
            eof_read.set();
        });
        std::string err;
        if (opt.header != soak::HeaderKind::None) {
            std::string h = soak::proxy_header(opt.header, plan.id, to);
            if (::send(fd.get(), h.data(), h.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(h.size()))
                err = errno_name(errno);
        }
        std::vector<char> buf(kMaxIo);
        if (err.empty()) {
            char pre[kPreambleSize];
            encode_preamble(plan, pre);
            if (::send(fd.get(), pre, sizeof pre, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof pre))
                err = errno_name(errno);
            else
                sent.add(pre, sizeof pre);
        }
        Stream stream(plan.seed, plan.id, 0);
        const uint64_t payload = plan.up - kPreambleSize;
        const uint64_t first = plan.order == Order::ServerFirst ? payload / 2 : payload;
        if (err.empty()) err = send_stream(fd.get(), stream, first, sent, buf);
        if (err.empty() && first < payload) {
            if (!eof_read.wait(opt.timeout_s)) err = "timeout waiting for the server's EOF";
            else err = send_stream(fd.get(), stream, payload - first, sent, buf);
        }
        if (err.empty() && ::shutdown(fd.get(), SHUT_WR) == -1) err = errno_name(errno);
        if (!err.empty()) {
            fail(err);
            ::shutdown(fd.get(), SHUT_RDWR);  // the reader must not wait for a stream that will not end
        }
        reader.join();
        if (error.empty() && received.bytes != plan.down)
            error = "short: received " + std::to_string(received.bytes) + " of " + std::to_string(plan.down);
    }
    fd.reset();
    const double elapsed = soak::mono_s() - t0;
    (error.empty() ? totals.ok : totals.errors).fetch_add(1);
    totals.bytes_up.fetch_add(sent.bytes);
    totals.bytes_down.fetch_add(received.bytes);
    char el[32], wall[32];
    std::snprintf(el, sizeof el, "%.3f", elapsed);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);  // when it ended, comparable with `date +%s.%N` in scripts
    std::snprintf(wall, sizeof wall, "%.3f", static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9);
    log.write("{\"id\":" + std::to_string(plan.id) + ",\"order\":\"" + order_name(plan.order) +
              "\",\"up\":" + std::to_string(plan.up) + ",\"down\":" + std::to_string(plan.down) +
              ",\"sent\":" + std::to_string(sent.bytes) + ",\"sha256_sent\":\"" + hex(sent.hash.finish()) +
              "\",\"received\":" + std::to_string(received.bytes) + ",\"sha256_received\":\"" +
              hex(received.hash.finish()) + "\",\"error\":" + (error.empty() ? std::string("null") : json_str(error)) +
              ",\"elapsed\":" + el + ",\"t_end\":" + wall + ",\"local\":" + json_str(local) + "}");
}

int run_client(const ClientOptions& opt) {
    LogFile log;
    if (!log.open(opt.log)) {
        std::fprintf(stderr, "streamer: cannot open %s\n", opt.log.c_str());
        return 1;
    }
    const std::vector<Plan> plans = make_plans(opt);
    std::atomic<size_t> next{0};
    ClientTotals totals;
    const double t0 = soak::mono_s();
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < std::max(1u, opt.concurrency); ++w) {
        workers.emplace_back([&] {
            for (size_t i; (i = next.fetch_add(1)) < plans.size();) run_connection(plans[i], opt, log, totals);
        });
    }
    for (auto& t : workers) t.join();
    const double secs = soak::mono_s() - t0;
    const uint64_t bytes = totals.bytes_up + totals.bytes_down;
    std::printf("{\"connections\":%zu,\"ok\":%llu,\"errors\":%llu,\"bytes_up\":%llu,\"bytes_down\":%llu,"
                "\"seconds\":%.3f,\"mbytes_per_s\":%.1f}\n",
                plans.size(), static_cast<unsigned long long>(totals.ok.load()),
                static_cast<unsigned long long>(totals.errors.load()),
                static_cast<unsigned long long>(totals.bytes_up.load()),
                static_cast<unsigned long long>(totals.bytes_down.load()), secs,
                secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0.0);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) usage(2);
    std::string mode = argv[1];
    if (mode == "--help" || mode == "-h") usage(0);
    ::signal(SIGPIPE, SIG_IGN);
    soak::raise_nofile();
    ServerOptions so;
    ClientOptions co;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help") usage(0);
        if (i + 1 >= argc) usage(2);
        std::string v = argv[++i];
        if (a == "--listen") so.listen.push_back(parse_addr(v));
        else if (a == "--connect") co.connect.push_back(parse_addr(v));
        else if (a == "--log") so.log = co.log = v;
        else if (a == "--rst-after") so.rst_after = parse_u64("--rst-after", v);
        else if (a == "--timeout") so.timeout_s = co.timeout_s = static_cast<double>(parse_u64("--timeout", v));
        else if (a == "--seed") co.seed = parse_u64("--seed", v);
        else if (a == "--id-base") co.id_base = parse_u64("--id-base", v);
        else if (a == "--bytes") co.bytes_total = parse_u64("--bytes", v);
        else if (a == "--max-conn-bytes") co.max_conn_bytes = std::max<uint64_t>(1, parse_u64("--max-conn-bytes", v));
        else if (a == "--connections") co.connections = parse_u64("--connections", v);
        else if (a == "--up-bytes") co.up_bytes = parse_u64("--up-bytes", v);
        else if (a == "--down-bytes") co.down_bytes = parse_u64("--down-bytes", v);
        else if (a == "--concurrency") co.concurrency = static_cast<unsigned>(parse_u64("--concurrency", v));
        else if (a == "--orders") {
            co.orders.clear();
            size_t pos = 0;
            while (pos <= v.size()) {
                size_t comma = v.find(',', pos);
                std::string o = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
                if (o == "both") co.orders.push_back(Order::Both);
                else if (o == "client") co.orders.push_back(Order::ClientFirst);
                else if (o == "server") co.orders.push_back(Order::ServerFirst);
                else usage(2);
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else if (a == "--header") {
            if (!soak::parse_header_kind(v, co.header)) usage(2);
        } else {
            usage(2);
        }
    }
    if (mode == "server") {
        if (so.listen.empty() || so.log.empty()) usage(2);
        return run_server(so);
    }
    if (mode == "client") {
        if (co.connect.empty() || co.log.empty() || (!co.bytes_total && !co.connections)) usage(2);
        return run_client(co);
    }
    usage(2);
}
