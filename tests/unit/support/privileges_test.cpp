// support/privileges.h: the user spec, capability names, the plan of what to keep, the user lookup, and the
// drop's refusal while other threads exist. The drop itself changes the process: tests/e2e/privdrop.sh runs it.
#include "support/privileges.h"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace ferry::privileges;

namespace {

std::string spec_error(std::string_view text) {
    std::string why;
    INFO(text);
    CHECK_FALSE(parse_user_spec(text, &why).has_value());
    return why;
}

}  // namespace

TEST_CASE("parse_user_spec: NAME, NAME:GROUP, UID, UID:GID", "[privileges]") {
    std::string why;
    CHECK(parse_user_spec("nobody", &why) == UserSpec{"nobody", std::nullopt});
    CHECK(parse_user_spec("nobody:nogroup", &why) == UserSpec{"nobody", "nogroup"});
    CHECK(parse_user_spec("65534", &why) == UserSpec{"65534", std::nullopt});
    CHECK(parse_user_spec("1000:100", &why) == UserSpec{"1000", "100"});
    CHECK(parse_user_spec("ferry-svc:ferry.grp", &why) == UserSpec{"ferry-svc", "ferry.grp"});
    CHECK(spec_error("") == "an empty user");
    CHECK(spec_error(":nogroup") == "no user before ':'");
    CHECK(spec_error("nobody:") == "no group after ':'");
    CHECK(spec_error(":") == "no user before ':'");
    CHECK(spec_error("a:b:c") == "more than one ':'");
    CHECK(spec_error("no body") == "a blank or a control character");
    CHECK(spec_error("nobody\n") == "a blank or a control character");
    CHECK(spec_error("\tnobody") == "a blank or a control character");
    CHECK(spec_error(std::string_view("no\0body", 7)) == "a blank or a control character");
}

TEST_CASE("capability names", "[privileges]") {
    CHECK(capability_names(0) == "none");
    CHECK(capability_name(kCapNetAdmin) == "cap_net_admin");
    CHECK(capability_name(kCapNetRaw) == "cap_net_raw");
    CHECK(capability_name(kCapNetBindService) == "cap_net_bind_service");
    CHECK(capability_name(0) == "cap_chown");
    CHECK(capability_name(40) == "cap_checkpoint_restore");
    CHECK(capability_name(41) == "cap_41");
    CHECK(capability_names(cap_bit(kCapNetAdmin) | cap_bit(kCapNetBindService)) ==
          "cap_net_bind_service,cap_net_admin");
    CHECK(capability_names(cap_bit(kCapNetRaw) | cap_bit(63)) == "cap_net_raw,cap_63");
}

