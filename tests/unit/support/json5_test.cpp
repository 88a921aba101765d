#include "support/json5.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using namespace ferry::json5;

namespace {

// The JSON normalize() makes of `text`, which must succeed.
std::string json(std::string_view text) {
    Normalized n = normalize(text);
    INFO(text << " -> line " << n.error_line << ": " << n.error);
    REQUIRE(n.ok());
    REQUIRE_FALSE(n.json.empty());
    // And cJSON takes it.
    cJSON* parsed = cJSON_ParseWithLengthOpts(n.json.c_str(), n.json.size() + 1, nullptr, 1);
    INFO(n.json);
    REQUIRE(parsed != nullptr);
    cJSON_Delete(parsed);
    return n.json;
}

// normalize()'s error for `text`, as "line: message".
std::string error(std::string_view text) {
    Normalized n = normalize(text);
    INFO(text << " -> " << n.json);
    REQUIRE_FALSE(n.ok());
    REQUIRE(n.json.empty());
    return std::to_string(n.error_line) + ": " + n.error;
}

const cJSON* member(const cJSON* object, const char* key) { return cJSON_GetObjectItemCaseSensitive(object, key); }

}  // namespace

TEST_CASE("json5: plain JSON goes through, compacted", "[json5]") {
    CHECK(json(R"({"a": 1, "b": [true, false, null], "c": {"d": "e"}})") ==
          R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})");
    CHECK(json("[]") == "[]");
    CHECK(json("{}") == "{}");
    CHECK(json("  42  ") == "42");
    CHECK(json(R"("x")") == R"("x")");
    CHECK(json(R"(-1.5e-3)") == "-1.5e-3");
    CHECK(json(R"(["\"\\\/\b\f\n\r\t\u00e9"])") == R"(["\"\\/\b\f\n\r\t\u00e9"])");
}

TEST_CASE("json5: comments", "[json5]") {
    CHECK(json("// lead\n{ // after brace\n \"a\": /* inline */ 1 // end\n}\n// tail") == R"({"a":1})");
    CHECK(json("/* multi\n line\n comment */ [1, /**/ 2 /***/]") == "[1,2]");
    CHECK(json("[1 /* a // b */, 2]") == "[1,2]");
    CHECK(json("[\"// not a comment\", '/* nor this */']") == R"(["// not a comment","/* nor this */"])");
    CHECK(json("1 // no newline at the end") == "1");
    CHECK(json("[1,//c\r\n2]") == "[1,2]");
}

TEST_CASE("json5: trailing commas", "[json5]") {
    CHECK(json("[1, 2, ]") == "[1,2]");
    CHECK(json("{a: 1, b: 2,}") == R"({"a":1,"b":2})");
    CHECK(json("{a: [1,], b: {c: 1,},}") == R"({"a":[1],"b":{"c":1}})");
    CHECK(json("[1, 2, // trailing\n]") == "[1,2]");
    CHECK(error("[,]") == "1: unexpected ',': expected a value");
    CHECK(error("[1,,]") == "1: unexpected ',': expected a value");
    CHECK(error("{,}") == "1: unexpected ',': expected a key");
    CHECK(error("{a: 1,,}") == "1: unexpected ',': expected a key");
}

TEST_CASE("json5: unquoted keys", "[json5]") {
    CHECK(json("{listen: 'x', $dollar: 1, _under_score9: 2, null: 3, true: 4}") ==
          R"({"listen":"x","$dollar":1,"_under_score9":2,"null":3,"true":4})");
    CHECK(json("{caf\xc3\xa9: 1}") == "{\"caf\xc3\xa9\":1}");
    CHECK(json("{\\u0061b: 1}") == R"({"\u0061b":1})");
    // Non-ASCII white space ends a key or a word (its bytes are >= 0x80, as those of non-ASCII letters are).
    CHECK(json("{a\xc2\xa0: true\xe3\x80\x80, b\xe2\x80\xa8:null}") == R"({"a":true,"b":null})");
    CHECK(error("{9lives: 1}") == "1: unexpected '9': expected a key");
    CHECK(error("{key-name: 1}") == "1: unexpected '-': expected ':' after the key");
    CHECK(error("{a b: 1}") == "1: unexpected 'b': expected ':' after the key");
    CHECK(error("{\\x61: 1}") == "1: invalid escape in a key: only \\uXXXX is allowed");
    CHECK(error("{\\u0000: 1}") == "1: NUL character (\\u0000) is not supported");
}

TEST_CASE("json5: single-quoted strings and escapes", "[json5]") {
    CHECK(json(R"(['it\'s', 'say "hi"', "it's", '\"'])") == R"(["it's","say \"hi\"","it's","\""])");
    CHECK(json(R"(['\x41\x7e\xe9', '\v', '\a\c\d', '\/'])") == R"(["\u0041\u007e\u00e9","\u000b","acd","/"])");
    CHECK(json("['tab\there', 'bell\x07']") == R"(["tab\there","bell\u0007"])");
    CHECK(json("'line \\\ncontinued'") == R"("line continued")");
    CHECK(json("'crlf \\\r\ncontinued'") == R"("crlf continued")");
    CHECK(json("'\xe2\x80\xa8 raw U+2028'") == "\"\xe2\x80\xa8 raw U+2028\"");
    CHECK(json(R"('\uD83D\uDE00')") == R"("\ud83d\ude00")");
    CHECK(json("'\\\xc3\xa9'") == "\"\xc3\xa9\"");  // an escaped non-ASCII character is itself
    CHECK(json(R"('back\\slash')") == R"("back\\slash")");
}

