// ferry: one multi-call binary. `ferry MODE ARGS...`, or a symlink named after the program it replaces.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "modes/modes.h"
#include "support/version.h"

namespace {

struct ModeEntry {
    const char* name;
    const char* aliases[3];  // argv[0] basenames that select this mode
    const char* summary;
    int (*run)(const std::vector<std::string>&, const std::string&);
};

const ModeEntry kModes[] = {
    {"mmproxy", {"mmproxy", "go-mmproxy", nullptr},
     "unwrap PROXY protocol v1/v2 and connect to a local service from the client's own address "
     "(go-mmproxy drop-in)",
     ferry::run_mmproxy},
    {"moproxy", {"moproxy", nullptr, nullptr},
     "transparent TCP (iptables REDIRECT, or SOCKS5) through the best of several SOCKS5 / HTTP CONNECT proxies, "
     "ranked by latency probes (moproxy drop-in)",
     ferry::run_moproxy},
    {"srcproxy", {"srcproxy", nullptr, nullptr},
     "carry the client's source address to a server that connects from it with IP_FREEBIND, client and server "
     "(srcproxy drop-in)",
     ferry::run_srcproxy},
    {"tproxy", {"liproxy", "uproxy", nullptr},
     "intercept connections delivered by iptables/nftables TPROXY and reconnect from the original source to the "
     "original destination (uproxy / liproxy)",
     ferry::run_tproxy},
    {"run", {nullptr, nullptr, nullptr},
     "any inbound, any outbound, any relay, combined by an INI file: `ferry run [--check] FILE` (conf/ferry-run.ini)",
     ferry::run_run},
};

void print_help(FILE* out) {
    std::fprintf(out,
                 "ferry %s: a transparent TCP relay\n\n"
                 "Usage: ferry MODE [ARGS...]    (or through a symlink named after the mode's program)\n\n"
                 "Modes:\n",
                 FERRY_VERSION);
    for (const auto& m : kModes) std::fprintf(out, "  %-10s %s\n", m.name, m.summary);
    std::fprintf(out,
                 "\nOptions:\n"
                 "  -h, --help     this text\n"
                 "  --version      print the version\n\n"
                 "`ferry MODE -h` lists a mode's own flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string_view self = argc > 0 ? argv[0] : "ferry";
    auto slash = self.rfind('/');
    std::string_view base = slash == std::string_view::npos ? self : self.substr(slash + 1);

    for (const auto& m : kModes)
        for (const char* alias : m.aliases)
            if (alias && base == alias) return m.run(std::vector<std::string>(argv + 1, argv + argc), std::string(self));

    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    std::string_view first = argv[1];
    if (first == "-h" || first == "--help" || first == "-help" || first == "help") {
        print_help(stdout);
        return 0;
    }
    if (first == "--version" || first == "-version" || first == "version") {
        std::printf("ferry %s\n", FERRY_VERSION);
        return 0;
    }
    for (const auto& m : kModes)
        if (first == m.name)
            return m.run(std::vector<std::string>(argv + 2, argv + argc), std::string(self) + " " + m.name);
    std::fprintf(stderr, "ferry: unknown mode \"%s\"\n\n", argv[1]);
    print_help(stderr);
    return 2;
}
