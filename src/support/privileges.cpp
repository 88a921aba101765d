#include "support/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "support/log.h"
#include "support/text.h"

namespace ferry::privileges {
namespace {

// The highest capability number a mask can hold; the kernel has 41 (CAP_CHECKPOINT_RESTORE = 40) today.
constexpr int kMaxCapability = 63;

// The kernel's capability names by number, as libcap's cap_to_name() spells them (kept here so that naming a
// set needs no libcap call and can be tested).
constexpr const char* kNames[] = {
    "cap_chown",           "cap_dac_override",   "cap_dac_read_search", "cap_fowner",
    "cap_fsetid",          "cap_kill",           "cap_setgid",          "cap_setuid",
    "cap_setpcap",         "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast",
    "cap_net_admin",       "cap_net_raw",        "cap_ipc_lock",        "cap_ipc_owner",
    "cap_sys_module",      "cap_sys_rawio",      "cap_sys_chroot",      "cap_sys_ptrace",
    "cap_sys_pacct",       "cap_sys_admin",      "cap_sys_boot",        "cap_sys_nice",
    "cap_sys_resource",    "cap_sys_time",       "cap_sys_tty_config",  "cap_mknod",
    "cap_lease",           "cap_audit_write",    "cap_audit_control",   "cap_setfcap",
    "cap_mac_override",    "cap_mac_admin",      "cap_syslog",          "cap_wake_alarm",
    "cap_block_suspend",   "cap_audit_read",     "cap_perfmon",         "cap_bpf",
    "cap_checkpoint_restore",
};

// strerror in lower case, as the rest of ferry's messages print an errno.
std::string errno_text(int err) {
    std::string s = std::strerror(err);
    if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
    return s;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal id below (id_t)-1, which the set*id calls take as "unchanged".
std::optional<uint32_t> parse_id(std::string_view s) {
    if (!all_digits(s) || s.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v >= 0xFFFFFFFFu) return std::nullopt;
    return static_cast<uint32_t>(v);
}

// getpwnam_r / getpwuid_r / getgrnam_r with a buffer that grows on ERANGE. Returns 0 and sets *found, or the
// errno of a failed lookup.
template <typename Entry, typename Lookup>
int lookup(Lookup fn, Entry* entry, std::vector<char>& buf, bool* found) {
    buf.resize(1024);
    for (;;) {
        Entry* result = nullptr;
        int rc = fn(entry, buf.data(), buf.size(), &result);
        if (rc == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        *found = rc == 0 && result != nullptr;
        // "Not found" is 0 or one of the errnos the manual pages list for it.
        if (rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) rc = 0;
        return rc;
    }
}

std::optional<gid_t> resolve_group(const std::string& name, std::string* why) {
    group entry{};
    std::vector<char> buf;
    bool found = false;
    auto by_name = [&](group* g, char* b, size_t n, group** r) {
        return ::getgrnam_r(name.c_str(), g, b, n, r);
    };
    if (int rc = lookup(by_name, &entry, buf, &found)) {
        *why = "looking up group " + quoted(name) + ": " + errno_text(rc);
        return std::nullopt;
    }
    if (found) return entry.gr_gid;
    if (auto id = parse_id(name)) return static_cast<gid_t>(*id);
    *why = "no such group " + quoted(name);
    return std::nullopt;
}

// The supplementary groups of user `name` with primary group `gid` (getgrouplist, as initgroups sets them).
std::vector<gid_t> groups_of(const std::string& name, gid_t gid) {
    int n = 32;
    std::vector<gid_t> groups;
    for (int tries = 0; tries < 8; ++tries) {
        groups.resize(static_cast<size_t>(n));
        int got = n;
        if (::getgrouplist(name.c_str(), gid, groups.data(), &got) != -1) {
            groups.resize(static_cast<size_t>(got));
            return groups;
        }
        n = std::max(got, n * 2);
    }
    return {gid};
}

CapabilityMask mask_of(cap_t caps, cap_flag_t flag) {
    CapabilityMask mask = 0;
    const int max = std::min<int>(static_cast<int>(cap_max_bits()) - 1, kMaxCapability);
    for (int c = 0; c <= max; ++c) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(caps, static_cast<cap_value_t>(c), flag, &v) == 0 && v == CAP_SET) mask |= cap_bit(c);
    }
    return mask;
}

int last_capability() { return std::min<int>(static_cast<int>(cap_max_bits()) - 1, kMaxCapability); }

// The number of threads of this process (/proc/self/status), or -1 when it cannot be read.
int thread_count() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
    }
    return -1;
}

