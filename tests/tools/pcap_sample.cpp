// pcap_sample OUT.pcap [EXPECT_PREFIX]: writes a pcap file (src/pcap.cpp) with two interleaved flows carrying
// known bytes, for checking that Wireshark/tshark read the synthesized packets back exactly:
//   tcp.stream 0: IPv4 192.0.2.1:40000 -> 198.51.100.7:80; a request, a 70000-byte response (split into two
//                 packets), a last client chunk, then a FIN from each side.
//   tcp.stream 1: IPv6 [2001:db8::1]:50000 -> [2001:db8::2]:443; a 140000-byte upload holding every byte value
//                 (three packets), a short answer, the client's FIN, then an RST from the server.
// With EXPECT_PREFIX it also writes what each side sent, byte for byte, to EXPECT_PREFIX.0.client,
// EXPECT_PREFIX.0.server, EXPECT_PREFIX.1.client and EXPECT_PREFIX.1.server. Exit status 0, or 1 with a
// message on stderr when a file cannot be written; 2 for a wrong command line.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"
#include "relay/pcap.h"

namespace {

using Bytes = std::vector<std::byte>;

Bytes text(std::string_view s) {
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return Bytes(b.begin(), b.end());
}

// Bytes that are not text and not periodic at any packet size, so a reordered or repeated segment shows.
Bytes pattern(size_t n, unsigned seed) {
    Bytes b(n);
    uint32_t x = seed;
    for (auto& c : b) {
        x = x * 1103515245u + 12345u;
        c = std::byte(x >> 16);
    }
    return b;
}

// All 256 byte values in order, repeated up to n bytes.
Bytes every_byte(size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = std::byte(i & 0xff);
    return b;
}

bool write_file(const std::string& path, const Bytes& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        std::fprintf(stderr, "pcap_sample: %s: %s\n", path.c_str(), std::strerror(errno));
        return false;
    }
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) {
        std::fprintf(stderr, "pcap_sample: %s: write failed\n", path.c_str());
        return false;
    }
    return true;
}

void append(Bytes& to, const Bytes& more) { to.insert(to.end(), more.begin(), more.end()); }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: pcap_sample OUT.pcap [EXPECT_PREFIX]\n");
        return 2;
    }
    namespace pcap = ferry::pcap;
    const auto addr = [](const char* s) { return *ferry::parse_host_port(s); };
    pcap::FlowRecorder v4(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    pcap::FlowRecorder v6(addr("[2001:db8::1]:50000"), addr("[2001:db8::2]:443"));

    const Bytes request = text("GET / HTTP/1.1\r\nHost: example\r\n\r\n");
    Bytes response = text("HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n");
    append(response, pattern(70000, 1));
    const Bytes last = text("bye\n");
    const Bytes upload = every_byte(140000);
    const Bytes answer = text("ok\n");

    // One record buffer in time order, the two flows interleaved as two relayed connections would be.
    Bytes file = pcap::file_header();
    uint64_t t = 1700000000000000ull;
    const auto tick = [&t] { return t += 1000; };
    v4.open(tick(), file);
    v6.open(tick(), file);
    v4.data(true, request, tick(), file);
    v6.data(true, upload, tick(), file);
    v4.data(false, response, tick(), file);
    v6.data(false, answer, tick(), file);
    v4.data(true, last, tick(), file);
    v6.fin(true, tick(), file);
    v4.fin(true, tick(), file);
    v6.reset(false, tick(), file);
    v4.fin(false, tick(), file);

    if (!write_file(argv[1], file)) return 1;
    if (argc == 3) {
        const std::string prefix = argv[2];
        Bytes client0 = request;
        append(client0, last);
        if (!write_file(prefix + ".0.client", client0) || !write_file(prefix + ".0.server", response) ||
            !write_file(prefix + ".1.client", upload) || !write_file(prefix + ".1.server", answer))
            return 1;
    }
    return 0;
}
