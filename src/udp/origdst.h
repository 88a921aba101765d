// The original destination of a datagram that a TPROXY rule delivered to a transparent UDP socket, as the kernel
// reports it in the ancillary data of recvmsg()/recvmmsg() once IP_RECVORIGDSTADDR (IPv4) or IPV6_RECVORIGDSTADDR
// (IPv6) is set on the socket: a cmsg of level SOL_IP, type IP_ORIGDSTADDR with a sockaddr_in, or of level
// SOL_IPV6, type IPV6_ORIGDSTADDR with a sockaddr_in6 (an IPv6 socket receiving IPv4 gets the former). A pure
// function over the control buffer: no sockets.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "core/net_address.h"

namespace ferry::udp {

// Walks the control messages in `control` (msg_control, cut to the msg_controllen recvmsg returned; it need
// not be aligned) and returns the address and port of the first IP_ORIGDSTADDR or IPV6_ORIGDSTADDR message,
// unmapped (::ffff:a.b.c.d:p becomes a.b.c.d:p). nullopt when there is none, or when a message's cmsg_len is
// shorter than its header or runs past the buffer (a truncated buffer, MSG_CTRUNC) before one is found; an
// origdst message too short for its sockaddr or of the wrong family is skipped. Never reads past control.size().
std::optional<SocketAddress> original_destination(std::span<const std::byte> control);

}  // namespace ferry::udp
