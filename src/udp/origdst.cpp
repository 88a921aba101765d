#include "udp/origdst.h"

#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace ferry::udp {

std::optional<SocketAddress> original_destination(std::span<const std::byte> control) {
    // The header is copied out rather than cast: the buffer may sit at any alignment. Offsets are the ones the
    // CMSG_* macros use: each message starts at a CMSG_ALIGN'ed offset, its data CMSG_LEN(0) bytes in.
    constexpr size_t kDataOffset = CMSG_LEN(0);
    size_t offset = 0;
    while (control.size() - offset >= sizeof(cmsghdr)) {
        cmsghdr header;
        std::memcpy(&header, control.data() + offset, sizeof header);
        const size_t length = header.cmsg_len;
        if (length < kDataOffset || length > control.size() - offset) return std::nullopt;
        const std::byte* data = control.data() + offset + kDataOffset;
        const size_t data_length = length - kDataOffset;
        if (header.cmsg_level == SOL_IP && header.cmsg_type == IP_ORIGDSTADDR && data_length >= sizeof(sockaddr_in)) {
            sockaddr_in sin;
            std::memcpy(&sin, data, sizeof sin);
            if (sin.sin_family == AF_INET)
                return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
        } else if (header.cmsg_level == SOL_IPV6 && header.cmsg_type == IPV6_ORIGDSTADDR &&
                   data_length >= sizeof(sockaddr_in6)) {
            sockaddr_in6 sin6;
            std::memcpy(&sin6, data, sizeof sin6);
            if (sin6.sin6_family == AF_INET6)
                return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6).unmapped();
        }
        const size_t next = CMSG_ALIGN(length);
        if (next > control.size() - offset) break;
        offset += next;
    }
    return std::nullopt;
}

}  // namespace ferry::udp
