// loadgen: ferry's benchmark load generator (tcpkali-like), one edge-triggered epoll loop per thread.
//
// Every connection first sends a PROXY header (v1 by default, in its own write, as tcpkali -e1 does), then the
// workload's bytes. Workloads:
//   stream   the message (default "PING\r\n") repeated as fast as possible, 64 KiB writes; whatever comes back
//            is read and discarded. Mbit/s and messages/s each way.
//   bulk     the same with --message-size random bytes (default 65536).
//   churn    --connections workers, each looping connect, header, request, read the echo, close: connections
//            per second, failures, cycle time percentiles.
//   latency  persistent connections, open-loop requests at --rate per second in total; latency from each
//            request's scheduled send time (no coordinated omission).
//   idle     open --connections proxied connections (each proves itself with a 16-byte ping/echo), hold them
//            for --hold seconds; "ready" on stderr (and --ready-file) once all are open.
//   udp      --connections UDP sockets (default 32), each --window datagrams (default 8) of --message-size
//            payload bytes (default 512) in flight, behind a PROXY v2 DGRAM header (source --header-src + i,
//            port 40000 + i) or none; replies/s, Mbit/s each way, loss (no reply within --loss-timeout ms),
//            round trip. sendmmsg/recvmmsg, see run_udp().
// Run `loadgen --help` for the flags. Exit status: 0 the run completed (failures are counted, not fatal),
// 2 bad arguments, 1 setup error (no connection could be made at all).
//
// Client ports: churn closes from the client side, so each cycle leaves a TIME_WAIT socket on the client's
// ephemeral port. net.ipv4.ip_local_port_range (32768-60999 by default: 28,232 ports per local address and
// target) then caps the sustainable rate at about 28k/60 s = 470 connections/s unless net.ipv4.tcp_tw_reuse
// lets connect() reuse TIME_WAIT ports older than 1 s (its default, 2, allows it on loopback; the benchmark
// harness sets it). --bind-range spreads the client over several local addresses (IP_BIND_ADDRESS_NO_PORT, so
// each address has its own port space); --rst-close closes with RST and leaves no TIME_WAIT at all. Running
// out shows up as failures_no_port.
//
// Spoofed sources: the proxy connects to the target from the header's source address and port, and forwards
// the client's FIN first, so its upstream socket keeps that 4-tuple in TIME_WAIT; the same source reused within
// a minute can fail at the proxy ("cannot assign requested address"). Churn therefore wants
// --header-src-range (16.4 million tuples, starting at a random point each run); stream/latency runs back to
// back through one proxy want different --uid-base values (and not ones whose ports are local listeners: with
// source 127.0.0.1, uid 2000 is the echo's own port).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"

namespace {

// Stream/bulk write size: big writes keep the generator cheap (tcpkali also writes large repeated buffers).
constexpr size_t kChunkTarget = 64 * 1024;
// Per-thread receive buffer: one recv can drain most of a loopback socket's queue. A recv that returns less
// than this found the socket empty, and data or a FIN arriving later raises a new edge, so the loop clears
// `readable` without the extra recv that would only say EAGAIN (one syscall less per request). Not once an
// event has reported the FIN (EPOLLRDHUP): that edge is spent, and only another recv returns the 0.
constexpr size_t kScratchSize = 256 * 1024;
// Sends and receives per connection per wake-up in stream/bulk, so one connection cannot starve the others.
constexpr int kDriveBudget = 8;
// Events per epoll wait: at least the usual connection count, so one wait serves a stream run's whole set.
constexpr int kMaxEvents = 512;
// Connect attempts in flight at once over all threads (stream/latency/idle opening): a burst of thousands of
// SYNs would overflow the target's accept backlog and measure SYN retries instead of the proxy.
constexpr size_t kMaxConnectsInFlight = 500;
// A churn cycle stuck this long is a failure and is abandoned.
constexpr int64_t kCycleTimeoutNs = 2'000'000'000;
// Opening a persistent connection (connect, header, idle's ping echo) gives up after this long.
constexpr int64_t kOpenTimeoutNs = 10'000'000'000;
// Latency: after the last scheduled request, answers are awaited this long; the rest count as lost.
constexpr int64_t kDrainNs = 2'000'000'000;
// Latency: due requests sent before the loop reads again, so a schedule it cannot keep doesn't starve reads.
constexpr int kMaxSendsPerWake = 256;
// A churn worker whose connect failed outright (refused, no port) retries after this pause, not in a spin.
constexpr int64_t kRetryBackoffNs = 1'000'000;
// Deadline scan period; the timeouts above are seconds, so 50 ms is precise enough and costs nothing.
constexpr int64_t kScanIntervalNs = 50'000'000;
// idle's ping: small enough to be one segment, long enough to be recognisable in a capture.
constexpr char kIdlePing[] = "ferry-idle-ping\n";
constexpr size_t kIdlePingSize = sizeof kIdlePing - 1;
// epoll_data values of the two wake-up eventfds; connection pointers are never this small.
constexpr uint64_t kGoTag = 1;
constexpr uint64_t kStopTag = 2;
// Longest PROXY header we build: v1 is at most 107 bytes, v2 with IPv6 addresses is 52.
constexpr size_t kMaxHeader = 108;
// --header-src-range: sources 203.0.113.1-254 (TEST-NET-3) x ports 1024-65535, 16.4 million distinct pairs.
constexpr uint32_t kRangeHosts = 254;
constexpr uint32_t kRangeFirstPort = 1024;
constexpr uint32_t kRangePorts = 65536 - kRangeFirstPort;

using ferry::Fd;  // the project's move-only fd owner (include/core/fd.h)

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

enum class Workload { Stream, Bulk, Churn, Latency, Idle, Udp };
enum class HeaderKind { None, V1, V2 };

const char* workload_name(Workload w) {
    switch (w) {
    case Workload::Stream: return "stream";
    case Workload::Bulk: return "bulk";
    case Workload::Churn: return "churn";
    case Workload::Latency: return "latency";
    case Workload::Idle: return "idle";
    case Workload::Udp: return "udp";
    }
    return "?";
}

const char* header_name(HeaderKind h) {
    switch (h) {
    case HeaderKind::None: return "none";
    case HeaderKind::V1: return "v1";
    case HeaderKind::V2: return "v2";
    }
    return "?";
}

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string text;
    int family() const { return addr.ss_family; }
    uint16_t port() const {
        return family() == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port)
                                   : ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    }
};

// Fills `out` from an IPv4 or IPv6 literal and a port. Returns false if `host` is neither.
bool make_endpoint(const std::string& host, uint16_t port, Endpoint& out) {
    out = Endpoint{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        out.len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        out.len = sizeof(sockaddr_in6);
    } else {
        return false;
    }
    out.text = out.family() == AF_INET6 ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
    return true;
}

// Parses "1.2.3.4:80" or "[::1]:80" (ferry's own parser).
bool parse_endpoint(std::string_view text, Endpoint& out) {
    auto a = ferry::parse_host_port(text);
    return a && make_endpoint(a->ip_string(), a->port(), out);
}

// Decodes \r \n \t \\ \0 and \xHH. Returns false on a malformed escape.
bool unescape(std::string_view in, std::string& out) {
    out.clear();
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '\\') {
            out.push_back(in[i]);
            continue;
        }
        if (++i == in.size()) return false;
        switch (in[i]) {
        case 'r': out.push_back('\r'); break;
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case '0': out.push_back('\0'); break;
        case '\\': out.push_back('\\'); break;
        case 'x': {
            if (i + 2 >= in.size()) return false;
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
            if (hi == -1 || lo == -1) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
            break;
        }
        default: return false;
        }
    }
    return true;
}

struct Options {
    Endpoint target;
    Workload workload = Workload::Stream;
    std::optional<uint64_t> connections;
    double duration_s = 10.0;
    double warmup_s = 1.0;
    unsigned threads = 1;
    HeaderKind header = HeaderKind::V1;
    Endpoint header_src;  // port unused
    Endpoint header_dst;
    bool header_src_range = false;
    uint64_t range_offset = 0;  // --header-src-range: where this run starts in the range (random)
    std::optional<uint64_t> range_start;  // --header-src-offset: that start, chosen by the caller
    uint64_t uid_base = 1;
    std::string message = "PING\r\n";
    std::optional<uint64_t> message_size;
    double rate = 10000.0;
    double hold_s = 5.0;
    std::string ready_file;
    bool bind_range = false;
    sockaddr_storage bind_first{};  // IPv4 range first..last, or one IPv6 address in bind_first
    uint32_t bind_count = 0;
    bool rst_close = false;
    bool json = false;
    uint64_t udp_window = 8;       // udp: datagrams in flight per socket
    uint64_t udp_timeout_ms = 200; // udp: a datagram unanswered this long is lost
};

// Log-linear latency histogram (HdrHistogram's layout): values below 2^11 ns are exact, above that each
// power of two is split into 1024 buckets, so any recorded value is within 0.1%. Up to 2^40 ns (18 min).
class Histogram {
public:
    static constexpr int kSubBits = 10;
    static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
    static constexpr uint64_t kMaxValue = (uint64_t{1} << 40) - 1;
    static constexpr size_t kBuckets = 31 * kSub;

    Histogram() : counts_(kBuckets, 0) {}

    void record(int64_t ns) {
        uint64_t v = ns < 0 ? 0 : std::min(static_cast<uint64_t>(ns), kMaxValue);
        ++counts_[index_of(v)];
        ++total_;
        max_ = std::max(max_, v);
    }

