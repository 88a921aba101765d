// routing_probe TABLE [-4|-6]: installs ferry's policy routing for TABLE in the current network namespace,
// prints each change, waits for EOF on stdin (or SIGINT/SIGTERM), removes what it added and prints that.
// Output, one item a line:
//   note: <text>        something found already present or skipped
//   added: <command>    something install() added
//   ready               installation finished; the routing is in place
//   removed: <command>  something remove() took away
//   error: <text>       a failure (the exit status is then non-zero)
// Used by tests/e2e/routing.sh.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "support/routing.h"

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

// Blocks until stdin reaches EOF (or fails), or a stop signal arrives.
void wait_for_eof() {
    char buffer[256];
    while (g_stop == 0) {
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof(buffer));
        if (n == 0) return;
        if (n == -1 && errno != EINTR) return;
    }
}

int usage() {
    std::fprintf(stderr, "usage: routing_probe TABLE [-4|-6]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) return usage();
    char* end = nullptr;
    errno = 0;
    const unsigned long table = std::strtoul(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || table > 0xffffffffUL) return usage();
    ferry::routing::Plan plan;
    plan.table = static_cast<uint32_t>(table);
    if (argc == 3) {
        const std::string family = argv[2];
        if (family == "-4") {
            plan.ipv6 = false;
        } else if (family == "-6") {
            plan.ipv4 = false;
        } else {
            return usage();
        }
    }

    // No SA_RESTART: a signal must interrupt the read on stdin.
    struct sigaction action{};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);

    ferry::routing::PolicyRouting routing;
    std::string error;
    const bool installed = routing.install(plan, &error);
    for (const std::string& note : routing.notes()) std::printf("note: %s\n", note.c_str());
    if (!installed) {
        std::printf("error: %s\n", error.c_str());
        return 1;
    }
    for (const ferry::routing::Change& change : routing.added()) std::printf("added: %s\n", change.text.c_str());
    std::printf("ready\n");
    std::fflush(stdout);

    wait_for_eof();

    std::vector<ferry::routing::Change> removed;
    const std::vector<std::string> failures = routing.remove(&removed);
    for (const ferry::routing::Change& change : removed) {
        std::printf("removed: %s\n", change.undo_text.c_str());
    }
    for (const std::string& failure : failures) std::printf("error: %s\n", failure.c_str());
    std::fflush(stdout);
    return failures.empty() ? 0 : 1;
}
