#include "support/routing.h"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "core/fd.h"

namespace ferry::routing {

namespace {

// The kernel answers a netlink request at once; a reply this late means something is badly wrong, and
// ferry should say so rather than hang at start or exit.
constexpr int kReplyTimeoutSeconds = 5;

constexpr const char* kLoopbackName = "lo";

// FRA_SUPPRESS_PREFIXLEN / FRA_SUPPRESS_IFGROUP value of a rule that suppresses nothing.
constexpr uint32_t kNotSet = 0xffffffff;

size_t address_size(uint8_t family) { return family == AF_INET6 ? 16 : 4; }

// Tables above 255 do not fit the 8-bit header field: iproute2 puts RT_TABLE_UNSPEC there and the id in an
// FRA_TABLE / RTA_TABLE attribute.
uint8_t header_table(uint32_t table) {
    return table < 256 ? static_cast<uint8_t>(table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
}

// Tables the kernel itself uses: a local default route in main or local would make every address local.
bool is_reserved_table(uint32_t table) {
    return table == RT_TABLE_UNSPEC || table == RT_TABLE_COMPAT || table == RT_TABLE_DEFAULT ||
           table == RT_TABLE_MAIN || table == RT_TABLE_LOCAL;
}

// Appends netlink message parts with iproute2's lengths and padding: every part starts 4-aligned, and the
// message length counts the padding after the last attribute (addattr_l does the same).
class MessageWriter {
public:
    MessageWriter(uint16_t type, uint16_t flags, uint32_t seq) {
        nlmsghdr header{};
        header.nlmsg_type = type;
        header.nlmsg_flags = flags;
        header.nlmsg_seq = seq;
        append(&header, sizeof(header));
    }

    void append(const void* data, size_t size) {
        const size_t at = bytes_.size();
        bytes_.resize(at + NLMSG_ALIGN(size));
        if (size != 0) std::memcpy(bytes_.data() + at, data, size);
    }

    void attribute(uint16_t type, const void* data, size_t size) {
        rtattr header{};
        header.rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
        header.rta_type = type;
        const size_t at = bytes_.size();
        bytes_.resize(at + RTA_ALIGN(RTA_LENGTH(size)));
        std::memcpy(bytes_.data() + at, &header, sizeof(header));
        if (size != 0) std::memcpy(bytes_.data() + at + RTA_LENGTH(0), data, size);
    }

    void attribute_u32(uint16_t type, uint32_t value) { attribute(type, &value, sizeof(value)); }

    std::vector<std::byte> finish() && {
        const auto length = static_cast<uint32_t>(bytes_.size());
        std::memcpy(bytes_.data() + offsetof(nlmsghdr, nlmsg_len), &length, sizeof(length));
        return std::move(bytes_);
    }

private:
    std::vector<std::byte> bytes_;
};

template <typename T>
T load(std::span<const std::byte> bytes) {
    T value{};
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

// Calls visit(type, value) for each attribute in `bytes` (type without NLA_F_* bits). Returns false when an
// attribute's length runs outside `bytes` or visit() returns false; fewer than 4 trailing bytes are padding.
template <typename Visit>
bool for_each_attribute(std::span<const std::byte> bytes, Visit&& visit) {
    while (bytes.size() >= sizeof(rtattr)) {
        const auto header = load<rtattr>(bytes);
        if (header.rta_len < sizeof(rtattr) || header.rta_len > bytes.size()) return false;
        if (!visit(static_cast<uint16_t>(header.rta_type & NLA_TYPE_MASK),
                   bytes.subspan(RTA_LENGTH(0), header.rta_len - RTA_LENGTH(0)))) {
            return false;
        }
        const size_t step = RTA_ALIGN(header.rta_len);
        if (step >= bytes.size()) return true;
        bytes = bytes.subspan(step);
    }
    return true;
}

bool read_u32(std::span<const std::byte> value, uint32_t* out) {
    if (value.size() < sizeof(uint32_t)) return false;
    *out = load<uint32_t>(value);
    return true;
}

bool read_address(std::span<const std::byte> value, uint8_t family, std::array<uint8_t, 16>* out) {
    if (value.size() != address_size(family)) return false;
    std::memcpy(out->data(), value.data(), value.size());
    return true;
}

// A NUL-terminated (or unterminated) string attribute, up to its first NUL.
std::string read_string(std::span<const std::byte> value) {
    const auto* text = reinterpret_cast<const char*>(value.data());
    return std::string(text, strnlen(text, value.size()));
}

// Equal under a /`length` mask; `length` is clamped to the address size.
bool same_prefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, unsigned length,
                 uint8_t family) {
    length = std::min<unsigned>(length, static_cast<unsigned>(address_size(family) * 8));
    const unsigned whole = length / 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
    const unsigned rest = length % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

std::string address_text(uint8_t family, const std::array<uint8_t, 16>& address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, address.data(), text, sizeof(text)) == nullptr) {
        return "?";
    }
    return text;
}

std::string prefix_text(uint8_t family, const std::array<uint8_t, 16>& address, uint8_t length) {
    return address_text(family, address) + "/" + std::to_string(length);
}

// "ip", "ip -6"; then the object and the verb, if any.
std::string command_start(uint8_t family, const char* object, std::string_view verb) {
    std::string text = family == AF_INET6 ? "ip -6 " : "ip ";
    text += object;
    if (!verb.empty()) {
        text += ' ';
        text += verb;
    }
    return text;
}

std::string route_type_text(uint8_t type) {
    switch (type) {
        case RTN_UNICAST: return "unicast";
        case RTN_LOCAL: return "local";
        case RTN_BLACKHOLE: return "blackhole";
        case RTN_UNREACHABLE: return "unreachable";
        case RTN_PROHIBIT: return "prohibit";
        default: return "type " + std::to_string(type);
    }
}

// strerror text without strerror()'s shared buffer; handles both the GNU and the XSI strerror_r.
[[maybe_unused]] std::string strerror_result(const char* result, const char*) { return result; }
[[maybe_unused]] std::string strerror_result(int result, const char* buffer) {
    return result == 0 ? std::string(buffer) : std::string("error");
}

std::string errno_text(int error) {
    char buffer[128] = {};
    return strerror_result(strerror_r(error, buffer, sizeof(buffer)), buffer);
}

// The errno text, the kernel's own explanation if it gave one, and what to do about missing privileges.
std::string failure_text(int error, const std::string& kernel_message) {
    std::string text = errno_text(error);
    if (!kernel_message.empty()) text += " (kernel: " + kernel_message + ")";
    if (error == EPERM) {
        text += " (needs CAP_NET_ADMIN: run as root or setcap cap_net_admin+ep)";
    }
    return text;
}

// The TLVs of an extended ack start at `offset` within `payload`; returns the NLMSGERR_ATTR_MSG text.
std::string extended_ack_message(std::span<const std::byte> payload, size_t offset) {
    offset = NLMSG_ALIGN(offset);
    if (offset >= payload.size()) return {};
    std::string message;
    const bool ok = for_each_attribute(payload.subspan(offset), [&](uint16_t type, auto value) {
        if (type == NLMSGERR_ATTR_MSG) message = read_string(value);
        return true;
    });
    return ok ? message : std::string();
}

bool parse_rule(std::span<const std::byte> payload, Rule* rule) {
    if (payload.size() < sizeof(fib_rule_hdr)) return false;
    const auto header = load<fib_rule_hdr>(payload);
    rule->family = header.family;
    rule->source_length = header.src_len;
    rule->table = header.table;
    rule->action = header.action;
    if (header.family != AF_INET && header.family != AF_INET6) return true;  // not ours to judge
    rule->has_other_selectors = header.dst_len != 0 || header.tos != 0 || (header.flags & FIB_RULE_INVERT);
    const size_t start = NLMSG_ALIGN(sizeof(fib_rule_hdr));
    if (start >= payload.size()) return true;
    return for_each_attribute(payload.subspan(start), [&](uint16_t type, std::span<const std::byte> value) {
        switch (type) {
            case FRA_SRC: return read_address(value, rule->family, &rule->source);
            case FRA_IIFNAME: rule->input_interface = read_string(value); return true;
            case FRA_FWMARK: return read_u32(value, &rule->fwmark);
            case FRA_FWMASK: return read_u32(value, &rule->fwmask);
            case FRA_TABLE: return read_u32(value, &rule->table);
            case FRA_PRIORITY: {
                uint32_t priority = 0;
                if (!read_u32(value, &priority)) return false;
                rule->priority = priority;
                return true;
            }
            case FRA_SUPPRESS_PREFIXLEN:
            case FRA_SUPPRESS_IFGROUP: {
                // Some kernels always report these, with -1 meaning "not set".
                uint32_t suppress = 0;
                if (!read_u32(value, &suppress)) return false;
                if (suppress != kNotSet) rule->has_other_selectors = true;
                return true;
            }
            case FRA_UNSPEC:
            case FRA_PROTOCOL:  // who added it; does not change what the rule does
            case FRA_PAD: return true;
            default: rule->has_other_selectors = true; return true;
        }
    });
}

bool parse_route(std::span<const std::byte> payload, Route* route) {
    if (payload.size() < sizeof(rtmsg)) return false;
    const auto header = load<rtmsg>(payload);
    route->family = header.rtm_family;
    route->destination_length = header.rtm_dst_len;
    route->table = header.rtm_table;
    route->type = header.rtm_type;
    route->protocol = header.rtm_protocol;
    route->scope = header.rtm_scope;
    if (header.rtm_family != AF_INET && header.rtm_family != AF_INET6) return true;
    route->has_other_selectors =
        header.rtm_src_len != 0 || header.rtm_tos != 0 || (header.rtm_flags & RTM_F_CLONED);
    const size_t start = NLMSG_ALIGN(sizeof(rtmsg));
    if (start >= payload.size()) return true;
    return for_each_attribute(payload.subspan(start), [&](uint16_t type, std::span<const std::byte> value) {
        switch (type) {
            case RTA_DST: return read_address(value, route->family, &route->destination);
            case RTA_OIF: return read_u32(value, &route->output_interface);
            case RTA_TABLE: return read_u32(value, &route->table);
            case RTA_PRIORITY: {
                uint32_t priority = 0;
                if (!read_u32(value, &priority)) return false;
                route->priority = priority;
                return true;
            }
            case RTA_GATEWAY:
            case RTA_MULTIPATH:
            case RTA_VIA:
            case RTA_SRC:
            case RTA_NH_ID:
            case RTA_ENCAP: route->has_other_selectors = true; return true;
            default: return true;  // cache info, preference, metrics, preferred source...
        }
    });
}

bool parse_address(std::span<const std::byte> payload, InterfaceAddress* address) {
    if (payload.size() < sizeof(ifaddrmsg)) return false;
    const auto header = load<ifaddrmsg>(payload);
    address->family = header.ifa_family;
    address->interface_index = header.ifa_index;
    address->prefix_length = header.ifa_prefixlen;
    if (header.ifa_family != AF_INET && header.ifa_family != AF_INET6) return true;
    const size_t start = NLMSG_ALIGN(sizeof(ifaddrmsg));
    if (start >= payload.size()) return true;
    bool have_local = false;
    return for_each_attribute(payload.subspan(start), [&](uint16_t type, std::span<const std::byte> value) {
        // IFA_LOCAL is the interface's own address on point-to-point links; prefer it.
        if (type == IFA_LOCAL) {
            have_local = true;
            return read_address(value, address->family, &address->address);
        }
        if (type == IFA_ADDRESS && !have_local) return read_address(value, address->family, &address->address);
        return true;
    });
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Pure layer.

Rule loopback_rule(uint8_t family, uint32_t table) {
    Rule rule;
    rule.family = family;
    if (family == AF_INET6) {
        rule.source[15] = 1;  // ::1
        rule.source_length = 128;
    } else {
        rule.source = {127, 0, 0, 1};
        rule.source_length = 8;
    }
    rule.input_interface = kLoopbackName;
    rule.table = table;
    rule.action = FR_ACT_TO_TBL;
    return rule;
}

Rule fwmark_rule(uint8_t family, uint32_t mark, uint32_t table) {
    Rule rule;
    rule.family = family;
    rule.fwmark = mark;
    rule.fwmask = 0xffffffff;
    rule.table = table;
    rule.action = FR_ACT_TO_TBL;
    return rule;
}

Route local_default_route(uint8_t family, uint32_t table, uint32_t loopback_index) {
    Route route;
    route.family = family;
    route.table = table;
    route.type = RTN_LOCAL;
    route.protocol = RTPROT_BOOT;
    // iproute2 gives local routes host scope, except IPv6 where scope is universe.
    route.scope = family == AF_INET6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_HOST;
    route.output_interface = loopback_index;
    return route;
}

Rule rule_to_delete(const Rule& added) {
    Rule rule = added;
    rule.action = FR_ACT_UNSPEC;
    rule.has_other_selectors = false;
    return rule;
}

Route route_to_delete(const Route& added) {
    Route route = added;
    route.protocol = RTPROT_UNSPEC;
    route.has_other_selectors = false;
    return route;
}

bool rule_matches(const Rule& existing, const Rule& wanted) {
    return existing.family == wanted.family && !existing.has_other_selectors &&
           existing.action == FR_ACT_TO_TBL && existing.table == wanted.table &&
           existing.source_length == wanted.source_length &&
           same_prefix(existing.source, wanted.source, wanted.source_length, wanted.family) &&
           existing.input_interface == wanted.input_interface && existing.fwmask == wanted.fwmask &&
           (existing.fwmark & existing.fwmask) == (wanted.fwmark & wanted.fwmask);
}

bool route_matches(const Route& existing, const Route& wanted) {
    return existing.family == wanted.family && !existing.has_other_selectors && existing.type == wanted.type &&
           existing.table == wanted.table && existing.destination_length == wanted.destination_length &&
           same_prefix(existing.destination, wanted.destination, wanted.destination_length, wanted.family) &&
           existing.output_interface == wanted.output_interface;
}

std::vector<std::byte> encode_rule_request(uint16_t type, uint16_t flags, uint32_t seq, const Rule& rule) {
    MessageWriter writer(type, flags, seq);
    fib_rule_hdr header{};
    header.family = rule.family;
    header.src_len = rule.source_length;
    header.table = header_table(rule.table);
    header.action = rule.action;
    writer.append(&header, sizeof(header));
    if (rule.priority) writer.attribute_u32(FRA_PRIORITY, *rule.priority);
    if (rule.source_length != 0) writer.attribute(FRA_SRC, rule.source.data(), address_size(rule.family));
    if (!rule.input_interface.empty()) {
        writer.attribute(FRA_IIFNAME, rule.input_interface.c_str(), rule.input_interface.size() + 1);
    }
    // As iproute2: the mark alone for `fwmark N` (the kernel takes the whole mark), the mask only when given.
    if (rule.fwmask != 0) writer.attribute_u32(FRA_FWMARK, rule.fwmark);
    if (rule.fwmask != 0 && rule.fwmask != 0xffffffff) writer.attribute_u32(FRA_FWMASK, rule.fwmask);
    if (rule.table >= 256) writer.attribute_u32(FRA_TABLE, rule.table);
    return std::move(writer).finish();
}

std::vector<std::byte> encode_route_request(uint16_t type, uint16_t flags, uint32_t seq, const Route& route) {
    MessageWriter writer(type, flags, seq);
    rtmsg header{};
    header.rtm_family = route.family;
    header.rtm_dst_len = route.destination_length;
    header.rtm_table = header_table(route.table);
    header.rtm_protocol = route.protocol;
    header.rtm_scope = route.scope;
    header.rtm_type = route.type;
    writer.append(&header, sizeof(header));
    if (route.table >= 256) writer.attribute_u32(RTA_TABLE, route.table);
    // iproute2 sends the destination even for a /0 ("ip route add local 0.0.0.0/0" carries RTA_DST 0.0.0.0).
    writer.attribute(RTA_DST, route.destination.data(), address_size(route.family));
    if (route.priority) writer.attribute_u32(RTA_PRIORITY, *route.priority);
    if (route.output_interface != 0) writer.attribute_u32(RTA_OIF, route.output_interface);
    return std::move(writer).finish();
}

std::vector<std::byte> encode_dump_request(uint16_t type, uint8_t family, uint32_t seq, uint32_t table) {
    MessageWriter writer(type, NLM_F_REQUEST | NLM_F_DUMP, seq);
    if (type == RTM_GETROUTE) {
        rtmsg header{};
        header.rtm_family = family;
        header.rtm_table = header_table(table);
        writer.append(&header, sizeof(header));
        if (table != 0) writer.attribute_u32(RTA_TABLE, table);
    } else if (type == RTM_GETADDR) {
        ifaddrmsg header{};
        header.ifa_family = family;
        writer.append(&header, sizeof(header));
    } else {
        fib_rule_hdr header{};
        header.family = family;
        writer.append(&header, sizeof(header));
    }
    return std::move(writer).finish();
}

ReplyReader::State ReplyReader::fail(std::string reason) {
    invalid_reason_ = std::move(reason);
    state_ = State::Invalid;
    return state_;
}

bool ReplyReader::take_entry(uint16_t type, std::span<const std::byte> payload) {
    if (type == RTM_NEWRULE) {
        Rule rule;
        if (!parse_rule(payload, &rule)) return false;
        rules_.push_back(std::move(rule));
    } else if (type == RTM_NEWROUTE) {
        Route route;
        if (!parse_route(payload, &route)) return false;
        routes_.push_back(route);
    } else if (type == RTM_NEWADDR) {
        InterfaceAddress address;
        if (!parse_address(payload, &address)) return false;
        addresses_.push_back(address);
    }
    return true;
}

ReplyReader::State ReplyReader::feed(std::span<const std::byte> datagram) {
    if (state_ != State::Incomplete) return state_;
    if (datagram.empty()) return fail("empty netlink datagram");
    while (!datagram.empty()) {
        if (datagram.size() < sizeof(nlmsghdr)) return fail("truncated netlink message header");
        const auto header = load<nlmsghdr>(datagram);
        if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > datagram.size()) {
            return fail("netlink message length " + std::to_string(header.nlmsg_len) + " outside the " +
                        std::to_string(datagram.size()) + " bytes received");
        }
        const auto payload = datagram.subspan(NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN);
        datagram = datagram.subspan(std::min<size_t>(NLMSG_ALIGN(header.nlmsg_len), datagram.size()));
        if (header.nlmsg_seq != seq_) continue;  // a late answer to an earlier request

        switch (header.nlmsg_type) {
            case NLMSG_NOOP: break;
            case NLMSG_OVERRUN: return fail("netlink overrun");
            case NLMSG_ERROR: {
                if (payload.size() < sizeof(int)) return fail("truncated NLMSG_ERROR");
                const int error = load<int>(payload);
                if (error > 0) return fail("positive error " + std::to_string(error) + " in NLMSG_ERROR");
                ack_.error = -error;
                if ((header.nlmsg_flags & NLM_F_ACK_TLVS) && payload.size() >= sizeof(nlmsgerr)) {
                    const auto original = load<nlmsgerr>(payload).msg;
                    size_t offset = sizeof(nlmsgerr);
                    if (!(header.nlmsg_flags & NLM_F_CAPPED) && original.nlmsg_len > NLMSG_HDRLEN) {
                        offset += original.nlmsg_len - NLMSG_HDRLEN;
                    }
                    ack_.message = extended_ack_message(payload, offset);
                }
                state_ = State::Done;
                return state_;
            }
            case NLMSG_DONE: {
                if (!dump_) return fail("NLMSG_DONE in reply to a request that is not a dump");
                // A dump that failed part-way says so in NLMSG_DONE's payload.
                if (payload.size() >= sizeof(int)) {
                    const int error = load<int>(payload);
                    if (error < 0) ack_.error = -error;
                    if (header.nlmsg_flags & NLM_F_ACK_TLVS) {
                        ack_.message = extended_ack_message(payload, sizeof(int));
                    }
                }
                state_ = State::Done;
                return state_;
            }
            default:
                if (!take_entry(header.nlmsg_type, payload)) {
                    return fail("malformed netlink message of type " + std::to_string(header.nlmsg_type));
                }
                break;
        }
    }
    return state_;
}

std::string describe_rule(const Rule& rule, std::string_view verb) {
    std::string text = command_start(rule.family, "rule", verb);
    if (rule.priority) text += " pref " + std::to_string(*rule.priority);
    text += " from ";
    text += rule.source_length == 0 ? std::string("all")
                                    : prefix_text(rule.family, rule.source, rule.source_length);
    if (!rule.input_interface.empty()) text += " iif " + rule.input_interface;
    if (rule.fwmask != 0) {
        char mark[32];
        std::snprintf(mark, sizeof mark, " fwmark 0x%x", rule.fwmark);
        text += mark;
        if (rule.fwmask != 0xffffffff) {
            std::snprintf(mark, sizeof mark, "/0x%x", rule.fwmask);
            text += mark;
        }
    }
    text += " table " + std::to_string(rule.table);
    return text;
}

std::string describe_route(const Route& route, uint32_t loopback_index, std::string_view verb) {
    std::string text = command_start(route.family, "route", verb);
    text += ' ' + route_type_text(route.type) + ' ' +
            prefix_text(route.family, route.destination, route.destination_length);
    if (route.output_interface != 0) {
        text += route.output_interface == loopback_index ? std::string(" dev lo")
                                                         : " ifindex " + std::to_string(route.output_interface);
    }
    text += " table " + std::to_string(route.table);
    if (route.priority) text += " metric " + std::to_string(*route.priority);
    return text;
}

// ---------------------------------------------------------------------------------------------------------------
// Socket layer.

namespace {

// One NETLINK_ROUTE socket and its sequence numbers.
class NetlinkSocket {
public:
    // Opens and binds the socket, asking for extended acks, capped error echoes and strict dump checking
    // (each optional: older kernels simply do without). Returns false with *error set on failure.
    bool open(std::string* error) {
        fd_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
        if (!fd_) {
            *error = "opening a netlink socket: " + errno_text(errno);
            return false;
        }
        const int on = 1;
        for (const int option : {NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK}) {
            (void)::setsockopt(fd_.get(), SOL_NETLINK, option, &on, sizeof(on));
        }
        timeval timeout{};
        timeout.tv_sec = kReplyTimeoutSeconds;
        (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        sockaddr_nl local{};
        local.nl_family = AF_NETLINK;
        if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) == -1) {
            *error = "binding a netlink socket: " + errno_text(errno);
            return false;
        }
        seq_ = static_cast<uint32_t>(::time(nullptr));
        return true;
    }