    void merge(const Histogram& other) {
        for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        total_ += other.total_;
        max_ = std::max(max_, other.max_);
    }

    uint64_t total() const { return total_; }
    uint64_t max() const { return max_; }

    // The value at percentile p (0-100], in ns: the midpoint of the bucket holding that rank; 0 if empty.
    double percentile(double p) const {
        if (total_ == 0) return 0;
        uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
        rank = std::clamp<uint64_t>(rank, 1, total_);
        uint64_t seen = 0;
        for (size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(midpoint_of(i), static_cast<double>(max_));
        }
        return static_cast<double>(max_);
    }

private:
    static size_t index_of(uint64_t v) {
        if (v < 2 * kSub) return static_cast<size_t>(v);
        int shift = (63 - std::countl_zero(v)) - kSubBits;
        return static_cast<size_t>(static_cast<uint64_t>(shift) * kSub + (v >> shift));
    }
    static double midpoint_of(size_t i) {
        if (i < 2 * kSub) return static_cast<double>(i);
        uint64_t shift = i / kSub - 1;
        uint64_t low = (i - shift * kSub) << shift;
        return static_cast<double>(low) + static_cast<double>((uint64_t{1} << shift) - 1) / 2.0;
    }

    std::vector<uint64_t> counts_;
    uint64_t total_ = 0;
    uint64_t max_ = 0;
};

// What one thread measured. Counters named *_total cover the whole run; the others only the measured
// interval (after warm-up, before the end).
struct Stats {
    uint64_t connected_total = 0;  // TCP connects that succeeded (any phase)
    int last_errno = 0;            // last connect error, for the "cannot connect" message
    uint64_t established = 0;      // stream/bulk/latency: connections that sent their header
    uint64_t errors = 0;           // stream/bulk/latency: connections that failed or were closed by the peer
    uint64_t bytes_up = 0;
    uint64_t bytes_down = 0;
    double window_s = 0;           // stream/bulk: this thread's measured interval
    uint64_t completed = 0;        // churn
    uint64_t failures_connect = 0;
    uint64_t failures_no_port = 0;
    uint64_t failures_reset = 0;
    uint64_t failures_short = 0;
    uint64_t failures_timeout = 0;
    uint64_t requests = 0;         // latency: answered requests scheduled in the interval
    uint64_t lost = 0;             // latency: requests scheduled in the interval never answered
    uint64_t opened = 0;           // idle
    uint64_t failed = 0;
    uint64_t not_attempted = 0;
    uint64_t dropped = 0;
    bool fd_limit_hit = false;
    Histogram hist;
    Histogram send_lag;            // latency: how late the generator itself sent (timer wake-up, busy loop)
};

// Read-only run description plus the few atomics the main thread and the workers share.
struct Run {
    Options opt;
    std::string message;       // one message (stream text, or message-size random bytes)
    std::vector<char> chunk;   // the message repeated to about kChunkTarget bytes
    uint64_t connections = 0;
    int go_fd = -1;
    int stop_fd = -1;
    std::atomic<int64_t> t0{0};           // start of warm-up
    std::atomic<unsigned> ready{0};       // threads done opening their connections
    std::atomic<uint64_t> next_uid{1};    // tcpkali's \{connection.uid}: 1-based, unique over the run
    std::atomic<bool> fd_limit_hit{false};
    std::atomic<uint64_t> opened{0};      // connections open after the opening phase, over all threads
};

// Writes the PROXY header of connection `uid` into `out` (kMaxHeader bytes). Returns its length (0: none).
size_t encode_header(const Options& opt, uint64_t uid, char* out) {
    if (opt.header == HeaderKind::None) return 0;
    sockaddr_storage src = opt.header_src.addr;
    uint16_t src_port;
    if (opt.header_src_range) {
        uint64_t k = (uid - 1 + opt.range_offset) % (uint64_t{kRangeHosts} * kRangePorts);
        auto* v4 = reinterpret_cast<sockaddr_in*>(&src);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl((203u << 24) | (0u << 16) | (113u << 8) | static_cast<uint32_t>(1 + k % kRangeHosts));
        src_port = static_cast<uint16_t>(kRangeFirstPort + (k / kRangeHosts) % kRangePorts);
    } else {
        src_port = static_cast<uint16_t>((uid - 1) % 65535 + 1);  // ports are 16 bits; past 65535 it wraps
    }
    const Endpoint& dst = opt.header_dst;
    bool v6 = src.ss_family == AF_INET6;
    const void* src_ip = v6 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&src)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&src)->sin_addr);
    const void* dst_ip = v6 ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&dst.addr)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&dst.addr)->sin_addr);
    if (opt.header == HeaderKind::V1) {
        char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
        inet_ntop(src.ss_family, src_ip, s, sizeof s);
        inet_ntop(src.ss_family, dst_ip, d, sizeof d);
        int n = std::snprintf(out, kMaxHeader, "PROXY %s %s %s %u %u\r\n", v6 ? "TCP6" : "TCP4", s, d,
                              static_cast<unsigned>(src_port), static_cast<unsigned>(dst.port()));
        return n < 0 ? 0 : std::min(static_cast<size_t>(n), kMaxHeader - 1);
    }
    static constexpr unsigned char kSignature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                     0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    size_t addr_len = v6 ? 16 : 4;
    size_t body = 2 * addr_len + 4;
    unsigned char* p = reinterpret_cast<unsigned char*>(out);
    std::memcpy(p, kSignature, sizeof kSignature);
    p[12] = 0x21;              // version 2, PROXY command
    p[13] = v6 ? 0x21 : 0x11;  // TCP over IPv6 / IPv4
    p[14] = static_cast<unsigned char>(body >> 8);
    p[15] = static_cast<unsigned char>(body & 0xff);
    std::memcpy(p + 16, src_ip, addr_len);
    std::memcpy(p + 16 + addr_len, dst_ip, addr_len);
    uint16_t sp = htons(src_port), dp = htons(dst.port());
    std::memcpy(p + 16 + 2 * addr_len, &sp, 2);
    std::memcpy(p + 18 + 2 * addr_len, &dp, 2);
    return 16 + body;
}

int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) return errno;
    return err;
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

enum class ConnState : uint8_t {
    Idle,            // no socket (not started, closed, or failed)
    Backoff,         // churn: waiting kRetryBackoffNs before the next connect
    Connecting,
    SendingHeader,
    SendingRequest,  // churn/idle: the request or ping
    Reading,         // churn/idle: waiting for its echo
    Running,         // stream/bulk/latency: header sent, workload running
    Held,            // idle: echo received, holding
};

struct Conn {
    Fd fd;
    uint64_t index = 0;    // global connection number (0-based): thread = index % threads; latency offset
    ConnState state = ConnState::Idle;
    bool readable = false;
    bool writable = false;
    bool queued = false;   // in the re-drive list
    bool fin_seen = false; // an event reported EPOLLRDHUP/HUP/ERR: no short-read shortcut (see kScratchSize)
    uint8_t hdr_len = 0;
    uint8_t hdr_off = 0;
    uint32_t msg_pos = 0;          // stream: offset inside the message of the next byte sent
    uint64_t expect = 0;           // churn/idle: request size, also the echo awaited
    uint64_t out_pending = 0;      // request bytes still to write
    uint64_t in_count = 0;         // bytes received (churn/idle: this cycle; latency: since connect)
    uint64_t sent_requests = 0;    // latency
    uint64_t done_requests = 0;    // latency
    int64_t cycle_start = 0;
    int64_t deadline = 0;          // also the backoff's retry time
    char hdr[kMaxHeader];
};

enum class Step : uint8_t { Pending, Done, FailConnect, FailNoPort, FailReset, FailShort, FailTimeout };

class Worker {
public:
    Worker(Run& run, unsigned id) : run_(run) {
        uint64_t n = run.connections / run.opt.threads + (id < run.connections % run.opt.threads ? 1 : 0);
        conns_ = std::make_unique<Conn[]>(n);
        conn_count_ = n;
        for (uint64_t i = 0; i < n; ++i) conns_[i].index = i * run.opt.threads + id;
        size_t per_thread = kMaxConnectsInFlight / run.opt.threads;
        max_in_flight_ = std::max<size_t>(per_thread, 1);
        scratch_ = std::make_unique<char[]>(kScratchSize);
        active_.reserve(kMaxEvents);  // no allocation in the loop
        redrive_.reserve(static_cast<size_t>(n));
    }

    // The epoll set with both wake-up eventfds. Returns false (with a message) on failure.
    bool setup() {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_.valid()) {
            std::fprintf(stderr, "loadgen: epoll_create1: %s\n", std::strerror(errno));
            return false;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = kGoTag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, run_.go_fd, &ev) == -1) return false;
        ev.data.u64 = kStopTag;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, run_.stop_fd, &ev) == -1) return false;
        return true;
    }

    void run() {
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // sleep to the ns (latency's schedule), not the default 50 us
        switch (run_.opt.workload) {
        case Workload::Stream:
        case Workload::Bulk: run_stream(); break;
        case Workload::Churn: run_churn(); break;
        case Workload::Latency: run_latency(); break;
        case Workload::Idle: run_idle(); break;
        case Workload::Udp: break;  // run_udp()
        }
        for (uint64_t i = 0; i < conn_count_; ++i) conns_[i].fd.reset();
    }

    Stats stats;

