#include "backends/server_names.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace ferry::backends {
namespace {

struct Lookup {
    std::string name;
    bool done = false;
    std::optional<SocketAddress> address;  // the first usable address of the answer
    std::string error;                     // gai_strerror's text when there is none
};

// What the helper thread and the caller share; the thread keeps it alive when the caller stops waiting.
struct Lookups {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Lookup> items;
    size_t pending = 0;
};

// getaddrinfo as Rust's ToSocketAddrs calls it for moproxy: any family, SOCK_STREAM, no flags.
void look_up(Lookup& out) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(out.name.c_str(), nullptr, &hints, &res); rc != 0) {
        out.error = rc == EAI_SYSTEM ? std::string("getaddrinfo: system error") : ::gai_strerror(rc);
        return;
    }
    for (addrinfo* p = res; p && !out.address; p = p->ai_next) {
        SocketAddress a = SocketAddress::from_sockaddr(p->ai_addr, p->ai_addrlen).unmapped();
        if (!a.empty() && !a.is_unspecified()) out.address = a;
    }
    ::freeaddrinfo(res);
    if (!out.address) out.error = "no usable address in the answer";
}

}  // namespace

std::optional<std::string> resolve_server_names(std::vector<ServerConfig>& servers, std::string_view file_name,
                                                unsigned timeout_ms) {
    auto shared = std::make_shared<Lookups>();
    for (const ServerConfig& s : servers) {
        if (s.address_host.empty()) continue;
        bool seen = false;
        for (const Lookup& l : shared->items) seen = seen || l.name == s.address_host;
        if (!seen) shared->items.push_back(Lookup{s.address_host, false, std::nullopt, {}});
    }
    if (shared->items.empty()) return std::nullopt;
    shared->pending = shared->items.size();

    // Each lookup works on its own copy of the name and publishes under the lock, so the caller may read the
    // finished ones while later ones are still running.
    std::thread worker([shared] {
        for (size_t i = 0;; ++i) {
            Lookup l;
            {
                std::lock_guard lock(shared->mutex);
                if (i >= shared->items.size()) return;
                l.name = shared->items[i].name;
            }
            look_up(l);
            std::lock_guard lock(shared->mutex);
            l.done = true;
            shared->items[i] = std::move(l);
            --shared->pending;
            shared->changed.notify_all();
        }
    });
    std::vector<Lookup> results;
    {
        std::unique_lock lock(shared->mutex);
        shared->changed.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return shared->pending == 0; });
        results = shared->items;
    }
    if (results.empty() || std::all_of(results.begin(), results.end(), [](const Lookup& l) { return l.done; })) {
        worker.join();
    } else {
        worker.detach();  // blocked in getaddrinfo; it finishes on its own, holding `shared`
    }

    std::vector<ServerConfig> resolved = servers;
    for (ServerConfig& s : resolved) {
        if (s.address_host.empty()) continue;
        const Lookup* l = nullptr;
        for (const Lookup& r : results)
            if (r.name == s.address_host) l = &r;
        std::string why;
        if (!l->done) {
            why = "did not resolve within " + std::to_string(timeout_ms) + " ms";
        } else if (!l->address) {
            why = "does not resolve (" + l->error + ")";
        }
        const std::string where = s.line == 0 ? std::string("command line: ")
                                              : std::string(file_name) + ":" + std::to_string(s.address_line) + ": ";
        if (!why.empty())
            return where + "server " + ini::quoted(s.tag) + ": address " + ini::quoted(written_address(s)) + ": " +
                   s.address_host + " " + why;
        SocketAddress a = *l->address;
        a.set_port(s.address.port());
        s.address = a;
    }
    servers = std::move(resolved);
    return std::nullopt;
}

}  // namespace ferry::backends
