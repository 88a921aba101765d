// moproxy's --policy rules (backends/policy.h): every syntax form of its parser, the errors with their lines,
// and the matcher's order, priorities and merging, checked against the cases of moproxy's own tests
// (src/policy/{parser,mod,capabilities}.rs) and the rules of its conf/policy.rules.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "backends/policy.h"

using ferry::SocketAddress;
using ferry::parse_host_port;
using namespace ferry::policy;

namespace {

Rule rule_of(std::string_view line) {
    LineResult r = parse_line(line, 7);
    INFO(line << " -> " << r.error);
    REQUIRE(r.ok());
    REQUIRE(r.rule);
    return *r.rule;
}

std::string error_of(std::string_view line) {
    LineResult r = parse_line(line, 1);
    INFO(line);
    CHECK_FALSE(r.rule);
    CHECK_FALSE(r.ok());
    return r.error;
}

Policy policy_of(std::string_view text) {
    PolicyResult r = parse_policy(text, "p.rules");
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.policy;
}

SocketAddress ip(const std::string& text) {
    auto a = parse_host_port(text.find(':') != std::string::npos ? "[" + text + "]:0" : text + ":0");
    REQUIRE(a);
    return *a;
}

std::string action_for(const Policy& p, std::optional<uint16_t> port, const std::string& dst_ip = "",
                       std::string_view domain = "") {
    Request r;
    r.listen_port = port;
    if (!dst_ip.empty()) r.dst_ip = ip(dst_ip);
    r.dst_domain = domain;
    return p.match(r).to_string();
}

}  // namespace

TEST_CASE("policy: every filter", "[policy]") {
    Rule r = rule_of("listen port 1234 direct");
    CHECK(r.filter == FilterKind::ListenPort);
    CHECK(r.port == 1234);
    CHECK(r.line == 7);
    CHECK(rule_of("LISTEN PORT 0080 direct").port == 80);  // keywords in any case; leading zeros (nom's u16)

    r = rule_of("dst domain Test_-123.Example.Com. reject");
    CHECK(r.filter == FilterKind::DstDomain);
    CHECK(r.domain == "test_-123.example.com");  // lowered, one trailing dot dropped
    CHECK(rule_of("dst domain example direct").domain == "example");
    CHECK(rule_of("Dst Domain . direct").domain == ".");

    r = rule_of("dst ip :: direct");
    CHECK(r.filter == FilterKind::DstIp);
    CHECK(r.prefix.to_string() == "::/128");
    CHECK(rule_of("dst ip 0.0.0.0/0 direct").prefix.to_string() == "0.0.0.0/0");
    CHECK(rule_of("dst ip 127.0.0.1 direct").prefix.to_string() == "127.0.0.1/32");
    CHECK(rule_of("dst ip 10.1.2.3/8 direct").prefix.to_string() == "10.0.0.0/8");  // host bits cleared
    CHECK(rule_of("dst ip 255.0.1.2 direct").prefix.to_string() == "255.0.1.2/32");
    CHECK(rule_of("dst ip 010.0.0.1/8 direct").prefix.to_string() == "10.0.0.0/8");  // nom's u8: leading zeros
    CHECK(rule_of("dst ip ::/0 direct").prefix.to_string() == "::/0");
    CHECK(rule_of("dst ip 2001:db8::1/32 direct").prefix.to_string() == "2001:db8::/32");
    CHECK(rule_of("dst ip 1:0:ffff:fff:ff:0f:0000:8 direct").prefix.to_string() == "1:0:ffff:fff:ff:f:0:8/128");

    CHECK(rule_of("default direct").filter == FilterKind::Default);
    CHECK(rule_of("DEFAULT direct").filter == FilterKind::Default);
}