private:
    // Waits up to timeout_ns for events; marks connections readable/writable and lists them in active_.
    void poll(int64_t timeout_ns) {
        active_.clear();
        if (timeout_ns < 0) timeout_ns = 0;
        timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
        int n = ::epoll_pwait2(epoll_.get(), events_, kMaxEvents, &ts, nullptr);
        if (n == -1) {
            if (errno != EINTR) {
                std::fprintf(stderr, "loadgen: epoll_pwait2: %s\n", std::strerror(errno));
                stop_seen_ = true;
            }
            return;
        }
        for (int i = 0; i < n; ++i) {
            if (events_[i].data.u64 == kGoTag) {
                go_seen_ = true;
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, run_.go_fd, nullptr);  // level-triggered: stop its events
                continue;
            }
            if (events_[i].data.u64 == kStopTag) {
                stop_seen_ = true;
                continue;
            }
            auto* c = static_cast<Conn*>(events_[i].data.ptr);
            uint32_t e = events_[i].events;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
            if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->fin_seen = true;
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->writable = true;
            active_.push_back(c);
        }
    }

    enum class Start { Started, NoFd, Failed };

    // Opens a non-blocking socket for `c`, builds its header (a fresh uid) and starts connecting.
    // On Failed, stats.last_errno holds the reason and the socket is closed.
    Start start_connect(Conn& c, int64_t now, int64_t timeout_ns) {
        const Options& opt = run_.opt;
        uint64_t uid = run_.next_uid.fetch_add(1, std::memory_order_relaxed);
        c.hdr_len = static_cast<uint8_t>(encode_header(opt, uid, c.hdr));
        c.hdr_off = 0;
        c.readable = c.writable = c.fin_seen = false;
        c.in_count = 0;
        c.msg_pos = 0;
        c.cycle_start = now;
        c.deadline = now + timeout_ns;
        int fd = ::socket(opt.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            stats.last_errno = errno;
            c.state = ConnState::Idle;
            return (errno == EMFILE || errno == ENFILE) ? Start::NoFd : Start::Failed;
        }
        c.fd.reset(fd);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (opt.rst_close) {
            linger lg{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        if (opt.bind_range && !bind_local(fd, uid)) {
            stats.last_errno = errno;
            c.fd.reset();
            c.state = ConnState::Idle;
            return Start::Failed;
        }
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&opt.target.addr), opt.target.len) == -1 &&
            errno != EINPROGRESS) {
            stats.last_errno = errno;
            c.fd.reset();
            c.state = ConnState::Idle;
            return Start::Failed;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = &c;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == -1) {
            stats.last_errno = errno;
            c.fd.reset();
            c.state = ConnState::Idle;
            return Start::Failed;
        }
        c.state = ConnState::Connecting;
        return Start::Started;
    }

    // --bind-range: binds the local address (the port is chosen by connect, per destination).
    bool bind_local(int fd, uint64_t uid) {
        const Options& opt = run_.opt;
        int one = 1;
        ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_storage local = opt.bind_first;
        socklen_t len = sizeof(sockaddr_in6);
        if (local.ss_family == AF_INET) {
            auto* v4 = reinterpret_cast<sockaddr_in*>(&local);
            v4->sin_addr.s_addr = htonl(ntohl(v4->sin_addr.s_addr) + static_cast<uint32_t>(uid % opt.bind_count));
            len = sizeof(sockaddr_in);
        }
        return ::bind(fd, reinterpret_cast<const sockaddr*>(&local), len) != -1;
    }

    // Closes `c` with a reset (abandoned or failed: no TIME_WAIT, no lingering bytes).
    void abort_conn(Conn& c) {
        if (c.fd.valid()) {
            linger lg{1, 0};
            ::setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        c.fd.reset();
        c.state = ConnState::Idle;
    }

    // Moves `c` through connect, header, request and echo as far as its readiness allows.
    // Returns Done once the header is sent (stream/latency: c.expect == 0, state Running) or the echo of
    // c.expect bytes has arrived (state Held); a Fail* on error (the caller closes the connection).
    Step advance(Conn& c) {
        for (;;) {
            switch (c.state) {
            case ConnState::Connecting: {
                if (!c.writable && !c.readable) return Step::Pending;
                int err = socket_error(c.fd.get());
                if (err != 0) {
                    stats.last_errno = err;
                    return err == EADDRNOTAVAIL ? Step::FailNoPort : Step::FailConnect;
                }
                ++stats.connected_total;
                c.out_pending = c.expect;
                c.state = c.hdr_len != 0 ? ConnState::SendingHeader
                                         : (c.expect != 0 ? ConnState::SendingRequest : ConnState::Running);
                continue;
            }
            case ConnState::SendingHeader: {
                if (!c.writable) return Step::Pending;
                ssize_t n = ::send(c.fd.get(), c.hdr + c.hdr_off, c.hdr_len - c.hdr_off, MSG_NOSIGNAL);
                if (n == -1) {
                    if (would_block()) {
                        c.writable = false;
                        return Step::Pending;
                    }
                    if (errno == EINTR) continue;
                    return Step::FailReset;
                }
                c.hdr_off = static_cast<uint8_t>(c.hdr_off + n);
                if (c.hdr_off == c.hdr_len)
                    c.state = c.expect != 0 ? ConnState::SendingRequest : ConnState::Running;
                continue;
            }
            case ConnState::SendingRequest: {
                if (!c.writable) return Step::Pending;
                ssize_t n = ::send(c.fd.get(), request_data() + (c.expect - c.out_pending), c.out_pending, MSG_NOSIGNAL);
                if (n == -1) {
                    if (would_block()) {
                        c.writable = false;
                        return Step::Pending;
                    }
                    if (errno == EINTR) continue;
                    return Step::FailReset;
                }
                c.out_pending -= static_cast<uint64_t>(n);
                if (c.out_pending == 0) c.state = ConnState::Reading;
                continue;
            }
            case ConnState::Reading: {
                if (!c.readable) return Step::Pending;
                ssize_t n = ::recv(c.fd.get(), scratch_.get(), kScratchSize, 0);
                if (n == -1) {
                    if (would_block()) {
                        c.readable = false;
                        return Step::Pending;
                    }
                    if (errno == EINTR) continue;
                    return Step::FailReset;
                }
                if (n == 0) return Step::FailShort;
                c.in_count += static_cast<uint64_t>(n);
                if (static_cast<size_t>(n) < kScratchSize && !c.fin_seen) c.readable = false;  // drained: see kScratchSize
                if (c.in_count >= c.expect) {
                    c.state = ConnState::Held;
                    return Step::Done;
                }
                continue;
            }
            case ConnState::Running:
            case ConnState::Held: return Step::Done;
            case ConnState::Idle:
            case ConnState::Backoff: return Step::Pending;
            }
        }
    }

    const char* request_data() const {
        return run_.opt.workload == Workload::Idle ? kIdlePing : run_.chunk.data();
    }

    bool in_progress(const Conn& c) const {
        return c.state == ConnState::Connecting || c.state == ConnState::SendingHeader ||
               c.state == ConnState::SendingRequest || c.state == ConnState::Reading;
    }

    // Opens every connection of this thread (at most max_in_flight_ at a time): connect, header, and for
    // idle the ping and its echo. Returns when each one is open or failed, or when stop is signalled.
    void open_all() {
        const bool idle = run_.opt.workload == Workload::Idle;
        uint64_t next = 0, resolved = 0;
        size_t in_flight = 0;
        int64_t next_scan = now_ns() + kScanIntervalNs;
        auto resolve = [&](Conn& c, Step s) {
            --in_flight;
            ++resolved;
            if (s == Step::Done) {
                run_.opened.fetch_add(1, std::memory_order_relaxed);
                if (idle) ++stats.opened;
                else ++stats.established;
                return;
            }
            abort_conn(c);
            if (idle) ++stats.failed;
            else ++stats.errors;
        };
        while (resolved < conn_count_ && !stop_seen_) {
            int64_t now = now_ns();
            while (in_flight < max_in_flight_ && next < conn_count_) {
                if (run_.fd_limit_hit.load(std::memory_order_relaxed)) {
                    stats.fd_limit_hit = true;
                    stats.not_attempted += conn_count_ - next;
                    resolved += conn_count_ - next;
                    next = conn_count_;
                    break;
                }
                Conn& c = conns_[next++];
                c.expect = idle ? kIdlePingSize : 0;
                Start r = start_connect(c, now, kOpenTimeoutNs);
                if (r == Start::Started) {
                    ++in_flight;
                    continue;
                }
                ++resolved;
                if (r == Start::NoFd) {
                    run_.fd_limit_hit.store(true, std::memory_order_relaxed);
                    stats.fd_limit_hit = true;
                    ++stats.not_attempted;
                } else if (idle) {
                    ++stats.failed;
                } else {
                    ++stats.errors;
                }
            }
            if (resolved >= conn_count_) break;
            if (now >= next_scan) {
                for (uint64_t i = 0; i < next; ++i)
                    if (in_progress(conns_[i]) && conns_[i].deadline <= now) resolve(conns_[i], Step::FailTimeout);
                next_scan = now + kScanIntervalNs;
            }
            poll(next_scan - now);
            for (Conn* c : active_) {
                if (!in_progress(*c)) continue;
                Step s = advance(*c);
                if (s != Step::Pending) resolve(*c, s);
            }
        }
        run_.ready.fetch_add(1);
    }

    // Keeps serving events (only noting readiness) until the main thread says go (or stop).
    void wait_for_go() {
        while (!go_seen_ && !stop_seen_) poll(100'000'000);
    }

    void queue_redrive(Conn& c) {
        if (c.queued) return;
        c.queued = true;
        redrive_.push_back(&c);
    }

    // stream/bulk: writes the repeated message and drains what comes back, up to kDriveBudget rounds.
    void stream_drive(Conn& c) {
        const char* chunk = run_.chunk.data();
        const size_t chunk_len = run_.chunk.size();
        const size_t msg_len = run_.message.size();
        for (int round = 0; round < kDriveBudget; ++round) {
            if (c.writable) {
                ssize_t n = ::send(c.fd.get(), chunk + c.msg_pos, chunk_len - c.msg_pos, MSG_NOSIGNAL);
                if (n == -1) {
                    if (would_block()) {
                        c.writable = false;
                    } else if (errno != EINTR) {
                        stream_failed(c);
                        return;
                    }
                } else {
                    bytes_up_ += static_cast<uint64_t>(n);
                    c.msg_pos = static_cast<uint32_t>((c.msg_pos + static_cast<size_t>(n)) % msg_len);
                }
            }
            if (c.readable) {
                ssize_t n = ::recv(c.fd.get(), scratch_.get(), kScratchSize, 0);
                if (n == -1) {
                    if (would_block()) {
                        c.readable = false;
                    } else if (errno != EINTR) {
                        stream_failed(c);
                        return;
                    }
                } else if (n == 0) {
                    stream_failed(c);
                    return;
                } else {
                    bytes_down_ += static_cast<uint64_t>(n);
                    if (static_cast<size_t>(n) < kScratchSize && !c.fin_seen) c.readable = false;
                }
            }
            if (!c.writable && !c.readable) return;
        }
        queue_redrive(c);
    }

    void stream_failed(Conn& c) {
        ++stats.errors;
        abort_conn(c);
    }

    void run_stream() {
        open_all();
        wait_for_go();
        if (stop_seen_) return;
        const int64_t t_warm = run_.t0.load() + static_cast<int64_t>(run_.opt.warmup_s * 1e9);
        const int64_t t_end = t_warm + static_cast<int64_t>(run_.opt.duration_s * 1e9);
        for (uint64_t i = 0; i < conn_count_; ++i)
            if (conns_[i].state == ConnState::Running) queue_redrive(conns_[i]);
        bool snapped = false;
        uint64_t snap_up = 0, snap_down = 0;
        int64_t snap_t = 0;
        for (;;) {
            int64_t now = now_ns();
            if (!snapped && now >= t_warm) {
                snapped = true;
                snap_up = bytes_up_;
                snap_down = bytes_down_;
                snap_t = now;
            }
            if (now >= t_end || stop_seen_) {
                if (snapped) {
                    stats.bytes_up = bytes_up_ - snap_up;
                    stats.bytes_down = bytes_down_ - snap_down;
                    stats.window_s = static_cast<double>(now - snap_t) / 1e9;
                }
                return;
            }
            poll(redrive_.empty() ? (snapped ? t_end : t_warm) - now : 0);
            for (Conn* c : active_)
                if (c->state == ConnState::Running) stream_drive(*c);
            // Connections that stopped for the budget get no new edge for what is already ready.
            std::vector<Conn*> again;
            again.swap(redrive_);
            for (Conn* c : again) {
                c->queued = false;
                if (c->state == ConnState::Running) stream_drive(*c);
            }
            again.clear();
            if (redrive_.empty()) redrive_.swap(again);  // keep the capacity
        }
    }

    // churn: starts a new cycle on worker `c`, or schedules a retry if the connect failed outright.
    void begin_cycle(Conn& c, int64_t now) {
        c.expect = run_.message.size();
        Start r = start_connect(c, now, kCycleTimeoutNs);
        if (r == Start::Started) return;
        if (in_window(now)) {
            if (r == Start::Failed && stats.last_errno == EADDRNOTAVAIL) ++stats.failures_no_port;
            else ++stats.failures_connect;
        }
        c.state = ConnState::Backoff;
        c.deadline = now + kRetryBackoffNs;
        ++backoffs_;
    }

    bool in_window(int64_t t) const { return t >= t_warm_ && t < t_end_; }

    void churn_step(Conn& c) {
        Step s = advance(c);
        if (s == Step::Pending) return;
        int64_t t = now_ns();
        if (s == Step::Done) {
            if (in_window(t)) {
                ++stats.completed;
                stats.hist.record(t - c.cycle_start);
            }
            c.fd.reset();  // the client closes first (SO_LINGER 0 already set with --rst-close)
            c.state = ConnState::Idle;
            if (t < t_end_) begin_cycle(c, t);
            return;
        }
        churn_failed(c, s, t);
    }

    void churn_failed(Conn& c, Step s, int64_t t) {
        abort_conn(c);
        if (in_window(t)) {
            switch (s) {
            case Step::FailConnect: ++stats.failures_connect; break;
            case Step::FailNoPort: ++stats.failures_no_port; break;
            case Step::FailReset: ++stats.failures_reset; break;
            case Step::FailShort: ++stats.failures_short; break;
            default: ++stats.failures_timeout; break;
            }
        }
        if (t >= t_end_) return;
        if (s == Step::FailConnect || s == Step::FailNoPort) {
            c.state = ConnState::Backoff;
            c.deadline = t + kRetryBackoffNs;
            ++backoffs_;
        } else {
            begin_cycle(c, t);
        }
    }

    void run_churn() {
        t_warm_ = run_.t0.load() + static_cast<int64_t>(run_.opt.warmup_s * 1e9);
        t_end_ = t_warm_ + static_cast<int64_t>(run_.opt.duration_s * 1e9);
        int64_t now = now_ns();
        for (uint64_t i = 0; i < conn_count_; ++i) begin_cycle(conns_[i], now);
        int64_t next_scan = now + kScanIntervalNs;
        for (;;) {
            now = now_ns();
            if (now >= t_end_ || stop_seen_) return;
            if (now >= next_scan) {
                backoffs_ = 0;
                for (uint64_t i = 0; i < conn_count_; ++i) {
                    Conn& c = conns_[i];
                    if (c.state == ConnState::Backoff) {
                        if (c.deadline <= now) begin_cycle(c, now);
                        else ++backoffs_;
                    } else if (in_progress(c) && c.deadline <= now) {
                        churn_failed(c, Step::FailTimeout, now);
                    }
                }
                next_scan = now + (backoffs_ != 0 ? kRetryBackoffNs : kScanIntervalNs);
            }
            poll(std::min(next_scan, t_end_) - now);
            for (Conn* c : active_)
                if (in_progress(*c)) churn_step(*c);
            if (backoffs_ != 0) next_scan = std::min(next_scan, now_ns() + kRetryBackoffNs);
        }
    }

    // latency: request k of connection c is due at t0 + warm-up start + (c + k * N) / rate.
    int64_t scheduled(uint64_t index, uint64_t k) const {
        return t_sched0_ + static_cast<int64_t>(static_cast<double>(index + k * run_.connections) * period_ns_);
    }

    bool latency_flush(Conn& c) {
        while (c.out_pending != 0 && c.writable) {
            size_t len = static_cast<size_t>(std::min<uint64_t>(c.out_pending, run_.chunk.size()));
            ssize_t n = ::send(c.fd.get(), run_.chunk.data(), len, MSG_NOSIGNAL);
            if (n == -1) {
                if (would_block()) {
                    c.writable = false;
                    return true;
                }
                if (errno == EINTR) continue;
                return false;
            }
            c.out_pending -= static_cast<uint64_t>(n);
        }
        return true;
    }

    void latency_failed(Conn& c) {
        ++stats.errors;
        for (uint64_t k = c.done_requests; k < c.sent_requests; ++k)
            if (in_window(scheduled(c.index, k))) ++stats.lost;
        c.sent_requests = c.done_requests = 0;
        abort_conn(c);
    }

    void latency_drive(Conn& c) {
        if (c.state != ConnState::Running) return;
        if (!latency_flush(c)) {
            latency_failed(c);
            return;
        }
        const uint64_t size = run_.message.size();
        while (c.readable) {
            ssize_t n = ::recv(c.fd.get(), scratch_.get(), kScratchSize, 0);
            if (n == -1) {
                if (would_block()) {
                    c.readable = false;
                    break;
                }
                if (errno == EINTR) continue;
                latency_failed(c);
                return;
            }
            if (n == 0) {
                latency_failed(c);
                return;
            }
            int64_t t = now_ns();
            c.in_count += static_cast<uint64_t>(n);
            if (static_cast<size_t>(n) < kScratchSize && !c.fin_seen) c.readable = false;
            while (c.done_requests < c.sent_requests && c.in_count >= (c.done_requests + 1) * size) {
                int64_t s = scheduled(c.index, c.done_requests);
                if (in_window(s)) {
                    stats.hist.record(t - s);
                    ++stats.requests;
                }
                ++c.done_requests;
            }
        }
    }

    void run_latency() {
        open_all();
        wait_for_go();
        if (stop_seen_) return;
        t_sched0_ = run_.t0.load();
        t_warm_ = t_sched0_ + static_cast<int64_t>(run_.opt.warmup_s * 1e9);
        t_end_ = t_warm_ + static_cast<int64_t>(run_.opt.duration_s * 1e9);
        period_ns_ = 1e9 / run_.opt.rate;
        const uint64_t size = run_.message.size();
        // This thread's connections in schedule order (index ascending), then round after round.
        uint64_t j = 0, k = 0;
        bool sending = conn_count_ != 0;
        for (;;) {
            int64_t now = now_ns();
            for (int sends = 0; sending && sends < kMaxSendsPerWake; ++sends) {
                int64_t due = scheduled(conns_[j].index, k);
                if (due >= t_end_) {
                    sending = false;
                    break;
                }
                if (due > now) break;
                Conn& c = conns_[j];
                if (c.state == ConnState::Running) {
                    if (in_window(due)) stats.send_lag.record(now_ns() - due);
                    c.out_pending += size;
                    ++c.sent_requests;
                    if (!latency_flush(c)) latency_failed(c);
                }
                if (++j == conn_count_) {
                    j = 0;
                    ++k;
                }
            }
            if (stop_seen_) break;
            if (!sending) {
                bool outstanding = false;
                for (uint64_t i = 0; i < conn_count_ && !outstanding; ++i)
                    outstanding = conns_[i].state == ConnState::Running &&
                                  conns_[i].done_requests < conns_[i].sent_requests;
                if (!outstanding || now >= t_end_ + kDrainNs) break;
            }
            int64_t wake = sending ? scheduled(conns_[j].index, k) : t_end_ + kDrainNs;
            poll(wake - now);
            for (Conn* c : active_) latency_drive(*c);
        }
        for (uint64_t i = 0; i < conn_count_; ++i) {
            Conn& c = conns_[i];
            if (c.state != ConnState::Running) continue;
            for (uint64_t r = c.done_requests; r < c.sent_requests; ++r)
                if (in_window(scheduled(c.index, r))) ++stats.lost;
        }
    }

    void run_idle() {
        open_all();
        // Hold: nothing is sent; a connection the other side closes or resets is counted as dropped.
        auto check = [&](Conn& c) {
            if (c.state != ConnState::Held || !c.readable) return;
            for (;;) {
                ssize_t n = ::recv(c.fd.get(), scratch_.get(), kScratchSize, 0);
                if (n > 0) continue;
                if (n == -1 && would_block()) {
                    c.readable = false;
                    return;
                }
                if (n == -1 && errno == EINTR) continue;
                ++stats.dropped;
                abort_conn(c);
                return;
            }
        };
        for (uint64_t i = 0; i < conn_count_; ++i) check(conns_[i]);
        while (!stop_seen_) {
            poll(1'000'000'000);
            for (Conn* c : active_) check(*c);
        }
    }

    Run& run_;
    std::unique_ptr<Conn[]> conns_;
    uint64_t conn_count_ = 0;
    size_t max_in_flight_ = 1;
    Fd epoll_;
    epoll_event events_[kMaxEvents];
    std::vector<Conn*> active_;
    std::vector<Conn*> redrive_;
    std::unique_ptr<char[]> scratch_;
    bool go_seen_ = false;
    bool stop_seen_ = false;
    uint64_t bytes_up_ = 0;    // stream/bulk, whole run
    uint64_t bytes_down_ = 0;
    int64_t t_warm_ = 0;
    int64_t t_end_ = 0;
    int64_t t_sched0_ = 0;
    double period_ns_ = 0;
    uint64_t backoffs_ = 0;
};

[[noreturn]] void usage(int status) {
    std::fputs(
        "usage: loadgen --target ADDR:PORT [options]\n"
        "  --workload stream|bulk|churn|latency|idle|udp   (default stream)\n"
        "  --connections N        connections / concurrent churn workers (default 50; idle 9000)\n"
        "  --duration SECONDS     measured interval (default 10; idle uses --hold)\n"
        "  --warmup SECONDS       not measured, before it (default 1)\n"
        "  --threads N            event-loop threads; connections spread over them (default 1)\n"
        "  --header none|v1|v2    PROXY header sent first, in its own write (default v1)\n"
        "  --header-src IP        header source address (default 127.0.0.1); its port is the\n"
        "                         connection uid (1-based, unique over the run; wraps past 65535)\n"
        "  --header-dst IP:PORT   header destination (default 127.0.0.1:25578)\n"
        "  --uid-base N           first connection uid (default 1); back-to-back runs through the same\n"
        "                         proxy should not reuse the previous run's source ports (TIME_WAIT)\n"
        "  --header-src-range     sources 203.0.113.1-254 x ports 1024-65535, never repeated in a run\n"
        "                         (each run starts at a random point of the range)\n"
        "  --header-src-offset N  start the range at point N instead (runs back to back through one proxy:\n"
        "                         the next starts at this one's N + \"attempts\", so none repeats a source)\n"
        "  --message TEXT         stream message, \\r \\n \\t \\\\ \\0 \\xHH escapes (default PING\\r\\n)\n"
        "  --message-size N       bulk message (default 65536), churn/latency request (default 64)\n"
        "  --rate R               latency: requests per second over all connections (default 10000)\n"
        "  --hold SECONDS         idle: how long to hold the open connections (default 5)\n"
        "  --ready-file PATH      idle: created once every connection is open (also \"ready\" on stderr)\n"
        "  --bind-range IP[-IP]   client source address(es), IPv4 range or one address\n"
        "  --rst-close            churn: close with RST (SO_LINGER 0) instead of FIN\n"
        "  --window N             udp: datagrams in flight per socket (default 8)\n"
        "  --loss-timeout MS      udp: a datagram unanswered this long is lost, its slot reused (default 200)\n"
        "  --json                 one JSON object on stdout instead of text\n"
        "exit status: 0 run completed (failures are counted), 1 could not connect at all, 2 bad arguments\n",
        status == 0 ? stdout : stderr);
    std::exit(status);
}

[[noreturn]] void bad_argument(const char* fmt, const std::string& value) {
    std::fprintf(stderr, "loadgen: ");
    std::fprintf(stderr, fmt, value.c_str());
    std::fputc('\n', stderr);
    std::exit(2);
}

bool parse_u64(const std::string& text, uint64_t min, uint64_t max, uint64_t& out) {
    if (text.empty() || text[0] == '-') return false;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return false;
    out = v;
    return true;
}

bool parse_seconds(const std::string& text, double min, double& out) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (errno != 0 || end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < min || v > 1e6) return false;
    out = v;
    return true;
}