TEST_CASE("json5: bad strings", "[json5]") {
    CHECK(error("{\n a: 'open\n}") == "2: unterminated string (a line break must be escaped)");
    CHECK(error("{\n\n a: \"never closed") == "3: unterminated string");
    CHECK(error("'ends in a backslash\\") == "1: unterminated string");
    CHECK(error(R"('\0')") == "1: NUL character (\\0) is not supported");
    CHECK(error(R"('\01')") == "1: octal escapes are not allowed in JSON5");
    CHECK(error(R"('\1')") == "1: invalid escape \\1");
    CHECK(error(R"('\x0')") == "1: invalid \\x escape: expected 2 hex digits");
    CHECK(error(R"('\x00')") == "1: NUL character (\\x00) is not supported");
    CHECK(error(R"('\u12')") == "1: invalid \\u escape: expected 4 hex digits");
    CHECK(error(R"('\u0000')") == "1: NUL character (\\u0000) is not supported");
    CHECK(error(R"('\uD83D')") == "1: invalid \\u escape: unpaired surrogate");
    CHECK(error(R"('\uD83Dx')") == "1: invalid \\u escape: unpaired surrogate");
    CHECK(error(R"('\uD83D\u0041')") == "1: invalid \\u escape: unpaired surrogate");
    CHECK(error(R"('\uDE00')") == "1: invalid \\u escape: unpaired surrogate");
    // A raw 0 byte, alone or after a backslash, would become "\u0000" and cut the string in cJSON.
    CHECK(error(std::string_view("'a\0b'", 5)) == "1: NUL character (a 0 byte) is not supported");
    CHECK(error(std::string_view("\"a\\\0b\"", 6)) == "1: NUL character (a 0 byte) is not supported");
    CHECK(error(std::string_view("{'\0': 1}", 8)) == "1: NUL character (a 0 byte) is not supported");
}

TEST_CASE("json5: numbers", "[json5]") {
    CHECK(json("[0x1234, 0XfF, 0x0, -0x10, +0x10]") == "[4660,255,0,-16,16]");
    CHECK(json("0xFFFFFFFFFFFFFFFF") == "18446744073709551615");
    CHECK(json("[+1, -1, +1.5, .5, -.5, +.5, 5., -5., 5.e3, .5e-2, 1E+2, 0, -0, 0.0]") ==
          "[1,-1,1.5,0.5,-0.5,0.5,5,-5,5e3,0.5e-2,1e+2,0,-0,0.0]");
    CHECK(error("0x10000000000000000") == "1: hex number too large (more than 64 bits)");
    CHECK(error("0x") == "1: invalid hex number: no digits after 0x");
    CHECK(error("[Infinity]") == "1: Infinity is not supported (JSON has no such number)");
    CHECK(error("-Infinity") == "1: Infinity is not supported (JSON has no such number)");
    CHECK(error("+NaN") == "1: NaN is not supported (JSON has no such number)");
    CHECK(error("NaN") == "1: NaN is not supported (JSON has no such number)");
    CHECK(error("007") == "1: invalid number: leading zero");
    CHECK(error("-") == "1: invalid number");
    CHECK(error(".") == "1: invalid number: no digits");
    CHECK(error("1e") == "1: invalid number: no digits in the exponent");
    CHECK(error("12abc") == "1: invalid number: unexpected 'a'");
    CHECK(error("0b101") == "1: invalid number: unexpected 'b'");
    CHECK(error("1.2.3") == "1: unexpected '.' after the end of the document");
    CHECK(error("+-1") == "1: invalid number");
}

