// Go flag package behaviour: number/bool/duration syntax, command-line rules, messages and usage layout.
#include <catch2/catch.hpp>

#include <limits>

#include "support/goflag.h"

using namespace std::chrono_literals;
using ferry::goflag::Duration;
using ferry::goflag::FlagSet;
using ferry::goflag::NumberError;
using ferry::goflag::ParseResult;
using ferry::goflag::ParseStatus;

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// A flag set with one flag of each kind, the variables it writes and a parse helper.
struct Fixture {
    std::string s;
    int64_t i = 0;
    bool b = false;
    Duration d{};
    FlagSet fs{"prog"};

    Fixture() {
        fs.string_var(&s, "s", "dflt", "a string");
        fs.int_var(&i, "i", 7, "an int");
        fs.bool_var(&b, "b", false, "a bool");
        fs.duration_var(&d, "d", 5s, "a duration");
    }
    ParseResult parse(std::vector<std::string> args) { return fs.parse(args); }
};

}  // namespace

TEST_CASE("parse_int accepts what strconv.ParseInt(s, 0, 64) accepts", "[goflag]") {
    struct Case {
        const char* text;
        int64_t value;
    };
    const Case cases[] = {
        {"0", 0},         {"10", 10},        {"-10", -10},     {"+5", 5},       {"0x10", 16},  {"0X1f", 31},
        {"0o17", 15},     {"0O17", 15},      {"017", 15},      {"-017", -15},   {"0b101", 5},  {"0B11", 3},
        {"1_000", 1000},  {"0x_1f", 31},     {"0_1", 1},       {"-0x10", -16},  {"00", 0},     {"0xAbC", 2748},
        {"9223372036854775807", kMax},       {"-9223372036854775808", kMin},    {"-0x8000000000000000", kMin},
        {"0b1_0", 2},     {"0o_7", 7},       {"1_2_3", 123},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        auto r = ferry::goflag::parse_int(c.text);
        CHECK(r.error == NumberError::None);
        CHECK(r.value == c.value);
    }
}

TEST_CASE("parse_int rejects what strconv rejects, telling syntax from range", "[goflag]") {
    const char* syntax[] = {"",    "-",    "+",   "+-1",  "--1", "_1",   "1_",  "1__0", "0x",   "0b",  "0o",
                            "08",  "0b2",  "1e3", " 1",   "1 ",  "0x_",  "abc", "1.0",  "0xg",  "١",   "0_x1",
                            "0x1_", "_0x1", "12a"};
    for (const char* s : syntax) {
        INFO(s);
        CHECK(ferry::goflag::parse_int(s).error == NumberError::Syntax);
    }
    const char* range[] = {"9223372036854775808", "-9223372036854775809", "99999999999999999999",
                           "0x8000000000000000", "0xffffffffffffffffff",
                           // Overflow is found before the bad character, as in Go.
                           "99999999999999999999x", "1_0000000000000000000000"};
    for (const char* s : range) {
        INFO(s);
        CHECK(ferry::goflag::parse_int(s).error == NumberError::Range);
    }
}

TEST_CASE("parse_bool takes strconv.ParseBool's spellings only", "[goflag]") {
    for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) CHECK(ferry::goflag::parse_bool(t) == true);
    for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) CHECK(ferry::goflag::parse_bool(f) == false);
    for (const char* x : {"", "yes", "tRUE", "2", " true", "on"}) CHECK_FALSE(ferry::goflag::parse_bool(x));
}