bool parse_bind_range(const std::string& text, Options& opt) {
    size_t dash = text.find('-');
    std::string first = text.substr(0, dash);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&opt.bind_first);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&opt.bind_first);
    if (inet_pton(AF_INET, first.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        opt.bind_count = 1;
        if (dash != std::string::npos) {
            in_addr last{};
            if (inet_pton(AF_INET, text.substr(dash + 1).c_str(), &last) != 1) return false;
            uint32_t a = ntohl(v4->sin_addr.s_addr), b = ntohl(last.s_addr);
            if (b < a) return false;
            opt.bind_count = b - a + 1;
        }
        return true;
    }
    if (dash == std::string::npos && inet_pton(AF_INET6, first.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        opt.bind_count = 1;
        return true;
    }
    return false;
}

Options parse_options(int argc, char** argv) {
    Options opt;
    bool have_target = false;
    make_endpoint("127.0.0.1", 0, opt.header_src);
    make_endpoint("127.0.0.1", 25578, opt.header_dst);
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_inline = false;
        if (size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
            has_inline = true;
        }
        if (arg == "--help" || arg == "-h") usage(0);
        if (arg == "--header-src-range" || arg == "--rst-close" || arg == "--json") {
            if (has_inline) bad_argument("%s takes no value", arg);
            if (arg == "--header-src-range") opt.header_src_range = true;
            else if (arg == "--rst-close") opt.rst_close = true;
            else opt.json = true;
            continue;
        }
        if (!has_inline) {
            if (i + 1 >= argc) bad_argument("%s needs a value", arg);
            value = argv[++i];
        }
        if (arg == "--target") {
            if (!parse_endpoint(value, opt.target)) bad_argument("bad --target '%s' (want IP:PORT or [IPv6]:PORT)", value);
            have_target = true;
        } else if (arg == "--workload") {
            if (value == "stream") opt.workload = Workload::Stream;
            else if (value == "bulk") opt.workload = Workload::Bulk;
            else if (value == "churn") opt.workload = Workload::Churn;
            else if (value == "latency") opt.workload = Workload::Latency;
            else if (value == "idle") opt.workload = Workload::Idle;
            else if (value == "udp") opt.workload = Workload::Udp;
            else bad_argument("unknown --workload '%s' (stream, bulk, churn, latency, idle, udp)", value);
        } else if (arg == "--connections") {
            uint64_t n;
            if (!parse_u64(value, 1, 10'000'000, n)) bad_argument("bad --connections '%s'", value);
            opt.connections = n;
        } else if (arg == "--duration") {
            if (!parse_seconds(value, 0.001, opt.duration_s)) bad_argument("bad --duration '%s'", value);
        } else if (arg == "--warmup") {
            if (!parse_seconds(value, 0, opt.warmup_s)) bad_argument("bad --warmup '%s'", value);
        } else if (arg == "--threads") {
            uint64_t n;
            if (!parse_u64(value, 1, 256, n)) bad_argument("bad --threads '%s' (1-256)", value);
            opt.threads = static_cast<unsigned>(n);
        } else if (arg == "--header") {
            if (value == "none") opt.header = HeaderKind::None;
            else if (value == "v1") opt.header = HeaderKind::V1;
            else if (value == "v2") opt.header = HeaderKind::V2;
            else bad_argument("bad --header '%s' (none, v1, v2)", value);
        } else if (arg == "--header-src") {
            if (!make_endpoint(value, 0, opt.header_src)) bad_argument("bad --header-src '%s' (an IP address)", value);
        } else if (arg == "--header-dst") {
            if (!parse_endpoint(value, opt.header_dst)) bad_argument("bad --header-dst '%s' (want IP:PORT)", value);
        } else if (arg == "--message") {
            if (!unescape(value, opt.message) || opt.message.empty()) bad_argument("bad --message '%s'", value);
        } else if (arg == "--message-size") {
            uint64_t n;
            if (!parse_u64(value, 1, 64 << 20, n)) bad_argument("bad --message-size '%s' (1 .. 64 MiB)", value);
            opt.message_size = n;
        } else if (arg == "--header-src-offset") {
            uint64_t n;
            if (!parse_u64(value, 0, uint64_t{1} << 48, n)) bad_argument("bad --header-src-offset '%s'", value);
            opt.range_start = n;
        } else if (arg == "--uid-base") {
            if (!parse_u64(value, 1, uint64_t{1} << 48, opt.uid_base)) bad_argument("bad --uid-base '%s'", value);
        } else if (arg == "--rate") {
            if (!parse_seconds(value, 0.001, opt.rate)) bad_argument("bad --rate '%s'", value);
        } else if (arg == "--hold") {
            if (!parse_seconds(value, 0, opt.hold_s)) bad_argument("bad --hold '%s'", value);
        } else if (arg == "--ready-file") {
            if (value.empty()) bad_argument("empty --ready-file%s", "");
            opt.ready_file = value;
        } else if (arg == "--window") {
            if (!parse_u64(value, 1, 1024, opt.udp_window)) bad_argument("bad --window '%s' (1-1024)", value);
        } else if (arg == "--loss-timeout") {
            if (!parse_u64(value, 1, 60000, opt.udp_timeout_ms)) bad_argument("bad --loss-timeout '%s' (ms)", value);
        } else if (arg == "--bind-range") {
            if (!parse_bind_range(value, opt)) bad_argument("bad --bind-range '%s' (IPv4[-IPv4] or one IPv6)", value);
            opt.bind_range = true;
        } else {
            std::fprintf(stderr, "loadgen: unknown option '%s'\n", arg.c_str());
            usage(2);
        }
    }
    if (!have_target) {
        std::fprintf(stderr, "loadgen: --target is required\n");
        usage(2);
    }
    if (opt.header_src_range) make_endpoint("203.0.113.1", 0, opt.header_src);
    if (opt.header != HeaderKind::None && opt.header_src.family() != opt.header_dst.family())
        bad_argument("the header's source and destination must be the same family%s",
                     opt.header_src_range ? " (--header-src-range is IPv4)" : "");
    if (opt.bind_range && opt.bind_first.ss_family != opt.target.family())
        bad_argument("--bind-range and --target must be the same family%s", "");
    return opt;
}

