// modes/privilege_needs.h: what each mode keeps after -user, from its options, planned against root's
// capabilities and against file capabilities.
#include "modes/privilege_needs.h"

#include <catch2/catch.hpp>

using namespace ferry;
using privileges::cap_bit;
using privileges::CapabilityMask;
using privileges::kCapNetAdmin;
using privileges::kCapNetBindService;
using privileges::kCapNetRaw;
using privileges::plan_capabilities;

namespace {

const CapabilityMask kRoot = ~CapabilityMask{0} >> 23;  // the 41 capabilities of Linux 5.9 and later
const CapabilityMask kAdmin = cap_bit(kCapNetAdmin);
const CapabilityMask kBind = cap_bit(kCapNetBindService);

CapabilityMask kept_as_root(const std::vector<privileges::Requirement>& r) { return plan_capabilities(r, kRoot).keep; }

mmproxy::Options mmproxy_options(std::vector<std::string> args) {
    auto o = mmproxy::parse_args(std::move(args), "go-mmproxy");
    REQUIRE(o.ok());
    return o.options;
}

run::RunConfig run_config(const std::string& text) {
    auto r = run::parse_run_config(text, "ferry.ini");
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.config;
}

}  // namespace

TEST_CASE("mmproxy keeps CAP_NET_ADMIN and CAP_NET_BIND_SERVICE", "[privileges]") {
    CHECK(kept_as_root(mmproxy_requirements(mmproxy_options({}))) == (kAdmin | kBind));
    CHECK(kept_as_root(mmproxy_requirements(mmproxy_options({"-routing=false", "-p", "udp"}))) == (kAdmin | kBind));
    // With file capabilities cap_net_admin+ep only: the low ports are said to be missing.
    auto plan = plan_capabilities(mmproxy_requirements(mmproxy_options({"-mark", "7"})), kAdmin);
    CHECK(plan.keep == kAdmin);
    REQUIRE(plan.missing.size() == 1);
    CHECK(plan.missing[0].capability == kCapNetBindService);
    // With cap_net_raw alone, routing at exit is what cannot be done.
    auto raw = plan_capabilities(mmproxy_requirements(mmproxy_options({})), cap_bit(kCapNetRaw) | kBind);
    CHECK(raw.keep == (cap_bit(kCapNetRaw) | kBind));
    REQUIRE(raw.missing.size() == 1);
    CHECK(raw.missing[0].capability == kCapNetAdmin);
    CHECK(raw.missing[0].purposes == "removing the policy routing at exit (-routing)");
    CHECK(plan_capabilities(mmproxy_requirements(mmproxy_options({"-routing=false"})), cap_bit(kCapNetRaw) | kBind)
              .missing.empty());
}

TEST_CASE("tproxy keeps CAP_NET_ADMIN and CAP_NET_BIND_SERVICE", "[privileges]") {
    auto o = tproxy::parse({}, "liproxy");
    REQUIRE(o.ok());
    CHECK(kept_as_root(tproxy_requirements(o.options)) == (kAdmin | kBind));
    auto marked = tproxy::parse({"-mark", "5"}, "liproxy");
    REQUIRE(marked.ok());
    auto plan = plan_capabilities(tproxy_requirements(marked.options), 0);
    REQUIRE(plan.missing.size() == 2);
    CHECK(plan.missing[0].capability == kCapNetAdmin);
    CHECK(plan.missing[0].purposes == "IP_TRANSPARENT: connecting from the clients' addresses; SO_MARK (-mark)");
}

TEST_CASE("srcproxy: the server keeps CAP_NET_ADMIN only when it had it, the client nothing without fwmark",
          "[privileges]") {
    CHECK(kept_as_root(srcproxy_server_requirements(true)) == (kAdmin | kBind));
    CHECK(kept_as_root(srcproxy_server_requirements(false)) == kBind);
    CHECK(plan_capabilities(srcproxy_server_requirements(false), 0).missing.size() == 1);  // the warning is said
    srcproxy::ClientConfig client;
    CHECK(kept_as_root(srcproxy_client_requirements(client)) == 0);
    client.fwmark = 0;  // 0 is a mark too
    CHECK(kept_as_root(srcproxy_client_requirements(client)) == kAdmin);
}

TEST_CASE("moproxy keeps nothing", "[privileges]") {
    CHECK(moproxy_requirements().empty());
    CHECK(kept_as_root(moproxy_requirements()) == 0);
}

TEST_CASE("moproxy --mark keeps CAP_NET_ADMIN for SO_MARK", "[privileges]") {
    CHECK(kept_as_root(moproxy_requirements(0)) == 0);
    CHECK(kept_as_root(moproxy_requirements(0x42)) == kAdmin);
}

TEST_CASE("ferry run: from its listeners, and CAP_NET_BIND_SERVICE for reloads", "[privileges]") {
    const std::string plain = "[listener a]\nlisten = 127.0.0.1:8000\ninbound = plain\ntarget = 192.0.2.1:80\n";
    CHECK(kept_as_root(run_requirements(run_config(plain))) == kBind);
    CHECK(kept_as_root(run_requirements(run_config(plain + "mark = 3\n"))) == (kAdmin | kBind));
    CHECK(kept_as_root(run_requirements(run_config(
              "[listener t]\nlisten = 127.0.0.1:8001\ninbound = tproxy\n"))) == (kAdmin | kBind));
    CHECK(kept_as_root(run_requirements(run_config(
              "[listener p]\nlisten = 127.0.0.1:8002\ninbound = proxy-protocol\nsource = client\n"))) ==
          (kAdmin | kBind));
    // Two listeners needing IP_TRANSPARENT for different reasons: one missing line, both reasons.
    auto plan = plan_capabilities(
        run_requirements(run_config("[listener t]\nlisten = 127.0.0.1:8001\ninbound = tproxy\n"
                                    "[listener p]\nlisten = 127.0.0.1:8002\ninbound = proxy-protocol\n"
                                    "source = client\n")),
        kBind);
    CHECK(plan.keep == kBind);
    REQUIRE(plan.missing.size() == 1);
    CHECK(plan.missing[0].purposes ==
          "IP_TRANSPARENT: inbound = tproxy (checked again on reload); IP_TRANSPARENT: source = client");
}
