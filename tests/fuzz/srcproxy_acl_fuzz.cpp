// libFuzzer target for the srcproxy server's access control (src/inbound/srcproxy_acl.*): parse_port_range() over
// configuration text, and Acl::build() / Acl::check() over entries and requests described by the input. Input:
// lines, each "WORD REST":
//   auth REST    starts an ACL entry whose auth string is REST
//   src REST     adds parse_prefix(REST) to the entry's allowed_src_ips (ignored when it does not parse)
//   dst REST     adds parse_prefix(REST) to its allowed_dst_ips;  port REST  adds parse_port_range(REST)
//   check AUTH SRC DST   a request: the digest of AUTH ("raw:BYTES" sends BYTES as they are), source and
//                destination "ip:port" (parse_host_port)
// Every REST (and every whole line) also goes through parse_port_range(). Invariants:
//   - parse_port_range(): agrees with a reference parser written differently; a range is 1 <= first <= last
//     and "first-last" (or "first") parses back to it; parsing twice gives the same range;
//   - build(): refuses exactly the ACLs with two entries of the same auth, naming the first such pair;
//   - check(): the verdict, the entry and "allowed iff no reason" agree with a plain reference model of the
//     documented rules (ACL off: all allowed; auth of 32 bytes; its entry by digest; source, destination and
//     port in that entry's lists, IPv4-mapped addresses unmapped); the reason never holds the auth's digest;
//     checking twice gives the same decision.
#include "inbound/srcproxy_acl.h"

#include "support/sha256.h"
#include "support/subnets.h"

#include "fuzz_util.h"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::srcproxy;
using ferry::SocketAddress;
using ferry::fuzz::require;

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// A port the slow way: 1..5 decimal digits with std::from_chars, 1..65535.
std::optional<unsigned> reference_port(std::string_view s) {
    s = trim_blanks(s);
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    unsigned v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    if (v == 0 || v > 65535) return std::nullopt;
    return v;
}

std::optional<PortRange> reference_range(std::string_view s) {
    const size_t dash = s.find('-');
    const auto first = reference_port(s.substr(0, dash));
    if (!first) return std::nullopt;
    if (dash == std::string_view::npos) return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*first)};
    const auto last = reference_port(s.substr(dash + 1));
    if (!last || *last < *first) return std::nullopt;
    return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

void check_range(std::string_view text) {
    const auto r = parse_port_range(text);
    require(r == parse_port_range(text) && r == reference_range(text));
    if (!r) return;
    require(r->first >= 1 && r->first <= r->last);
    const std::string written = r->first == r->last ? std::to_string(r->first)
                                                    : std::to_string(r->first) + "-" + std::to_string(r->last);
    require(parse_port_range(written) == r);
    require(r->contains(r->first) && r->contains(r->last) && !r->contains(static_cast<uint16_t>(r->first - 1)));
}

bool in_prefixes(const std::vector<ferry::subnets::IpPrefix>& list, const SocketAddress& a) {
    if (list.empty()) return true;
    for (const auto& p : list)
        if (p.contains(a)) return true;
    return false;
}

// The documented rules, spelled out.
Decision reference_check(const std::vector<AclEntry>& entries, std::span<const std::byte> auth,
                         const SocketAddress& source, const SocketAddress& destination) {
    Decision d;
    if (entries.empty()) return d;
    if (auth.size() != ferry::kSha256DigestLength) {
        d.verdict = Verdict::AuthNotDigest;
        return d;
    }
    for (size_t i = 0; i < entries.size(); ++i) {
        const ferry::Sha256Digest digest = ferry::sha256(entries[i].auth);
        if (!ferry::fuzz::same_bytes(digest, auth)) continue;
        d.entry = i;
        const SocketAddress dst = destination.unmapped();
        bool port_ok = entries[i].allowed_dst_ports.empty();
        for (const PortRange& r : entries[i].allowed_dst_ports) port_ok = port_ok || r.contains(dst.port());
        if (!in_prefixes(entries[i].allowed_src_ips, source.unmapped()))
            d.verdict = Verdict::SourceNotAllowed;
        else if (!in_prefixes(entries[i].allowed_dst_ips, dst) || !port_ok)
            d.verdict = Verdict::DestinationNotAllowed;
        return d;
    }
    d.verdict = Verdict::UnknownAuth;
    return d;
}

