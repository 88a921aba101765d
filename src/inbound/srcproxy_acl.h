// The srcproxy server's access control: which clients (told apart by the auth digest they send) may use which
// source addresses, and, a ferry extension, reach which destinations. Pure: built once from the configuration,
// then check() is a decision over the parsed request, no I/O, no logging, no allocation unless it rejects.
//
// Semantics, following the reference README (what its users read) where the reference code differs:
//   - no entries (`acl` absent, null or `[]`) = ACL off, every request allowed whatever its auth.
//     The reference code rejects every request for `"acl": []`; its README says `[]` disables the ACL.
//   - an entry's allowed_src_ips empty (absent, null or `[]`) = any source. The reference code allows no
//     source for `"allowed_src_ips": []`; its README says `[]` allows any.
//   - `"auth": ""` is the entry of clients with a blank auth (they send SHA-256("")), as in the reference.
//   - two entries with the same auth are a configuration error (the reference silently keeps the last).
//   - with the ACL on, the received auth must be exactly 32 bytes, as in the reference; it is compared with
//     every entry's digest in constant time (the reference uses a map lookup).
//   - IPv4-mapped sources and destinations (::ffff:a.b.c.d) match IPv4 prefixes; IPv6 prefixes never match
//     IPv4 addresses and IPv4 prefixes never match IPv6 ones, as with Go's IPNet.Contains.
//   - allowed_dst_ips / allowed_dst_ports (ferry only; empty = any) restrict where an entry may connect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"
#include "support/sha256.h"
#include "support/subnets.h"

namespace ferry::srcproxy {

// An inclusive port range; a single port is first == last.
struct PortRange {
    uint16_t first = 1;
    uint16_t last = 65535;

    bool contains(uint16_t port) const { return port >= first && port <= last; }
    bool operator==(const PortRange&) const = default;
};

// "PORT" or "FIRST-LAST" (FIRST <= LAST), ports 1..65535 in decimal (at most 5 digits), blanks around each
// number allowed.
std::optional<PortRange> parse_port_range(std::string_view text);

struct AclEntry {
    std::string auth;                                // the configured auth string; "" for blank-auth clients
    std::vector<subnets::IpPrefix> allowed_src_ips;  // empty: any source
    std::vector<subnets::IpPrefix> allowed_dst_ips;  // ferry; empty: any destination address
    std::vector<PortRange> allowed_dst_ports;        // ferry; empty: any destination port
    int line = 0;                                    // where the entry starts in the configuration (0: unknown)
};

enum class Verdict {
    Allowed,
    AuthNotDigest,          // the received auth is not 32 bytes long
    UnknownAuth,            // no entry has this digest
    SourceNotAllowed,       // the entry's allowed_src_ips do not contain the source
    DestinationNotAllowed,  // the entry's allowed_dst_ips or allowed_dst_ports do not cover the destination
};

struct Decision {
    Verdict verdict = Verdict::Allowed;
    // The index of the entry whose digest matched; none when the ACL is off or no entry matched.
    std::optional<size_t> entry;
    // On rejection, the reason for the log, e.g. "invalid auth: not found in acl",
    // "src 192.0.2.1 not in the allowed_src_ips of acl[0] (line 5)". Empty when allowed. Never contains
    // the auth or its digest.
    std::string reason;

    bool allowed() const { return verdict == Verdict::Allowed; }
};

struct AclBuildResult;

class Acl {
public:
    Acl() = default;  // off: allows everything

    // Takes the entries in configuration order. No entries: the ACL is off.
    static AclBuildResult build(std::vector<AclEntry> entries);

    bool enabled() const { return !entries_.empty(); }
    const std::vector<AclEntry>& entries() const { return entries_; }

    // The decision for a parsed request: its auth bytes as received, its source and its destination (ports
    // of sources are ignored). Checks in order: auth length, digest, source, destination; the first failure
    // is the verdict. The digest comparison takes the same time whichever entry matches, or none.
    Decision check(std::span<const std::byte> auth, const SocketAddress& source,
                   const SocketAddress& destination) const;

private:
    std::vector<AclEntry> entries_;
    std::vector<Sha256Digest> digests_;         // digests_[i] = SHA-256(entries_[i].auth)
    std::vector<subnets::SubnetList> sources_;  // from allowed_src_ips (an empty list allows all)
    std::vector<subnets::SubnetList> destinations_;
};

struct AclBuildResult {
    std::optional<Acl> acl;  // set on success
    // On failure: the entry that repeats an auth, the earlier entry with the same auth, and a message naming
    // both by index and line ("acl[2] (line 14) has the same auth as acl[0] (line 5)"), never the auth itself.
    size_t duplicate = 0, first = 0;
    std::string error;
    bool ok() const { return acl.has_value(); }
};

// "acl[2] (line 14)", or "acl[2]" when the line is unknown.
std::string describe_entry(size_t index, int line);

}  // namespace ferry::srcproxy