TEST_CASE("json5: structure errors name the line", "[json5]") {
    CHECK(error("") == "1: empty document: expected a JSON5 value");
    CHECK(error("  // only a comment\n") == "2: empty document: expected a JSON5 value");
    CHECK(error("{\n  a: 1\n  b: 2\n}") == "3: unexpected 'b': expected ',' or '}'");
    CHECK(error("{\n  a: 1,\n") == "1: unterminated object (its '{' is here)");
    CHECK(error("[\n1,\n2") == "1: unterminated array (its '[' is here)");
    CHECK(error("{a: }") == "1: unexpected '}': expected a value");
    CHECK(error("{a 1}") == "1: unexpected '1': expected ':' after the key");
    CHECK(error("{a: 1} {b: 2}") == "1: unexpected '{' after the end of the document");
    CHECK(error("[1 2]") == "1: unexpected '2': expected ',' or ']'");
    CHECK(error("{a: yes}") == "1: unexpected word \"yes\" (strings need quotes)");
    CHECK(error("{a: undefined}") == "1: unexpected word \"undefined\" (strings need quotes)");
    CHECK(error("[\x01]") == "1: unexpected byte \\x01: expected a value");
    CHECK(error("\n\n/* open\n\ncomment") == "3: unterminated /* comment");
    CHECK(error("[1] /* trailing open") == "1: unterminated /* comment");
    CHECK(error("{a: 1}}") == "1: unexpected '}' after the end of the document");
}

TEST_CASE("json5: nesting is limited", "[json5]") {
    std::string ok(kMaxDepth, '['), deep(kMaxDepth + 1, '[');
    ok += std::string(kMaxDepth, ']');
    deep += std::string(kMaxDepth + 1, ']');
    CHECK(json(ok) == ok);
    CHECK(error(deep) == "1: nesting deeper than 64 levels");
}

TEST_CASE("json5: white space", "[json5]") {
    // BOM, no-break space, U+2028/U+2029 (line breaks), ideographic space, vertical tab, form feed.
    CHECK(json("\xef\xbb\xbf{\xc2\xa0" "a:\xe2\x80\xa8" "1,\xe2\x80\xa9" "b:\xe3\x80\x80" "2\v\f}") ==
          R"({"a":1,"b":2})");
    // Non-ASCII white space ends a number as it ends a word (found by tests/fuzz/json5_fuzz).
    CHECK(json("[1\xc2\xa0, 2.5\xef\xbb\xbf, 0x10\xe3\x80\x80, true\xc2\xa0]") == "[1,2.5,16,true]");
    CHECK(json("{a: -3\xe2\x80\xa8}") == R"({"a":-3})");
    CHECK(json("7\xc2\xa0") == "7");
    CHECK(error("7\xc2\xa1") == "1: invalid number: unexpected byte \\xc2");
    Normalized n = normalize("[\xe2\x80\xa8\n\r\r\n1]");
    REQUIRE(n.ok());
    CHECK(n.value_lines == std::vector<int>{1, 5});  // U+2028, \n, \r and \r\n each end a line
}

TEST_CASE("json5: output offsets map back to input lines", "[json5]") {
    const std::string_view text =
        "{\n"                         // 1
        "  // comment\n"              // 2
        "  listen: ':9001',\n"        // 3
        "  /* long\n"                 // 4
        "     comment */ acl: [\n"    // 5
        "    'a',\n"                  // 6
        "    'b'\n"                   // 7
        "  ],\n"                      // 8
        "}\n";                        // 9
    Normalized n = normalize(text);
    REQUIRE(n.ok());
    REQUIRE(n.json == R"({"listen":":9001","acl":["a","b"]})");
    CHECK(n.line_at(0) == 1);                               // {
    CHECK(n.line_at(n.json.find("\"listen\"")) == 3);
    CHECK(n.line_at(n.json.find("\":9001\"")) == 3);
    CHECK(n.line_at(n.json.find("\"acl\"")) == 5);
    CHECK(n.line_at(n.json.find("\"a\"")) == 6);
    CHECK(n.line_at(n.json.find("\"b\"")) == 7);
    CHECK(n.line_at(n.json.rfind(']')) == 8);
    CHECK(n.line_at(n.json.size() - 1) == 9);
    CHECK(n.line_at(n.json.size() + 100) == 9);
    // The root, then each member (at its key's line), then array elements at their own lines.
    CHECK(n.value_lines == std::vector<int>{1, 3, 5, 6, 7});
    for (size_t i = 1; i < n.lines.size(); ++i) CHECK(n.lines[i - 1].offset < n.lines[i].offset);
}