    uint32_t next_seq() { return ++seq_; }

    // Sends `request` and feeds every reply datagram from the kernel to `reader` until it is no longer
    // Incomplete. Returns 0 or a positive errno (the kernel's, or a local one with *detail saying why);
    // *detail also receives the kernel's extended ack text.
    int exchange(std::span<const std::byte> request, ReplyReader& reader, std::string* detail) {
        detail->clear();
        sockaddr_nl kernel{};
        kernel.nl_family = AF_NETLINK;
        ssize_t sent = -1;
        do {
            sent = ::sendto(fd_.get(), request.data(), request.size(), 0,
                            reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
        } while (sent == -1 && errno == EINTR);
        if (sent == -1) return errno;
        if (static_cast<size_t>(sent) != request.size()) {
            *detail = "short netlink send";
            return EIO;
        }
        std::vector<std::byte> buffer;
        while (reader.state() == ReplyReader::State::Incomplete) {
            // Peek at the datagram's full size so that no reply is ever truncated.
            ssize_t size = -1;
            do {
                size = ::recv(fd_.get(), nullptr, 0, MSG_PEEK | MSG_TRUNC);
            } while (size == -1 && errno == EINTR);
            if (size == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    *detail = "no answer from the kernel within " + std::to_string(kReplyTimeoutSeconds) + "s";
                    return ETIMEDOUT;
                }
                return errno;
            }
            buffer.resize(static_cast<size_t>(size));
            sockaddr_nl from{};
            socklen_t from_length = sizeof(from);
            ssize_t received = -1;
            do {
                received = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), 0,
                                      reinterpret_cast<sockaddr*>(&from), &from_length);
            } while (received == -1 && errno == EINTR);
            if (received == -1) return errno;
            if (from.nl_pid != 0) continue;  // not from the kernel
            reader.feed(std::span<const std::byte>(buffer.data(), static_cast<size_t>(received)));
        }
        if (reader.state() == ReplyReader::State::Invalid) {
            *detail = reader.invalid_reason();
            return EBADMSG;
        }
        *detail = reader.ack().message;
        return reader.ack().error;
    }

private:
    Fd fd_;
    uint32_t seq_ = 0;
};