TEST_CASE("policy: every action and priority", "[policy]") {
    Action a = rule_of("default require a or b").action;
    CHECK(a.verdict == Verdict::Require);
    CHECK(a.priority == 0);
    REQUIRE(a.required.size() == 1);
    CHECK(a.required[0].any_of == std::vector<std::string>{"a", "b"});
    CHECK(a.required[0].lines == std::vector<int>{7});
    CHECK(rule_of("default require c OR b\tor a").action.required[0].any_of ==
          std::vector<std::string>{"a", "b", "c"});  // sorted
    CHECK(rule_of("default require or or b").action.required[0].any_of == std::vector<std::string>{"b", "or"});
    CHECK(rule_of("default direct").action.verdict == Verdict::Direct);
    CHECK(rule_of("default reject").action.verdict == Verdict::Reject);
    CHECK(rule_of("default reject").action.line == 7);
    CHECK(rule_of("default require a").action.priority == 0);
    CHECK(rule_of("default require! a").action.priority == 1);
    CHECK(rule_of("default direct!!").action.priority == 2);
    CHECK(rule_of("default reject!!!!!").action.priority == 5);
    CHECK(rule_of("listen port 1 require!! a").action.priority == 2);
    CHECK(rule_of("default REQUIRE x").action.required[0].any_of == std::vector<std::string>{"x"});
    CHECK(rule_of("default require Cap-1_x").action.required[0].any_of == std::vector<std::string>{"Cap-1_x"});
}

TEST_CASE("policy: blanks, comments, empty lines", "[policy]") {
    for (std::string_view empty : {"", "  \t ", "#", " # test ", "#\r", "\r"}) {
        LineResult r = parse_line(empty, 1);
        INFO(empty);
        CHECK(r.ok());
        CHECK_FALSE(r.rule);
    }
    CHECK(rule_of("dst domain test require a #1").domain == "test");
    CHECK(rule_of("  default\t\tdirect  ").action.verdict == Verdict::Direct);
    CHECK(rule_of("default direct#x").action.verdict == Verdict::Direct);
    CHECK(rule_of("default require a#x").action.required[0].any_of == std::vector<std::string>{"a"});
    CHECK(rule_of("default direct\r").action.verdict == Verdict::Direct);
}

