// Dropping root after the listeners are bound (`-user NAME` and its config keys): switch to an unprivileged
// user and keep, through libcap, only the capabilities the mode still needs for the connections it will open.
//
// Three steps, in this order:
//   parse_user_spec()   pure: "NAME", "NAME:GROUP", "UID", "UID:GID" -> UserSpec (at option parsing)
//   resolve_user()      reads the user and group databases -> Identity (before anything is bound, so a typo
//                       fails the start early)
//   drop_privileges()   on the main thread, after binding and before any other thread exists: the switch and
//                       the capability sets, verified afterwards
// plan_capabilities() is the pure part of the last step: which capabilities to keep, which are missing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::privileges {

// Capability numbers as the kernel has them (linux/capability.h), so this header needs no libcap.
inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapNetRaw = 13;

// A set of capabilities by number: bit N is capability N (the kernel has fewer than 64).
using CapabilityMask = uint64_t;
constexpr CapabilityMask cap_bit(int capability) { return CapabilityMask{1} << capability; }

// The names of the capabilities in `mask`, lowest number first, comma-separated ("cap_net_admin,cap_net_raw");
// "none" for an empty mask.
std::string capability_names(CapabilityMask mask);
// "cap_net_admin" for kCapNetAdmin; "cap_N" for a number without a name here.
std::string capability_name(int capability);

// What `-user` names, as written. Either part is a name or a decimal id.
struct UserSpec {
    std::string user;                  // never empty
    std::optional<std::string> group;  // after ':'; none: the user's primary group
    bool operator==(const UserSpec&) const = default;
};

// "NAME", "NAME:GROUP", "UID", "UID:GID". Returns nullopt and sets *why ("no group after ':'") for an empty
// text or part, more than one ':', or a blank or control character.
std::optional<UserSpec> parse_user_spec(std::string_view text, std::string* why);

// Who the process becomes.
struct Identity {
    std::string name;  // for the log: the user's name, or the uid when it has no passwd entry
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups: the user's (from the group database), or none
};

// Looks the user (a name first, then a number) and the group up. A user without a passwd entry is taken as a
// number only with an explicit group ("UID:GID"). Returns nullopt and sets *why ("no such user \"x\"").
std::optional<Identity> resolve_user(const UserSpec& spec, std::string* why);

// One thing the process must still be able to do after the drop.
struct Requirement {
    int capability = -1;   // what it takes (kCapNetAdmin, ...)
    int alternative = -1;  // what the kernel also accepts for it, kept when `capability` is not held; -1: none
    std::string purpose;   // for the log: "IP_TRANSPARENT (connecting from the clients' addresses)"
    bool operator==(const Requirement&) const = default;
};

// A capability a requirement takes that the process does not have, with every purpose it serves.
struct Missing {
    int capability = -1;
    std::string purposes;  // "; "-separated, in the order of the requirements
    bool operator==(const Missing&) const = default;
};

struct CapabilityPlan {
    CapabilityMask keep = 0;       // permitted and effective after the drop
    std::vector<Missing> missing;  // one per capability, in the order first needed
};

// Pure: for each requirement, its capability when `held` has it, else its alternative when held, else a
// missing entry. Only capabilities in `held` (the permitted set at start) are ever kept.
CapabilityPlan plan_capabilities(const std::vector<Requirement>& requirements, CapabilityMask held);

// The permitted set of the calling thread (cap_get_proc).
CapabilityMask permitted_capabilities();

struct DropResult {
    bool ok = false;
    std::string error;           // !ok: what failed ("setresuid(65534): Operation not permitted")
    CapabilityMask kept = 0;     // ok: permitted = effective
    std::vector<Missing> missing;
    bool bounding_cleared = false;  // whether the bounding set was reduced to `kept` (needs CAP_SETPCAP)
};

// Becomes `who` and keeps exactly plan_capabilities(requirements, permitted) in the permitted and effective
// sets; inheritable and ambient end empty, the bounding set is cut to the same capabilities when the process
// may (CAP_SETPCAP), no_new_privs is set (ferry never executes anything). The switch is skipped when the process
// already is `who` (started as that user with file capabilities). Must run while the calling thread is the
// only one: capabilities are per thread, and a thread started before would keep root's. Checks the result
// (ids, the four capability sets) and fails when it is not what was asked. On failure the process may be half
// switched: the caller must exit.
DropResult drop_privileges(const Identity& who, const std::vector<Requirement>& requirements);

// What a front end hands to the service: whom to become, and what for.
struct DropTarget {
    Identity identity;
    std::vector<Requirement> requirements;
};

// drop_privileges() with its log lines in the mode's format (support/log.h): a warning per missing capability
// ("capability missing", with what it is needed for), then "dropped privileges" (user, uid, gid, the kept
// capabilities) or "failed to drop privileges" with the error. Returns whether the drop succeeded.
bool drop_and_log(const DropTarget& target);

}  // namespace ferry::privileges