struct DumpResult {
    int error = 0;
    std::string detail;
    std::vector<Rule> rules;
    std::vector<Route> routes;
    std::vector<InterfaceAddress> addresses;
};

// Dumps rules (RTM_GETRULE), the routes of `table` (RTM_GETROUTE) or addresses (RTM_GETADDR) of `family`.
// A table that does not exist yet dumps as empty.
DumpResult dump(NetlinkSocket& socket, uint16_t type, uint8_t family, uint32_t table = 0) {
    DumpResult result;
    const uint32_t seq = socket.next_seq();
    ReplyReader reader(seq, true);
    result.error = socket.exchange(encode_dump_request(type, family, seq, table), reader, &result.detail);
    if (type == RTM_GETROUTE && result.error == ENOENT) result.error = 0;  // strict dump of a missing table
    if (result.error != 0) return result;
    result.rules = reader.rules();
    for (const Route& route : reader.routes()) {
        if (route.table == table) result.routes.push_back(route);
    }
    result.addresses = reader.addresses();
    return result;
}

bool is_gone(int error) { return error == ENOENT || error == ESRCH; }

bool family_unavailable(int error) { return error == EAFNOSUPPORT || error == EOPNOTSUPP; }

std::string family_name(uint8_t family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }


// Removes changes[first..] newest first, erasing each one removed (or already gone) from `changes`.
std::vector<std::string> remove_from(NetlinkSocket& socket, std::vector<Change>& changes, size_t first,
                                     std::vector<Change>* removed) {
    std::vector<std::string> failures;
    for (size_t i = changes.size(); i > first; --i) {
        const Change& entry = changes[i - 1];
        const uint32_t seq = socket.next_seq();
        const auto request =
            entry.kind == ChangeKind::Rule
                ? encode_rule_request(RTM_DELRULE, NLM_F_REQUEST | NLM_F_ACK, seq, entry.rule)
                : encode_route_request(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, entry.route);
        ReplyReader reader(seq, false);
        std::string detail;
        const int error = socket.exchange(request, reader, &detail);
        if (error != 0 && !is_gone(error)) {
            failures.push_back("removing \"" + entry.undo_text + "\": " + failure_text(error, detail));
            continue;
        }
        if (removed != nullptr) removed->push_back(entry);
        changes.erase(changes.begin() + static_cast<std::ptrdiff_t>(i - 1));
    }
    return failures;
}

}  // namespace

