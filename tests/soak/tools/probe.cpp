// probe: the soak's good client. Opens connections at a fixed rate (an open loop: a slow listener does not slow
// the schedule down, so queueing shows up as latency), each one a complete request: connect, an optional PROXY
// header, --message-size bytes, their echo back, close. Records every connection's outcome and latency.
//
//   probe --connect ADDR [--connect ADDR ...] --rate R --duration S [--header none|v1|v2|mixed] [--src-base K]
//         [--message-size N] [--deadline-ms MS] [--timeout-ms MS] [--bind IP] [--log FILE]
//
// Connection k starts at k/R seconds, goes to the k-th --connect address (round robin) and claims spoofed client
// k + --src-base in its header. Its latency runs from its scheduled start to the last byte of the echo; it
// succeeded when the echo is byte for byte what it sent, and succeeded "within the deadline" when that took at
// most --deadline-ms (1000). One that has not finished after --timeout-ms (5000) is a failure ("timeout").
//
// On stdout at the end, one JSON object: attempts, ok, ok_within_deadline, failures by kind ("connect ERRNO",
// "reset", "eof", "mismatch", "timeout", "local ERRNO"), the two rates, latency_ms of the successful ones (n,
// min, p50, p90, p99, max). --log FILE: one line per connection, "k start_s latency_ms outcome".

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"
#include "tool_util.h"

namespace {

using ferry::Fd;
using ferry::SocketAddress;

struct Options {
    std::vector<SocketAddress> targets;
    std::optional<SocketAddress> bind;
    double rate = 100;
    double duration_s = 10;
    soak::HeaderKind header = soak::HeaderKind::None;
    uint64_t src_base = 0;
    size_t message_size = 64;
    double deadline_s = 1.0;
    double timeout_s = 5.0;
    std::string log;
};

struct Probe {
    uint64_t k = 0;
    Fd fd;
    bool connected = false;
    double scheduled = 0;
    std::string out;       // header + message still to send (from `sent`)
    size_t sent = 0;
    std::string message;   // what must come back
    size_t received = 0;
};

[[noreturn]] void usage(int status) {
    std::fputs("usage: probe --connect ADDR [--connect ADDR ...] --rate R --duration S [--header none|v1|v2|mixed]\n"
               "             [--src-base K] [--message-size N] [--deadline-ms MS] [--timeout-ms MS] [--bind IP]\n"
               "             [--log FILE]\n",
               status ? stderr : stdout);
    std::exit(status);
}

class Prober {
public:
    explicit Prober(const Options& opt) : opt_(opt) {}

    int run() {
        if (!opt_.log.empty()) {
            log_ = std::fopen(opt_.log.c_str(), "w");
            if (!log_) {
                std::fprintf(stderr, "probe: cannot open %s\n", opt_.log.c_str());
                return 1;
            }
        }
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        t0_ = soak::mono_s();
        const uint64_t total = static_cast<uint64_t>(opt_.rate * opt_.duration_s);
        std::vector<epoll_event> events(512);
        uint64_t next = 0;
        for (;;) {
            double now = soak::mono_s();
            while (next < total && t0_ + static_cast<double>(next) / opt_.rate <= now) start(next++);
            expire(now);
            if (next >= total && live_.empty()) break;
            double wake = next < total ? t0_ + static_cast<double>(next) / opt_.rate : now + 0.05;
            int timeout_ms = static_cast<int>(std::clamp((wake - now) * 1000, 0.0, 50.0));
            int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
            for (int i = 0; i < n; ++i) {
                auto it = live_.find(events[i].data.u64);
                if (it != live_.end()) on_event(*it->second, events[i].events);
            }
        }
        if (log_) std::fclose(log_);
        return report();
    }

private:
    void start(uint64_t k) {
        auto p = std::make_unique<Probe>();
        p->k = k;
        p->scheduled = t0_ + static_cast<double>(k) / opt_.rate;
        const SocketAddress& to = opt_.targets[k % opt_.targets.size()];
        p->message.resize(opt_.message_size);
        std::string tag = "probe " + std::to_string(k) + " ";
        for (size_t i = 0; i < p->message.size(); ++i) p->message[i] = tag[i % tag.size()];
        p->out = soak::proxy_header(opt_.header, opt_.src_base + k, to) + p->message;
        ++attempts_;
        int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            done(*p, "local " + soak::errno_name(errno));
            return;
        }
        p->fd.reset(fd);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (opt_.bind) {
            ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (::bind(fd, opt_.bind->sa(), opt_.bind->length) == -1) {
                done(*p, "local " + soak::errno_name(errno));
                return;
            }
        }
        if (::connect(fd, to.sa(), to.length) == -1 && errno != EINPROGRESS) {
            done(*p, "connect " + soak::errno_name(errno));
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = k;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
        order_.push_back(k);
        live_.emplace(k, std::move(p));
    }