TEST_CASE("plan_capabilities: keep what is needed and held, name what is missing", "[privileges]") {
    const Requirement spoof{kCapNetAdmin, kCapNetRaw, "IP_TRANSPARENT"};
    const Requirement mark{kCapNetAdmin, kCapNetRaw, "SO_MARK"};
    const Requirement routing{kCapNetAdmin, -1, "routing at exit"};
    const Requirement ports{kCapNetBindService, -1, "low ports"};
    const CapabilityMask root = ~CapabilityMask{0} >> 23;  // 41 capabilities

    CapabilityPlan all = plan_capabilities({spoof, mark, routing, ports}, root);
    CHECK(all.keep == (cap_bit(kCapNetAdmin) | cap_bit(kCapNetBindService)));
    CHECK(all.missing.empty());

    // Nothing needed: nothing kept, even as root.
    CapabilityPlan none = plan_capabilities({}, root);
    CHECK(none.keep == 0);
    CHECK(none.missing.empty());

    // Only CAP_NET_RAW held (file capabilities): it stands in where the kernel accepts it, not for routing.
    CapabilityPlan raw = plan_capabilities({spoof, mark, routing, ports}, cap_bit(kCapNetRaw));
    CHECK(raw.keep == cap_bit(kCapNetRaw));
    REQUIRE(raw.missing.size() == 2);
    CHECK(raw.missing[0] == Missing{kCapNetAdmin, "routing at exit"});
    CHECK(raw.missing[1] == Missing{kCapNetBindService, "low ports"});

    // Nothing held: one entry per capability, its purposes joined once each, in the order first needed.
    CapabilityPlan empty = plan_capabilities({ports, spoof, mark, spoof, routing}, 0);
    CHECK(empty.keep == 0);
    REQUIRE(empty.missing.size() == 2);
    CHECK(empty.missing[0] == Missing{kCapNetBindService, "low ports"});
    CHECK(empty.missing[1] == Missing{kCapNetAdmin, "IP_TRANSPARENT; SO_MARK; routing at exit"});

    // CAP_NET_ADMIN held: the alternative is not kept beside it.
    CapabilityPlan admin = plan_capabilities({spoof}, cap_bit(kCapNetAdmin) | cap_bit(kCapNetRaw));
    CHECK(admin.keep == cap_bit(kCapNetAdmin));

    // A capability outside a mask never counts as held.
    CHECK(plan_capabilities({Requirement{64, -1, "x"}}, root).missing.size() == 1);
    CHECK(plan_capabilities({Requirement{-1, -1, "x"}}, root).keep == 0);
}

TEST_CASE("resolve_user: names, numbers, groups, and what does not exist", "[privileges]") {
    std::string why;
    auto root = resolve_user({"root", std::nullopt}, &why);
    INFO(why);
    REQUIRE(root.has_value());
    CHECK(root->name == "root");
    CHECK(root->uid == 0);
    CHECK(root->gid == 0);
    CHECK(std::find(root->groups.begin(), root->groups.end(), gid_t{0}) != root->groups.end());

    auto by_number = resolve_user({"0", std::nullopt}, &why);  // no user named "0": the uid, with its entry
    REQUIRE(by_number.has_value());
    CHECK(by_number->name == "root");

    auto group = resolve_user({"root", "4000000001"}, &why);  // a numeric group without an entry
    REQUIRE(group.has_value());
    CHECK(group->gid == 4000000001u);

    auto bare = resolve_user({"4000000000", "4000000001"}, &why);  // neither has an entry: taken as numbers
    REQUIRE(bare.has_value());
    CHECK(bare->uid == 4000000000u);
    CHECK(bare->gid == 4000000001u);
    CHECK(bare->name == "4000000000");
    CHECK(bare->groups.empty());

    CHECK_FALSE(resolve_user({"no-such-user-ferry", std::nullopt}, &why).has_value());
    CHECK(why == "no such user \"no-such-user-ferry\"");
    CHECK_FALSE(resolve_user({"4000000000", std::nullopt}, &why).has_value());
    CHECK(why == "uid 4000000000 has no passwd entry: give its group too (UID:GID)");
    CHECK_FALSE(resolve_user({"root", "no-such-group-ferry"}, &why).has_value());
    CHECK(why == "no such group \"no-such-group-ferry\"");
    CHECK_FALSE(resolve_user({"4294967295", "0"}, &why).has_value());  // (uid_t)-1 means "unchanged"
    CHECK(why == "no such user \"4294967295\"");
}

TEST_CASE("drop_privileges refuses while another thread exists, before changing anything", "[privileges]") {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread other([&] {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return done; });
    });
    const uid_t uid = ::geteuid();
    DropResult r = drop_privileges(Identity{"nobody", 65534, 65534, {}}, {});
    {
        std::lock_guard<std::mutex> lock(m);
        done = true;
    }
    cv.notify_all();
    other.join();
    CHECK_FALSE(r.ok);
    // 2 here, 3 under ThreadSanitizer (its own background thread): at least ours and the other.
    CHECK_THAT(r.error, Catch::Matches("the process already has [2-9] threads; .*"));
    CHECK(::geteuid() == uid);
}