TEST_CASE("policy: errors", "[policy]") {
    CHECK(error_of("dst") == "expected a filter (default, listen port N, dst ip IP[/LEN], dst domain NAME) at \"dst\"");
    CHECK(error_of("dst domain test error") ==
          "expected an action (require CAP [or CAP ...], direct, reject) at \"error\"");
    CHECK(error_of("dst domain require a b").rfind("expected an action", 0) == 0);
    CHECK(error_of("default require a b") ==
          "unexpected \"b\" after the rule (one filter and one action per line; \"or\" joins capabilities)");
    CHECK(error_of("default require a or").rfind("unexpected \"or\" after the rule", 0) == 0);
    CHECK(error_of("default require a orb").rfind("unexpected \"orb\"", 0) == 0);
    CHECK(error_of("default require!!!1 a") ==
          "expected a blank and a capability after \"require\" at \"1 a\"");
    CHECK(error_of("default require ! a") == "expected a capability name (letters, digits, '-', '_') at \"! a\"");
    CHECK(error_of("default reject!!!!!!") == "\"reject\" with 6 '!': the priority is at most 5");
    CHECK(error_of("default require") == "expected a blank and a capability after \"require\" at the end of the line");
    CHECK(error_of("default") == "expected a blank and an action after the filter at the end of the line");
    CHECK(error_of("defaultdirect") == "expected a blank and an action after the filter at \"direct\"");
    CHECK(error_of("default directx").rfind("unexpected \"x\"", 0) == 0);
    CHECK(error_of("listen port 0 direct") == "\"0\" is not a port (1..65535)");
    CHECK(error_of("listen port 70000 direct") == "\"70000\" is not a port (1..65535)");
    CHECK(error_of("listen port x direct") == "expected a port after \"listen port\" at \"x direct\"");
    CHECK(error_of("listen port 80x direct").rfind("expected a blank and an action after the filter", 0) == 0);
    CHECK(error_of("listen  port 1 direct").rfind("expected a filter", 0) == 0);  // one blank inside keywords
    CHECK(error_of("dst ip 0.0.0.0/33 direct") == "\"0.0.0.0/33\": the prefix length is more than 32");
    CHECK(error_of("dst ip ::/129 direct") == "\"::/129\": the prefix length is more than 128");
    CHECK(error_of("dst ip 1.2.3.4/ direct").rfind("expected a blank and an action", 0) == 0);
    CHECK(error_of("dst ip 1.2.3.4/256 direct").rfind("expected a blank and an action", 0) == 0);
    for (std::string_view bad :
         {"256.0.0.0", "127.0.1", "0", "1::2::3", "g::0", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4"}) {
        INFO(bad);
        CHECK_FALSE(parse_line("dst ip " + std::string(bad) + " direct", 1).ok());
    }
    CHECK(error_of("dst ip x direct") == "expected an IP address after \"dst ip\" at \"x direct\"");
    CHECK(error_of("dst domain .com direct").rfind("expected a blank and an action", 0) == 0);
    CHECK(error_of("dst domain a..b direct").rfind("expected a blank and an action", 0) == 0);
    CHECK(error_of("dst domain *.a direct") == "expected a domain name after \"dst domain\" at \"*.a direct\"");
    CHECK(error_of("dst domain") == "expected a blank and a domain name after \"dst domain\" at the end of the line");
}

TEST_CASE("policy: a file's first error names its line", "[policy]") {
    PolicyResult r = parse_policy("# rules\n\nlisten port 1 direct\r\ndst ip 10.0.0.0/8 require a\nbad line\n"
                                  "also bad\n",
                                  "/etc/moproxy/policy.rules");
    CHECK_FALSE(r.ok());
    CHECK(r.error ==
          "/etc/moproxy/policy.rules:5: expected a filter (default, listen port N, dst ip IP[/LEN], dst domain NAME) "
          "at \"bad line\"");
    CHECK(load_policy("/nonexistent/policy.rules").error == "/nonexistent/policy.rules: No such file or directory");
    PolicyResult empty = parse_policy("", "e");
    REQUIRE(empty.ok());
    CHECK(empty.policy->rule_count() == 0);
    CHECK(action_for(*empty.policy, 1, "192.0.2.1", "a.example") == "REQUIRE NOTHING");
}

TEST_CASE("policy: listen port rules accumulate requirements", "[policy]") {
    Policy p = policy_of("listen port 1 require a\nlisten port 2 require b\nlisten port 2 require c or d\n");
    CHECK(p.rule_count() == 3);
    Request r;
    r.listen_port = 1;
    Action p1 = p.match(r);
    r.listen_port = 2;
    Action p2 = p.match(r);
    const std::vector<std::string> abc{"a", "b", "c"}, bc{"b", "c"}, c{"c"}, none{};
    CHECK(satisfies(p1, abc));
    CHECK_FALSE(satisfies(p1, bc));
    CHECK_FALSE(satisfies(p1, c));
    CHECK(satisfies(p2, abc));
    CHECK(satisfies(p2, bc));
    CHECK_FALSE(satisfies(p2, c));
    CHECK_FALSE(satisfies(p2, none));  // a server without capabilities meets no requirement
    r.listen_port = 3;
    CHECK(satisfies(p.match(r), none));  // nothing required: every server, even without capabilities
    CHECK(p2.to_string() == "REQUIRE b AND (c OR d)");
    CHECK(p.where(p2) == "p.rules:2, p.rules:3");
}

TEST_CASE("policy: dst ip, shorter prefixes first, IPv4-mapped taken as IPv4", "[policy]") {
    Policy p = policy_of("dst ip 0.0.0.0/0 require a4\ndst ip ::1 require a6\ndst ip 127.0.0.0/8 require b4\n"
                         "dst ip 127.0.0.1 direct\n");
    CHECK(p.rule_count() == 4);
    CHECK(action_for(p, std::nullopt, "1.2.3.4") == "REQUIRE a4");
    CHECK(action_for(p, std::nullopt, "127.1.1.1") == "REQUIRE a4 AND b4");
    CHECK(action_for(p, std::nullopt, "::ffff:127.1.1.1") == "REQUIRE a4 AND b4");
    CHECK(action_for(p, std::nullopt, "127.0.0.1") == "DIRECT");  // the /32 applies last
    CHECK(action_for(p, std::nullopt, "::1") == "REQUIRE a6");
    CHECK(action_for(p, std::nullopt, "2001:db8::1") == "REQUIRE NOTHING");
    // Rules given in the other order end the same: the order is by prefix length, not by line.
    Policy q = policy_of("dst ip 127.0.0.1 direct\ndst ip 127.0.0.0/8 require b4\ndst ip 0.0.0.0/0 require a4\n");
    CHECK(action_for(q, std::nullopt, "127.0.0.1") == "DIRECT");
    CHECK(action_for(q, std::nullopt, "127.0.0.2") == "REQUIRE a4 AND b4");
    // The same prefix twice (written differently) is one rule whose actions merge.
    Policy m = policy_of("dst ip 10.0.0.0/8 require a\ndst ip 10.9.9.9/8 require b\n");
    CHECK(action_for(m, std::nullopt, "10.1.1.1") == "REQUIRE a AND b");
}

TEST_CASE("policy: dst domain matches every suffix, `.` any name", "[policy]") {
    Policy p = policy_of("dst domain . require root\ndst domain com. require com\n"
                         "dst domain example.com require example\n");
    CHECK(action_for(p, std::nullopt, "", "test.example.com") == "REQUIRE com AND example AND root");
    CHECK(action_for(p, std::nullopt, "", "example.com") == "REQUIRE com AND example AND root");
    CHECK(action_for(p, std::nullopt, "", "com") == "REQUIRE com AND root");
    CHECK(action_for(p, std::nullopt, "", "net") == "REQUIRE root");
    CHECK(action_for(p, std::nullopt, "", "") == "REQUIRE NOTHING");  // `.` is not for connections without a name
    CHECK(action_for(p, std::nullopt, "", "notexample.com") == "REQUIRE com AND root");  // labels, not bytes
    CHECK(action_for(p, std::nullopt, "", "Test.EXAMPLE.com.") == "REQUIRE com AND example AND root");
}

TEST_CASE("policy: order default, port, ip, domain; direct and reject override", "[policy]") {
    Policy p = policy_of("default require def\nlisten port 1 require a\nlisten port 2 direct\n"
                         "dst domain test require c\ndst domain d.test direct\n");
    CHECK(action_for(p, 2, "", "abcd") == "DIRECT");          // listen port's direct overrides default's require
    CHECK(action_for(p, 1, "", "a.d.test") == "DIRECT");      // d.test's direct overrides the others
    CHECK(action_for(p, 3, "", "abcd") == "REQUIRE def");
    CHECK(action_for(p, std::nullopt, "", "test") == "REQUIRE c AND def");
    CHECK(action_for(p, 1, "", "test") == "REQUIRE a AND c AND def");
    CHECK(action_for(p, 2, "", "test") == "REQUIRE c");       // a require after a direct replaces it
    Action d = p.match(Request{2, {}, "a.d.test"});
    CHECK(d.lines() == std::vector<int>{5});
    CHECK(p.where(d) == "p.rules:5");
}

TEST_CASE("policy: priorities", "[policy]") {
    Policy p = policy_of("default require! def\n"
                         "listen port 1 reject # always ignore\n"
                         "dst domain a require! a\n"
                         "dst domain a.a reject! # same-level override\n"
                         "dst domain a.a.a require!! aaa # level override\n"
                         "dst domain a.a.a.a require!! aaaa #same-level append\n");
    CHECK(action_for(p, 10) == "REQUIRE! def");
    CHECK(action_for(p, 1) == "REQUIRE! def");
    CHECK(action_for(p, 1, "", "a.a") == "REJECT!");
    CHECK(action_for(p, 1, "", "a.a.a") == "REQUIRE!! aaa");
    CHECK(action_for(p, 1, "", "a.a.a.a") == "REQUIRE!! aaa AND aaaa");
    CHECK(p.match(Request{1, {}, "a.a"}).line == 4);
}

TEST_CASE("policy: merging keeps distinct sets once, each with its lines", "[policy]") {
    Policy p = policy_of("default require a\ndefault require a\ndefault require b or a\ndefault require a or b\n");
    Action a = p.match(Request{});
    CHECK(a.to_string() == "REQUIRE a AND (a OR b)");
    REQUIRE(a.required.size() == 2);
    CHECK(a.lines() == std::vector<int>{1, 2, 3, 4});
    CHECK(p.rule_count() == 0);  // moproxy does not count the default's
    Policy q = policy_of("listen port 5 require a\nlisten port 5 require a\nlisten port 5 direct\n"
                         "listen port 6 reject\nlisten port 6 require! x\n");
    CHECK(q.rule_count() == 2);
    CHECK(action_for(q, 6) == "REQUIRE! x");
}

TEST_CASE("policy: moproxy's Display", "[policy]") {
    Action a;
    CHECK(a.to_string() == "REQUIRE NOTHING");
    a.verdict = Verdict::Direct;
    CHECK(a.to_string() == "DIRECT");
    a.verdict = Verdict::Reject;
    a.priority = 2;
    CHECK(a.to_string() == "REJECT!!");
    Action r;
    r.priority = 1;
    r.required = {Requirement{{"b", "c"}, {}}, Requirement{{"a"}, {}}};
    CHECK(r.to_string() == "REQUIRE! a AND (b OR c)");
}

TEST_CASE("policy: moproxy's conf/policy.rules", "[policy]") {
    // The rules of moproxy 0.5.1's example file, with some of its comment lines.
    Policy p = policy_of("## Example of moproxy policy rulesets\n"
                         "\n"
                         "# One rule per line, comment starts with a hashtag.\n"
                         "# - DST IP <ipv4/6-addr>[/<prefix-len>] (destination IP address, won't resolve)\n"
                         "listen port 8001 require cap1\n"
                         "listen port 8002 require cap1 or cap2\n"
                         "listen port 8003 require!!! cap3\n"
                         "dst domain netflix.com require streaming\n"
                         "dst domain netflix.com require us\n"
                         "dst domain cn direct\n"
                         "dst domain edu.cn require edu\n"
                         "dst domain au require au\n"
                         "dst domain edu.au require edu\n"
                         "dst domain anu.edu.au require! au\n"
                         "# `dst domain .` will match any domain (but not for connection w/o domain).\n");
    CHECK(p.rule_count() == 10);
    CHECK(action_for(p, 8001) == "REQUIRE cap1");
    CHECK(action_for(p, 8002) == "REQUIRE (cap1 OR cap2)");
    CHECK(action_for(p, 8003, "", "www.netflix.com") == "REQUIRE!!! cap3");
    CHECK(action_for(p, 8001, "", "www.netflix.com") == "REQUIRE cap1 AND streaming AND us");
    CHECK(action_for(p, 8001, "", "www.example.cn") == "DIRECT");
    CHECK(action_for(p, 8001, "", "www.edu.cn") == "REQUIRE edu");
    CHECK(action_for(p, std::nullopt, "", "www.unsw.edu.au") == "REQUIRE au AND edu");
    CHECK(action_for(p, std::nullopt, "", "www.anu.edu.au") == "REQUIRE! au");
}
