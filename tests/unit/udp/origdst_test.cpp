// The original destination in a TPROXY'd datagram's ancillary data: control buffers laid out with the CMSG_*
// macros as recvmsg fills them, then one from the kernel itself over loopback.
#include "udp/origdst.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string_view>
#include <vector>

using ferry::SocketAddress;
using ferry::udp::original_destination;

namespace {

SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

struct Message {
    int level;
    int type;
    std::vector<unsigned char> data;
};

template <typename T>
Message message(int level, int type, const T& value) {
    std::vector<unsigned char> data(sizeof value);
    std::memcpy(data.data(), &value, sizeof value);
    return {level, type, data};
}

Message origdst4(std::string_view text) {
    SocketAddress a = addr(text);
    REQUIRE(a.is_v4());
    return message(SOL_IP, IP_ORIGDSTADDR, a.storage.in4);
}

Message origdst6(std::string_view text) {
    SocketAddress a = addr(text);
    REQUIRE(a.is_v6());
    return message(SOL_IPV6, IPV6_ORIGDSTADDR, a.storage.in6);
}

// A control buffer as recvmsg leaves it: the messages one after the other through CMSG_FIRSTHDR/CMSG_NXTHDR,
// msg_controllen the sum of their CMSG_SPACE.
struct Control {
    alignas(cmsghdr) unsigned char buffer[512] = {};
    size_t length = 0;

    explicit Control(const std::vector<Message>& messages) {
        msghdr msg{};
        msg.msg_control = buffer;
        msg.msg_controllen = sizeof buffer;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        for (const Message& m : messages) {
            REQUIRE(c != nullptr);
            c->cmsg_level = m.level;
            c->cmsg_type = m.type;
            c->cmsg_len = CMSG_LEN(m.data.size());
            if (!m.data.empty()) std::memcpy(CMSG_DATA(c), m.data.data(), m.data.size());
            length += CMSG_SPACE(m.data.size());
            c = CMSG_NXTHDR(&msg, c);
        }
    }
    std::span<const std::byte> bytes(size_t n) const { return {reinterpret_cast<const std::byte*>(buffer), n}; }
    std::span<const std::byte> bytes() const { return bytes(length); }
    cmsghdr* header(size_t offset) { return reinterpret_cast<cmsghdr*>(buffer + offset); }
};

}  // namespace

TEST_CASE("origdst: IPv4 and IPv6 original destinations", "[origdst][udp]") {
    CHECK(original_destination(Control({origdst4("198.51.100.7:53")}).bytes()) == addr("198.51.100.7:53"));
    CHECK(original_destination(Control({origdst6("[2001:db8::7]:443")}).bytes()) == addr("[2001:db8::7]:443"));
    // Mapped (an IPv6 socket's view of IPv4), given back unmapped.
    auto mapped = original_destination(Control({origdst6("[::ffff:203.0.113.5]:123")}).bytes());
    REQUIRE(mapped);
    CHECK(mapped->is_v4());
    CHECK(*mapped == addr("203.0.113.5:123"));
    CHECK(original_destination(Control({origdst4("0.0.0.0:0")}).bytes()) == addr("0.0.0.0:0"));
}

TEST_CASE("origdst: absent", "[origdst][udp]") {
    CHECK_FALSE(original_destination({}));
    const int ttl = 64;
    const uint8_t tos = 0x10;
    in_pktinfo pktinfo{};
    pktinfo.ipi_ifindex = 1;
    CHECK_FALSE(original_destination(Control({message(SOL_IP, IP_TTL, ttl)}).bytes()));
    CHECK_FALSE(original_destination(
        Control({message(SOL_IP, IP_TTL, ttl), message(SOL_IP, IP_TOS, tos), message(SOL_IP, IP_PKTINFO, pktinfo)})
            .bytes()));
    // The right payload under the wrong level or type is not an original destination.
    Message wrong_level = origdst4("198.51.100.7:53");
    wrong_level.level = SOL_IPV6;
    CHECK_FALSE(original_destination(Control({wrong_level}).bytes()));
    Message wrong_type = origdst6("[2001:db8::7]:443");
    wrong_type.type = IPV6_PKTINFO;
    CHECK_FALSE(original_destination(Control({wrong_type}).bytes()));
}

TEST_CASE("origdst: found among several messages; the first one wins", "[origdst][udp]") {
    const int ttl = 64;
    const uint8_t tos = 0x10;
    CHECK(original_destination(Control({message(SOL_IP, IP_TTL, ttl), message(SOL_IP, IP_TOS, tos),
                                        origdst4("192.0.2.9:5353")})
                                   .bytes()) == addr("192.0.2.9:5353"));
    CHECK(original_destination(Control({origdst6("[2001:db8::9]:53"), message(SOL_IPV6, IPV6_HOPLIMIT, ttl)})
                                   .bytes()) == addr("[2001:db8::9]:53"));
    CHECK(original_destination(Control({origdst6("[2001:db8::9]:53"), origdst4("192.0.2.9:53")}).bytes()) ==
          addr("[2001:db8::9]:53"));
}

