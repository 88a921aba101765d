// A minimal TLS ClientHello built byte by byte, for the unit tests of the destination-name sniffers
// (proto/destination_name, engine/sniff).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry_test {

inline void put16(std::vector<std::byte>& v, size_t n) {
    v.push_back(std::byte(n >> 8));
    v.push_back(std::byte(n & 0xff));
}

// A minimal ClientHello record with the given extensions block (empty: no extensions field at all).
inline std::vector<std::byte> hello_with(const std::vector<std::byte>& extensions,
                                         bool with_extension_field = true) {
    std::vector<std::byte> body(2 + 32, std::byte{0x03});
    body.push_back(std::byte{0});  // session id
    put16(body, 2);
    body.push_back(std::byte{0x13});
    body.push_back(std::byte{0x01});
    body.push_back(std::byte{1});  // compression methods
    body.push_back(std::byte{0});
    if (with_extension_field) {
        put16(body, extensions.size());
        body.insert(body.end(), extensions.begin(), extensions.end());
    }
    std::vector<std::byte> hs{std::byte{1}, std::byte(body.size() >> 16), std::byte(body.size() >> 8),
                              std::byte(body.size() & 0xff)};
    hs.insert(hs.end(), body.begin(), body.end());
    std::vector<std::byte> rec{std::byte{0x16}, std::byte{3}, std::byte{1}};
    put16(rec, hs.size());
    rec.insert(rec.end(), hs.begin(), hs.end());
    return rec;
}

inline std::vector<std::byte> sni_extension(const std::string& name, uint8_t type = 0) {
    std::vector<std::byte> e;
    put16(e, 0);  // server_name
    put16(e, name.size() + 5);
    put16(e, name.size() + 3);
    e.push_back(std::byte{type});
    put16(e, name.size());
    for (char c : name) e.push_back(std::byte(static_cast<uint8_t>(c)));
    return e;
}

}  // namespace ferry_test