std::string hex(std::span<const std::byte> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::byte b : bytes) {
        out += kHex[static_cast<unsigned>(b) >> 4];
        out += kHex[static_cast<unsigned>(b) & 0xF];
    }
    return out;
}

struct Request {
    std::vector<std::byte> auth;
    SocketAddress source, destination;
};

std::optional<Request> parse_check(std::string_view rest) {
    const size_t sp1 = rest.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : rest.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return std::nullopt;
    const std::string_view auth = rest.substr(0, sp1);
    const auto source = ferry::parse_host_port(rest.substr(sp1 + 1, sp2 - sp1 - 1));
    const auto destination = ferry::parse_host_port(rest.substr(sp2 + 1));
    if (!source || !destination) return std::nullopt;
    Request r;
    if (auth.starts_with("raw:")) {
        r.auth = ferry::fuzz::to_bytes(auth.substr(4));
    } else {
        const ferry::Sha256Digest digest = ferry::sha256(auth);
        r.auth.assign(digest.begin(), digest.end());
    }
    r.source = *source;
    r.destination = *destination;
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    std::string_view text = ferry::fuzz::as_text(input);

    std::vector<AclEntry> entries;
    std::vector<Request> requests;
    for (int line = 1; !text.empty(); ++line) {
        const size_t newline = text.find('\n');
        const std::string_view l = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        check_range(l);
        const size_t sp = l.find(' ');
        if (sp == std::string_view::npos) continue;
        const std::string_view word = l.substr(0, sp), rest = l.substr(sp + 1);
        check_range(rest);
        if (word == "auth") {
            entries.push_back(AclEntry{std::string(rest), {}, {}, {}, line});
        } else if (word == "check") {
            if (auto r = parse_check(rest)) requests.push_back(std::move(*r));
        } else if (!entries.empty()) {
            AclEntry& e = entries.back();
            if (word == "src" || word == "dst") {
                auto& list = word == "src" ? e.allowed_src_ips : e.allowed_dst_ips;
                if (auto p = ferry::subnets::parse_prefix(rest)) list.push_back(*p);
            } else if (word == "port") {
                if (auto r = parse_port_range(rest)) e.allowed_dst_ports.push_back(*r);
            }
        }
    }

    // The first pair of entries with the same auth, if any.
    std::optional<std::pair<size_t, size_t>> duplicate;
    for (size_t i = 0; i < entries.size() && !duplicate; ++i)
        for (size_t j = 0; j < i && !duplicate; ++j)
            if (entries[i].auth == entries[j].auth) duplicate = {i, j};
    const AclBuildResult built = Acl::build(entries);
    require(built.ok() == !duplicate && built.ok() == built.error.empty());
    if (duplicate) {
        require(built.duplicate == duplicate->first && built.first == duplicate->second);
        return 0;
    }
    const Acl& acl = *built.acl;
    require(acl.enabled() == !entries.empty() && acl.entries().size() == entries.size());

    for (const Request& r : requests) {
        const Decision d = acl.check(r.auth, r.source, r.destination);
        const Decision again = acl.check(r.auth, r.source, r.destination);
        require(again.verdict == d.verdict && again.entry == d.entry && again.reason == d.reason);
        const Decision expected = reference_check(entries, r.auth, r.source, r.destination);
        require(d.verdict == expected.verdict && d.entry == expected.entry);
        require(d.allowed() == d.reason.empty());
        if (r.auth.size() == ferry::kSha256DigestLength) require(d.reason.find(hex(r.auth)) == std::string::npos);
    }
    return 0;
}