TEST_CASE("origdst: messages too short or of the wrong family are skipped", "[origdst][udp]") {
    const uint32_t short_data = 0x01020304;
    CHECK(original_destination(Control({message(SOL_IP, IP_ORIGDSTADDR, short_data), origdst4("192.0.2.9:53")})
                                   .bytes()) == addr("192.0.2.9:53"));
    // A sockaddr_in6 under IP_ORIGDSTADDR (long enough, wrong family), then a sockaddr_in under IPV6_ORIGDSTADDR.
    Message v6_in_v4 = origdst6("[2001:db8::9]:53");
    v6_in_v4.level = SOL_IP;
    v6_in_v4.type = IP_ORIGDSTADDR;
    Message v4_in_v6 = origdst4("192.0.2.9:53");
    v4_in_v6.level = SOL_IPV6;
    v4_in_v6.type = IPV6_ORIGDSTADDR;
    CHECK_FALSE(original_destination(Control({v6_in_v4, v4_in_v6}).bytes()));
    sockaddr_in6 unix_family{};
    unix_family.sin6_family = AF_UNIX;
    CHECK_FALSE(original_destination(Control({message(SOL_IPV6, IPV6_ORIGDSTADDR, unix_family)}).bytes()));
    CHECK(original_destination(Control({message(SOL_IPV6, IPV6_ORIGDSTADDR, unix_family),
                                        origdst6("[2001:db8::9]:53")})
                                   .bytes()) == addr("[2001:db8::9]:53"));
}

TEST_CASE("origdst: truncated buffers", "[origdst][udp]") {
    Control alone({origdst4("198.51.100.7:53")});
    for (size_t n = 0; n < alone.length; ++n) {
        INFO("first " << n << " of " << alone.length << " bytes");
        // The message is whole once cmsg_len bytes are there; its CMSG_SPACE padding is not needed.
        if (n >= CMSG_LEN(sizeof(sockaddr_in)))
            CHECK(original_destination(alone.bytes(n)) == addr("198.51.100.7:53"));
        else
            CHECK_FALSE(original_destination(alone.bytes(n)));
    }
    const int ttl = 64;
    Control second({message(SOL_IP, IP_TTL, ttl), origdst6("[2001:db8::7]:443")});
    const size_t first_space = CMSG_SPACE(sizeof ttl);
    for (size_t n = 0; n < first_space + CMSG_LEN(sizeof(sockaddr_in6)); ++n) {
        INFO("first " << n << " of " << second.length << " bytes");
        CHECK_FALSE(original_destination(second.bytes(n)));
    }
    CHECK(original_destination(second.bytes()) == addr("[2001:db8::7]:443"));
    // A cmsg_len running past the buffer (as after MSG_CTRUNC), or shorter than a header: the walk stops.
    Control bad({origdst4("198.51.100.7:53")});
    bad.header(0)->cmsg_len = bad.length + 1;
    CHECK_FALSE(original_destination(bad.bytes()));
    for (size_t len : {size_t{0}, size_t{1}, sizeof(cmsghdr) - 1}) {
        Control tiny({message(SOL_IP, IP_TTL, ttl), origdst4("198.51.100.7:53")});
        tiny.header(0)->cmsg_len = len;
        CHECK_FALSE(original_destination(tiny.bytes()));
    }
}

TEST_CASE("origdst: any alignment", "[origdst][udp]") {
    Control c({origdst6("[2001:db8::7]:443")});
    std::vector<std::byte> shifted(c.length + 3);
    std::memcpy(shifted.data() + 3, c.buffer, c.length);
    CHECK(original_destination(std::span<const std::byte>(shifted).subspan(3)) == addr("[2001:db8::7]:443"));
}

TEST_CASE("origdst: what the kernel reports over loopback", "[origdst][udp]") {
    // Without a TPROXY rule the original destination is the address the datagram was sent to: this checks the
    // layout against the kernel's, for both families (IPv6 only where ::1 exists).
    for (const char* listen : {"127.0.0.1:0", "[::1]:0"}) {
        INFO(listen);
        SocketAddress local = addr(listen);
        const bool v6 = local.is_v6();
        const int rx = ::socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(rx != -1);
        if (::bind(rx, local.sa(), local.length) == -1) {
            ::close(rx);
            REQUIRE(v6);  // no ::1 in this namespace: only IPv4 is checked
            continue;
        }
        const int on = 1;
        REQUIRE(::setsockopt(rx, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR, &on,
                             sizeof on) == 0);
        socklen_t len = sizeof local.storage;
        REQUIRE(::getsockname(rx, local.sa(), &len) == 0);
        local.length = len;
        const int tx = ::socket(local.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(tx != -1);
        REQUIRE(::sendto(tx, "q", 1, 0, local.sa(), local.length) == 1);
        char payload[16];
        alignas(cmsghdr) unsigned char control[256];
        iovec iov{payload, sizeof payload};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        REQUIRE(::recvmsg(rx, &msg, 0) == 1);
        CHECK((msg.msg_flags & MSG_CTRUNC) == 0);
        auto got = original_destination({reinterpret_cast<const std::byte*>(control), msg.msg_controllen});
        CHECK(got == local);
        ::close(tx);
        ::close(rx);
    }
}