std::string sys_error(const std::string& what) { return what + ": " + errno_text(errno); }

// The ids and capability sets after the drop, compared with what was asked; "" when they match.
std::string verify(const Identity& who, CapabilityMask keep, bool bounding) {
    uid_t ru = 0, eu = 0, su = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&ru, &eu, &su) == -1 || ::getresgid(&rg, &eg, &sg) == -1) return sys_error("getresuid");
    if (ru != who.uid || eu != who.uid || su != who.uid || rg != who.gid || eg != who.gid || sg != who.gid) {
        return "the ids are uid " + std::to_string(ru) + "/" + std::to_string(eu) + "/" + std::to_string(su) +
               " gid " + std::to_string(rg) + "/" + std::to_string(eg) + "/" + std::to_string(sg) +
               ", not uid " + std::to_string(who.uid) + " gid " + std::to_string(who.gid);
    }
    cap_t now = cap_get_proc();
    if (now == nullptr) return sys_error("cap_get_proc");
    const CapabilityMask permitted = mask_of(now, CAP_PERMITTED);
    const CapabilityMask effective = mask_of(now, CAP_EFFECTIVE);
    const CapabilityMask inheritable = mask_of(now, CAP_INHERITABLE);
    cap_free(now);
    auto differs = [&](const char* set, CapabilityMask got, CapabilityMask want) {
        return "the " + std::string(set) + " capabilities are " + capability_names(got) + ", not " +
               capability_names(want);
    };
    if (permitted != keep) return differs("permitted", permitted, keep);
    if (effective != keep) return differs("effective", effective, keep);
    if (inheritable != 0) return differs("inheritable", inheritable, 0);
    CapabilityMask ambient = 0, bound = 0;
    for (int c = 0; c <= last_capability(); ++c) {
        if (cap_get_ambient(static_cast<cap_value_t>(c)) == 1) ambient |= cap_bit(c);
        if (cap_get_bound(static_cast<cap_value_t>(c)) == 1) bound |= cap_bit(c);
    }
    if (ambient != 0) return differs("ambient", ambient, 0);
    if (bounding && bound != keep) return differs("bounding", bound, keep);
    if (::prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0) return "PR_SET_KEEPCAPS is still set";
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return "PR_SET_NO_NEW_PRIVS is not set";
    return {};
}

}  // namespace

std::string capability_name(int capability) {
    if (capability >= 0 && static_cast<size_t>(capability) < std::size(kNames)) return kNames[capability];
    return "cap_" + std::to_string(capability);
}

std::string capability_names(CapabilityMask mask) {
    std::string out;
    for (int c = 0; c <= kMaxCapability; ++c) {
        if (!(mask & cap_bit(c))) continue;
        if (!out.empty()) out += ',';
        out += capability_name(c);
    }
    return out.empty() ? "none" : out;
}

std::optional<UserSpec> parse_user_spec(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<UserSpec> {
        *why = std::move(reason);
        return std::nullopt;
    };
    if (text.empty()) return fail("an empty user");
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) return fail("a blank or a control character");
    }
    const size_t colon = text.find(':');
    UserSpec spec;
    spec.user = std::string(text.substr(0, colon));
    if (spec.user.empty()) return fail("no user before ':'");
    if (colon != std::string_view::npos) {
        std::string_view group = text.substr(colon + 1);
        if (group.empty()) return fail("no group after ':'");
        if (group.find(':') != std::string_view::npos) return fail("more than one ':'");
        spec.group = std::string(group);
    }
    return spec;
}

