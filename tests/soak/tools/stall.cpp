// stall: the soak's attacker. Holds N connections to a listener that never finish their handshake, as a
// slowloris client or a connection-exhaustion attacker does, and says how the listener dealt with them.
//
//   stall --connect ADDR --connections N [--bind IP] [--mode dribble|silent] [--interval-ms MS]
//         [--header v1|v2] [--src-base K] [--reconnect] [--duration S] [--open-in-flight N]
//         [--ready-file PATH] [--report-every S]
//
// dribble (the default) sends a PROXY header one byte every --interval-ms (1000), and never its last byte, so
// the header is never complete; silent sends nothing at all. With --reconnect every connection the listener
// closes is opened again at once, so N stay open (or trying) for the whole --duration. Connects go out at most
// --open-in-flight (256) at a time, so the attack measures the listener and not SYN retries.
//
// On stdout at the end, one JSON object: connects started and completed, connect failures by errno, closes by
// the peer (EOF / reset), how long a stalled connection lived from its connect to the listener's close
// (lifetime_s: n, min, p50, p90, p99, max), header bytes sent, open connections at the end and at most. Every
// --report-every seconds (0: never) a line "t=S open=N closed=N" on stderr; --ready-file is created once N
// connections have been open at the same time (the attack is in place).

#include <sys/epoll.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"
#include "tool_util.h"

namespace {

using ferry::Fd;
using ferry::SocketAddress;

enum class State : uint8_t { Waiting, Connecting, Open };

struct Slot {
    Fd fd;
    State state = State::Waiting;
    std::string header;
    size_t sent = 0;          // header bytes sent
    double connected_at = 0;  // when the connect completed
    double next_at = 0;       // Waiting: when to connect; Open (dribble): when the next byte is due
};

struct Options {
    SocketAddress target;
    std::optional<SocketAddress> bind;
    uint64_t connections = 100;
    bool dribble = true;
    double interval_s = 1.0;
    soak::HeaderKind header = soak::HeaderKind::V1;
    uint64_t src_base = 0;
    bool reconnect = false;
    double duration_s = 10;
    uint64_t open_in_flight = 256;
    std::string ready_file;
    double report_every_s = 0;
};

[[noreturn]] void usage(int status) {
    std::fputs("usage: stall --connect ADDR --connections N [--bind IP] [--mode dribble|silent] [--interval-ms MS]\n"
               "             [--header v1|v2] [--src-base K] [--reconnect] [--duration S] [--open-in-flight N]\n"
               "             [--ready-file PATH] [--report-every S]\n",
               status ? stderr : stdout);
    std::exit(status);
}

class Stall {
public:
    explicit Stall(const Options& opt) : opt_(opt), slots_(opt.connections) {}

    int run() {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        const double t0 = soak::mono_s();
        const double end = t0 + opt_.duration_s;
        double next_report = opt_.report_every_s > 0 ? t0 + opt_.report_every_s : 1e300;
        for (Slot& s : slots_) s.next_at = t0;
        std::vector<epoll_event> events(1024);
        for (;;) {
            const double now = soak::mono_s();
            if (now >= end) break;
            tick(now);
            if (now >= next_report) {
                std::fprintf(stderr, "t=%.0f open=%llu closed=%llu\n", now - t0, u(open_),
                             u(closed_eof_ + closed_rst_));
                next_report += opt_.report_every_s;
            }
            // 20 ms: dribbling at 1 byte/s per connection needs no finer clock.
            int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 20);
            for (int i = 0; i < n; ++i) on_event(slots_[events[i].data.u64], events[i].events);
        }
        return report(soak::mono_s() - t0);
    }

private:
    static unsigned long long u(uint64_t v) { return static_cast<unsigned long long>(v); }

    void tick(double now) {
        for (Slot& s : slots_) {
            if (s.state == State::Waiting && s.next_at <= now && connecting_ < opt_.open_in_flight) start(s, now);
            else if (s.state == State::Open && opt_.dribble && s.next_at <= now) dribble(s, now);
        }
    }

    void start(Slot& s, double now) {
        const uint64_t k = opt_.src_base + next_id_++;
        s.header = soak::proxy_header(opt_.header, k, opt_.target);
        s.sent = 0;
        int fd = ::socket(opt_.target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            fail(s, errno, now);
            return;
        }
        s.fd.reset(fd);
        if (opt_.bind) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (::bind(fd, opt_.bind->sa(), opt_.bind->length) == -1) {
                fail(s, errno, now);
                return;
            }
        }
        ++started_;
        if (::connect(fd, opt_.target.sa(), opt_.target.length) == -1 && errno != EINPROGRESS) {
            fail(s, errno, now);
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = static_cast<uint64_t>(&s - slots_.data());
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
        s.state = State::Connecting;
        ++connecting_;
    }

    // A connect that failed: counted, retried after 100 ms (a refusing or full listener is not hammered).
    void fail(Slot& s, int err, double now) {
        if (s.state == State::Connecting) --connecting_;
        ++connect_failures_[soak::errno_name(err)];
        s.fd.reset();
        s.state = State::Waiting;
        s.next_at = now + 0.1;
    }

