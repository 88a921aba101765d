// libFuzzer target for moproxy's --policy rules (src/backends/policy.*): parse_policy() over a file's text, each
// line through parse_line(), and the matcher with a request made of the input's last bytes.
// Input: the text.
// Invariants:
//   - failure iff an error is set, worded "fuzz.rules:<line>: ..." with a line of the text; parsing twice agrees;
//   - a rule written back in canonical form ("listen port N", "dst ip PREFIX", "dst domain NAME", "require!! a
//     or b") parses to the same rule;
//   - a port is 1..65535, a prefix's host bits are clear, a domain is "." or lower case without a trailing dot;
//     every require set is sorted and not empty, the priority at most 5;
//   - a match's action names only lines of the text, and its text starts with REQUIRE, DIRECT or REJECT.
#include "backends/policy.h"

#include "fuzz_util.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace ferry::policy;
using ferry::SocketAddress;
using ferry::fuzz::require;

std::string canonical(const Rule& r) {
    std::string out;
    switch (r.filter) {
        case FilterKind::Default: out = "default"; break;
        case FilterKind::ListenPort: out = "listen port " + std::to_string(r.port); break;
        case FilterKind::DstIp: out = "dst ip " + r.prefix.to_string(); break;
        case FilterKind::DstDomain: out = "dst domain " + r.domain; break;
    }
    const Action& a = r.action;
    out += a.verdict == Verdict::Require ? " require" : a.verdict == Verdict::Direct ? " direct" : " reject";
    out.append(a.priority, '!');
    if (a.verdict == Verdict::Require)
        for (size_t i = 0; i < a.required[0].any_of.size(); ++i) out += (i ? " or " : " ") + a.required[0].any_of[i];
    return out;
}

bool same_rule(const Rule& a, const Rule& b) {
    if (a.filter != b.filter || a.port != b.port || a.domain != b.domain || !(a.prefix == b.prefix)) return false;
    if (a.action.verdict != b.action.verdict || a.action.priority != b.action.priority) return false;
    if (a.action.required.size() != b.action.required.size()) return false;
    for (size_t i = 0; i < a.action.required.size(); ++i)
        if (a.action.required[i].any_of != b.action.required[i].any_of) return false;
    return true;
}

void check_rule(const Rule& r) {
    require(r.action.priority <= kMaxPriority);
    if (r.filter == FilterKind::ListenPort) require(r.port >= 1);
    if (r.filter == FilterKind::DstDomain) {
        require(!r.domain.empty());
        require(r.domain == "." || r.domain.back() != '.');
        for (char c : r.domain) require(!(c >= 'A' && c <= 'Z'));
    }
    if (r.filter == FilterKind::DstIp) {
        const int bits = r.prefix.family == AF_INET ? 32 : 128;
        require(r.prefix.length >= 0 && r.prefix.length <= bits);
        for (int i = r.prefix.length; i < bits; ++i) require(((r.prefix.address[i / 8] >> (7 - i % 8)) & 1) == 0);
    }
    if (r.action.verdict == Verdict::Require) {
        require(r.action.required.size() == 1);
        const auto& any_of = r.action.required[0].any_of;
        require(!any_of.empty() && std::is_sorted(any_of.begin(), any_of.end()));
    } else {
        require(r.action.required.empty());
    }
    // The canonical form, and with a comment after it, parse back to the same rule.
    for (const std::string& text : {canonical(r), canonical(r) + " # c"}) {
        LineResult again = parse_line(text, r.line);
        require(again.ok() && again.rule && same_rule(*again.rule, r));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;

    PolicyResult r = parse_policy(text, "fuzz.rules");
    PolicyResult again = parse_policy(text, "fuzz.rules");
    require(r.ok() == r.error.empty());
    require(r.ok() == again.ok() && r.error == again.error);
    if (!r.ok()) {
        require(r.error.rfind("fuzz.rules:", 0) == 0);
        size_t colon = r.error.find(':', 11);
        require(colon != std::string::npos);
        const size_t line = std::stoul(r.error.substr(11, colon - 11));
        require(line >= 1 && line <= lines);
    } else {
        require(r.policy->rule_count() == again.policy->rule_count());
    }

    // Each line alone, as the file's parser sees it.
    std::string_view rest = text;
    int number = 0;
    while (!rest.empty()) {
        size_t newline = rest.find('\n');
        LineResult l = parse_line(rest.substr(0, newline), ++number);
        require(l.ok() == l.error.empty());
        require(!l.rule || l.ok());
        if (l.rule) check_rule(*l.rule);
        rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    }

    if (r.ok() && size >= 7) {
        // A request from the last bytes: a port, an IPv4 address, and the text's last line as a domain.
        const uint8_t* tail = data + size - 7;
        Request q;
        q.listen_port = static_cast<uint16_t>(tail[0] << 8 | tail[1]);
        q.dst_ip = SocketAddress::from_v4(tail + 2, 0);
        size_t last = text.rfind('\n');
        q.dst_domain = std::string_view(text).substr(last == std::string::npos ? 0 : last + 1);
        Action a = r.policy->match(q);
        require(a.priority <= kMaxPriority);
        for (int l : a.lines()) require(l >= 1 && static_cast<size_t>(l) <= lines);
        const std::string s = a.to_string();
        require(s.rfind("REQUIRE", 0) == 0 || s.rfind("DIRECT", 0) == 0 || s.rfind("REJECT", 0) == 0);
        // A server without capabilities qualifies exactly when nothing is required.
        if (a.verdict == Verdict::Require) require(satisfies(a, {}) == a.required.empty());
    }
    return 0;
}
