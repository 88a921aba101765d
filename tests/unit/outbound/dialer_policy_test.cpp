// The Dialer with a Route's policy (outbound/route.h, backends/policy.h): the candidates a connection walks are
// the ranked servers whose capabilities satisfy the policy, in rank order; direct goes straight to the
// destination; reject and "no server qualifies" refuse at the first attempt, naming the rules.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/policy.h"
#include "core/rcu.h"
#include "outbound/dialer.h"

using namespace ferry;

namespace {

struct Setup {
    backends::TableCell table;
    rcu::Cell<policy::Published> rules;
    Route route;

    Setup(const std::string& rules_text, const std::vector<std::vector<std::string>>& capabilities) {
        auto t = std::make_unique<backends::PublishedTable>();
        auto ranked = std::make_shared<backends::BackendTable>();
        for (size_t i = 0; i < capabilities.size(); ++i) {
            backends::ServerConfig c;
            c.tag = "s" + std::to_string(i);
            c.address = *parse_host_port("127.0.0.1:" + std::to_string(1 + i));  // nothing listens: dials fail
            c.capabilities = capabilities[i];
            backends::RankedBackend r;
            r.backend = std::make_shared<backends::Backend>(c, std::make_shared<backends::BackendStats>(), nullptr);
            ranked->ranked.push_back(r);
        }
        t->table = ranked;
        table.publish(std::move(t));
        auto parsed = policy::parse_policy(rules_text, "p.rules");
        REQUIRE(parsed.ok());
        rules.publish(std::make_unique<policy::Published>(policy::Published{parsed.policy}));
        route.hop = Route::Hop::Proxies;
        route.table = &table;
        route.policy = &rules;
    }
};

Flow flow_to(const std::string& destination, uint16_t listen_port, const std::string& host = "") {
    Flow f;
    f.peer = *parse_host_port("127.0.0.1:40000");
    f.local = *parse_host_port("127.0.0.1:" + std::to_string(listen_port));
    f.destination = *parse_host_port(destination);
    f.destination_host = host;
    return f;
}

// The tags of the servers the Dialer walks for `flow`, in order, until it says there is nothing left.
std::vector<std::string> walk(const Dialer& dialer, Flow flow, OpenResult* last = nullptr) {
    std::vector<std::string> tags;
    DialState state;
    for (int i = 0; i < 10; ++i) {
        Attempt a;
        OpenResult r;
        flow.target = {};
        dialer.open(flow, a, state, r, 0);
        if (a.via) tags.push_back(a.via->config().tag);
        else if (a.fd || !flow.target.empty()) tags.push_back("direct:" + flow.target.to_string());
        if (r.exhausted) {
            if (last) *last = r;
            break;
        }
    }
    return tags;
}

}  // namespace

TEST_CASE("dialer policy: require keeps the servers that satisfy it, in rank order", "[dialer_policy]") {
    Setup s("default require gen\nlisten port 2081 require! special\ndst ip 192.0.2.0/24 require a\n",
            {{"gen", "b"}, {"special"}, {"a", "gen"}, {}});
    Dialer dialer(s.route);
    CHECK(dialer.needs_local_address());
    CHECK(walk(dialer, flow_to("203.0.113.9:80", 2080)) == std::vector<std::string>{"s0", "s2"});
    CHECK(walk(dialer, flow_to("203.0.113.9:80", 2081)) == std::vector<std::string>{"s1"});
    CHECK(walk(dialer, flow_to("192.0.2.7:80", 2080)) == std::vector<std::string>{"s2"});
}

TEST_CASE("dialer policy: direct, reject, and nothing qualifying", "[dialer_policy]") {
    Setup s("dst ip 192.0.2.1 direct\ndst domain bad.example reject\ndst ip 192.0.2.3 require nosuch\n",
            {{"a"}, {"b"}});
    Dialer dialer(s.route);
    CHECK(walk(dialer, flow_to("192.0.2.1:80", 2080)) == std::vector<std::string>{"direct:192.0.2.1:80"});

    OpenResult r;
    CHECK(walk(dialer, flow_to("0.0.0.0:443", 2080, "www.bad.example"), &r).empty());
    CHECK(r.error == "rejected by policy (policy REJECT, from p.rules:2)");
    CHECK(r.error_code == EACCES);

    CHECK(walk(dialer, flow_to("192.0.2.3:80", 2080), &r).empty());
    CHECK(r.error == "no upstream proxy satisfies the policy (policy REQUIRE nosuch, from p.rules:3)");
    CHECK(r.error_code == ENETUNREACH);

    // With --allow-direct, a connection no server qualifies for goes direct, as moproxy's fallback does.
    Route with_direct = s.route;
    with_direct.allow_direct = true;
    Dialer fallback(with_direct);
    CHECK(walk(fallback, flow_to("192.0.2.3:80", 2080)) == std::vector<std::string>{"direct:192.0.2.3:80"});
    // Without a policy in the cell: every server.
    Route plain = s.route;
    plain.policy = nullptr;
    Dialer all(plain);
    CHECK_FALSE(all.needs_local_address());
    CHECK(walk(all, flow_to("192.0.2.1:80", 2080)) == std::vector<std::string>{"s0", "s1"});
}