TEST_CASE("parse_duration follows time.ParseDuration", "[goflag]") {
    using ferry::goflag::parse_duration;
    CHECK(parse_duration("0") == 0ns);
    CHECK(parse_duration("-0") == 0ns);
    CHECK(parse_duration("+0") == 0ns);
    CHECK(parse_duration("0s") == 0ns);
    CHECK(parse_duration("300ms") == 300ms);
    CHECK(parse_duration("1.5h") == 90min);
    CHECK(parse_duration("1h30m") == 90min);
    CHECK(parse_duration("1h1h") == 2h);
    CHECK(parse_duration("-2s") == -2s);
    CHECK(parse_duration("+2s") == 2s);
    CHECK(parse_duration(".5s") == 500ms);
    CHECK(parse_duration("5.s") == 5s);
    CHECK(parse_duration("1ns") == 1ns);
    CHECK(parse_duration("1us") == 1us);
    CHECK(parse_duration("1\xC2\xB5s") == 1us);  // U+00B5 micro sign
    CHECK(parse_duration("1\xCE\xBCs") == 1us);  // U+03BC greek mu
    CHECK(parse_duration("1.000000001s") == 1'000'000'001ns);
    CHECK(parse_duration("0.1234567891s") == 123'456'789ns);  // precision beyond ns is dropped
    CHECK(parse_duration("2562047h47m16.854775807s") == Duration{kMax});
    CHECK(parse_duration("-2562047h47m16.854775808s") == Duration{kMin});
    CHECK(parse_duration("9223372036854775807ns") == Duration{kMax});
    for (const char* bad : {"", "-", "5", "1d", ".s", "s", "-.s", "1.5.5s", "1h 30m", " 1s", "1s ", "0x5s",
                            "2562047h47m16.854775808s", "9223372036854775808ns", "99999999999999999999h", "1S",
                            "++1s"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad));
    }
}

TEST_CASE("format_duration prints like time.Duration.String", "[goflag]") {
    using ferry::goflag::format_duration;
    CHECK(format_duration(0ns) == "0s");
    CHECK(format_duration(1ns) == "1ns");
    CHECK(format_duration(999ns) == "999ns");
    CHECK(format_duration(1500ns) == "1.5\xC2\xB5s");
    CHECK(format_duration(1ms) == "1ms");
    CHECK(format_duration(1500us) == "1.5ms");
    CHECK(format_duration(300ms) == "300ms");
    CHECK(format_duration(1s) == "1s");
    CHECK(format_duration(5s) == "5s");
    CHECK(format_duration(1500ms) == "1.5s");
    CHECK(format_duration(60s) == "1m0s");
    CHECK(format_duration(61s) == "1m1s");
    CHECK(format_duration(90min) == "1h30m0s");
    CHECK(format_duration(1h) == "1h0m0s");
    CHECK(format_duration(-2s) == "-2s");
    CHECK(format_duration(-1ns) == "-1ns");
    CHECK(format_duration(Duration{kMax}) == "2562047h47m16.854775807s");
    CHECK(format_duration(Duration{kMin}) == "-2562047h47m16.854775808s");
}

TEST_CASE("quote matches Go's %q", "[goflag]") {
    using ferry::goflag::quote;
    CHECK(quote("") == "\"\"");
    CHECK(quote("abc") == "\"abc\"");
    CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(quote("\a\b\f\n\r\t\v") == "\"\\a\\b\\f\\n\\r\\t\\v\"");
    CHECK(quote(std::string("\x01\x1f\x7f", 3)) == "\"\\x01\\x1f\\x7f\"");
    CHECK(quote(std::string("a\0b", 3)) == "\"a\\x00b\"");
    CHECK(quote("\xff\xfe") == "\"\\xff\\xfe\"");               // not UTF-8
    CHECK(quote("\xC3\xA9") == "\"\xC3\xA9\"");                 // é is printable
    CHECK(quote("\xF0\x9F\x98\x80") == "\"\xF0\x9F\x98\x80\"");  // U+1F600
    CHECK(quote("\xC2\xA0") == "\"\\u00a0\"");                  // no-break space
    CHECK(quote("\xC2\x85") == "\"\\u0085\"");                  // C1 control
    CHECK(quote("\xEF\xBB\xBF") == "\"\\ufeff\"");              // BOM
    CHECK(quote("\xED\xA0\x80") == "\"\\xed\\xa0\\x80\"");      // an encoded surrogate is invalid
    CHECK(quote("\xC0\xAF") == "\"\\xc0\\xaf\"");               // overlong
    CHECK(quote("\xF3\xB0\x80\x80") == "\"\\U000f0000\"");      // private use, plane 15
}

TEST_CASE("FlagSet accepts -f v, -f=v, --f v and --f=v", "[goflag]") {
    for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
             {"-i", "42"}, {"-i=42"}, {"--i", "42"}, {"--i=42"}}) {
        Fixture f;
        ParseResult r = f.parse(args);
        CHECK(r.status == ParseStatus::Ok);
        CHECK(f.i == 42);
        CHECK(f.fs.is_set("i"));
        CHECK_FALSE(f.fs.is_set("s"));
    }
}

