// The strict INI reader: what it gives back (sections, keys, lines), inih's comment and blank rules, every
// refusal with its message, the partial result before an error, and the small value helpers.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/ini.h"

using ferry::ini::Key;
using ferry::ini::ParseResult;
using ferry::ini::Section;

namespace {

ParseResult parse(const std::string& text) { return ferry::ini::parse(text, "t.ini"); }

std::string error_of(const std::string& text) {
    ParseResult r = parse(text);
    INFO(text);
    CHECK_FALSE(r.ok());
    return r.error;
}

// "name=value@line" for each key of a section, to compare whole sections at once.
std::vector<std::string> keys_of(const Section& s) {
    std::vector<std::string> out;
    for (const Key& k : s.keys) out.push_back(k.name + "=" + k.value + "@" + std::to_string(k.line));
    return out;
}

}  // namespace

TEST_CASE("sections and keys in file order, with their lines", "[ini]") {
    ParseResult r = parse(
        "; a comment\n"
        "[first]\n"
        "b = 2\n"
        "a: 1\n"
        "\n"
        "[second one]\n"
        "[ third ]   ; empty sections are kept\n"
        "x=\n");
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.error_line == 0);
    REQUIRE(r.sections.size() == 3);
    CHECK(r.sections[0].name == "first");
    CHECK(r.sections[0].line == 2);
    CHECK(keys_of(r.sections[0]) == std::vector<std::string>{"b=2@3", "a=1@4"});
    CHECK(r.sections[1].name == "second one");
    CHECK(r.sections[1].line == 6);
    CHECK(r.sections[1].keys.empty());
    CHECK(r.sections[2].name == "third");
    CHECK(r.sections[2].line == 7);
    CHECK(keys_of(r.sections[2]) == std::vector<std::string>{"x=@8"});
}

TEST_CASE("Section::find is exact", "[ini]") {
    ParseResult r = parse("[s]\nKey = 1\nother = 2\n");
    REQUIRE(r.ok());
    const Section& s = r.sections.front();
    REQUIRE(s.find("other") != nullptr);
    CHECK(s.find("other")->value == "2");
    CHECK(s.find("other")->line == 3);
    CHECK(s.find("key") == nullptr);
    CHECK(s.find("Key") != nullptr);
    CHECK(s.find("") == nullptr);
}

TEST_CASE("inih's rules: comments, blanks, CRLF, BOM, '#' in values, quotes", "[ini]") {
    ParseResult r = parse(
        "\xEF\xBB\xBF# first line after a BOM\r\n"
        "[s] # a comment after a header\r\n"
        "  a  =   spaced value   \r\n"
        "\t; an indented comment is a comment\r\n"
        "b = value ; inline comment\r\n"
        "c = value\t; after a tab\r\n"
        "d = no;comment # hash stays\r\n"
        "e = \"quotes stay\"\r\n"
        "f = x = y : z\r\n"
        "g : a=b\r\n"
        "h =\r\n");
    INFO(r.error);
    REQUIRE(r.ok());
    REQUIRE(r.sections.size() == 1);
    CHECK(keys_of(r.sections[0]) == std::vector<std::string>{
                                        "a=spaced value@3", "b=value@5", "c=value@6", "d=no;comment # hash stays@7",
                                        "e=\"quotes stay\"@8", "f=x = y : z@9", "g=a=b@10", "h=@11"});
}

TEST_CASE("an empty text or comments only: no section", "[ini]") {
    for (const char* text : {"", "\n", "; c\n# d\n", "   \n\t\n"}) {
        ParseResult r = parse(text);
        CHECK(r.ok());
        CHECK(r.sections.empty());
    }
}