    void on_event(Probe& p, uint32_t events) {
        if (!p.connected) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(p.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                finish(p, "connect " + soak::errno_name(err));
                return;
            }
            if (!(events & EPOLLOUT)) return;
            p.connected = true;
        }
        while (p.sent < p.out.size()) {
            ssize_t w = ::send(p.fd.get(), p.out.data() + p.sent, p.out.size() - p.sent, MSG_NOSIGNAL);
            if (w == -1) {
                if (errno == EAGAIN) return;
                if (errno == EINTR) continue;
                finish(p, "reset");
                return;
            }
            p.sent += static_cast<size_t>(w);
        }
        char buf[4096];
        for (;;) {
            ssize_t r = ::recv(p.fd.get(), buf, sizeof buf, 0);
            if (r == -1) {
                if (errno == EAGAIN) return;
                if (errno == EINTR) continue;
                finish(p, "reset");
                return;
            }
            if (r == 0) {
                finish(p, "eof");
                return;
            }
            if (p.received + static_cast<size_t>(r) > p.message.size() ||
                p.message.compare(p.received, static_cast<size_t>(r), buf, static_cast<size_t>(r)) != 0) {
                finish(p, "mismatch");
                return;
            }
            p.received += static_cast<size_t>(r);
            if (p.received == p.message.size()) {
                finish(p, "");
                return;
            }
        }
    }

    // Probes still running after --timeout-ms fail; the oldest are at the front.
    void expire(double now) {
        while (!order_.empty()) {
            auto it = live_.find(order_.front());
            if (it == live_.end()) {
                order_.pop_front();
                continue;
            }
            if (now - it->second->scheduled < opt_.timeout_s) break;
            finish(*it->second, "timeout");
        }
    }

    void finish(Probe& p, const std::string& outcome) {
        done(p, outcome);
        live_.erase(p.k);  // destroys p
    }

    void done(Probe& p, const std::string& outcome) {
        const double latency = soak::mono_s() - p.scheduled;
        if (outcome.empty()) {
            ++ok_;
            if (latency <= opt_.deadline_s) ++ok_within_;
            latencies_ms_.push_back(latency * 1000);
        } else {
            ++failures_[outcome];
        }
        if (log_)
            std::fprintf(log_, "%llu %.3f %.3f %s\n", static_cast<unsigned long long>(p.k), p.scheduled - t0_,
                         latency * 1000, outcome.empty() ? "ok" : outcome.c_str());
        if (p.fd) {
            linger lg{1, 0};  // a failed or finished probe leaves no TIME_WAIT behind
            ::setsockopt(p.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            p.fd.reset();
        }
    }

    int report() {
        std::string fails = "{";
        for (const auto& [name, count] : failures_) {
            if (fails.size() > 1) fails += ",";
            fails += soak::json_str(name) + ":" + std::to_string(count);
        }
        fails += "}";
        auto rate = [&](uint64_t n) {
            return attempts_ ? static_cast<double>(n) / static_cast<double>(attempts_) : 0.0;
        };
        std::printf("{\"targets\":%zu,\"rate\":%.1f,\"seconds\":%.3f,\"attempts\":%llu,\"ok\":%llu,"
                    "\"ok_within_deadline\":%llu,\"deadline_ms\":%.0f,\"failures\":%s,\"success_rate\":%.6f,"
                    "\"within_deadline_rate\":%.6f,\"latency_ms\":%s}\n",
                    opt_.targets.size(), opt_.rate, soak::mono_s() - t0_, static_cast<unsigned long long>(attempts_),
                    static_cast<unsigned long long>(ok_), static_cast<unsigned long long>(ok_within_),
                    opt_.deadline_s * 1000, fails.c_str(), rate(ok_), rate(ok_within_),
                    soak::distribution_json(latencies_ms_).c_str());
        return 0;
    }

    const Options& opt_;
    Fd epoll_;
    double t0_ = 0;
    std::unordered_map<uint64_t, std::unique_ptr<Probe>> live_;
    std::deque<uint64_t> order_;
    uint64_t attempts_ = 0, ok_ = 0, ok_within_ = 0;
    std::map<std::string, uint64_t> failures_;
    std::vector<double> latencies_ms_;
    FILE* log_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") usage(0);
        if (i + 1 >= argc) usage(2);
        std::string v = argv[++i];
        if (a == "--connect") opt.targets.push_back(soak::parse_addr(v));
        else if (a == "--bind") opt.bind = soak::parse_ip(v);
        else if (a == "--rate") opt.rate = soak::parse_double("--rate", v);
        else if (a == "--duration") opt.duration_s = soak::parse_double("--duration", v);
        else if (a == "--header") {
            if (!soak::parse_header_kind(v, opt.header)) usage(2);
        } else if (a == "--src-base") opt.src_base = soak::parse_u64("--src-base", v);
        else if (a == "--message-size") opt.message_size = std::max<uint64_t>(1, soak::parse_u64("--message-size", v));
        else if (a == "--deadline-ms") opt.deadline_s = soak::parse_double("--deadline-ms", v) / 1000;
        else if (a == "--timeout-ms") opt.timeout_s = soak::parse_double("--timeout-ms", v) / 1000;
        else if (a == "--log") opt.log = v;
        else usage(2);
    }
    if (opt.targets.empty() || opt.rate <= 0) usage(2);
    ::signal(SIGPIPE, SIG_IGN);
    soak::raise_nofile();
    return Prober(opt).run();
}
