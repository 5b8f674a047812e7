// The JUnit XML report CI systems read: a <testsuite> per scenario, a <testcase> per scenario
// and interpreter, a <failure> carrying every signature with its count, rate, interval and
// replay command, and the first failure's dump excerpt in <system-out>. Written with
// pugixml; text is first made valid XML 1.0 (see xml_text).
#pragma once
#include "report/summary.hpp"

#include <string>

namespace racehunt {

std::string junit_xml(const CampaignSummary& summary);

// `s` as characters XML 1.0 allows: invalid UTF-8 bytes and control characters other than
// tab, newline and carriage return become U+FFFD. (Markup characters are pugixml's job.)
std::string xml_text(const std::string& s);

} // namespace racehunt