namespace {

// Adds `wanted_rule` unless a matching rule is there (then noted in `notes` and recorded in `present`, for
// adopt()); what it adds goes to `added`. Returns "" or the failure.
std::string ensure_rule(NetlinkSocket& socket, uint8_t family, const Rule& wanted_rule,
                        std::vector<std::string>& notes, std::vector<Change>& present, std::vector<Change>& added) {
    const std::string rule_name = describe_rule(wanted_rule);
    auto find_rule = [&](const std::vector<Rule>& rules) {
        return std::find_if(rules.begin(), rules.end(),
                            [&](const Rule& r) { return rule_matches(r, wanted_rule); });
    };
    DumpResult rules = dump(socket, RTM_GETRULE, family);
    if (rules.error != 0) {
        return "listing " + family_name(family) + " rules: " + failure_text(rules.error, rules.detail);
    }
    if (auto found = find_rule(rules.rules); found != rules.rules.end()) {
        notes.push_back(describe_rule(*found) + " is already present: leaving it alone");
        Change entry;
        entry.kind = ChangeKind::Rule;
        entry.family = family;
        entry.text = describe_rule(wanted_rule, "add");
        entry.rule = rule_to_delete(wanted_rule);
        entry.rule.priority = found->priority;
        entry.undo_text = describe_rule(entry.rule, "del");
        present.push_back(std::move(entry));
    } else {
        const uint32_t seq = socket.next_seq();
        ReplyReader reader(seq, false);
        std::string detail;
        const int result = socket.exchange(
            encode_rule_request(RTM_NEWRULE,
                                NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE | NLM_F_ECHO, seq,
                                wanted_rule),
            reader, &detail);
        DumpResult again;
        if (result == EEXIST) again = dump(socket, RTM_GETRULE, family);
        if (result == EEXIST && again.error == 0 && find_rule(again.rules) != again.rules.end()) {
            notes.push_back(rule_name + " appeared while ferry was adding it: leaving it alone");
        } else if (result != 0) {
            return "adding " + rule_name + ": " + failure_text(result, detail);
        } else {
            Change entry;
            entry.kind = ChangeKind::Rule;
            entry.family = family;
            entry.text = describe_rule(wanted_rule, "add");
            entry.rule = rule_to_delete(wanted_rule);
            if (auto echoed = find_rule(reader.rules()); echoed != reader.rules().end()) {
                entry.rule.priority = echoed->priority;
            }
            entry.undo_text = describe_rule(entry.rule, "del");
            added.push_back(std::move(entry));
        }
    }
    return {};
}

}  // namespace