std::optional<Identity> resolve_user(const UserSpec& spec, std::string* why) {
    Identity id;
    passwd entry{};
    std::vector<char> buf;
    bool found = false;
    auto by_name = [&](passwd* p, char* b, size_t n, passwd** r) {
        return ::getpwnam_r(spec.user.c_str(), p, b, n, r);
    };
    if (int rc = lookup(by_name, &entry, buf, &found)) {
        *why = "looking up user " + quoted(spec.user) + ": " + errno_text(rc);
        return std::nullopt;
    }
    if (!found) {
        const std::optional<uint32_t> uid = parse_id(spec.user);
        if (!uid) {
            *why = "no such user " + quoted(spec.user);
            return std::nullopt;
        }
        auto by_uid = [&](passwd* p, char* b, size_t n, passwd** r) { return ::getpwuid_r(*uid, p, b, n, r); };
        if (int rc = lookup(by_uid, &entry, buf, &found)) {
            *why = "looking up uid " + spec.user + ": " + errno_text(rc);
            return std::nullopt;
        }
        if (!found) {
            if (!spec.group) {
                *why = "uid " + spec.user + " has no passwd entry: give its group too (UID:GID)";
                return std::nullopt;
            }
            id.name = spec.user;
            id.uid = static_cast<uid_t>(*uid);
        }
    }
    const bool has_entry = found;
    if (has_entry) {
        id.name = entry.pw_name;
        id.uid = entry.pw_uid;
        id.gid = entry.pw_gid;
    }
    if (spec.group) {
        auto gid = resolve_group(*spec.group, why);
        if (!gid) return std::nullopt;
        id.gid = *gid;
    }
    if (has_entry) id.groups = groups_of(id.name, id.gid);
    return id;
}

CapabilityPlan plan_capabilities(const std::vector<Requirement>& requirements, CapabilityMask held) {
    CapabilityPlan plan;
    auto has = [&](int c) { return c >= 0 && c <= kMaxCapability && (held & cap_bit(c)) != 0; };
    for (const Requirement& r : requirements) {
        if (has(r.capability)) {
            plan.keep |= cap_bit(r.capability);
        } else if (has(r.alternative)) {
            plan.keep |= cap_bit(r.alternative);
        } else {
            auto it = std::find_if(plan.missing.begin(), plan.missing.end(),
                                   [&](const Missing& m) { return m.capability == r.capability; });
            if (it == plan.missing.end()) {
                plan.missing.push_back({r.capability, r.purpose});
            } else if (it->purposes.find(r.purpose) == std::string::npos) {
                it->purposes += "; " + r.purpose;
            }
        }
    }
    return plan;
}

CapabilityMask permitted_capabilities() {
    cap_t caps = cap_get_proc();
    if (caps == nullptr) return 0;
    const CapabilityMask mask = mask_of(caps, CAP_PERMITTED);
    cap_free(caps);
    return mask;
}

