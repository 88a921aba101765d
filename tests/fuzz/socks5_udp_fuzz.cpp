// libFuzzer target for SOCKS5 UDP ASSOCIATE as ferry speaks it to an upstream (src/proto/socks5.*): the reply to
// the request (parse_reply, then udp_relay_address) and the RFC 1928 section 7 header of a datagram from the relay
// (parse_udp_header). Input: one byte choosing the control connection's peer (low 2 bits: none, 198.51.100.2,
// [2001:db8::2], [::ffff:198.51.100.2], all on port 1080), then bytes read both as a reply and as a datagram.
// Invariants:
//   - the header: Done iff no error is set; parsing twice gives the same result; Fragment exactly when 4 bytes or
//     more start with RSV 0x0000 and a non-zero FRAG, which it reports; Done exactly when a reference reading of
//     the layout (RSV 0, FRAG 0, ATYP 1 / 4 / 3 with a non-empty domain, all of it present) says so, with the
//     payload offset 10, 22 or 7 + the domain's length, within the input; the address encodes back
//     (encode_udp_header) to the very header bytes, and with the payload (encode_udp_datagram) to the input;
//     the header alone, without its payload, parses the same; otherwise no address and offset 0;
//   - the reply: the incremental contract (fuzz_util.h), Invalid iff an error is set; on Done the relay address
//     is Done exactly when BND is an IP with a non-zero port and, for 0.0.0.0 / :: (mapped or not), a control
//     peer is known; it is then the unmapped BND, or the unmapped peer with BND.PORT; the bound address
//     encoded into a UDP ASSOCIATE request reads back (parse_request) as that command with that address.
#include "proto/socks5.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace ferry::socks5;
using ferry::SocketAddress;
using ferry::fuzz::require;
using ferry::fuzz::Verdict;

bool same(const UdpHeader& a, const UdpHeader& b) {
    return a.status == b.status && a.fragment == b.fragment && a.address == b.address &&
           a.payload_offset == b.payload_offset && a.error == b.error;
}

// The header's length by a plain reading of RFC 1928 section 7; 0 when it is not a whole FRAG 0 header.
size_t reference_header_length(std::span<const std::byte> d) {
    auto at = [&d](size_t i) { return static_cast<uint8_t>(d[i]); };
    if (d.size() < 4 || at(0) != 0 || at(1) != 0 || at(2) != 0) return 0;
    size_t length = 0;
    if (at(3) == 1) length = 10;
    if (at(3) == 4) length = 22;
    if (at(3) == 3 && d.size() >= 5 && at(4) != 0) length = 7 + at(4);
    return length <= d.size() ? length : 0;
}

void check_header(std::span<const std::byte> data) {
    const UdpHeader h = parse_udp_header(data);
    require(same(h, parse_udp_header(data)));
    require((h.status == UdpHeaderStatus::Done) == h.error.empty());
    const bool fragment = data.size() >= 4 && data[0] == std::byte{0} && data[1] == std::byte{0} &&
                          data[2] != std::byte{0};
    require((h.status == UdpHeaderStatus::Fragment) == fragment);
    if (fragment) require(h.fragment == static_cast<uint8_t>(data[2]));
    const size_t length = reference_header_length(data);
    require((h.status == UdpHeaderStatus::Done) == (length != 0));
    if (h.status != UdpHeaderStatus::Done) {
        require(h.payload_offset == 0 && h.address == Address());
        return;
    }
    require(h.payload_offset == length && h.payload_offset <= data.size());
    require(h.address.is_domain() ? h.address.ip.empty() : (h.address.ip.is_v4() || h.address.ip.is_v6()));
    std::vector<std::byte> encoded;
    require(encode_udp_header(h.address, encoded));
    require(ferry::fuzz::same_bytes(encoded, data.first(h.payload_offset)));
    encoded.clear();
    require(encode_udp_datagram(h.address, data.subspan(h.payload_offset), encoded));
    require(ferry::fuzz::same_bytes(encoded, data));
    const std::vector<std::byte> alone = ferry::fuzz::copy_bytes(data.first(h.payload_offset));
    const UdpHeader a = parse_udp_header(alone);
    require(a.status == UdpHeaderStatus::Done && a.address == h.address && a.payload_offset == alone.size());
}

void check_reply(std::span<const std::byte> data, const SocketAddress& peer) {
    const Reply r = parse_reply(data);
    require((r.status == Status::Invalid) == !r.error.empty());
    ferry::fuzz::check_incremental(data, [](std::span<const std::byte> d) {
        const Reply p = parse_reply(d);
        return Verdict{p.status, p.consumed};
    });
    if (r.status != Status::Done) return;

    const UdpRelay u = udp_relay_address(r.bound, peer);
    require(u.status == Status::Done || u.status == Status::Invalid);
    require((u.status == Status::Invalid) == !u.error.empty());
    const SocketAddress bound = r.bound.ip.unmapped();
    const bool ip = !r.bound.is_domain() && (bound.is_v4() || bound.is_v6());
    const bool own = ip && bound.is_unspecified();
    require((u.status == Status::Done) == (ip && r.bound.port != 0 && (!own || !peer.empty())));
    if (u.status == Status::Done) {
        SocketAddress expected = own ? peer.unmapped() : bound;
        expected.set_port(r.bound.port);
        require(u.address == expected && u.address.port() == r.bound.port);
        require(u.address == u.address.unmapped() && !u.address.is_unspecified());
    } else {
        require(u.address.empty());
    }
    if (ip) {
        std::vector<std::byte> request;
        encode_udp_associate(r.bound.ip, request);
        const Request q = parse_request(request);
        require(q.command == kCommandUdpAssociate && q.consumed == request.size() && q.destination == r.bound);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static const SocketAddress kPeers[] = {
        SocketAddress{},
        *ferry::parse_host_port("198.51.100.2:1080"),
        *ferry::parse_host_port("[2001:db8::2]:1080"),
        *ferry::parse_host_port("[::ffff:198.51.100.2]:1080"),
    };
    const SocketAddress& peer = kPeers[data[0] & 3];
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data + 1, size - 1);
    check_header(input);
    check_reply(input, peer);
    return 0;
}