TEST_CASE("every refusal names the file and the line", "[ini]") {
    CHECK(error_of("a = 1\n") == "t.ini:1: key \"a\" outside a section (put it under a [section] header)");
    CHECK(ferry::ini::parse("\n# c\nk = v\n", "x.conf", "[main]").error ==
          "x.conf:3: key \"k\" outside a section (put it under a [main] header)");
    CHECK(error_of("[s]\n= 1\n") == "t.ini:2: empty key name");
    CHECK(error_of("[s]\na = 1\n; c\na = 2\n") == "t.ini:4: key \"a\" given twice in section [s] (first on line 2)");
    CHECK(error_of("[s\n") == "t.ini:1: section header without \"]\"");
    CHECK(error_of("[s ;]\n") == "t.ini:1: section header without \"]\"");
    CHECK(error_of("[s] x\n") == "t.ini:1: unexpected \"x\" after the section header");
    CHECK(error_of("[s]\njust words\n") ==
          "t.ini:2: expected \"key = value\", a [section] header or a comment, not \"just words\"");
    CHECK(error_of("[s]\nx ;= y\n") ==
          "t.ini:2: expected \"key = value\", a [section] header or a comment, not \"x ;= y\"");
    CHECK(error_of("[s]\na = 1\n  b = 2\n") ==
          "t.ini:3: indented line would continue the value of key \"a\" (multi-line values are not supported; "
          "remove the indentation)");
    CHECK(error_of("[s]\na = 1\n\t[t]\n") ==
          "t.ini:3: indented line would continue the value of key \"a\" (multi-line values are not supported; "
          "remove the indentation)");
    CHECK(error_of("[s]\na = " + std::string(196, 'v') + "\n") == "t.ini:2: line longer than 199 bytes");
    CHECK(parse("[s]\na = " + std::string(195, 'v') + "\n").ok());
    const char nul[] = "[s]\na = 1\0 2\n";
    CHECK(error_of(std::string(nul, sizeof nul - 1)) == "t.ini:2: NUL byte in the line");
    // The same key in two sections is fine; the same section twice is the caller's business.
    ParseResult twice = parse("[s]\na = 1\n[t]\na = 2\n[s]\na = 3\n");
    REQUIRE(twice.ok());
    CHECK(twice.sections.size() == 3);
    // The first key after a header may be indented: inih has no key to continue.
    CHECK(parse("[s]\n   a = 1\n").ok());
}

TEST_CASE("on failure, what came before the error's line is kept", "[ini]") {
    ParseResult r = parse("[s]\na = 1\n[t]\nb = 2\nbroken\nc = 3\n[u]\n");
    CHECK(r.error == "t.ini:5: expected \"key = value\", a [section] header or a comment, not \"broken\"");
    CHECK(r.error_line == 5);
    REQUIRE(r.sections.size() == 2);
    CHECK(keys_of(r.sections[0]) == std::vector<std::string>{"a=1@2"});
    CHECK(keys_of(r.sections[1]) == std::vector<std::string>{"b=2@4"});

    ParseResult dup = parse("[s]\na = 1\na = 2\nb = 3\n");
    CHECK(dup.error_line == 3);
    REQUIRE(dup.sections.size() == 1);
    CHECK(keys_of(dup.sections[0]) == std::vector<std::string>{"a=1@2"});
}

TEST_CASE("long section names are kept whole", "[ini]") {
    std::string name(120, 'n');
    ParseResult r = parse("[" + name + "]\n[" + name + "x]\n");
    REQUIRE(r.ok());
    CHECK(r.sections[0].name == name);
    CHECK(r.sections[1].name == name + "x");
}

TEST_CASE("located and quoted", "[ini]") {
    CHECK(ferry::ini::located("a.ini", 7, "bad") == "a.ini:7: bad");
    CHECK(ferry::ini::quoted("plain") == "\"plain\"");
    CHECK(ferry::ini::quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(ferry::ini::quoted(std::string("t\tn\x7F", 4)) == "\"t\\x09n\\x7f\"");
    CHECK(ferry::ini::quoted("caf\xC3\xA9") == "\"caf\xC3\xA9\"");
}

TEST_CASE("parse_bool", "[ini]") {
    for (const char* yes : {"true", "TRUE", "Yes", "on", "ON", "1"}) CHECK(ferry::ini::parse_bool(yes) == true);
    for (const char* no : {"false", "No", "off", "0"}) CHECK(ferry::ini::parse_bool(no) == false);
    for (const char* bad : {"", "y", "2", "truee", " true", "enabled"}) {
        INFO(bad);
        CHECK_FALSE(ferry::ini::parse_bool(bad));
    }
}

TEST_CASE("split_list", "[ini]") {
    using V = std::vector<std::string_view>;
    CHECK(ferry::ini::split_list("") == V{});
    CHECK(ferry::ini::split_list("  ") == V{});
    CHECK(ferry::ini::split_list("a") == V{"a"});
    CHECK(ferry::ini::split_list("a, b ,c") == V{"a", "b", "c"});
    CHECK(ferry::ini::split_list(" a b , c\t") == V{"a b", "c"});
    CHECK(ferry::ini::split_list("a,,b") == V{"a", "", "b"});
    CHECK(ferry::ini::split_list("a,") == V{"a", ""});
    CHECK(ferry::ini::split_list(",") == V{"", ""});
}
