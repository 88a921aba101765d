// libFuzzer target for the allowed-subnets file of the mmproxy mode (src/support/subnets.*): parse_list() over the
// file's text (from a string, not a file), parse_cidr() / parse_prefix() over its lines, and the matching.
// Input: the text.
// Invariants:
//   - failure iff an error is set, worded "fuzz.txt:<line>: invalid CIDR address: \"...\"";
//   - parsing the same text twice gives the same list;
//   - every prefix is IPv4 (length <= 32) or IPv6 (length <= 128) with its host bits clear; its to_string()
//     parses back (parse_cidr and parse_prefix) to the same prefix;
//   - the list contains each prefix's network address and, for an IPv4 prefix, its IPv4-mapped IPv6 form; an
//     address built from the input's bytes is contained exactly when a bit-by-bit reference says so;
//   - parse_prefix() of each line agrees with parse_cidr() when the line has a '/', and a bare address is the
//     prefix of that one address.
#include "support/subnets.h"

#include "fuzz_util.h"

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::subnets;
using ferry::SocketAddress;
using ferry::fuzz::require;

constexpr std::string_view kFile = "fuzz.txt";

bool bit(const uint8_t* bytes, int i) { return (bytes[i / 8] >> (7 - i % 8)) & 1; }

bool host_bits_clear(const IpPrefix& p) {
    const int bits = p.family == AF_INET ? 32 : 128;
    for (int i = p.length; i < bits; ++i)
        if (bit(p.address.data(), i)) return false;
    for (size_t i = p.family == AF_INET ? 4 : 16; i < 16; ++i)
        if (p.address[i] != 0) return false;
    return true;
}

// Whether `a` (taken as it is) is in `p`, the slow way.
bool reference_contains(const IpPrefix& p, const SocketAddress& a) {
    if (a.family() != p.family) return false;
    const uint8_t* bytes = a.is_v4() ? reinterpret_cast<const uint8_t*>(&a.storage.in4.sin_addr)
                                     : a.storage.in6.sin6_addr.s6_addr;
    for (int i = 0; i < p.length; ++i)
        if (bit(bytes, i) != bit(p.address.data(), i)) return false;
    return true;
}

SocketAddress network_address(const IpPrefix& p) {
    return p.family == AF_INET ? SocketAddress::from_v4(p.address.data(), 80)
                               : SocketAddress::from_v6(p.address.data(), 80);
}

void check_prefix(const IpPrefix& p) {
    require((p.family == AF_INET && p.length >= 0 && p.length <= 32) ||
            (p.family == AF_INET6 && p.length >= 0 && p.length <= 128));
    require(host_bits_clear(p));
    const std::string text = p.to_string();
    require(parse_cidr(text) == p && parse_prefix(text) == p);
    require(p.contains(network_address(p)));
}

// The lines of the text as parse_list() sees them, for parse_prefix().
void check_lines(std::string_view text) {
    while (!text.empty()) {
        const size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        const auto cidr = parse_cidr(line);
        const auto prefix = parse_prefix(line);
        if (cidr) check_prefix(*cidr);
        if (line.find('/') != std::string_view::npos) {
            require(cidr == prefix);
        } else if (prefix) {
            check_prefix(*prefix);
            require(prefix->length == (prefix->family == AF_INET ? 32 : 128) ||
                    (prefix->family == AF_INET && line.find(':') != std::string_view::npos));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::string_view text = ferry::fuzz::as_text(input);
    check_lines(text);

    const LoadResult r = parse_list(text, kFile);
    const LoadResult again = parse_list(text, kFile);
    require(again.ok() == r.ok() && again.error == r.error);
    require(r.ok() == r.error.empty());
    if (!r.ok()) {
        require(r.error.starts_with(std::string(kFile) + ":") &&
                r.error.find(": invalid CIDR address: \"") != std::string::npos);
        return 0;
    }
    require(again.list->prefixes() == r.list->prefixes());
    const SubnetList& list = *r.list;

    // Addresses to match: the first bytes of the input as IPv4, IPv6 and IPv4-mapped IPv6.
    uint8_t raw[16] = {};
    std::memcpy(raw, data, std::min<size_t>(size, 16));
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    std::memcpy(mapped + 12, raw, 4);
    const SocketAddress v4 = SocketAddress::from_v4(raw, 1), v6 = SocketAddress::from_v6(raw, 1);
    const SocketAddress v4_mapped = SocketAddress::from_v6(mapped, 1);

    bool any_v4 = list.empty(), any_v6 = list.empty();
    for (const IpPrefix& p : list.prefixes()) {
        check_prefix(p);
        require(list.contains(network_address(p)));
        if (p.family == AF_INET) {
            std::memcpy(mapped + 12, p.address.data(), 4);
            require(list.contains(SocketAddress::from_v6(mapped, 443)));
            std::memcpy(mapped + 12, raw, 4);
        }
        require(p.contains(v4) == reference_contains(p, v4) && p.contains(v6) == reference_contains(p, v6));
        require(!p.contains(v4_mapped) || p.family == AF_INET6);
        any_v4 = any_v4 || reference_contains(p, v4);
        any_v6 = any_v6 || reference_contains(p, v6.unmapped());
    }
    require(list.contains(v4) == any_v4 && list.contains(v4_mapped) == any_v4);
    require(list.contains(v6) == any_v6);
    return 0;
}