TEST_CASE("FlagSet definitions store defaults", "[goflag]") {
    Fixture f;
    CHECK(f.s == "dflt");
    CHECK(f.i == 7);
    CHECK_FALSE(f.b);
    CHECK(f.d == 5s);
    CHECK(f.parse({}).status == ParseStatus::Ok);
    CHECK(f.i == 7);
}

TEST_CASE("FlagSet values: strings, ints in any base, durations, '=' inside values", "[goflag]") {
    Fixture f;
    ParseResult r = f.parse({"-s=a=b", "-i", "0x10", "-d", "1m30s"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(f.s == "a=b");
    CHECK(f.i == 16);
    CHECK(f.d == 90s);

    Fixture g;
    REQUIRE(g.parse({"-s="}).status == ParseStatus::Ok);
    CHECK(g.s.empty());
    REQUIRE(g.parse({"-s", ""}).status == ParseStatus::Ok);
    CHECK(g.s.empty());
}

TEST_CASE("FlagSet: a non-bool flag always takes the next argument", "[goflag]") {
    Fixture f;
    REQUIRE(f.parse({"-i", "-1", "-s", "-b"}).status == ParseStatus::Ok);
    CHECK(f.i == -1);
    CHECK(f.s == "-b");
    CHECK_FALSE(f.b);

    Fixture g;
    REQUIRE(g.parse({"-s", "--"}).status == ParseStatus::Ok);
    CHECK(g.s == "--");
}

TEST_CASE("FlagSet: bool flags take -b or -b=value only", "[goflag]") {
    Fixture f;
    REQUIRE(f.parse({"-b"}).status == ParseStatus::Ok);
    CHECK(f.b);
    REQUIRE(f.parse({"-b=false"}).status == ParseStatus::Ok);
    CHECK_FALSE(f.b);
    REQUIRE(f.parse({"--b=T"}).status == ParseStatus::Ok);
    CHECK(f.b);

    Fixture g;
    ParseResult r = g.parse({"-b", "false", "-i", "3"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(g.b);  // "false" is a positional argument and ends the flags
    CHECK(g.i == 7);
    CHECK(r.positional == std::vector<std::string>{"false", "-i", "3"});
}

TEST_CASE("FlagSet stops at the first positional argument, '-' or '--'", "[goflag]") {
    Fixture f;
    ParseResult r = f.parse({"-i", "1", "foo", "-i", "2"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(f.i == 1);
    CHECK(r.positional == std::vector<std::string>{"foo", "-i", "2"});

    r = f.parse({"-i", "3", "--", "-i", "4"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(f.i == 3);
    CHECK(r.positional == std::vector<std::string>{"-i", "4"});

    r = f.parse({"-", "-i", "5"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(f.i == 3);
    CHECK(r.positional == std::vector<std::string>{"-", "-i", "5"});

    r = f.parse({"", "-i", "5"});
    REQUIRE(r.status == ParseStatus::Ok);
    CHECK(r.positional.size() == 3);

    // The undefined flag after the positional is never looked at.
    r = f.parse({"x", "-nope"});
    CHECK(r.status == ParseStatus::Ok);
}

TEST_CASE("FlagSet: the last occurrence wins", "[goflag]") {
    Fixture f;
    REQUIRE(f.parse({"-i", "1", "-i=2", "--i", "3", "-s", "a", "-s", "b"}).status == ParseStatus::Ok);
    CHECK(f.i == 3);
    CHECK(f.s == "b");
}

TEST_CASE("FlagSet: -h and -help ask for help unless defined", "[goflag]") {
    for (const char* h : {"-h", "-help", "--h", "--help", "-h=1", "-help=x", "--help=false"}) {
        INFO(h);
        Fixture f;
        ParseResult r = f.parse({"-i", "9", h, "-nope"});
        CHECK(r.status == ParseStatus::Help);
        CHECK(f.fs.stderr_text(r) == f.fs.usage());
    }
    std::string help;
    bool h = false;
    FlagSet fs{"p"};
    fs.string_var(&help, "help", "", "help topic");
    fs.bool_var(&h, "h", false, "human");
    REQUIRE(fs.parse(std::vector<std::string>{"-help", "x", "-h"}).status == ParseStatus::Ok);
    CHECK(help == "x");
    CHECK(h);
}

TEST_CASE("FlagSet error messages are Go's", "[goflag]") {
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    const Case cases[] = {
        {{"-x"}, "flag provided but not defined: -x"},
        {{"--x=1"}, "flag provided but not defined: -x"},
        {{"-i", "1", "-zz", "2"}, "flag provided but not defined: -zz"},
        {{"-i"}, "flag needs an argument: -i"},
        {{"--s"}, "flag needs an argument: -s"},
        {{"-i", "abc"}, "invalid value \"abc\" for flag -i: parse error"},
        {{"-i="}, "invalid value \"\" for flag -i: parse error"},
        {{"-i", "99999999999999999999"}, "invalid value \"99999999999999999999\" for flag -i: value out of range"},
        {{"-i", "a\tb"}, "invalid value \"a\\tb\" for flag -i: parse error"},
        {{"-d", "5"}, "invalid value \"5\" for flag -d: parse error"},
        {{"-d", "1d"}, "invalid value \"1d\" for flag -d: parse error"},
        {{"-b=x"}, "invalid boolean value \"x\" for -b: parse error"},
        {{"-b="}, "invalid boolean value \"\" for -b: parse error"},
        {{"---x"}, "bad flag syntax: ---x"},
        {{"-=x"}, "bad flag syntax: -=x"},
        {{"--=x"}, "bad flag syntax: --=x"},
        {{"-="}, "bad flag syntax: -="},
        {{"---"}, "bad flag syntax: ---"},
    };
    for (const Case& c : cases) {
        INFO(c.message);
        Fixture f;
        ParseResult r = f.parse(c.args);
        CHECK(r.status == ParseStatus::Error);
        CHECK(r.error == c.message);
        CHECK(r.positional.empty());
        CHECK(f.fs.stderr_text(r) == std::string(c.message) + "\n" + f.fs.usage());
    }
}

TEST_CASE("FlagSet usage follows PrintDefaults", "[goflag]") {
    std::string s1, s2, s3, s4;
    int64_t i1 = 0, i2 = 0;
    bool b1 = false, b2 = false, b3 = false;
    Duration d1{}, d2{};
    FlagSet fs{"/usr/bin/thing"};
    fs.string_var(&s1, "name", "x\"y", "the `who` to greet");
    fs.string_var(&s2, "empty", "", "no default shown");
    fs.string_var(&s3, "Z", "", "upper case sorts first");
    fs.string_var(&s4, "tick", "", "only one ` back quote");
    fs.int_var(&i1, "n", -3, "count\nsecond line");
    fs.int_var(&i2, "zero", 0, "");
    fs.bool_var(&b1, "q", false, "quiet");
    fs.bool_var(&b2, "color", true, "use colour");
    fs.bool_var(&b3, "V", true, "one-letter, default true");
    fs.duration_var(&d1, "wait", 60s, "how long");
    fs.duration_var(&d2, "t", 0s, "no default shown");
    CHECK(fs.usage() ==
          "Usage of /usr/bin/thing:\n"
          "  -V\tone-letter, default true (default true)\n"
          "  -Z string\n"
          "    \tupper case sorts first\n"
          "  -color\n"
          "    \tuse colour (default true)\n"
          "  -empty string\n"
          "    \tno default shown\n"
          "  -n int\n"
          "    \tcount\n"
          "    \tsecond line (default -3)\n"
          "  -name who\n"
          "    \tthe who to greet (default \"x\\\"y\")\n"
          "  -q\tquiet\n"
          "  -t duration\n"
          "    \tno default shown\n"
          "  -tick string\n"
          "    \tonly one ` back quote\n"
          "  -wait duration\n"
          "    \thow long (default 1m0s)\n"
          "  -zero int\n"
          "    \t\n");
}

TEST_CASE("FlagSet usage heading prints the program name verbatim, even empty", "[goflag]") {
    FlagSet fs{""};
    CHECK(fs.usage() == "Usage of :\n");
    CHECK(fs.print_defaults().empty());
    CHECK(fs.parse(std::vector<std::string>{"-h"}).status == ParseStatus::Help);
}