void raise_nofile_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
}

uint64_t nofile_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == -1) return 0;
    return rl.rlim_cur;
}

void sleep_ns(int64_t ns) {
    if (ns <= 0) return;
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

// Appends printf-formatted text to `out` (report building only, never on the data path).
template <typename... Args>
void append(std::string& out, const char* fmt, Args... args) {
    char buf[512];
    int n = std::snprintf(buf, sizeof buf, fmt, args...);
    if (n > 0) out.append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}


// ---------------------------------------------------------------------------------------------------- udp
// --workload udp: --connections client UDP sockets (default 32), each connected to --target and, through a
// proxy, with a client identity of its own in a PROXY v2 DGRAM header (source --header-src + i, port
// kUdpFirstPort + i: distinct addresses, so the proxy makes one flow per socket). Each keeps --window
// datagrams (default 8) of --message-size payload bytes (default 512) in flight: the payload starts with a
// 64-bit sequence number, the echo's reply (payload only, no header) frees its slot, and a slot unanswered after
// --loss-timeout ms is counted lost and reused, so the run never hangs. Sends and receives in batches
// (sendmmsg / recvmmsg), sockets spread over --threads epoll loops.

constexpr uint16_t kUdpFirstPort = 40000;
constexpr int kUdpRecvBatch = 32;
constexpr size_t kUdpMaxDatagram = 65536;

struct UdpSlot {
    uint64_t seq = 0;
    int64_t sent_ns = 0;
    bool busy = false;
    bool measured = false;  // sent during the measured interval
};

struct UdpSock {
    Fd fd;
    size_t header_len = 0;
    std::vector<std::array<char, kMaxHeader + 8>> prefix;  // per slot: header + sequence number
    std::vector<UdpSlot> slots;
    uint64_t next_seq = 0;
    size_t busy = 0;
};

struct UdpStats {
    uint64_t sent = 0;          // measured interval: datagrams sent
    uint64_t received = 0;      // replies that arrived during the measured interval
    uint64_t answered = 0;      // datagrams sent in the interval whose reply came back (any time)
    uint64_t lost = 0;          // datagrams sent in the interval never answered within the timeout
    uint64_t late = 0;          // replies to a datagram already counted lost (or unknown), whole run
    uint64_t bad = 0;           // replies of the wrong size, whole run
    uint64_t errors = 0;        // send/receive errors other than a full buffer (ECONNREFUSED...), whole run
    uint64_t send_full = 0;     // sendmmsg found the buffer full (EAGAIN/ENOBUFS), whole run
    uint64_t received_total = 0;
    uint64_t bytes_up = 0;      // payload bytes, measured interval
    uint64_t bytes_down = 0;
    Histogram rtt;              // round trip of the replies that arrived in the interval
};

class UdpWorker {
public:
    UdpWorker(const Options& opt, std::vector<UdpSock*> socks, int64_t t_warm, int64_t t_end)
        : opt_(opt), socks_(std::move(socks)), t_warm_(t_warm), t_end_(t_end),
          size_(opt.message_size.value_or(512)), filler_(size_, 'u'),
          bufs_(static_cast<size_t>(kUdpRecvBatch) * kUdpMaxDatagram) {}

    void run() {
        Fd ep(::epoll_create1(EPOLL_CLOEXEC));
        for (UdpSock* s : socks_) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = s;
            ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, s->fd.get(), &ev);
        }
        const int64_t timeout_ns = static_cast<int64_t>(opt_.udp_timeout_ms) * 1'000'000;
        for (UdpSock* s : socks_) refill(*s, now_ns());
        int64_t last_scan = now_ns();
        epoll_event events[kMaxEvents];
        for (;;) {
            int64_t now = now_ns();
            bool sending = now < t_end_;
            if (!sending) {
                size_t busy = 0;
                for (UdpSock* s : socks_) busy += s->busy;
                if (busy == 0 || now >= t_end_ + timeout_ns + 50'000'000) break;
            }
            int n = ::epoll_wait(ep.get(), events, kMaxEvents, 5);
            now = now_ns();
            for (int i = 0; i < n; ++i) {
                auto* s = static_cast<UdpSock*>(events[i].data.ptr);
                receive(*s, now);
                if (now < t_end_) refill(*s, now);
            }
            if (now - last_scan >= 10'000'000) {
                last_scan = now;
                for (UdpSock* s : socks_) {
                    for (UdpSlot& sl : s->slots) {
                        if (sl.busy && now - sl.sent_ns > timeout_ns) {
                            sl.busy = false;
                            --s->busy;
                            if (sl.measured) ++stats.lost;
                        }
                    }
                    if (now < t_end_) refill(*s, now);
                }
            }
        }
        // Whatever is still outstanding after the drain is lost.
        for (UdpSock* s : socks_)
            for (UdpSlot& sl : s->slots)
                if (sl.busy && sl.measured) ++stats.lost;
    }

    UdpStats stats;

