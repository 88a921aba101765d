#include "support/subnets.h"
#include "support/file_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/goflag.h"

namespace ferry::subnets {

namespace {

// Go's net.dtoi refuses numbers from this value up (so "/99999999" fails as a mask instead of overflowing).
constexpr int kDtoiBig = 0xFFFFFF;
// ::ffff:0:0/96, the IPv4-mapped IPv6 block.
constexpr uint8_t kV4InV6Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

// Go's net.dtoi over the whole string: decimal digits only, at least one, below kDtoiBig.
std::optional<int> whole_decimal(std::string_view s) {
    if (s.empty()) return std::nullopt;
    int n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
        if (n >= kDtoiBig) return std::nullopt;
    }
    return n;
}

// Clears every bit of bytes[0..size) past the first `length` bits.
void clear_host_bits(uint8_t* bytes, size_t size, int length) {
    for (size_t i = 0; i < size; ++i) {
        int keep = length - static_cast<int>(i) * 8;
        if (keep >= 8) continue;
        bytes[i] = keep <= 0 ? 0 : static_cast<uint8_t>(bytes[i] & (0xFF << (8 - keep)));
    }
}

// True when the first `length` bits of a and b agree.
bool same_leading_bits(const uint8_t* a, const uint8_t* b, int length) {
    int whole = length / 8;
    if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
    int rest = length % 8;
    if (rest == 0) return true;
    auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

// Go's IP.String() for a 16-byte address that is not IPv4-mapped: lowercase hex groups without leading
// zeros, the longest run (first on ties) of two or more zero groups written as "::".
std::string ipv6_to_string(const uint8_t* p) {
    int e0 = -1, e1 = -1;
    for (int i = 0; i < 16; i += 2) {
        int j = i;
        while (j < 16 && p[j] == 0 && p[j + 1] == 0) j += 2;
        if (j > i && j - i > e1 - e0) {
            e0 = i;
            e1 = j;
            i = j;
        }
    }
    if (e1 - e0 <= 2) e0 = e1 = -1;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; i += 2) {
        if (i == e0) {
            out += "::";
            i = e1;
            if (i >= 16) break;
        } else if (i > 0) {
            out += ':';
        }
        unsigned group = (static_cast<unsigned>(p[i]) << 8) | p[i + 1];
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned digit = (group >> shift) & 0xF;
            if (digit != 0 || started || shift == 0) {
                out += kHex[digit];
                started = true;
            }
        }
    }
    return out;
}

// Go's wording of an errno: strerror with a lower-case first letter ("no such file or directory").
std::string errno_text(int err) {
    std::string text = std::strerror(err);
    if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] - 'A' + 'a');
    return text;
}

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\v\f";
    size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    size_t last = s.find_last_not_of(kSpace);
    return s.substr(first, last - first + 1);
}

}  // namespace

bool IpPrefix::contains(const SocketAddress& addr) const {
    if (addr.family() != family) return false;
    if (family == AF_INET) {
        const auto* sin = &addr.storage.in4;
        return same_leading_bits(reinterpret_cast<const uint8_t*>(&sin->sin_addr), address.data(), length);
    }
    if (family == AF_INET6) {
        const auto* sin6 = &addr.storage.in6;
        return same_leading_bits(sin6->sin6_addr.s6_addr, address.data(), length);
    }
    return false;
}

std::string IpPrefix::to_string() const {
    if (family == AF_INET) {
        return std::to_string(address[0]) + "." + std::to_string(address[1]) + "." + std::to_string(address[2]) +
               "." + std::to_string(address[3]) + "/" + std::to_string(length);
    }
    if (family == AF_INET6) return ipv6_to_string(address.data()) + "/" + std::to_string(length);
    return "<nil>";
}

std::optional<IpPrefix> parse_cidr(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string host(text.substr(0, slash));
    // inet_pton stops at a NUL; Go would see the rest of the string and reject it.
    if (host.find('\0') != std::string::npos) return std::nullopt;
    std::optional<int> length = whole_decimal(text.substr(slash + 1));
    if (!length) return std::nullopt;

    // glibc's inet_pton is as strict as Go: dotted quads only, no leading zeros, no zones, no spaces.
    IpPrefix prefix;
    if (inet_pton(AF_INET, host.c_str(), prefix.address.data()) == 1) {
        if (*length > 32) return std::nullopt;
        prefix.family = AF_INET;
        prefix.length = *length;
        clear_host_bits(prefix.address.data(), 4, prefix.length);
        return prefix;
    }
    if (inet_pton(AF_INET6, host.c_str(), prefix.address.data()) != 1) return std::nullopt;
    if (*length > 128) return std::nullopt;
    prefix.family = AF_INET6;
    prefix.length = *length;
    clear_host_bits(prefix.address.data(), 16, prefix.length);
    // Go's IPNet keeps a mapped network in its 4-byte form: ::ffff:10.0.0.0/104 is 10.0.0.0/8.
    if (prefix.length >= 96 && std::memcmp(prefix.address.data(), kV4InV6Prefix, 12) == 0) {
        IpPrefix v4;
        v4.family = AF_INET;
        v4.length = prefix.length - 96;
        std::memcpy(v4.address.data(), prefix.address.data() + 12, 4);
        return v4;
    }
    return prefix;
}

std::optional<IpPrefix> parse_prefix(std::string_view text) {
    if (text.find('/') != std::string_view::npos) return parse_cidr(text);
    const bool v6 = text.find(':') != std::string_view::npos;
    return parse_cidr(std::string(text) + (v6 ? "/128" : "/32"));
}

bool SubnetList::contains(const SocketAddress& peer) const {
    if (prefixes_.empty()) return true;
    SocketAddress address = peer.unmapped();
    for (const IpPrefix& prefix : prefixes_)
        if (prefix.contains(address)) return true;
    return false;
}

LoadResult parse_list(std::string_view text, std::string_view file_name) {
    std::vector<IpPrefix> prefixes;
    size_t line_number = 0;
    while (!text.empty()) {
        ++line_number;
        size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        std::optional<IpPrefix> prefix = parse_cidr(line);
        if (!prefix) {
            LoadResult failed;
            failed.error = std::string(file_name) + ":" + std::to_string(line_number) +
                           ": invalid CIDR address: " + goflag::quote(line);
            return failed;
        }
        prefixes.push_back(*prefix);
    }
    LoadResult loaded;
    loaded.list = SubnetList(std::move(prefixes));
    return loaded;
}

LoadResult load_file(const std::string& path) {
    std::string text;
    const char* op = "";
    if (int err = read_text_file(path, text, &op)) {
        LoadResult failed;
        // Go's os error wording, but the size limit says what it is.
        failed.error = std::string(op) + " " + path + ": " + (err == EFBIG ? read_error_text(err) : errno_text(err));
        return failed;
    }
    return parse_list(text, path);
}

}  // namespace ferry::subnets
