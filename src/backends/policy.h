// moproxy 0.5.1's proxy selection policy (--policy FILE): which of the ranked proxies may carry a connection,
// or whether it goes direct or is closed, decided by its listen port, destination IP and destination domain.
// The rules file, one rule per line, `FILTER ACTION [# comment]`:
//   FILTER  default | listen port N | dst ip IP[/LEN] | dst domain NAME     (keywords in any case)
//   ACTION  require[!...] CAP [or CAP ...] | direct[!...] | reject[!...]    (0..5 '!': the priority)
// Every rule that matches a connection is applied in this order: default, listen port, dst ip (shorter
// prefixes first), dst domain (`.` first, then the suffixes from the top level down). Applying an action of
// higher priority replaces what was there; of lower priority does nothing; of the same priority: direct and
// reject replace, a require adds its CAP set to the requires already there (or replaces direct/reject). A
// server satisfies the result when each of its CAP sets shares a capability with the server's `capabilities`
// (no require at all: every server). Exactly moproxy's parser (src/policy/parser.rs) and merging
// (src/policy/mod.rs), with two differences on purpose: the request's domain is compared in lower case (rules
// are lowered by both; moproxy compares the request's as it came), and name characters are ASCII letters,
// digits, '-', '_' and any non-ASCII byte (moproxy: Unicode letters and digits).
// Pure: no logging, no globals; load_policy() alone reads a file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/net_address.h"
#include "support/subnets.h"

namespace ferry::policy {

inline constexpr unsigned kMaxPriority = 5;

enum class Verdict : uint8_t { Require, Direct, Reject };

// One `require`: servers with at least one of these capabilities (sorted, repeats kept, as moproxy's CapSet),
// and the lines of the rules that asked for it.
struct Requirement {
    std::vector<std::string> any_of;
    std::vector<int> lines;
};

struct Action {
    Verdict verdict = Verdict::Require;
    unsigned priority = 0;
    std::vector<Requirement> required;  // Require: distinct sets, all of them must hold (none: any server)
    int line = 0;                       // Direct, Reject: the rule's line

    // Applies `next` over this one (moproxy's Action::extend), as the header says.
    void extend(const Action& next);
    // moproxy's Display: "DIRECT", "REJECT!!", "REQUIRE NOTHING", "REQUIRE! a AND (b OR c)" (sets in order).
    std::string to_string() const;
    // The lines of the rules behind it, ascending, without repeats (none for the built-in default).
    std::vector<int> lines() const;
};

enum class FilterKind : uint8_t { Default, ListenPort, DstIp, DstDomain };

struct Rule {
    FilterKind filter = FilterKind::Default;
    uint16_t port = 0;          // ListenPort: 1..65535
    subnets::IpPrefix prefix;   // DstIp: host bits cleared
    std::string domain;         // DstDomain: lower case, one trailing '.' dropped; "." matches every name
    Action action;
    int line = 0;
};

// One line (without its '\n'; a trailing '\r' is dropped): a rule, nothing (blank or comment), or an error
// message without its location, e.g. `"70000" is not a port (1..65535)`, `expected "or CAP", a comment or the
// end of the line at "b"`.
struct LineResult {
    std::optional<Rule> rule;
    std::string error;
    bool ok() const { return error.empty(); }
};
LineResult parse_line(std::string_view line, int line_number);

// What a connection offers the rules: each part may be missing.
struct Request {
    std::optional<uint16_t> listen_port;
    SocketAddress dst_ip;         // empty: none; IPv4-mapped IPv6 is taken as IPv4
    std::string_view dst_domain;  // empty: none; any case, trailing dots ignored
};

class Policy {
public:
    // The action for `request` (the default alone: require nothing, priority 0).
    Action match(const Request& request) const;
    void add(const Rule& rule);
    // moproxy's rule count: one per direct/reject and per distinct CAP set, over the non-default rules.
    size_t rule_count() const;
    const std::string& file() const { return file_; }
    void set_file(std::string file) { file_ = std::move(file); }
    // "policy.rules:3" for each line of `action`, comma-separated; "" when none.
    std::string where(const Action& action) const;

private:
    struct IpRule {
        subnets::IpPrefix prefix;
        Action action;
    };
    std::string file_;
    Action default_;
    std::unordered_map<uint16_t, Action> ports_;
    std::vector<IpRule> ips_;  // shorter prefixes first, as they apply
    std::unordered_map<std::string, Action> domains_;
};

// Whether a server with these capabilities may carry a connection under `action` (a Require).
bool satisfies(const Action& action, const std::vector<std::string>& capabilities);

struct PolicyResult {
    std::shared_ptr<const Policy> policy;
    std::string error;  // "<file_name>:<line>: <message>" on failure
    bool ok() const { return policy != nullptr; }
};
// The whole file, each line through parse_line(); the first error wins.
PolicyResult parse_policy(std::string_view text, std::string_view file_name);
// Reads and parses; an unreadable file gives "<path>: <strerror text>".
PolicyResult load_policy(const std::string& path);

// What an rcu::Cell holds for the loops (outbound/route.h): the policy in force, replaced whole on reload.
struct Published {
    std::shared_ptr<const Policy> policy;
};

}  // namespace ferry::policy