private:
    // Sends one datagram per free slot, in one sendmmsg.
    void refill(UdpSock& s, int64_t now) {
        size_t n = 0;
        for (size_t k = 0; k < s.slots.size(); ++k) {
            UdpSlot& sl = s.slots[k];
            if (sl.busy) continue;
            sl.seq = s.next_seq + n;
            std::memcpy(s.prefix[k].data() + s.header_len, &sl.seq, 8);
            iov_[n][0] = {s.prefix[k].data(), s.header_len + 8};
            iov_[n][1] = {filler_.data(), size_ - 8};
            msgs_[n] = {};
            msgs_[n].msg_hdr.msg_iov = iov_[n];
            msgs_[n].msg_hdr.msg_iovlen = 2;
            pick_[n] = k;
            ++n;
        }
        if (n == 0) return;
        int m = ::sendmmsg(s.fd.get(), msgs_, static_cast<unsigned>(n), MSG_DONTWAIT);
        if (m <= 0) {
            if (m == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) ++stats.send_full;
            else ++stats.errors;
            return;
        }
        const bool measured = now >= t_warm_ && now < t_end_;
        for (int i = 0; i < m; ++i) {
            UdpSlot& sl = s.slots[pick_[i]];
            sl.busy = true;
            sl.sent_ns = now;
            sl.measured = measured;
            if (measured) {
                ++stats.sent;
                stats.bytes_up += size_;
            }
        }
        s.busy += static_cast<size_t>(m);
        s.next_seq += static_cast<uint64_t>(m);
    }

    void receive(UdpSock& s, int64_t now) {
        mmsghdr msgs[kUdpRecvBatch];
        iovec iovs[kUdpRecvBatch];
        const bool in_window = now >= t_warm_ && now < t_end_;
        for (int rounds = 0; rounds < 4; ++rounds) {
            for (int i = 0; i < kUdpRecvBatch; ++i) {
                iovs[i] = {bufs_.data() + static_cast<size_t>(i) * kUdpMaxDatagram, kUdpMaxDatagram};
                msgs[i] = {};
                msgs[i].msg_hdr.msg_iov = &iovs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = ::recvmmsg(s.fd.get(), msgs, kUdpRecvBatch, MSG_DONTWAIT, nullptr);
            if (n <= 0) {
                if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++stats.errors;
                return;
            }
            for (int i = 0; i < n; ++i) {
                if (msgs[i].msg_len != size_) {
                    ++stats.bad;
                    continue;
                }
                uint64_t seq;
                std::memcpy(&seq, iovs[i].iov_base, 8);
                ++stats.received_total;
                if (in_window) {
                    ++stats.received;
                    stats.bytes_down += size_;
                }
                UdpSlot* hit = nullptr;
                for (UdpSlot& sl : s.slots)
                    if (sl.busy && sl.seq == seq) hit = &sl;
                if (hit == nullptr) {
                    ++stats.late;
                    continue;
                }
                hit->busy = false;
                --s.busy;
                if (hit->measured) ++stats.answered;
                if (in_window) stats.rtt.record(now - hit->sent_ns);
            }
            if (n < kUdpRecvBatch) return;
        }
    }

    static constexpr size_t kMaxWindow = 1024;
    const Options& opt_;
    std::vector<UdpSock*> socks_;
    int64_t t_warm_, t_end_;
    size_t size_;
    std::string filler_;
    std::vector<char> bufs_;
    mmsghdr msgs_[kMaxWindow];
    iovec iov_[kMaxWindow][2];
    size_t pick_[kMaxWindow];
};

