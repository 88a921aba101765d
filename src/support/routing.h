// Policy routing for spoofed replies, spoken to the kernel over rtnetlink (no `ip` subprocess, no libnl).
//
// A reply that ferry sends from the client's address to the client must come back to ferry, not leave the
// host. The routing that does this (go-mmproxy's README, the Azusa fork's automatic setup) is, per family:
//   ip rule add from 127.0.0.1/8 iif lo table 123        ip -6 rule add from ::1/128 iif lo table 123
//   ip route add local 0.0.0.0/0 dev lo table 123        ip -6 route add local ::/0 dev lo table 123
// PolicyRouting adds only what is missing and, unlike the Azusa fork, removes at exit exactly what it added:
// a rule or route that existed before (set up by hand, by a unit file, by a second ferry) survives.
//
// The module has two layers. The pure one (Rule, Route, encode_*, ReplyReader, rule_matches, route_matches)
// turns requests into bytes and reply bytes into values, without sockets, so it is unit-tested against what
// iproute2 sends and what the kernel answers. PolicyRouting drives it over a NETLINK_ROUTE socket.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::routing {

inline constexpr uint32_t kDefaultTable = 123;

// ---------------------------------------------------------------------------------------------------------------
// Pure layer: values, encoders and the reply reader.

// A policy rule, either wanted by ferry or read back from a dump. Addresses are in network byte order; for
// AF_INET only the first 4 bytes of `source` are used.
struct Rule {
    uint8_t family = AF_INET;
    std::array<uint8_t, 16> source{};
    uint8_t source_length = 0;
    std::string input_interface;  // FRA_IIFNAME; "" matches any interface
    uint32_t fwmark = 0;          // FRA_FWMARK: packets whose mark & fwmask is this (with fwmask != 0)
    uint32_t fwmask = 0;          // FRA_FWMASK; 0 = no fwmark selector, 0xffffffff = the whole mark
    uint32_t table = 0;
    uint8_t action = 0;           // FR_ACT_*; FR_ACT_UNSPEC in a delete request matches any action
    std::optional<uint32_t> priority;  // FRA_PRIORITY; unset lets the kernel choose, as `ip rule add` does
    // Read from dumps only: the rule also selects on or changes something the fields above do not show
    // (destination, tos, oif, invert, suppress_prefixlength, goto, ports, uid range, ...).
    bool has_other_selectors = false;

    bool operator==(const Rule&) const = default;
};

// A route, either wanted by ferry or read back from a dump.
struct Route {
    uint8_t family = AF_INET;
    std::array<uint8_t, 16> destination{};
    uint8_t destination_length = 0;
    uint32_t table = 0;
    uint8_t type = 0;      // RTN_*
    uint8_t protocol = 0;  // RTPROT_*; RTPROT_UNSPEC in a delete request matches any protocol
    uint8_t scope = 0;     // RT_SCOPE_*
    uint32_t output_interface = 0;     // RTA_OIF; 0 = none
    std::optional<uint32_t> priority;  // RTA_PRIORITY (the metric); unset lets the kernel choose
    // Read from dumps only: tos, source prefix, gateway or multipath set.
    bool has_other_selectors = false;

    bool operator==(const Route&) const = default;
};

// An address read back from an RTM_GETADDR dump.
struct InterfaceAddress {
    uint8_t family = AF_INET;
    uint32_t interface_index = 0;
    std::array<uint8_t, 16> address{};
    uint8_t prefix_length = 0;
};

// What ferry wants, per family (AF_INET or AF_INET6), exactly as `ip` would build it:
// `from 127.0.0.1/8 iif lo table T` / `from ::1/128 iif lo table T`, action FR_ACT_TO_TBL, no priority.
Rule loopback_rule(uint8_t family, uint32_t table);
// `fwmark N table T`, for both families: packets with mark N look up T (`ip rule add fwmark N lookup T`), how
// the replies of a target off loopback come back once CONNMARK rules restore their mark.
Rule fwmark_rule(uint8_t family, uint32_t mark, uint32_t table);
// `local 0.0.0.0/0 dev lo table T` / `local ::/0 dev lo table T`: RTN_LOCAL, RTPROT_BOOT, scope host for IPv4
// and universe for IPv6 (what iproute2 sends), output interface `loopback_index`.
Route local_default_route(uint8_t family, uint32_t table, uint32_t loopback_index);

