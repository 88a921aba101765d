// Interceptors without sockets: the chain (order, directions, length changes, refusals, the 1 MiB bound), the
// built-in label and hexdump, and the example plugin loaded through the C ABI.
#include "relay/interceptor.h"

#include <catch2/catch.hpp>

#include <string>

#include "test_bytes.h"

using namespace ferry;

namespace {

std::string str(const std::vector<std::byte>& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

std::string run(BlockFilter* f, std::string_view in, bool* ok = nullptr, std::string* why_out = nullptr) {
    std::vector<std::byte> out;
    std::string why;
    auto bytes = ferry_test::text(in);
    bool r = f->filter(bytes, out, why);
    if (ok) *ok = r;
    if (why_out) *why_out = why;
    return str(out);
}

// Appends a marker, counts its flows; refuses blocks that contain "bad"; emits too much for "huge".
struct Marker final : Interceptor {
    std::string mark;
    mutable int opened = 0, closed = 0;
    mutable bool last_reset = false;
    explicit Marker(std::string m) : mark(std::move(m)) {}
    std::string name() const override { return "marker" + mark; }
    void* open(const Flow&) const override {
        ++opened;
        return nullptr;
    }
    bool data(void*, const Flow&, Direction d, std::span<const std::byte> in, std::vector<std::byte>& out,
              std::string& why) const override {
        std::string s(reinterpret_cast<const char*>(in.data()), in.size());
        if (s.find("bad") != std::string::npos) {
            why = "saw bad";
            return false;
        }
        if (s == "huge") s.assign(kMaxInterceptOutput + 1, 'h');
        s += mark + (d == Direction::Up ? "^" : "v");
        auto b = ferry_test::text(s);
        out.insert(out.end(), b.begin(), b.end());
        return true;
    }
    void close(void*, const Flow&, bool reset, uint64_t, uint64_t) const override {
        ++closed;
        last_reset = reset;
    }
};

}  // namespace

TEST_CASE("interceptor chain: in order, per direction, with length changes", "[interceptor]") {
    InterceptorSet set;
    auto* a = new Marker("A");
    auto* b = new Marker("B");
    set.entries.push_back({std::unique_ptr<Interceptor>(a), true, true});
    set.entries.push_back({std::unique_ptr<Interceptor>(b), true, false});  // up only
    Flow flow;
    {
        FlowInterceptors fi(set, flow);
        CHECK(a->opened == 1);
        CHECK(b->opened == 1);
        REQUIRE(fi.filter(Direction::Up));
        REQUIRE(fi.filter(Direction::Down));
        CHECK(run(fi.filter(Direction::Up), "x") == "xA^B^");
        CHECK(run(fi.filter(Direction::Down), "y") == "yAv");
        CHECK(run(fi.filter(Direction::Up), "") == "A^B^");
        fi.close(false, 1, 2);
        CHECK(a->closed == 1);
        CHECK_FALSE(a->last_reset);
    }
    CHECK(a->closed == 1);  // not again from the destructor
}

TEST_CASE("interceptor chain: a direction nobody wants has no filter (it is spliced)", "[interceptor]") {
    InterceptorSet set;
    set.entries.push_back({std::make_unique<Marker>("A"), false, true});
    Flow flow;
    FlowInterceptors fi(set, flow);
    CHECK(fi.filter(Direction::Up) == nullptr);
    CHECK(fi.filter(Direction::Down) != nullptr);
}

TEST_CASE("interceptor chain: refusals and oversized output name the interceptor", "[interceptor]") {
    InterceptorSet set;
    auto* m = new Marker("A");
    set.entries.push_back({std::unique_ptr<Interceptor>(m), true, true});
    Flow flow;
    {
        FlowInterceptors fi(set, flow);
        bool ok = true;
        std::string why;
        run(fi.filter(Direction::Up), "so bad", &ok, &why);
        CHECK_FALSE(ok);
        CHECK(why == "markerA: saw bad");
        run(fi.filter(Direction::Up), "huge", &ok, &why);
        CHECK_FALSE(ok);
        CHECK_THAT(why, Catch::Contains("at most 1 MiB"));
    }
    CHECK(m->closed == 1);
    CHECK(m->last_reset);  // destroyed without close(): a reset
}

TEST_CASE("label: liproxy's label and a newline in front of every block", "[interceptor]") {
    InterceptorSet set;
    set.entries.push_back({make_label_interceptor("from ferry"), true, true});
    Flow flow;
    FlowInterceptors fi(set, flow);
    CHECK(run(fi.filter(Direction::Up), "GET /") == "from ferry\nGET /");
    CHECK(run(fi.filter(Direction::Down), "") == "from ferry\n");
}

TEST_CASE("hexdump text: offset, 16 hex bytes, printable characters", "[interceptor]") {
    auto b = ferry_test::text("Hello, hexdump!\n\x01");
    CHECK(hexdump_text(b) ==
          "0000  48 65 6c 6c 6f 2c 20 68 65 78 64 75 6d 70 21 0a  |Hello, hexdump!.|\n"
          "0010  01                                               |.|\n");
    CHECK(hexdump_text({}).empty());
}

TEST_CASE("plugin: the example replace.so through the C ABI", "[interceptor]") {
    const std::string so = std::string(FERRY_TEST_PLUGIN_DIR) + "/replace.so";
    std::string error;
    auto p = load_plugin_interceptor(so + ":hello=howdy, partner", &error);
    INFO(error);
    REQUIRE(p);
    CHECK(p->name() == "plugin replace");
    InterceptorSet set;
    set.entries.push_back({std::move(p), true, true});
    Flow flow;
    FlowInterceptors fi(set, flow);
    CHECK(run(fi.filter(Direction::Up), "hello world, hello!") == "howdy, partner world, howdy, partner!");
    CHECK(run(fi.filter(Direction::Down), "nothing to see") == "nothing to see");

    CHECK_FALSE(load_plugin_interceptor(so + ":=x", &error));  // its init refuses an empty FROM
    CHECK_THAT(error, Catch::Contains("refused to start"));
    CHECK_FALSE(load_plugin_interceptor("/nonexistent/x.so", &error));
    CHECK_THAT(error, Catch::StartsWith("cannot load /nonexistent/x.so"));
}

TEST_CASE("plugin: eof() flushes what data() held back; a careless overflow fails the block", "[interceptor]") {
    std::string error;
    auto p = load_plugin_interceptor(std::string(FERRY_TEST_PLUGIN_DIR) + "/test-holdback.so", &error);
    INFO(error);
    REQUIRE(p);
    InterceptorSet set;
    set.entries.push_back({std::move(p), true, true});
    set.entries.push_back({make_label_interceptor("L"), true, false});  // after it, up only
    Flow flow;
    FlowInterceptors fi(set, flow);
    CHECK(run(fi.filter(Direction::Up), "abc") == "L\nab");
    CHECK(run(fi.filter(Direction::Up), "de") == "L\ncd");
    std::vector<std::byte> out;
    std::string why;
    REQUIRE(fi.filter(Direction::Up)->finish(out, why));
    // The held "e" goes through the label as data at EOF.
    CHECK(str(out) == "L\ne");
    CHECK(run(fi.filter(Direction::Down), "xyz") == "xy");
    out.clear();
    REQUIRE(fi.filter(Direction::Down)->finish(out, why));
    CHECK(str(out) == "z");
    bool ok = true;
    run(fi.filter(Direction::Down), "overflow!", &ok, &why);
    CHECK_FALSE(ok);
    CHECK_THAT(why, Catch::Contains("emitted more than 1 MiB"));
}
