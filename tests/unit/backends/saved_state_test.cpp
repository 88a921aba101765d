// moproxy's server table across a zero-downtime restart (backends/saved_state.h): the JSON codec, exact
// round trips (64 bits of close history included), refusals with a reason, and the history bound.
#include <catch2/catch.hpp>

#include <string>

#include "backends/saved_state.h"

using ferry::backends::CloseHistory;
using ferry::backends::SavedServer;

TEST_CASE("saved servers: a round trip keeps every field", "[saved_state]") {
    SavedServer up;
    up.tag = "fast";
    up.protocol = "SOCKSv5";
    up.address = "127.0.0.1:1081";
    up.score.score = 123;
    up.score.up = true;
    up.score.last_delay_ms = 23;
    up.score.closes = CloseHistory(0xFFFFFFFFFFFFFFFFull, 64);
    up.history = {20, std::nullopt, 25};
    up.last_delay = 25;
    up.conn_total = 5;
    up.conn_error = 1;
    up.tx_bytes = 1ull << 40;
    up.rx_bytes = 15000;
    SavedServer down;
    down.tag = "quote\"and\\slash";
    down.protocol = "HTTP";
    down.address = "[::1]:3128";
    down.score.up = false;
    down.score.score_before_down = 4000;
    std::string error;
    auto back = ferry::backends::parse_saved_servers(ferry::backends::encode_saved_servers({up, down}), 60, &error);
    INFO(error);
    REQUIRE(back);
    REQUIRE(back->size() == 2);
    const SavedServer& a = (*back)[0];
    CHECK(a.tag == up.tag);
    CHECK(a.score == up.score);
    CHECK(a.score.closes.bits() == 0xFFFFFFFFFFFFFFFFull);
    CHECK(a.history == up.history);
    CHECK(a.last_delay == up.last_delay);
    CHECK(a.conn_total == 5);
    CHECK(a.conn_error == 1);
    CHECK(a.tx_bytes == (1ull << 40));
    CHECK(a.rx_bytes == 15000);
    const SavedServer& b = (*back)[1];
    CHECK(b.tag == down.tag);
    CHECK(b.score == down.score);
    CHECK_FALSE(b.last_delay);
}

TEST_CASE("saved servers: the history keeps its newest entries", "[saved_state]") {
    SavedServer s;
    s.address = "127.0.0.1:1";
    for (int i = 0; i < 10; ++i) s.history.emplace_back(i);
    std::string error;
    auto back = ferry::backends::parse_saved_servers(ferry::backends::encode_saved_servers({s}), 4, &error);
    REQUIRE(back);
    CHECK((*back)[0].history == std::vector<std::optional<int64_t>>{6, 7, 8, 9});
}

TEST_CASE("saved servers: anything else is refused with a reason", "[saved_state]") {
    std::string error;
    CHECK_FALSE(ferry::backends::parse_saved_servers("", 60, &error));
    CHECK(error == "not a saved server table");
    CHECK_FALSE(ferry::backends::parse_saved_servers(R"({"servers":[{"address":"x"}]})", 60, &error));
    CHECK(error == "server 0: a field is missing or out of range");
    const std::string fields = R"("address":"127.0.0.1:1","up":true,"score":null,"last_delay_ms":null,)"
                               R"("score_before_down":null,"delay":null,"conn_total":1,"conn_error":0,)"
                               R"("tx_bytes":0,"rx_bytes":0,"history":[])";
    CHECK(ferry::backends::parse_saved_servers(R"({"servers":[{)" + fields + R"(,"closes":["1",3]}]})", 60, &error));
    CHECK_FALSE(ferry::backends::parse_saved_servers(R"({"servers":[{)" + fields + R"(,"closes":[1,3]}]})", 60,
                                                     &error));
    CHECK(error == "server 0: closes is not [\"bits\", count]");
    CHECK_FALSE(ferry::backends::parse_saved_servers(R"({"servers":[{)" + fields + R"(,"closes":["1",65]}]})", 60,
                                                     &error));
    CHECK_FALSE(ferry::backends::parse_saved_servers(
        R"({"servers":[{)" + fields + R"(,"closes":["18446744073709551616",3]}]})", 60, &error));
    CHECK(error == "server 0: closes bits are not a 64-bit number");
    CHECK_FALSE(ferry::backends::parse_saved_servers(
        R"({"servers":[{"address":"127.0.0.1:1","up":true,"conn_total":-1}]})", 60, &error));
}