DropResult drop_privileges(const Identity& who, const std::vector<Requirement>& requirements) {
    DropResult r;
    auto fail = [&](std::string error) {
        r.ok = false;
        r.error = std::move(error);
        return r;
    };
    if (const int threads = thread_count(); threads != 1) {
        return fail(threads < 0 ? "cannot count the threads (/proc/self/status)"
                                : "the process already has " + std::to_string(threads) +
                                      " threads; capabilities must be dropped while it has one");
    }
    cap_t start = cap_get_proc();
    if (start == nullptr) return fail(sys_error("cap_get_proc"));
    const CapabilityMask held = mask_of(start, CAP_PERMITTED);
    const CapabilityMask effective = mask_of(start, CAP_EFFECTIVE);
    cap_free(start);
    const CapabilityPlan plan = plan_capabilities(requirements, held);
    r.kept = plan.keep;
    r.missing = plan.missing;

    uid_t ru = 0, eu = 0, su = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&ru, &eu, &su) == -1 || ::getresgid(&rg, &eg, &sg) == -1) return fail(sys_error("getresuid"));
    const bool switching = !(ru == who.uid && eu == who.uid && su == who.uid && rg == who.gid && eg == who.gid &&
                             sg == who.gid);
    if (switching && (!(effective & cap_bit(CAP_SETUID)) || !(effective & cap_bit(CAP_SETGID)))) {
        return fail("switching from uid " + std::to_string(eu) + " to user " + who.name + " (uid " +
                    std::to_string(who.uid) + ") needs CAP_SETUID and CAP_SETGID: start as root, or as that user");
    }

    // The bounding set first, while CAP_SETPCAP is still effective (it is not after the switch).
    if (effective & cap_bit(CAP_SETPCAP)) {
        for (int c = 0; c <= last_capability(); ++c) {
            if (plan.keep & cap_bit(c)) continue;
            if (cap_get_bound(static_cast<cap_value_t>(c)) == 1 && cap_drop_bound(static_cast<cap_value_t>(c)) != 0)
                return fail(sys_error("cap_drop_bound(" + capability_name(c) + ")"));
        }
        r.bounding_cleared = true;
    }
    if (switching) {
        // Without KEEPCAPS, setresuid away from 0 would empty the permitted set.
        if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) return fail(sys_error("prctl(PR_SET_KEEPCAPS, 1)"));
        if (::setgroups(who.groups.size(), who.groups.empty() ? nullptr : who.groups.data()) == -1)
            return fail(sys_error("setgroups"));
        if (::setresgid(who.gid, who.gid, who.gid) == -1)
            return fail(sys_error("setresgid(" + std::to_string(who.gid) + ")"));
        if (::setresuid(who.uid, who.uid, who.uid) == -1)
            return fail(sys_error("setresuid(" + std::to_string(who.uid) + ")"));
    }
    cap_t next = cap_init();  // every set empty
    if (next == nullptr) return fail(sys_error("cap_init"));
    std::vector<cap_value_t> keep;
    for (int c = 0; c <= kMaxCapability; ++c)
        if (plan.keep & cap_bit(c)) keep.push_back(static_cast<cap_value_t>(c));
    const int n = static_cast<int>(keep.size());
    const bool set = n == 0 || (cap_set_flag(next, CAP_PERMITTED, n, keep.data(), CAP_SET) == 0 &&
                                cap_set_flag(next, CAP_EFFECTIVE, n, keep.data(), CAP_SET) == 0);
    const bool applied = set && cap_set_proc(next) == 0;
    const int saved = errno;
    cap_free(next);
    if (!applied) {
        errno = saved;
        return fail(sys_error("cap_set_proc(" + capability_names(plan.keep) + ")"));
    }
    // The ambient set: empty after a switch away from root already; a process started as the user (systemd's
    // AmbientCapabilities=) may carry one. Kernels without ambient capabilities (before 4.3) refuse with EINVAL.
    if (cap_reset_ambient() != 0 && errno != EINVAL) return fail(sys_error("cap_reset_ambient"));
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1) return fail(sys_error("prctl(PR_SET_KEEPCAPS, 0)"));
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) return fail(sys_error("prctl(PR_SET_NO_NEW_PRIVS, 1)"));
    if (std::string wrong = verify(who, plan.keep, r.bounding_cleared); !wrong.empty())
        return fail("after the drop " + wrong);
    r.ok = true;
    return r;
}

bool drop_and_log(const DropTarget& target) {
    const DropResult r = drop_privileges(target.identity, target.requirements);
    for (const Missing& m : r.missing) {
        FERRY_LOG(Warn, "capability missing")
            .str("capability", capability_name(m.capability))
            .str("neededFor", m.purposes);
    }
    if (!r.ok) {
        FERRY_LOG(Fatal, "failed to drop privileges").str("user", target.identity.name).str("error", r.error);
        return false;
    }
    FERRY_LOG(Info, "dropped privileges")
        .str("user", target.identity.name)
        .num("uid", static_cast<int64_t>(target.identity.uid))
        .num("gid", static_cast<int64_t>(target.identity.gid))
        .str("capabilities", capability_names(r.kept));
    return true;
}

}  // namespace ferry::privileges
