#include "backends/policy.h"

#include <arpa/inet.h>

#include <algorithm>

#include "support/file_util.h"
#include "support/text.h"

namespace ferry::policy {
namespace {

// How much of the rest of a line an error message quotes.
constexpr size_t kQuoteBytes = 40;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_space(char c) { return c == ' ' || c == '\t'; }  // nom's space0/space1

// moproxy's id_chars: letters, digits, '-' and '_' (non-ASCII bytes stand for its Unicode letters).
bool is_name_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           u >= 0x80;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f'); }

// A position in one line with nom's primitives: each returns whether it matched and moves only when it did.
struct Cursor {
    std::string_view s;
    size_t pos = 0;

    bool at_end() const { return pos >= s.size(); }
    char peek() const { return at_end() ? '\0' : s[pos]; }
    std::string_view rest() const { return s.substr(pos); }
    std::string excerpt() const { return at_end() ? std::string("the end of the line") : quoted(rest(), kQuoteBytes); }

    size_t spaces() {
        size_t start = pos;
        while (!at_end() && is_space(s[pos])) ++pos;
        return pos - start;
    }
    bool tag(char c) {
        if (peek() != c || at_end()) return false;
        ++pos;
        return true;
    }
    // tag_no_case: `word` in any case.
    bool keyword(std::string_view word) {
        if (s.size() - pos < word.size()) return false;
        for (size_t i = 0; i < word.size(); ++i)
            if (lower(s[pos + i]) != word[i]) return false;
        pos += word.size();
        return true;
    }
    std::string_view name() {
        size_t start = pos;
        while (!at_end() && is_name_char(s[pos])) ++pos;
        return s.substr(start, pos - start);
    }
    // nom's u8/u16: one or more digits whose value fits `max`; nothing consumed otherwise.
    std::optional<unsigned> number(unsigned max) {
        size_t start = pos;
        unsigned value = 0;
        while (!at_end() && s[pos] >= '0' && s[pos] <= '9') {
            value = value * 10 + static_cast<unsigned>(s[pos] - '0');
            ++pos;
            if (value > max) {
                pos = start;
                return std::nullopt;
            }
        }
        if (pos == start) return std::nullopt;
        return value;
    }
};

struct Failure {
    std::string message;
};

// ipv4_addr: four u8 joined by dots (leading zeros allowed, as nom's u8 takes them).
bool ipv4(Cursor& c, uint8_t out[4]) {
    size_t start = c.pos;
    for (int i = 0; i < 4; ++i) {
        if (i > 0 && !c.tag('.')) {
            c.pos = start;
            return false;
        }
        auto v = c.number(255);
        if (!v) {
            c.pos = start;
            return false;
        }
        out[i] = static_cast<uint8_t>(*v);
    }
    return true;
}

// ipv6_addr: the longest run of hex digits and colons, which must then be an IPv6 address (no dotted tail).
bool ipv6(Cursor& c, uint8_t out[16]) {
    size_t start = c.pos;
    for (;;) {
        while (!c.at_end() && is_hex(c.peek())) ++c.pos;
        if (!c.tag(':')) break;
    }
    std::string text(c.s.substr(start, c.pos - start));
    if (text.empty() || inet_pton(AF_INET6, text.c_str(), out) != 1) {
        c.pos = start;
        return false;
    }
    return true;
}

std::optional<subnets::IpPrefix> ip_prefix(Cursor& c, Failure& f) {
    const size_t start = c.pos;
    subnets::IpPrefix p;
    uint8_t bytes[16] = {};
    if (ipv4(c, bytes)) {
        p.family = AF_INET;
        std::copy(bytes, bytes + 4, p.address.begin());
    } else if (ipv6(c, bytes)) {
        p.family = AF_INET6;
        std::copy(bytes, bytes + 16, p.address.begin());
    } else {
        f.message = "expected an IP address after \"dst ip\" at " + c.excerpt();
        return std::nullopt;
    }
    const unsigned max = p.family == AF_INET ? 32 : 128;
    p.length = static_cast<int>(max);
    size_t slash = c.pos;
    if (c.tag('/')) {
        if (auto len = c.number(255))
            p.length = static_cast<int>(*len);
        else
            c.pos = slash;  // nom's opt(): the '/' stays, and the rule fails after the address
    }
    if (p.length > static_cast<int>(max)) {
        f.message = quoted(c.s.substr(start, c.pos - start)) + ": the prefix length is more than " +
                    std::to_string(max);
        return std::nullopt;
    }
    // Host bits cleared, so 10.1.2.3/8 is the rule 10.0.0.0/8 (moproxy's lookup table keys on the prefix).
    for (int bit = p.length; bit < static_cast<int>(max); ++bit)
        p.address[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
    return p;
}

std::optional<std::string> domain_name(Cursor& c, Failure& f) {
    const size_t start = c.pos;
    while (!c.name().empty()) c.tag('.');
    if (c.pos == start) {
        if (c.tag('.')) return std::string(".");
        f.message = "expected a domain name after \"dst domain\" at " + c.excerpt();
        return std::nullopt;
    }
    std::string_view text = c.s.substr(start, c.pos - start);
    if (text.back() == '.') text.remove_suffix(1);
    std::string out;
    for (char ch : text) out += lower(ch);
    return out;
}

bool filter(Cursor& c, Rule& r, Failure& f) {
    if (c.keyword("dst ip")) {
        r.filter = FilterKind::DstIp;
        if (!c.spaces()) {
            f.message = "expected a blank and an IP address after \"dst ip\" at " + c.excerpt();
            return false;
        }
        auto p = ip_prefix(c, f);
        if (!p) return false;
        r.prefix = *p;
        return true;
    }
    if (c.keyword("dst domain")) {
        r.filter = FilterKind::DstDomain;
        if (!c.spaces()) {
            f.message = "expected a blank and a domain name after \"dst domain\" at " + c.excerpt();
            return false;
        }
        auto d = domain_name(c, f);
        if (!d) return false;
        r.domain = std::move(*d);
        return true;
    }
    if (c.keyword("listen port")) {
        r.filter = FilterKind::ListenPort;
        if (!c.spaces()) {
            f.message = "expected a blank and a port after \"listen port\" at " + c.excerpt();
            return false;
        }
        size_t start = c.pos;
        auto port = c.number(65535);
        if (!port || *port == 0) {
            c.pos = start;
            std::string_view digits = c.rest().substr(0, c.rest().find_first_not_of("0123456789"));
            f.message = (digits.empty() ? "expected a port after \"listen port\" at " + c.excerpt()
                                        : quoted(digits) + " is not a port (1..65535)");
            return false;
        }
        r.port = static_cast<uint16_t>(*port);
        return true;
    }
    if (c.keyword("default")) {
        r.filter = FilterKind::Default;
        return true;
    }
    f.message = "expected a filter (default, listen port N, dst ip IP[/LEN], dst domain NAME) at " + c.excerpt();
    return false;
}

bool priority(Cursor& c, std::string_view word, Action& a, Failure& f) {
    unsigned n = 0;
    while (c.tag('!')) ++n;
    if (n > kMaxPriority) {
        f.message = "\"" + std::string(word) + "\" with " + std::to_string(n) + " '!': the priority is at most " +
                    std::to_string(kMaxPriority);
        return false;
    }
    a.priority = n;
    return true;
}

bool action(Cursor& c, Action& a, Failure& f) {
    if (c.keyword("require")) {
        a.verdict = Verdict::Require;
        if (!priority(c, "require", a, f)) return false;
        if (!c.spaces()) {
            f.message = "expected a blank and a capability after \"require\" at " + c.excerpt();
            return false;
        }
        Requirement req;
        std::string_view cap = c.name();
        if (cap.empty()) {
            f.message = "expected a capability name (letters, digits, '-', '_') at " + c.excerpt();
            return false;
        }
        req.any_of.emplace_back(cap);
        for (;;) {
            size_t before = c.pos;
            if (c.spaces() && c.keyword("or") && c.spaces()) {
                cap = c.name();
                if (!cap.empty()) {
                    req.any_of.emplace_back(cap);
                    continue;
                }
            }
            c.pos = before;  // separated_list1: what follows is not "or CAP"
            break;
        }
        std::sort(req.any_of.begin(), req.any_of.end());
        a.required.push_back(std::move(req));
        return true;
    }
    for (auto [word, verdict] : {std::pair{std::string_view("direct"), Verdict::Direct},
                                 std::pair{std::string_view("reject"), Verdict::Reject}}) {
        if (c.keyword(word)) {
            a.verdict = verdict;
            return priority(c, word, a, f);
        }
    }
    f.message = "expected an action (require CAP [or CAP ...], direct, reject) at " + c.excerpt();
    return false;
}

bool same_set(const Requirement& a, const Requirement& b) { return a.any_of == b.any_of; }

size_t action_size(const Action& a) { return a.verdict == Verdict::Require ? a.required.size() : 1; }

}  // namespace

void Action::extend(const Action& next) {
    if (next.priority > priority) {
        *this = next;
        return;
    }
    if (next.priority < priority) return;
    if (next.verdict != Verdict::Require || verdict != Verdict::Require) {
        *this = next;
        return;
    }
    for (const Requirement& req : next.required) {
        auto same = std::find_if(required.begin(), required.end(),
                                 [&](const Requirement& r) { return same_set(r, req); });
        if (same == required.end()) {
            required.push_back(req);
        } else {
            for (int l : req.lines)
                if (std::find(same->lines.begin(), same->lines.end(), l) == same->lines.end()) same->lines.push_back(l);
        }
    }
}

std::string Action::to_string() const {
    std::string out = verdict == Verdict::Direct ? "DIRECT" : verdict == Verdict::Reject ? "REJECT" : "REQUIRE";
    out.append(priority, '!');
    if (verdict != Verdict::Require) return out;
    std::vector<const Requirement*> sets;
    for (const Requirement& r : required) sets.push_back(&r);
    std::sort(sets.begin(), sets.end(),
              [](const Requirement* a, const Requirement* b) { return a->any_of < b->any_of; });
    if (sets.empty()) return out + " NOTHING";
    for (size_t i = 0; i < sets.size(); ++i) {
        const auto& any_of = sets[i]->any_of;
        out += i == 0 ? " " : " AND ";
        if (any_of.empty()) {
            out += "(EMPTY)";
            continue;
        }
        if (any_of.size() > 1) out += "(";
        for (size_t j = 0; j < any_of.size(); ++j) out += (j ? " OR " : "") + any_of[j];
        if (any_of.size() > 1) out += ")";
    }
    return out;
}

std::vector<int> Action::lines() const {
    std::vector<int> out;
    if (verdict != Verdict::Require) {
        if (line > 0) out.push_back(line);
        return out;
    }
    for (const Requirement& r : required) out.insert(out.end(), r.lines.begin(), r.lines.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

LineResult parse_line(std::string_view line, int line_number) {
    LineResult result;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Cursor c{line};
    c.spaces();
    if (c.at_end() || c.peek() == '#') return result;
    Rule rule;
    rule.line = line_number;
    Failure f;
    if (!filter(c, rule, f)) {
        result.error = std::move(f.message);
        return result;
    }
    if (!c.spaces()) {
        result.error = "expected a blank and an action after the filter at " + c.excerpt();
        return result;
    }
    if (!action(c, rule.action, f)) {
        result.error = std::move(f.message);
        return result;
    }
    c.spaces();
    if (!c.at_end() && c.peek() != '#') {
        result.error = "unexpected " + c.excerpt() +
                       " after the rule (one filter and one action per line; \"or\" joins capabilities)";
        return result;
    }
    rule.action.line = line_number;
    for (Requirement& r : rule.action.required) r.lines.push_back(line_number);
    result.rule = std::move(rule);
    return result;
}

void Policy::add(const Rule& rule) {
    switch (rule.filter) {
        case FilterKind::Default: default_.extend(rule.action); return;
        case FilterKind::ListenPort: ports_[rule.port].extend(rule.action); return;
        case FilterKind::DstDomain: domains_[rule.domain].extend(rule.action); return;
        case FilterKind::DstIp: {
            for (IpRule& r : ips_) {
                if (r.prefix == rule.prefix) {
                    r.action.extend(rule.action);
                    return;
                }
            }
            IpRule added{rule.prefix, Action{}};
            added.action.extend(rule.action);
            // Shorter prefixes first: a more specific rule applies after, and so overrides, a wider one.
            auto at = std::upper_bound(ips_.begin(), ips_.end(), added.prefix.length,
                                       [](int len, const IpRule& r) { return len < r.prefix.length; });
            ips_.insert(at, std::move(added));
            return;
        }
    }
}

Action Policy::match(const Request& request) const {
    Action out = default_;
    if (request.listen_port) {
        if (auto it = ports_.find(*request.listen_port); it != ports_.end()) out.extend(it->second);
    }
    if (!request.dst_ip.empty()) {
        const SocketAddress ip = request.dst_ip.unmapped();
        for (const IpRule& r : ips_)
            if (r.prefix.contains(ip)) out.extend(r.action);
    }
    std::string name;
    for (char ch : request.dst_domain) name += lower(ch);
    while (!name.empty() && name.back() == '.') name.pop_back();
    if (!name.empty() && !domains_.empty()) {
        auto apply = [&](const std::string& key) {
            if (auto it = domains_.find(key); it != domains_.end()) out.extend(it->second);
        };
        apply(".");
        // The suffixes at each dot from the right, then the whole name: "a.b.c" gives c, b.c, a.b.c.
        for (size_t i = name.size(); i-- > 0;)
            if (name[i] == '.') apply(name.substr(i + 1));
        apply(name);
    }
    return out;
}

size_t Policy::rule_count() const {
    size_t n = 0;
    for (const auto& [port, a] : ports_) n += action_size(a);
    for (const auto& [domain, a] : domains_) n += action_size(a);
    for (const IpRule& r : ips_) n += action_size(r.action);
    return n;
}

std::string Policy::where(const Action& action) const {
    std::string out;
    for (int l : action.lines()) out += (out.empty() ? "" : ", ") + file_ + ":" + std::to_string(l);
    return out;
}

bool satisfies(const Action& action, const std::vector<std::string>& capabilities) {
    for (const Requirement& r : action.required) {
        bool any = false;
        for (const std::string& cap : r.any_of)
            any = any || std::find(capabilities.begin(), capabilities.end(), cap) != capabilities.end();
        if (!any) return false;
    }
    return true;
}

PolicyResult parse_policy(std::string_view text, std::string_view file_name) {
    auto policy = std::make_shared<Policy>();
    policy->set_file(std::string(file_name));
    int number = 0;
    while (!text.empty()) {
        ++number;
        size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
        LineResult r = parse_line(line, number);
        if (!r.ok()) {
            PolicyResult failed;
            failed.error = std::string(file_name) + ":" + std::to_string(number) + ": " + r.error;
            return failed;
        }
        if (r.rule) policy->add(*r.rule);
    }
    PolicyResult result;
    result.policy = std::move(policy);
    return result;
}

PolicyResult load_policy(const std::string& path) {
    std::string text;
    if (int err = read_text_file(path, text)) {
        PolicyResult failed;
        failed.error = path + ": " + read_error_text(err);
        return failed;
    }
    return parse_policy(text, path);
}

}  // namespace ferry::policy