bool PolicyRouting::install(const Plan& plan, std::string* error) {
    if (is_reserved_table(plan.table)) {
        *error = "routing table " + std::to_string(plan.table) +
                 " is one of the kernel's own (0 unspec, 252 compat, 253 default, 254 main, 255 local): "
                 "choose another";
        return false;
    }
    NetlinkSocket socket;
    if (!socket.open(error)) return false;
    const uint32_t loopback = ::if_nametoindex(kLoopbackName);
    if (loopback == 0) {
        *error = std::string("finding the loopback interface: ") + errno_text(errno);
        return false;
    }
    const size_t first_new = added_.size();
    auto fail = [&](std::string message) {
        for (const std::string& failure : remove_from(socket, added_, first_new, nullptr)) {
            message += "; then " + failure;
        }
        *error = std::move(message);
        return false;
    };

    for (const uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
        if (family == AF_INET && !plan.ipv4) continue;
        if (family == AF_INET6 && !plan.ipv6) continue;

        if (family == AF_INET6) {
            DumpResult addresses = dump(socket, RTM_GETADDR, AF_INET6);
            if (family_unavailable(addresses.error)) {
                notes_.push_back("IPv6 is not available in this kernel: skipping the IPv6 rule and route");
                continue;
            }
            if (addresses.error != 0) {
                return fail("listing IPv6 addresses: " + failure_text(addresses.error, addresses.detail));
            }
            std::array<uint8_t, 16> loopback_address{};
            loopback_address[15] = 1;
            const bool has_loopback = std::any_of(
                addresses.addresses.begin(), addresses.addresses.end(), [&](const InterfaceAddress& a) {
                    return a.family == AF_INET6 && a.interface_index == loopback && a.address == loopback_address;
                });
            if (!has_loopback) {
                notes_.push_back("IPv6 is disabled in this network namespace (no ::1 on lo): "
                                 "skipping the IPv6 rule and route");
                continue;
            }
        }

        // The rules first, as go-mmproxy's README and the Azusa fork do; until the route follows, a rule only
        // sends lookups through an empty table, which falls through to the next rule.
        std::vector<Rule> wanted_rules{loopback_rule(family, plan.table)};
        if (plan.fwmark != 0) wanted_rules.push_back(fwmark_rule(family, plan.fwmark, plan.table));
        for (const Rule& wanted_rule : wanted_rules) {
            std::string failure = ensure_rule(socket, family, wanted_rule, notes_, present_, added_);
            if (!failure.empty()) return fail(failure);
        }

        const Route wanted_route = local_default_route(family, plan.table, loopback);
        const std::string route_name = describe_route(wanted_route, loopback);
        auto find_route = [&](const std::vector<Route>& routes) {
            return std::find_if(routes.begin(), routes.end(),
                                [&](const Route& r) { return route_matches(r, wanted_route); });
        };
        DumpResult routes = dump(socket, RTM_GETROUTE, family, plan.table);
        if (routes.error != 0) {
            return fail("listing " + family_name(family) + " routes of table " + std::to_string(plan.table) +
                        ": " + failure_text(routes.error, routes.detail));
        }
        if (auto found = find_route(routes.routes); found != routes.routes.end()) {
            notes_.push_back(describe_route(*found, loopback) + " is already present: leaving it alone");
            Change entry;
            entry.kind = ChangeKind::Route;
            entry.family = family;
            entry.text = describe_route(wanted_route, loopback, "add");
            entry.route = route_to_delete(wanted_route);
            entry.route.priority = found->priority;
            entry.undo_text = describe_route(entry.route, loopback, "del");
            present_.push_back(std::move(entry));
            continue;
        }
        const uint32_t seq = socket.next_seq();
        ReplyReader reader(seq, false);
        std::string detail;
        const int result = socket.exchange(
            encode_route_request(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE | NLM_F_ECHO,
                                 seq, wanted_route),
            reader, &detail);
        if (result == EEXIST) {
            // Either a second ferry added the same route just now, or the slot holds a different route.
            DumpResult again = dump(socket, RTM_GETROUTE, family, plan.table);
            if (again.error == 0 && find_route(again.routes) != again.routes.end()) {
                notes_.push_back(route_name + " appeared while ferry was adding it: leaving it alone");
                continue;
            }
            return fail("adding " + route_name + ": " + failure_text(result, detail) + " (table " +
                        std::to_string(plan.table) + " already has a different default route; " +
                        "choose another table)");
        }
        if (result != 0) return fail("adding " + route_name + ": " + failure_text(result, detail));
        Change entry;
        entry.kind = ChangeKind::Route;
        entry.family = family;
        entry.text = describe_route(wanted_route, loopback, "add");
        entry.route = route_to_delete(wanted_route);
        if (auto echoed = find_route(reader.routes()); echoed != reader.routes().end()) {
            entry.route.priority = echoed->priority;
        }
        entry.undo_text = describe_route(entry.route, loopback, "del");
        added_.push_back(std::move(entry));
    }
    return true;
}

std::vector<Change> PolicyRouting::adopt(const std::vector<std::string>& texts) {
    std::vector<Change> adopted;
    for (auto it = present_.begin(); it != present_.end();) {
        if (std::find(texts.begin(), texts.end(), it->text) == texts.end()) {
            ++it;
            continue;
        }
        adopted.push_back(*it);
        added_.push_back(std::move(*it));
        it = present_.erase(it);
    }
    return adopted;
}

std::vector<std::string> PolicyRouting::remove(std::vector<Change>* removed) {
    if (added_.empty()) return {};
    NetlinkSocket socket;
    std::string error;
    if (!socket.open(&error)) return {"removing policy routing: " + error};
    return remove_from(socket, added_, 0, removed);
}

}  // namespace ferry::routing