// The delete request that removes exactly `added` (as `ip rule del` / `ip route del` build it: action and
// protocol left unspecified). Carry the priority the kernel reported for the added entry, if known, so that
// an identical entry someone else added at another priority is left alone.
Rule rule_to_delete(const Rule& added);
Route route_to_delete(const Route& added);

// True when `existing` (from a dump) routes the same packets to the same table as `wanted`: same family,
// same source prefix (compared under its mask, so 127.0.0.0/8 equals 127.0.0.1/8), same input interface, same
// fwmark and mask, same table, action FR_ACT_TO_TBL and nothing else selected. Priorities are not compared.
bool rule_matches(const Rule& existing, const Rule& wanted);
// True when `existing` is a route of the same type, family, destination prefix, table and output interface
// as `wanted`, with nothing else (tos, source prefix, gateway, multipath). Metrics are not compared.
bool route_matches(const Route& existing, const Route& wanted);

// Encoders. Each returns one complete netlink message (nlmsghdr, fixed header, attributes, every length
// and padding as iproute2 writes it) with nlmsg_pid 0. `type` is RTM_NEWRULE/RTM_DELRULE or
// RTM_NEWROUTE/RTM_DELROUTE, `flags` the NLM_F_* flags. Tables above 255 go into FRA_TABLE / RTA_TABLE with
// the header's table set to RT_TABLE_UNSPEC, as iproute2 does.
std::vector<std::byte> encode_rule_request(uint16_t type, uint16_t flags, uint32_t seq, const Rule& rule);
std::vector<std::byte> encode_route_request(uint16_t type, uint16_t flags, uint32_t seq, const Route& route);
// A dump request (NLM_F_REQUEST | NLM_F_DUMP) for RTM_GETRULE, RTM_GETROUTE or RTM_GETADDR of one family,
// shaped to pass the kernel's strict checking (NETLINK_GET_STRICT_CHK). For RTM_GETROUTE a non-zero `table`
// asks the kernel to dump only that table (it may ignore this: filter the result anyway).
std::vector<std::byte> encode_dump_request(uint16_t type, uint8_t family, uint32_t seq, uint32_t table = 0);

// The kernel's answer to one request, as far as it has been read.
struct Ack {
    int error = 0;        // 0, or the positive errno the kernel reported
    std::string message;  // the kernel's extended ack text (NLMSGERR_ATTR_MSG), often empty
};

// Reads the replies to the request with sequence number `seq`, one received datagram at a time. A dump
// (`dump` true) ends with NLMSG_DONE, whose payload may carry an error, or with NLMSG_ERROR; any other request
// ends with its NLMSG_ERROR ack, and NLMSG_DONE there is Invalid. RTM_NEWRULE, RTM_NEWROUTE and RTM_NEWADDR messages before the end (dump entries, or the
// echo of an NLM_F_ECHO request) are collected; messages with another sequence number are skipped. Every
// length is checked against the datagram before it is read.
class ReplyReader {
public:
    enum class State { Incomplete, Done, Invalid };

    ReplyReader(uint32_t seq, bool dump) : seq_(seq), dump_(dump) {}

    // Consumes one datagram. Incomplete: more datagrams are needed. Done: ack() holds the outcome. Invalid:
    // the bytes are malformed (invalid_reason() says how); the reader stays Invalid.
    State feed(std::span<const std::byte> datagram);

    State state() const { return state_; }
    const Ack& ack() const { return ack_; }
    const std::string& invalid_reason() const { return invalid_reason_; }
    const std::vector<Rule>& rules() const { return rules_; }
    const std::vector<Route>& routes() const { return routes_; }
    const std::vector<InterfaceAddress>& addresses() const { return addresses_; }

private:
    State fail(std::string reason);
    bool take_entry(uint16_t type, std::span<const std::byte> payload);

    uint32_t seq_;
    bool dump_;
    State state_ = State::Incomplete;
    Ack ack_;
    std::string invalid_reason_;
    std::vector<Rule> rules_;
    std::vector<Route> routes_;
    std::vector<InterfaceAddress> addresses_;
};

