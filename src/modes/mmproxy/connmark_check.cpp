#include "modes/mmproxy/connmark_check.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/fd.h"

extern char** environ;

namespace ferry::mmproxy {
namespace {

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    size_t at = 0;
    while (at < line.size()) {
        const size_t start = line.find_first_not_of(" \t;{}", at);
        if (start == std::string_view::npos) break;
        const size_t end = std::min(line.find_first_of(" \t;{}", start), line.size());
        out.push_back(line.substr(start, end - start));
        at = end;
    }
    return out;
}

// A decimal or 0x number, as nft prints marks.
bool number_is(std::string_view word, uint32_t value) {
    if (word.empty()) return false;
    const std::string text(word);
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), &end, 0);
    return errno == 0 && end == text.c_str() + text.size() && v == value;
}

// Whether the rule's words match `SUBJECT mark VALUE` ("meta mark 0x7b", "ct mark 123"): the selector, not a
// `... set` statement.
bool selects(const std::vector<std::string_view>& w, std::string_view subject, uint32_t value) {
    for (size_t i = 0; i + 2 < w.size(); ++i) {
        if (w[i] == subject && w[i + 1] == "mark" && number_is(w[i + 2], value)) return true;
    }
    return false;
}

// Whether the words contain the statement `A B set C...` (e.g. "ct mark set meta mark").
bool has_sequence(const std::vector<std::string_view>& w, const std::vector<std::string_view>& seq) {
    for (size_t i = 0; i + seq.size() <= w.size(); ++i) {
        bool all = true;
        for (size_t j = 0; j < seq.size() && all; ++j) all = w[i + j] == seq[j];
        if (all) return true;
    }
    return false;
}

bool sets_mark_zero(const std::vector<std::string_view>& w) {
    for (size_t i = 0; i + 3 < w.size(); ++i) {
        if (w[i] == "meta" && w[i + 1] == "mark" && w[i + 2] == "set" && number_is(w[i + 3], 0)) return true;
    }
    return false;
}

// Runs argv (found in PATH) with stdin and stderr on /dev/null and its stdout read into *out (discarded when
// out is null); the exit status, or -1 when it could not run or did not exit.
int run(const std::vector<std::string>& argv, std::string* out = nullptr) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fds[2] = {-1, -1};
    if (out && ::pipe2(fds, O_CLOEXEC) == -1) return -1;
    Fd read_end(fds[0]);
    Fd write_end(fds[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (out)
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    else
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    write_end = Fd();  // our copy: EOF once the child is done
    if (rc != 0) return -1;
    // Read before waiting: a child blocked on a full pipe would never exit.
    char buf[4096];
    while (out) {
        const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n > 0)
            out->append(buf, static_cast<size_t>(n));
        else if (n == 0 || errno != EINTR)
            break;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::vector<std::string> iptables_commands(bool v6, uint32_t mark) {
    const std::string tool = v6 ? "ip6tables" : "iptables";
    const std::string m = std::to_string(mark);
    return {tool + " -t mangle -A OUTPUT -m mark --mark " + m + " -j CONNMARK --save-mark",
            tool + " -t mangle -A OUTPUT -m mark --mark " + m + " -j MARK --set-mark 0",
            tool + " -t mangle -A PREROUTING -m connmark --mark " + m + " -j CONNMARK --restore-mark"};
}

std::vector<std::string> nftables_commands(uint32_t mark) {
    const std::string m = std::to_string(mark);
    return {"nft add table inet ferry_mmproxy",
            "nft 'add chain inet ferry_mmproxy output { type route hook output priority mangle; }'",
            "nft add rule inet ferry_mmproxy output meta mark " + m + " ct mark set meta mark",
            "nft add rule inet ferry_mmproxy output meta mark " + m + " meta mark set 0",
            "nft 'add chain inet ferry_mmproxy prerouting { type filter hook prerouting priority mangle; }'",
            "nft add rule inet ferry_mmproxy prerouting ct mark " + m + " meta mark set ct mark"};
}

Families nft_connmark_families(std::string_view ruleset, uint32_t mark) {
    struct Found {
        bool save = false, clear = false, restore = false;
        bool all() const { return save && clear && restore; }
    };
    Found v4, v6;
    std::string_view family;  // of the current table: "ip", "ip6", "inet", ...
    std::string_view hook;    // of the current chain
    size_t at = 0;
    while (at <= ruleset.size()) {
        const size_t end = std::min(ruleset.find('\n', at), ruleset.size());
        const std::vector<std::string_view> w = words(ruleset.substr(at, end - at));
        at = end + 1;
        if (w.empty()) continue;
        if (w[0] == "table" && w.size() >= 3) {
            family = w[1];
            hook = {};
            continue;
        }
        if (w[0] == "chain") {
            hook = {};
            continue;
        }
        if (w[0] == "type") {
            for (size_t i = 0; i + 1 < w.size(); ++i)
                if (w[i] == "hook") hook = w[i + 1];
            continue;
        }
        Found f;
        if (hook == "output" && selects(w, "meta", mark)) {
            f.save = has_sequence(w, {"ct", "mark", "set", "meta", "mark"}) ||
                     has_sequence(w, {"ct", "mark", "set", "mark"});
            f.clear = sets_mark_zero(w);
        }
        if (hook == "prerouting" && selects(w, "ct", mark))
            f.restore = has_sequence(w, {"meta", "mark", "set", "ct", "mark"});
        for (Found* target : {&v4, &v6}) {
            const bool fits = family == "inet" || (target == &v4 ? family == "ip" : family == "ip6");
            if (!fits) continue;
            target->save = target->save || f.save;
            target->clear = target->clear || f.clear;
            target->restore = target->restore || f.restore;
        }
    }
    return Families{v4.all(), v6.all()};
}

Families find_connmark_rules(uint32_t mark, Families wanted) {
    std::string ruleset;
    if (run({"nft", "list", "ruleset"}, &ruleset) != 0) ruleset.clear();
    Families found = nft_connmark_families(ruleset, mark);
    for (bool v6 : {false, true}) {
        bool& have = v6 ? found.v6 : found.v4;
        if (have || !(v6 ? wanted.v6 : wanted.v4)) continue;
        bool all = true;
        for (const std::string& command : iptables_commands(v6, mark)) {
            // "iptables -t mangle -A CHAIN ..." -> "iptables -t mangle -C CHAIN ..."
            std::vector<std::string> argv;
            for (std::string_view rest = command; !rest.empty();) {
                const size_t space = rest.find(' ');
                argv.emplace_back(rest.substr(0, space));
                rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
            }
            for (auto& a : argv)
                if (a == "-A") a = "-C";
            all = all && run(argv) == 0;
        }
        have = all;
    }
    return found;
}

}  // namespace ferry::mmproxy
