#include "backends/server_names.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace ferry::backends;
using Catch::Matchers::StartsWith;

namespace {

std::vector<ServerConfig> servers_of(const std::string& text) {
    ServerListResult r = parse_server_list(text, "servers.ini");
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.servers;
}

}  // namespace

TEST_CASE("resolve_server_names: literals untouched, names get an address with their port", "[server_names]") {
    auto servers = servers_of(
        "[lit]\naddress = 192.0.2.1:1080\nprotocol = socks5\n"
        "[name]\naddress = localhost:3128\nprotocol = http\n"
        "[same]\naddress = localhost:1081\nprotocol = socks5\n");
    CHECK_FALSE(resolve_server_names(servers, "servers.ini", kStartResolveTimeoutMs));
    CHECK(servers[0].address.to_string() == "192.0.2.1:1080");
    for (size_t i : {1, 2}) {
        INFO(servers[i].tag);
        CHECK(servers[i].address.is_loopback());  // /etc/hosts: 127.0.0.1 or ::1, whichever comes first
        CHECK(servers[i].address_host == "localhost");  // kept for the status page
    }
    CHECK(servers[1].address.port() == 3128);
    CHECK(servers[2].address.port() == 1081);
    CHECK(written_address(servers[1]) == "localhost:3128");
}

TEST_CASE("resolve_server_names: a name that does not resolve names the file, line, server and name",
          "[server_names]") {
    // RFC 6761: .invalid never resolves (an answer, or no resolver at all within the time: a failure either way).
    auto servers = servers_of("[ok]\naddress = localhost:1\nprotocol = socks5\n"
                              "[bad]\nprotocol = socks5\naddress = nowhere.invalid:1080\n");
    const auto before = servers;
    auto error = resolve_server_names(servers, "servers.ini", 2000);
    REQUIRE(error);
    CHECK_THAT(*error, StartsWith("servers.ini:6: server \"bad\": address \"nowhere.invalid:1080\": nowhere.invalid "));
    CHECK((error->find("does not resolve (") != std::string::npos ||
           error->find("did not resolve within 2000 ms") != std::string::npos));
    // Nothing changed, the resolved localhost included.
    CHECK(servers[0].address == before[0].address);
    CHECK(servers[0].address.is_unspecified());
}

TEST_CASE("resolve_server_names: nothing to do without names", "[server_names]") {
    auto servers = servers_of("[a]\naddress = 192.0.2.1:1\nprotocol = socks5\n");
    CHECK_FALSE(resolve_server_names(servers, "servers.ini", 1));
    std::vector<ServerConfig> none;
    CHECK_FALSE(resolve_server_names(none, "servers.ini", 1));
}
