// udpecho: the benchmark's UDP upstream. Every datagram goes back to its sender, unchanged, from the socket it
// arrived on. One blocking loop per thread, each with its own SO_REUSEPORT socket on every --listen address
// (the kernel spreads senders over them by their address), datagrams read and answered in batches
// (recvmmsg / sendmmsg), so that the echo is never the bottleneck.
//
//   udpecho --listen ADDR:PORT [--threads N]
//
// ADDR is IPv4 (127.0.0.1) or bracketed IPv6 ([::1]). The source check: a datagram that is exactly
// "ferry-udp-whoami" is answered with "whoami ADDR:PORT", the address it came from (the harness sends one
// through each subject, with a PROXY v2 header claiming a client address, and expects that address back), and
// that address is also logged on stderr. SIGTERM/SIGINT exit 0. A full send buffer drops the reply (counted,
// printed at exit), as a real UDP service would.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"

namespace {

constexpr int kBatch = 64;               // datagrams per recvmmsg / sendmmsg
constexpr size_t kMaxDatagram = 65536;   // bytes per datagram buffer
constexpr char kWhoami[] = "ferry-udp-whoami";
constexpr size_t kWhoamiSize = sizeof kWhoami - 1;

using ferry::Fd;

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_dropped{0};
std::atomic<uint64_t> g_echoed{0};

void on_signal(int) { g_stop.store(true); }

std::string peer_text(const sockaddr_storage& ss) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        return std::string(ip) + ":" + std::to_string(ntohs(v4->sin_port));
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

Fd open_socket(const ferry::SocketAddress& a, const std::string& text) {
    Fd fd(::socket(a.sa()->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        std::fprintf(stderr, "udpecho: socket: %s\n", std::strerror(errno));
        return Fd();
    }
    int one = 1;
    int buf = 4 << 20;  // the kernel caps these at rmem_max / wmem_max
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1 ||
        ::bind(fd.get(), a.sa(), a.length) == -1) {
        std::fprintf(stderr, "udpecho: bind %s: %s\n", text.c_str(), std::strerror(errno));
        return Fd();
    }
    // A receive timeout, so that a loop blocked in recvmmsg notices the stop flag.
    timeval tv{0, 200'000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

void serve(int fd) {
    std::vector<char> bufs(static_cast<size_t>(kBatch) * kMaxDatagram);
    mmsghdr msgs[kBatch];
    iovec iovs[kBatch];
    sockaddr_storage peers[kBatch];
    mmsghdr out[kBatch];
    char whoami[kBatch][80];
    iovec out_iov[kBatch];
    while (!g_stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < kBatch; ++i) {
            iovs[i] = {bufs.data() + static_cast<size_t>(i) * kMaxDatagram, kMaxDatagram};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        int n = ::recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE, nullptr);
        if (n <= 0) continue;  // timeout, EINTR (the stop flag), or a transient error
        for (int i = 0; i < n; ++i) {
            out[i] = {};
            out[i].msg_hdr.msg_name = &peers[i];
            out[i].msg_hdr.msg_namelen = msgs[i].msg_hdr.msg_namelen;
            out_iov[i] = {iovs[i].iov_base, msgs[i].msg_len};
            if (msgs[i].msg_len == kWhoamiSize && std::memcmp(iovs[i].iov_base, kWhoami, kWhoamiSize) == 0) {
                std::string who = peer_text(peers[i]);
                std::fprintf(stderr, "udpecho: whoami from %s\n", who.c_str());
                int len = std::snprintf(whoami[i], sizeof whoami[i], "whoami %s", who.c_str());
                out_iov[i] = {whoami[i], static_cast<size_t>(len)};
            }
            out[i].msg_hdr.msg_iov = &out_iov[i];
            out[i].msg_hdr.msg_iovlen = 1;
        }
        int done = 0;
        while (done < n) {
            int m = ::sendmmsg(fd, out + done, static_cast<unsigned>(n - done), MSG_DONTWAIT);
            if (m > 0) {
                done += m;
                continue;
            }
            if (m == -1 && errno == EINTR) continue;
            ++done;  // full buffer (EAGAIN), or this peer failed: drop one reply and go on with the rest
            g_dropped.fetch_add(1, std::memory_order_relaxed);
        }
        g_echoed.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
}

[[noreturn]] void usage(int status) {
    std::fputs("usage: udpecho --listen ADDR:PORT [--listen ADDR:PORT ...] [--threads N]\n"
               "  echoes every datagram to its sender; \"ferry-udp-whoami\" is answered with \"whoami ADDR:PORT\"\n",
               status == 0 ? stdout : stderr);
    std::exit(status);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::pair<ferry::SocketAddress, std::string>> addrs;
    long threads = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") usage(0);
        if (i + 1 >= argc) usage(2);
        std::string v = argv[++i];
        if (arg == "--listen") {
            auto a = ferry::parse_host_port(v);
            if (!a) {
                std::fprintf(stderr, "udpecho: bad --listen '%s' (want IP:PORT or [IPv6]:PORT)\n", v.c_str());
                return 2;
            }
            addrs.emplace_back(*a, v);
        } else if (arg == "--threads") {
            char* end = nullptr;
            threads = std::strtol(v.c_str(), &end, 10);
            if (*end != '\0' || threads < 1 || threads > 256) {
                std::fprintf(stderr, "udpecho: bad --threads '%s'\n", v.c_str());
                return 2;
            }
        } else {
            usage(2);
        }
    }
    if (addrs.empty()) usage(2);
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: a blocked recvmmsg returns EINTR
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    std::vector<Fd> fds;
    for (long t = 0; t < threads; ++t)
        for (auto& [a, text] : addrs) {
            fds.push_back(open_socket(a, text));
            if (!fds.back().valid()) return 1;
        }
    std::vector<std::thread> loops;
    for (auto& fd : fds) loops.emplace_back(serve, fd.get());
    for (auto& t : loops) t.join();
    std::fprintf(stderr, "udpecho: %llu datagrams echoed, %llu replies dropped\n",
                 static_cast<unsigned long long>(g_echoed.load()), static_cast<unsigned long long>(g_dropped.load()));
    return 0;
}
