// JUnit XML: text from workloads (names, messages, dumps) may hold anything; the report must
// stay well-formed XML 1.0 and keep every valid character.
#include "report/junit.hpp"

#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace racehunt;

TEST(Junit, XmlTextKeepsValidUtf8AndReplacesTheRest) {
    EXPECT_EQ(xml_text("plain <&> text\t\n"), "plain <&> text\t\n");
    EXPECT_EQ(xml_text("\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(xml_text(std::string("a\x01" "b", 3)), "a" + r + "b");
    EXPECT_EQ(xml_text(std::string("\0", 1)), r);
    EXPECT_EQ(xml_text("\xFF\xFE"), r + r);                 // not UTF-8 at all
    EXPECT_EQ(xml_text("\xC0\xAF"), r + r);                 // overlong
    EXPECT_EQ(xml_text("\xED\xA0\x80"), r + r + r);         // a surrogate
    EXPECT_EQ(xml_text("\xE4\xB8"), r + r);                 // cut short
    EXPECT_EQ(xml_text("\xEF\xBF\xBF"), r + r + r);         // U+FFFF is not an XML character
}

TEST(Junit, ReportOfHostileTextIsWellFormed) {
    CampaignSummary c;
    c.campaign_seed = 7;
    ScenarioSummary s;
    s.name = std::string("bad\x01<&\"'>\xFF name", 15);
    s.runs = 10;
    s.failures = 3;
    s.outcomes[Outcome::Fail] = 3;
    s.outcomes[Outcome::Pass] = 7;
    s.rate = 0.3;
    SignatureStats st;
    st.signature = "fail:Weird\x02@w.py:<module>";
    st.count = 3;
    st.rate = 0.3;
    st.replay = "racehunt replay 'a b.toml' --seed 0123456789abcdef";
    st.reasons = {"message with ]]> and \x1b[31m colour and \xC3"};
    st.excerpt = {"\"thread\xFE\" (failed):", "  at w.py:3"};
    s.signatures.push_back(st);
    c.scenarios.push_back(s);
    const std::string xml = junit_xml(c);
    pugi::xml_document doc;
    auto parsed = doc.load_string(xml.c_str());
    ASSERT_TRUE(parsed) << parsed.description() << "\n" << xml;
    auto suite = doc.child("testsuites").child("testsuite");
    EXPECT_EQ(std::string(suite.attribute("name").value()), "bad\xEF\xBF\xBD<&\"'>\xEF\xBF\xBD name");
    EXPECT_STREQ(suite.attribute("failures").value(), "1");
    auto failure = suite.child("testcase").child("failure");
    ASSERT_TRUE(failure);
    EXPECT_NE(std::string(failure.text().get()).find("]]> and"), std::string::npos);
    EXPECT_NE(std::string(failure.attribute("message").value()).find("3 of 10 runs failed"), std::string::npos);
    // xmllint (libxml2-utils, installed by scripts/setup.sh) agrees.
    auto file = std::filesystem::temp_directory_path() / ("rh-junit-" + std::to_string(::getpid()) + ".xml");
    std::ofstream(file) << xml;
    int rc = std::system(("xmllint --noout " + file.string()).c_str());
    std::filesystem::remove(file);
    EXPECT_EQ(rc, 0) << xml;
}

TEST(Junit, TimeIsTheCampaignsWallTimeNotTheRunsAddedUp) {
    CampaignSummary c;
    c.elapsed_s = 49;
    ScenarioSummary s;
    s.name = "w";
    s.runs = 100;
    s.outcomes[Outcome::Pass] = 100;
    s.mean_duration_ms = 850; // 85 s of runs, two at a time
    s.elapsed_s = 49;
    c.scenarios.push_back(s);
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(junit_xml(c).c_str()));
    EXPECT_DOUBLE_EQ(doc.child("testsuites").attribute("time").as_double(), 49);
    EXPECT_DOUBLE_EQ(doc.child("testsuites").child("testsuite").attribute("time").as_double(), 49);
    // Merged shards ran apart: their wall time is not known, the runs' time is given.
    c.elapsed_s = 0;
    c.scenarios[0].elapsed_s = 0;
    ASSERT_TRUE(doc.load_string(junit_xml(c).c_str()));
    EXPECT_DOUBLE_EQ(doc.child("testsuites").child("testsuite").attribute("time").as_double(), 85);
}
