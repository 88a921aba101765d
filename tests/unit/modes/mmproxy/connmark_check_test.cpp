// The CONNMARK check's pure half: the commands ferry prints, and which families a `nft list ruleset` output
// (native rules, and iptables-nft's as nft shows them) brings replies back for.
#include "modes/mmproxy/connmark_check.h"

#include <catch2/catch.hpp>

using namespace ferry::mmproxy;

namespace {

// What nft 1.0.6 printed after running nftables_commands(123) (Debian 12).
const char kNative[] =
    "table inet ferry_mmproxy {\n"
    "\tchain output {\n"
    "\t\ttype route hook output priority mangle; policy accept;\n"
    "\t\tmeta mark 0x0000007b ct mark set meta mark\n"
    "\t\tmeta mark 0x0000007b meta mark set 0x00000000\n"
    "\t}\n"
    "\n"
    "\tchain prerouting {\n"
    "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
    "\t\tct mark 0x0000007b meta mark set ct mark\n"
    "\t}\n"
    "}\n";

// What it printed after iptables_commands(false, 123) with iptables 1.8.9 (nf_tables).
const char kIptablesNft[] =
    "table ip mangle {\n"
    "\tchain OUTPUT {\n"
    "\t\ttype route hook output priority mangle; policy accept;\n"
    "\t\tmeta mark 0x0000007b counter packets 0 bytes 0 ct mark set mark\n"
    "\t\tmeta mark 0x0000007b counter packets 0 bytes 0 meta mark set 0x0\n"
    "\t}\n"
    "\n"
    "\tchain PREROUTING {\n"
    "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
    "\t\tct mark 0x7b counter packets 0 bytes 0 meta mark set ct mark\n"
    "\t}\n"
    "}\n";

}  // namespace

TEST_CASE("connmark: the printed commands", "[connmark]") {
    CHECK(iptables_commands(false, 123) ==
          std::vector<std::string>{"iptables -t mangle -A OUTPUT -m mark --mark 123 -j CONNMARK --save-mark",
                                   "iptables -t mangle -A OUTPUT -m mark --mark 123 -j MARK --set-mark 0",
                                   "iptables -t mangle -A PREROUTING -m connmark --mark 123 -j CONNMARK "
                                   "--restore-mark"});
    CHECK(iptables_commands(true, 7)[0] == "ip6tables -t mangle -A OUTPUT -m mark --mark 7 -j CONNMARK --save-mark");
    const auto nft = nftables_commands(123);
    REQUIRE(nft.size() == 6);
    CHECK(nft[0] == "nft add table inet ferry_mmproxy");
    CHECK(nft[2] == "nft add rule inet ferry_mmproxy output meta mark 123 ct mark set meta mark");
    CHECK(nft[5] == "nft add rule inet ferry_mmproxy prerouting ct mark 123 meta mark set ct mark");
}

TEST_CASE("connmark: an inet table serves both families, ip only IPv4", "[connmark]") {
    CHECK(nft_connmark_families(kNative, 123) == Families{true, true});
    CHECK(nft_connmark_families(kIptablesNft, 123) == Families{true, false});
    CHECK(nft_connmark_families(kNative, 124) == Families{});
    CHECK(nft_connmark_families("", 123) == Families{});
    std::string ip6 = kIptablesNft;
    ip6.replace(ip6.find("table ip "), 9, "table ip6 ");
    CHECK(nft_connmark_families(ip6, 123) == Families{false, true});
}

TEST_CASE("connmark: every one of the three rules is needed, each in its hook", "[connmark]") {
    std::string text = kNative;
    SECTION("no restore in prerouting") {
        text.erase(text.find("\t\tct mark 0x0000007b meta mark set ct mark\n"), 43);
    }
    SECTION("no clearing of the mark") {
        text.erase(text.find("\t\tmeta mark 0x0000007b meta mark set 0x00000000\n"), 48);
    }
    SECTION("no save") {
        text.erase(text.find("\t\tmeta mark 0x0000007b ct mark set meta mark\n"), 45);
    }
    SECTION("the restore in an output chain") {
        text.replace(text.find("hook prerouting"), 15, "hook output");
    }
    SECTION("the save in a prerouting chain") {
        text.replace(text.find("hook output"), 11, "hook prerouting");
    }
    CHECK(nft_connmark_families(text, 123) == Families{});
}

TEST_CASE("connmark: a mark set to some other value does not count as cleared", "[connmark]") {
    std::string text = kNative;
    text.replace(text.find("meta mark set 0x00000000"), 24, "meta mark set 0x00000001");
    CHECK(nft_connmark_families(text, 123) == Families{});
}
