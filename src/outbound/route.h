// How a listener's connections reach their destination, as plain data: the outbound axis composed of five
// independent parts, each a choice a configuration makes (outbound/dialer.h carries it out):
//   target   where the stream must end up: a fixed address per client family, or the destination the inbound
//            learned (SO_ORIGINAL_DST, TPROXY's local address, a PROXY / srcproxy / SOCKS5 request)
//   hop      how the connection leaves: straight to the target, through the ranked upstream proxies (SOCKS5 or
//            HTTP CONNECT tunnels), or through a srcproxy server (the srcproxy relay request)
//   source   which address the connection comes from: ours (optionally a given one), or the client's own
//            (IP_TRANSPARENT, or IP_FREEBIND)
//   header   a PROXY v1/v2 header to the upstream before any payload (v2 passes on the TLVs that came in)
//   options  SO_MARK, SO_BINDTODEVICE, TCP Fast Open, TCP_SYNCNT, keepalive
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"
#include "inbound/srcproxy_acl.h"
#include "proto/srcproxy_header.h"
#include "support/sha256.h"
#include "support/subnets.h"

namespace ferry {

namespace backends {
struct PublishedTable;
}
namespace rcu {
template <typename T>
class Cell;
}
namespace policy {
struct Published;
}

// Where clients may be sent with a learned destination: an address prefix and a port range.
struct DestinationRule {
    subnets::IpPrefix prefix;
    srcproxy::PortRange ports;  // 1-65535 when no port is given

    bool contains(const SocketAddress& a) const;
};

// PREFIX[:PORT[-PORT]]: "192.0.2.0/24", "192.0.2.7:443", "2001:db8::/32", "[2001:db8::/32]:8000-8999" (a bare
// IP is the prefix of that one address). nullopt with *why set ("missing ']'", ...) otherwise.
std::optional<DestinationRule> parse_destination_rule(std::string_view text, std::string* why);

// Connections that went direct although the route goes through proxies (allow_direct), for the status page.
struct DirectStats {
    std::atomic<uint64_t> alive{0};
    std::atomic<uint64_t> total{0};
};

enum class SendProxy : uint8_t { None, V1, V2 };

struct Route {
    // -- target: fixed per client family (the client's address, or the peer's when the client is unknown);
    // a family without one goes to the learned destination.
    std::optional<SocketAddress> target4, target6;
    // The learned destination first, the fixed target only for a client that is not known (PROXY LOCAL,
    // v1 UNKNOWN): go-mmproxy 2.3's -dynamic-destination next to its -4 / -6.
    bool learned_first = false;
    // With a learned destination: where clients may go (empty: anywhere).
    std::vector<DestinationRule> allowed_destinations;

    // -- hop
    enum class Hop : uint8_t { Direct, Proxies, Srcproxy };
    Hop hop = Hop::Direct;
    // Proxies: the ranked table the prober publishes; the first `race` candidates race; after the last
    // proxy, a direct connection when allow_direct. Connect + handshake through a proxy is bounded by its
    // `max wait` or max_wait_ms.
    const rcu::Cell<backends::PublishedTable>* table = nullptr;
    bool allow_direct = false;
    unsigned race = 1;
    unsigned max_wait_ms = 4000;
    DirectStats* direct_stats = nullptr;  // counts the direct fallbacks (may be null)
    // Proxies: moproxy's --policy (backends/policy.h), consulted at a connection's first attempt with the
    // listen port, the destination IP and host name: only the proxies whose capabilities satisfy it are
    // candidates, or the connection goes direct, or is refused. Null (or an empty cell): every proxy.
    const rcu::Cell<policy::Published>* policy = nullptr;
    // Srcproxy: the server, and the digest of the auth string the server's ACL knows the client by.
    SocketAddress srcproxy_server;
    Sha256Digest srcproxy_auth = srcproxy::auth_digest("");  // a blank auth

    // -- source
    enum class Source : uint8_t {
        Own,             // our address (bind_ip when set)
        Client,          // the client's own address and port, with IP_TRANSPARENT (a client that is not known,
                         // a PROXY LOCAL header, is connected from our address)
        ClientFreebind,  // the same with IP_FREEBIND (no privilege needed; plus IP_TRANSPARENT when permitted,
                         // see transparent_if_permitted)
    };
    Source source = Source::Own;
    bool transparent_if_permitted = true;
    std::optional<SocketAddress> bind_ip;  // Source::Own: bind(2) to it (port 0) before connecting

    // -- header
    SendProxy send_proxy = SendProxy::None;

    // -- socket options
    uint32_t mark = 0;       // SO_MARK when non-zero
    std::string device;      // SO_BINDTODEVICE when not empty
    bool tfo = false;        // TCP Fast Open, where ferry speaks first (a tunnel or a PROXY header)
    int syn_retries = 0;     // TCP_SYNCNT for Source::Client (go-mmproxy: 2, a dead target fails in ~7 s); 0: kernel's
    int keepalive_seconds = 15;  // SO_KEEPALIVE idle and interval, as Go's dialer sets them; 0 = off
};

}  // namespace ferry