    void on_event(Slot& s, uint32_t events) {
        const double now = soak::mono_s();
        if (s.state == State::Connecting) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(s.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
                fail(s, err ? err : ECONNRESET, now);
                return;
            }
            if (!(events & EPOLLOUT)) return;
            --connecting_;
            ++connected_;
            s.state = State::Open;
            s.connected_at = now;
            s.next_at = now;
            if (++open_ > peak_open_) peak_open_ = open_;
            if (!ready_ && open_ >= opt_.connections) mark_ready();
            if (opt_.dribble) dribble(s, now);
        }
        if (s.state != State::Open) return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            char buf[512];
            ssize_t r = ::recv(s.fd.get(), buf, sizeof buf, 0);
            if (r > 0) {
                ++unexpected_bytes_;  // a listener that answers a header it never got: note it, keep waiting
                return;
            }
            if (r == -1 && (errno == EAGAIN || errno == EINTR)) return;
            closed(s, r == 0 ? 0 : errno, now);
        }
    }

    void dribble(Slot& s, double now) {
        // Never the header's last byte: the handshake must stay incomplete.
        if (s.sent + 1 >= s.header.size()) {
            s.next_at = 1e300;
            return;
        }
        ssize_t w = ::send(s.fd.get(), s.header.data() + s.sent, 1, MSG_NOSIGNAL);
        if (w == 1) {
            ++s.sent;
            ++bytes_sent_;
            s.next_at = now + opt_.interval_s;
        } else if (w == -1 && errno != EAGAIN && errno != EINTR) {
            closed(s, errno, now);
        }
    }

    void closed(Slot& s, int err, double now) {
        lifetimes_.push_back(now - s.connected_at);
        (err == 0 ? closed_eof_ : closed_rst_)++;
        --open_;
        s.fd.reset();
        s.state = State::Waiting;
        s.next_at = opt_.reconnect ? now : 1e300;
    }

    void mark_ready() {
        ready_ = true;
        if (!opt_.ready_file.empty())
            Fd(::open(opt_.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    }

    int report(double elapsed) {
        std::string fails = "{";
        for (const auto& [name, count] : connect_failures_) {
            if (fails.size() > 1) fails += ",";
            fails += soak::json_str(name) + ":" + std::to_string(count);
        }
        fails += "}";
        std::printf("{\"target\":%s,\"mode\":\"%s\",\"connections\":%llu,\"seconds\":%.3f,\"started\":%llu,"
                    "\"connected\":%llu,\"connect_failures\":%s,\"closed_by_peer\":%llu,\"closed_eof\":%llu,"
                    "\"closed_reset\":%llu,\"unexpected_bytes\":%llu,\"header_bytes_sent\":%llu,\"open_at_end\":%llu,"
                    "\"peak_open\":%llu,\"ready\":%s,\"lifetime_s\":%s}\n",
                    soak::json_str(opt_.target.to_string()).c_str(), opt_.dribble ? "dribble" : "silent",
                    u(opt_.connections), elapsed, u(started_), u(connected_), fails.c_str(),
                    u(closed_eof_ + closed_rst_), u(closed_eof_), u(closed_rst_), u(unexpected_bytes_),
                    u(bytes_sent_), u(open_), u(peak_open_), ready_ ? "true" : "false",
                    soak::distribution_json(lifetimes_).c_str());
        return 0;
    }

    const Options& opt_;
    std::vector<Slot> slots_;
    Fd epoll_;
    uint64_t next_id_ = 0, started_ = 0, connected_ = 0, connecting_ = 0, open_ = 0, peak_open_ = 0;
    uint64_t closed_eof_ = 0, closed_rst_ = 0, bytes_sent_ = 0, unexpected_bytes_ = 0;
    bool ready_ = false;
    std::map<std::string, uint64_t> connect_failures_;
    std::vector<double> lifetimes_;
};

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    bool have_target = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") usage(0);
        if (a == "--reconnect") {
            opt.reconnect = true;
            continue;
        }
        if (i + 1 >= argc) usage(2);
        std::string v = argv[++i];
        if (a == "--connect") {
            opt.target = soak::parse_addr(v);
            have_target = true;
        } else if (a == "--bind") {
            opt.bind = soak::parse_ip(v);
        } else if (a == "--connections") {
            opt.connections = soak::parse_u64("--connections", v);
        } else if (a == "--mode") {
            if (v == "dribble") opt.dribble = true;
            else if (v == "silent") opt.dribble = false;
            else usage(2);
        } else if (a == "--interval-ms") {
            opt.interval_s = soak::parse_double("--interval-ms", v) / 1000;
        } else if (a == "--header") {
            if (!soak::parse_header_kind(v, opt.header) || opt.header == soak::HeaderKind::None) usage(2);
        } else if (a == "--src-base") {
            opt.src_base = soak::parse_u64("--src-base", v);
        } else if (a == "--duration") {
            opt.duration_s = soak::parse_double("--duration", v);
        } else if (a == "--open-in-flight") {
            opt.open_in_flight = std::max<uint64_t>(1, soak::parse_u64("--open-in-flight", v));
        } else if (a == "--ready-file") {
            opt.ready_file = v;
        } else if (a == "--report-every") {
            opt.report_every_s = soak::parse_double("--report-every", v);
        } else {
            usage(2);
        }
    }
    if (!have_target || opt.connections == 0) usage(2);
    ::signal(SIGPIPE, SIG_IGN);
    soak::raise_nofile();
    return Stall(opt).run();
}
