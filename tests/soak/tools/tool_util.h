// What the soak tools (streamer, stall, probe) share: argument parsing, clocks, errno names, percentiles, JSON
// strings and the PROXY headers of spoofed clients. Header-only: each tool is one file plus this.
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"

namespace soak {

inline double mono_s() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

inline uint64_t parse_u64(const char* name, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    unsigned long long x = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || errno || *end) {
        std::fprintf(stderr, "%s: not a number: %s\n", name, v.c_str());
        std::exit(2);
    }
    return x;
}

inline double parse_double(const char* name, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || errno || *end || !std::isfinite(x) || x < 0) {
        std::fprintf(stderr, "%s: not a non-negative number: %s\n", name, v.c_str());
        std::exit(2);
    }
    return x;
}

inline ferry::SocketAddress parse_addr(const std::string& v) {
    auto a = ferry::parse_host_port(v);
    if (!a) {
        std::fprintf(stderr, "not an address (ip:port or [ip6]:port): %s\n", v.c_str());
        std::exit(2);
    }
    return *a;
}

// A bare IPv4 or IPv6 address as a socket address with port 0 (to bind a client socket to).
inline ferry::SocketAddress parse_ip(const std::string& v) {
    return parse_addr(v.find(':') != std::string::npos ? "[" + v + "]:0" : v + ":0");
}

// RLIMIT_NOFILE up to its hard limit (20,000 on the test machines): the tools hold thousands of sockets.
inline void raise_nofile() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

inline std::string errno_name(int err) {
    switch (err) {
        case 0: return "none";
        case ECONNRESET: return "ECONNRESET";
        case EPIPE: return "EPIPE";
        case ECONNREFUSED: return "ECONNREFUSED";
        case ETIMEDOUT: return "ETIMEDOUT";
        case EAGAIN: return "timeout";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case ENETUNREACH: return "ENETUNREACH";
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
        case EMFILE: return "EMFILE";
        default: return std::string("errno ") + std::to_string(err) + " (" + std::strerror(err) + ")";
    }
}

inline std::string json_str(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out.push_back('\\');
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out.push_back(c);
    }
    return out + "\"";
}

// The value at percentile p (0-100) of `v` (sorted in place); 0 when empty.
inline double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    rank = std::clamp<size_t>(rank, 1, v.size());
    return v[rank - 1];
}

// {"n":N,"min":..,"p50":..,"p90":..,"p99":..,"max":..} of `v`, in its own unit, 3 decimals.
inline std::string distribution_json(std::vector<double> v) {
    char buf[256];
    if (v.empty()) return "{\"n\":0}";
    std::snprintf(buf, sizeof buf, "{\"n\":%zu,\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
                  v.size(), percentile(v, 0), percentile(v, 50), percentile(v, 90), percentile(v, 99),
                  percentile(v, 100));
    return buf;
}

enum class HeaderKind { None, V1, V2, Mixed };

inline bool parse_header_kind(const std::string& v, HeaderKind& out) {
    if (v == "none") out = HeaderKind::None;
    else if (v == "v1") out = HeaderKind::V1;
    else if (v == "v2") out = HeaderKind::V2;
    else if (v == "mixed") out = HeaderKind::Mixed;
    else return false;
    return true;
}

// The PROXY header of spoofed client number `k` for a connection to a listener of `to`'s family: sources from
// the documentation ranges (203.0.113.1-254 x ports 1024-65535, or 2001:db8:ff::/64), 16 million of them before
// one repeats (a repeat within a minute could meet its own TIME_WAIT at the relay); the destination is the fixed
// 192.0.2.1:443 or [2001:db8:ff::1]:443. Mixed alternates v1 and v2.
inline std::string proxy_header(HeaderKind kind, uint64_t k, const ferry::SocketAddress& to) {
    if (kind == HeaderKind::None) return "";
    const bool v6 = to.is_v6();
    const uint16_t port = static_cast<uint16_t>(1024 + (k / 254) % 64512);
    char src[64], dst[64];
    if (v6) {
        std::snprintf(src, sizeof src, "2001:db8:ff::%x:%x", static_cast<unsigned>(1 + (k >> 16) % 0xfffe),
                      static_cast<unsigned>(k & 0xffff));
        std::snprintf(dst, sizeof dst, "2001:db8:ff::1");
    } else {
        std::snprintf(src, sizeof src, "203.0.113.%u", static_cast<unsigned>(1 + k % 254));
        std::snprintf(dst, sizeof dst, "192.0.2.1");
    }
    if (kind == HeaderKind::Mixed) kind = k % 2 ? HeaderKind::V2 : HeaderKind::V1;
    if (kind == HeaderKind::V1) {
        char line[160];
        std::snprintf(line, sizeof line, "PROXY %s %s %s %u 443\r\n", v6 ? "TCP6" : "TCP4", src, dst, port);
        return line;
    }
    static const unsigned char sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    std::string h(reinterpret_cast<const char*>(sig), sizeof sig);
    const size_t alen = v6 ? 16 : 4;
    h.push_back(0x21);
    h.push_back(v6 ? 0x21 : 0x11);
    h.push_back(0);
    h.push_back(static_cast<char>(2 * alen + 4));
    unsigned char a[16];
    inet_pton(v6 ? AF_INET6 : AF_INET, src, a);
    h.append(reinterpret_cast<char*>(a), alen);
    inet_pton(v6 ? AF_INET6 : AF_INET, dst, a);
    h.append(reinterpret_cast<char*>(a), alen);
    h.push_back(static_cast<char>(port >> 8));
    h.push_back(static_cast<char>(port & 0xff));
    h.push_back(static_cast<char>(443 >> 8));
    h.push_back(static_cast<char>(443 & 0xff));
    return h;
}

}  // namespace soak