TEST_CASE("json5: parse() gives the cJSON tree and the line of every item", "[json5]") {
    const std::string_view text =
        "{\n"
        "  inbound: {\n"
        "    listen: ':9001',\n"
        "  },\n"
        "  fwmark: 0x1234,\n"
        "  list: [\n"
        "    1,\n"
        "    {x: null},\n"
        "  ],\n"
        "  fwmark: 'again',\n"
        "}\n";
    ParseResult r = parse(text);
    INFO(r.error);
    REQUIRE(r.ok());
    const Document& doc = *r.document;
    const cJSON* root = doc.root();
    REQUIRE(cJSON_IsObject(root));
    CHECK(doc.line_of(root) == 1);
    const cJSON* inbound = member(root, "inbound");
    CHECK(doc.line_of(inbound) == 2);
    const cJSON* listen = member(inbound, "listen");
    REQUIRE(cJSON_IsString(listen));
    CHECK(std::string(listen->valuestring) == ":9001");
    CHECK(doc.line_of(listen) == 3);
    const cJSON* fwmark = member(root, "fwmark");
    REQUIRE(cJSON_IsNumber(fwmark));
    CHECK(fwmark->valuedouble == 4660);
    CHECK(doc.line_of(fwmark) == 5);
    const cJSON* list = member(root, "list");
    CHECK(doc.line_of(list) == 6);
    CHECK(doc.line_of(cJSON_GetArrayItem(list, 0)) == 7);
    const cJSON* obj = cJSON_GetArrayItem(list, 1);
    CHECK(doc.line_of(obj) == 8);
    CHECK(doc.line_of(member(obj, "x")) == 8);
    // cJSON keeps a repeated key as a second member: it has its own line.
    const cJSON* second = fwmark->next->next;
    REQUIRE(second != nullptr);
    CHECK(std::string(second->string) == "fwmark");
    CHECK(doc.line_of(second) == 10);
    CHECK(doc.line_of(nullptr) == 0);

    // Moving the document keeps the items and their lines.
    Document moved = std::move(*r.document);
    CHECK(moved.line_of(listen) == 3);
}

TEST_CASE("json5: parse() errors", "[json5]") {
    ParseResult r = parse("{\n a: 'x',\n b: \"y\n}");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error == "unterminated string (a line break must be escaped)");
    CHECK(r.error_line == 3);
}

TEST_CASE("json5: the JSON5 spec's example", "[json5]") {
    // https://spec.json5.org/#introduction (the "\n" continuation written as the escape it is).
    const std::string_view text =
        "// This file is written in JSON5 syntax, naturally, but npm needs a regular\n"
        "{\n"
        "  // comments\n"
        "  unquoted: 'and you can quote me on that',\n"
        "  singleQuotes: 'I can use \"double quotes\" here',\n"
        "  lineBreaks: \"Look, Mom! \\\n"
        "No \\\\n's!\",\n"
        "  hexadecimal: 0xdecaf,\n"
        "  leadingDecimalPoint: .8675309, andTrailing: 8675309.,\n"
        "  positiveSign: +1,\n"
        "  trailingComma: 'in objects', andIn: ['arrays',],\n"
        "  \"backwardsCompatible\": \"with JSON\",\n"
        "}\n";
    ParseResult r = parse(text);
    INFO(r.error_line << ": " << r.error);
    REQUIRE(r.ok());
    const cJSON* root = r.document->root();
    CHECK(std::string(member(root, "singleQuotes")->valuestring) == "I can use \"double quotes\" here");
    CHECK(std::string(member(root, "lineBreaks")->valuestring) == "Look, Mom! No \\n's!");
    CHECK(member(root, "hexadecimal")->valuedouble == 912559);
    CHECK(member(root, "leadingDecimalPoint")->valuedouble == Approx(0.8675309));
    CHECK(member(root, "andTrailing")->valuedouble == 8675309);
    CHECK(member(root, "positiveSign")->valuedouble == 1);
    CHECK(cJSON_GetArraySize(member(root, "andIn")) == 1);
    CHECK(r.document->line_of(member(root, "backwardsCompatible")) == 12);
    CHECK(r.document->line_of(member(root, "andTrailing")) == 9);
}