// Human forms in `ip` syntax: "ip rule from 127.0.0.1/8 iif lo table 123", or with a verb "ip rule add from
// 127.0.0.1/8 iif lo table 123", "ip rule add from all fwmark 0x7b table 123" (a mask other than 0xffffffff
// as "/0xff"); "ip -6 route add local ::/0 dev lo table 123". A set priority shows as
// "pref N" for rules and "metric N" for routes. An output interface equal to `loopback_index` is named "lo",
// any other "ifindex N" (no lookups here).
std::string describe_rule(const Rule& rule, std::string_view verb = {});
std::string describe_route(const Route& route, uint32_t loopback_index, std::string_view verb = {});

// ---------------------------------------------------------------------------------------------------------------
// Socket layer.

struct Plan {
    uint32_t table = kDefaultTable;
    // Non-zero: also `ip rule add fwmark N lookup table` (per family, after the loopback rule), for targets
    // off loopback (mmproxy -mark N).
    uint32_t fwmark = 0;
    bool ipv4 = true;
    bool ipv6 = true;
};

enum class ChangeKind { Rule, Route };

// One addition install() made, kept so that remove() can undo exactly it.
struct Change {
    ChangeKind kind = ChangeKind::Rule;
    uint8_t family = AF_INET;
    std::string text;       // "ip rule add from 127.0.0.1/8 iif lo table 123", for the log
    std::string undo_text;  // "ip rule del pref 32765 from 127.0.0.1/8 iif lo table 123"
    Rule rule;              // the delete request, when kind == Rule
    Route route;            // the delete request, when kind == Route
};

// Installs and removes ferry's policy routing in the calling thread's network namespace. Not thread-safe.
// Each install()/remove() opens its own short-lived netlink socket, so no descriptor outlives the call.
class PolicyRouting {
public:
    PolicyRouting() = default;
    PolicyRouting(const PolicyRouting&) = delete;
    PolicyRouting& operator=(const PolicyRouting&) = delete;
    PolicyRouting(PolicyRouting&&) noexcept = default;
    PolicyRouting& operator=(PolicyRouting&&) noexcept = default;
    // Does NOT remove anything: the caller decides when to call remove() (not in a forked child, not after a
    // crash). An object destroyed without remove() leaves its additions in place.
    ~PolicyRouting() = default;

    // Adds the rules and routes of `plan` that are not already there (compared by rule_matches /
    // route_matches against a dump). Whatever existed before is left alone and never recorded as ours; a
    // route slot taken by a different route is an error (choose another table). IPv6 is skipped with a
    // note when the kernel lacks it or the namespace has no ::1 (disable_ipv6). Returns false and sets
    // *error to one line, e.g. "adding ip rule from 127.0.0.1/8 iif lo table 123: Operation not permitted
    // (needs CAP_NET_ADMIN: run as root or setcap cap_net_admin+ep)", after undoing its own additions of
    // this call. May be called again after remove().
    bool install(const Plan& plan, std::string* error);

    // What install() added and remove() has not yet removed, in the order added: log each one.
    const std::vector<Change>& added() const { return added_; }
    // One line per thing install() found already present or skipped, e.g. "ip rule from 127.0.0.1/8 iif lo
    // table 123 is already present (pref 100): leaving it alone".
    const std::vector<std::string>& notes() const { return notes_; }

    // Takes over from a predecessor (a ferry that handed its sockets to us): of what install() found already
    // present, the entries whose add text (Change::text) is in `texts` (the predecessor's added()) become ours,
    // to be removed by remove() at our exit; the predecessor leaves them in place. Returns those adopted.
    std::vector<Change> adopt(const std::vector<std::string>& texts);

    // Removes what install() added, newest first. An entry already gone counts as removed. Entries it could
    // not remove stay in added() so a later call may retry; removed ones are forgotten, so calling again is
    // harmless. Returns one line per failure (never fatal); appends what it removed to *removed if given.
    // Needs CAP_NET_ADMIN like install(): keep it, or remove before dropping privileges.
    std::vector<std::string> remove(std::vector<Change>* removed = nullptr);

private:
    std::vector<Change> added_;
    std::vector<std::string> notes_;
    std::vector<Change> present_;  // found already there, with the request that would remove each
};

}  // namespace ferry::routing
