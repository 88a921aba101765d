#include "inbound/srcproxy_acl.h"

#include <algorithm>

namespace ferry::srcproxy {
namespace {

// 1 when the 32 bytes at a and b are equal, else 0, with no data-dependent branch or early exit.
size_t digest_equal(const std::byte* a, const std::byte* b) {
    unsigned diff = 0;
    for (size_t i = 0; i < kSha256DigestLength; ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
    // diff is 0..255: diff - 1 has bit 8 set only when diff was 0 (it wraps around).
    return ((diff - 1u) >> 8) & 1u;
}

bool any_port(const std::vector<PortRange>& ranges, uint16_t port) {
    return ranges.empty() ||
           std::any_of(ranges.begin(), ranges.end(), [port](const PortRange& r) { return r.contains(port); });
}

Decision reject(Verdict verdict, std::optional<size_t> entry, std::string reason) {
    Decision d;
    d.verdict = verdict;
    d.entry = entry;
    d.reason = std::move(reason);
    return d;
}

}  // namespace

namespace {

std::optional<uint16_t> parse_port(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (s.empty() || s.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v < 1 || v > 65535) return std::nullopt;
    return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<PortRange> parse_port_range(std::string_view text) {
    size_t dash = text.find('-');
    auto first = parse_port(text.substr(0, dash));
    if (!first) return std::nullopt;
    if (dash == std::string_view::npos) return PortRange{*first, *first};
    auto last = parse_port(text.substr(dash + 1));
    if (!last || *last < *first) return std::nullopt;
    return PortRange{*first, *last};
}

std::string describe_entry(size_t index, int line) {
    std::string s = "acl[" + std::to_string(index) + "]";
    if (line > 0) s += " (line " + std::to_string(line) + ")";
    return s;
}

AclBuildResult Acl::build(std::vector<AclEntry> entries) {
    AclBuildResult result;
    Acl acl;
    acl.digests_.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        const Sha256Digest digest = sha256(entries[i].auth);
        auto same = std::find(acl.digests_.begin(), acl.digests_.end(), digest);
        if (same != acl.digests_.end()) {
            const auto first = static_cast<size_t>(same - acl.digests_.begin());
            result.duplicate = i;
            result.first = first;
            result.error = describe_entry(i, entries[i].line) + " has the same auth as " +
                           describe_entry(first, entries[first].line);
            return result;
        }
        acl.digests_.push_back(digest);
        acl.sources_.emplace_back(entries[i].allowed_src_ips);
        acl.destinations_.emplace_back(entries[i].allowed_dst_ips);
    }
    acl.entries_ = std::move(entries);
    result.acl = std::move(acl);
    return result;
}

Decision Acl::check(std::span<const std::byte> auth, const SocketAddress& source,
                    const SocketAddress& destination) const {
    if (!enabled()) return {};
    if (auth.size() != kSha256DigestLength)
        return reject(Verdict::AuthNotDigest, std::nullopt,
                      "invalid auth: " + std::to_string(auth.size()) + " bytes, not a 32-byte SHA-256 digest");

    // Every digest is compared in full; `found` is the matching index + 1, or 0. Auths are unique (build()
    // refuses repeats), so at most one entry matches and OR-ing the candidates is exact.
    size_t found = 0;
    for (size_t i = 0; i < digests_.size(); ++i) {
        const size_t mask = size_t{0} - digest_equal(auth.data(), digests_[i].data());
        found |= mask & (i + 1);
    }
    if (found == 0) return reject(Verdict::UnknownAuth, std::nullopt, "invalid auth: not found in acl");

    const size_t index = found - 1;
    const AclEntry& entry = entries_[index];
    if (!sources_[index].contains(source))
        return reject(Verdict::SourceNotAllowed, index,
                      "src " + source.unmapped().ip_string() + " not in the allowed_src_ips of " +
                          describe_entry(index, entry.line));
    const SocketAddress dst = destination.unmapped();
    if (!destinations_[index].contains(dst))
        return reject(Verdict::DestinationNotAllowed, index,
                      "dst " + dst.to_string() + " not in the allowed_dst_ips of " +
                          describe_entry(index, entry.line));
    if (!any_port(entry.allowed_dst_ports, dst.port()))
        return reject(Verdict::DestinationNotAllowed, index,
                      "dst " + dst.to_string() + " not in the allowed_dst_ports of " +
                          describe_entry(index, entry.line));
    Decision allowed;
    allowed.entry = index;
    return allowed;
}

}  // namespace ferry::srcproxy