int run_udp(const Options& opt) {
    const uint64_t nsocks = opt.connections.value_or(32);
    const size_t size = opt.message_size.value_or(512);
    if (size < 8 || size > 65000) {
        std::fprintf(stderr, "loadgen: udp: --message-size must be 8 .. 65000\n");
        return 2;
    }
    if (opt.header == HeaderKind::V1) {
        std::fprintf(stderr, "loadgen: udp: PROXY v1 has no datagram form: --header v2 or none\n");
        return 2;
    }
    if (opt.header != HeaderKind::None && (opt.header_src.family() != AF_INET || opt.header_src_range)) {
        std::fprintf(stderr, "loadgen: udp: --header-src must be one IPv4 address (the first client's)\n");
        return 2;
    }
    raise_nofile_limit();
    std::vector<std::unique_ptr<UdpSock>> socks;
    for (uint64_t i = 0; i < nsocks; ++i) {
        auto s = std::make_unique<UdpSock>();
        s->fd = Fd(::socket(opt.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!s->fd.valid() || ::connect(s->fd.get(), reinterpret_cast<const sockaddr*>(&opt.target.addr),
                                        opt.target.len) == -1) {
            std::fprintf(stderr, "loadgen: udp socket to %s: %s\n", opt.target.text.c_str(), std::strerror(errno));
            return 1;
        }
        char header[kMaxHeader] = {};
        if (opt.header == HeaderKind::V2) {
            Options o = opt;
            auto* v4 = reinterpret_cast<sockaddr_in*>(&o.header_src.addr);
            v4->sin_addr.s_addr = htonl(ntohl(v4->sin_addr.s_addr) + static_cast<uint32_t>(i));
            const uint16_t port = static_cast<uint16_t>(kUdpFirstPort + i % (65536 - kUdpFirstPort));
            s->header_len = encode_header(o, port, header);
            header[13] = o.header_dst.family() == AF_INET6 ? 0x22 : 0x12;  // DGRAM over IPv6 / IPv4
        }
        s->prefix.resize(opt.udp_window);
        for (auto& p : s->prefix) std::memcpy(p.data(), header, s->header_len);
        s->slots.resize(opt.udp_window);
        socks.push_back(std::move(s));
    }
    const unsigned nthreads = static_cast<unsigned>(std::min<uint64_t>(opt.threads, nsocks));
    const int64_t start = now_ns();
    const int64_t t_warm = start + static_cast<int64_t>(opt.warmup_s * 1e9);
    const int64_t t_end = t_warm + static_cast<int64_t>(opt.duration_s * 1e9);
    std::vector<std::unique_ptr<UdpWorker>> workers;
    for (unsigned t = 0; t < nthreads; ++t) {
        std::vector<UdpSock*> mine;
        for (uint64_t i = t; i < nsocks; i += nthreads) mine.push_back(socks[i].get());
        workers.push_back(std::make_unique<UdpWorker>(opt, std::move(mine), t_warm, t_end));
    }
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    for (auto& t : threads) t.join();

    UdpStats total;
    for (auto& w : workers) {
        const UdpStats& s = w->stats;
        total.sent += s.sent;
        total.received += s.received;
        total.answered += s.answered;
        total.lost += s.lost;
        total.late += s.late;
        total.bad += s.bad;
        total.errors += s.errors;
        total.send_full += s.send_full;
        total.received_total += s.received_total;
        total.bytes_up += s.bytes_up;
        total.bytes_down += s.bytes_down;
        total.rtt.merge(s.rtt);
    }
    if (total.received_total == 0) {
        std::fprintf(stderr, "loadgen: udp: no reply at all from %s (%llu send/receive errors)\n",
                     opt.target.text.c_str(), static_cast<unsigned long long>(total.errors));
        return 1;
    }
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    const double dur = opt.duration_s;
    const double dps = static_cast<double>(total.received) / dur;
    const double mbps_up = static_cast<double>(total.bytes_up) * 8 / 1e6 / dur;
    const double mbps_down = static_cast<double>(total.bytes_down) * 8 / 1e6 / dur;
    const double loss = total.sent ? 100.0 * static_cast<double>(total.lost) / static_cast<double>(total.sent) : 0;
    auto us = [&](double p) { return total.rtt.percentile(p) / 1e3; };
    std::string json, text;
    append(json, "{\"workload\":\"udp\",\"target\":\"%s\",\"header\":\"%s\",\"threads\":%u,\"connections\":%llu",
           opt.target.text.c_str(), header_name(opt.header), nthreads, u(nsocks));
    append(json, ",\"duration_s\":%.3f,\"warmup_s\":%.3f,\"message_size\":%zu,\"window\":%llu,\"loss_timeout_ms\":%llu",
           opt.duration_s, opt.warmup_s, size, u(opt.udp_window), u(opt.udp_timeout_ms));
    append(json, ",\"sent\":%llu,\"received\":%llu,\"answered\":%llu,\"lost\":%llu,\"late\":%llu,\"bad\":%llu",
           u(total.sent), u(total.received), u(total.answered), u(total.lost), u(total.late), u(total.bad));
    append(json, ",\"errors\":%llu,\"send_full\":%llu,\"bytes_up\":%llu,\"bytes_down\":%llu", u(total.errors),
           u(total.send_full), u(total.bytes_up), u(total.bytes_down));
    append(json, ",\"dgrams_per_s\":%.1f,\"mbps_up\":%.1f,\"mbps_down\":%.1f,\"loss_pct\":%.3f", dps, mbps_up,
           mbps_down, loss);
    append(json, ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n", us(50), us(99),
           static_cast<double>(total.rtt.max()) / 1e3);
    append(text, "udp to %s: %llu sockets x window %llu, %zu-byte payload, header %s, %.2f s after %.2f s warm-up\n",
           opt.target.text.c_str(), u(nsocks), u(opt.udp_window), size, header_name(opt.header), dur, opt.warmup_s);
    append(text, "  %.0f replies/s; sent %llu, replies %llu, lost %llu (%.3f%%), late %llu, errors %llu\n", dps,
           u(total.sent), u(total.received), u(total.lost), loss, u(total.late), u(total.errors));
    append(text, "  payload: up %.1f Mbit/s, down %.1f Mbit/s; round trip p50 %.1f us, p99 %.1f us\n", mbps_up,
           mbps_down, us(50), us(99));
    const std::string& out = opt.json ? json : text;
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Run run;
    run.opt = parse_options(argc, argv);
    run.opt.range_offset = run.opt.range_start.value_or(std::random_device{}()) % (uint64_t{kRangeHosts} * kRangePorts);
    const Options& opt = run.opt;
    if (opt.workload == Workload::Udp) {
        ::signal(SIGPIPE, SIG_IGN);
        return run_udp(opt);
    }

    switch (opt.workload) {
    case Workload::Stream: run.message = opt.message; break;
    case Workload::Bulk:
    case Workload::Churn:
    case Workload::Latency: {
        uint64_t size = opt.message_size.value_or(opt.workload == Workload::Bulk ? 65536 : 64);
        run.message.resize(size);
        std::mt19937_64 rng(0x6665727279);  // fixed seed: the same bytes every run
        for (char& ch : run.message) ch = static_cast<char>(rng() & 0xff);
        break;
    }
    case Workload::Idle: run.message.assign(kIdlePing, kIdlePingSize); break;
    case Workload::Udp: break;
    }
    size_t copies = std::max<size_t>(1, kChunkTarget / run.message.size());
    run.chunk.reserve(copies * run.message.size());
    for (size_t i = 0; i < copies; ++i) run.chunk.insert(run.chunk.end(), run.message.begin(), run.message.end());
    run.next_uid.store(opt.uid_base);
    run.connections = opt.connections.value_or(opt.workload == Workload::Idle ? 9000 : 50);

    raise_nofile_limit();
    ::signal(SIGPIPE, SIG_IGN);
    Fd go(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    Fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!go.valid() || !stop.valid()) {
        std::fprintf(stderr, "loadgen: eventfd: %s\n", std::strerror(errno));
        return 1;
    }
    run.go_fd = go.get();
    run.stop_fd = stop.get();
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned t = 0; t < opt.threads; ++t) {
        workers.push_back(std::make_unique<Worker>(run, t));
        if (!workers.back()->setup()) return 1;
    }

    auto signal_fd = [](int fd) {
        uint64_t one = 1;
        if (::write(fd, &one, sizeof one) == -1) std::fprintf(stderr, "loadgen: eventfd write: %s\n", std::strerror(errno));
    };
    auto wait_ready = [&] {
        while (run.ready.load() < opt.threads) sleep_ns(1'000'000);
    };

    const int64_t start = now_ns();
    if (opt.workload == Workload::Churn) run.t0.store(start);
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

    double open_s = 0;
    if (opt.workload == Workload::Idle) {
        wait_ready();
        open_s = static_cast<double>(now_ns() - start) / 1e9;
        std::fputs("ready\n", stderr);
        if (!opt.ready_file.empty()) {
            Fd f(::open(opt.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
            if (!f.valid())
                std::fprintf(stderr, "loadgen: cannot create %s: %s\n", opt.ready_file.c_str(), std::strerror(errno));
        }
        sleep_ns(static_cast<int64_t>(opt.hold_s * 1e9));
        signal_fd(run.stop_fd);
    } else if (opt.workload != Workload::Churn) {
        wait_ready();
        run.t0.store(now_ns());
        // Nothing to measure if no connection opened: stop now rather than after the whole duration.
        signal_fd(run.opened.load() != 0 ? run.go_fd : run.stop_fd);
    }
    for (auto& t : threads) t.join();

    Stats total;
    double mbps_up = 0, mbps_down = 0, window_sum = 0;
    for (auto& w : workers) {
        const Stats& s = w->stats;
        total.connected_total += s.connected_total;
        if (s.last_errno != 0) total.last_errno = s.last_errno;
        total.established += s.established;
        total.errors += s.errors;
        total.bytes_up += s.bytes_up;
        total.bytes_down += s.bytes_down;
        if (s.window_s > 0) {
            mbps_up += static_cast<double>(s.bytes_up) * 8 / 1e6 / s.window_s;
            mbps_down += static_cast<double>(s.bytes_down) * 8 / 1e6 / s.window_s;
            window_sum += s.window_s;
        }
        total.completed += s.completed;
        total.failures_connect += s.failures_connect;
        total.failures_no_port += s.failures_no_port;
        total.failures_reset += s.failures_reset;
        total.failures_short += s.failures_short;
        total.failures_timeout += s.failures_timeout;
        total.requests += s.requests;
        total.lost += s.lost;
        total.opened += s.opened;
        total.failed += s.failed;
        total.not_attempted += s.not_attempted;
        total.dropped += s.dropped;
        total.fd_limit_hit = total.fd_limit_hit || s.fd_limit_hit;
        total.hist.merge(s.hist);
        total.send_lag.merge(s.send_lag);
    }

    if (total.connected_total == 0) {
        std::fprintf(stderr, "loadgen: could not connect to %s: %s\n", opt.target.text.c_str(),
                     total.last_errno != 0 ? std::strerror(total.last_errno) : "no connection completed");
        return 1;
    }

    const double msg_len = static_cast<double>(run.message.size());
    const double duration = opt.duration_s;
    std::string json, text;
    append(json, "{\"workload\":\"%s\",\"target\":\"%s\",\"header\":\"%s\",\"threads\":%u,\"connections\":%llu",
           workload_name(opt.workload), opt.target.text.c_str(), header_name(opt.header), opt.threads,
           static_cast<unsigned long long>(run.connections));
    if (opt.workload != Workload::Idle)
        append(json, ",\"duration_s\":%.3f,\"warmup_s\":%.3f", opt.duration_s, opt.warmup_s);
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    auto us = [&](double p) { return total.hist.percentile(p) / 1e3; };

    switch (opt.workload) {
    case Workload::Stream:
    case Workload::Bulk: {
        double msgs_up = mbps_up * 1e6 / 8 / msg_len, msgs_down = mbps_down * 1e6 / 8 / msg_len;
        append(json,
               ",\"message_size\":%zu,\"established\":%llu,\"errors\":%llu,\"bytes_up\":%llu,\"bytes_down\":%llu,"
               "\"mbps_up\":%.1f,\"mbps_down\":%.1f,\"msgs_up_per_s\":%.0f,\"msgs_down_per_s\":%.0f",
               run.message.size(), u(total.established), u(total.errors), u(total.bytes_up), u(total.bytes_down),
               mbps_up, mbps_down, msgs_up, msgs_down);
        append(text, "%s to %s: %llu/%llu connections established, %llu errors, %.2f s measured after %.2f s warm-up\n",
               workload_name(opt.workload), opt.target.text.c_str(), u(total.established), u(run.connections),
               u(total.errors), opt.threads != 0 ? window_sum / opt.threads : 0.0, opt.warmup_s);
        append(text, "  up:   %10.1f Mbit/s  %12.0f msgs/s  %llu bytes\n", mbps_up, msgs_up, u(total.bytes_up));
        append(text, "  down: %10.1f Mbit/s  %12.0f msgs/s  %llu bytes\n", mbps_down, msgs_down, u(total.bytes_down));
        break;
    }
    case Workload::Churn: {
        uint64_t failures = total.failures_connect + total.failures_no_port + total.failures_reset +
                            total.failures_short + total.failures_timeout;
        double cps = static_cast<double>(total.completed) / duration;
        append(json,
               ",\"message_size\":%zu,\"conns_per_s\":%.1f,\"completed\":%llu,\"failures\":%llu,"
               "\"failures_connect\":%llu,\"failures_no_port\":%llu,\"failures_reset\":%llu,\"failures_short\":%llu,"
               "\"failures_timeout\":%llu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
               "\"attempts\":%llu",
               run.message.size(), cps, u(total.completed), u(failures), u(total.failures_connect),
               u(total.failures_no_port), u(total.failures_reset), u(total.failures_short),
               u(total.failures_timeout), us(50), us(90), us(99), static_cast<double>(total.hist.max()) / 1e3,
               u(run.next_uid.load() - opt.uid_base));
        append(text, "churn to %s: %llu workers, %.1f connections/s (%llu completed in %.2f s), %llu failures\n",
               opt.target.text.c_str(), u(run.connections), cps, u(total.completed), duration, u(failures));
        append(text, "  failures: connect %llu, no port %llu, reset %llu, short %llu, timeout %llu\n",
               u(total.failures_connect), u(total.failures_no_port), u(total.failures_reset),
               u(total.failures_short), u(total.failures_timeout));
        append(text, "  cycle time: p50 %.1f us, p90 %.1f us, p99 %.1f us, max %.1f us\n", us(50), us(90), us(99),
               static_cast<double>(total.hist.max()) / 1e3);
        if (total.failures_no_port != 0)
            append(text, "  out of client ports: widen net.ipv4.ip_local_port_range, set net.ipv4.tcp_tw_reuse, "
                         "or use --bind-range / --rst-close\n");
        break;
    }
    case Workload::Latency: {
        double achieved = static_cast<double>(total.requests) / duration;
        append(json,
               ",\"message_size\":%zu,\"rate\":%.1f,\"established\":%llu,\"errors\":%llu,\"requests\":%llu,"
               "\"lost\":%llu,\"rate_achieved\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
               "\"p999_us\":%.1f,\"max_us\":%.1f,\"send_lag_p50_us\":%.1f,\"send_lag_p99_us\":%.1f",
               run.message.size(), opt.rate, u(total.established), u(total.errors), u(total.requests),
               u(total.lost), achieved, us(50), us(90), us(99), us(99.9),
               static_cast<double>(total.hist.max()) / 1e3, total.send_lag.percentile(50) / 1e3,
               total.send_lag.percentile(99) / 1e3);
        append(text, "latency to %s: %llu/%llu connections, %.0f req/s asked, %.1f achieved (%llu answered, %llu lost), %llu errors\n",
               opt.target.text.c_str(), u(total.established), u(run.connections), opt.rate, achieved,
               u(total.requests), u(total.lost), u(total.errors));
        append(text, "  round trip from scheduled send: p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
               us(50), us(90), us(99), us(99.9), static_cast<double>(total.hist.max()) / 1e3);
        append(text, "  of which the generator's own send lag (included above): p50 %.1f us, p99 %.1f us\n",
               total.send_lag.percentile(50) / 1e3, total.send_lag.percentile(99) / 1e3);
        break;
    }
    case Workload::Idle: {
        append(json,
               ",\"opened\":%llu,\"failed\":%llu,\"not_attempted\":%llu,\"dropped\":%llu,\"fd_limit_hit\":%s,"
               "\"rlimit_nofile\":%llu,\"open_s\":%.3f,\"hold_s\":%.3f",
               u(total.opened), u(total.failed), u(total.not_attempted), u(total.dropped),
               total.fd_limit_hit ? "true" : "false", u(nofile_limit()), open_s, opt.hold_s);
        append(text, "idle to %s: %llu/%llu opened (ping echoed) in %.2f s, %llu failed, held %.1f s, %llu dropped while held\n",
               opt.target.text.c_str(), u(total.opened), u(run.connections), open_s, u(total.failed), opt.hold_s,
               u(total.dropped));
        if (total.fd_limit_hit)
            append(text, "  stopped at RLIMIT_NOFILE (%llu): %llu connections not attempted\n", u(nofile_limit()),
                   u(total.not_attempted));
        break;
    }
    case Workload::Udp: break;  // run_udp() reported
    }
    json += "}\n";
    const std::string& out = opt.json ? json : text;
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}
